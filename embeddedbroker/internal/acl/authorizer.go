package acl

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Options configures an Authorizer.
type Options struct {
	// SuperUsers are the principals ("User:admin") allowed everything
	// (super.users; see ParseSuperUsers). They are compared to the
	// principal being authorized as strings.
	SuperUsers []string
	// AllowEveryoneIfNoACLFound is allow.everyone.if.no.acl.found: the
	// answer for a resource no binding applies to.
	AllowEveryoneIfNoACLFound bool
}

// ParseSuperUsers parses a super.users value as Kafka's StandardAuthorizer
// does: principals separated by ';', each trimmed, empty ones skipped; a
// principal without a colon is an error.
func ParseSuperUsers(s string) ([]string, error) {
	var out []string
	for _, v := range strings.Split(s, ";") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if !strings.Contains(v, ":") {
			return nil, fmt.Errorf("expected a string in format principalType:principalName but got %s", v)
		}
		out = append(out, v)
	}
	return out, nil
}

// Authorizer holds ACL bindings and decides requests as Kafka's
// StandardAuthorizer. It is safe for concurrent use: decisions take a read
// lock, changes a write lock.
type Authorizer struct {
	superUsers   map[string]struct{}
	allowIfNoACL bool

	mu    sync.RWMutex
	types [256]*typeIndex // by uint8(resource type)
	count int
}

// typeIndex holds the bindings of one resource type.
type typeIndex struct {
	literal  map[string]*aclSet // LITERAL bindings by resource name, "*" included
	prefixed map[string]*aclSet // PREFIXED bindings by resource name
	prefixes []prefixSet        // the prefixed sets, sorted by name
	// byPrincipal holds the patterns each principal has entries in, so
	// that AuthorizeAny visits only those of the principal and "User:*".
	byPrincipal map[string]map[patternKey]principalEntries
}

type patternKey struct {
	name     string
	prefixed bool
}

// principalEntries is a pattern's set and how many of its entries are of
// one principal.
type principalEntries struct {
	set *aclSet
	n   int
}

type prefixSet struct {
	name string
	set  *aclSet
}

// aclSet holds the entries of one resource pattern, sorted by principal,
// host, operation, permission, so that a principal's entries are found by
// binary search. It is never empty: an emptied set is dropped.
type aclSet struct {
	entries []entry
}

type entry struct {
	principal string
	host      string
	addr      netip.Addr // host as an address (unmapped), invalid for "*" or a non-address
	op        kmsg.ACLOperation
	perm      kmsg.ACLPermissionType
}

func compareEntries(a, b *entry) int {
	if c := strings.Compare(a.principal, b.principal); c != 0 {
		return c
	}
	if c := strings.Compare(a.host, b.host); c != 0 {
		return c
	}
	if a.op != b.op {
		return int(a.op) - int(b.op)
	}
	return int(a.perm) - int(b.perm)
}

func newEntry(b Binding) entry {
	e := entry{principal: b.Principal, host: b.Host, op: b.Operation, perm: b.Permission}
	if b.Host != wildcard {
		if a, err := netip.ParseAddr(b.Host); err == nil {
			e.addr = a.Unmap()
		}
	}
	return e
}

// New returns an empty Authorizer.
func New(opts Options) *Authorizer {
	a := &Authorizer{superUsers: make(map[string]struct{}, len(opts.SuperUsers)), allowIfNoACL: opts.AllowEveryoneIfNoACLFound}
	for _, u := range opts.SuperUsers {
		a.superUsers[u] = struct{}{}
	}
	return a
}

// Len returns the number of bindings held.
func (a *Authorizer) Len() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.count
}

// Add stores bindings and returns how many were new: a binding already held
// is stored once (as Kafka's controller, which answers success for it and
// writes no record). Add does not Validate; call it first. A binding whose
// resource type or operation is UNKNOWN or ANY, whose pattern type is not
// LITERAL or PREFIXED or whose permission is not ALLOW or DENY cannot take
// part in decisions and is ignored.
func (a *Authorizer) Add(bs ...Binding) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, b := range bs {
		if storable(b) && a.addLocked(b) {
			n++
		}
	}
	a.count += n
	return n
}

