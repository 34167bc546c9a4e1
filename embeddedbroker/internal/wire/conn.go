package wire

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is one client connection.
//
// Its reader goroutine reads requests and calls the Handler; the responses
// owed are queued for a writer goroutine that completes them in request
// order. The writer exists only while responses are owed: the reader starts
// it with the first one queued, and it ends once it has written everything
// queued.
type Conn struct {
	s      *Server
	nc     net.Conn
	ip     netip.Addr
	ctx    context.Context
	cancel context.CancelFunc

	// lastActive is when bytes were last read or written, on the
	// server's clock; busy counts the requests read and not yet answered
	// (handled, and their responses written). Together they say whether
	// the connection is idle.
	lastActive atomic.Int64
	busy       atomic.Int32
	reaped     atomic.Bool

	// tls is the connection's TLS side on a TLS listener, nc then being
	// it too.
	tls *tls.Conn
	// files says the writer sends Spliced responses' sections with
	// sendfile (a plaintext TCP or Unix socket, on Linux).
	files bool
	// The reader goroutine's own state, which the handler (called on
	// it) changes: the bound on the next frames' size, a function taking
	// the next frame raw instead of as a request, and whether to stop
	// reading once the responses owed are written.
	maxFrame int32
	rawNext  func(frame []byte) ([]byte, error)
	closing  bool
	// state is the handler's per-connection state (State, SetState).
	state atomic.Pointer[any]
	// mutedUntil is when the reader may read again, on the server's
	// clock (Mute); 0 when not muted.
	mutedUntil atomic.Int64

	mu      sync.Mutex
	cond    sync.Cond // on mu: queue space, writer exit, broken
	queue   []inflight
	head    int
	writing bool // a writer goroutine runs
	broken  bool // a write failed or a request panicked: answer nothing more
}

type inflight struct {
	corr    int32
	pending Pending
	// raw, when pending is nil, is a frame written as is (a SASL token
	// answered outside Kafka's request framing).
	raw []byte
}

func newConn(s *Server, nc net.Conn, ip netip.Addr) *Conn {
	c := &Conn{s: s, nc: nc, ip: ip, maxFrame: s.cfg.MaxRequestSize}
	switch v := nc.(type) {
	case *tls.Conn:
		c.tls = v
	case *net.TCPConn, *net.UnixConn:
		c.files = canSendFile
	}
	c.cond.L = &c.mu
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.touch()
	return c
}

// RemoteAddr is the client's address.
func (c *Conn) RemoteAddr() string { return c.nc.RemoteAddr().String() }

// RemoteIP is the client's IP address (the zero Addr when it has none).
func (c *Conn) RemoteIP() netip.Addr { return c.ip }

// TLSState is the connection's TLS state (handshake done) on a TLS
// listener; ok is false on a plaintext one.
func (c *Conn) TLSState() (state tls.ConnectionState, ok bool) {
	if c.tls == nil {
		return tls.ConnectionState{}, false
	}
	return c.tls.ConnectionState(), true
}

// SendsFiles reports whether the connection sends the sections of a
// Spliced response straight from their files (sendfile): a plaintext TCP
// or Unix socket on Linux. Elsewhere (TLS above all) the writer reads them
// through a buffer and writes that, which saves nothing over a response
// with the bytes in, so a handler had better answer with bytes there.
func (c *Conn) SendsFiles() bool { return c.files }

// State returns the handler's per-connection state, nil until SetState.
func (c *Conn) State() any {
	if p := c.state.Load(); p != nil {
		return *p
	}
	return nil
}

// SetState sets the handler's per-connection state.
func (c *Conn) SetState(v any) { c.state.Store(&v) }

// The methods below change how the connection reads: call them only from
// Handler.Handle or a raw-frame function, which run on the connection's
// reader goroutine.

// LimitFrames bounds the size of the frames read from now on to n bytes
// (at most the server's MaxRequestSize; n <= 0 restores that). A SASL
// listener bounds what an unauthenticated client may send, as Kafka's
// sasl.server.max.receive.size does. A larger frame closes the connection.
func (c *Conn) LimitFrames(n int32) {
	if n <= 0 || n > c.s.cfg.MaxRequestSize {
		n = c.s.cfg.MaxRequestSize
	}
	c.maxFrame = n
}

// ReadRaw makes the connection pass its next frame to fn as raw bytes,
// rather than decode it as a request, and write fn's result back as one
// frame after the responses owed, with no response header: a SASL token
// exchanged after a SaslHandshake v0 (Kafka's framing of those). fn may
// call ReadRaw again for the frame after; an error closes the connection.
// fn must not keep frame.
func (c *Conn) ReadRaw(fn func(frame []byte) ([]byte, error)) { c.rawNext = fn }

