package acl

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestSnapshotRestore(t *testing.T) {
	bs := []Binding{
		acl(TOPIC, "foo", LITERAL, "User:alice", "*", READ, ALLOW),
		acl(TOPIC, "foo", PREFIXED, "User:*", "10.0.0.1", WRITE, DENY),
		acl(TOPIC, "*", LITERAL, "User:bob", "*", DESCRIBE_CONFIGS, ALLOW),
		acl(GROUP, "g", PREFIXED, "User:carol", "::1", ALL, ALLOW),
		acl(CLUSTER, ClusterName, LITERAL, "User:ops", "*", CLUSTER_ACTION, ALLOW),
		acl(TRANSACTIONAL_ID, "tx-", PREFIXED, "User:p", "*", IDEMPOTENT_WRITE, ALLOW),
		acl(DELEGATION_TOKEN, "tok", LITERAL, "User:p", "*", DESCRIBE_TOKENS, ALLOW),
		acl(USER, "u", LITERAL, "User:p", "*", CREATE_TOKENS, DENY),
	}
	a := newTestAuthorizer()
	a.Add(bs...)
	snap := a.Snapshot()

	// Deterministic: the same contents added in another order encode alike.
	b := newTestAuthorizer()
	rev := slices.Clone(bs)
	slices.Reverse(rev)
	b.Add(rev...)
	if !bytes.Equal(snap, b.Snapshot()) {
		t.Fatalf("snapshots differ:\n%s\n%s", snap, b.Snapshot())
	}
	if !strings.Contains(string(snap), `"resourceType":"TRANSACTIONAL_ID"`) {
		t.Fatalf("enums not by name: %s", snap)
	}

	// Restore replaces the contents.
	c := New(Options{})
	c.Add(acl(TOPIC, "gone", LITERAL, "User:x", "*", READ, ALLOW))
	if err := c.Restore(snap); err != nil {
		t.Fatal(err)
	}
	sameBindings(t, "restored", c.Bindings(AnyFilter()), a.Bindings(AnyFilter()))
	if c.Len() != len(bs) {
		t.Fatalf("Len = %d, want %d", c.Len(), len(bs))
	}
	if !bytes.Equal(c.Snapshot(), snap) {
		t.Fatal("snapshot of the restored authorizer differs")
	}
	if !c.Authorize("User:carol", "0:0:0:0:0:0:0:1", ALTER, GROUP, "g1") {
		t.Fatal("restored binding does not decide")
	}

	// An empty authorizer.
	empty := New(Options{}).Snapshot()
	if string(empty) != `{"version":1,"acls":[]}` {
		t.Fatalf("empty snapshot = %s", empty)
	}
	if err := c.Restore(empty); err != nil || c.Len() != 0 {
		t.Fatalf("restore empty: %v, Len %d", err, c.Len())
	}

	// Errors leave the contents alone.
	c.Add(bs[0])
	for _, bad := range []string{
		``,
		`{"version":2,"acls":[]}`,
		`{"version":1,"acls":[],"extra":1}`,
		`{"version":1,"acls":[{"resourceType":"TOPIC","resourceName":"x","patternType":"MATCH","principal":"User:a","host":"*","operation":"READ","permissionType":"ALLOW"}]}`,
		`{"version":1,"acls":[{"resourceType":"ANY","resourceName":"x","patternType":"LITERAL","principal":"User:a","host":"*","operation":"READ","permissionType":"ALLOW"}]}`,
		`{"version":1,"acls":[{"resourceType":"TOPIC","resourceName":"x","patternType":"LITERAL","principal":"User:a","host":"*","operation":"FLY","permissionType":"ALLOW"}]}`,
		`{"version":1,"acls":[{"resourceType":"TOPIC","resourceName":"x","patternType":"LITERAL","principal":"User:a","host":"*","operation":"READ","permissionType":"ANY"}]}`,
	} {
		if err := c.Restore([]byte(bad)); err == nil {
			t.Errorf("Restore(%s) succeeded", bad)
		}
	}
	sameBindings(t, "after failed restores", c.Bindings(AnyFilter()), bs[:1])
}
