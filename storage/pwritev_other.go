//go:build !linux

package storage

import "os"

// pwritev writes iov end to end at off, one write per buffer.
func pwritev(f *os.File, iov [][]byte, off int64) error {
	for _, b := range iov {
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}
