package broker

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/endpoint"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sasl"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authentication, as Kafka's SocketServer and SaslServerAuthenticator do
// it.
//
// Every client listener has a security protocol. On PLAINTEXT the
// principal is User:ANONYMOUS; on SSL it comes from the client's
// certificate (ssl.principal.mapping.rules), User:ANONYMOUS without one. On
// SASL_PLAINTEXT and SASL_SSL a connection must authenticate before
// anything but ApiVersions: SaslHandshake names a mechanism, then the
// tokens go back and forth in SaslAuthenticate requests (handshake v1) or
// as raw frames (v0). Any other request before that closes the connection
// without an answer, as does a failed authentication once its error is
// sent, and frames stay under sasl.server.max.receive.size until then.
//
// Re-authentication (KIP-368): with connections.max.reauth.ms set, a
// successful SaslAuthenticate v1+ tells the client its session's lifetime
// (the shorter of that and the credential's, an OAUTHBEARER token's
// expiry); the client authenticates again on the same connection before
// it ends, with the same mechanism and as the same principal. A request
// after the session ended closes the connection.

// Listener is one of a node's client listeners.
type Listener struct {
	// Name is the listener's name (PLAINTEXT, EXTERNAL, ...): clients on
	// it are told the other brokers' endpoints of the same name.
	Name     string
	Protocol endpoint.Protocol
	Net      net.Listener
	// Advertised is the host:port clients are told; empty means Net's
	// address.
	Advertised string
	// TLS is the server side of SSL and SASL_SSL listeners.
	TLS *tls.Config
	// Principal maps a TLS connection's client certificate to a principal
	// ("User:..."); nil gives User:ANONYMOUS without a certificate and
	// User:<subject DN> with one.
	Principal func(tls.ConnectionState) (string, error)
	// Mechanisms are the SASL mechanisms enabled on a SASL listener
	// (sasl.enabled.mechanisms).
	Mechanisms []string
	// MaxReceive bounds the frames of a connection not yet authenticated
	// (sasl.server.max.receive.size); 0 means 524288.
	MaxReceive int32
	// Reauth is connections.max.reauth.ms: the longest a SASL session
	// lasts before the client must authenticate again; 0 means forever.
	Reauth time.Duration
	// SASL configures the mechanisms' server side; its Store is set by
	// the node.
	SASL sasl.Config
}

// Anonymous is the principal of an unauthenticated connection.
const Anonymous = "User:ANONYMOUS"

// clientListener is a Listener being served.
type clientListener struct {
	Listener
	n      *Node
	server *wire.Server
	addr   string // where it listens (for Heal), host:port
}

// connAuth is one connection's authentication state. Only the connection's
// reader goroutine (Handle) reads and writes it.
type connAuth struct {
	// id is who the connection's requests come from; replaced, never
	// modified, when the principal is established.
	id            *identity
	authenticated bool
	// The SASL exchange under way (session non-nil), and the mechanism
	// of the last successful one.
	session   sasl.Session
	mechanism string
	v0        bool // the exchange was started by a SaslHandshake v0
	// expires ends a SASL session (KIP-368); zero never.
	expires time.Time
}

// identity is who sent a request: one context value per request, read by
// authorization, quotas and the listener-dependent answers, also from the
// goroutine completing the answer. Immutable.
type identity struct {
	listener  *clientListener
	principal string
	host      string // the client's IP address, as ACLs name hosts
}

type identityKey struct{}

func identityOf(ctx context.Context) *identity {
	id, _ := ctx.Value(identityKey{}).(*identity)
	return id
}

// principalOf is the principal a request was authenticated as.
func principalOf(ctx context.Context) string {
	if id := identityOf(ctx); id != nil {
		return id.principal
	}
	return Anonymous
}

// hostOf is the IP address a request came from ("" on the nodes' own
// listener).
func hostOf(ctx context.Context) string {
	if id := identityOf(ctx); id != nil {
		return id.host
	}
	return ""
}

