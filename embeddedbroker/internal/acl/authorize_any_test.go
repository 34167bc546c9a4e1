package acl

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BaseAuthorizerTest's testAuthorizeByResourceType* cases and
// AuthorizerTest.testAuthorizeByResourceTypeNoAclFoundOverride.

type anyCheck struct {
	principal, host string
	op              kmsg.ACLOperation
	t               kmsg.ACLResourceType
	want            bool
}

func runAnyChecks(t *testing.T, step string, a *Authorizer, checks ...anyCheck) {
	t.Helper()
	for _, c := range checks {
		if got := a.AuthorizeAny(c.principal, c.host, c.op, c.t); got != c.want {
			t.Errorf("%s: AuthorizeAny(%s, %s, %s, %s) = %v, want %v", step, c.principal, c.host, c.op, c.t, got, c.want)
		}
	}
}

const (
	user1 = "User:user1"
	user2 = "User:user2"
	host1 = "192.168.1.1"
	host2 = "192.168.1.2"
)

func TestAuthorizeAnyMultipleAddAndRemove(t *testing.T) {
	a := newTestAuthorizer()
	const res = "sb1-5f3c"
	denyRead := acl(TOPIC, res, LITERAL, user1, host1, READ, DENY)
	allowRead := acl(TOPIC, res, LITERAL, user1, host1, READ, ALLOW)
	for range 3 {
		runAnyChecks(t, "no acl", a, anyCheck{user1, host1, READ, TOPIC, false})
		a.Add(allowRead)
		runAnyChecks(t, "allow", a, anyCheck{user1, host1, READ, TOPIC, true})
		for range 3 {
			a.Add(denyRead)
			runAnyChecks(t, "deny", a, anyCheck{user1, host1, READ, TOPIC, false})
			a.Remove(denyRead.ToFilter())
			a.Add(allowRead)
			runAnyChecks(t, "deny removed", a, anyCheck{user1, host1, READ, TOPIC, true})
		}
		a.Remove(allowRead.ToFilter())
		runAnyChecks(t, "allow removed", a, anyCheck{user1, host1, READ, TOPIC, false})
	}
}

func TestAuthorizeAnyIsolationUnrelatedDenyWontDominateAllow(t *testing.T) {
	a := newTestAuthorizer()
	const res1, res2 = "sb1-5f3c", "sb2-77aa"
	a.Add(on(TOPIC, res1, LITERAL,
		ace{user1, host1, READ, DENY},
		ace{user2, host1, READ, DENY},
		ace{user1, host2, WRITE, DENY},
		ace{user2, host2, READ, DENY},
		ace{user1, host2, READ, ALLOW})...)
	a.Add(on(TOPIC, res2, LITERAL, ace{user1, host2, READ, DENY})...)
	a.Add(on(GROUP, "s", PREFIXED, ace{user1, host2, READ, DENY})...)
	runAnyChecks(t, "isolation", a,
		anyCheck{user1, host1, READ, TOPIC, false},
		anyCheck{user1, host1, READ, GROUP, false},
		anyCheck{user1, host1, READ, TRANSACTIONAL_ID, false},
		anyCheck{user1, host1, READ, CLUSTER, false},
		anyCheck{user1, host2, READ, TOPIC, true},
	)
}

func TestAuthorizeAnyDenyTakesPrecedence(t *testing.T) {
	a := newTestAuthorizer()
	const res = "sb1-5f3c"
	a.Add(acl(TOPIC, res, LITERAL, user1, host1, WRITE, ALLOW))
	runAnyChecks(t, "allow", a, anyCheck{user1, host1, WRITE, TOPIC, true})
	a.Add(acl(TOPIC, res, LITERAL, user1, host1, WRITE, DENY))
	runAnyChecks(t, "deny", a, anyCheck{user1, host1, WRITE, TOPIC, false})
}

