package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// logRecorder is a slog handler that keeps the messages logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// count returns how many messages logged start with prefix.
func (l *logRecorder) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// startServer serves h on a loopback listener until the test ends.
func startServer(t *testing.T, h Handler, cfg ServerConfig) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, ln, h, cfg), ln.Addr().String()
}

func serveOn(t *testing.T, ln net.Listener, h Handler, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.Versions == nil {
		cfg.Versions = allVersions
	}
	s := NewServer(ln, h, cfg)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type client struct {
	t    *testing.T
	nc   net.Conn
	corr int32
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	return dialFrom(t, addr, nil)
}

func dialFrom(t *testing.T, addr string, local net.Addr) *client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: local}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc}
}

// send writes a request and returns its correlation id.
func (c *client) send(req kmsg.Request) int32 {
	c.t.Helper()
	c.corr++
	if _, err := c.nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, c.corr)); err != nil {
		c.t.Fatal(err)
	}
	return c.corr
}

// recv reads one response frame and returns its correlation id.
func (c *client) recv() (int32, error) {
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var sz [4]byte
	if _, err := io.ReadFull(c.nc, sz[:]); err != nil {
		return 0, err
	}
	b := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(c.nc, b); err != nil {
		return 0, err
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}

// roundTrip sends an ApiVersions request and fails unless it is answered.
func (c *client) roundTrip() {
	c.t.Helper()
	corr := c.send(kmsg.NewPtrApiVersionsRequest())
	got, err := c.recv()
	if err != nil {
		c.t.Fatalf("no answer: %v", err)
	}
	if got != corr {
		c.t.Fatalf("correlation id %d, want %d", got, corr)
	}
}

// closedByPeer reports whether the server closed the connection (read
// gets EOF or a reset) within the test's patience.
func (c *client) closedByPeer() bool {
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	_, err := c.nc.Read(b[:])
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestMaxConnections(t *testing.T) {
	logs := &logRecorder{}
	s, addr := startServer(t, echoHandler{}, ServerConfig{MaxConnections: 3, Logger: slog.New(logs)})
	kept := []*client{dial(t, addr), dial(t, addr), dial(t, addr)}
	for _, c := range kept {
		c.roundTrip()
	}
	for i := 0; i < 5; i++ {
		if !dial(t, addr).closedByPeer() {
			t.Fatal("connection beyond max.connections kept open")
		}
	}
	if st := s.Stats(); st.Refused != 5 || st.Open != 3 {
		t.Fatalf("stats %+v, want 5 refused and 3 open", st)
	}
	if n := logs.count("refused a connection"); n != 1 {
		t.Fatalf("%d refusals logged, want 1 (the others counted into the next line)", n)
	}
	for _, c := range kept {
		c.roundTrip() // the kept ones are still served
	}
	kept[0].nc.Close()
	waitFor(t, "a connection slot to free up", func() bool { return s.Stats().Open == 2 })
	dial(t, addr).roundTrip()
}

func TestMaxConnectionsPerIP(t *testing.T) {
	s, addr := startServer(t, echoHandler{}, ServerConfig{MaxConnectionsPerIP: 2})
	a := []*client{dial(t, addr), dial(t, addr)}
	for _, c := range a {
		c.roundTrip()
	}
	if !dial(t, addr).closedByPeer() {
		t.Fatal("third connection from 127.0.0.1 kept open")
	}
	// Another address is not limited by the first one's count.
	d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	other, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2 here: %v", err)
	}
	other.Close()
	b := dialFrom(t, addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)})
	b.roundTrip()
	if st := s.Stats(); st.Refused != 1 {
		t.Fatalf("stats %+v, want 1 refused", st)
	}
}