// listenerName is the name of the listener a request came in on, "" for
// the inter-broker listener.
func listenerName(ctx context.Context) string {
	if id := identityOf(ctx); id != nil {
		return id.listener.Name
	}
	return ""
}

// Handle implements wire.Handler: it authenticates the connection, then
// serves the request as the node does.
func (l *clientListener) Handle(ctx context.Context, c *wire.Conn, req *wire.Request) wire.Pending {
	var start time.Time
	if l.n.quotas.requests.Enabled() {
		start = time.Now()
	}
	st, _ := c.State().(*connAuth)
	if st == nil {
		var err error
		if st, err = l.newConnAuth(c); err != nil {
			l.n.log.Info("closing connection: no principal for its certificate", "listener", l.Name, "remote", c.RemoteAddr(), "err", err)
			c.CloseAfterResponses()
			return nil
		}
		c.SetState(st)
	}
	switch body := req.Body.(type) {
	case *kmsg.SASLHandshakeRequest:
		return done(l.handshake(c, st, body))
	case *kmsg.SASLAuthenticateRequest:
		return done(l.authenticate(c, st, body))
	case *kmsg.ApiVersionsRequest:
		// Allowed before authentication, as in Kafka.
	default:
		if !st.authenticated {
			l.n.log.Info("closing connection: request before authentication", "listener", l.Name, "remote", c.RemoteAddr(), "api", kmsg.NameForKey(req.Key))
			c.CloseAfterResponses()
			return nil
		}
		if !st.expires.IsZero() && !l.n.cfg.Now().Before(st.expires) {
			l.n.log.Info("closing connection: SASL session expired without re-authentication", "listener", l.Name, "remote", c.RemoteAddr(), "principal", st.id.principal)
			c.CloseAfterResponses()
			return nil
		}
	}
	ctx = context.WithValue(ctx, identityKey{}, st.id)
	if ib := l.n.cfg.InterBroker; ib != nil && ib.Listener == l.Name && l.n.mayCluster(ctx, kmsg.ACLOperationClusterAction) {
		// On the inter-broker listener, a principal allowed
		// CLUSTER_ACTION (a node, or anyone without an authorizer, as in
		// Kafka) may send replica fetches and transaction markers.
		ctx = context.WithValue(ctx, interBrokerKey{}, true)
	}
	return l.n.limitRequests(ctx, c, req, start, l.n.authorize(ctx, c, req))
}

// newConnAuth is a new connection's state: authenticated at once unless
// the listener uses SASL.
func (l *clientListener) newConnAuth(c *wire.Conn) (*connAuth, error) {
	st := &connAuth{id: &identity{listener: l, principal: Anonymous, host: c.RemoteIP().String()}}
	if l.Protocol.SASL() {
		c.LimitFrames(l.maxReceive())
		return st, nil
	}
	st.authenticated = true
	if ts, ok := c.TLSState(); ok && l.Protocol == endpoint.SSL {
		p, err := l.tlsPrincipal(ts)
		if err != nil {
			return nil, err
		}
		st.id = &identity{listener: l, principal: p, host: st.id.host}
	}
	return st, nil
}

func (l *clientListener) tlsPrincipal(ts tls.ConnectionState) (string, error) {
	if l.Principal != nil {
		return l.Principal(ts)
	}
	if len(ts.PeerCertificates) == 0 {
		return Anonymous, nil
	}
	return "User:" + ts.PeerCertificates[0].Subject.String(), nil
}

func (l *clientListener) maxReceive() int32 {
	if l.MaxReceive > 0 {
		return l.MaxReceive
	}
	return 524288
}