func TestAuthorizeAnyPrefixedResourceDenyDominate(t *testing.T) {
	a := newTestAuthorizer()
	allow := ace{user1, host1, READ, ALLOW}
	deny := ace{user1, host1, READ, DENY}
	steps := []struct {
		name string
		ace  ace
		want bool
	}{
		{"abcde", allow, true},
		{"abcd", deny, false},
		{"abc", allow, true},
		{"a", deny, false},
		{"ab", allow, false},
	}
	for _, s := range steps {
		a.Add(on(GROUP, s.name, PREFIXED, s.ace)...)
		runAnyChecks(t, "after "+s.name, a, anyCheck{user1, host1, READ, GROUP, s.want})
	}
	// A LITERAL allow is dominated by a PREFIXED deny on a prefix of it,
	// itself included, and by a LITERAL deny on the same name only.
	a = newTestAuthorizer()
	a.Add(on(GROUP, "xyz", LITERAL, allow)...)
	a.Add(on(GROUP, "xyz", PREFIXED, deny)...)
	runAnyChecks(t, "literal vs prefixed self", a, anyCheck{user1, host1, READ, GROUP, false})
	a = newTestAuthorizer()
	a.Add(on(GROUP, "xyz", LITERAL, allow)...)
	a.Add(on(GROUP, "xyz", LITERAL, deny)...)
	a.Add(on(GROUP, "xyzw", LITERAL, deny)...)
	runAnyChecks(t, "literal vs literal", a, anyCheck{user1, host1, READ, GROUP, false})
	a.Add(on(GROUP, "xy", LITERAL, allow)...)
	runAnyChecks(t, "literal deny on a longer name", a, anyCheck{user1, host1, READ, GROUP, true})
	// A PREFIXED allow is not dominated by a LITERAL deny.
	a = newTestAuthorizer()
	a.Add(on(GROUP, "xyz", PREFIXED, allow)...)
	a.Add(on(GROUP, "xyz", LITERAL, deny)...)
	runAnyChecks(t, "prefixed vs literal", a, anyCheck{user1, host1, READ, GROUP, true})
}

func TestAuthorizeAnyWildcardResourceDenyDominate(t *testing.T) {
	a := newTestAuthorizer()
	allow := ace{user1, host1, WRITE, ALLOW}
	deny := ace{user1, host1, WRITE, DENY}
	a.Add(on(GROUP, "hello", PREFIXED, allow)...)
	runAnyChecks(t, "prefixed allow", a, anyCheck{user1, host1, WRITE, GROUP, true})
	a.Add(on(GROUP, "*", LITERAL, deny)...)
	runAnyChecks(t, "wildcard deny", a, anyCheck{user1, host1, WRITE, GROUP, false})
	a.Add(on(GROUP, "*", LITERAL, allow)...)
	runAnyChecks(t, "wildcard allow", a, anyCheck{user1, host1, WRITE, GROUP, false})
	a.Add(on(GROUP, "aloha", LITERAL, allow)...)
	runAnyChecks(t, "literal allow", a, anyCheck{user1, host1, WRITE, GROUP, false})

	// A wildcard allow allows despite prefixed denies.
	a = newTestAuthorizer()
	a.Add(on(GROUP, "*", LITERAL, allow)...)
	a.Add(on(GROUP, "a", PREFIXED, deny)...)
	runAnyChecks(t, "wildcard allow vs prefixed deny", a, anyCheck{user1, host1, WRITE, GROUP, true})
}

func TestAuthorizeAnyWithAllOperationAce(t *testing.T) {
	a := newTestAuthorizer()
	const res = "sb1-5f3c"
	runAnyChecks(t, "no acl", a, anyCheck{user1, host1, READ, TOPIC, false})
	a.Add(on(TOPIC, res, LITERAL, ace{user1, host1, WRITE, DENY}, ace{user1, host1, ALL, ALLOW})...)
	runAnyChecks(t, "allow all", a, anyCheck{user1, host1, READ, TOPIC, true})
	a.Add(on(TOPIC, res, LITERAL, ace{user1, host1, ALL, DENY})...)
	runAnyChecks(t, "deny all", a, anyCheck{user1, host1, READ, TOPIC, false})
}

func TestAuthorizeAnyWithAllHostAce(t *testing.T) {
	a := newTestAuthorizer()
	const res1, res2 = "sb1-5f3c", "sb2-77aa"
	runAnyChecks(t, "no acl", a, anyCheck{user1, host1, READ, TOPIC, false})
	a.Add(on(TOPIC, res1, LITERAL, ace{user1, host1, READ, ALLOW})...)
	runAnyChecks(t, "allow host1", a, anyCheck{user1, host1, READ, TOPIC, true})
	a.Add(on(TOPIC, res1, LITERAL, ace{user1, "*", READ, DENY})...)
	runAnyChecks(t, "deny all hosts", a, anyCheck{user1, host1, READ, TOPIC, false})
	a.Add(on(TOPIC, res2, LITERAL, ace{user1, host1, READ, DENY})...)
	runAnyChecks(t, "deny host1", a,
		anyCheck{user1, host1, READ, TOPIC, false},
		anyCheck{user1, host2, READ, TOPIC, false})
	a.Add(on(TOPIC, res2, LITERAL, ace{user1, "*", READ, ALLOW})...)
	runAnyChecks(t, "allow all hosts", a, anyCheck{user1, host2, READ, TOPIC, true})
	a.Add(on(TOPIC, res2, LITERAL, ace{user1, "*", READ, DENY})...)
	runAnyChecks(t, "deny all hosts 2", a, anyCheck{user1, host2, READ, TOPIC, false})
}

