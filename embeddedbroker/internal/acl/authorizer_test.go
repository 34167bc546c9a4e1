package acl

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The tests below port StandardAuthorizerTest (metadata module) and
// AuthorizerTest / BaseAuthorizerTest (core, the AclAuthorizer-era suite now
// run against StandardAuthorizer). Kafka's default client address,
// InetAddress.getLocalHost(), is 127.0.0.1 here.

const local = "127.0.0.1"

func TestParseSuperUsers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: " ", want: nil},
		{in: "User:bob;User:alice ", want: []string{"User:bob", "User:alice"}},
		{in: ";  User:bob  ;  User:alice ", want: []string{"User:bob", "User:alice"}},
		{in: "User:superuser1; User:superuser2", want: []string{"User:superuser1", "User:superuser2"}},
		{in: "bob;:alice", err: "expected a string in format principalType:principalName but got bob"},
	} {
		got, err := ParseSuperUsers(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseSuperUsers(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseSuperUsers(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

// testAllowEveryoneIfNoAclFoundConfigEnabled / Disabled, testNoAclFound,
// testNoAclFoundOverride.
func TestAllowEveryoneIfNoACLFound(t *testing.T) {
	for _, allow := range []bool{true, false} {
		t.Run(fmt.Sprint(allow), func(t *testing.T) {
			a := New(Options{SuperUsers: []string{"User:alice", "User:chris"}, AllowEveryoneIfNoACLFound: allow})
			runChecks(t, a, []check{
				// No binding at all.
				{"User:Bob", local, READ, TOPIC, "topic1", allow},
				{"User:Bob", local, WRITE, GROUP, "g", allow},
			})
			a.Add(acl(TOPIC, "topic1", LITERAL, "User:Alice", "*", READ, ALLOW))
			runChecks(t, a, []check{
				// A binding applies to topic1 (for another principal): denied.
				{"User:Bob", local, READ, TOPIC, "topic1", false},
				// ... and for another operation of the same principal.
				{"User:Alice", local, WRITE, TOPIC, "topic1", false},
				{"User:Alice", local, READ, TOPIC, "topic1", true},
				// None applies to topic2 or to groups.
				{"User:Bob", local, READ, TOPIC, "topic2", allow},
				{"User:Bob", local, READ, GROUP, "topic1", allow},
				// "User:alice" is a super user, "User:Alice" is not.
				{"User:alice", local, WRITE, TOPIC, "topic1", true},
			})
			// A prefixed binding applies to the names it prefixes only, a
			// wildcard one to every name of its type.
			a.Add(acl(TOPIC, "top", PREFIXED, "User:Carol", "*", READ, ALLOW))
			runChecks(t, a, []check{
				{"User:Bob", local, READ, TOPIC, "topic2", false},
				{"User:Bob", local, READ, TOPIC, "to", allow},
			})
			a.Add(acl(TOPIC, "*", LITERAL, "User:Carol", "*", READ, ALLOW))
			runChecks(t, a, []check{{"User:Bob", local, READ, TOPIC, "to", false}})
		})
	}
}

// testFindResultImplication and testAclInheritance.
func TestImplications(t *testing.T) {
	implied := map[kmsg.ACLOperation][]kmsg.ACLOperation{
		ALL:           validOps,
		READ:          {READ, DESCRIBE},
		WRITE:         {WRITE, DESCRIBE},
		DELETE:        {DELETE, DESCRIBE},
		ALTER:         {ALTER, DESCRIBE},
		ALTER_CONFIGS: {ALTER_CONFIGS, DESCRIBE_CONFIGS},
	}
	for _, parent := range validOps {
		t.Run("allow "+parent.String(), func(t *testing.T) {
			a := newTestAuthorizer()
			a.Add(acl(CLUSTER, ClusterName, LITERAL, "User:alice", "*", parent, ALLOW))
			allowed := implied[parent]
			if allowed == nil {
				allowed = []kmsg.ACLOperation{parent}
			}
			for _, op := range validOps {
				want := slices.Contains(allowed, op)
				if got := a.Authorize("User:alice", "192.168.3.1", op, CLUSTER, ClusterName); got != want {
					t.Errorf("ALLOW %s: Authorize(%s) = %v, want %v", parent, op, got, want)
				}
			}
		})
		t.Run("deny "+parent.String(), func(t *testing.T) {
			// A DENY implies nothing but itself (ALL denies everything).
			a := newTestAuthorizer()
			a.Add(on(CLUSTER, ClusterName, LITERAL,
				ace{"User:alice", "*", parent, DENY},
				ace{"User:alice", "*", ALL, ALLOW})...)
			for _, op := range validOps {
				want := !(parent == ALL || op == parent)
				if got := a.Authorize("User:alice", "192.168.3.1", op, CLUSTER, ClusterName); got != want {
					t.Errorf("DENY %s: Authorize(%s) = %v, want %v", parent, op, got, want)
				}
			}
		})
	}
	// CREATE does not imply DESCRIBE; DENY READ does not deny DESCRIBE.
	a := newTestAuthorizer()
	a.Add(acl(TOPIC, "foo_", PREFIXED, "User:bob", "*", CREATE, ALLOW),
		acl(TOPIC, "foo_", PREFIXED, "User:bob", "*", READ, DENY),
		acl(TOPIC, "foo_", PREFIXED, "User:bob", "*", DESCRIBE_CONFIGS, ALLOW),
		acl(TOPIC, "foo_", PREFIXED, "User:bob", "*", ALTER_CONFIGS, DENY))
	runChecks(t, a, []check{
		{"User:bob", local, DESCRIBE, TOPIC, "foo_bar", false},
		{"User:bob", local, READ, TOPIC, "foo_bar", false},
		{"User:bob", local, CREATE, TOPIC, "foo_bar", true},
		{"User:bob", local, DESCRIBE_CONFIGS, TOPIC, "foo_bar", true},
		{"User:bob", local, ALTER_CONFIGS, TOPIC, "foo_bar", false},
	})
	a.Add(acl(TOPIC, "foo_", PREFIXED, "User:bob", "*", WRITE, ALLOW))
	runChecks(t, a, []check{{"User:bob", local, DESCRIBE, TOPIC, "foo_bar", true}})
	a.Add(acl(TOPIC, "foo_", PREFIXED, "User:bob", "*", DESCRIBE, DENY))
	runChecks(t, a, []check{{"User:bob", local, DESCRIBE, TOPIC, "foo_bar", false}})
}

// testFindResultPrincipalMatching, testSimpleAuthorizations.
func TestPrincipalMatching(t *testing.T) {
	a := newTestAuthorizer()
	a.Add(acl(TOPIC, "foo_", PREFIXED, "User:bob", "*", READ, ALLOW),
		acl(TOPIC, "foo_", PREFIXED, "User:bob", "*", WRITE, ALLOW),
		acl(GROUP, "bar", LITERAL, "User:*", "*", DESCRIBE_CONFIGS, ALLOW),
		acl(GROUP, "bar", LITERAL, "User:*", "*", ALTER_CONFIGS, ALLOW),
		acl(GROUP, "baz", LITERAL, "User:*", "*", READ, DENY),
		acl(GROUP, "baz", LITERAL, "User:alice", "*", READ, ALLOW),
		acl(GROUP, "qux", LITERAL, "Group:*", "*", READ, ALLOW))
	runChecks(t, a, []check{
		{"User:bob", local, READ, TOPIC, "foo_bar", true},
		{"User:bob", local, READ, TOPIC, "foo_", true},
		{"User:alice", local, READ, TOPIC, "foo_bar", false},
		// Principals compare by type and name.
		{"Group:bob", local, READ, TOPIC, "foo_bar", false},
		{"User:fred", local, ALTER_CONFIGS, GROUP, "bar", true},
		// "User:*" matches principals of every type.
		{"ServiceAccount:sa1", local, DESCRIBE_CONFIGS, GROUP, "bar", true},
		// The wildcard principal's DENY wins over a principal's ALLOW.
		{"User:alice", local, READ, GROUP, "baz", false},
		// Only "User:*" is a wildcard: "Group:*" matches only itself.
		{"Group:x", local, READ, GROUP, "qux", false},
		{"Group:*", local, READ, GROUP, "qux", true},
		// A request as "User:*" itself.
		{"User:*", local, ALTER_CONFIGS, GROUP, "bar", true},
		{"User:*", local, READ, GROUP, "baz", false},
	})
}

func TestDenyPrecedenceWithOperationAll(t *testing.T) {
	a := newTestAuthorizer()
	a.Add(acl(TOPIC, "foo", LITERAL, "User:alice", "*", ALL, DENY),
		acl(TOPIC, "foo", PREFIXED, "User:alice", "*", READ, ALLOW),
		acl(TOPIC, "foo", LITERAL, "User:*", "*", ALL, DENY),
		acl(TOPIC, "foo", PREFIXED, "User:*", "*", DESCRIBE, ALLOW))
	runChecks(t, a, []check{
		{"User:alice", local, WRITE, TOPIC, "foo", false},
		{"User:alice", local, READ, TOPIC, "foo", false},
		{"User:alice", local, DESCRIBE, TOPIC, "foo", false},
		{"User:alice", local, READ, TOPIC, "foobar", true},
		{"User:bob", local, DESCRIBE, TOPIC, "foo", false},
		{"User:bob", local, READ, TOPIC, "foo", false},
		{"User:bob", local, WRITE, TOPIC, "foo", false},
		{"User:bob", local, DESCRIBE, TOPIC, "foobaz", true},
		{"User:bob", local, READ, TOPIC, "foobaz", false},
	})
}

func TestTopicAclWithOperationAll(t *testing.T) {
	a := newTestAuthorizer()
	a.Add(acl(TOPIC, "foo", LITERAL, "User:*", "*", ALL, ALLOW),
		acl(TOPIC, "bar", PREFIXED, "User:alice", "*", ALL, ALLOW),
		acl(TOPIC, "baz", LITERAL, "User:bob", "*", ALL, ALLOW))
	runChecks(t, a, []check{
		{"User:alice", local, WRITE, TOPIC, "foo", true},
		{"User:alice", local, DESCRIBE_CONFIGS, TOPIC, "bar", true},
		{"User:alice", local, DESCRIBE, TOPIC, "baz", false},
		{"User:bob", local, WRITE, TOPIC, "foo", true},
		{"User:bob", local, READ, TOPIC, "bar", false},
		{"User:bob", local, DESCRIBE, TOPIC, "baz", true},
		{"User:malory", local, DESCRIBE, TOPIC, "foo", true},
		{"User:malory", local, WRITE, TOPIC, "bar", false},
		{"User:malory", local, READ, TOPIC, "baz", false},
	})
}

// testHostAddressAclValidation.
func TestHostAddressAcls(t *testing.T) {
	const host1, host2 = "192.168.1.1", "192.168.1.2"
	a := newTestAuthorizer()
	a.Add(acl(TOPIC, "foo", LITERAL, "User:alice", host1, READ, DENY),
		acl(TOPIC, "foo", LITERAL, "User:alice", "*", READ, ALLOW),
		acl(TOPIC, "bar", LITERAL, "User:bob", host2, READ, ALLOW),
		acl(TOPIC, "bar", LITERAL, "User:*", local, DESCRIBE, ALLOW))
	for _, tc := range []struct {
		principal, host string
		want            [3]bool // READ foo, READ bar, DESCRIBE bar
	}{
		{"User:alice", local, [3]bool{true, false, true}},
		{"User:alice", host1, [3]bool{false, false, false}},
		{"User:alice", host2, [3]bool{true, false, false}},
		{"User:bob", local, [3]bool{false, false, true}},
		{"User:bob", host1, [3]bool{false, false, false}},
		{"User:bob", host2, [3]bool{false, true, true}},
	} {
		runChecks(t, a, []check{
			{tc.principal, tc.host, READ, TOPIC, "foo", tc.want[0]},
			{tc.principal, tc.host, READ, TOPIC, "bar", tc.want[1]},
			{tc.principal, tc.host, DESCRIBE, TOPIC, "bar", tc.want[2]},
		})
	}
}

// Deviation: hosts that are addresses compare as addresses.
func TestHostAddressForms(t *testing.T) {
	a := newTestAuthorizer()
	a.Add(acl(TOPIC, "v6", LITERAL, "User:alice", "0:0:0:0:0:0:0:1", READ, ALLOW),
		acl(TOPIC, "v6b", LITERAL, "User:alice", "::1", READ, ALLOW),
		acl(TOPIC, "v4", LITERAL, "User:alice", "10.0.0.1", READ, ALLOW),
		acl(TOPIC, "mapped", LITERAL, "User:alice", "::ffff:10.0.0.2", READ, ALLOW),
		acl(TOPIC, "name", LITERAL, "User:alice", "host1", READ, ALLOW))
	runChecks(t, a, []check{
		{"User:alice", "::1", READ, TOPIC, "v6", true},
		{"User:alice", "0:0:0:0:0:0:0:1", READ, TOPIC, "v6", true},
		{"User:alice", "0:0:0:0:0:0:0:1", READ, TOPIC, "v6b", true},
		{"User:alice", "::2", READ, TOPIC, "v6", false},
		{"User:alice", "::ffff:10.0.0.1", READ, TOPIC, "v4", true},
		{"User:alice", "10.0.0.1", READ, TOPIC, "v4", true},
		{"User:alice", "10.0.0.2", READ, TOPIC, "mapped", true},
		{"User:alice", "10.0.0.3", READ, TOPIC, "v4", false},
		// A host that is not an address matches only itself.
		{"User:alice", "host1", READ, TOPIC, "name", true},
		{"User:alice", "not-an-ip", READ, TOPIC, "v4", false},
	})
}

// addManyAcls and testAuthorizationWithManyAcls.
func TestAuthorizationWithManyAcls(t *testing.T) {
	a := newTestAuthorizer()
	a.Add(acl(TOPIC, "green2", LITERAL, "User:*", "*", READ, ALLOW),
		acl(TOPIC, "green", PREFIXED, "User:bob", "*", READ, ALLOW),
		acl(TOPIC, "betamax4", LITERAL, "User:bob", "*", READ, ALLOW),
		acl(TOPIC, "betamax", LITERAL, "User:bob", "*", READ, ALLOW),
		acl(TOPIC, "beta", PREFIXED, "User:*", "*", READ, ALLOW),
		acl(TOPIC, "alpha", PREFIXED, "User:*", "*", READ, ALLOW),
		acl(TOPIC, "alp", PREFIXED, "User:bob", "*", READ, DENY),
		acl(GROUP, "*", LITERAL, "User:bob", "*", WRITE, ALLOW),
		acl(GROUP, "wheel", LITERAL, "User:*", "*", WRITE, DENY))
	runChecks(t, a, []check{
		{"User:bob", local, READ, TOPIC, "green1", true},
		{"User:bob", local, WRITE, GROUP, "wheel", false},
		{"User:bob", local, READ, TOPIC, "alpha", false},
		{"User:bob", local, WRITE, GROUP, "arbitrary", true},
		{"User:bob", local, READ, TOPIC, "ala", false},
		{"User:alice", local, READ, TOPIC, "alphabet", true},
		{"User:alice", local, READ, TOPIC, "betamax4", true},
		{"User:alice", local, READ, TOPIC, "green2", true},
		{"User:alice", local, READ, TOPIC, "green1", false},
		{"User:superman", local, WRITE, GROUP, "wheel", true},
	})
}

func TestPrefixAcls(t *testing.T) {
	a := newTestAuthorizer()
	a.Add(acl(TOPIC, "fooa", PREFIXED, "User:alice", "*", ALL, ALLOW),
		acl(TOPIC, "foobar", LITERAL, "User:bob", "*", ALL, ALLOW),
		acl(TOPIC, "f", PREFIXED, "User:bob", "*", ALL, ALLOW))
	runChecks(t, a, []check{
		{"User:bob", local, WRITE, TOPIC, "foobarr", true},
		{"User:bob", local, READ, TOPIC, "goobar", false},
		{"User:bob", local, READ, TOPIC, "fooa", true},
		{"User:alice", local, DESCRIBE, TOPIC, "fooa", true},
		{"User:alice", local, WRITE, TOPIC, "bar", false},
		{"User:alice", local, READ, TOPIC, "baz", false},
	})
}

// testTopicAcl.
func TestTopicAcl(t *testing.T) {
	const res, host1, host2 = "foo-6d3a", "192.168.1.1", "192.168.1.2"
	a := New(Options{SuperUsers: []string{"User:superuser1", "User:superuser2"}})
	a.Add(on(TOPIC, res, LITERAL,
		ace{"User:alice", host1, READ, ALLOW},
		ace{"User:alice", host2, READ, ALLOW},
		ace{"User:alice", host1, READ, DENY},
		ace{"User:alice", host1, WRITE, ALLOW},
		ace{"User:alice", "*", DESCRIBE, ALLOW},
		ace{"User:rob", "*", READ, ALLOW},
		ace{"User:batman", "*", WRITE, ALLOW})...)
	runChecks(t, a, []check{
		{"User:alice", host2, READ, TOPIC, res, true},
		{"User:alice", host1, READ, TOPIC, res, false},
		{"User:alice", host1, WRITE, TOPIC, res, true},
		{"User:alice", host2, WRITE, TOPIC, res, false},
		{"User:alice", host1, DESCRIBE, TOPIC, res, true},
		{"User:alice", host2, DESCRIBE, TOPIC, res, true},
		{"User:alice", host1, ALTER, TOPIC, res, false},
		{"User:alice", host2, ALTER, TOPIC, res, false},
		{"User:rob", host1, DESCRIBE, TOPIC, res, true},
		{"User:batman", host1, DESCRIBE, TOPIC, res, true},
		{"User:rob", host1, READ, TOPIC, res, true},
		{"User:batman", host1, WRITE, TOPIC, res, true},
	})
}

// testDenyTakesPrecedence, testAllowAllAccess, testSuperUserHasAccess,
// testWildCardAcls, testAccessAllowedIfAllowAclExistsOn{Wildcard,Prefixed}Resource.
func TestWildcards(t *testing.T) {
	const res, host = "foo-6d3a", "192.168.2.1"
	a := New(Options{SuperUsers: []string{"User:superuser1", "User:superuser2"}})
	a.Add(on(TOPIC, res, LITERAL,
		ace{"User:*", "*", ALL, ALLOW},
		ace{"User:alice", host, ALL, DENY})...)
	runChecks(t, a, []check{
		{"User:alice", host, READ, TOPIC, res, false},
		{"User:random", "192.0.4.4", READ, TOPIC, res, true},
	})

	a = New(Options{SuperUsers: []string{"User:superuser1", "User:superuser2"}})
	a.Add(on(TOPIC, res, LITERAL, ace{"User:*", "*", ALL, DENY})...)
	runChecks(t, a, []check{
		{"User:superuser1", "192.0.4.4", READ, TOPIC, res, true},
		{"User:superuser2", "192.0.4.4", READ, TOPIC, res, true},
		{"User:random", "192.0.4.4", READ, TOPIC, res, false},
	})

	const host1 = "192.168.3.1"
	a = newTestAuthorizer()
	runChecks(t, a, []check{{"User:alice", host1, READ, TOPIC, res, false}})
	a.Add(on(TOPIC, "*", LITERAL, ace{"User:alice", host1, READ, ALLOW})...)
	runChecks(t, a, []check{{"User:alice", host1, READ, TOPIC, res, true}})
	a.Add(on(TOPIC, res, LITERAL, ace{"User:alice", host1, WRITE, ALLOW})...)
	runChecks(t, a, []check{{"User:alice", host1, WRITE, TOPIC, res, true}})
	a.Add(on(TOPIC, "*", LITERAL, ace{"User:alice", host1, WRITE, DENY})...)
	runChecks(t, a, []check{
		{"User:alice", host1, WRITE, TOPIC, res, false},
		{"User:alice", host1, READ, TOPIC, res, true},
		// The wildcard name itself.
		{"User:alice", host1, READ, TOPIC, "*", true},
		{"User:alice", host1, WRITE, TOPIC, "*", false},
	})

	a = newTestAuthorizer()
	a.Add(on(TOPIC, "foo", PREFIXED, ace{"User:alice", "*", READ, ALLOW})...)
	runChecks(t, a, []check{
		{"User:alice", "192.168.0.1", READ, TOPIC, res, true},
		{"User:alice", "192.168.0.1", READ, TOPIC, "fo", false},
	})
}

// testAuthorizeWithEmptyResourceName, testSingleCharacterResourceAcls,
// testAuthorizeWithPrefixedResource.
func TestResourceNames(t *testing.T) {
	allowRead := ace{"User:alice", "*", READ, ALLOW}
	denyRead := ace{"User:alice", "*", READ, DENY}
	a := newTestAuthorizer()
	runChecks(t, a, []check{{"User:alice", local, READ, GROUP, "", false}})
	a.Add(on(GROUP, "*", LITERAL, allowRead)...)
	runChecks(t, a, []check{{"User:alice", local, READ, GROUP, "", true}})

	a = newTestAuthorizer()
	a.Add(on(TOPIC, "f", LITERAL, allowRead)...)
	runChecks(t, a, []check{
		{"User:alice", local, READ, TOPIC, "f", true},
		{"User:alice", local, READ, TOPIC, "foo", false},
	})
	a.Add(on(TOPIC, "_", PREFIXED, allowRead)...)
	runChecks(t, a, []check{
		{"User:alice", local, READ, TOPIC, "_foo", true},
		{"User:alice", local, READ, TOPIC, "_", true},
		{"User:alice", local, READ, TOPIC, "foo_", false},
	})

	a = newTestAuthorizer()
	for _, p := range []Binding{
		on(TOPIC, "a_other", LITERAL, denyRead)[0],
		on(TOPIC, "a_other", PREFIXED, denyRead)[0],
		on(TOPIC, "foo-1c5e0fd7-9c4b-4fb0-8c5b-3b0d0e4b7d8a", PREFIXED, denyRead)[0],
		on(TOPIC, "foo-8f0e3c2a-6f1d-4e7b-9a4c-2d5e6f7a8b9c", PREFIXED, denyRead)[0],
		on(TOPIC, "foo-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9-zzz", PREFIXED, denyRead)[0],
		on(TOPIC, "fooo-5b6c7d8e-9f0a-1b2c-3d4e-5f6a7b8c9d0e", PREFIXED, denyRead)[0],
		on(TOPIC, "fo-7e8f9a0b-1c2d-3e4f-5a6b-7c8d9e0f1a2b", PREFIXED, denyRead)[0],
		on(TOPIC, "fop-2c3d4e5f-6a7b-8c9d-0e1f-2a3b4c5d6e7f", PREFIXED, denyRead)[0],
		on(TOPIC, "fon-9d0e1f2a-3b4c-5d6e-7f8a-9b0c1d2e3f4a", PREFIXED, denyRead)[0],
		on(TOPIC, "fon-", PREFIXED, denyRead)[0],
		on(TOPIC, "z_other", PREFIXED, denyRead)[0],
		on(TOPIC, "z_other", LITERAL, denyRead)[0],
	} {
		a.Add(p)
	}
	a.Add(on(TOPIC, "foo", PREFIXED, allowRead)...)
	runChecks(t, a, []check{
		{"User:alice", local, READ, TOPIC, "foo-6d3a", true},
		{"User:alice", local, READ, TOPIC, "foo-1c5e0fd7-9c4b-4fb0-8c5b-3b0d0e4b7d8a-x", false},
		{"User:alice", local, READ, TOPIC, "fon-x", false},
		{"User:alice", local, READ, TOPIC, "a_other", false},
		{"User:alice", local, READ, TOPIC, "a_otherwise", false},
		{"User:alice", local, READ, TOPIC, "z_", false},
	})
}

// testListAcls, testAclManagementAPIs, testGetAclsPrincipal, add/remove
// on literal, wildcard and prefixed resources.
func TestBindingsAndRemove(t *testing.T) {
	a := newTestAuthorizer()
	foo := []Binding{
		acl(TOPIC, "foo_", PREFIXED, "User:bob", "*", READ, ALLOW),
		acl(TOPIC, "foo_", PREFIXED, "User:bob", "*", WRITE, ALLOW),
	}
	bar := []Binding{
		acl(GROUP, "bar", LITERAL, "User:*", "*", DESCRIBE_CONFIGS, DENY),
		acl(GROUP, "bar", LITERAL, "User:*", "*", ALTER_CONFIGS, DENY),
	}
	if n := a.Add(bar[1], foo[1], bar[0], foo[0]); n != 4 {
		t.Fatalf("Add = %d, want 4", n)
	}
	sameBindings(t, "all", a.Bindings(AnyFilter()), []Binding{foo[0], foo[1], bar[0], bar[1]})
	sameBindings(t, "removed", a.Remove(foo[1].ToFilter()), []Binding{foo[1]})
	sameBindings(t, "all after remove", a.Bindings(AnyFilter()), []Binding{foo[0], bar[0], bar[1]})
	topics := AnyFilter()
	topics.ResourceType = TOPIC
	sameBindings(t, "topics", a.Bindings(topics), []Binding{foo[0]})
	if a.Len() != 3 {
		t.Fatalf("Len = %d, want 3", a.Len())
	}

	// Adding is idempotent.
	if n := a.Add(foo[0], foo[0], bar[0]); n != 0 {
		t.Fatalf("re-Add = %d, want 0", n)
	}
	if a.Len() != 3 {
		t.Fatalf("Len after re-Add = %d, want 3", a.Len())
	}

	// Order: resource type, name descending, pattern type, op, principal,
	// host, permission.
	a = newTestAuthorizer()
	want := []Binding{
		acl(TOPIC, "b", LITERAL, "User:a", "*", READ, ALLOW),
		acl(TOPIC, "b", PREFIXED, "User:a", "*", READ, DENY),
		acl(TOPIC, "b", PREFIXED, "User:a", "*", WRITE, ALLOW),
		acl(TOPIC, "b", PREFIXED, "User:b", "*", WRITE, ALLOW),
		acl(TOPIC, "b", PREFIXED, "User:b", "10.0.0.1", WRITE, DENY),
		acl(TOPIC, "b", PREFIXED, "User:b", "10.0.0.1", WRITE, ALLOW),
		acl(TOPIC, "a", LITERAL, "User:a", "*", READ, ALLOW),
		acl(TOPIC, "*", LITERAL, "User:a", "*", READ, ALLOW),
		acl(GROUP, "z", LITERAL, "User:a", "*", READ, ALLOW),
	}
	shuffled := slices.Clone(want)
	slices.Reverse(shuffled)
	a.Add(shuffled...)
	sameBindings(t, "order", a.Bindings(AnyFilter()), want)

	// Per pattern, per principal.
	const res = "foo-6d3a"
	a = newTestAuthorizer()
	acl1 := ace{"User:alice", "10.0.0.1", READ, ALLOW}
	acl2 := ace{"User:alice", "10.0.0.1", WRITE, ALLOW}
	acl3 := ace{"User:bob", "10.0.0.2", READ, ALLOW}
	acl4 := ace{"User:bob", "10.0.0.2", WRITE, ALLOW}
	acl5 := ace{"User:bob", "*", READ, ALLOW}
	a.Add(on(TOPIC, res, LITERAL, acl1, acl2, acl3, acl4)...)
	a.Add(on(TOPIC, res, LITERAL, acl5)...)
	byPrincipal := func(p string) Filter {
		f := AnyFilter()
		f.Principal = &p
		return f
	}
	sameSet(t, "alice", a.Bindings(byPrincipal("User:alice")), on(TOPIC, res, LITERAL, acl1, acl2))
	sameSet(t, "bob", a.Bindings(byPrincipal("User:bob")), on(TOPIC, res, LITERAL, acl3, acl4, acl5))
	sameSet(t, "wildcard principal", a.Bindings(byPrincipal("User:*")), nil)
	a.Add(on(TOPIC, "*", LITERAL, acl5)...)
	a.Add(on(GROUP, "*", LITERAL, acl1, acl2)...)
	a.Add(on(GROUP, "test-ConsumerGroup", LITERAL, acl1, acl2)...)
	a.Add(on(TOPIC, "foo", PREFIXED, acl1, acl2)...)
	resource := func(t kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType) Filter {
		f := AnyFilter()
		f.ResourceType, f.ResourceName, f.PatternType = t, &name, pt
		return f
	}
	sameSet(t, "literal", a.Bindings(resource(TOPIC, res, LITERAL)), on(TOPIC, res, LITERAL, acl1, acl2, acl3, acl4, acl5))
	sameSet(t, "wildcard", a.Bindings(resource(TOPIC, "*", LITERAL)), on(TOPIC, "*", LITERAL, acl5))
	sameSet(t, "prefixed", a.Bindings(resource(TOPIC, "foo", PREFIXED)), on(TOPIC, "foo", PREFIXED, acl1, acl2))
	sameSet(t, "prefixed as literal", a.Bindings(resource(TOPIC, "foo", LITERAL)), nil)
	sameSet(t, "any pattern", a.Bindings(resource(TOPIC, "foo", kmsg.ACLResourcePatternTypeAny)), on(TOPIC, "foo", PREFIXED, acl1, acl2))
	sameSet(t, "match", a.Bindings(resource(TOPIC, res, MATCH)), slices.Concat(
		on(TOPIC, res, LITERAL, acl1, acl2, acl3, acl4, acl5),
		on(TOPIC, "*", LITERAL, acl5),
		on(TOPIC, "foo", PREFIXED, acl1, acl2)))
	sameSet(t, "match any type", a.Bindings(resource(kmsg.ACLResourceTypeAny, "*", MATCH)), slices.Concat(
		on(TOPIC, "*", LITERAL, acl5),
		on(GROUP, "*", LITERAL, acl1, acl2)))

	// Remove some, then all of a resource.
	removed := a.Remove(on(TOPIC, res, LITERAL, acl1)[0].ToFilter())
	removed = append(removed, a.Remove(on(TOPIC, res, LITERAL, acl5)[0].ToFilter())...)
	sameSet(t, "removed", removed, on(TOPIC, res, LITERAL, acl1, acl5))
	sameSet(t, "after remove", a.Bindings(resource(TOPIC, res, LITERAL)), on(TOPIC, res, LITERAL, acl2, acl3, acl4))
	sameSet(t, "remove resource", a.Remove(resource(TOPIC, res, LITERAL)), on(TOPIC, res, LITERAL, acl2, acl3, acl4))
	sameSet(t, "remove prefixed", a.Remove(resource(TOPIC, "foo", PREFIXED)), on(TOPIC, "foo", PREFIXED, acl1, acl2))
	sameSet(t, "remove wildcard", a.Remove(resource(TOPIC, "*", LITERAL)), on(TOPIC, "*", LITERAL, acl5))
	sameSet(t, "remove nothing", a.Remove(resource(TOPIC, "*", LITERAL)), nil)
	sameSet(t, "left", a.Bindings(AnyFilter()), slices.Concat(
		on(GROUP, "*", LITERAL, acl1, acl2),
		on(GROUP, "test-ConsumerGroup", LITERAL, acl1, acl2)))
	sameSet(t, "remove all", a.Remove(AnyFilter()), slices.Concat(
		on(GROUP, "*", LITERAL, acl1, acl2),
		on(GROUP, "test-ConsumerGroup", LITERAL, acl1, acl2)))
	if a.Len() != 0 || len(a.Bindings(AnyFilter())) != 0 {
		t.Fatalf("not empty after removing all: %d %v", a.Len(), a.Bindings(AnyFilter()))
	}
	// Everything emptied is forgotten: no binding applies any more.
	if !New(Options{AllowEveryoneIfNoACLFound: true}).Authorize("User:x", local, READ, TOPIC, "foo") {
		t.Fatal("default allow on an empty authorizer")
	}
	a.allowIfNoACL = true
	if !a.Authorize("User:x", local, READ, TOPIC, "foo-x") || !a.Authorize("User:x", local, READ, GROUP, "g") {
		t.Fatal("bindings removed still apply")
	}
}

// testAclsFilter: describe and delete with overlapping filters.
func TestAclsFilter(t *testing.T) {
	const res1, res2 = "foo-0d1e", "bar-9a8b"
	acl1 := acl(TOPIC, res1, LITERAL, "User:alice", "*", READ, ALLOW)
	acl2 := acl(TOPIC, res1, LITERAL, "User:alice", "192.168.0.1", WRITE, ALLOW)
	acl3 := acl(TOPIC, res2, LITERAL, "User:alice", "*", DESCRIBE, ALLOW)
	acl4 := acl(TOPIC, "bar-", PREFIXED, "User:*", "*", READ, ALLOW)
	a := newTestAuthorizer()
	a.Add(acl1, acl2, acl3, acl4)
	resource := func(t kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType) Filter {
		f := AnyFilter()
		f.ResourceType, f.ResourceName, f.PatternType = t, &name, pt
		return f
	}
	sameSet(t, "any", a.Bindings(AnyFilter()), []Binding{acl1, acl2, acl3, acl4})
	sameSet(t, "res1", a.Bindings(resource(TOPIC, res1, LITERAL)), []Binding{acl1, acl2})
	sameSet(t, "prefixed", a.Bindings(resource(TOPIC, "bar-", PREFIXED)), []Binding{acl4})
	matching := resource(kmsg.ACLResourceTypeAny, res2, MATCH)
	sameSet(t, "matching", a.Bindings(matching), []Binding{acl3, acl4})

	deleted := a.DeleteAcls(matching, acl1.ToFilter(), resource(TOPIC, res2, LITERAL),
		resource(TOPIC, "baz", kmsg.ACLResourcePatternTypeAny))
	sameSet(t, "delete 0", deleted[0], []Binding{acl3, acl4})
	sameSet(t, "delete 1", deleted[1], []Binding{acl1})
	// Matched before deleting: acl3 is listed for filter 0 and filter 2.
	sameSet(t, "delete 2", deleted[2], []Binding{acl3})
	sameSet(t, "delete 3", deleted[3], nil)
	sameSet(t, "left", a.Bindings(AnyFilter()), []Binding{acl2})
	if a.Len() != 1 {
		t.Fatalf("Len = %d, want 1", a.Len())
	}
}

// Add ignores what cannot be decided on.
func TestAddIgnoresUnstorable(t *testing.T) {
	good := acl(TOPIC, "t", LITERAL, "User:a", "*", READ, ALLOW)
	bad := []Binding{
		acl(kmsg.ACLResourceTypeAny, "t", LITERAL, "User:a", "*", READ, ALLOW),
		acl(kmsg.ACLResourceTypeUnknown, "t", LITERAL, "User:a", "*", READ, ALLOW),
		acl(TOPIC, "t", MATCH, "User:a", "*", READ, ALLOW),
		acl(TOPIC, "t", kmsg.ACLResourcePatternTypeAny, "User:a", "*", READ, ALLOW),
		acl(TOPIC, "t", LITERAL, "User:a", "*", kmsg.ACLOperationAny, ALLOW),
		acl(TOPIC, "t", LITERAL, "User:a", "*", kmsg.ACLOperation(99), ALLOW),
		acl(TOPIC, "t", LITERAL, "User:a", "*", READ, kmsg.ACLPermissionTypeAny),
		acl(kmsg.ACLResourceType(-3), "t", LITERAL, "User:a", "*", READ, ALLOW),
	}
	a := newTestAuthorizer()
	if n := a.Add(append(bad, good)...); n != 1 {
		t.Fatalf("Add = %d, want 1", n)
	}
	sameBindings(t, "stored", a.Bindings(AnyFilter()), []Binding{good})
}

// Invalid requests are denied, also to super users.
func TestAuthorizeInvalidAction(t *testing.T) {
	a := New(Options{SuperUsers: []string{"User:admin"}, AllowEveryoneIfNoACLFound: true})
	for _, p := range []string{"User:admin", "User:x"} {
		for _, c := range []struct {
			op kmsg.ACLOperation
			t  kmsg.ACLResourceType
		}{
			{kmsg.ACLOperationAny, TOPIC},
			{kmsg.ACLOperationUnknown, TOPIC},
			{kmsg.ACLOperation(42), TOPIC},
			{READ, kmsg.ACLResourceTypeAny},
			{READ, kmsg.ACLResourceTypeUnknown},
			{READ, kmsg.ACLResourceType(8)},
		} {
			if a.Authorize(p, local, c.op, c.t, "x") || a.AuthorizeAny(p, local, c.op, c.t) {
				t.Errorf("%s allowed %s on %s", p, c.op, c.t)
			}
		}
	}
}

// Readers and writers at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	a := New(Options{AllowEveryoneIfNoACLFound: true})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				b := acl(TOPIC, fmt.Sprintf("t%d-%d", w, i%20), PREFIXED, "User:a", "*", READ, DENY)
				a.Add(b)
				if i%3 == 0 {
					a.Remove(b.ToFilter())
				}
				if i%50 == 0 {
					a.Restore(a.Snapshot())
				}
			}
		}()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 400 {
				a.Authorize("User:a", local, READ, TOPIC, fmt.Sprintf("t0-%d-x", i%20))
				a.AuthorizeAny("User:a", local, READ, TOPIC)
				if i%40 == 0 {
					a.Bindings(AnyFilter())
				}
			}
		}()
	}
	wg.Wait()
}
