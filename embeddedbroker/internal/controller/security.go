package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Security metadata: what the cluster stores for authentication (SCRAM
// credentials, as Kafka's UserScramCredentialRecord) and the client quotas
// (Kafka's ClientQuotaRecord) and ACLs (AccessControlEntryRecord), in the
// encodings of the quota package's Store and the acl package's
// Authorizer, which the controller keeps as they are: each change
// replaces the whole set, which stays small next to the topics.

// ScramCredential is one user's stored credential for one SCRAM mechanism:
// never the password, only what RFC 5802 has the server keep.
type ScramCredential struct {
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"storedKey"`
	ServerKey  []byte `json:"serverKey"`
	Iterations int32  `json:"iterations"`
}

// ScramKey names a credential: a user and a mechanism ("SCRAM-SHA-256").
type ScramKey struct {
	User      string
	Mechanism string
}

// ScramChange upserts or deletes one credential.
type ScramChange struct {
	ScramKey
	Delete bool
	Cred   ScramCredential // when not Delete
}

// ErrNoSuchCredential is a deletion of a credential that does not exist
// (Kafka's RESOURCE_NOT_FOUND).
var ErrNoSuchCredential = errors.New("controller: no such SCRAM credential")

// scramRecord sets or deletes one credential.
type scramRecord struct {
	User      string           `json:"user"`
	Mechanism string           `json:"mechanism"`
	Cred      *ScramCredential `json:"cred,omitempty"` // nil deletes
}

// ScramCredential returns user's credential for mechanism.
func (im *Image) ScramCredential(user, mechanism string) (ScramCredential, bool) {
	c, ok := im.scram[ScramKey{user, mechanism}]
	return c, ok
}

// ScramCredentials returns every stored credential's key, sorted by user
// then mechanism.
func (im *Image) ScramCredentials() []ScramKey {
	keys := slices.Collect(maps.Keys(im.scram))
	slices.SortFunc(keys, func(a, b ScramKey) int {
		if a.User != b.User {
			return cmpString(a.User, b.User)
		}
		return cmpString(a.Mechanism, b.Mechanism)
	})
	return keys
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// applyScram applies a scramRecord to n (a copy of an image being built).
func (n *Image) applyScram(r *scramRecord, d *Delta) error {
	k := ScramKey{r.User, r.Mechanism}
	m := maps.Clone(n.scram)
	if m == nil {
		m = map[ScramKey]ScramCredential{}
	}
	if r.Cred == nil {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("controller: record deletes the %s credential of %q, which does not exist", r.Mechanism, r.User)
		}
		delete(m, k)
	} else {
		m[k] = *r.Cred
	}
	n.scram = m
	d.Security = true
	return nil
}

// AlterScramCredentials applies changes in one metadata change and returns
// each one's outcome in order: nil, or ErrNoSuchCredential for a deletion
// of what does not exist. A change that fails is left out; the others are
// applied.
func (l *Local) AlterScramCredentials(_ context.Context, changes []ScramChange) ([]error, error) {
	errs := make([]error, len(changes))
	err := l.change(func(im *Image) ([]record, error) {
		exists := maps.Clone(im.scram)
		if exists == nil {
			exists = map[ScramKey]ScramCredential{}
		}
		var recs []record
		for i, c := range changes {
			if c.Delete {
				if _, ok := exists[c.ScramKey]; !ok {
					errs[i] = fmt.Errorf("%w: %s for %q", ErrNoSuchCredential, c.Mechanism, c.User)
					continue
				}
				delete(exists, c.ScramKey)
				recs = append(recs, record{Scram: &scramRecord{User: c.User, Mechanism: c.Mechanism}})
				continue
			}
			cred := c.Cred
			exists[c.ScramKey] = cred
			recs = append(recs, record{Scram: &scramRecord{User: c.User, Mechanism: c.Mechanism, Cred: &cred}})
		}
		return recs, nil
	})
	return errs, err
}

// Endpoint is one of a broker's client listeners, as clients are told.
type Endpoint struct {
	Name string `json:"name"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

// Endpoint returns where the broker serves the listener named listener:
// the broker's Host and Port when listener is empty or the broker
// registered no listeners; ok is false when it has no such listener
// (Kafka then leaves the broker out of that listener's metadata).
func (b Broker) Endpoint(listener string) (host string, port int32, ok bool) {
	if listener == "" || len(b.Listeners) == 0 {
		return b.Host, b.Port, true
	}
	for _, e := range b.Listeners {
		if e.Name == listener {
			return e.Host, e.Port, true
		}
	}
	return "", -1, false
}

// quotasRecord replaces the client quotas with a quota.Store snapshot.
type quotasRecord struct {
	Snapshot json.RawMessage `json:"snapshot"`
}

// ClientQuotas returns the client quotas, as a quota.Store snapshot; nil
// when none were ever set.
func (im *Image) ClientQuotas() []byte { return im.quotas }

// UpdateClientQuotas replaces the client quotas with what update returns
// given the current ones (nil when none were set), in one metadata change
// made under the controller's lock, so that concurrent updates do not
// lose each other's changes; update returning nil changes nothing.
func (l *Local) UpdateClientQuotas(_ context.Context, update func(cur []byte) ([]byte, error)) error {
	return l.change(func(im *Image) ([]record, error) {
		next, err := update(im.quotas)
		if err != nil || next == nil {
			return nil, err
		}
		return []record{{Quotas: &quotasRecord{Snapshot: next}}}, nil
	})
}

// aclsRecord replaces the ACLs with an acl.Authorizer snapshot.
type aclsRecord struct {
	Snapshot json.RawMessage `json:"snapshot"`
}

// ACLs returns the ACLs, as an acl.Authorizer snapshot; nil when none were
// ever created.
func (im *Image) ACLs() []byte { return im.acls }

// UpdateACLs replaces the ACLs with what update returns given the current
// ones, as UpdateClientQuotas does for quotas.
func (l *Local) UpdateACLs(_ context.Context, update func(cur []byte) ([]byte, error)) error {
	return l.change(func(im *Image) ([]record, error) {
		next, err := update(im.acls)
		if err != nil || next == nil {
			return nil, err
		}
		return []record{{ACLs: &aclsRecord{Snapshot: next}}}, nil
	})
}
