package wire

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Pending completes a request. It returns the response, blocking while the
// request waits (a long-polling fetch, an acks=all produce), or nil when the
// request gets no response (an acks=0 produce). A Spliced response hands
// its sections of files to the connection, which sends them and closes
// them (see Spliced).
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

// ServerConfig configures a Server. Its zero value (apart from Versions)
// serves without connection limits and never closes idle connections, as
// a server for the brokers' own replication connections wants.
//
// The connection configs follow Kafka's SocketServer and ConnectionQuotas,
// with these differences:
//   - max.connections: Kafka stops accepting at the limit, leaving new
//     connections waiting in the listen backlog until one closes; here a
//     connection beyond it is accepted and closed at once, as Kafka does for
//     max.connections.per.ip, so a client fails fast and retries instead of
//     hanging until its own timeout. The per-listener
//     listener.name.X.max.connections and max.connection.creation.rate are
//     not implemented, nor max.connections.per.ip.overrides.
//   - The limits count the connections of one Server (the client listener),
//     where Kafka's per-IP count spans all listeners.
//   - connections.max.idle.ms: Kafka closes a connection with no socket
//     activity for that long even while a request waits on the broker; here
//     a request in flight keeps it open (its own timeout bounds it), while a
//     response the client does not read for that long (at least 1 s) closes
//     it. Idle connections are found by a scan every quarter of the timeout
//     (at most every second), so one is closed within about 1.25 timeouts.
//   - A refusal is logged at most every 10 s, with the count of the ones not
//     logged, where Kafka logs each at INFO.
type ServerConfig struct {
	// MaxRequestSize bounds a request frame (socket.request.max.bytes);
	// 0 means 100 MiB, Kafka's default.
	MaxRequestSize int32
	// MaxInFlight bounds the requests read ahead of their responses on one
	// connection; past it the server stops reading (backpressure). 0 means
	// 64.
	MaxInFlight int
	// MaxConnections bounds the connections served at once
	// (max.connections); a connection accepted beyond it is closed at once.
	// 0 means no limit; a negative value refuses every connection (Kafka's
	// max.connections=0).
	MaxConnections int
	// MaxConnectionsPerIP bounds the connections served at once from one
	// remote IP address (max.connections.per.ip), like MaxConnections.
	MaxConnectionsPerIP int
	// IdleTimeout closes a connection that has no request in flight and
	// has read and written nothing for this long
	// (connections.max.idle.ms). 0 or negative means never.
	IdleTimeout time.Duration
	// Versions reports the versions served for each API key.
	Versions Versions
	// TLS, when set, makes every connection TLS: the handshake runs on
	// the connection's own goroutine (a client that never completes it
	// holds up no one) and must finish within HandshakeTimeout.
	TLS *tls.Config
	// HandshakeTimeout bounds a TLS handshake; 0 means 10 s.
	HandshakeTimeout time.Duration
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// ServerStats counts what a Server did with its connections.
type ServerStats struct {
	// Open is the number of connections being served.
	Open int
	// Refused counts connections closed at once for a connection limit.
	Refused int64
	// IdleClosed counts connections closed for being idle.
	IdleClosed int64
	// AcceptErrors counts failed accepts (out of file handles, aborted
	// handshakes), each followed by a back-off.
	AcceptErrors int64
}

// Server accepts connections on a listener and serves them with a Handler.
//
// A connection at rest costs one goroutine (its reader, blocked in the
// network poller) and a few hundred bytes: its read buffer is taken from a
// pool only while bytes are arriving, and its writer goroutine and write
// buffer exist only while responses are owed.
type Server struct {
	cfg     ServerConfig
	ln      net.Listener
	handler Handler
	ctx     context.Context
	cancel  context.CancelFunc
	start   time.Time // the origin of the connections' monotonic clocks
	// minWriteTimeout is the least time a response chunk gets to be
	// written when an idle timeout is set.
	minWriteTimeout time.Duration

	refusedLog  logLimiter
	acceptLog   logLimiter
	refused     atomic.Int64
	idleClosed  atomic.Int64
	acceptFails atomic.Int64

	mu     sync.Mutex
	conns  map[*Conn]struct{}
	perIP  map[netip.Addr]int
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
	if cfg.IdleTimeout < 0 {
		cfg.IdleTimeout = 0
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg: cfg, ln: ln, handler: h, ctx: ctx, cancel: cancel, start: time.Now(), minWriteTimeout: minWriteTimeout,
		refusedLog: logLimiter{every: logEvery}, acceptLog: logLimiter{every: logEvery},
		conns: make(map[*Conn]struct{}), perIP: make(map[netip.Addr]int),
	}
}

// logEvery is how often a repeated connection event (a refusal, an accept
// failure) is logged; the ones in between are counted into the next line.
const logEvery = 10 * time.Second

// Accept back-off after a failed accept: it starts at acceptBackoffMin and
// doubles up to acceptBackoffMax while accepts keep failing.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// Serve accepts connections until Close and returns nil after Close. No
// accept error ends it: a temporary one, or running out of file handles
// (EMFILE, ENFILE), is logged and retried after a back-off, so the node
// accepts again once handles are free. It returns an error only if the
// listener was closed by someone other than Close, as nothing can be
// accepted any more.
func (s *Server) Serve() error {
	if s.cfg.IdleTimeout > 0 {
		s.mu.Lock()
		if !s.closed {
			s.wg.Add(1)
			go s.reapIdle()
		}
		s.mu.Unlock()
	}
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("wire: listener closed outside Server.Close: %w", err)
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			s.acceptFails.Add(1)
			if ok, skipped := s.acceptLog.allow(s.now()); ok {
				s.cfg.Logger.Error("accepting a connection failed; retrying", "err", err, "backoff", backoff, "failures_not_logged", skipped)
			}
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
			}
			continue
		}
		backoff = 0
		if !s.admit(nc) {
			if s.isClosed() {
				return nil
			}
		}
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// now is the time on the server's monotonic clock.
func (s *Server) now() time.Duration { return time.Since(s.start) }