// Mute stops the connection's reader from reading the next request for d
// from now (longer mutes win over shorter ones), as Kafka mutes the
// channel of a throttled client (KIP-219): the response goes out at once
// with its throttle time and the client's next request waits. Safe from
// any goroutine.
func (c *Conn) Mute(d time.Duration) {
	if d <= 0 {
		return
	}
	until := int64(c.s.now() + d)
	for {
		cur := c.mutedUntil.Load()
		if cur >= until || c.mutedUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// waitMuted waits while the connection is muted, or until it closes; false
// when it closed.
func (c *Conn) waitMuted() bool {
	for {
		d := time.Duration(c.mutedUntil.Load()) - c.s.now()
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return false
		}
	}
}

// CloseAfterResponses makes the connection stop reading once the current
// request is handled, write the responses owed, and close: how a request
// that must end the connection (a failed authentication) is answered
// before the connection goes.
func (c *Conn) CloseAfterResponses() { c.closing = true }

// touch records activity now.
func (c *Conn) touch() { c.lastActive.Store(int64(c.s.now())) }

// idleSince is how long the connection has been idle at now: 0 while a
// request is in flight.
func (c *Conn) idleSince(now time.Duration) time.Duration {
	if c.busy.Load() > 0 {
		return 0
	}
	return now - time.Duration(c.lastActive.Load())
}

// closeIdle closes the connection for being idle; false if it was already.
func (c *Conn) closeIdle() bool {
	if c.reaped.Swap(true) {
		return false
	}
	c.nc.Close()
	return true
}

// serve is the connection's reader: it reads and handles requests until
// the client closes, sends bad bytes, or the connection is closed.
func (c *Conn) serve() {
	s := c.s
	fr := &frameReader{nc: c.nc, raw: rawConnOf(c.nc), max: c.maxFrame, onRead: c.touch}
	defer func() {
		// The reader is done: the client closed, sent bad bytes, or the
		// connection was closed. Responses already owed still go out,
		// but nothing waits on a client that is gone.
		c.cancel()
		c.mu.Lock()
		for c.writing {
			c.cond.Wait()
		}
		c.mu.Unlock()
		c.nc.Close()
		fr.close()
		s.forget(c)
		s.wg.Done()
	}()
	log := s.cfg.Logger
	if c.tls != nil && !c.handshake() {
		return
	}
	for !c.closing {
		if c.mutedUntil.Load() != 0 && !c.waitMuted() {
			return
		}
		fr.max = c.maxFrame
		frame, err := fr.next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Debug("closing connection", "remote", c.RemoteAddr(), "err", err)
			}
			return
		}
		c.busy.Add(1)
		if fn := c.rawNext; fn != nil {
			c.rawNext = nil
			resp, err := fn(frame)
			if err != nil {
				log.Debug("closing connection on bad raw frame", "remote", c.RemoteAddr(), "err", err)
				return
			}
			if !c.enqueue(inflight{raw: resp}) {
				return
			}
			continue
		}
		req, err := Decode(frame, s.cfg.Versions)
		if err != nil {
			log.Warn("closing connection on bad request", "remote", c.RemoteAddr(), "err", err)
			return
		}
		p := s.handle(c.ctx, c, req)
		if p == nil {
			c.busy.Add(-1)
			continue
		}
		if !c.enqueue(inflight{corr: req.CorrelationID, pending: p}) {
			return
		}
	}
}

// enqueue queues a response owed, waiting while MaxInFlight are queued
// (backpressure), and starts the writer if none runs. It returns false
// once the connection is broken.
func (c *Conn) enqueue(in inflight) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.queue)-c.head >= c.s.cfg.MaxInFlight && !c.broken {
		c.cond.Wait()
	}
	if c.broken {
		return false
	}
	c.queue = append(c.queue, in)
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
	return true
}

// Writer buffers. Responses are appended to one buffer and written when
// nothing more is queued or the buffer passes flushAt; buffers up to
// keepWriteBuf are pooled between bursts, larger ones (a big fetch) are
// dropped.
const (
	flushAt      = 64 << 10
	keepWriteBuf = 256 << 10
	// writeChunk bounds one write under a deadline (see write).
	writeChunk = 256 << 10
	// minWriteTimeout is the least time a chunk gets to be written when
	// an idle timeout is set (Server.minWriteTimeout, shorter in tests).
	minWriteTimeout = time.Second
)

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, flushAt); return &b }}

