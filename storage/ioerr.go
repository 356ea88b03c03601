package storage

import (
	"errors"
	"fmt"
	"io/fs"
)

// fileError wraps an I/O error on a file with the file's path (relative to
// the download folder) and, where the cause is known, what to do next.
func fileError(op, rel string, err error) error {
	switch {
	case isNoSpace(err):
		return fmt.Errorf("storage: %s %s: %w; free disk space and resume the download", op, rel, err)
	case isReadOnly(err) || errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("storage: %s %s: %w; make the file and its folder writable, or download to another folder", op, rel, err)
	}
	return fmt.Errorf("storage: %s %s: %w", op, rel, err)
}
