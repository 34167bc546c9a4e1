package embeddedbroker_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn speaks the protocol by hand, one request at a time, for tests
// that need to send exactly the bytes they choose.
type rawConn struct {
	t    testing.TB
	nc   net.Conn
	r    *bufio.Reader
	corr int32
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// send writes req without waiting for a response.
func (c *rawConn) send(req kmsg.Request) {
	c.t.Helper()
	c.corr++
	b := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, c.corr)
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// do sends req and decodes its response.
func (c *rawConn) do(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	c.send(req)
	var sz [4]byte
	if _, err := io.ReadFull(c.r, sz[:]); err != nil {
		c.t.Fatal(err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(c.r, buf); err != nil {
		c.t.Fatal(err)
	}
	if got := int32(binary.BigEndian.Uint32(buf)); got != c.corr {
		c.t.Fatalf("correlation id %d, want %d", got, c.corr)
	}
	resp := req.ResponseKind()
	body := buf[4:]
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		body = body[1:] // empty tagged fields of response header v1
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// closedByPeer reports whether the server closed the connection.
func (c *rawConn) closedByPeer() bool {
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.r.ReadByte()
	return err != nil
}
