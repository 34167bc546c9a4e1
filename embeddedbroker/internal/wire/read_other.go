//go:build !unix

package wire

import (
	"net"
	"syscall"
)

// rawConnOf returns nil: without waitingRead, a connection keeps its read
// buffer while it waits.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func waitingRead(syscall.RawConn, **[]byte) (int, error) {
	panic("wire: waitingRead is only available on unix")
}
