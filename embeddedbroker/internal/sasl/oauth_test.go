package sasl

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

func oauthConfig() Config { return Config{Now: clockNow} }

// claims returns claims for alice valid at clock, with extra ones set
// (a nil value deletes a claim).
func claims(extra map[string]any) map[string]any {
	c := map[string]any{"sub": "alice", "iat": clock.Unix() - 60, "exp": clock.Unix() + 3600}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

const invalidToken = `{"status":"invalid_token"}`

// TestOAuthInterop logs in with franz-go's OAUTHBEARER client, and fails
// with Kafka's two-step error.
func TestOAuthInterop(t *testing.T) {
	good := jws(t, noneHeader, claims(nil))
	cases := []struct {
		name      string
		cfg       func(*Config)
		auth      oauth.Auth
		principal string
		err       string
	}{
		{name: "ok", auth: oauth.Auth{Token: good}, principal: "alice"},
		{name: "extensions", auth: oauth.Auth{Token: good, Extensions: map[string]string{"traceId": "123", "logicalCluster": "lkc-1 x"}}, principal: "alice"},
		{name: "authzid is principal", auth: oauth.Auth{Zid: "alice", Token: good}, principal: "alice"},
		{name: "required scope", cfg: func(c *Config) { c.OAuthRequiredScope = []string{"write", "read"} },
			auth: oauth.Auth{Token: jws(t, noneHeader, claims(map[string]any{"scope": []string{"read", " write ", "admin"}}))}, principal: "alice"},
		{name: "authzid differs", auth: oauth.Auth{Zid: "bob", Token: good},
			err: "Authentication failed: Client requested an authorization id (bob) that is different from the token's principal name (alice)"},
		{name: "expired", auth: oauth.Auth{Token: jws(t, noneHeader, claims(map[string]any{"exp": clock.Unix() - 1}))}, err: invalidToken},
		{name: "missing scope", cfg: func(c *Config) { c.OAuthRequiredScope = []string{"read", "write"} },
			auth: oauth.Auth{Token: jws(t, noneHeader, claims(map[string]any{"scope": "read"}))},
			err:  `{"status":"insufficient_scope", "scope":"[read, write]"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := oauthConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			s := newSession(t, OAuthBearer, cfg)
			sent, err := exchange(t, c.auth.AsMechanism(), s)
			if c.err == "" {
				if err != nil {
					t.Fatalf("%v (%s)", err, FailureDetail(err))
				}
				if s.Principal() != c.principal {
					t.Errorf("principal %q", s.Principal())
				}
				if want := clock.Add(time.Hour); !s.Expiry().Equal(want) {
					t.Errorf("expiry %v, want %v", s.Expiry(), want)
				}
				return
			}
			wantAuthErr(t, err, c.err)
			noSecrets(t, err, c.auth.Token)
			if strings.HasPrefix(c.err, "{") {
				// The JSON went to the client, which answered %x01.
				if len(sent) != 2 || string(sent[1]) != "\x01" {
					t.Errorf("client sent %q", sent)
				}
			}
		})
	}
}

// TestOAuthTwoStepFailure checks Kafka's failure exactly: the JSON error
// as a challenge, then the failure on the client's %x01.
func TestOAuthTwoStepFailure(t *testing.T) {
	msg := []byte("n,,\x01auth=Bearer " + jws(t, noneHeader, claims(map[string]any{"exp": 1})) + "\x01\x01")
	s := newSession(t, OAuthBearer, oauthConfig())
	resp, done, err := s.Step(msg)
	if err != nil || done || string(resp) != invalidToken {
		t.Fatalf("first step: resp=%q done=%v err=%v", resp, done, err)
	}
	if s.Principal() != "" || !s.Expiry().IsZero() {
		t.Error("principal or expiry after a failed validation")
	}
	resp, done, err = s.Step([]byte{0x01})
	if done || resp != nil {
		t.Errorf("second step: resp=%q done=%v", resp, done)
	}
	wantAuthErr(t, err, invalidToken)
	if !strings.Contains(FailureDetail(err), "Expiration Time") {
		t.Errorf("detail %q", FailureDetail(err))
	}
	if _, _, err := s.Step([]byte{0x01}); err == nil {
		t.Error("third step succeeded")
	}

	// Anything but %x01 after the error fails too, even a good token.
	s = newSession(t, OAuthBearer, oauthConfig())
	if _, _, err := s.Step(msg); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Step([]byte("n,,\x01auth=Bearer " + jws(t, noneHeader, claims(nil)) + "\x01\x01"))
	wantAuthErr(t, err, invalidToken)
	if !strings.Contains(FailureDetail(err), "%x01") {
		t.Errorf("detail %q", FailureDetail(err))
	}

	// A %x01 first is a malformed initial response.
	s = newSession(t, OAuthBearer, oauthConfig())
	_, _, err = s.Step([]byte{0x01})
	wantAuthErr(t, err, genericMsg(OAuthBearer))
}

// TestOAuthValidation checks the unsecured JWS validator's rules.
func TestOAuthValidation(t *testing.T) {
	now := clock.Unix()
	std := func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name   string
		cfg    func(*Config)
		token  string
		status string // "" for success
		why    string
		expiry time.Time
	}{
		{name: "ok", token: jws(t, noneHeader, claims(nil))},
		{name: "no iat", token: jws(t, noneHeader, claims(map[string]any{"iat": nil}))},
		{name: "fractional exp", token: jws(t, noneHeader, claims(map[string]any{"exp": float64(now) + 10.0005})),
			expiry: time.UnixMilli(now*1000 + 10001)},
		{name: "exp far away", token: jws(t, noneHeader, `{"sub":"alice","exp":1e300}`), expiry: time.UnixMilli(math.MaxInt64)},
		{name: "exp with exponent", token: jws(t, noneHeader, `{"sub":"alice","exp":1.7e10}`), expiry: time.Unix(17e9, 0)},
		{name: "expired within skew", cfg: func(c *Config) { c.OAuthClockSkew = 5 * time.Second },
			token: jws(t, noneHeader, claims(map[string]any{"exp": now - 4, "iat": now - 10}))},
		{name: "iat ahead within skew", cfg: func(c *Config) { c.OAuthClockSkew = 5 * time.Second },
			token: jws(t, noneHeader, claims(map[string]any{"iat": now + 4}))},
		{name: "custom claims", cfg: func(c *Config) {
			c.OAuthPrincipalClaim = " upn "
			c.OAuthScopeClaim = "scp"
			c.OAuthRequiredScope = []string{"x"}
		},
			token: jws(t, noneHeader, claims(map[string]any{"sub": nil, "upn": "alice", "scp": "x"}))},
		{name: "standard base64", token: std(`{"alg":"none"}`) + "." + std(`{"sub":"alice","exp":`+itoa(now+60)+`,"x":"?>?"}`) + "."},
		{name: "base64url", token: jws(t, noneHeader, `{"sub":"alice","exp":`+itoa(now+60)+`,"x":"?>?"}`)},
		{name: "scope string is one item", cfg: func(c *Config) { c.OAuthRequiredScope = []string{"read"} },
			token: jws(t, noneHeader, claims(map[string]any{"scope": "read write"})), status: `{"status":"insufficient_scope", "scope":"[read]"}`, why: "missing a required scope"},
		{name: "scope blank items", cfg: func(c *Config) { c.OAuthRequiredScope = []string{"read"} },
			token: jws(t, noneHeader, claims(map[string]any{"scope": []any{" ", "read", 3}}))},

		{name: "expired", token: jws(t, noneHeader, claims(map[string]any{"exp": now})), status: invalidToken, why: "Expiration Time"},
		{name: "expired beyond skew", cfg: func(c *Config) { c.OAuthClockSkew = 5 * time.Second },
			token: jws(t, noneHeader, claims(map[string]any{"exp": now - 5, "iat": now - 10})), status: invalidToken, why: "Expiration Time"},
		{name: "iat ahead", token: jws(t, noneHeader, claims(map[string]any{"iat": now + 1})), status: invalidToken, why: "Issued At"},
		{name: "exp before iat", token: jws(t, noneHeader, claims(map[string]any{"iat": now - 10, "exp": now - 20})), status: invalidToken, why: "Expiration Time"},
		{name: "exp equals iat", cfg: func(c *Config) { c.OAuthClockSkew = time.Hour },
			token: jws(t, noneHeader, claims(map[string]any{"iat": now, "exp": now})), status: invalidToken, why: "was not after the Issued At"},
		{name: "no exp", token: jws(t, noneHeader, claims(map[string]any{"exp": nil})), status: invalidToken, why: "exp"},
		{name: "exp string", token: jws(t, noneHeader, claims(map[string]any{"exp": "9999999999"})), status: invalidToken, why: "Number"},
		{name: "exp null", token: jws(t, noneHeader, `{"sub":"alice","exp":null}`), status: invalidToken, why: "Number"},
		{name: "exp huge", token: jws(t, noneHeader, `{"sub":"alice","exp":1e999}`), status: invalidToken, why: "number"},
		{name: "iat string", token: jws(t, noneHeader, claims(map[string]any{"iat": "1"})), status: invalidToken, why: "Number"},
		{name: "no sub", token: jws(t, noneHeader, claims(map[string]any{"sub": nil})), status: invalidToken, why: "principal"},
		{name: "blank sub", token: jws(t, noneHeader, claims(map[string]any{"sub": "  "})), status: invalidToken, why: "principal"},
		{name: "sub number", token: jws(t, noneHeader, claims(map[string]any{"sub": 7})), status: invalidToken, why: "String"},
		{name: "scope object", token: jws(t, noneHeader, claims(map[string]any{"scope": map[string]any{}})), status: invalidToken, why: "List"},
		{name: "alg HS256", token: jws(t, map[string]any{"alg": "HS256"}, claims(nil)), status: invalidToken, why: "'none'"},
		{name: "no alg", token: jws(t, map[string]any{"typ": "JWT"}, claims(nil)), status: invalidToken, why: "'none'"},
		{name: "signature", token: jws(t, noneHeader, claims(nil)) + "c2ln", status: invalidToken, why: "signature"},
		{name: "two parts", token: strings.TrimSuffix(jws(t, noneHeader, claims(nil)), "."), status: invalidToken, why: "3 dot-separated"},
		{name: "four parts", token: jws(t, noneHeader, claims(nil)) + ".", status: invalidToken, why: "'..'"},
		{name: "empty header", token: "." + strings.SplitN(jws(t, noneHeader, claims(nil)), ".", 2)[1], status: invalidToken, why: "JWS header"},
		{name: "bad base64", token: "e." + strings.SplitN(jws(t, noneHeader, claims(nil)), ".", 2)[1], status: invalidToken, why: "Base64"},
		{name: "header not JSON", token: jws(t, "alg none", claims(nil)), status: invalidToken, why: "JSON"},
		{name: "header array", token: jws(t, `["none"]`, claims(nil)), status: invalidToken, why: "JSON"},
		{name: "claims null", token: jws(t, noneHeader, "null"), status: invalidToken, why: "JSON"},
		{name: "trailing JSON", token: jws(t, noneHeader, `{"sub":"alice","exp":9999999999}{}`), status: invalidToken, why: "JSON"},
		{name: "trailing garbage", token: jws(t, noneHeader, `{"sub":"alice","exp":9999999999}}`), status: invalidToken, why: "JSON"},
		{name: "missing scope", cfg: func(c *Config) { c.OAuthRequiredScope = []string{"a", "b"} },
			token: jws(t, noneHeader, claims(map[string]any{"scope": []string{"a"}})), status: `{"status":"insufficient_scope", "scope":"[a, b]"}`, why: "(b)"},
		{name: "no scope claim", cfg: func(c *Config) { c.OAuthRequiredScope = []string{"a"} },
			token: jws(t, noneHeader, claims(nil)), status: `{"status":"insufficient_scope", "scope":"[a]"}`, why: "(a)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := oauthConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			s := newSession(t, OAuthBearer, cfg)
			resp, done, err := s.Step([]byte("n,,\x01auth=Bearer " + c.token + "\x01\x01"))
			if err != nil {
				t.Fatalf("first step failed: %v (%s)", err, FailureDetail(err))
			}
			if c.status == "" {
				if !done || len(resp) != 0 {
					t.Fatalf("resp=%q done=%v", resp, done)
				}
				if s.Principal() != "alice" {
					t.Errorf("principal %q", s.Principal())
				}
				if !c.expiry.IsZero() && !s.Expiry().Equal(c.expiry) {
					t.Errorf("expiry %v, want %v", s.Expiry(), c.expiry)
				}
				return
			}
			if done || string(resp) != c.status {
				t.Fatalf("resp=%q done=%v, want %s", resp, done, c.status)
			}
			_, _, err = s.Step([]byte{1})
			wantAuthErr(t, err, c.status)
			if !strings.Contains(FailureDetail(err), c.why) {
				t.Errorf("detail %q does not mention %q", FailureDetail(err), c.why)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestOAuthMalformedInitial feeds bad client initial responses: each
// fails at once with the generic message, as Kafka's SaslException does.
func TestOAuthMalformedInitial(t *testing.T) {
	tok := jws(t, noneHeader, claims(nil))
	cases := []struct {
		name, msg string
		ok        bool
		err       string // the message when not the generic one
	}{
		{name: "ok", msg: "n,,\x01auth=Bearer " + tok + "\x01\x01", ok: true},
		{name: "scheme case and spaces", msg: "n,,\x01auth=bEaReR   " + tok + "\x01\x01", ok: true},
		{name: "extensions before auth", msg: "n,,\x01a=1\x01auth=Bearer " + tok + "\x01z=x y\tz\x01\x01", ok: true},
		{name: "auth twice, last wins", msg: "n,,\x01auth=Bearer x\x01auth=Bearer " + tok + "\x01\x01", ok: true},
		{name: "authzid", msg: "n,a=alice,\x01auth=Bearer " + tok + "\x01\x01", ok: true},
		{name: "escaped authzid", msg: "n,a=al=2Cice,\x01auth=Bearer " + tok + "\x01\x01",
			err: "Authentication failed: Client requested an authorization id (al,ice) that is different from the token's principal name (alice)"},
		{name: "padded segments", msg: "n,,\x01auth=Bearer " + base64.URLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.URLEncoding.EncodeToString([]byte(`{"sub":"alice","exp":9999999999}`)) + ".\x01\x01"},
		{name: "empty", msg: ""},
		{name: "kvsep", msg: "\x01"},
		{name: "channel binding y", msg: "y,,\x01auth=Bearer " + tok + "\x01\x01"},
		{name: "channel binding p", msg: "p=tls-unique,,\x01auth=Bearer " + tok + "\x01\x01"},
		{name: "no gs2", msg: "\x01auth=Bearer " + tok + "\x01\x01"},
		{name: "unterminated gs2", msg: "n,a=alice"},
		{name: "bad gs2", msg: "n,b=alice,\x01auth=Bearer " + tok + "\x01\x01"},
		{name: "empty authzid", msg: "n,a=,\x01auth=Bearer " + tok + "\x01\x01"},
		{name: "bad authzid escape", msg: "n,a=a=b,\x01auth=Bearer " + tok + "\x01\x01"},
		{name: "non-ASCII authzid", msg: "n,a=ä,\x01auth=Bearer " + tok + "\x01\x01"},
		{name: "no auth", msg: "n,,\x01\x01"},
		{name: "only extensions", msg: "n,,\x01foo=bar\x01\x01"},
		{name: "no final kvsep", msg: "n,,\x01auth=Bearer " + tok + "\x01"},
		{name: "one kvsep", msg: "n,,\x01"},
		{name: "no leading kvsep", msg: "n,,auth=Bearer " + tok + "\x01\x01"},
		{name: "extra kvsep", msg: "n,,\x01auth=Bearer " + tok + "\x01\x01\x01"},
		{name: "bad key", msg: "n,,\x01auth=Bearer " + tok + "\x01k1=v\x01\x01"},
		{name: "empty value", msg: "n,,\x01auth=Bearer " + tok + "\x01k=\x01\x01"},
		{name: "bad value", msg: "n,,\x01auth=Bearer " + tok + "\x01k=\x7f\x01\x01"},
		{name: "no equals", msg: "n,,\x01auth=Bearer " + tok + "\x01k\x01\x01"},
		{name: "basic scheme", msg: "n,,\x01auth=Basic " + tok + "\x01\x01"},
		{name: "no scheme", msg: "n,,\x01auth=" + tok + "\x01\x01"},
		{name: "no token", msg: "n,,\x01auth=Bearer \x01\x01"},
		{name: "tab separator", msg: "n,,\x01auth=Bearer\t" + tok + "\x01\x01"},
		{name: "bad token char", msg: "n,,\x01auth=Bearer " + tok + "!\x01\x01"},
		{name: "token space", msg: "n,,\x01auth=Bearer " + tok + " x\x01\x01"},
		{name: "only padding", msg: "n,,\x01auth=Bearer ==\x01\x01"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSession(t, OAuthBearer, oauthConfig())
			resp, done, err := s.Step([]byte(c.msg))
			if c.ok {
				if err != nil || !done {
					t.Fatalf("resp=%q done=%v err=%v (%s)", resp, done, err, FailureDetail(err))
				}
				return
			}
			if done || resp != nil {
				t.Errorf("resp=%q done=%v", resp, done)
			}
			want := c.err
			if want == "" {
				want = genericMsg(OAuthBearer)
			}
			wantAuthErr(t, err, want)
			noSecrets(t, err, tok)
		})
	}
}

// TestOAuthConfig checks the validator settings NewSession refuses.
func TestOAuthConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"negative skew":     {OAuthClockSkew: -time.Millisecond},
		"empty scope":       {OAuthRequiredScope: []string{""}},
		"scope with space":  {OAuthRequiredScope: []string{"a b"}},
		"scope with quote":  {OAuthRequiredScope: []string{`a"`}},
		"scope with bslash": {OAuthRequiredScope: []string{`a\`}},
	} {
		if _, err := NewSession(OAuthBearer, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// OAUTHBEARER needs no Store, and defaults to time.Now.
	s := newSession(t, OAuthBearer, Config{})
	exp := time.Now().Add(time.Minute).Unix()
	if _, done, err := s.Step([]byte("n,,\x01auth=Bearer " + jws(t, noneHeader, map[string]any{"sub": "u", "exp": exp}) + "\x01\x01")); err != nil || !done {
		t.Fatalf("done=%v err=%v", done, err)
	}
	if !s.Expiry().Equal(time.Unix(exp, 0)) {
		t.Errorf("expiry %v", s.Expiry())
	}
}