func TestConnectionLimitsZeroAndNegative(t *testing.T) {
	t.Run("zero means no limit", func(t *testing.T) {
		s, addr := startServer(t, echoHandler{}, ServerConfig{})
		var cs []*client
		for range 200 {
			cs = append(cs, dial(t, addr))
		}
		for _, c := range cs {
			c.roundTrip()
		}
		if st := s.Stats(); st.Refused != 0 || st.Open != 200 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("negative refuses all", func(t *testing.T) {
		for _, cfg := range []ServerConfig{{MaxConnections: -1}, {MaxConnectionsPerIP: -1}} {
			_, addr := startServer(t, echoHandler{}, cfg)
			if !dial(t, addr).closedByPeer() {
				t.Fatalf("%+v: connection kept", cfg)
			}
		}
	})
}

// blockingHandler answers requests only when release is closed.
type blockingHandler struct{ release chan struct{} }

func (h blockingHandler) Handle(ctx context.Context, c *Conn, req *Request) Pending {
	resp := req.Body.ResponseKind()
	return func() kmsg.Response {
		select {
		case <-h.release:
		case <-ctx.Done():
		}
		return resp
	}
}

// TestIdleTimeout: a connection with nothing in flight that is silent for
// the idle timeout is closed; one whose request is in flight is not, however
// long the request waits; once answered, it is idle and closed in its turn.
func TestIdleTimeout(t *testing.T) {
	h := blockingHandler{release: make(chan struct{})}
	s, addr := startServer(t, h, ServerConfig{IdleTimeout: 100 * time.Millisecond})
	busy := dial(t, addr)
	corr := busy.send(kmsg.NewPtrApiVersionsRequest())
	waitFor(t, "the request to be in flight", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for c := range s.conns {
			if c.busy.Load() > 0 {
				return true
			}
		}
		return false
	})
	start := time.Now()
	quiet := dial(t, addr)
	if !quiet.closedByPeer() {
		t.Fatal("idle connection not closed")
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", took)
	}
	// The quiet one, opened after the request was sent, went idle; the busy
	// one had its request in flight all along and must still be open.
	waitFor(t, "the idle close to be counted", func() bool { return s.Stats().IdleClosed == 1 })
	waitFor(t, "the idle connection to be gone", func() bool { return s.Stats().Open == 1 })
	// The busy one is the one left: it gets its response.
	close(h.release)
	if got, err := busy.recv(); err != nil || got != corr {
		t.Fatalf("response: corr %d, %v", got, err)
	}
	if !busy.closedByPeer() {
		t.Fatal("connection idle after its response not closed")
	}
	waitFor(t, "both idle closes", func() bool { return s.Stats().IdleClosed == 2 })
}

// TestIdlePartialFrame: a client that announces a large frame, sends part of
// it and goes silent is closed by the idle rule, and the server held only
// what arrived (see TestFrameBufferGrowsWithArrivals).
func TestIdlePartialFrame(t *testing.T) {
	s, addr := startServer(t, echoHandler{}, ServerConfig{IdleTimeout: 100 * time.Millisecond})
	c := dial(t, addr)
	msg := make([]byte, 4+1000)
	binary.BigEndian.PutUint32(msg, 100<<20)
	c.nc.Write(msg)
	if !c.closedByPeer() {
		t.Fatal("connection silent inside a frame not closed")
	}
	waitFor(t, "the idle close to be counted", func() bool { return s.Stats().IdleClosed == 1 })
}

// TestIdleTimeoutZeroNeverCloses: a server with no idle timeout keeps an
// idle connection open while one with a timeout closes its twin.
func TestIdleTimeoutZeroNeverCloses(t *testing.T) {
	never, addr := startServer(t, echoHandler{}, ServerConfig{})
	control, controlAddr := startServer(t, echoHandler{}, ServerConfig{IdleTimeout: 50 * time.Millisecond})
	c := dial(t, addr)
	c.roundTrip()
	if !dial(t, controlAddr).closedByPeer() {
		t.Fatal("control connection not closed")
	}
	waitFor(t, "the control close to be counted", func() bool { return control.Stats().IdleClosed == 1 })
	if st := never.Stats(); st.Open != 1 || st.IdleClosed != 0 {
		t.Fatalf("stats %+v: idle connection closed without an idle timeout", st)
	}
	c.roundTrip()
}

// TestStuckReaderClosed: a client that sends requests and never reads the
// responses is closed once its responses have waited for the idle timeout
// (at least Server.minWriteTimeout), instead of pinning them forever.
func TestStuckReaderClosed(t *testing.T) {
	big := make([]byte, 1<<20)
	h := handlerFunc(func(ctx context.Context, c *Conn, req *Request) Pending {
		resp := kmsg.NewPtrFetchResponse()
		resp.SetVersion(4)
		resp.Topics = []kmsg.FetchResponseTopic{{Topic: "t", Partitions: []kmsg.FetchResponseTopicPartition{{RecordBatches: big}}}}
		return func() kmsg.Response { return resp }
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ln, h, ServerConfig{IdleTimeout: 50 * time.Millisecond, Versions: allVersions})
	s.minWriteTimeout = 50 * time.Millisecond
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	c := dial(t, ln.Addr().String())
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(4)
	for range 40 { // 40 MiB of responses: more than the sockets buffer
		c.send(req)
	}
	waitFor(t, "the stuck connection to be closed", func() bool { return s.Stats().Open == 0 })
}

type handlerFunc func(ctx context.Context, c *Conn, req *Request) Pending

func (f handlerFunc) Handle(ctx context.Context, c *Conn, req *Request) Pending {
	return f(ctx, c, req)
}

// flakyListener fails Accept with the errors queued before accepting.
type flakyListener struct {
	net.Listener
	errs chan error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	select {
	case err := <-l.errs:
		return nil, err
	default:
		return l.Listener.Accept()
	}
}

func emfile() error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
}

// TestAcceptErrorsBackOff: out of file handles, Accept fails again and
// again; Serve logs once, backs off and keeps accepting, and serves the
// connection that waited once Accept works again.
func TestAcceptErrorsBackOff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln, errs: make(chan error, 16)}
	const failures = 4 // back-offs of 5+10+20+40 ms, then 80 for the last
	for range failures {
		fl.errs <- emfile()
	}
	fl.errs <- &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ECONNABORTED)}
	logs := &logRecorder{}
	s := serveOn(t, fl, echoHandler{}, ServerConfig{Logger: slog.New(logs)})
	c := dial(t, ln.Addr().String())
	c.roundTrip()
	if st := s.Stats(); st.AcceptErrors != failures+1 {
		t.Fatalf("stats %+v, want %d accept errors", st, failures+1)
	}
	if n := logs.count("accepting a connection failed"); n != 1 {
		t.Fatalf("%d accept failures logged, want 1", n)
	}
}

