package sasl

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// TestPlainInterop logs in with franz-go's PLAIN client.
func TestPlainInterop(t *testing.T) {
	store := testStore(t)
	cases := []struct {
		name      string
		auth      plain.Auth
		principal string
		err       string
	}{
		{name: "ok", auth: plain.Auth{User: "alice", Pass: "alice-secret"}, principal: "alice"},
		{name: "UTF-8", auth: plain.Auth{User: "ümlaut-p", Pass: "pässwörd"}, principal: "ümlaut-p"},
		{name: "authzid is user", auth: plain.Auth{Zid: "bob", User: "bob", Pass: "b0b,=\x01pass"}, principal: "bob"},
		{name: "wrong password", auth: plain.Auth{User: "alice", Pass: "alice-secreT"}, err: "Authentication failed: Invalid username or password"},
		{name: "unknown user", auth: plain.Auth{User: "mallory", Pass: "alice-secret"}, err: "Authentication failed: Invalid username or password"},
		{name: "authzid differs", auth: plain.Auth{Zid: "bob", User: "alice", Pass: "alice-secret"},
			err: "Authentication failed: Client requested an authorization id that is different from username"},
		{name: "authzid differs, wrong password", auth: plain.Auth{Zid: "bob", User: "alice", Pass: "x"},
			err: "Authentication failed: Invalid username or password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSession(t, Plain, Config{Store: store})
			_, err := exchange(t, c.auth.AsMechanism(), s)
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.Principal() != c.principal || !s.Expiry().IsZero() {
					t.Errorf("principal %q expiry %v", s.Principal(), s.Expiry())
				}
				return
			}
			wantAuthErr(t, err, c.err)
			noSecrets(t, err, c.auth.Pass, "alice-secret")
			if s.Principal() != "" {
				t.Errorf("principal %q after failure", s.Principal())
			}
		})
	}
}

// TestPlainMessages feeds raw PLAIN messages.
func TestPlainMessages(t *testing.T) {
	store := testStore(t)
	cases := []struct {
		name, msg string
		err       string // "" for success
	}{
		{"ok", "\x00alice\x00alice-secret", ""},
		{"ok authzid", "alice\x00alice\x00alice-secret", ""},
		{"empty user", "\x00\x00alice-secret", "Authentication failed: username not specified"},
		{"empty password", "\x00alice\x00", "Authentication failed: password not specified"},
		{"all empty", "\x00\x00", "Authentication failed: username not specified"},
		{"wrong password", "\x00alice\x00alice-secre", "Authentication failed: Invalid username or password"},
		{"password with space", "\x00alice\x00alice-secret ", "Authentication failed: Invalid username or password"},
		{"no NUL", "alice", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"},
		{"empty", "", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"},
		{"one NUL", "alice\x00alice-secret", "Invalid SASL/PLAIN response: expected 3 tokens, got 2"},
		{"extra NUL", "\x00alice\x00alice-secret\x00", "Invalid SASL/PLAIN response: expected 3 tokens, got 4"},
		{"NUL in password", "\x00alice\x00alice\x00secret", "Invalid SASL/PLAIN response: expected 3 tokens, got 4"},
		{"many NULs", "\x00\x00\x00\x00\x00", "Invalid SASL/PLAIN response: expected 3 tokens, got 4"},
		{"invalid UTF-8", "\x00alice\x00alice-secret\xff", "Invalid SASL/PLAIN response: not valid UTF-8"},
		{"authzid differs", "bob\x00alice\x00alice-secret", "Authentication failed: Client requested an authorization id that is different from username"},
		{"authzid case", "Alice\x00alice\x00alice-secret", "Authentication failed: Client requested an authorization id that is different from username"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSession(t, Plain, Config{Store: store})
			resp, done, err := s.Step([]byte(c.msg))
			if c.err == "" {
				if err != nil || !done || resp == nil || len(resp) != 0 {
					t.Fatalf("resp=%q done=%v err=%v", resp, done, err)
				}
				if s.Principal() != "alice" {
					t.Errorf("principal %q", s.Principal())
				}
				return
			}
			if done || resp != nil {
				t.Errorf("resp=%q done=%v", resp, done)
			}
			wantAuthErr(t, err, c.err)
			noSecrets(t, err, "alice-secret")
			if strings.Contains(c.name, "wrong") && !strings.Contains(FailureDetail(err), `"alice"`) {
				t.Errorf("detail %q does not name the user", FailureDetail(err))
			}
		})
	}
}
