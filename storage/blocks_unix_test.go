//go:build unix

package storage

import (
	"os"
	"syscall"
)

// fileBlocks returns the 512-byte blocks allocated to a file.
func fileBlocks(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks
	}
	return 0
}
