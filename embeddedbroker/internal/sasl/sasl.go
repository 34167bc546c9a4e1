package sasl

import (
	"errors"
	"fmt"
	"time"
)

// The mechanisms a Session can be made for, as named in SaslHandshake.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
	OAuthBearer = "OAUTHBEARER"
)

// DefaultMaxTokenSize is the bound on one client token when
// Config.MaxTokenSize is not positive: the default of Kafka's
// sasl.server.max.receive.size.
const DefaultMaxTokenSize = 524288

// Mechanisms returns the names of the mechanisms NewSession accepts.
func Mechanisms() []string {
	return []string{Plain, ScramSHA256, ScramSHA512, OAuthBearer}
}

var (
	// ErrUnsupportedMechanism is wrapped by the errors of NewSession and
	// NewScramCredential for a mechanism this package does not implement.
	ErrUnsupportedMechanism = errors.New("sasl: unsupported mechanism")
	// ErrAuthentication is wrapped by every error Session.Step returns.
	ErrAuthentication = errors.New("sasl: authentication failed")
	// ErrUnacceptableCredential is wrapped by the errors of
	// NewScramCredential and ScramCredentialFromSalted for a credential
	// Kafka would refuse (AlterUserScramCredentials' UNACCEPTABLE_CREDENTIAL).
	ErrUnacceptableCredential = errors.New("sasl: unacceptable credential")
)

// Store is where a Session looks users up. The broker implements it; a
// Session calls it from Step, on the caller's goroutine.
type Store interface {
	// ScramCredential returns the SCRAM credential of user for mechanism
	// (ScramSHA256 or ScramSHA512), and whether there is one. It should
	// take about as long either way: the Session hides unknown users.
	ScramCredential(mechanism, user string) (ScramCredential, bool)
	// CheckPlain reports whether password is the password of user, for a
	// PLAIN login (Kafka's PLAIN users are configured in JAAS as
	// user_<name>="<password>"). It should compare in constant time.
	CheckPlain(user, password string) bool
}

// Config configures a Session. The zero value of every field but Store
// is usable; Store is needed by PLAIN and SCRAM.
type Config struct {
	// Store looks up PLAIN and SCRAM users.
	Store Store
	// Now is the clock OAUTHBEARER tokens are checked against; nil means
	// time.Now.
	Now func() time.Time

	// OAuthPrincipalClaim is the claim holding an OAUTHBEARER token's
	// principal (Kafka's unsecuredValidatorPrincipalClaimName); blank
	// means "sub".
	OAuthPrincipalClaim string
	// OAuthScopeClaim is the claim holding an OAUTHBEARER token's scope, a
	// string or a list of strings (unsecuredValidatorScopeClaimName);
	// blank means "scope".
	OAuthScopeClaim string
	// OAuthRequiredScope are the scope items a token must all have
	// (unsecuredValidatorRequiredScope, split at its spaces); each must be
	// a valid scope item (RFC 6749 section 3.3).
	OAuthRequiredScope []string
	// OAuthClockSkew is the clock skew allowed when checking a token's
	// "exp" and "iat" (unsecuredValidatorAllowableClockSkewMs, so it is
	// counted in whole milliseconds); it must not be negative.
	OAuthClockSkew time.Duration

	// MaxTokenSize bounds one client token (Kafka's
	// sasl.server.max.receive.size); a larger token is an authentication
	// failure. Zero or less means DefaultMaxTokenSize.
	MaxTokenSize int

	// Reauthentication tells that the session re-authenticates a
	// connection (KIP-368). It only changes the wording of failure
	// messages, as in Kafka ("... during re-authentication ...").
	Reauthentication bool

	// ScramFakeCredentialKey keys the fake SCRAM credential made up for a
	// user the Store does not know, so that the exchange goes on to its
	// end and fails as a wrong password would. With a key, the fake salt
	// sent for a given user name is the same on every attempt, as a real
	// user's is; the broker should set it once to random bytes (32 are
	// plenty) and keep it. Without one, the fake salt is random per
	// attempt, so that a client trying twice can tell that the user does
	// not exist.
	ScramFakeCredentialKey []byte

	// nonce, when set (by tests), makes the SCRAM server nonce.
	nonce func() string
}

// Session is one authentication exchange on a connection. It is not safe
// for concurrent use.
type Session interface {
	// Mechanism is the name of the session's mechanism.
	Mechanism() string
	// Step takes the client's next token and returns the server's next
	// token; done is true once the client is authenticated. A non-nil
	// error, which wraps ErrAuthentication, means that authentication
	// failed: its Error() is the message for SaslAuthenticate's
	// error_message and never holds a password, proof or key
	// (FailureDetail tells more, for the broker's logs). After an error or
	// done, further Steps fail (a session that is done stays done).
	Step(token []byte) (resp []byte, done bool, err error)
	// Principal is the authenticated user name (the SASL authorization
	// id) once Step returned done, "" before.
	Principal() string
	// Expiry is when the credential expires (OAUTHBEARER: the token's
	// "exp"), the zero time if it does not or if Step has not returned
	// done; the broker uses it for KIP-368 session lifetimes.
	Expiry() time.Time
}

