//go:build unix

package embeddedbroker_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Tests that connections cannot take a node down (issue 10): too many of
// them, a process out of file handles, a frame announced and never sent.
// Each ends with the cluster serving a produce and a fetch.

// TestManyIdleConnections opens 10 000 connections and leaves them idle
// against a node with max.connections=5000: the first 5000 are kept and
// served, the rest are refused (closed at once), and the node goes on
// serving. 5000, because the process's hard file limit here is 20 000 and
// the client and the server sockets of the test both count in it: 10 000
// clients and 5000 server sides stay below it.
func TestManyIdleConnections(t *testing.T) {
	const dials, limit = 10000, 5000
	if lim := fileLimit(t); lim.Cur < dials+limit+1000 {
		t.Skipf("file limit %d is too low for %d connections", lim.Cur, dials+limit)
	}
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "conns"),
		embeddedbroker.BrokerConfig("max.connections", "5000"))
	addr := c.Addrs()[0]

	conns := make([]net.Conn, 0, dials)
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for range dials {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, nc)
	}
	// Connections are accepted in the order they were dialed, and each
	// refused one is closed before the next is accepted: once the last is
	// closed, every refusal has been sent.
	if !closedByPeer(conns[dials-1], 10*time.Second) {
		t.Fatal("connection beyond max.connections kept open")
	}
	// Count the refused ones; their closes have all been sent, but may
	// still be on their way.
	var refused int
	waitUntil(t, "the refusals to arrive", func() bool {
		refused = 0
		for _, nc := range conns {
			if peekClosed(t, nc) {
				refused++
			}
		}
		if refused > dials-limit {
			t.Fatalf("%d connections refused, want %d", refused, dials-limit)
		}
		return refused == dials-limit
	})
	// A kept connection, idle all along, is served.
	first := &rawConn{t: t, nc: conns[0], r: bufio.NewReader(conns[0])}
	conns[0].SetDeadline(time.Now().Add(10 * time.Second))
	if resp := first.do(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions error %d", resp.ErrorCode)
	}
	for _, nc := range conns {
		nc.Close()
	}
	conns = conns[:0]
	produceAndFetch(t, addr, "conns")
}

// TestAcceptsAgainAfterFileLimit exhausts the process's file handles (its
// soft limit lowered to 4096 for the test) so that the node cannot accept a
// waiting connection (EMFILE), then frees them: the node accepts it and answers its request, having logged the
// failing accepts once rather than once per retry.
func TestAcceptsAgainAfterFileLimit(t *testing.T) {
	logs := &messages{}
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "fds"), embeddedbroker.Logger(slog.New(logs)))
	addr := c.Addrs()[0]

	// Fill at most a few thousand handles: lower the soft limit for the
	// test if it is higher.
	if lim := fileLimit(t); lim.Cur > 4096 {
		low := lim
		low.Cur = 4096
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
				t.Errorf("restoring the file limit: %v", err)
			}
		})
	}
	var files []*os.File
	free := func() {
		for _, f := range files {
			f.Close()
		}
		files = nil
	}
	t.Cleanup(free)
	for {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	// Give one handle back for the client's socket; the server has none
	// left for its side.
	var nc net.Conn
	for nc == nil {
		if len(files) == 0 {
			t.Fatal("no file handle for the client")
		}
		files[len(files)-1].Close()
		files = files[:len(files)-1]
		var err error
		if nc, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil && !errors.Is(err, syscall.EMFILE) {
			t.Fatal(err)
		}
	}
	defer nc.Close()
	waitUntil(t, "the node to fail an accept", func() bool { return logs.count("accepting a connection failed") > 0 })
	rc := &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	rc.corr++
	if _, err := nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), rc.corr)); err != nil {
		t.Fatal(err)
	}
	free()
	var sz [4]byte
	if _, err := io.ReadFull(rc.r, sz[:]); err != nil {
		t.Fatalf("the node did not accept again: %v", err)
	}
	if n := logs.count("accepting a connection failed"); n != 1 {
		t.Fatalf("accept failures logged %d times, want once (rate-limited)", n)
	}
	produceAndFetch(t, addr, "fds")
}

// TestSilentHugeFrame announces a 100 MiB frame (within
// socket.request.max.bytes), sends 8 MiB of it and goes silent: the node
// holds about what arrived, never the 100 MiB announced, and closes the
// connection after connections.max.idle.ms.
func TestSilentHugeFrame(t *testing.T) {
	const announced, sent = 100 << 20, 8 << 20
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "huge"),
		embeddedbroker.BrokerConfig("connections.max.idle.ms", "300"))
	addr := c.Addrs()[0]
	chunk := make([]byte, 64<<10)
	base := liveHeap()

	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], announced)
	if _, err := nc.Write(hdr[:]); err != nil {
		t.Fatal(err)
	}
	for range sent / len(chunk) {
		if _, err := nc.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	// The writes are done, so the node has read all but what the socket
	// buffers hold (a receive buffer grows only as the node reads, so it has
	// read the frame's size). Sample the heap until the node closes the
	// connection.
	var peak uint64
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		io.Copy(io.Discard, nc) // returns when the node closes
	}()
	for sampling := true; sampling; {
		peak = max(peak, liveHeap())
		select {
		case <-closed:
			sampling = false
		case <-time.After(20 * time.Millisecond):
		}
	}
	growth := int64(peak) - int64(base)
	t.Logf("live heap grew by at most %.1f MiB for a frame announcing %d MiB of which %d MiB arrived",
		float64(growth)/(1<<20), announced>>20, sent>>20)
	// The node gathers a frame in 64 KiB chunks as it arrives: about 8 MiB
	// here. A buffer sized from the announcement would be 100 MiB.
	if growth > 50<<20 {
		t.Fatalf("the node held %d MiB for a silent frame", growth>>20)
	}
	var b [1]byte
	if _, err := nc.Read(b[:]); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection not closed by the idle rule: %v", err)
	}
	produceAndFetch(t, addr, "huge")
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// produceAndFetch produces a record to topic and fetches it back, with a
// fresh client for each, within 10 s.
func produceAndFetch(t *testing.T, addr, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	want := "after-" + t.Name()
	if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(want)}).FirstErr(); err != nil {
		t.Fatalf("produce after the bad connections: %v", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("fetch after the bad connections: %v", err)
		}
		for _, r := range fs.Records() {
			if string(r.Value) == want {
				return
			}
		}
	}
}

// peekClosed reports, without waiting, whether the peer has closed nc.
func peekClosed(t *testing.T, nc net.Conn) bool {
	t.Helper()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var closed bool
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n == 0 && err == nil || err == syscall.ECONNRESET
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return closed
}

// closedByPeer reports whether the peer closes nc within d.
func closedByPeer(nc net.Conn, d time.Duration) bool {
	nc.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	_, err := nc.Read(b[:])
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

func fileLimit(t *testing.T) syscall.Rlimit {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	return lim
}

// waitUntil polls cond until it holds, failing the test after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// messages is a slog handler that keeps the messages logged.
type messages struct {
	mu   sync.Mutex
	msgs []string
}

func (m *messages) Enabled(context.Context, slog.Level) bool { return true }
func (m *messages) Handle(_ context.Context, r slog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, r.Message)
	return nil
}
func (m *messages) WithAttrs([]slog.Attr) slog.Handler { return m }
func (m *messages) WithGroup(string) slog.Handler      { return m }

func (m *messages) count(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.msgs {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}
