package sasl

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// scramMech is SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as
// Kafka's ScramSaslServer does them, with the deviations listed in the
// package documentation.
type scramMech struct {
	name    string
	h       func() hash.Hash
	store   Store
	fakeKey []byte
	nonceFn func() string

	final           bool   // the client-first message was taken
	gs2Header       string // as the client sent it, "n,," or "n,a=...,"
	clientFirstBare string
	serverFirst     string
	nonce           string // client nonce + server nonce
	cred            ScramCredential
	known           bool // cred is the user's, not made up
	user            string
}

func newScramMech(name string, cfg Config) *scramMech {
	h, _ := scramHash(name)
	nonce := cfg.nonce
	if nonce == nil {
		nonce = randomNonce
	}
	return &scramMech{name: name, h: h, store: cfg.Store, fakeKey: cfg.ScramFakeCredentialKey, nonceFn: nonce}
}

// randomNonce is a server nonce: 24 random bytes in base64 (Kafka's are
// the base-36 digits of a random 130-bit number).
func randomNonce() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand.Read crashes instead)
	return base64.RawStdEncoding.EncodeToString(b[:])
}

func (s *scramMech) step(token []byte) ([]byte, bool, *failure) {
	if !s.final {
		resp, f := s.clientFirst(string(token))
		return resp, false, f
	}
	resp, f := s.clientFinal(string(token))
	return resp, f == nil, f
}

func (s *scramMech) principal() string { return s.user }

// expiry is zero: delegation tokens, the only SCRAM credentials that
// expire, are not supported.
func (s *scramMech) expiry() time.Time { return time.Time{} }

// clientFirst takes
//
//	gs2-header [reserved-mext ","] username "," nonce ["," extensions]
//
// and answers r=<client nonce><server nonce>,s=<salt>,i=<iterations>.
func (s *scramMech) clientFirst(msg string) ([]byte, *failure) {
	s.final = true
	if !allBytes(msg, isASCIINotNUL) {
		return nil, fail("client-first-message has a byte outside ASCII 0x01-0x7f")
	}
	var rest string
	switch {
	case strings.HasPrefix(msg, "n,"):
		rest = msg[2:]
	case strings.HasPrefix(msg, "y,"), strings.HasPrefix(msg, "p="):
		return nil, fail("channel binding (gs2 flag %q) is not supported", msg[:1])
	default:
		return nil, fail("client-first-message does not start with a gs2 header")
	}
	var authzid string
	switch {
	case strings.HasPrefix(rest, ","):
		rest = rest[1:]
	case strings.HasPrefix(rest, "a="):
		end := strings.IndexByte(rest, ',')
		if end < 0 {
			return nil, fail("client-first-message has an unterminated gs2 header")
		}
		a, err := decodeSaslName(rest[2:end])
		if err != nil {
			return nil, fail("authorization id in gs2 header: %w", err)
		}
		authzid, rest = a, rest[end+1:]
	default:
		return nil, fail("client-first-message has an invalid gs2 header")
	}
	gs2Header, bare := msg[:len(msg)-len(rest)], rest
	if strings.HasPrefix(bare, "m=") {
		return nil, fail("client-first-message has a mandatory extension (m=), which is not supported")
	}
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, fail("client-first-message does not have n=<username>,r=<nonce>")
	}
	user, err := decodeSaslName(attrs[0][2:])
	if err != nil {
		return nil, fail("username: %w", err)
	}
	clientNonce := attrs[1][2:]
	if clientNonce == "" || !allBytes(clientNonce, isPrintableNotComma) {
		return nil, fail("client nonce is empty or has a character outside 0x21-0x7e")
	}
	var tokenAuth string
	for _, a := range attrs[2:] {
		k, v, err := parseExtension(a)
		if err != nil {
			return nil, fail("client-first-message: %w", err)
		}
		if k == "tokenauth" { // the last one counts, as in Kafka's map
			tokenAuth = v
		}
	}
	if strings.EqualFold(tokenAuth, "true") {
		return nil, failMsg("Authentication failed: delegation token authentication (tokenauth extension) is not supported", nil)
	}
	if authzid != "" && authzid != user {
		return nil, failMsg("Authentication failed: Client requested an authorization id that is different from username", nil)
	}

	// The fake credential is made for every user, so that an unknown one
	// takes no less time than a known one.
	fake := s.fakeCredential(user)
	cred, known := s.store.ScramCredential(s.name, user)
	if !known {
		cred = fake
	} else if err := s.checkCredential(cred); err != nil {
		return nil, fail("stored credential of user %s: %w", quote(user), err)
	}
	s.gs2Header, s.clientFirstBare, s.user = gs2Header, bare, user
	s.cred, s.known = cred, known
	s.nonce = clientNonce + s.nonceFn()
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(int(cred.Iterations))
	return []byte(s.serverFirst), nil
}

