package sasl

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestNewSession checks the mechanisms NewSession accepts and the
// configurations it refuses.
func TestNewSession(t *testing.T) {
	if got := Mechanisms(); !slices.Equal(got, []string{Plain, ScramSHA256, ScramSHA512, OAuthBearer}) {
		t.Errorf("Mechanisms() = %v", got)
	}
	Mechanisms()[0] = "changed"
	if Mechanisms()[0] != Plain {
		t.Error("Mechanisms shares its slice")
	}
	store := testStore(t)
	for _, m := range Mechanisms() {
		s, err := NewSession(m, Config{Store: store})
		if err != nil || s.Mechanism() != m {
			t.Errorf("NewSession(%s): %v", m, err)
		}
	}
	for _, m := range []string{"GSSAPI", "plain", "SCRAM-SHA-1", ""} {
		_, err := NewSession(m, Config{Store: store})
		if !errors.Is(err, ErrUnsupportedMechanism) {
			t.Errorf("NewSession(%q): %v", m, err)
		}
	}
	for _, m := range []string{Plain, ScramSHA256, ScramSHA512} {
		if _, err := NewSession(m, Config{}); err == nil || errors.Is(err, ErrUnsupportedMechanism) {
			t.Errorf("NewSession(%s) without a Store: %v", m, err)
		}
	}
}

// validFirst returns a valid first token of each mechanism.
func validFirst(t *testing.T, mech string) []byte {
	switch mech {
	case Plain:
		return []byte("\x00alice\x00alice-secret")
	case OAuthBearer:
		return []byte("n,,\x01auth=Bearer " + jws(t, noneHeader, claims(nil)) + "\x01\x01")
	}
	return []byte("n,,n=alice,r=abc")
}

// TestMaxTokenSize checks the bound on one token, given and default.
func TestMaxTokenSize(t *testing.T) {
	store := testStore(t)
	for _, mech := range Mechanisms() {
		t.Run(mech, func(t *testing.T) {
			tok := validFirst(t, mech)
			cfg := Config{Store: store, Now: clockNow, MaxTokenSize: len(tok)}
			if _, _, err := newSession(t, mech, cfg).Step(tok); err != nil {
				t.Fatalf("token of the maximum size: %v", err)
			}
			cfg.MaxTokenSize = len(tok) - 1
			s := newSession(t, mech, cfg)
			_, _, err := s.Step(tok)
			wantAuthErr(t, err, "Authentication failed: SASL token of "+itoa(int64(len(tok)))+" bytes exceeds the maximum of "+itoa(int64(len(tok)-1)))
			if _, _, err := s.Step(tok); err == nil {
				t.Error("Step after failure succeeded")
			}

			huge := make([]byte, DefaultMaxTokenSize+1)
			copy(huge, tok)
			for _, max := range []int{0, -1} {
				cfg.MaxTokenSize = max
				_, _, err := newSession(t, mech, cfg).Step(huge)
				wantAuthErr(t, err, "Authentication failed: SASL token of 524289 bytes exceeds the maximum of 524288")
			}
		})
	}
}

// TestStepAfterEnd checks that a session takes no token after it is
// done or failed, and keeps its principal once done.
func TestStepAfterEnd(t *testing.T) {
	store := testStore(t)
	for _, mech := range []string{Plain, OAuthBearer} {
		s := newSession(t, mech, Config{Store: store, Now: clockNow})
		if _, done, err := s.Step(validFirst(t, mech)); !done || err != nil {
			t.Fatalf("%s: done=%v err=%v", mech, done, err)
		}
		resp, done, err := s.Step(validFirst(t, mech))
		if done || resp != nil {
			t.Errorf("%s: resp=%q done=%v", mech, resp, done)
		}
		wantAuthErr(t, err, "Authentication failed: unexpected SASL token after the exchange completed")
		if s.Principal() != "alice" {
			t.Errorf("%s: principal %q after an extra Step", mech, s.Principal())
		}
	}
	s := newSession(t, Plain, Config{Store: store})
	if _, _, err := s.Step([]byte("junk")); err == nil {
		t.Fatal("junk accepted")
	}
	_, _, err := s.Step(validFirst(t, Plain))
	wantAuthErr(t, err, "Authentication failed: unexpected SASL token after the exchange failed")
	if s.Principal() != "" {
		t.Errorf("principal %q", s.Principal())
	}
}

// TestFailureWording checks the generic message, and its re-authentication
// wording.
func TestFailureWording(t *testing.T) {
	store := testStore(t)
	_, _, err := newSession(t, ScramSHA256, Config{Store: store, Reauthentication: true}).Step([]byte("junk"))
	wantAuthErr(t, err, "Authentication failed during re-authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256")
	if d := FailureDetail(err); !strings.HasPrefix(d, err.Error()+" (") || !strings.Contains(d, "gs2") {
		t.Errorf("detail %q", d)
	}
	// Kafka's own messages do not change.
	_, _, err = newSession(t, Plain, Config{Store: store, Reauthentication: true}).Step([]byte("\x00alice\x00x"))
	wantAuthErr(t, err, "Authentication failed: Invalid username or password")
}

// TestFailureDetail checks FailureDetail on other errors.
func TestFailureDetail(t *testing.T) {
	if FailureDetail(nil) != "" {
		t.Error("detail of nil")
	}
	if d := FailureDetail(errors.New("x")); d != "x" {
		t.Errorf("detail %q", d)
	}
	_, _, err := newSession(t, Plain, Config{Store: testStore(t)}).Step(nil)
	if d := FailureDetail(err); d != err.Error() {
		t.Errorf("detail %q of an error without one", d)
	}
}

// TestStepDoesNotKeepToken checks that a session copies what it keeps
// of a token: the broker may reuse its buffers.
func TestStepDoesNotKeepToken(t *testing.T) {
	store := testStore(t)
	s := newSession(t, ScramSHA256, fixedNonce(Config{Store: store}, "S"))
	buf := []byte("n,,n=alice,r=abc")
	serverFirst, _, err := s.Step(buf)
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, bytes.Repeat([]byte("x"), len(buf)))
	cred := store.scram[ScramSHA256+"\x00alice"]
	withoutProof := "c=biws,r=abcS"
	proof, _ := scramProof(t, hashOf(ScramSHA256), "alice-secret", cred.Salt, 4096, "n=alice,r=abc,"+string(serverFirst)+","+withoutProof)
	if _, done, err := s.Step([]byte(withoutProof + ",p=" + b64(proof))); err != nil || !done {
		t.Fatalf("done=%v err=%v (%s)", done, err, FailureDetail(err))
	}
}