// handshake answers SaslHandshake: it starts an exchange with the
// mechanism asked for, or refuses it and closes the connection.
func (l *clientListener) handshake(c *wire.Conn, st *connAuth, req *kmsg.SASLHandshakeRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = slices.Clone(l.Mechanisms)
	fail := func(code int16, why string, args ...any) kmsg.Response {
		resp.ErrorCode = code
		l.n.log.Info("closing connection: "+why, append([]any{"listener", l.Name, "remote", c.RemoteAddr()}, args...)...)
		c.CloseAfterResponses()
		return resp
	}
	switch {
	case !l.Protocol.SASL():
		return fail(kerr.IllegalSaslState.Code, "SaslHandshake on a listener without SASL")
	case st.session != nil:
		return fail(kerr.IllegalSaslState.Code, "SaslHandshake during an authentication")
	case st.authenticated && req.Version == 0:
		return fail(kerr.IllegalSaslState.Code, "re-authentication needs SaslHandshake v1")
	case !slices.Contains(l.Mechanisms, req.Mechanism):
		return fail(kerr.UnsupportedSaslMechanism.Code, "SASL mechanism not enabled", "mechanism", req.Mechanism)
	case st.authenticated && req.Mechanism != st.mechanism:
		return fail(kerr.IllegalSaslState.Code, "re-authentication with another mechanism", "mechanism", req.Mechanism, "was", st.mechanism)
	}
	cfg := l.SASL
	cfg.Store = l.n.credentials
	cfg.Now = l.n.cfg.Now
	cfg.ScramFakeCredentialKey = l.n.scramFakeKey
	cfg.Reauthentication = st.authenticated
	if cfg.MaxTokenSize == 0 {
		cfg.MaxTokenSize = int(l.maxReceive())
	}
	s, err := sasl.NewSession(req.Mechanism, cfg)
	if err != nil {
		return fail(kerr.UnsupportedSaslMechanism.Code, "SASL mechanism unavailable", "mechanism", req.Mechanism, "err", err)
	}
	st.session, st.v0 = s, req.Version == 0
	if st.v0 {
		c.ReadRaw(l.rawToken(c, st))
	}
	return resp
}

// rawToken takes the tokens of a SaslHandshake v0 exchange, which come as
// raw frames; a failure closes the connection, as Kafka does (v0 has no
// way to say why).
func (l *clientListener) rawToken(c *wire.Conn, st *connAuth) func([]byte) ([]byte, error) {
	var step func([]byte) ([]byte, error)
	step = func(token []byte) ([]byte, error) {
		out, done, err := l.step(st, token)
		if err != nil {
			l.n.log.Info("SASL authentication failed", "listener", l.Name, "remote", c.RemoteAddr(), "mechanism", st.session.Mechanism(), "err", err, "reason", sasl.FailureDetail(err))
			st.session = nil
			return nil, err
		}
		if done {
			c.LimitFrames(0)
		} else {
			c.ReadRaw(step)
		}
		return out, nil
	}
	return step
}

// authenticate answers SaslAuthenticate with the exchange's next token.
func (l *clientListener) authenticate(c *wire.Conn, st *connAuth, req *kmsg.SASLAuthenticateRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if st.session == nil || st.v0 {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate without a SaslHandshake v1 before it"
		resp.ErrorMessage = &msg
		l.n.log.Info("closing connection: "+msg, "listener", l.Name, "remote", c.RemoteAddr())
		c.CloseAfterResponses()
		return resp
	}
	mech := st.session.Mechanism()
	out, done, err := l.step(st, req.SASLAuthBytes)
	if err != nil {
		st.session = nil
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := err.Error()
		resp.ErrorMessage = &msg
		l.n.log.Info("SASL authentication failed", "listener", l.Name, "remote", c.RemoteAddr(), "mechanism", mech, "err", err, "reason", sasl.FailureDetail(err))
		c.CloseAfterResponses()
		return resp
	}
	resp.SASLAuthBytes = out
	if done {
		c.LimitFrames(0)
		if req.Version >= 1 && !st.expires.IsZero() {
			resp.SessionLifetimeMillis = max(st.expires.Sub(l.n.cfg.Now()).Milliseconds(), 1)
		}
	}
	return resp
}

