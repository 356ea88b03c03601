package storage

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// preallocate reserves n bytes for f, a file just created, so that writes
// land in allocated extents: on ext4 that halves the kernel's cost of
// writing a downloaded file in blocks at random offsets. It is only a
// hint: a file system without fallocate, or too little space for the whole
// file (it may be wanted in part), leaves f sparse as before.
func preallocate(f *os.File, n int64) {
	if n <= 0 {
		return
	}
	_ = syscall.Fallocate(int(f.Fd()), 0, 0, n)
}

// hasData reports whether f may hold written bytes in [from, to): the file
// system's map of written extents (SEEK_DATA), which sees through
// preallocation, or the file's size where that is not supported.
func hasData(f *os.File, from, to int64) bool {
	next, err := unix.Seek(int(f.Fd()), from, unix.SEEK_DATA)
	switch {
	case err == nil:
		return next < to
	case errors.Is(err, unix.ENXIO): // no data at or after from
		return false
	}
	return sizeReaches(f, from)
}
