package sasl

import (
	"errors"
	"slices"
	"strings"
	"testing"

	kgosasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// FuzzSession drives a session of each mechanism with two arbitrary
// tokens (and the second again), seeded with the tokens of real
// exchanges. The SCRAM server nonce is fixed so that mutations of a
// seed's client-final message reach the proof check. It checks that
// nothing panics, that failures are ErrAuthentication without key
// material, that only a known user (or a valid token's subject) is ever
// authenticated, and that a session takes nothing after it ended.
func FuzzSession(f *testing.F) {
	store := testStore(f)
	const serverNonce = "SERVERNONCE"
	cfg := fixedNonce(Config{Store: store, Now: clockNow, MaxTokenSize: 4096, OAuthRequiredScope: []string{"read"}}, serverNonce)
	mechs := Mechanisms()

	goodToken := jws(f, noneHeader, claims(map[string]any{"scope": "read"}))
	seeds := []struct {
		mech string
		m    kgosasl.Mechanism
		ok   bool
	}{
		{Plain, plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism(), true},
		{Plain, plain.Auth{Zid: "a,b=c", User: "a,b=c", Pass: "comma=equals"}.AsMechanism(), true},
		{ScramSHA256, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism(), true},
		{ScramSHA256, scram.Auth{Zid: "a,b=c", User: "a,b=c", Pass: "comma=equals"}.AsSha256Mechanism(), true},
		{ScramSHA512, scram.Auth{User: "bob", Pass: "b0b,=\x01pass"}.AsSha512Mechanism(), true},
		{ScramSHA512, scram.Auth{User: "nobody", Pass: "x"}.AsSha512Mechanism(), false},
		{OAuthBearer, oauth.Auth{Token: goodToken, Extensions: map[string]string{"k": "v"}}.AsMechanism(), true},
		{OAuthBearer, oauth.Auth{Zid: "alice", Token: goodToken}.AsMechanism(), true},
		{OAuthBearer, oauth.Auth{Token: jws(f, noneHeader, claims(nil))}.AsMechanism(), false},
	}
	for _, s := range seeds {
		// With the fixed server nonce, the same tokens authenticate again
		// inside the fuzz function.
		sent, err := exchange(f, s.m, newSession(f, s.mech, cfg))
		if (err == nil) != s.ok {
			f.Fatalf("seed exchange of %s: %v", s.mech, err)
		}
		sent = append(sent, nil)
		f.Add(uint8(slices.Index(mechs, s.mech)), sent[0], sent[1])
	}
	f.Add(uint8(1), []byte("n,,n=alice,r=x,tokenauth=true"), []byte("c=biws,r=x"+serverNonce+",p=AAAA"))
	f.Add(uint8(3), []byte("n,,\x01auth=Bearer a.b.\x01\x01"), []byte("\x01"))

	var secrets []string
	for _, c := range store.scram {
		secrets = append(secrets, b64(c.StoredKey), b64(c.ServerKey))
	}

	f.Fuzz(func(t *testing.T, mech uint8, tok1, tok2 []byte) {
		name := mechs[int(mech)%len(mechs)]
		s, err := NewSession(name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ended := false
		for i, tok := range [][]byte{tok1, tok2, tok2} {
			resp, done, err := s.Step(tok)
			if ended {
				if err == nil || done {
					t.Fatalf("step %d after the end: done=%v err=%v", i, done, err)
				}
			}
			if err != nil {
				if !errors.Is(err, ErrAuthentication) || done || resp != nil {
					t.Fatalf("step %d: resp=%q done=%v err=%v", i, resp, done, err)
				}
				for _, text := range []string{err.Error(), FailureDetail(err)} {
					for _, secret := range secrets {
						if strings.Contains(text, secret) {
							t.Fatalf("error %q shows key material", text)
						}
					}
				}
				ended = true
				continue
			}
			if done {
				p := s.Principal()
				if name == OAuthBearer {
					if p == "" {
						t.Fatal("empty principal")
					}
				} else if _, ok := testUsers[p]; !ok {
					t.Fatalf("authenticated unknown user %q", p)
				}
				if (name == ScramSHA256 || name == ScramSHA512) && (i != 1 || !strings.HasPrefix(string(resp), "v=")) {
					t.Fatalf("SCRAM done at step %d with %q", i, resp)
				}
				ended = true
				continue
			}
			if s.Principal() != "" || !s.Expiry().IsZero() {
				t.Fatal("principal or expiry before done")
			}
			switch name {
			case Plain:
				t.Fatal("PLAIN neither done nor failed")
			case ScramSHA256, ScramSHA512:
				if i != 0 || !strings.HasPrefix(string(resp), "r=") {
					t.Fatalf("SCRAM step %d answered %q", i, resp)
				}
			case OAuthBearer:
				if i != 0 || !strings.HasPrefix(string(resp), `{"status":"`) {
					t.Fatalf("OAUTHBEARER step %d answered %q", i, resp)
				}
			}
		}
	})
}
