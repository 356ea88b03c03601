//go:build js

package torrent

// opErrorCause: the browser's connections are data channels and fetches,
// whose errors are never a *net.OpError.
func opErrorCause(error) error { return nil }
