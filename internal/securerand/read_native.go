//go:build !js

package securerand

import "crypto/rand"

// Read fills b with random bytes. It never fails: crypto/rand.Read panics
// (or blocks) rather than return an error.
func Read(b []byte) {
	rand.Read(b)
}
