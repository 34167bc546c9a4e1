//go:build unix

package wire

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawConnOf returns the raw connection of a TCP or Unix socket, for
// waitingRead; nil for any other net.Conn.
func rawConnOf(nc net.Conn) syscall.RawConn {
	var sc syscall.Conn
	switch c := nc.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// waitingRead reads from rc into the pooled buffer *buf, taking one from
// the pool if it holds none. When the socket has nothing to read, it gives
// the buffer back before waiting in the network poller, so a connection
// that waits holds no buffer; *buf is the buffer read into, on return.
func waitingRead(rc syscall.RawConn, buf **[]byte) (int, error) {
	var n int
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		for {
			if *buf == nil {
				*buf = getChunk()
			}
			n, rerr = syscall.Read(int(fd), **buf)
			switch rerr {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				putChunk(*buf)
				*buf = nil
				return false // wait until readable, then call again
			}
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, os.NewSyscallError("read", rerr)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
