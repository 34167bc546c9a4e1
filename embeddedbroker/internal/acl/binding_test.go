package acl

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	anyType = kmsg.ACLResourceTypeAny
	anyPat  = kmsg.ACLResourcePatternTypeAny
	anyOp   = kmsg.ACLOperationAny
	anyPerm = kmsg.ACLPermissionTypeAny
)

// ResourcePatternFilterTest.
func TestFilterMatchesPattern(t *testing.T) {
	pf := func(rt kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType) Filter {
		return Filter{ResourceType: rt, ResourceName: name, PatternType: pt, Operation: anyOp, Permission: anyPerm}
	}
	rp := func(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType) Binding {
		return acl(rt, name, pt, "User:a", "*", READ, ALLOW)
	}
	for _, tc := range []struct {
		name string
		f    Filter
		b    Binding
		want bool
	}{
		{"different resource type", pf(TOPIC, ptr("Name"), LITERAL), rp(GROUP, "Name", LITERAL), false},
		{"different name", pf(TOPIC, ptr("Different"), PREFIXED), rp(TOPIC, "Name", PREFIXED), false},
		{"different name case", pf(TOPIC, ptr("NAME"), LITERAL), rp(TOPIC, "Name", LITERAL), false},
		{"different pattern type", pf(TOPIC, ptr("Name"), LITERAL), rp(TOPIC, "Name", PREFIXED), false},
		{"resource type any", pf(anyType, ptr("Name"), PREFIXED), rp(TOPIC, "Name", PREFIXED), true},
		{"resource name any", pf(TOPIC, nil, PREFIXED), rp(TOPIC, "Name", PREFIXED), true},
		{"pattern type any", pf(TOPIC, nil, anyPat), rp(TOPIC, "Name", PREFIXED), true},
		{"pattern type match", pf(TOPIC, nil, MATCH), rp(TOPIC, "Name", PREFIXED), true},
		{"literal exact", pf(TOPIC, ptr("Name"), LITERAL), rp(TOPIC, "Name", LITERAL), true},
		{"literal, filter any", pf(TOPIC, ptr("Name"), anyPat), rp(TOPIC, "Name", LITERAL), true},
		{"literal, filter match", pf(TOPIC, ptr("Name"), MATCH), rp(TOPIC, "Name", LITERAL), true},
		{"literal not as prefix", pf(TOPIC, ptr("Name-something"), MATCH), rp(TOPIC, "Name", LITERAL), false},
		{"wildcard exact", pf(TOPIC, ptr("*"), LITERAL), rp(TOPIC, "*", LITERAL), true},
		{"wildcard vs other name", pf(TOPIC, ptr("Name"), LITERAL), rp(TOPIC, "*", LITERAL), false},
		{"wildcard the way around", pf(TOPIC, ptr("*"), LITERAL), rp(TOPIC, "Name", LITERAL), false},
		{"wildcard, filter any", pf(TOPIC, ptr("Name"), anyPat), rp(TOPIC, "*", LITERAL), false},
		{"wildcard, filter match", pf(TOPIC, ptr("Name"), MATCH), rp(TOPIC, "*", LITERAL), true},
		{"prefixed exact", pf(TOPIC, ptr("Name"), PREFIXED), rp(TOPIC, "Name", PREFIXED), true},
		{"both prefixed, filter prefix of resource", pf(TOPIC, ptr("Name"), PREFIXED), rp(TOPIC, "Name-something", PREFIXED), false},
		{"both prefixed, resource prefix of filter", pf(TOPIC, ptr("Name-something"), PREFIXED), rp(TOPIC, "Name", PREFIXED), false},
		{"prefixed, filter any", pf(TOPIC, ptr("Name-something"), anyPat), rp(TOPIC, "Name", PREFIXED), false},
		{"prefixed, filter match", pf(TOPIC, ptr("Name-something"), MATCH), rp(TOPIC, "Name", PREFIXED), true},
		{"prefixed equal, filter match", pf(TOPIC, ptr("Name"), MATCH), rp(TOPIC, "Name", PREFIXED), true},
		{"prefixed longer, filter match", pf(TOPIC, ptr("Nam"), MATCH), rp(TOPIC, "Name", PREFIXED), false},
		{"prefixed *, filter match", pf(TOPIC, ptr("Name"), MATCH), rp(TOPIC, "*", PREFIXED), false},
		{"unknown pattern type", pf(TOPIC, nil, kmsg.ACLResourcePatternTypeUnknown), rp(TOPIC, "Name", LITERAL), false},
	} {
		if got := tc.f.Matches(tc.b); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// AccessControlEntryFilter.matches.
func TestFilterMatchesEntry(t *testing.T) {
	b := acl(TOPIC, "t", LITERAL, "User:alice", "10.0.0.1", READ, DENY)
	ef := func(p, h *string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) Filter {
		return Filter{ResourceType: anyType, PatternType: anyPat, Principal: p, Host: h, Operation: op, Permission: perm}
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want bool
	}{
		{"any", AnyFilter(), true},
		{"principal", ef(ptr("User:alice"), nil, anyOp, anyPerm), true},
		{"other principal", ef(ptr("User:bob"), nil, anyOp, anyPerm), false},
		{"wildcard principal is not a wildcard in filters", ef(ptr("User:*"), nil, anyOp, anyPerm), false},
		{"host", ef(nil, ptr("10.0.0.1"), anyOp, anyPerm), true},
		{"wildcard host is not a wildcard in filters", ef(nil, ptr("*"), anyOp, anyPerm), false},
		{"host as another string", ef(nil, ptr("::ffff:10.0.0.1"), anyOp, anyPerm), false},
		{"operation", ef(nil, nil, READ, anyPerm), true},
		{"operation ALL is not a wildcard in filters", ef(nil, nil, ALL, anyPerm), false},
		{"other operation", ef(nil, nil, WRITE, anyPerm), false},
		{"permission", ef(nil, nil, anyOp, DENY), true},
		{"other permission", ef(nil, nil, anyOp, ALLOW), false},
		{"exact", b.ToFilter(), true},
	} {
		if got := tc.f.Matches(b); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestBindingValidate(t *testing.T) {
	ok := acl(TOPIC, "*", LITERAL, "User:*", "*", ALTER, ALLOW)
	mod := func(f func(*Binding)) Binding {
		b := ok
		f(&b)
		return b
	}
	for _, tc := range []struct {
		b   Binding
		msg string
	}{
		{ok, ""},
		{mod(func(b *Binding) { b.PatternType = PREFIXED; b.ResourceName = "*" }), ""},
		{mod(func(b *Binding) { b.Principal = "Group:g" }), ""},
		{mod(func(b *Binding) { b.Principal = ":anonymous" }), ""},
		{mod(func(b *Binding) { b.Host = "192.168.0.1" }), ""},
		{mod(func(b *Binding) { b.Host = "::1" }), ""},
		{mod(func(b *Binding) { b.Host = "0:0:0:0:0:0:0:1" }), ""},
		{mod(func(b *Binding) { b.Host = "fe80::1%eth0" }), ""},
		{mod(func(b *Binding) { b.ResourceType = CLUSTER; b.ResourceName = "kafka-cluster" }), ""},
		{mod(func(b *Binding) { b.ResourceType = CLUSTER; b.ResourceName = "kafka-cluster"; b.PatternType = PREFIXED }), ""},
		{mod(func(b *Binding) { b.ResourceType = USER; b.ResourceName = "alice" }), ""},
		{mod(func(b *Binding) { b.ResourceType = DELEGATION_TOKEN; b.ResourceName = "tok" }), ""},
		{mod(func(b *Binding) { b.PatternType = kmsg.ACLResourcePatternTypeUnknown }), "Invalid patternType UNKNOWN"},
		{mod(func(b *Binding) { b.PatternType = MATCH }), "Invalid patternType MATCH"},
		{mod(func(b *Binding) { b.PatternType = anyPat }), "Invalid patternType ANY"},
		{mod(func(b *Binding) { b.PatternType = 17 }), "Invalid patternType UNKNOWN"},
		{mod(func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeUnknown }), "Invalid resourceType UNKNOWN"},
		{mod(func(b *Binding) { b.ResourceType = anyType }), "Invalid resourceType ANY"},
		{mod(func(b *Binding) { b.ResourceType = 9 }), "Invalid resourceType UNKNOWN"},
		{mod(func(b *Binding) { b.Operation = kmsg.ACLOperationUnknown }), "Invalid operation UNKNOWN"},
		{mod(func(b *Binding) { b.Operation = anyOp }), "Invalid operation ANY"},
		{mod(func(b *Binding) { b.Operation = 15 }), "Invalid operation UNKNOWN"},
		{mod(func(b *Binding) { b.Permission = kmsg.ACLPermissionTypeUnknown }), "Invalid permissionType UNKNOWN"},
		{mod(func(b *Binding) { b.Permission = anyPerm }), "Invalid permissionType ANY"},
		{mod(func(b *Binding) { b.ResourceType = CLUSTER }), "The only valid name for the CLUSTER resource is kafka-cluster"},
		{mod(func(b *Binding) { b.ResourceType = CLUSTER; b.ResourceName = "" }), "The only valid name for the CLUSTER resource is kafka-cluster"},
		{mod(func(b *Binding) { b.ResourceName = "" }), "Invalid empty resource name"},
		{mod(func(b *Binding) { b.Principal = "alice" }), "Could not parse principal from `alice` (no colon is present separating the principal type from the principal name)"},
		{mod(func(b *Binding) { b.Principal = "" }), "Could not parse principal from `` (no colon is present separating the principal type from the principal name)"},
		{mod(func(b *Binding) { b.Host = "" }), "Invalid host ``: an ACL host must be * or an IP address"},
		{mod(func(b *Binding) { b.Host = "host1" }), "Invalid host `host1`: an ACL host must be * or an IP address"},
		{mod(func(b *Binding) { b.Host = "10.0.0.0/8" }), "Invalid host `10.0.0.0/8`: an ACL host must be * or an IP address"},
		// The first failing rule is reported.
		{mod(func(b *Binding) { b.ResourceType = anyType; b.Operation = anyOp; b.Principal = "x" }), "Invalid resourceType ANY"},
		{mod(func(b *Binding) { b.ResourceName = ""; b.Principal = "x" }), "Invalid empty resource name"},
	} {
		code, msg := tc.b.Validate()
		wantCode := int16(0)
		if tc.msg != "" {
			wantCode = kerr.InvalidRequest.Code
		}
		if code != wantCode || msg != tc.msg {
			t.Errorf("Validate(%v) = %d %q, want %d %q", tc.b, code, msg, wantCode, tc.msg)
		}
	}
}

func TestFilterValidate(t *testing.T) {
	for _, tc := range []struct {
		f   Filter
		msg string
	}{
		{AnyFilter(), ""},
		{Filter{ResourceType: anyType, ResourceName: ptr("*"), PatternType: LITERAL, Principal: ptr("User:*"), Host: ptr("*"), Operation: anyOp, Permission: anyPerm}, ""},
		{Filter{ResourceType: TOPIC, PatternType: MATCH, Operation: READ, Permission: DENY}, ""},
		{Filter{ResourceType: anyType, ResourceName: ptr("*"), PatternType: kmsg.ACLResourcePatternTypeUnknown, Operation: anyOp, Permission: anyPerm}, "Unknown patternFilter."},
		{Filter{ResourceType: kmsg.ACLResourceTypeUnknown, PatternType: anyPat, Operation: anyOp, Permission: anyPerm}, "Unknown patternFilter."},
		{Filter{ResourceType: 12, PatternType: anyPat, Operation: anyOp, Permission: anyPerm}, "Unknown patternFilter."},
		{Filter{ResourceType: anyType, ResourceName: ptr("*"), PatternType: MATCH, Operation: anyOp, Permission: kmsg.ACLPermissionTypeUnknown}, "Unknown entryFilter."},
		{Filter{ResourceType: anyType, PatternType: MATCH, Operation: kmsg.ACLOperationUnknown, Permission: anyPerm}, "Unknown entryFilter."},
		{Filter{}, "Unknown patternFilter."},
	} {
		code, msg := tc.f.Validate()
		wantCode := int16(0)
		if tc.msg != "" {
			wantCode = kerr.InvalidRequest.Code
		}
		if code != wantCode || msg != tc.msg {
			t.Errorf("Validate(%+v) = %d %q, want %d %q", tc.f, code, msg, wantCode, tc.msg)
		}
	}
}
