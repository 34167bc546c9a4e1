//go:build linux

package wire

import (
	"errors"
	"io"
	"os"
	"runtime"
	"syscall"
)

// canSendFile says the writer sends sections with sendfile.
const canSendFile = true

// maxSendFile bounds one sendfile call (Linux sends at most about 2 GiB).
const maxSendFile = 1 << 30

// fileSender sends file ranges to a socket with sendfile(2). It is reused
// from one range to the next, so that sending allocates nothing.
type fileSender struct {
	src             int
	pos, n, written int64
	err             error
	fn              func(fd uintptr) bool // send, bound once
}

// sendFile sends the n bytes of f at pos to the socket of rc with
// sendfile(2), which takes the offset explicitly, so that concurrent sends
// from one file do not share its position. It waits in the network poller
// while the socket is full, under the connection's write deadline. A file
// that ends before pos+n is io.ErrUnexpectedEOF. errNoSendFile (wrapped)
// means the kernel refused to send from this file before sending anything.
func (s *fileSender) sendFile(rc syscall.RawConn, f *os.File, pos, n int64) (int64, error) {
	if s.fn == nil {
		s.fn = s.send
	}
	s.src, s.pos, s.n, s.written, s.err = int(f.Fd()), pos, n, 0, nil
	err := rc.Write(s.fn)
	runtime.KeepAlive(f)
	if err == nil {
		err = s.err
	}
	return s.written, err
}

// send is the raw connection's write function: false to wait until the
// socket is writable.
func (s *fileSender) send(dst uintptr) bool {
	for s.written < s.n {
		off := s.pos + s.written
		m, errno := syscall.Sendfile(int(dst), s.src, &off, int(min(s.n-s.written, maxSendFile)))
		if m > 0 {
			s.written += int64(m)
		}
		switch errno {
		case nil:
			if m == 0 {
				s.err = io.ErrUnexpectedEOF
				return true
			}
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		case syscall.EINVAL, syscall.ENOSYS, syscall.EOPNOTSUPP:
			s.err = os.NewSyscallError("sendfile", errno)
			if s.written == 0 {
				s.err = errors.Join(errNoSendFile, s.err)
			}
			return true
		default:
			s.err = os.NewSyscallError("sendfile", errno)
			return true
		}
	}
	return true
}
