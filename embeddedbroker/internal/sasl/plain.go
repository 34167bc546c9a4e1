package sasl

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// plainMech is PLAIN (RFC 4616) as Kafka's PlainSaslServer does it: one
// client message, [authzid] NUL authcid NUL passwd, and an empty answer.
type plainMech struct {
	store Store
	user  string
}

func (p *plainMech) step(token []byte) ([]byte, bool, *failure) {
	msg := string(token)
	if !utf8.ValidString(msg) {
		return nil, false, failMsg("Invalid SASL/PLAIN response: not valid UTF-8", nil)
	}
	// Kafka cuts at the first three NULs and wants exactly three parts.
	parts := strings.SplitN(msg, "\x00", 4)
	if len(parts) != 3 {
		return nil, false, failMsg(fmt.Sprintf("Invalid SASL/PLAIN response: expected 3 tokens, got %d", len(parts)), nil)
	}
	authzid, user, password := parts[0], parts[1], parts[2]
	if user == "" {
		return nil, false, failMsg("Authentication failed: username not specified", nil)
	}
	if password == "" {
		return nil, false, failMsg("Authentication failed: password not specified", nil)
	}
	if !p.store.CheckPlain(user, password) {
		return nil, false, failMsg("Authentication failed: Invalid username or password", errors.New("PLAIN password check failed for user "+quote(user)))
	}
	if authzid != "" && authzid != user {
		return nil, false, failMsg("Authentication failed: Client requested an authorization id that is different from username", nil)
	}
	p.user = user
	return []byte{}, true, nil
}

func (p *plainMech) principal() string { return p.user }

func (p *plainMech) expiry() time.Time { return time.Time{} }

// quote quotes a client-supplied name for a detail message, bounded so
// that a huge name does not flood the logs.
func quote(s string) string {
	const max = 256
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
