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