// NewSession starts an exchange for mechanism, one of Mechanisms. The
// error wraps ErrUnsupportedMechanism for another mechanism; it is also
// an error that cfg has no Store for PLAIN or SCRAM, or has invalid
// OAUTHBEARER settings for OAUTHBEARER.
func NewSession(mechanism string, cfg Config) (Session, error) {
	var m mech
	switch mechanism {
	case Plain:
		if cfg.Store == nil {
			return nil, fmt.Errorf("sasl: %s needs a Store", mechanism)
		}
		m = &plainMech{store: cfg.Store}
	case ScramSHA256, ScramSHA512:
		if cfg.Store == nil {
			return nil, fmt.Errorf("sasl: %s needs a Store", mechanism)
		}
		m = newScramMech(mechanism, cfg)
	case OAuthBearer:
		o, err := newOAuthMech(cfg)
		if err != nil {
			return nil, err
		}
		m = o
	default:
		return nil, fmt.Errorf("%w: %q (supported: %v)", ErrUnsupportedMechanism, mechanism, Mechanisms())
	}
	maxSize := cfg.MaxTokenSize
	if maxSize <= 0 {
		maxSize = DefaultMaxTokenSize
	}
	what := "authentication"
	if cfg.Reauthentication {
		what = "re-authentication"
	}
	return &session{
		mechanism: mechanism,
		maxSize:   maxSize,
		generic:   "Authentication failed during " + what + " due to invalid credentials with SASL mechanism " + mechanism,
		m:         m,
	}, nil
}

// FailureDetail returns why err, an error of Session.Step, happened, for
// the broker's logs: it can tell more than err.Error(), such as that a
// SCRAM user does not exist, so it is not for the client; it never holds
// a password, proof or key. It is err.Error() for other errors.
func FailureDetail(err error) string {
	var ae *authError
	if !errors.As(err, &ae) {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	if ae.detail == nil {
		return ae.msg
	}
	return ae.msg + " (" + ae.detail.Error() + ")"
}

// authError is an authentication failure: msg goes to the client, detail
// to the broker's logs.
type authError struct {
	msg    string
	detail error
}

func (e *authError) Error() string { return e.msg }

func (e *authError) Unwrap() []error {
	if e.detail == nil {
		return []error{ErrAuthentication}
	}
	return []error{ErrAuthentication, e.detail}
}

// failure is what a mechanism's step returns when authentication fails:
// with an empty msg, the session's generic message goes to the client
// (Kafka's answer to a SaslException, which hides the reason).
type failure struct {
	msg    string
	detail error
}

// fail is a failure with the generic message.
func fail(format string, args ...any) *failure {
	return &failure{detail: fmt.Errorf(format, args...)}
}

// failMsg is a failure with the message msg.
func failMsg(msg string, detail error) *failure {
	return &failure{msg: msg, detail: detail}
}

// mech is the mechanism-specific part of a session.
type mech interface {
	step(token []byte) (resp []byte, done bool, f *failure)
	principal() string
	expiry() time.Time
}

type sessionState uint8

const (
	stateActive sessionState = iota
	stateDone
	stateFailed
)

// session does what is common to all mechanisms: the token bound, the
// end states and the error messages.
type session struct {
	mechanism string
	maxSize   int
	generic   string
	state     sessionState
	m         mech
}

func (s *session) Mechanism() string { return s.mechanism }

func (s *session) Step(token []byte) ([]byte, bool, error) {
	switch s.state {
	case stateDone:
		// The session stays done: its principal is still the one.
		return nil, false, &authError{msg: "Authentication failed: unexpected SASL token after the exchange completed"}
	case stateFailed:
		return nil, false, s.failed(failMsg("Authentication failed: unexpected SASL token after the exchange failed", nil))
	}
	if len(token) > s.maxSize {
		return nil, false, s.failed(failMsg(fmt.Sprintf("Authentication failed: SASL token of %d bytes exceeds the maximum of %d", len(token), s.maxSize), nil))
	}
	resp, done, f := s.m.step(token)
	if f != nil {
		return nil, false, s.failed(f)
	}
	if done {
		s.state = stateDone
	}
	return resp, done, nil
}

func (s *session) failed(f *failure) error {
	s.state = stateFailed
	msg := f.msg
	if msg == "" {
		msg = s.generic
	}
	return &authError{msg: msg, detail: f.detail}
}

func (s *session) Principal() string {
	if s.state != stateDone {
		return ""
	}
	return s.m.principal()
}

func (s *session) Expiry() time.Time {
	if s.state != stateDone {
		return time.Time{}
	}
	return s.m.expiry()
}

// isSaslNameChar reports whether c may appear unescaped in a saslname as
// Kafka parses it: ASCII but NUL, "=" and ",".
func isSaslNameChar(c byte) bool {
	return c >= 0x01 && c <= 0x7f && c != '=' && c != ','
}

// decodeSaslName undoes the "=2C" and "=3D" escapes of a saslname (RFC
// 5802 section 5.1) made of Kafka's characters; it refuses an empty name,
// another "=" and another character.
func decodeSaslName(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty saslname")
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '=':
			switch {
			case len(s)-i >= 3 && s[i+1:i+3] == "2C":
				out = append(out, ',')
			case len(s)-i >= 3 && s[i+1:i+3] == "3D":
				out = append(out, '=')
			default:
				return "", errors.New("invalid escape in saslname")
			}
			i += 2
		case isSaslNameChar(c):
			out = append(out, c)
		default:
			return "", fmt.Errorf("invalid character %#02x in saslname", c)
		}
	}
	return string(out), nil
}

// allBytes reports whether every byte of s satisfies f.
func allBytes(s string, f func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !f(s[i]) {
			return false
		}
	}
	return true
}