func TestAuthorizeAnyWithAllPrincipalAce(t *testing.T) {
	a := newTestAuthorizer()
	const res1, res2 = "sb1-5f3c", "sb2-77aa"
	runAnyChecks(t, "no acl", a, anyCheck{user1, host1, READ, TOPIC, false})
	a.Add(on(TOPIC, res1, LITERAL, ace{user1, host1, READ, ALLOW})...)
	runAnyChecks(t, "allow user1", a, anyCheck{user1, host1, READ, TOPIC, true})
	a.Add(on(TOPIC, res1, LITERAL, ace{"User:*", host1, READ, DENY})...)
	runAnyChecks(t, "deny all users", a, anyCheck{user1, host1, READ, TOPIC, false})
	a.Add(on(TOPIC, res2, LITERAL, ace{user1, host1, READ, DENY})...)
	runAnyChecks(t, "deny user1", a,
		anyCheck{user1, host1, READ, TOPIC, false},
		anyCheck{user2, host1, READ, TOPIC, false})
	a.Add(on(TOPIC, res2, LITERAL, ace{"User:*", host1, READ, ALLOW})...)
	runAnyChecks(t, "allow all users", a, anyCheck{user2, host1, READ, TOPIC, true})
	a.Add(on(TOPIC, res2, LITERAL, ace{"User:*", host1, READ, DENY})...)
	runAnyChecks(t, "deny all users 2", a, anyCheck{user2, host1, READ, TOPIC, false})
}

func TestAuthorizeAnySuperUserHasAccess(t *testing.T) {
	a := New(Options{SuperUsers: []string{"User:superuser1", "User:superuser2"}})
	denyAll := ace{"User:*", "*", ALL, DENY}
	for _, rt := range []kmsg.ACLResourceType{TOPIC, CLUSTER, GROUP, TRANSACTIONAL_ID} {
		a.Add(on(rt, "*", LITERAL, denyAll)...)
	}
	for _, rt := range []kmsg.ACLResourceType{TOPIC, CLUSTER, GROUP, TRANSACTIONAL_ID} {
		runAnyChecks(t, "super user", a,
			anyCheck{"User:superuser1", "192.0.4.4", READ, rt, true},
			anyCheck{"User:someone", "192.0.4.4", READ, rt, false})
	}
}

func TestAuthorizeAnyNoAclFoundOverride(t *testing.T) {
	a := New(Options{AllowEveryoneIfNoACLFound: true})
	runAnyChecks(t, "empty", a,
		anyCheck{"User:alice", "192.168.0.1", READ, TOPIC, true},
		anyCheck{"User:alice", "192.168.0.1", WRITE, TOPIC, true})
	// Kafka's check of "hardcode": with bindings that do not apply to that
	// name, everyone is still allowed...
	a.Add(acl(TOPIC, "other", LITERAL, "User:bob", "*", WRITE, DENY))
	runAnyChecks(t, "unrelated binding", a, anyCheck{"User:alice", "192.168.0.1", WRITE, TOPIC, true})
	// ... but not once one applies to it.
	a.Add(acl(TOPIC, "hard", PREFIXED, "User:bob", "*", WRITE, DENY))
	runAnyChecks(t, "binding on hard*", a, anyCheck{"User:alice", "192.168.0.1", WRITE, TOPIC, false})
}

// AuthorizeAny matches operations exactly (or ALL), but its first check
// through Authorize on "hardcode" applies implications.
func TestAuthorizeAnyOperations(t *testing.T) {
	a := newTestAuthorizer()
	a.Add(acl(TOPIC, "t", LITERAL, user1, "*", READ, ALLOW))
	runAnyChecks(t, "literal read", a,
		anyCheck{user1, host1, READ, TOPIC, true},
		anyCheck{user1, host1, DESCRIBE, TOPIC, false},
		anyCheck{user1, host1, WRITE, TOPIC, false})
	a.Add(acl(TOPIC, "*", LITERAL, user1, "*", WRITE, ALLOW))
	runAnyChecks(t, "wildcard write", a, anyCheck{user1, host1, DESCRIBE, TOPIC, true})
	a.Add(acl(TRANSACTIONAL_ID, "tx", PREFIXED, "User:*", "*", WRITE, ALLOW))
	runAnyChecks(t, "transactional id", a,
		anyCheck{"User:anyone", host2, WRITE, TRANSACTIONAL_ID, true},
		anyCheck{"User:anyone", host2, DESCRIBE, TRANSACTIONAL_ID, false})
}