// step runs one step of the exchange; when it completes, the connection
// is authenticated (again) as its principal.
func (l *clientListener) step(st *connAuth, token []byte) (out []byte, done bool, err error) {
	s := st.session
	out, done, err = s.Step(token)
	if err != nil || !done {
		return out, done, err
	}
	principal := "User:" + s.Principal()
	if st.authenticated && principal != st.id.principal {
		return nil, false, reauthError{fmt.Sprintf("Cannot change principals during re-authentication from %s: %s", st.id.principal, principal)}
	}
	if principal != st.id.principal {
		st.id = &identity{listener: st.id.listener, principal: principal, host: st.id.host}
	}
	st.session, st.authenticated, st.mechanism = nil, true, s.Mechanism()
	st.expires = time.Time{}
	now := l.n.cfg.Now()
	if l.Reauth > 0 {
		st.expires = now.Add(l.Reauth)
	}
	if exp := s.Expiry(); !exp.IsZero() && (st.expires.IsZero() || exp.Before(st.expires)) {
		st.expires = exp
	}
	l.n.log.Debug("SASL authenticated", "listener", l.Name, "principal", principal, "mechanism", st.mechanism)
	return out, true, nil
}

// reauthError refuses a re-authentication as another principal, with
// Kafka's message.
type reauthError struct{ msg string }

func (e reauthError) Error() string { return e.msg }

// credentials is the node's view of the SCRAM credentials in the
// metadata and the PLAIN users it was configured with, for the SASL
// sessions.
type credentials struct{ n *Node }

// ScramCredential implements sasl.Store.
func (c credentials) ScramCredential(mechanism, user string) (sasl.ScramCredential, bool) {
	cred, ok := c.n.ctrl.Image().ScramCredential(user, mechanism)
	if !ok {
		return sasl.ScramCredential{}, false
	}
	return sasl.ScramCredential{Mechanism: mechanism, Salt: cred.Salt, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey, Iterations: cred.Iterations}, true
}

// CheckPlain implements sasl.Store.
func (c credentials) CheckPlain(user, password string) bool {
	want, ok := c.n.cfg.PlainUsers[user]
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1
}

// errNoListener is a node configured without a client listener.
var errNoListener = errors.New("no client listener")

// newListeners validates the configured listeners and makes their servers.
func (n *Node) newListeners() error {
	ls := n.cfg.Listeners
	if len(ls) == 0 {
		if n.cfg.Listener == nil {
			return errNoListener
		}
		ls = []Listener{{Name: string(endpoint.Plaintext), Protocol: endpoint.Plaintext, Net: n.cfg.Listener}}
	}
	for _, spec := range ls {
		if spec.Protocol.TLS() && spec.TLS == nil {
			return fmt.Errorf("listener %s (%s) has no TLS configuration", spec.Name, spec.Protocol)
		}
		if spec.Protocol.SASL() && len(spec.Mechanisms) == 0 {
			return fmt.Errorf("listener %s (%s) enables no SASL mechanism", spec.Name, spec.Protocol)
		}
		l := &clientListener{Listener: spec, n: n, addr: spec.Net.Addr().String()}
		if l.Advertised == "" {
			l.Advertised = l.addr
		}
		l.server = n.newServer(l, spec.Net)
		n.listeners = append(n.listeners, l)
	}
	return nil
}

// endpoints are the listeners as registered with the controller.
func (n *Node) endpoints() ([]controller.Endpoint, error) {
	var out []controller.Endpoint
	for _, l := range n.listeners {
		host, portStr, err := net.SplitHostPort(l.Advertised)
		if err != nil {
			return nil, fmt.Errorf("listener %s: advertised address %q: %w", l.Name, l.Advertised, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, fmt.Errorf("listener %s: advertised address %q: bad port", l.Name, l.Advertised)
		}
		out = append(out, controller.Endpoint{Name: l.Name, Host: host, Port: int32(port)})
	}
	return out, nil
}
