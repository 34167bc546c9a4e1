package quota

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Quota configuration keys valid for user and client-id entities (Kafka's
// QuotaConfig.userAndClientQuotaConfigs).
const (
	ProducerByteRate       = "producer_byte_rate"       // bytes/s, integral (Kafka type LONG)
	ConsumerByteRate       = "consumer_byte_rate"       // bytes/s, integral (Kafka type LONG)
	RequestPercentage      = "request_percentage"       // % of one thread (Kafka type DOUBLE)
	ControllerMutationRate = "controller_mutation_rate" // partition mutations/s (Kafka type DOUBLE); stored, not enforced
)

const numKeys = 4

// keyNames is indexed by key index; Kind values are key indexes.
var keyNames = [numKeys]string{ProducerByteRate, ConsumerByteRate, RequestPercentage, ControllerMutationRate}

// integral reports, per key index, whether Kafka defines the key as LONG.
var integral = [numKeys]bool{true, true, false, false}

// describeOrder lists key indexes by key name, for deterministic output.
var describeOrder = [numKeys]int{1, 3, 0, 2}

func keyIndex(key string) int {
	for i, k := range keyNames {
		if k == key {
			return i
		}
	}
	return -1
}

// values is one entity's configured quotas.
type values struct {
	v   [numKeys]float64
	set [numKeys]bool
}

func (v *values) empty() bool { return v.set == [numKeys]bool{} }

// Store holds the configured client quotas (entity -> key -> value), as
// Kafka's ClientQuotasImage does, and answers both the admin APIs and the
// Managers' lookups. It is safe for concurrent use. The zero value is not
// usable; call NewStore.
type Store struct {
	mu       sync.RWMutex
	entities map[Entity]*values
	// levels counts, per key and precedence level, the entities that set
	// the key, so lookups skip levels nothing is configured at.
	levels [numKeys][9]int
	// enabled is Kafka's quotaTypesEnabled, per key: the levels (bits
	// clientIDLevels, userLevels, userClientIDLevels) any quota for the
	// key has ever been configured at; never cleared. Zero is Kafka's
	// quotasEnabled false.
	enabled [numKeys]atomic.Uint32
}

// The bits of Store.enabled (Kafka's QuotaTypes).
const (
	clientIDLevels     = 1 // /config/clients/...
	userLevels         = 2 // /config/users/<user or default>
	userClientIDLevels = 4 // /config/users/.../clients/...
)

func (e Entity) typeBit() uint32 {
	switch {
	case e.User.IsSet() && e.ClientID.IsSet():
		return userClientIDLevels
	case e.User.IsSet():
		return userLevels
	}
	return clientIDLevels
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{entities: make(map[Entity]*values)}
}

// Validate reports whether Alter(e, ops) would succeed, without changing
// anything (AlterClientQuotas with validate_only).
func (s *Store) Validate(e Entity, ops []kmsg.AlterClientQuotasRequestEntryOp) error {
	return validateOps(e, ops)
}

// Alter applies ops to entity e atomically, validating as Kafka's
// ClientQuotaControlManager: every error is INVALID_REQUEST and leaves the
// entity unchanged. An op with Remove deletes the key (a key not set, even
// an unknown one, is not an error); otherwise the key must be one of the
// four user/client-id quota keys and the value > 0, and for the byte rates
// integral (within 1e-6) and at most 2^63. A key may appear once per call.
// NaN and infinite values are refused (Kafka accepts some of them).
func (s *Store) Alter(e Entity, ops []kmsg.AlterClientQuotasRequestEntryOp) error {
	if err := validateOps(e, ops); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyLocked(e, ops)
	return nil
}

func validateOps(e Entity, ops []kmsg.AlterClientQuotasRequestEntryOp) error {
	for i, op := range ops {
		for _, prev := range ops[:i] {
			if prev.Key == op.Key {
				return invalid("Duplicate quota key %s not updating quota for this entity %s", op.Key, e)
			}
		}
	}
	if err := e.validate(); err != nil {
		return err
	}
	for _, op := range ops {
		if op.Remove {
			continue
		}
		if err := validateValue(op.Key, op.Value); err != nil {
			return err
		}
	}
	return nil
}

// validateValue is ClientQuotaControlManager.validateQuotaKeyValue.
func validateValue(key string, v float64) error {
	k := keyIndex(key)
	switch {
	case k < 0:
		return invalid("Invalid configuration key %s", key)
	case math.IsNaN(v) || math.IsInf(v, 0):
		return invalid("Quota %s must be a finite number", key)
	case v <= 0:
		return invalid("Quota %s must be greater than 0", key)
	case !integral[k]:
		return nil
	case v > math.MaxInt64:
		return invalid("Proposed value for %s is too large for a LONG.", key)
	case math.Abs(math.Mod(v, 1)) > 1e-6:
		return invalid("%s cannot be a fractional value.", key)
	}
	return nil
}

func (s *Store) applyLocked(e Entity, ops []kmsg.AlterClientQuotasRequestEntryOp) {
	vals := s.entities[e]
	if vals == nil {
		vals = new(values)
	}
	lvl := e.level()
	for _, op := range ops {
		k := keyIndex(op.Key)
		if k < 0 { // removal of an unknown key
			continue
		}
		if op.Remove {
			if vals.set[k] {
				vals.set[k] = false
				vals.v[k] = 0
				s.levels[k][lvl]--
			}
			continue
		}
		if !vals.set[k] {
			vals.set[k] = true
			s.levels[k][lvl]++
		}
		vals.v[k] = op.Value
		s.enabled[k].Or(e.typeBit())
	}
	if vals.empty() {
		delete(s.entities, e)
	} else {
		s.entities[e] = vals
	}
}

// lookup returns the value of key k configured for e.
func (s *Store) lookup(k int, e Entity) (float64, bool) {
	if v := s.entities[e]; v != nil && v.set[k] {
		return v.v[k], true
	}
	return 0, false
}

// has reports whether level lvl has any quota for key k and e sets k.
func (s *Store) has(k, lvl int, e Entity) bool {
	if s.levels[k][lvl] == 0 {
		return false
	}
	_, ok := s.lookup(k, e)
	return ok
}

// resolve returns, for a connection of user and clientID, the metric tags
// its usage is tracked under and the quota bound for key k. It follows
// Kafka's DefaultQuotaCallback in two steps: quotaMetricTags names the
// sensor after the level found in the precedence list (the user, the
// client-id or both), then quotaLimit looks the bound up again from those
// tags alone. The two steps agree except for an empty user or client-id,
// where Kafka's behaviour is kept as is (an empty tag means "not part of
// the entity").
func (s *Store) resolve(k int, user, clientID string) (tagUser, tagClient string, bound float64, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	tagUser, tagClient = s.metricTags(k, user, clientID)
	bound, ok = s.quotaLimit(k, tagUser, tagClient)
	return
}

// metricTags is DefaultQuotaCallback.quotaMetricTags: while quotas of the
// key have only ever been configured at one kind of level the tags are that
// kind's, found or not; otherwise the precedence list is walked.
func (s *Store) metricTags(k int, user, clientID string) (string, string) {
	switch s.enabled[k].Load() {
	case 0, clientIDLevels:
		return "", clientID
	case userLevels:
		return user, ""
	case userClientIDLevels:
		return user, clientID
	}
	u, c := Named(user), Named(clientID)
	switch {
	case s.has(k, 1, Entity{u, c}), // /config/users/<user>/clients/<client-id>
		s.has(k, 2, Entity{u, Default()}): // /config/users/<user>/clients/<default>
		return user, clientID
	case s.has(k, 3, Entity{User: u}): // /config/users/<user>
		return user, ""
	case s.has(k, 4, Entity{Default(), c}), // /config/users/<default>/clients/<client-id>
		s.has(k, 5, Entity{Default(), Default()}): // /config/users/<default>/clients/<default>
		return user, clientID
	case s.has(k, 6, Entity{User: Default()}): // /config/users/<default>
		return user, ""
	}
	return "", clientID // /config/clients/<client-id>, /config/clients/<default>
}

// quotaLimit is DefaultQuotaCallback.quotaLimit.
func (s *Store) quotaLimit(k int, user, clientID string) (float64, bool) {
	var try [4]Entity
	var n int
	switch {
	case user != "" && clientID != "":
		try = [4]Entity{{Named(user), Named(clientID)}, {Named(user), Default()}, {Default(), Named(clientID)}, {Default(), Default()}}
		n = 4
	case user != "":
		try[0], try[1] = Entity{User: Named(user)}, Entity{User: Default()}
		n = 2
	case clientID != "":
		try[0], try[1] = Entity{ClientID: Named(clientID)}, Entity{ClientID: Default()}
		n = 2
	}
	for _, e := range try[:n] {
		if s.levels[k][e.level()] == 0 {
			continue
		}
		if v, ok := s.lookup(k, e); ok {
			return v, true
		}
	}
	return 0, false
}

// Describe answers DescribeClientQuotas as Kafka's ClientQuotasImage.describe:
// each component filters on one entity type with match type EXACT (0, that
// name; Match must be set), DEFAULT (1, the <default> entity; Match must be
// nil) or ANY (2, any name or default; Match must be nil). An entity matches
// when it has every filtered type matching; with strict it must also have no
// other type. An empty or repeated type, a bad match or match type, or ip
// combined with user or client-id is INVALID_REQUEST; a type other than
// user, client-id and ip is UNSUPPORTED_VERSION. Entries come sorted by
// entity and values by key.
func (s *Store) Describe(components []kmsg.DescribeClientQuotasRequestComponent, strict bool) ([]kmsg.DescribeClientQuotasResponseEntry, error) {
	type filter struct {
		on    bool
		exact bool
		c     Component
	}
	var user, client, ip filter
	for _, comp := range components {
		if comp.EntityType == "" {
			return nil, invalid("Invalid empty entity type.")
		}
		var f *filter
		switch comp.EntityType {
		case EntityUser:
			f = &user
		case EntityClientID:
			f = &client
		case EntityIP:
			f = &ip
		default:
			return nil, &Error{Err: kerr.UnsupportedVersion, Message: "Unsupported entity type " + comp.EntityType}
		}
		if f.on {
			return nil, invalid("Entity type %s cannot appear more than once in the filter.", comp.EntityType)
		}
		f.on = true
		switch comp.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if comp.Match == nil {
				return nil, invalid("Request specified MATCH_TYPE_EXACT, but set match string to null.")
			}
			f.exact, f.c = true, Named(*comp.Match)
		case kmsg.QuotasMatchTypeDefault:
			if comp.Match != nil {
				return nil, invalid("Request specified MATCH_TYPE_DEFAULT, but also specified a match string.")
			}
			f.exact, f.c = true, Default()
		case kmsg.QuotasMatchTypeAny:
			if comp.Match != nil {
				return nil, invalid("Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.")
			}
		default:
			return nil, invalid("Unknown match type %d", comp.MatchType)
		}
	}
	if ip.on && (user.on || client.on) {
		return nil, invalid("Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.")
	}
	matches := func(f filter, c Component) bool {
		return !f.on || c.IsSet() && (!f.exact || c == f.c)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var found []Entity
	for e := range s.entities {
		if ip.on { // no ip entities are stored
			continue
		}
		if strict && (user.on != e.User.IsSet() || client.on != e.ClientID.IsSet()) {
			continue
		}
		if matches(user, e.User) && matches(client, e.ClientID) {
			found = append(found, e)
		}
	}
	slices.SortFunc(found, Entity.compare)
	out := make([]kmsg.DescribeClientQuotasResponseEntry, 0, len(found))
	for _, e := range found {
		entry := kmsg.NewDescribeClientQuotasResponseEntry()
		entry.Entity = e.describeEntity()
		vals := s.entities[e]
		for _, k := range describeOrder {
			if vals.set[k] {
				entry.Values = append(entry.Values, kmsg.DescribeClientQuotasResponseEntryValue{Key: keyNames[k], Value: vals.v[k]})
			}
		}
		out = append(out, entry)
	}
	return out, nil
}

// DescribeClientQuotas answers a DescribeClientQuotas request (see
// Describe); a filter error is the response's top-level error, with null
// entries, as Kafka's getErrorResponse. Authorization (DESCRIBE_CONFIGS on
// the cluster) is the caller's.
func (s *Store) DescribeClientQuotas(req *kmsg.DescribeClientQuotasRequest) *kmsg.DescribeClientQuotasResponse {
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	entries, err := s.Describe(req.Components, req.Strict)
	if err != nil {
		code, msg := errorOf(err)
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		return resp
	}
	resp.Entries = entries
	return resp
}

// AlterClientQuotas answers an AlterClientQuotas request: each entry is
// parsed (ParseEntity), validated and, unless ValidateOnly, applied (Alter)
// on its own, so one bad entry fails alone; the whole request is applied
// under one lock. An entity that appears a second time in the request is
// INVALID_REQUEST. Response entries follow the request's order and echo
// its entities. Authorization (ALTER_CONFIGS on the cluster) is the
// caller's.
func (s *Store) AlterClientQuotas(req *kmsg.AlterClientQuotasRequest) *kmsg.AlterClientQuotasResponse {
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[Entity]bool, len(req.Entries))
	for _, in := range req.Entries {
		out := kmsg.NewAlterClientQuotasResponseEntry()
		for _, c := range in.Entity {
			out.Entity = append(out.Entity, kmsg.AlterClientQuotasResponseEntryEntity(c))
		}
		e, err := ParseEntity(in.Entity)
		if err == nil && seen[e] {
			err = invalid("Ignoring duplicate entity %s", e)
		}
		if err == nil {
			seen[e] = true
			err = validateOps(e, in.Ops)
		}
		if err != nil {
			code, msg := errorOf(err)
			out.ErrorCode, out.ErrorMessage = code, &msg
		} else if !req.ValidateOnly {
			s.applyLocked(e, in.Ops)
		}
		resp.Entries = append(resp.Entries, out)
	}
	return resp
}

