//go:build !plan9

package storage

import (
	"errors"
	"syscall"
)

// isNoSpace reports a full disk (or quota).
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// isReadOnly reports a file system mounted read-only.
func isReadOnly(err error) bool { return errors.Is(err, syscall.EROFS) }
