package sasl

import (
	"bytes"
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"regexp"
	"strconv"
	"strings"
	"testing"

	kgosasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func scramMechanism(name string, a scram.Auth) kgosasl.Mechanism {
	if name == ScramSHA512 {
		return a.AsSha512Mechanism()
	}
	return a.AsSha256Mechanism()
}

func hashOf(name string) func() hash.Hash {
	if name == ScramSHA512 {
		return sha512.New
	}
	return sha256.New
}

func genericMsg(mech string) string {
	return "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mech
}

// TestScramRFC7677 reproduces the SCRAM-SHA-256 exchange of RFC 7677
// section 3, byte for byte.
func TestScramRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	salted, err := pbkdf2.Key(sha256.New, "pencil", salt, 4096, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := ScramCredentialFromSalted(ScramSHA256, salt, salted, 4096)
	if err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	store.scram[ScramSHA256+"\x00user"] = cred
	s := newSession(t, ScramSHA256, fixedNonce(Config{Store: store}, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"))

	resp, done, err := s.Step([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if err != nil || done {
		t.Fatalf("client-first: done=%v err=%v", done, err)
	}
	if want := "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"; string(resp) != want {
		t.Fatalf("server-first %q, want %q", resp, want)
	}
	resp, done, err = s.Step([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil || !done {
		t.Fatalf("client-final: done=%v err=%v (%s)", done, err, FailureDetail(err))
	}
	if want := "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="; string(resp) != want {
		t.Fatalf("server-final %q, want %q", resp, want)
	}
	if s.Principal() != "user" || !s.Expiry().IsZero() || s.Mechanism() != ScramSHA256 {
		t.Errorf("principal %q expiry %v mechanism %q", s.Principal(), s.Expiry(), s.Mechanism())
	}
}

// TestScramInterop logs in with franz-go's SCRAM client, both hashes.
func TestScramInterop(t *testing.T) {
	store := testStore(t)
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			cases := []struct {
				name      string
				auth      scram.Auth
				principal string
				err       string // "" for success
			}{
				{name: "ok", auth: scram.Auth{User: "alice", Pass: "alice-secret"}, principal: "alice"},
				{name: "escaped username", auth: scram.Auth{User: "a,b=c", Pass: "comma=equals"}, principal: "a,b=c"},
				{name: "odd password", auth: scram.Auth{User: "bob", Pass: "b0b,=\x01pass"}, principal: "bob"},
				{name: "authzid is user", auth: scram.Auth{Zid: "alice", User: "alice", Pass: "alice-secret"}, principal: "alice"},
				{name: "escaped authzid is user", auth: scram.Auth{Zid: "a,b=c", User: "a,b=c", Pass: "comma=equals"}, principal: "a,b=c"},
				{name: "client nonce", auth: scram.Auth{User: "alice", Pass: "alice-secret", Nonce: []byte("fixed")}, principal: "alice"},
				{name: "wrong password", auth: scram.Auth{User: "alice", Pass: "alice-secreT"}, err: genericMsg(mech)},
				{name: "unknown user", auth: scram.Auth{User: "mallory", Pass: "alice-secret"}, err: genericMsg(mech)},
				{name: "other user's password", auth: scram.Auth{User: "bob", Pass: "alice-secret"}, err: genericMsg(mech)},
				{name: "authzid differs", auth: scram.Auth{Zid: "bob", User: "alice", Pass: "alice-secret"},
					err: "Authentication failed: Client requested an authorization id that is different from username"},
				{name: "delegation token", auth: scram.Auth{User: "alice", Pass: "alice-secret", IsToken: true},
					err: "Authentication failed: delegation token authentication (tokenauth extension) is not supported"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					s := newSession(t, mech, Config{Store: store})
					sent, err := exchange(t, scramMechanism(mech, c.auth), s)
					if c.err == "" {
						if err != nil {
							t.Fatalf("login failed: %v (%s)", err, FailureDetail(err))
						}
						if s.Principal() != c.principal {
							t.Errorf("principal %q, want %q", s.Principal(), c.principal)
						}
						return
					}
					wantAuthErr(t, err, c.err)
					noSecrets(t, err, c.auth.Pass, "alice-secret")
					if len(sent) == 2 {
						_, p, _ := strings.Cut(string(sent[1]), ",p=")
						noSecrets(t, err, p)
					}
					if s.Principal() != "" {
						t.Errorf("principal %q after failure", s.Principal())
					}
				})
			}
		})
	}
}

// TestScramUnknownUser checks that an unknown user gets through the
// first step like a real one and fails at the end like a wrong password.
func TestScramUnknownUser(t *testing.T) {
	store := testStore(t)
	serverFirst := regexp.MustCompile(`^r=([!-+--~]+),s=([A-Za-z0-9+/]+=*),i=(\d+)$`)
	first := func(cfg Config, user string) (Session, []string) {
		t.Helper()
		s := newSession(t, ScramSHA256, cfg)
		resp, done, err := s.Step([]byte("n,,n=" + user + ",r=clientnonce"))
		if err != nil || done {
			t.Fatalf("client-first of %s: done=%v err=%v", user, done, err)
		}
		m := serverFirst.FindStringSubmatch(string(resp))
		if m == nil {
			t.Fatalf("server-first %q", resp)
		}
		return s, m
	}
	_, real := first(Config{Store: store}, "alice")
	_, fake := first(Config{Store: store}, "mallory")
	realSalt, _ := base64.StdEncoding.DecodeString(real[2])
	fakeSalt, _ := base64.StdEncoding.DecodeString(fake[2])
	salt36 := regexp.MustCompile(`^[0-9a-z]{1,26}$`)
	if !salt36.Match(realSalt) || !salt36.Match(fakeSalt) {
		t.Errorf("salts %q and %q are not like Kafka's", realSalt, fakeSalt)
	}
	if real[3] != fake[3] || len(real[1]) != len(fake[1]) {
		t.Errorf("unknown user's server-first %q differs in shape from %q", fake[0], real[0])
	}

	// With a key, an unknown user's salt is stable; without, it is not.
	keyed := Config{Store: store, ScramFakeCredentialKey: []byte("0123456789abcdef0123456789abcdef")}
	_, a := first(keyed, "mallory")
	_, b := first(keyed, "mallory")
	_, c := first(keyed, "trudy")
	if a[2] != b[2] || a[2] == c[2] {
		t.Errorf("keyed fake salts: mallory %s and %s, trudy %s", a[2], b[2], c[2])
	}
	_, d := first(Config{Store: store, ScramFakeCredentialKey: []byte("another key")}, "mallory")
	if d[2] == a[2] {
		t.Errorf("fake salt does not depend on the key")
	}
	_, e := first(Config{Store: store}, "mallory")
	_, f := first(Config{Store: store}, "mallory")
	if e[2] == f[2] {
		t.Errorf("unkeyed fake salts are equal")
	}

	// The unknown user's exchange ends like a wrong password's, even with
	// a proof computed from the fake salt.
	for _, user := range []string{"alice", "mallory"} {
		s, m := first(keyed, user)
		salt, _ := base64.StdEncoding.DecodeString(m[2])
		withoutProof := "c=biws,r=" + m[1]
		proof, _ := scramProof(t, sha256.New, "guess", salt, 4096, "n="+user+",r=clientnonce,"+m[0]+","+withoutProof)
		_, done, err := s.Step([]byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)))
		if done {
			t.Fatalf("%s: done", user)
		}
		wantAuthErr(t, err, genericMsg(ScramSHA256))
		if detail := FailureDetail(err); !strings.Contains(detail, "unknown user") != (user == "alice") {
			t.Errorf("%s: detail %q", user, detail)
		}
	}
}

// TestScramReplay replays a successful client-final message in a new
// exchange with the same client-first: the server nonce differs, so it
// fails.
func TestScramReplay(t *testing.T) {
	store := testStore(t)
	s1 := newSession(t, ScramSHA512, Config{Store: store})
	sent, err := exchange(t, scram.Auth{User: "alice", Pass: "alice-secret", Nonce: []byte("n")}.AsSha512Mechanism(), s1)
	if err != nil {
		t.Fatal(err)
	}
	s2 := newSession(t, ScramSHA512, Config{Store: store})
	if _, _, err := s2.Step(sent[0]); err != nil {
		t.Fatal(err)
	}
	_, done, err := s2.Step(sent[1])
	if done {
		t.Fatal("replay accepted")
	}
	wantAuthErr(t, err, genericMsg(ScramSHA512))
	if !strings.Contains(FailureDetail(err), "nonce") {
		t.Errorf("detail %q", FailureDetail(err))
	}

	// Even with the same server nonce (which a random one never is), the
	// proof of another exchange does not verify when the salt or client
	// nonce differ; with everything equal the exchange is the same one.
	s3 := newSession(t, ScramSHA512, Config{Store: store})
	if _, _, err := s3.Step([]byte(strings.Replace(string(sent[0]), "r=", "r=x", 1))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s3.Step(sent[1]); err == nil {
		t.Fatal("client-final of another exchange accepted")
	}
}

// TestScramMalformedClientFirst feeds bad client-first messages.
func TestScramMalformedClientFirst(t *testing.T) {
	store := testStore(t)
	generic := genericMsg(ScramSHA256)
	cases := []struct {
		name, msg string
		err       string // "" means the message is accepted
		detail    string
	}{
		{"ok", "n,,n=alice,r=abc", "", ""},
		{"authzid equal", "n,a=alice,n=alice,r=abc", "", ""},
		{"escaped", "n,a=a=2Cb=3Dc,n=a=2Cb=3Dc,r=abc", "", ""},
		{"unknown extension ignored", "n,,n=alice,r=abc,foo=bar,x=1=2", "", ""},
		{"tokenauth false", "n,,n=alice,r=abc,tokenauth=false", "", ""},
		{"nonce with equals", "n,,n=alice,r=a=b", "", ""},
		{"tokenauth", "n,,n=alice,r=abc,tokenauth=true", "Authentication failed: delegation token authentication (tokenauth extension) is not supported", ""},
		{"tokenauth upper", "n,,n=alice,r=abc,tokenauth=TRUE", "Authentication failed: delegation token authentication (tokenauth extension) is not supported", ""},
		{"tokenauth last wins", "n,,n=alice,r=abc,tokenauth=false,tokenauth=true", "Authentication failed: delegation token authentication (tokenauth extension) is not supported", ""},
		{"authzid differs", "n,a=bob,n=alice,r=abc", "Authentication failed: Client requested an authorization id that is different from username", ""},
		{"authzid unescaped differs", "n,a=a=2Cb=3Dc,n=a=2Cb=3Dd,r=abc", "Authentication failed: Client requested an authorization id that is different from username", ""},
		{"channel binding y", "y,,n=alice,r=abc", generic, "channel binding"},
		{"channel binding p", "p=tls-unique,,n=alice,r=abc", generic, "channel binding"},
		{"empty", "", generic, "gs2"},
		{"no gs2", "n=alice,r=abc", generic, "gs2"},
		{"bad gs2", "n,x=y,n=alice,r=abc", generic, "gs2"},
		{"unterminated gs2", "n,a=alice", generic, "gs2"},
		{"empty authzid", "n,a=,n=alice,r=abc", generic, "empty saslname"},
		{"mandatory extension", "n,,m=foo,n=alice,r=abc", generic, "m="},
		{"no nonce", "n,,n=alice", generic, "n=<username>,r=<nonce>"},
		{"nonce first", "n,,r=abc,n=alice", generic, "n=<username>,r=<nonce>"},
		{"empty user", "n,,n=,r=abc", generic, "empty saslname"},
		{"bad escape", "n,,n=al=2Xice,r=abc", generic, "escape"},
		{"lowercase escape", "n,,n=a=2cb,r=abc", generic, "escape"},
		{"bare equals", "n,,n=a=b,r=abc", generic, "escape"},
		{"truncated escape", "n,,n=ab=2,r=abc", generic, "escape"},
		{"empty nonce", "n,,n=alice,r=", generic, "nonce"},
		{"nonce with space", "n,,n=alice,r=a b", generic, "nonce"},
		{"non-ASCII user", "n,,n=älice,r=abc", generic, "ASCII"},
		{"NUL", "n,,n=al\x00ice,r=abc", generic, "ASCII"},
		{"bad extension name", "n,,n=alice,r=abc,f1=bar", generic, "extension"},
		{"empty extension value", "n,,n=alice,r=abc,foo=", generic, "extension"},
		{"extension without value", "n,,n=alice,r=abc,foo", generic, "extension"},
		{"trailing comma", "n,,n=alice,r=abc,", generic, "extension"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSession(t, ScramSHA256, Config{Store: store})
			resp, done, err := s.Step([]byte(c.msg))
			if done {
				t.Fatal("done after client-first")
			}
			if c.err == "" {
				if err != nil {
					t.Fatalf("refused: %v (%s)", err, FailureDetail(err))
				}
				if !bytes.HasPrefix(resp, []byte("r=")) {
					t.Errorf("server-first %q", resp)
				}
				return
			}
			wantAuthErr(t, err, c.err)
			if !strings.Contains(FailureDetail(err), c.detail) {
				t.Errorf("detail %q does not mention %q", FailureDetail(err), c.detail)
			}
			if _, _, err := s.Step([]byte("c=biws,r=abc,p=AAAA")); err == nil {
				t.Error("Step after failure succeeded")
			}
		})
	}
}

// TestScramClientFinal feeds good and bad client-final messages, built
// from a real exchange.
func TestScramClientFinal(t *testing.T) {
	store := testStore(t)
	const snonce = "SERVERNONCE"
	type final struct {
		gs2, cb, nonce, exts, proof string
	}
	// Each case logs alice in with gs2; mod changes the final message's
	// parts before the proof is computed over them, raw changes the
	// whole message after.
	cases := []struct {
		name string
		gs2  string
		mod  func(f *final)
		raw  func(msg string) string // applied to the whole final message
		ok   bool
		why  string
	}{
		{name: "ok", gs2: "n,,", ok: true},
		{name: "ok authzid", gs2: "n,a=alice,", ok: true},
		{name: "ok with extension", gs2: "n,,", mod: func(f *final) { f.exts = ",foo=bar" }, ok: true},
		{name: "c without authzid", gs2: "n,a=alice,", mod: func(f *final) { f.cb = "biws" }, why: "channel binding"},
		{name: "c of y", gs2: "n,,", mod: func(f *final) { f.cb = base64.StdEncoding.EncodeToString([]byte("y,,")) }, why: "channel binding"},
		{name: "c not base64", gs2: "n,,", mod: func(f *final) { f.cb = "b!ws" }, why: "base64"},
		{name: "c with newline", gs2: "n,,", mod: func(f *final) { f.cb = "bi\nws" }, why: "base64"},
		{name: "wrong nonce", gs2: "n,,", mod: func(f *final) { f.nonce = "clientnonceSERVERNONCF" }, why: "nonce"},
		{name: "nonce prefix", gs2: "n,,", mod: func(f *final) { f.nonce = "clientnonceSERVERNONC" }, why: "nonce"},
		{name: "nonce suffix only", gs2: "n,,", mod: func(f *final) { f.nonce = "SERVERNONCE" }, why: "nonce"},
		// "xclientnonceSERVERNONCE" is accepted: Kafka checks only that
		// the nonce ends with the combined one, which librdkafka needs
		// (it repeats the client nonce in front).
		{name: "wrong proof", gs2: "n,,", raw: func(m string) string { return flipProof(m) }, why: "Invalid client credentials"},
		{name: "short proof", gs2: "n,,", raw: func(m string) string { return m[:strings.Index(m, ",p=")] + ",p=AAAA" }, why: "proof of 3 bytes"},
		{name: "proof not base64", gs2: "n,,", raw: func(m string) string { return m[:strings.Index(m, ",p=")] + ",p=A*AA" }, why: "base64"},
		{name: "proof unpadded", gs2: "n,,", raw: func(m string) string { return strings.TrimRight(m, "=") }, why: "base64"},
		{name: "extension added", gs2: "n,,", raw: func(m string) string { return strings.Replace(m, ",p=", ",foo=bar,p=", 1) }, why: "Invalid client credentials"},
		{name: "no proof", gs2: "n,,", raw: func(m string) string { return m[:strings.Index(m, ",p=")] }, why: "c=,r=,p="},
		{name: "order", gs2: "n,,", raw: func(m string) string {
			c, rest, _ := strings.Cut(m, ",")
			r, p, _ := strings.Cut(rest, ",")
			return r + "," + c + "," + p
		}, why: "c=,r=,p="},
		{name: "bad extension", gs2: "n,,", raw: func(m string) string { return strings.Replace(m, ",p=", ",9=bar,p=", 1) }, why: "extension"},
		{name: "empty", gs2: "n,,", raw: func(string) string { return "" }, why: "c=,r=,p="},
		{name: "non-ASCII", gs2: "n,,", raw: func(m string) string { return m + "é" }, why: "ASCII"},
	}
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		for _, c := range cases {
			t.Run(mech+"/"+c.name, func(t *testing.T) {
				s := newSession(t, mech, fixedNonce(Config{Store: store}, snonce))
				bare := "n=alice,r=clientnonce"
				serverFirst, _, err := s.Step([]byte(c.gs2 + bare))
				if err != nil {
					t.Fatal(err)
				}
				cred := store.scram[mech+"\x00alice"]
				f := final{cb: base64.StdEncoding.EncodeToString([]byte(c.gs2)), nonce: "clientnonce" + snonce}
				if c.mod != nil {
					c.mod(&f)
				}
				withoutProof := "c=" + f.cb + ",r=" + f.nonce + f.exts
				proof, sig := scramProof(t, hashOf(mech), "alice-secret", cred.Salt, int(cred.Iterations), bare+","+string(serverFirst)+","+withoutProof)
				msg := withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)
				if c.raw != nil {
					msg = c.raw(msg)
				}
				resp, done, err := s.Step([]byte(msg))
				if c.ok {
					if err != nil || !done {
						t.Fatalf("done=%v err=%v (%s)", done, err, FailureDetail(err))
					}
					if want := "v=" + base64.StdEncoding.EncodeToString(sig); string(resp) != want {
						t.Errorf("server-final %q, want %q", resp, want)
					}
					if s.Principal() != "alice" {
						t.Errorf("principal %q", s.Principal())
					}
					return
				}
				if done || resp != nil {
					t.Errorf("done=%v resp=%q", done, resp)
				}
				wantAuthErr(t, err, genericMsg(mech))
				if !strings.Contains(FailureDetail(err), c.why) {
					t.Errorf("detail %q does not mention %q", FailureDetail(err), c.why)
				}
				noSecrets(t, err, "alice-secret", base64.StdEncoding.EncodeToString(proof), base64.StdEncoding.EncodeToString(sig))
			})
		}
	}
}

