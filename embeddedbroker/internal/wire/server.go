package wire

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Pending completes a request. It returns the response, blocking while the
// request waits (a long-polling fetch, an acks=all produce), or nil when the
// request gets no response (an acks=0 produce).
type Pending func() kmsg.Response

// Handler serves requests. Handle is called for one connection's requests
// one at a time, in the order they arrived, so work whose order matters (a
// produce's append) is done inside Handle; what may wait is returned as the
// Pending, which the connection's writer completes in request order. The
// context passed to Handle ends when the connection closes or the server
// stops; a Pending that waits must wait on it too.
type Handler interface {
	Handle(ctx context.Context, c *Conn, req *Request) Pending
}

// Conn is one client connection.
type Conn struct {
	nc     net.Conn
	remote string
}

// RemoteAddr is the client's address.
func (c *Conn) RemoteAddr() string { return c.remote }

// ServerConfig configures a Server.
type ServerConfig struct {
	// MaxRequestSize bounds a request frame (socket.request.max.bytes).
	MaxRequestSize int32
	// MaxInFlight bounds the requests read ahead of their responses on one
	// connection; past it the server stops reading (backpressure).
	MaxInFlight int
	Versions    Versions
	Logger      *slog.Logger
}

// Server accepts connections on a listener and serves them with a Handler.
type Server struct {
	cfg     ServerConfig
	ln      net.Listener
	handler Handler
	ctx     context.Context
	cancel  context.CancelFunc

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns a server for ln; call Serve to accept connections.
func NewServer(ln net.Listener, h Handler, cfg ServerConfig) *Server {
	if cfg.MaxRequestSize <= 0 {
		cfg.MaxRequestSize = 100 << 20
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, ln: ln, handler: h, ctx: ctx, cancel: cancel, conns: make(map[net.Conn]struct{})}
}

// Serve accepts connections until Close. It returns nil after Close.
func (s *Server) Serve() error {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[nc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(nc)
	}
}

// Close stops accepting, closes every connection, cancels the context of
// pending requests and waits for the connections' goroutines to end.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return err
}

type inflight struct {
	corr    int32
	pending Pending
}

func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		nc.Close()
	}()
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := &Conn{nc: nc, remote: nc.RemoteAddr().String()}
	ctx, cancel := context.WithCancel(s.ctx)
	queue := make(chan inflight, s.cfg.MaxInFlight)
	writerDone := make(chan struct{})
	go s.writeLoop(nc, queue, writerDone)
	defer func() {
		// The reader is done: the client closed, or sent bad bytes.
		// Responses already owed still go out, but nothing waits on
		// a client that is gone.
		cancel()
		close(queue)
		<-writerDone
	}()

	r := bufio.NewReaderSize(nc, 64<<10)
	log := s.cfg.Logger
	for {
		frame, err := ReadFrame(r, s.cfg.MaxRequestSize)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Debug("closing connection", "remote", c.remote, "err", err)
			}
			return
		}
		req, err := Decode(frame, s.cfg.Versions)
		if err != nil {
			log.Warn("closing connection on bad request", "remote", c.remote, "err", err)
			return
		}
		p := s.handle(ctx, c, req)
		if p == nil {
			continue
		}
		select {
		case queue <- inflight{corr: req.CorrelationID, pending: p}:
		case <-writerDone:
			return
		}
	}
}

// handle calls the handler, turning a panic into a closed connection.
func (s *Server) handle(ctx context.Context, c *Conn, req *Request) (p Pending) {
	defer func() {
		if r := recover(); r != nil {
			s.cfg.Logger.Error("handler panic; closing connection", "remote", c.remote, "api", kmsg.NameForKey(req.Key), "panic", r)
			p = func() kmsg.Response { panic(errHandlerPanic) }
		}
	}()
	return s.handler.Handle(ctx, c, req)
}

var errHandlerPanic = errors.New("wire: handler panic")

func (s *Server) writeLoop(nc net.Conn, queue <-chan inflight, done chan<- struct{}) {
	defer close(done)
	w := bufio.NewWriterSize(nc, 64<<10)
	var buf []byte
	broken := false
	for in := range queue {
		if broken {
			continue // drain so the reader never blocks
		}
		resp, ok := s.complete(in.pending)
		if !ok {
			broken = true
			nc.Close()
			continue
		}
		if resp == nil {
			continue
		}
		buf = AppendResponse(buf[:0], in.corr, resp)
		if _, err := w.Write(buf); err != nil {
			broken = true
			nc.Close()
			continue
		}
		if len(queue) == 0 {
			if err := w.Flush(); err != nil {
				broken = true
				nc.Close()
			}
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not pin a large fetch's buffer
		}
	}
}

func (s *Server) complete(p Pending) (resp kmsg.Response, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if r != errHandlerPanic {
				s.cfg.Logger.Error("request panic; closing connection", "panic", r)
			}
			resp, ok = nil, false
		}
	}()
	return p(), true
}
