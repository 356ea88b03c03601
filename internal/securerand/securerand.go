// Package securerand fills buffers with cryptographically secure random bytes:
// crypto/rand natively, the browser's crypto.getRandomValues in the browser
// build (GOOS=js). Both are the same source in a browser (Go's js runtime reads
// getRandomValues too), but crypto/rand links its FIPS 140 generator (AES,
// SHA-2, SHA-3, HMAC: about 80 KB of wasm) for a branch a browser never takes.
package securerand

// maxChunk is the most the browser's getRandomValues fills in one call (the
// Web Crypto specification's QuotaExceededError bound).
const maxChunk = 65536