// admit starts serving nc, or closes it at once when the server is closed
// or a connection limit is reached, as Kafka's ConnectionQuotas refuses a
// connection beyond max.connections.per.ip.
func (s *Server) admit(nc net.Conn) bool {
	ip := remoteIP(nc)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return false
	}
	limit, config := 0, ""
	switch total, perIP := s.cfg.MaxConnections, s.cfg.MaxConnectionsPerIP; {
	case total < 0 || total > 0 && len(s.conns) >= total:
		limit, config = total, "max.connections"
	case perIP < 0 || perIP > 0 && s.perIP[ip] >= perIP:
		limit, config = perIP, "max.connections.per.ip"
	}
	if config != "" {
		open := len(s.conns)
		s.mu.Unlock()
		// Counted and logged before the close the client sees.
		s.refused.Add(1)
		if ok, skipped := s.refusedLog.allow(s.now()); ok {
			s.cfg.Logger.Warn("refused a connection: limit reached", "remote", ip.String(), "config", config, "limit", max(limit, 0),
				"open", open, "refused_not_logged", skipped)
		}
		nc.Close()
		return false
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if s.cfg.TLS != nil {
		nc = tls.Server(nc, s.cfg.TLS)
	}
	c := newConn(s, nc, ip)
	s.conns[c] = struct{}{}
	s.perIP[ip]++
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
	return true
}

// forget removes a closed connection from the counts.
func (s *Server) forget(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if n := s.perIP[c.ip] - 1; n > 0 {
		s.perIP[c.ip] = n
	} else {
		delete(s.perIP, c.ip)
	}
	s.mu.Unlock()
}

// remoteIP is the IP address a connection comes from (the zero Addr when
// the address is not an IP one).
func remoteIP(nc net.Conn) netip.Addr {
	switch a := nc.RemoteAddr().(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		return ap.Addr().Unmap()
	}
}

// reapIdle closes, until Close, the connections idle for the idle timeout,
// checking a few times per timeout, so a connection is closed between one
// and about one and a quarter timeouts after it went quiet.
func (s *Server) reapIdle() {
	defer s.wg.Done()
	idle := s.cfg.IdleTimeout
	t := time.NewTicker(min(max(idle/4, 5*time.Millisecond), time.Second))
	defer t.Stop()
	var expired []*Conn
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		s.mu.Lock()
		for c := range s.conns {
			if c.idleSince(now) >= idle {
				expired = append(expired, c)
			}
		}
		s.mu.Unlock()
		for i, c := range expired {
			// Check again: a request may have arrived since.
			if c.idleSince(s.now()) >= idle && c.closeIdle() {
				s.idleClosed.Add(1)
				s.cfg.Logger.Debug("closing idle connection", "remote", c.RemoteAddr(), "idle_timeout", idle)
			}
			expired[i] = nil
		}
		expired = expired[:0]
	}
}

// Stats reports the server's connection counts.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	open := len(s.conns)
	s.mu.Unlock()
	return ServerStats{Open: open, Refused: s.refused.Load(), IdleClosed: s.idleClosed.Load(), AcceptErrors: s.acceptFails.Load()}
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
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return err
}

// handle calls the handler, turning a panic into a closed connection.
func (s *Server) handle(ctx context.Context, c *Conn, req *Request) (p Pending) {
	defer func() {
		if r := recover(); r != nil {
			s.cfg.Logger.Error("handler panic; closing connection", "remote", c.RemoteAddr(), "api", kmsg.NameForKey(req.Key), "panic", r)
			p = func() kmsg.Response { panic(errHandlerPanic) }
		}
	}()
	return s.handler.Handle(ctx, c, req)
}

var errHandlerPanic = errors.New("wire: handler panic")

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

// logLimiter lets an event that may repeat thousands of times a second (a
// refused connection, a failed accept) be logged at most once per period;
// the events it holds back are counted and reported with the next one
// logged.
type logLimiter struct {
	every time.Duration

	mu      sync.Mutex
	logged  bool
	last    time.Duration
	skipped int64
}

// allow reports whether the event at now may be logged and, if so, how many
// were held back since the last one logged.
func (l *logLimiter) allow(now time.Duration) (ok bool, skipped int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.logged && now-l.last < l.every {
		l.skipped++
		return false, 0
	}
	l.logged, l.last = true, now
	skipped, l.skipped = l.skipped, 0
	return true, skipped
}