// alwaysFailing fails every Accept until closed.
type alwaysFailing struct{ closed chan struct{} }

func (l *alwaysFailing) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
		return nil, emfile()
	}
}
func (l *alwaysFailing) Close() error   { close(l.closed); return nil }
func (l *alwaysFailing) Addr() net.Addr { return &net.TCPAddr{} }

func TestCloseDuringAcceptBackoff(t *testing.T) {
	s := NewServer(&alwaysFailing{closed: make(chan struct{})}, echoHandler{}, ServerConfig{Versions: allVersions})
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	waitFor(t, "accept failures", func() bool { return s.Stats().AcceptErrors >= 6 }) // into the 160 ms back-off
	start := time.Now()
	s.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Logf("Close took %v", took) // a loaded machine; the back-off is what must not hold it
	}
}

func TestListenerClosedElsewhere(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ln, echoHandler{}, ServerConfig{Versions: allVersions})
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	ln.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve: %v, want net.ErrClosed", err)
	}
	s.Close()
}

// TestPipelinedFramesSplitAnywhere sends many requests in one write, then
// one byte per write, then frames larger than the read buffer: every one is
// answered in order.
func TestPipelinedFramesSplitAnywhere(t *testing.T) {
	_, addr := startServer(t, echoHandler{}, ServerConfig{MaxInFlight: 4})
	c := dial(t, addr)
	f := kmsg.NewRequestFormatter()
	var all []byte
	var corrs []int32
	add := func(req kmsg.Request) {
		c.corr++
		all = append(all, f.AppendRequest(nil, req, c.corr)...) // AppendRequest sizes all of dst
		corrs = append(corrs, c.corr)
	}
	for range 100 {
		add(kmsg.NewPtrApiVersionsRequest())
	}
	check := func() {
		t.Helper()
		for _, want := range corrs {
			got, err := c.recv()
			if err != nil || got != want {
				t.Fatalf("response %d, %v; want %d", got, err, want)
			}
		}
		all, corrs = all[:0], corrs[:0]
	}
	go c.nc.Write(bytes.Clone(all))
	check()

	for range 3 {
		add(kmsg.NewPtrMetadataRequest())
	}
	go func(b []byte) {
		for i := range b {
			c.nc.Write(b[i : i+1])
		}
	}(bytes.Clone(all))
	check()

	for _, size := range []int{readBufSize - 100, readBufSize, 3*readBufSize + 17, 1 << 20} {
		p := kmsg.NewPtrProduceRequest()
		p.SetVersion(7)
		p.Acks = 0 // no response: checks that the next frame still parses
		p.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: make([]byte, size)}}}}
		c.corr++
		all = append(all, f.AppendRequest(nil, p, c.corr)...)
		add(kmsg.NewPtrApiVersionsRequest())
	}
	go c.nc.Write(bytes.Clone(all))
	check()
}

