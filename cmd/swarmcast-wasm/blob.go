//go:build js

package main

import (
	"errors"
	"fmt"
	"io"
	"syscall/js"
)

// blobReader reads a Blob (or File) with FileReaderSync, which only a
// worker has: seeding reads pieces straight from the page's file.
type blobReader struct {
	blob js.Value
	size int64
	frs  js.Value
}

func newBlobReader(blob js.Value) (*blobReader, error) {
	if !blob.InstanceOf(js.Global().Get("Blob")) {
		return nil, errors.New("swarmcast: seed takes a File or a Blob")
	}
	ctor := js.Global().Get("FileReaderSync")
	if ctor.IsUndefined() {
		return nil, errors.New("swarmcast: no FileReaderSync: the engine must run in a worker")
	}
	return &blobReader{blob: blob, size: int64(blob.Get("size").Float()), frs: ctor.New()}, nil
}

func (b *blobReader) ReadAt(p []byte, off int64) (n int, err error) {
	if off < 0 {
		return 0, fmt.Errorf("swarmcast: negative offset %d", off)
	}
	if off >= b.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), b.size)
	defer func() {
		if r := recover(); r != nil {
			je, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			n, err = 0, fmt.Errorf("swarmcast: reading the Blob: %s", je.Error())
		}
	}()
	ab := b.frs.Call("readAsArrayBuffer", b.blob.Call("slice", off, end))
	n = js.CopyBytesToGo(p, js.Global().Get("Uint8Array").New(ab))
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
