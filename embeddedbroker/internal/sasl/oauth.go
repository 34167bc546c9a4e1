package sasl

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// oauthMech is OAUTHBEARER (RFC 7628) as Kafka's OAuthBearerSaslServer
// does it with its default validator, OAuthBearerUnsecuredValidatorCallbackHandler:
// the token is an unsecured JWS (alg "none", no signature) whose claims
// are checked, not a signed one.
type oauthMech struct {
	now            func() time.Time
	principalClaim string
	scopeClaim     string
	requiredScope  []string
	skewMs         int64

	errorJSON   string // the error the client was sent, awaiting its %x01
	errorDetail error
	user        string
	exp         time.Time
}

func newOAuthMech(cfg Config) (*oauthMech, error) {
	o := &oauthMech{
		now:            cfg.Now,
		principalClaim: strings.TrimSpace(cfg.OAuthPrincipalClaim),
		scopeClaim:     strings.TrimSpace(cfg.OAuthScopeClaim),
		requiredScope:  slices.Clone(cfg.OAuthRequiredScope),
		skewMs:         cfg.OAuthClockSkew.Milliseconds(),
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.principalClaim == "" {
		o.principalClaim = "sub"
	}
	if o.scopeClaim == "" {
		o.scopeClaim = "scope"
	}
	if cfg.OAuthClockSkew < 0 {
		return nil, fmt.Errorf("sasl: OAUTHBEARER allowable clock skew must not be negative: %v", cfg.OAuthClockSkew)
	}
	for _, s := range o.requiredScope {
		if s == "" || !allBytes(s, isScopeChar) {
			return nil, fmt.Errorf("sasl: OAUTHBEARER required scope: Invalid scope value: %q", s)
		}
	}
	return o, nil
}

// isScopeChar reports whether c may be in a scope item (RFC 6749 section
// 3.3, Kafka's OAuthBearerScopeUtils).
func isScopeChar(c byte) bool {
	return c == 0x21 || c >= 0x23 && c <= 0x5b || c >= 0x5d && c <= 0x7e
}

func (o *oauthMech) principal() string { return o.user }

func (o *oauthMech) expiry() time.Time { return o.exp }

func (o *oauthMech) step(token []byte) ([]byte, bool, *failure) {
	if o.errorJSON != "" {
		// RFC 7628 section 3.2.2: after the server's error the client
		// sends %x01 and the server fails the exchange; Kafka sends the
		// error as the message. (Kafka would take anything else as a new
		// initial response.)
		if len(token) != 1 || token[0] != 0x01 {
			return nil, false, failMsg(o.errorJSON, fmt.Errorf("client did not answer the error with %%x01: %w", o.errorDetail))
		}
		return nil, false, failMsg(o.errorJSON, o.errorDetail)
	}
	authzid, tokenValue, err := parseOAuthInitial(string(token))
	if err != nil {
		return nil, false, &failure{detail: err}
	}
	jws, status, scope, err := o.validate(tokenValue)
	if err != nil {
		o.errorJSON = jsonErrorResponse(status, scope)
		o.errorDetail = err
		return []byte(o.errorJSON), false, nil
	}
	if authzid != "" && authzid != jws.principal {
		return nil, false, failMsg(fmt.Sprintf("Authentication failed: Client requested an authorization id (%s) that is different from the token's principal name (%s)", authzid, jws.principal), nil)
	}
	o.user, o.exp = jws.principal, jws.expiry
	return []byte{}, true, nil
}

// jsonErrorResponse formats the server's error (RFC 7628 section 3.2.2)
// as Kafka does, spaces and all. scope has only scope characters, so it
// needs no escaping.
func jsonErrorResponse(status, scope string) string {
	s := `{"status":"` + status + `"`
	if scope != "" {
		s += `, "scope":"` + scope + `"`
	}
	return s + "}"
}

// parseOAuthInitial parses the client's initial response as Kafka's
// OAuthBearerClientInitialResponse does:
//
//	n,[a=authzid],%x01auth=<scheme> <token>%x01[key=value%x01...]%x01
//
// with ASCII saslname, key [A-Za-z]+ and value [\x21-\x7E \t\r\n]+; the
// pairs may come in any order, and the last of a repeated key counts. The
// extensions are accepted and ignored, as Kafka's unsecured validator
// accepts them all.
func parseOAuthInitial(msg string) (authzid, token string, err error) {
	if !strings.HasPrefix(msg, "n,") {
		if strings.HasPrefix(msg, "y,") || strings.HasPrefix(msg, "p=") {
			return "", "", errors.New("invalid OAUTHBEARER client first message: channel binding is not supported")
		}
		return "", "", errors.New("invalid OAUTHBEARER client first message: no gs2 header")
	}
	rest := msg[2:]
	end := strings.IndexByte(rest, ',')
	if end < 0 {
		return "", "", errors.New("invalid OAUTHBEARER client first message: unterminated gs2 header")
	}
	if a := rest[:end]; a != "" {
		if !strings.HasPrefix(a, "a=") {
			return "", "", errors.New("invalid OAUTHBEARER client first message: invalid gs2 header")
		}
		if authzid, err = decodeSaslName(a[2:]); err != nil {
			return "", "", fmt.Errorf("invalid OAUTHBEARER client first message: authorization id: %w", err)
		}
	}
	rest = rest[end+1:]
	if len(rest) < 2 || rest[0] != 0x01 || rest[len(rest)-1] != 0x01 {
		return "", "", errors.New("invalid OAUTHBEARER client first message: key/value pairs are not framed by %x01")
	}
	pairs := rest[1 : len(rest)-1] // key=value%x01 ...
	if pairs == "" {
		return "", "", errors.New("invalid OAUTHBEARER client first message: 'auth' not specified")
	}
	if pairs[len(pairs)-1] != 0x01 {
		return "", "", errors.New("invalid OAUTHBEARER client first message: key/value pair not ended by %x01")
	}
	var auth string
	var haveAuth bool
	for _, kv := range strings.Split(pairs[:len(pairs)-1], "\x01") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" || !allBytes(k, isASCIILetter) || !allBytes(v, isOAuthValueChar) {
			return "", "", fmt.Errorf("invalid OAUTHBEARER client first message: invalid key/value pair")
		}
		if k == "auth" {
			auth, haveAuth = v, true
		}
	}
	if !haveAuth {
		return "", "", errors.New("invalid OAUTHBEARER client first message: 'auth' not specified")
	}
	scheme, token, ok := strings.Cut(auth, " ")
	token = strings.TrimLeft(token, " ")
	if !ok || scheme == "" || !allBytes(scheme, isWordChar) || !isBearerToken(token) {
		return "", "", errors.New("invalid OAUTHBEARER client first message: invalid 'auth' format")
	}
	if !strings.EqualFold(scheme, "bearer") {
		return "", "", fmt.Errorf("invalid scheme in OAUTHBEARER client first message: %s", quote(scheme))
	}
	return authzid, token, nil
}