// TestLargeFrameAlone: a frame larger than the read buffer, with nothing
// sent after it, is answered (its end is read straight into the frame, with
// no later bytes to prompt the reader).
func TestLargeFrameAlone(t *testing.T) {
	_, addr := startServer(t, echoHandler{}, ServerConfig{})
	c := dial(t, addr)
	for _, size := range []int{readBufSize, 3*readBufSize + 17, 1 << 20, 5 << 20} {
		p := kmsg.NewPtrProduceRequest()
		p.SetVersion(7)
		p.Acks = 1
		p.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: make([]byte, size)}}}}
		corr := c.send(p)
		if got, err := c.recv(); err != nil || got != corr {
			t.Fatalf("%d bytes: response %d, %v", size, got, err)
		}
	}
}

// TestFrameBufferGrowsWithArrivals: for a frame announcing 100 MiB (or 1
// MiB), the reader holds what arrived, rounded up to a chunk, or at most
// twice that once half the frame is there, never the announced size.
func TestFrameBufferGrowsWithArrivals(t *testing.T) {
	for _, tt := range []struct{ announced, sent int }{
		{100 << 20, 0}, {100 << 20, 10}, {100 << 20, 5000}, {100 << 20, readBufSize + 1}, {100 << 20, 3_000_000},
		{1 << 20, 600_000}, {1 << 20, 1<<20 - 1},
	} {
		server, cl := tcpPair(t)
		fr := &frameReader{nc: server, raw: rawConnOf(server), max: 200 << 20, onRead: func() {}}
		go func() {
			msg := make([]byte, 4+tt.sent)
			binary.BigEndian.PutUint32(msg, uint32(tt.announced))
			cl.Write(msg)
			cl.Close()
		}()
		_, err := fr.next()
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%+v: %v, want io.ErrUnexpectedEOF", tt, err)
		}
		if fr.got != tt.sent {
			t.Fatalf("%+v: frame holds %d", tt, fr.got)
		}
		if h := fr.held(); h > max(2*tt.sent, tt.sent+readBufSize) {
			t.Fatalf("%+v: frame holds %d bytes of buffers", tt, h)
		}
		fr.close()
	}
}

func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// limitedReader records the largest read asked of it.
type sizeRecorder struct {
	r       io.Reader
	largest int
}

func (s *sizeRecorder) Read(p []byte) (int, error) {
	s.largest = max(s.largest, len(p))
	return s.r.Read(p)
}

func TestReadFrameGrowsWithArrivals(t *testing.T) {
	const sent = 1 << 20
	msg := make([]byte, 4+sent)
	binary.BigEndian.PutUint32(msg, 100<<20)
	r := &sizeRecorder{r: bytes.NewReader(msg)}
	if _, err := ReadFrame(r, 200<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
	if r.largest > 2*sent {
		t.Fatalf("a read of %d bytes for %d sent", r.largest, sent)
	}
	// A whole frame reads back intact.
	want := frame(kmsg.NewPtrMetadataRequest(), 3, nil)
	full := binary.BigEndian.AppendUint32(nil, uint32(len(want)))
	got, err := ReadFrame(bytes.NewReader(append(full, want...)), 1<<20)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ReadFrame: %v", err)
	}
}

func TestLogLimiter(t *testing.T) {
	l := logLimiter{every: time.Second}
	if ok, _ := l.allow(0); !ok {
		t.Fatal("first event not logged")
	}
	for i := 1; i <= 5; i++ {
		if ok, _ := l.allow(time.Duration(i) * 100 * time.Millisecond); ok {
			t.Fatal("logged within the period")
		}
	}
	ok, skipped := l.allow(time.Second)
	if !ok || skipped != 5 {
		t.Fatalf("after the period: ok %v, skipped %d", ok, skipped)
	}
}