func (a *Authorizer) addLocked(b Binding) bool {
	ti := a.types[uint8(b.ResourceType)]
	if ti == nil {
		ti = &typeIndex{literal: map[string]*aclSet{}, prefixed: map[string]*aclSet{}, byPrincipal: map[string]map[patternKey]principalEntries{}}
		a.types[uint8(b.ResourceType)] = ti
	}
	sets := ti.literal
	if b.PatternType == patPrefixed {
		sets = ti.prefixed
	}
	s := sets[b.ResourceName]
	if s == nil {
		s = &aclSet{}
		sets[b.ResourceName] = s
		if b.PatternType == patPrefixed {
			i, _ := slices.BinarySearchFunc(ti.prefixes, b.ResourceName, func(p prefixSet, name string) int {
				return strings.Compare(p.name, name)
			})
			ti.prefixes = slices.Insert(ti.prefixes, i, prefixSet{b.ResourceName, s})
		}
	}
	e := newEntry(b)
	i, found := slices.BinarySearchFunc(s.entries, &e, func(x entry, y *entry) int { return compareEntries(&x, y) })
	if found {
		return false
	}
	s.entries = slices.Insert(s.entries, i, e)
	pats := ti.byPrincipal[b.Principal]
	if pats == nil {
		pats = map[patternKey]principalEntries{}
		ti.byPrincipal[b.Principal] = pats
	}
	k := patternKey{b.ResourceName, b.PatternType == patPrefixed}
	pats[k] = principalEntries{s, pats[k].n + 1}
	return true
}

// removeLocked removes b, which is held.
func (a *Authorizer) removeLocked(b Binding) {
	ti := a.types[uint8(b.ResourceType)]
	if ti == nil {
		return
	}
	sets := ti.literal
	if b.PatternType == patPrefixed {
		sets = ti.prefixed
	}
	s := sets[b.ResourceName]
	if s == nil {
		return
	}
	e := newEntry(b)
	i, found := slices.BinarySearchFunc(s.entries, &e, func(x entry, y *entry) int { return compareEntries(&x, y) })
	if !found {
		return
	}
	s.entries = slices.Delete(s.entries, i, i+1)
	a.count--
	pats, k := ti.byPrincipal[b.Principal], patternKey{b.ResourceName, b.PatternType == patPrefixed}
	if pe := pats[k]; pe.n > 1 {
		pats[k] = principalEntries{s, pe.n - 1}
	} else {
		delete(pats, k)
		if len(pats) == 0 {
			delete(ti.byPrincipal, b.Principal)
		}
	}
	if len(s.entries) > 0 {
		return
	}
	delete(sets, b.ResourceName)
	if b.PatternType == patPrefixed {
		i, found := slices.BinarySearchFunc(ti.prefixes, b.ResourceName, func(p prefixSet, name string) int {
			return strings.Compare(p.name, name)
		})
		if found {
			ti.prefixes = slices.Delete(ti.prefixes, i, i+1)
		}
	}
	if len(ti.literal) == 0 && len(ti.prefixed) == 0 {
		a.types[uint8(b.ResourceType)] = nil
	}
}

// Remove removes the bindings f matches and returns them, in the order of
// Bindings.
func (a *Authorizer) Remove(f Filter) []Binding {
	return a.DeleteAcls(f)[0]
}

// DeleteAcls removes the bindings any filter matches, as one change, and
// returns for each filter the bindings it matched, in the order of Bindings.
// As in Kafka's controller, every filter is matched against the bindings held
// before the call, so a binding two filters match is listed for both.
// The filters are not validated: call Filter.Validate first.
func (a *Authorizer) DeleteAcls(fs ...Filter) [][]Binding {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([][]Binding, len(fs))
	for i, f := range fs {
		out[i] = a.bindingsLocked(f)
	}
	for _, bs := range out {
		for _, b := range bs {
			a.removeLocked(b) // a binding listed twice is gone the second time
		}
	}
	return out
}