// clientFinal takes
//
//	channel-binding "," nonce ["," extensions] "," proof
//
// and answers v=<server signature> if the proof is right.
func (s *scramMech) clientFinal(msg string) ([]byte, *failure) {
	defer s.forget()
	if !allBytes(msg, isASCIINotNUL) {
		return nil, fail("client-final-message has a byte outside ASCII 0x01-0x7f")
	}
	attrs := strings.Split(msg, ",")
	if len(attrs) < 3 {
		return nil, fail("client-final-message does not have c=,r=,p=")
	}
	c, r, p := attrs[0], attrs[1], attrs[len(attrs)-1]
	if !strings.HasPrefix(c, "c=") || !strings.HasPrefix(r, "r=") || !strings.HasPrefix(p, "p=") {
		return nil, fail("client-final-message does not have c=,r=,p=")
	}
	for _, a := range attrs[2 : len(attrs)-1] {
		if _, _, err := parseExtension(a); err != nil {
			return nil, fail("client-final-message: %w", err)
		}
	}
	withoutProof := msg[:len(msg)-len(p)-1]
	cb, err := decodeBase64(c[2:])
	if err != nil {
		return nil, fail("channel binding: %w", err)
	}
	if string(cb) != s.gs2Header {
		return nil, fail("channel binding does not match the gs2 header of the client-first-message")
	}
	// Kafka only checks that the nonce ends with the combined nonce, and
	// librdkafka relies on it: its client-final-message repeats the
	// client nonce before the combined one.
	if got := r[2:]; len(got) < len(s.nonce) || subtle.ConstantTimeCompare([]byte(got[len(got)-len(s.nonce):]), []byte(s.nonce)) != 1 {
		return nil, fail("Invalid client nonce in the final client message")
	}
	proof, err := decodeBase64(p[2:])
	if err != nil {
		return nil, fail("proof: %w", err)
	}
	size := s.h().Size()
	if len(proof) != size {
		return nil, fail("proof of %d bytes, %s needs %d", len(proof), s.name, size)
	}

	authMessage := []byte(s.clientFirstBare + "," + s.serverFirst + "," + withoutProof)
	clientKey := hmacSum(s.h, s.cred.StoredKey, authMessage) // ClientSignature
	subtle.XORBytes(clientKey, clientKey, proof)             // ClientKey = ClientProof XOR ClientSignature
	h := s.h()
	h.Write(clientKey)
	ok := subtle.ConstantTimeCompare(h.Sum(nil), s.cred.StoredKey) & boolInt(s.known)
	serverSignature := hmacSum(s.h, s.cred.ServerKey, authMessage)
	if ok != 1 {
		if !s.known {
			return nil, fail("unknown user %s", quote(s.user))
		}
		return nil, fail("Invalid client credentials for user %s", quote(s.user))
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSignature)), nil
}

// forget drops the credential once it is not needed.
func (s *scramMech) forget() {
	s.cred = ScramCredential{}
}

// checkCredential refuses a stored credential this exchange cannot use.
func (s *scramMech) checkCredential(c ScramCredential) error {
	size := s.h().Size()
	switch {
	case c.Mechanism != "" && c.Mechanism != s.name:
		return fmt.Errorf("it is for %s", c.Mechanism)
	case c.Iterations < MinScramIterations:
		return fmt.Errorf("Iterations %d is less than the minimum %d for %s", c.Iterations, MinScramIterations, s.name)
	case len(c.Salt) == 0:
		return errors.New("empty salt")
	case len(c.StoredKey) != size || len(c.ServerKey) != size:
		return fmt.Errorf("keys are not %d bytes", size)
	}
	return nil
}

// fakeCredential makes up the credential of a user the store does not
// know: a salt like NewScramCredential's, the same for a user name on
// every attempt when the session has a key, default iterations and
// random keys that no proof matches.
func (s *scramMech) fakeCredential(user string) ScramCredential {
	size := s.h().Size()
	var seed [17]byte
	if len(s.fakeKey) > 0 {
		copy(seed[:], hmacSum(sha256.New, s.fakeKey, []byte(s.name+"\x00"+user)))
	} else {
		_, _ = rand.Read(seed[:])
	}
	keys := make([]byte, 2*size)
	_, _ = rand.Read(keys)
	return ScramCredential{
		Mechanism:  s.name,
		Salt:       salt130(seed[:]),
		StoredKey:  keys[:size],
		ServerKey:  keys[size:],
		Iterations: DefaultScramIterations,
	}
}

// parseExtension parses a SCRAM extension as Kafka's pattern has them: a
// name of ASCII letters, "=", and a nonempty value.
func parseExtension(a string) (name, value string, err error) {
	name, value, ok := strings.Cut(a, "=")
	if !ok || name == "" || value == "" || !allBytes(name, isASCIILetter) {
		return "", "", fmt.Errorf("invalid extension %s", quote(a))
	}
	return name, value, nil
}

// decodeBase64 decodes standard, padded base64, refusing the line breaks
// that encoding/base64 skips.
func decodeBase64(s string) ([]byte, error) {
	if !allBytes(s, isBase64Char) {
		return nil, errors.New("invalid base64")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %w", err)
	}
	return b, nil
}

func isASCIINotNUL(c byte) bool       { return c >= 0x01 && c <= 0x7f }
func isPrintableNotComma(c byte) bool { return c >= 0x21 && c <= 0x7e && c != ',' }
func isASCIILetter(c byte) bool       { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isBase64Char(c byte) bool {
	return isASCIILetter(c) || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '='
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