func errorOf(err error) (int16, string) {
	var qe *Error
	if errors.As(err, &qe) {
		return qe.Err.Code, qe.Message
	}
	return kerr.UnknownServerError.Code, err.Error()
}

// snapshot is the persisted form: version 1, entities sorted, each with its
// user and client-id component ({"name": n} or {"default": true}, omitted
// when absent) and its quotas by key.
type snapshot struct {
	Version  int         `json:"version"`
	Entities []snapEntry `json:"entities"`
}

type snapEntry struct {
	User     *snapName          `json:"user,omitempty"`
	ClientID *snapName          `json:"client-id,omitempty"`
	Quotas   map[string]float64 `json:"quotas"`
}

type snapName struct {
	Name    string `json:"name,omitempty"`
	Default bool   `json:"default,omitempty"`
}

func toSnapName(c Component) *snapName {
	switch c.kind {
	case defaultName:
		return &snapName{Default: true}
	case named:
		return &snapName{Name: c.name}
	}
	return nil
}

func (n *snapName) component() (Component, error) {
	switch {
	case n == nil:
		return Component{}, nil
	case n.Default && n.Name != "":
		return Component{}, fmt.Errorf("quota: snapshot entity component is both default and named %q", n.Name)
	case n.Default:
		return Default(), nil
	}
	return Named(n.Name), nil
}