// Bindings returns the bindings f matches (DescribeAcls), in Kafka's order
// (StandardAcl.compareTo): by resource type, resource name in reverse
// order, pattern type, operation, principal, host, permission.
func (a *Authorizer) Bindings(f Filter) []Binding {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.bindingsLocked(f)
}

func (a *Authorizer) bindingsLocked(f Filter) []Binding {
	var out []Binding
	collect := func(t kmsg.ACLResourceType, p kmsg.ACLResourcePatternType, name string, s *aclSet) {
		if s == nil || !f.matchesPattern(t, name, p) {
			return
		}
		for i := range s.entries {
			e := &s.entries[i]
			if f.matchesEntry(e.principal, e.host, e.op, e.perm) {
				out = append(out, Binding{t, name, p, e.principal, e.host, e.op, e.perm})
			}
		}
	}
	for i := range a.types {
		ti, t := a.types[i], kmsg.ACLResourceType(int8(uint8(i)))
		if ti == nil || (f.ResourceType != typeAny && f.ResourceType != t) {
			continue
		}
		wantLiteral := f.PatternType == patAny || f.PatternType == patMatch || f.PatternType == patLiteral
		wantPrefixed := f.PatternType == patAny || f.PatternType == patMatch || f.PatternType == patPrefixed
		if f.ResourceName == nil {
			if wantLiteral {
				for name, s := range ti.literal {
					collect(t, patLiteral, name, s)
				}
			}
			if wantPrefixed {
				for name, s := range ti.prefixed {
					collect(t, patPrefixed, name, s)
				}
			}
			continue
		}
		name := *f.ResourceName
		if wantLiteral {
			collect(t, patLiteral, name, ti.literal[name])
		}
		if f.PatternType == patMatch {
			if name != wildcard {
				collect(t, patLiteral, wildcard, ti.literal[wildcard])
			}
			ti.eachPrefixOf(name, func(p prefixSet) bool {
				collect(t, patPrefixed, p.name, p.set)
				return false
			})
		} else if wantPrefixed {
			collect(t, patPrefixed, name, ti.prefixed[name])
		}
	}
	slices.SortFunc(out, compareBindings)
	return out
}

