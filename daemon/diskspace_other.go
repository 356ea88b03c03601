//go:build !unix

package daemon

import "errors"

func diskSpace(path string) (free, total int64, err error) {
	return -1, -1, errors.New("free space is not known on this system")
}
