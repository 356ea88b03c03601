//go:build js

package sha1

import "hash"

// New returns a new SHA-1 hash: this package's pure-Go digest.
func New() hash.Hash { return newDigest() }

// Sum returns the SHA-1 of data: this package's pure-Go digest.
func Sum(data []byte) [Size]byte { return sumPure(data) }
