//go:build js

package peerwire

import "io"

// buffers writes its slices one after another. The browser has no sockets
// to gather writes on, and package net, which net.Buffers would bring,
// costs the WebAssembly build ~300 KB of code.
type buffers [][]byte

// WriteTo writes every slice to w and consumes them, as net.Buffers does.
func (v *buffers) WriteTo(w io.Writer) (n int64, err error) {
	for len(*v) > 0 {
		b := (*v)[0]
		k, err := w.Write(b)
		n += int64(k)
		if err != nil {
			return n, err
		}
		if k < len(b) {
			return n, io.ErrShortWrite
		}
		*v = (*v)[1:]
	}
	return n, nil
}
