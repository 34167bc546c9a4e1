//go:build linux

package logstore

import (
	"os"
	"runtime"
	"syscall"
)

// canDupFiles says ReadFile returns FileRecords: where the broker can send
// them with sendfile.
const canDupFiles = true

// dupFile returns a new descriptor on f's open file (close-on-exec), as an
// *os.File of its own. It shares f's file description, whose position
// neither uses: reads and sends take explicit offsets.
func dupFile(f *os.File) (*os.File, error) {
	fd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_DUPFD_CLOEXEC, 0)
	runtime.KeepAlive(f)
	if errno != 0 {
		return nil, os.NewSyscallError("fcntl", errno)
	}
	return os.NewFile(fd, f.Name()), nil
}