func isOAuthValueChar(c byte) bool {
	return c >= 0x21 && c <= 0x7e || c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

func isWordChar(c byte) bool { return isASCIILetter(c) || '0' <= c && c <= '9' || c == '_' }

// isBearerToken reports whether s is a b64token (RFC 6750 section 2.1):
// [-_~+/.a-zA-Z0-9]+ then "="s.
func isBearerToken(s string) bool {
	body := strings.TrimRight(s, "=")
	return body != "" && allBytes(body, func(c byte) bool {
		return isWordChar(c) || c == '-' || c == '~' || c == '+' || c == '/' || c == '.'
	})
}

// unsecuredJWS is a validated token.
type unsecuredJWS struct {
	principal string
	expiry    time.Time
}

// validate checks an unsecured JWS as Kafka's
// OAuthBearerUnsecuredValidatorCallbackHandler does. On failure it
// returns the RFC 7628 status, "invalid_token" or, for a missing scope,
// "insufficient_scope" with the required scope as Kafka formats it.
func (o *oauthMech) validate(token string) (jws unsecuredJWS, status, scope string, err error) {
	claims, err := parseUnsecuredJWS(token)
	if err != nil {
		return jws, "invalid_token", "", err
	}
	tokenScope, err := scopeOf(claims, o.scopeClaim)
	if err != nil {
		return jws, "invalid_token", "", err
	}
	exp, err := numberClaim(claims, "exp")
	if err != nil {
		return jws, "invalid_token", "", err
	}
	raw, ok := claims[o.principalClaim]
	if !ok || raw == nil {
		return jws, "invalid_token", "", fmt.Errorf("No principal name in JWT claim: %s", o.principalClaim)
	}
	principal, ok := raw.(string)
	if !ok {
		return jws, "invalid_token", "", fmt.Errorf("The '%s' claim was not of type String", o.principalClaim)
	}
	if strings.TrimSpace(principal) == "" {
		return jws, "invalid_token", "", fmt.Errorf("No principal name in JWT claim: %s", o.principalClaim)
	}
	iat, err := numberClaim(claims, "iat")
	if err != nil && !errors.Is(err, errNoClaim) {
		return jws, "invalid_token", "", err
	}
	haveIat := err == nil

	nowMs := o.now().UnixMilli()
	if haveIat && 1000*iat > float64(nowMs+o.skewMs) {
		return jws, "invalid_token", "", fmt.Errorf("The Issued At value (%f seconds) was after the indicated time (%d ms) plus allowable clock skew (%d ms)", iat, nowMs, o.skewMs)
	}
	if float64(nowMs-o.skewMs) >= 1000*exp {
		return jws, "invalid_token", "", fmt.Errorf("The indicated time (%d ms) minus allowable clock skew (%d ms) was on or after the Expiration Time value (%f seconds)", nowMs, o.skewMs, exp)
	}
	if haveIat && exp <= iat {
		return jws, "invalid_token", "", fmt.Errorf("The Expiration Time time (%f seconds) was not after the Issued At time (%f seconds)", exp, iat)
	}
	for _, want := range o.requiredScope {
		if !slices.Contains(tokenScope, want) {
			required := "[" + strings.Join(o.requiredScope, ", ") + "]"
			return jws, "insufficient_scope", required, fmt.Errorf("The provided scope %q was missing a required scope (%s).  All required scope elements: %s", tokenScope, want, required)
		}
	}
	return unsecuredJWS{principal: principal, expiry: time.UnixMilli(secondsToMs(exp))}, "", "", nil
}

// secondsToMs is Java's Math.round(seconds * 1000): rounding half up,
// saturating.
func secondsToMs(seconds float64) int64 {
	ms := math.Floor(seconds*1000 + 0.5)
	switch {
	case ms >= math.MaxInt64:
		return math.MaxInt64
	case ms <= math.MinInt64:
		return math.MinInt64
	}
	return int64(ms)
}

// parseUnsecuredJWS checks the form of an unsecured JWS, header.claims.
// with an empty signature and a header with alg "none", and returns its
// claims.
func parseUnsecuredJWS(token string) (map[string]any, error) {
	if strings.Contains(token, "..") {
		return nil, errors.New("Malformed compact serialization contains '..'")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("Unsecured JWS compact serializations must have 3 dot-separated Base64URL-encoded values")
	}
	header, err := jsonObject(parts[0])
	if err != nil {
		return nil, fmt.Errorf("JWS header: %w", err)
	}
	claims, err := jsonObject(parts[1])
	if err != nil {
		return nil, fmt.Errorf("JWS claims: %w", err)
	}
	if alg, _ := header["alg"].(string); alg != "none" {
		return nil, errors.New("Unsecured JWS must have 'none' for an algorithm")
	}
	if parts[2] != "" {
		return nil, errors.New("Unsecured JWS must not contain a digital signature")
	}
	return claims, nil
}

// jsonObject decodes a base64url (RFC 7515; the standard alphabet and
// padding are taken too) JSON object, with numbers as json.Number.
func jsonObject(part string) (map[string]any, error) {
	trimmed := strings.TrimRight(part, "=")
	b, err := base64.RawURLEncoding.DecodeString(trimmed)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(trimmed); err != nil {
			return nil, errors.New("malformed Base64 URL encoded value")
		}
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, errors.New("malformed JSON")
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("malformed JSON: data after the object")
	}
	return m, nil
}

