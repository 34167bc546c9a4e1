//go:build unix

package logstore

import "syscall"

// nofileLimit returns the soft RLIMIT_NOFILE.
func nofileLimit() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return uint64(r.Cur), true
}
