package acl

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The index must decide as a linear scan over every binding does. The
// references below follow Kafka's code without any index: refAuthorize
// StandardAuthorizerData.findAclRule's rules, refAuthorizeAny
// Authorizer.authorizeByResourceType, over all bindings.

func refAuthorize(a *Authorizer, all []Binding, principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if _, ok := a.superUsers[principal]; ok {
		return true
	}
	match := Filter{ResourceType: rt, ResourceName: &name, PatternType: MATCH, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	applies, allowed := false, false
	for _, b := range all {
		if !match.Matches(b) {
			continue
		}
		applies = true
		if b.Principal != principal && b.Principal != "User:*" {
			continue
		}
		if b.Host != "*" && b.Host != host {
			continue
		}
		if !implies(b.Operation, b.Permission, op) {
			continue
		}
		if b.Permission == DENY {
			return false
		}
		allowed = true
	}
	if allowed {
		return true
	}
	if applies {
		return false
	}
	return a.allowIfNoACL
}

func refAuthorizeAny(a *Authorizer, all []Binding, principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	if refAuthorize(a, all, principal, host, op, rt, "hardcode") {
		return true
	}
	denyLit, denyPre := map[string]bool{}, map[string]bool{}
	var allowLit, allowPre []string
	wildAllow := false
	for _, b := range all {
		if b.ResourceType != rt || (b.Host != host && b.Host != "*") ||
			(b.Principal != principal && b.Principal != "User:*") || (b.Operation != op && b.Operation != ALL) {
			continue
		}
		if b.Permission == DENY {
			if b.PatternType == LITERAL {
				if b.ResourceName == "*" {
					return false
				}
				denyLit[b.ResourceName] = true
			} else {
				denyPre[b.ResourceName] = true
			}
			continue
		}
		switch {
		case b.PatternType == LITERAL && b.ResourceName == "*":
			wildAllow = true
		case b.PatternType == LITERAL:
			allowLit = append(allowLit, b.ResourceName)
		default:
			allowPre = append(allowPre, b.ResourceName)
		}
	}
	if wildAllow {
		return true
	}
	dominated := func(s string) bool {
		for i := 1; i <= len(s); i++ {
			if denyPre[s[:i]] {
				return true
			}
		}
		return false
	}
	for _, s := range allowLit {
		if !denyLit[s] && !dominated(s) {
			return true
		}
	}
	for _, s := range allowPre {
		if !dominated(s) {
			return true
		}
	}
	return false
}

func randName(r *rand.Rand) string {
	if r.IntN(12) == 0 {
		return "*"
	}
	const alphabet = "ab*"
	n := 1 + r.IntN(4)
	var sb strings.Builder
	for range n {
		sb.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	return sb.String()
}

func TestMatchesLinearScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	principals := []string{"User:a", "User:b", "User:*", "Group:a"}
	hosts := []string{"*", "10.0.0.1", "10.0.0.2", "::1"}
	ops := []kmsg.ACLOperation{ALL, READ, WRITE, DESCRIBE, ALTER_CONFIGS, DESCRIBE_CONFIGS}
	types := []kmsg.ACLResourceType{TOPIC, GROUP}
	pick := func(n int) int { return r.IntN(n) }
	for round := range 60 {
		a := New(Options{SuperUsers: []string{"User:root"}, AllowEveryoneIfNoACLFound: round%2 == 0})
		var all []Binding
		n := r.IntN(40)
		for range n {
			b := Binding{
				ResourceType: types[pick(len(types))],
				ResourceName: randName(r),
				PatternType:  []kmsg.ACLResourcePatternType{LITERAL, PREFIXED}[pick(2)],
				Principal:    principals[pick(len(principals))],
				Host:         hosts[pick(len(hosts))],
				Operation:    ops[pick(len(ops))],
				Permission:   []kmsg.ACLPermissionType{ALLOW, DENY}[pick(2)],
			}
			if a.Add(b) == 1 {
				all = append(all, b)
			}
		}
		// Remove some through random filters, checking the reference.
		for range 2 {
			f := AnyFilter()
			name := randName(r)
			f.ResourceName = &name
			f.PatternType = []kmsg.ACLResourcePatternType{MATCH, LITERAL, PREFIXED, kmsg.ACLResourcePatternTypeAny}[pick(4)]
			var want, left []Binding
			for _, b := range all {
				if f.Matches(b) {
					want = append(want, b)
				} else {
					left = append(left, b)
				}
			}
			slices.SortFunc(want, compareBindings)
			sameBindings(t, "bindings by filter", a.Bindings(f), want)
			sameBindings(t, "removed by filter", a.Remove(f), want)
			all = left
		}
		if a.Len() != len(all) {
			t.Fatalf("Len = %d, want %d", a.Len(), len(all))
		}
		for range 300 {
			principal := []string{"User:a", "User:b", "Group:a", "User:root"}[pick(4)]
			host := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}[pick(3)]
			op := ops[1+pick(len(ops)-1)]
			rt := types[pick(len(types))]
			name := randName(r)
			if r.IntN(4) == 0 {
				name += "ab"
			}
			want := refAuthorize(a, all, principal, host, op, rt, name)
			if got := a.Authorize(principal, host, op, rt, name); got != want {
				t.Fatalf("Authorize(%s, %s, %s, %s, %q) = %v, want %v; bindings %v", principal, host, op, rt, name, got, want, all)
			}
			want = refAuthorizeAny(a, all, principal, host, op, rt)
			if got := a.AuthorizeAny(principal, host, op, rt); got != want {
				t.Fatalf("AuthorizeAny(%s, %s, %s, %s) = %v, want %v; bindings %v", principal, host, op, rt, got, want, all)
			}
			f := Filter{ResourceType: rt, ResourceName: &name, PatternType: MATCH, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
			var match []Binding
			for _, b := range all {
				if f.Matches(b) {
					match = append(match, b)
				}
			}
			slices.SortFunc(match, compareBindings)
			sameBindings(t, "match "+name, a.Bindings(f), match)
		}
	}
}

// Authorize does not allocate, also when it compares hosts as addresses.
func TestAuthorizeDoesNotAllocate(t *testing.T) {
	a := benchAuthorizer()
	a.Add(acl(TOPIC, "pfx-0001", PREFIXED, "User:u1", "::1", READ, ALLOW),
		acl(TOPIC, "pfx-0001", PREFIXED, "User:u1", "10.0.0.1", READ, ALLOW))
	names := []string{"topic-01234", "pfx-0001-orders", "pfx-9999-x", "nomatch", "*"}
	hosts := []string{"10.1.2.3", "0:0:0:0:0:0:0:1", "::ffff:10.0.0.1"}
	allocs := testing.AllocsPerRun(100, func() {
		for _, n := range names {
			for _, h := range hosts {
				a.Authorize("User:u1", h, READ, TOPIC, n)
				a.Authorize("User:u1", h, DESCRIBE, TOPIC, n)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("Authorize allocates: %v per run", allocs)
	}
	if !a.Authorize("User:u1", "0:0:0:0:0:0:0:1", READ, TOPIC, "pfx-0001-orders") {
		t.Fatal("prefixed allow through an IPv6 host not found")
	}
}