// writeLoop completes the queued requests in order and writes their
// responses, until the queue is empty and everything is written.
func (c *Conn) writeLoop() {
	bp := writeBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	unflushed := int32(0) // responses in buf
	broken := false
	var sw *splicedWriter // made at the first Spliced response
	flush := func() {
		if err := c.write(buf); err != nil {
			broken = true
			c.breakConn()
		}
		c.busy.Add(-unflushed)
		unflushed = 0
		if cap(buf) > keepWriteBuf {
			buf = nil
		}
		buf = buf[:0]
	}
	for {
		c.mu.Lock()
		if c.head == len(c.queue) {
			if len(buf) == 0 || broken {
				c.writing = false
				if cap(c.queue) > 16 {
					c.queue = nil
				} else {
					clear(c.queue)
					c.queue = c.queue[:0]
				}
				c.head = 0
				c.cond.Broadcast()
				c.mu.Unlock()
				if buf != nil {
					*bp = buf[:0]
					writeBufs.Put(bp)
				}
				return
			}
			c.mu.Unlock()
			flush()
			continue
		}
		in := c.queue[c.head]
		c.queue[c.head] = inflight{}
		c.head++
		c.cond.Broadcast()
		c.mu.Unlock()
		if broken {
			continue // drop what is owed to a broken connection
		}
		if in.pending == nil {
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(in.raw)))
			buf = append(buf, in.raw...)
			unflushed++
			continue
		}
		resp, ok := c.s.complete(in.pending)
		if !ok {
			broken = true
			c.breakConn()
			continue
		}
		if resp == nil {
			c.busy.Add(-1)
			continue
		}
		if sp, ok := resp.(Spliced); ok {
			if sw == nil {
				sw = &splicedWriter{}
			}
			var err error
			if buf, err = c.writeSpliced(buf, &unflushed, in.corr, sp, sw); err != nil {
				c.s.cfg.Logger.Debug("closing connection: writing a response from files failed", "remote", c.RemoteAddr(), "err", err)
				broken = true
				c.breakConn()
				c.busy.Add(-unflushed)
				unflushed = 0
				buf = buf[:0]
				continue
			}
			if len(buf) >= flushAt {
				flush()
			}
			continue
		}
		buf = AppendResponse(buf, in.corr, resp)
		unflushed++
		if len(buf) >= flushAt {
			flush()
		}
	}
}

// handshake completes a TLS handshake within the server's
// HandshakeTimeout; false (logged) when it failed and the connection must
// close.
func (c *Conn) handshake() bool {
	timeout := c.s.cfg.HandshakeTimeout
	if timeout <= 0 {
		timeout = defaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	if err := c.tls.HandshakeContext(ctx); err != nil {
		c.s.cfg.Logger.Info("TLS handshake failed; closing connection", "remote", c.RemoteAddr(), "err", err)
		return false
	}
	c.touch()
	return true
}

// defaultHandshakeTimeout bounds a TLS handshake when the server sets no
// HandshakeTimeout.
const defaultHandshakeTimeout = 10 * time.Second

// breakConn closes a connection whose responses can no longer go out in
// order, and wakes its reader.
func (c *Conn) breakConn() {
	c.nc.Close()
	c.mu.Lock()
	c.broken = true
	c.cond.Broadcast()
	c.mu.Unlock()
}

// write writes b. With an idle timeout, a client that reads nothing for
// that long (at least minWriteTimeout) while a response waits for it is
// idle too: b is written in chunks, each under that deadline.
func (c *Conn) write(b []byte) error {
	idle := c.s.cfg.IdleTimeout
	if idle <= 0 {
		_, err := c.nc.Write(b)
		c.touch()
		return err
	}
	timeout := max(idle, c.s.minWriteTimeout)
	for len(b) > 0 {
		n := min(len(b), writeChunk)
		if err := c.nc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
			return err
		}
		if _, err := c.nc.Write(b[:n]); err != nil {
			return err
		}
		c.touch()
		b = b[n:]
	}
	return nil
}

// splicedWriter is the writer's scratch state for Spliced responses,
// reused from one to the next.
type splicedWriter struct {
	splices []Splice
	cuts    []int
	last    [1]byte // a response's last byte, held back (see writeSpliced)
	rc      syscall.RawConn
	sender  fileSender
}

