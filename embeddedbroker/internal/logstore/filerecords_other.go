//go:build !linux

package logstore

import (
	"errors"
	"os"
)

// canDupFiles says ReadFile returns FileRecords: not here, where the broker
// has no sendfile to send them with; ReadFile returns bytes.
const canDupFiles = false

func dupFile(*os.File) (*os.File, error) { return nil, errors.ErrUnsupported }

// fileSize returns the size of f's file.
func fileSize(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
