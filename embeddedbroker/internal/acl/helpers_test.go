package acl

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Short names for the enums, as Kafka's tests import them statically.
const (
	TOPIC            = kmsg.ACLResourceTypeTopic
	GROUP            = kmsg.ACLResourceTypeGroup
	CLUSTER          = kmsg.ACLResourceTypeCluster
	TRANSACTIONAL_ID = kmsg.ACLResourceTypeTransactionalId
	DELEGATION_TOKEN = kmsg.ACLResourceTypeDelegationToken
	USER             = kmsg.ACLResourceTypeUser

	LITERAL  = kmsg.ACLResourcePatternTypeLiteral
	PREFIXED = kmsg.ACLResourcePatternTypePrefixed
	MATCH    = kmsg.ACLResourcePatternTypeMatch

	ALL              = kmsg.ACLOperationAll
	READ             = kmsg.ACLOperationRead
	WRITE            = kmsg.ACLOperationWrite
	CREATE           = kmsg.ACLOperationCreate
	DELETE           = kmsg.ACLOperationDelete
	ALTER            = kmsg.ACLOperationAlter
	DESCRIBE         = kmsg.ACLOperationDescribe
	CLUSTER_ACTION   = kmsg.ACLOperationClusterAction
	DESCRIBE_CONFIGS = kmsg.ACLOperationDescribeConfigs
	ALTER_CONFIGS    = kmsg.ACLOperationAlterConfigs
	IDEMPOTENT_WRITE = kmsg.ACLOperationIdempotentWrite
	CREATE_TOKENS    = kmsg.ACLOperationCreateTokens
	DESCRIBE_TOKENS  = kmsg.ACLOperationDescribeTokens

	ALLOW = kmsg.ACLPermissionTypeAllow
	DENY  = kmsg.ACLPermissionTypeDeny
)

// validOps are the operations a request can ask for (Kafka's validOp).
var validOps = []kmsg.ACLOperation{ALL, READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, CLUSTER_ACTION,
	DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, CREATE_TOKENS, DESCRIBE_TOKENS}

// acl builds a binding as Kafka's StandardAcl constructor.
func acl(t kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) Binding {
	return Binding{t, name, pt, principal, host, op, perm}
}

// ace is an access control entry to put on resources with on.
type ace struct {
	principal, host string
	op              kmsg.ACLOperation
	perm            kmsg.ACLPermissionType
}

// on binds aces to one resource pattern.
func on(t kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, aces ...ace) []Binding {
	out := make([]Binding, len(aces))
	for i, a := range aces {
		out[i] = Binding{t, name, pt, a.principal, a.host, a.op, a.perm}
	}
	return out
}

func ptr(s string) *string { return &s }

// superman is the super user of createAndInitializeStandardAuthorizer.
func newTestAuthorizer() *Authorizer {
	return New(Options{SuperUsers: []string{"User:superman"}})
}

// check is one Authorize expectation.
type check struct {
	principal, host string
	op              kmsg.ACLOperation
	t               kmsg.ACLResourceType
	name            string
	want            bool
}

func runChecks(t *testing.T, a *Authorizer, checks []check) {
	t.Helper()
	for _, c := range checks {
		if got := a.Authorize(c.principal, c.host, c.op, c.t, c.name); got != c.want {
			t.Errorf("Authorize(%s, %s, %s, %s, %q) = %v, want %v", c.principal, c.host, c.op, c.t, c.name, got, c.want)
		}
	}
}

func sameBindings(t *testing.T, what string, got, want []Binding) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d bindings %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: binding %d is %v, want %v (all: %v)", what, i, got[i], want[i], got)
		}
	}
}

// sameSet compares bindings ignoring order.
func sameSet(t *testing.T, what string, got, want []Binding) {
	t.Helper()
	m := map[Binding]int{}
	for _, b := range want {
		m[b]++
	}
	for _, b := range got {
		m[b]--
	}
	for b, n := range m {
		if n != 0 {
			t.Fatalf("%s: got %v, want %v (differs on %v)", what, got, want, b)
		}
	}
}