// writeSpliced writes a Spliced response after buf, which holds unflushed
// responses, and returns the buffer with what is left to write: the end of
// the response. Sections whose files were truncated since they were read
// are left out (their fields stay empty: the client fetches those records
// again). It writes buf up to the first section, sends the section from
// its file (sendfile, or reads and writes where the connection cannot),
// writes on to the next one, and so on.
//
// A section is checked again once its bytes are read from the file and
// before any byte after it goes out: a truncation during the send closes
// the connection with the frame incomplete, so that a client never takes
// in a whole response with bytes the file no longer held. A response that
// ends with a section holds its last byte back for that. (Sendfile hands
// the socket references to page cache pages; a page changed in place after
// the check, before the kernel transmits it, still goes out changed, as
// with Kafka's sendfile. Only a truncation rewrites a segment in place.)
//
// The sections are closed when it returns. An error breaks the
// connection: the response cannot be completed.
func (c *Conn) writeSpliced(buf []byte, unflushed *int32, corr int32, sp Spliced, sw *splicedWriter) ([]byte, error) {
	sw.splices = sp.Splices(sw.splices[:0])
	defer sw.close(c)
	keep := 0
	for i := range sw.splices {
		s := sw.splices[i]
		if err := s.Section.Check(); err != nil {
			c.s.cfg.Logger.Debug("answering without records truncated since the read", "remote", c.RemoteAddr(), "err", err)
			_ = s.Section.Close()
			sw.splices[i] = Splice{}
			continue
		}
		sw.splices[i], sw.splices[keep] = Splice{}, s
		keep++
	}
	sw.splices = sw.splices[:keep]
	start := len(buf)
	buf, cuts, err := AppendSpliced(buf, corr, sp, sw.splices, sw.cuts[:0])
	sw.cuts = cuts
	if err != nil {
		return buf, err
	}
	*unflushed++
	prev, held := 0, false
	for k, at := range sw.cuts {
		at += start
		if err := c.write(buf[prev:at]); err != nil {
			return buf, err
		}
		if k == 0 {
			// The responses before this one are out.
			c.busy.Add(-(*unflushed - 1))
			*unflushed = 1
		}
		s := sw.splices[k].Section
		for i, parts := 0, s.Parts(); i < parts; i++ {
			f, pos, n := s.Part(i)
			if i == parts-1 && at == len(buf) && n > 0 {
				// The response ends with this range.
				n--
				if _, err := f.ReadAt(sw.last[:], pos+n); err != nil {
					return buf, fmt.Errorf("wire: reading a response's section: %w", err)
				}
				held = true
			}
			if err := c.sendRange(sw, f, pos, n); err != nil {
				return buf, err
			}
		}
		if err := s.Check(); err != nil {
			return buf, fmt.Errorf("wire: a response's section changed while it was sent: %w", err)
		}
		prev = at
	}
	buf = buf[:copy(buf, buf[prev:])]
	if held {
		buf = append(buf, sw.last[0])
	}
	return buf, nil
}

// close closes the sections of the response written last.
func (sw *splicedWriter) close(c *Conn) {
	for i := range sw.splices {
		if err := sw.splices[i].Section.Close(); err != nil {
			c.s.cfg.Logger.Debug("closing a response's section", "err", err)
		}
		sw.splices[i] = Splice{}
	}
	sw.splices = sw.splices[:0]
}

// sendRange writes the n bytes of f at pos: with sendfile, in chunks
// under the write deadline as write does, on a connection that can;
// otherwise, or where the kernel refuses sendfile for the file, by
// reading them into a buffer and writing that.
func (c *Conn) sendRange(sw *splicedWriter, f *os.File, pos, n int64) error {
	if c.files && sw.rc == nil {
		sw.rc = rawConnOf(c.nc)
	}
	if !c.files || sw.rc == nil {
		return c.copyRange(f, pos, n)
	}
	idle := c.s.cfg.IdleTimeout
	timeout := max(idle, c.s.minWriteTimeout)
	for n > 0 {
		chunk := n
		if idle > 0 {
			chunk = min(n, writeChunk)
			if err := c.nc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
				return err
			}
		}
		w, err := sw.sender.sendFile(sw.rc, f, pos, chunk)
		pos, n = pos+w, n-w
		if w > 0 {
			c.touch()
		}
		if errors.Is(err, errNoSendFile) {
			return c.copyRange(f, pos, n)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// errNoSendFile means sendfile cannot send from a file.
var errNoSendFile = errors.New("wire: sendfile not available")

// copyRange writes n bytes of f at pos by reading them into a buffer.
func (c *Conn) copyRange(f *os.File, pos, n int64) error {
	bp := writeBufs.Get().(*[]byte)
	defer writeBufs.Put(bp)
	b := (*bp)[:cap(*bp)]
	for n > 0 {
		m := int(min(n, int64(len(b))))
		if _, err := f.ReadAt(b[:m], pos); err != nil {
			return fmt.Errorf("wire: reading a response's section: %w", err)
		}
		if err := c.write(b[:m]); err != nil {
			return err
		}
		pos, n = pos+int64(m), n-int64(m)
	}
	return nil
}