// eachPrefixOf calls fn with every prefixed set whose name is a prefix of
// name (itself included), longest first, until fn returns true. It steps
// through the sorted prefixes by binary search as Kafka's
// StandardAuthorizerData.checkSection steps through its sorted set: the
// largest name <= key is either a prefix of name, or shares a common prefix
// with it below which the search continues.
func (ti *typeIndex) eachPrefixOf(name string, fn func(prefixSet) bool) {
	ps := ti.prefixes
	key := name
	for len(ps) > 0 {
		// Every candidate left is in ps and is <= key: take the largest
		// name <= key.
		lo, hi := 0, len(ps)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if ps[m].name <= key {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo == 0 {
			return
		}
		p := ps[lo-1]
		ps = ps[:lo-1]
		k := commonPrefix(p.name, key)
		if k == len(p.name) {
			if fn(p) || k == 0 {
				return
			}
			key = key[:k-1]
		} else {
			key = key[:k]
		}
	}
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// validAction reports whether op on a resource of type t can be decided:
// Kafka's Action needs a definite resource type and operation.
func validAction(op kmsg.ACLOperation, t kmsg.ACLResourceType) bool {
	switch knownType(t) {
	case typeUnknown, typeAny:
		return false
	}
	switch knownOp(op) {
	case opUnknown, opAny:
		return false
	}
	return true
}

// Authorize reports whether principal ("User:alice"), connecting from host
// (its IP address), may perform op on the resource of type resType named
// name, following Kafka's StandardAuthorizer:
//
//   - a super user is allowed everything;
//   - the bindings that apply to the resource are the LITERAL ones on its
//     name, the LITERAL ones on the wildcard name "*" and the PREFIXED ones
//     whose name is a prefix of its name;
//   - of those, a binding matches if its principal is principal or "User:*",
//     its host is host or "*", and its operation is op or ALL; an ALLOW
//     binding of READ, WRITE, DELETE or ALTER also matches DESCRIBE and one
//     of ALTER_CONFIGS also matches DESCRIBE_CONFIGS (a DENY binding of
//     them does not deny DESCRIBE or DESCRIBE_CONFIGS);
//   - a matching DENY denies, whatever ALLOWs match; else a matching ALLOW
//     allows; else, if any binding applies to the resource (for any
//     principal, host or operation) the request is denied, and if none does
//     the answer is Options.AllowEveryoneIfNoACLFound.
//
// An UNKNOWN or ANY operation or resource type is denied. Authorize does not
// allocate.
func (a *Authorizer) Authorize(principal, host string, op kmsg.ACLOperation, resType kmsg.ACLResourceType, name string) bool {
	if !validAction(op, resType) {
		return false
	}
	if _, ok := a.superUsers[principal]; ok {
		return true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.authorizeLocked(principal, host, op, resType, name)
}

func (a *Authorizer) authorizeLocked(principal, host string, op kmsg.ACLOperation, resType kmsg.ACLResourceType, name string) bool {
	ti := a.types[uint8(resType)]
	if ti == nil {
		return a.allowIfNoACL
	}
	m := matcher{principal: principal, host: host, op: op}
	if s := ti.literal[name]; s != nil && m.check(s) {
		return false
	}
	if len(ti.prefixes) > 0 {
		denied := false
		ti.eachPrefixOf(name, func(p prefixSet) bool {
			denied = m.check(p.set)
			return denied
		})
		if denied {
			return false
		}
	}
	if name != wildcard {
		if s := ti.literal[wildcard]; s != nil && m.check(s) {
			return false
		}
	}
	if m.allowed {
		return true
	}
	if m.applies {
		return false
	}
	return a.allowIfNoACL
}

// matcher accumulates the decision over the sets that apply to a resource.
type matcher struct {
	principal string
	host      string
	op        kmsg.ACLOperation
	addr      netip.Addr
	parsed    bool
	applies   bool // some binding applies to the resource
	allowed   bool // a matching ALLOW was seen
}

// check applies s and reports whether a matching DENY was found.
func (m *matcher) check(s *aclSet) bool {
	m.applies = true
	if m.scan(s.entries, m.principal) {
		return true
	}
	return m.principal != wildcardUser && m.scan(s.entries, wildcardUser)
}

// scan applies the entries of principal in es.
func (m *matcher) scan(es []entry, principal string) bool {
	lo, hi := 0, len(es)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if es[mid].principal < principal {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	for i := lo; i < len(es) && es[i].principal == principal; i++ {
		e := &es[i]
		if !m.hostMatches(e) || !implies(e.op, e.perm, m.op) {
			continue
		}
		if e.perm == permDeny {
			return true
		}
		m.allowed = true
	}
	return false
}

// hostMatches reports whether e's host is "*", host itself, or the same IP
// address as host written another way.
func (m *matcher) hostMatches(e *entry) bool {
	if e.host == wildcard || e.host == m.host {
		return true
	}
	if !e.addr.IsValid() {
		return false
	}
	if !m.parsed {
		m.parsed = true
		if a, err := netip.ParseAddr(m.host); err == nil {
			m.addr = a.Unmap()
		}
	}
	return m.addr == e.addr
}

// implies reports whether a binding of aclOp with permission perm matches a
// request for op (StandardAuthorizerData.findResult).
func implies(aclOp kmsg.ACLOperation, perm kmsg.ACLPermissionType, op kmsg.ACLOperation) bool {
	if aclOp == opAll || aclOp == op {
		return true
	}
	if perm != permAllow {
		return false
	}
	switch op {
	case kmsg.ACLOperationDescribe:
		switch aclOp {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case kmsg.ACLOperationDescribeConfigs:
		return aclOp == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// hardcodedName is the resource name Kafka's authorizeByResourceType
// authorizes first, so that super users (and allow.everyone.if.no.acl.found)
// are honoured.
const hardcodedName = "hardcode"

// AuthorizeAny reports whether principal, connecting from host, may perform
// op on at least one resource of type resType, following Kafka's
// Authorizer.authorizeByResourceType (used for InitProducerId without a
// transactional id, DescribeProducers and the like):
//
//   - if Authorize allows op on the LITERAL resource named "hardcode", it is
//     allowed (so super users are, and, with AllowEveryoneIfNoACLFound, so
//     is everyone while no binding applies to that name);
//   - otherwise only bindings of principal or "User:*", of host or "*", and
//     of op itself or ALL count (no DESCRIBE implication);
//   - a DENY on the LITERAL wildcard "*" denies;
//   - an ALLOW on the LITERAL wildcard "*" allows;
//   - an ALLOW on a LITERAL name allows unless a DENY on the same LITERAL
//     name, or a PREFIXED DENY on a prefix of the name, dominates it;
//   - an ALLOW on a PREFIXED name allows unless a PREFIXED DENY on a prefix
//     of it (itself included) dominates it;
//   - otherwise it is denied.
//
// An UNKNOWN or ANY operation or resource type is denied.
func (a *Authorizer) AuthorizeAny(principal, host string, op kmsg.ACLOperation, resType kmsg.ACLResourceType) bool {
	if !validAction(op, resType) {
		return false
	}
	if _, ok := a.superUsers[principal]; ok {
		return true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.authorizeLocked(principal, host, op, resType, hardcodedName) {
		return true
	}
	ti := a.types[uint8(resType)]
	if ti == nil {
		return false
	}
	m := matcher{principal: principal, host: host, op: op}
	principals := []string{principal, wildcardUser}
	if principal == wildcardUser {
		principals = principals[:1]
	}
	// counts reports whether s holds a matching ALLOW and a matching DENY:
	// of principal or "User:*", of host or "*", of op or ALL.
	counts := func(s *aclSet) (allow, deny bool) {
		for _, p := range principals {
			es := s.entries
			i, _ := slices.BinarySearchFunc(es, p, func(e entry, p string) int { return strings.Compare(e.principal, p) })
			for ; i < len(es) && es[i].principal == p; i++ {
				e := &es[i]
				if (e.op != op && e.op != opAll) || !m.hostMatches(e) {
					continue
				}
				if e.perm == permDeny {
					deny = true
				} else {
					allow = true
				}
			}
		}
		return allow, deny
	}
	if s := ti.literal[wildcard]; s != nil {
		allow, deny := counts(s)
		if deny {
			return false
		}
		if allow {
			return true
		}
	}
	// Only the patterns holding entries of the principals can count: first
	// the PREFIXED DENYs, then any ALLOW they do not dominate.
	var denyPrefixed map[string]struct{}
	for _, p := range principals {
		for k, pe := range ti.byPrincipal[p] {
			if !k.prefixed {
				continue
			}
			if _, deny := counts(pe.set); deny {
				if denyPrefixed == nil {
					denyPrefixed = map[string]struct{}{}
				}
				denyPrefixed[k.name] = struct{}{}
			}
		}
	}
	for _, p := range principals {
		for k, pe := range ti.byPrincipal[p] {
			if k == (patternKey{wildcard, false}) {
				continue
			}
			allow, deny := counts(pe.set)
			if !allow || (deny && !k.prefixed) {
				continue
			}
			dominated := false
			for i := 1; i <= len(k.name) && !dominated && denyPrefixed != nil; i++ {
				_, dominated = denyPrefixed[k.name[:i]]
			}
			if !dominated {
				return true
			}
		}
	}
	return false
}