// flipProof changes the last byte of a client-final message's proof.
func flipProof(msg string) string {
	i := strings.Index(msg, ",p=")
	p, _ := base64.StdEncoding.DecodeString(msg[i+3:])
	p[len(p)-1] ^= 1
	return msg[:i+3] + base64.StdEncoding.EncodeToString(p)
}

// TestScramBadStoredCredential checks that a credential the exchange
// cannot use fails the first step, without a made-up one.
func TestScramBadStoredCredential(t *testing.T) {
	good, err := NewScramCredential(ScramSHA256, "pw", 4096)
	if err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*ScramCredential){
		"few iterations":  func(c *ScramCredential) { c.Iterations = 4095 },
		"other mechanism": func(c *ScramCredential) { c.Mechanism = ScramSHA512 },
		"no salt":         func(c *ScramCredential) { c.Salt = nil },
		"short key":       func(c *ScramCredential) { c.StoredKey = c.StoredKey[:10] },
	} {
		t.Run(name, func(t *testing.T) {
			c := good
			mod(&c)
			store := newMemStore()
			store.scram[ScramSHA256+"\x00u"] = c
			s := newSession(t, ScramSHA256, Config{Store: store})
			_, _, err := s.Step([]byte("n,,n=u,r=abc"))
			wantAuthErr(t, err, genericMsg(ScramSHA256))
			if !strings.Contains(FailureDetail(err), "stored credential") {
				t.Errorf("detail %q", FailureDetail(err))
			}
		})
	}
	// A credential with no Mechanism set is taken.
	c := good
	c.Mechanism = ""
	store := newMemStore()
	store.scram[ScramSHA256+"\x00u"] = c
	if _, err := exchange(t, scram.Auth{User: "u", Pass: "pw"}.AsSha256Mechanism(), newSession(t, ScramSHA256, Config{Store: store})); err != nil {
		t.Fatal(err)
	}
}