// errNoClaim is a claim that is absent.
var errNoClaim = errors.New("Required claim missing")

// numberClaim returns a numeric claim; null is not a number (Kafka makes
// it the string "null").
func numberClaim(claims map[string]any, name string) (float64, error) {
	raw, ok := claims[name]
	if !ok {
		return 0, fmt.Errorf("%w: %s", errNoClaim, name)
	}
	n, ok := raw.(json.Number)
	if !ok {
		return 0, fmt.Errorf("The '%s' claim was not of type Number", name)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return 0, fmt.Errorf("The '%s' claim is not a usable number: %w", name, err)
	}
	return f, nil
}

// scopeOf returns a token's scope as Kafka's OAuthBearerUnsecuredJws
// does: a string claim is one item (trimmed; none if blank), a list claim
// its nonblank items, trimmed; a missing claim no scope.
func scopeOf(claims map[string]any, name string) ([]string, error) {
	switch v := claims[name].(type) {
	case nil:
		return nil, nil
	case string:
		if s := strings.TrimSpace(v); s != "" {
			return []string{s}, nil
		}
		return nil, nil
	case []any:
		var scope []string
		for _, e := range v {
			var s string
			switch e := e.(type) {
			case string:
				s = e
			case json.Number:
				s = string(e)
			case bool:
				s = strconv.FormatBool(e)
			}
			if s = strings.TrimSpace(s); s != "" {
				scope = append(scope, s)
			}
		}
		return scope, nil
	}
	return nil, fmt.Errorf("The '%s' claim was not of type List", name)
}