// Snapshot encodes the configured quotas deterministically (JSON, entities
// sorted, keys sorted): equal contents give equal bytes.
func (s *Store) Snapshot() []byte {
	s.mu.RLock()
	snap := snapshot{Version: 1, Entities: make([]snapEntry, 0, len(s.entities))}
	es := make([]Entity, 0, len(s.entities))
	for e := range s.entities {
		es = append(es, e)
	}
	slices.SortFunc(es, Entity.compare)
	for _, e := range es {
		vals := s.entities[e]
		q := make(map[string]float64, numKeys)
		for k := range numKeys {
			if vals.set[k] {
				q[keyNames[k]] = vals.v[k]
			}
		}
		snap.Entities = append(snap.Entities, snapEntry{User: toSnapName(e.User), ClientID: toSnapName(e.ClientID), Quotas: q})
	}
	s.mu.RUnlock()
	b, err := json.Marshal(snap)
	if err != nil { // values are validated finite: cannot happen
		panic(err)
	}
	return b
}

// Restore replaces the Store's contents with a Snapshot, validating every
// entity and value as Alter does; on error nothing changes. Keys restored
// enable their Managers as an Alter would.
func (s *Store) Restore(b []byte) error {
	var snap snapshot
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&snap); err != nil {
		return fmt.Errorf("quota: decoding snapshot: %w", err)
	}
	if snap.Version != 1 {
		return fmt.Errorf("quota: unsupported snapshot version %d", snap.Version)
	}
	n := NewStore()
	for _, se := range snap.Entities {
		var e Entity
		var err error
		if e.User, err = se.User.component(); err != nil {
			return err
		}
		if e.ClientID, err = se.ClientID.component(); err != nil {
			return err
		}
		if _, dup := n.entities[e]; dup {
			return fmt.Errorf("quota: snapshot repeats entity %s", e)
		}
		ops := make([]kmsg.AlterClientQuotasRequestEntryOp, 0, len(se.Quotas))
		for k, v := range se.Quotas {
			ops = append(ops, kmsg.AlterClientQuotasRequestEntryOp{Key: k, Value: v})
		}
		if err := validateOps(e, ops); err != nil {
			return fmt.Errorf("quota: snapshot entity %s: %w", e, err)
		}
		n.applyLocked(e, ops)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entities, s.levels = n.entities, n.levels
	for k := range numKeys {
		s.enabled[k].Or(n.enabled[k].Load())
	}
	return nil
}