// TestScramServerNonce checks the default server nonce: random, printable
// and at least 18 bytes of entropy in base64.
func TestScramServerNonce(t *testing.T) {
	store := testStore(t)
	seen := map[string]bool{}
	for range 20 {
		s := newSession(t, ScramSHA256, Config{Store: store})
		resp, _, err := s.Step([]byte("n,,n=alice,r=c"))
		if err != nil {
			t.Fatal(err)
		}
		r, _, _ := strings.Cut(string(resp), ",")
		nonce := strings.TrimPrefix(r, "r=c")
		raw, err := base64.RawStdEncoding.DecodeString(nonce)
		if err != nil || len(raw) < 18 {
			t.Fatalf("server nonce %q: %d bytes, %v", nonce, len(raw), err)
		}
		if seen[nonce] {
			t.Fatalf("server nonce %q repeated", nonce)
		}
		seen[nonce] = true
	}
}

// TestScramIterationsSent checks that the stored iteration count is what
// the client is told, and that franz-go logs in with a non-default one.
func TestScramIterationsSent(t *testing.T) {
	c, err := NewScramCredential(ScramSHA512, "pw", 8192)
	if err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	store.scram[ScramSHA512+"\x00u"] = c
	s := newSession(t, ScramSHA512, Config{Store: store})
	cs, first, err := scram.Auth{User: "u", Pass: "pw"}.AsSha512Mechanism().Authenticate(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	resp, _, err := s.Step(first)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(resp), ",i="+strconv.Itoa(8192)) {
		t.Errorf("server-first %q", resp)
	}
	_, final, err := cs.Challenge(resp)
	if err != nil {
		t.Fatal(err)
	}
	resp, done, err := s.Step(final)
	if err != nil || !done {
		t.Fatalf("done=%v err=%v", done, err)
	}
	if ok, _, err := cs.Challenge(resp); !ok || err != nil {
		t.Fatalf("client rejects server-final: %v", err)
	}
}

// BenchmarkScramExchange times a whole server-side exchange for a known
// user with a wrong proof and for an unknown user: the two should cost
// about the same.
func BenchmarkScramExchange(b *testing.B) {
	store := testStore(b)
	cfg := fixedNonce(Config{Store: store, ScramFakeCredentialKey: []byte("key")}, "S")
	for _, user := range []string{"alice", "mallory"} {
		b.Run(user, func(b *testing.B) {
			first := []byte("n,,n=" + user + ",r=c")
			final := []byte("c=biws,r=cS,p=" + b64(make([]byte, 32)))
			for b.Loop() {
				s, _ := NewSession(ScramSHA256, cfg)
				if _, _, err := s.Step(first); err != nil {
					b.Fatal(err)
				}
				if _, _, err := s.Step(final); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
