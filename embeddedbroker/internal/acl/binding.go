package acl

import (
	"cmp"
	"fmt"
	"net/netip"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Short names for the enum values used throughout the package.
const (
	typeUnknown  = kmsg.ACLResourceTypeUnknown
	typeAny      = kmsg.ACLResourceTypeAny
	typeTopic    = kmsg.ACLResourceTypeTopic
	typeCluster  = kmsg.ACLResourceTypeCluster
	typeUser     = kmsg.ACLResourceTypeUser
	patUnknown   = kmsg.ACLResourcePatternTypeUnknown
	patAny       = kmsg.ACLResourcePatternTypeAny
	patMatch     = kmsg.ACLResourcePatternTypeMatch
	patLiteral   = kmsg.ACLResourcePatternTypeLiteral
	patPrefixed  = kmsg.ACLResourcePatternTypePrefixed
	opUnknown    = kmsg.ACLOperationUnknown
	opAny        = kmsg.ACLOperationAny
	opAll        = kmsg.ACLOperationAll
	opLast       = kmsg.ACLOperationDescribeTokens
	permUnknown  = kmsg.ACLPermissionTypeUnknown
	permAny      = kmsg.ACLPermissionTypeAny
	permDeny     = kmsg.ACLPermissionTypeDeny
	permAllow    = kmsg.ACLPermissionTypeAllow
	wildcard     = "*"
	wildcardUser = "User:*"
)

// ClusterName is the only name a CLUSTER resource may have (Kafka's
// Resource.CLUSTER_NAME).
const ClusterName = "kafka-cluster"

// Wildcard is the resource name of a LITERAL binding that applies to every
// resource of its type, and the host of a binding that applies to every
// client address.
const Wildcard = wildcard

// WildcardPrincipal is the principal of a binding that applies to every
// principal.
const WildcardPrincipal = wildcardUser

// Binding is one ACL (Kafka's AclBinding): a resource pattern and an access
// control entry.
type Binding struct {
	ResourceType kmsg.ACLResourceType
	ResourceName string
	PatternType  kmsg.ACLResourcePatternType // LITERAL or PREFIXED in a stored binding
	Principal    string                      // "User:alice", "User:*"
	Host         string                      // "*" or an IP address
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType // ALLOW or DENY
}

// Filter is a DescribeAcls or DeleteAcls filter (Kafka's AclBindingFilter).
// A nil string matches any value and an ANY enum value matches any value;
// PatternType MATCH matches, for a ResourceName, the LITERAL bindings on that
// name, the LITERAL bindings on the wildcard name "*" and the PREFIXED
// bindings whose name is a prefix of it (Kafka's ResourcePatternFilter).
type Filter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// AnyFilter returns the filter that matches every binding (Kafka's
// AclBindingFilter.ANY).
func AnyFilter() Filter {
	return Filter{ResourceType: typeAny, PatternType: patAny, Operation: opAny, Permission: permAny}
}

// ToFilter returns the filter that matches exactly b (Kafka's
// AclBinding.toFilter).
func (b Binding) ToFilter() Filter {
	name, principal, host := b.ResourceName, b.Principal, b.Host
	return Filter{
		ResourceType: b.ResourceType,
		ResourceName: &name,
		PatternType:  b.PatternType,
		Principal:    &principal,
		Host:         &host,
		Operation:    b.Operation,
		Permission:   b.Permission,
	}
}

// String formats b for messages, e.g.
// "TOPIC:LITERAL:foo User:alice@* READ ALLOW".
func (b Binding) String() string {
	return fmt.Sprintf("%s:%s:%s %s@%s %s %s", b.ResourceType, b.PatternType, b.ResourceName,
		b.Principal, b.Host, b.Operation, b.Permission)
}

// known maps enum values outside the protocol's range to UNKNOWN, as
// Kafka's fromCode does.
func knownType(t kmsg.ACLResourceType) kmsg.ACLResourceType {
	if t < typeUnknown || t > typeUser {
		return typeUnknown
	}
	return t
}

func knownPattern(p kmsg.ACLResourcePatternType) kmsg.ACLResourcePatternType {
	if p < patUnknown || p > patPrefixed {
		return patUnknown
	}
	return p
}

func knownOp(o kmsg.ACLOperation) kmsg.ACLOperation {
	if o < opUnknown || o > opLast {
		return opUnknown
	}
	return o
}

func knownPerm(p kmsg.ACLPermissionType) kmsg.ACLPermissionType {
	if p < permUnknown || p > permAllow {
		return permUnknown
	}
	return p
}

func invalid(format string, args ...any) (int16, string) {
	return kerr.InvalidRequest.Code, fmt.Sprintf(format, args...)
}

// Validate reports why b may not be created, as Kafka's broker (AclApis)
// and controller (AclControlManager.validateNewAcl) do: it returns 0 and ""
// for a valid binding, or the error code and message to answer its
// CreateAcls creation with (INVALID_REQUEST for every rule):
//
//   - the resource type must not be UNKNOWN or ANY;
//   - the pattern type must be LITERAL or PREFIXED;
//   - the operation must not be UNKNOWN or ANY;
//   - the permission must be ALLOW or DENY;
//   - a CLUSTER resource must be named "kafka-cluster";
//   - the resource name must not be empty;
//   - the principal must contain a colon ("Type:name");
//   - the host must be "*" or an IP address (not checked by Kafka).
func (b Binding) Validate() (code int16, msg string) {
	switch t := knownType(b.ResourceType); t {
	case typeUnknown, typeAny:
		return invalid("Invalid resourceType %s", t)
	}
	switch p := knownPattern(b.PatternType); p {
	case patLiteral, patPrefixed:
	default:
		return invalid("Invalid patternType %s", p)
	}
	switch o := knownOp(b.Operation); o {
	case opUnknown, opAny:
		return invalid("Invalid operation %s", o)
	}
	switch p := knownPerm(b.Permission); p {
	case permAllow, permDeny:
	default:
		return invalid("Invalid permissionType %s", p)
	}
	if b.ResourceType == typeCluster && b.ResourceName != ClusterName {
		return invalid("The only valid name for the CLUSTER resource is %s", ClusterName)
	}
	if b.ResourceName == "" {
		return invalid("Invalid empty resource name")
	}
	if !strings.Contains(b.Principal, ":") {
		return invalid("Could not parse principal from `%s` (no colon is present separating the principal type from the principal name)", b.Principal)
	}
	if b.Host != wildcard {
		if _, err := netip.ParseAddr(b.Host); err != nil {
			return invalid("Invalid host `%s`: an ACL host must be * or an IP address", b.Host)
		}
	}
	return 0, ""
}

// Validate reports why f may not be used in DescribeAcls or DeleteAcls, as
// Kafka's AclControlManager.validateFilter: 0 and "" for a usable filter,
// INVALID_REQUEST if its resource type, pattern type, operation or
// permission is UNKNOWN.
func (f Filter) Validate() (code int16, msg string) {
	if knownType(f.ResourceType) == typeUnknown || knownPattern(f.PatternType) == patUnknown {
		return invalid("Unknown patternFilter.")
	}
	if knownOp(f.Operation) == opUnknown || knownPerm(f.Permission) == permUnknown {
		return invalid("Unknown entryFilter.")
	}
	return 0, ""
}

// Matches reports whether f matches b, as Kafka's AclBindingFilter.matches.
func (f Filter) Matches(b Binding) bool {
	return f.matchesPattern(b.ResourceType, b.ResourceName, b.PatternType) &&
		f.matchesEntry(b.Principal, b.Host, b.Operation, b.Permission)
}

// matchesPattern is Kafka's ResourcePatternFilter.matches.
func (f Filter) matchesPattern(t kmsg.ACLResourceType, name string, p kmsg.ACLResourcePatternType) bool {
	if f.ResourceType != typeAny && f.ResourceType != t {
		return false
	}
	if f.PatternType != patAny && f.PatternType != patMatch && f.PatternType != p {
		return false
	}
	if f.ResourceName == nil {
		return true
	}
	if f.PatternType == patAny || f.PatternType == p {
		return *f.ResourceName == name
	}
	switch p { // f.PatternType is MATCH
	case patLiteral:
		return *f.ResourceName == name || name == wildcard
	case patPrefixed:
		return strings.HasPrefix(*f.ResourceName, name)
	}
	return false
}

// matchesEntry is Kafka's AccessControlEntryFilter.matches.
func (f Filter) matchesEntry(principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) bool {
	return (f.Principal == nil || *f.Principal == principal) &&
		(f.Host == nil || *f.Host == host) &&
		(f.Operation == opAny || f.Operation == op) &&
		(f.Permission == permAny || f.Permission == perm)
}

// compareBindings orders bindings as Kafka's StandardAcl.compareTo does:
// resource type, resource name in REVERSE order, pattern type, operation,
// principal, host, permission.
func compareBindings(a, b Binding) int {
	if c := cmp.Compare(a.ResourceType, b.ResourceType); c != 0 {
		return c
	}
	if c := strings.Compare(b.ResourceName, a.ResourceName); c != 0 {
		return c
	}
	if c := cmp.Compare(a.PatternType, b.PatternType); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Operation, b.Operation); c != 0 {
		return c
	}
	if c := strings.Compare(a.Principal, b.Principal); c != 0 {
		return c
	}
	if c := strings.Compare(a.Host, b.Host); c != 0 {
		return c
	}
	return cmp.Compare(a.Permission, b.Permission)
}

// storable reports whether b can be held by an Authorizer: the fields the
// index and the decision rely on have definite values.
func storable(b Binding) bool {
	switch knownType(b.ResourceType) {
	case typeUnknown, typeAny:
		return false
	}
	switch knownOp(b.Operation) {
	case opUnknown, opAny:
		return false
	}
	return (b.PatternType == patLiteral || b.PatternType == patPrefixed) &&
		(b.Permission == permAllow || b.Permission == permDeny)
}
