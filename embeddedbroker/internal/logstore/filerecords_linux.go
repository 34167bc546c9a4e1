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

// fileSize returns the size of f's file (fstat, without allocating).
func fileSize(f *os.File) (int64, error) {
	var st syscall.Stat_t
	err := syscall.Fstat(int(f.Fd()), &st)
	runtime.KeepAlive(f)
	if err != nil {
		return 0, os.NewSyscallError("fstat", err)
	}
	return st.Size, nil
}
