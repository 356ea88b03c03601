//go:build js

package securerand

import "syscall/js"

// Read fills b with random bytes from crypto.getRandomValues.
func Read(b []byte) {
	crypto := js.Global().Get("crypto")
	for len(b) > 0 {
		n := min(len(b), maxChunk)
		arr := js.Global().Get("Uint8Array").New(n)
		crypto.Call("getRandomValues", arr)
		js.CopyBytesToGo(b[:n], arr)
		b = b[n:]
	}
}
