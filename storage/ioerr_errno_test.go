//go:build !plan9

package storage

import "syscall"

var errNoSpace error = syscall.ENOSPC
