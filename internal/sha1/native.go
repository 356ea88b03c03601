//go:build !js

package sha1

import (
	"crypto/sha1"
	"hash"
)

// New returns a new SHA-1 hash: crypto/sha1's.
func New() hash.Hash { return sha1.New() }

// Sum returns the SHA-1 of data: crypto/sha1's.
func Sum(data []byte) [Size]byte { return sha1.Sum(data) }
