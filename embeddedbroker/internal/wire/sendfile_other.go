//go:build !linux

package wire

import (
	"os"
	"syscall"
)

// canSendFile says the writer sends sections with sendfile: not here, where
// it reads them into its buffer.
const canSendFile = false

// fileSender has no sendfile to send with here.
type fileSender struct{}

func (*fileSender) sendFile(syscall.RawConn, *os.File, int64, int64) (int64, error) {
	return 0, errNoSendFile
}
