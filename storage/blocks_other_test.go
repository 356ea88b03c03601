//go:build !unix

package storage

import "os"

// fileBlocks is unknown here.
func fileBlocks(fi os.FileInfo) int64 { return 0 }
