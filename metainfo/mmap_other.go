//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package metainfo

// mapFile is not available here: hashing reads with ReadAt.
func mapFile(path string, size int64) (data []byte, unmap func(), ok bool) { return nil, nil, false }
