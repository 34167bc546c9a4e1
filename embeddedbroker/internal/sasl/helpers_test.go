package sasl

import (
	"context"
	"crypto/pbkdf2"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"testing"
	"time"

	kgosasl "github.com/twmb/franz-go/pkg/sasl"
)

// memStore is a Store in memory.
type memStore struct {
	scram map[string]ScramCredential // mechanism NUL user
	plain map[string]string
	// lookups counts ScramCredential calls.
	lookups int
}

func newMemStore() *memStore {
	return &memStore{scram: map[string]ScramCredential{}, plain: map[string]string{}}
}

func (s *memStore) ScramCredential(mechanism, user string) (ScramCredential, bool) {
	s.lookups++
	c, ok := s.scram[mechanism+"\x00"+user]
	return c, ok
}

func (s *memStore) CheckPlain(user, password string) bool {
	want, ok := s.plain[user]
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1
}

// addScram adds user with password for both SCRAM mechanisms.
func (s *memStore) addScram(t testing.TB, user, password string) {
	t.Helper()
	for _, m := range []string{ScramSHA256, ScramSHA512} {
		c, err := NewScramCredential(m, password, 0)
		if err != nil {
			t.Fatal(err)
		}
		s.scram[m+"\x00"+user] = c
	}
}

// testUsers are the users of testStore, with their passwords.
var testUsers = map[string]string{
	"alice":    "alice-secret",
	"a,b=c":    "comma=equals",
	"bob":      "b0b,=\x01pass",
	"ümlaut-p": "pässwörd", // PLAIN only: Kafka's SCRAM names are ASCII
}

func testStore(t testing.TB) *memStore {
	s := newMemStore()
	for u, p := range testUsers {
		s.plain[u] = p
		if u != "ümlaut-p" {
			s.addScram(t, u, p)
		}
	}
	return s
}

func newSession(t testing.TB, mechanism string, cfg Config) Session {
	t.Helper()
	s, err := NewSession(mechanism, cfg)
	if err != nil {
		t.Fatalf("NewSession(%s): %v", mechanism, err)
	}
	return s
}

// exchange runs a franz-go client mechanism against srv as kgo does,
// client first, until one side fails or both are done. It returns the
// server's error (or the client's, wrapped in errClient) and the tokens
// the client sent.
func exchange(t testing.TB, m kgosasl.Mechanism, srv Session) (sent [][]byte, err error) {
	t.Helper()
	cs, msg, err := m.Authenticate(context.Background(), "localhost:9092")
	if err != nil {
		t.Fatalf("client Authenticate: %v", err)
	}
	for range 10 {
		sent = append(sent, msg)
		resp, done, err := srv.Step(msg)
		if err != nil {
			if done || resp != nil {
				t.Errorf("Step failed with done=%v resp=%q", done, resp)
			}
			return sent, err
		}
		cdone, next, cerr := cs.Challenge(resp)
		if cerr != nil {
			return sent, fmt.Errorf("%w: %w", errClient, cerr)
		}
		if done {
			if !cdone || next != nil {
				t.Fatalf("server done but client done=%v next=%q", cdone, next)
			}
			return sent, nil
		}
		if cdone {
			t.Fatalf("client done before the server")
		}
		msg = next
	}
	t.Fatal("exchange does not end")
	return nil, nil
}

var errClient = errors.New("client failed")

// wantAuthErr checks that err is an authentication failure with message
// msg.
func wantAuthErr(t testing.TB, err error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", msg)
	}
	if !errors.Is(err, ErrAuthentication) {
		t.Errorf("error %v does not wrap ErrAuthentication", err)
	}
	if err.Error() != msg {
		t.Errorf("error message %q, want %q (detail: %s)", err.Error(), msg, FailureDetail(err))
	}
}

// noSecrets checks that an error's message and detail hold none of the
// secrets.
func noSecrets(t testing.TB, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, text := range []string{err.Error(), FailureDetail(err), fmt.Sprintf("%+v", err)} {
			if strings.Contains(text, s) {
				t.Errorf("error %q leaks secret %q", text, s)
			}
		}
	}
}

// fixedNonce makes a Config's SCRAM server nonce nonce.
func fixedNonce(cfg Config, nonce string) Config {
	cfg.nonce = func() string { return nonce }
	return cfg
}

// scramProof computes a client's proof and the expected server signature
// for authMessage, as a test-side client.
func scramProof(t testing.TB, h func() hash.Hash, password string, salt []byte, iters int, authMessage string) (proof, serverSig []byte) {
	t.Helper()
	salted, err := pbkdf2.Key(h, password, salt, iters, h().Size())
	if err != nil {
		t.Fatal(err)
	}
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	sh := h()
	sh.Write(clientKey)
	clientSig := hmacSum(h, sh.Sum(nil), []byte(authMessage))
	proof = make([]byte, len(clientKey))
	subtle.XORBytes(proof, clientKey, clientSig)
	serverKey := hmacSum(h, salted, []byte("Server Key"))
	return proof, hmacSum(h, serverKey, []byte(authMessage))
}

// jws makes an unsecured JWS of header and claims, base64url without
// padding as RFC 7515 has it.
func jws(t testing.TB, header, claims any) string {
	t.Helper()
	enc := func(v any) string {
		if s, ok := v.(string); ok {
			return base64.RawURLEncoding.EncodeToString([]byte(s))
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + "."
}

// noneHeader is an unsecured JWS header.
var noneHeader = map[string]any{"alg": "none"}

// clock is a fixed time for OAUTHBEARER tests.
var clock = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clockNow() time.Time { return clock }
