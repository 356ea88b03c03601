//go:build !linux

package storage

import "os"

// preallocate does nothing where fallocate is missing: files stay sparse.
func preallocate(f *os.File, n int64) {}

// hasData reports whether f reaches into [from, to).
func hasData(f *os.File, from, to int64) bool { return sizeReaches(f, from) }
