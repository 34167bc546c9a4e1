// Package acl implements Kafka's ACL model and the decisions of its
// StandardAuthorizer for the embedded broker: bindings (AclBinding), filters
// (AclBindingFilter), their validation as CreateAcls, DescribeAcls and
// DeleteAcls do it, and an Authorizer holding the bindings. It is pure
// logic: no I/O, no goroutines, no logging.
//
// # What follows Kafka
//
// Bindings. A Binding is a resource pattern (resource type, name, pattern
// type LITERAL or PREFIXED) and an access control entry (principal, host,
// operation, permission ALLOW or DENY), with franz-go's kmsg enums.
// Binding.Validate refuses what Kafka's broker (AclApis) and controller
// (AclControlManager.validateNewAcl, with KAFKA-18051's principal check)
// refuse, with their INVALID_REQUEST messages: an UNKNOWN or ANY resource
// type or operation, a pattern type other than LITERAL and PREFIXED, a
// permission other than ALLOW and DENY, a CLUSTER resource not named
// "kafka-cluster", an empty resource name, a principal without a colon.
// Like Kafka it accepts any other principal ("Group:x", ":x"), and a
// PREFIXED binding named "*" (which matches names starting with "*", not
// every name).
//
// Filters. Filter.Matches is AclBindingFilter.matches: nil strings and ANY
// values match anything; with a resource name, pattern type ANY matches
// bindings of either pattern type on exactly that name, LITERAL or PREFIXED
// only that pattern type on that name, and MATCH the LITERAL bindings on
// the name, the LITERAL bindings on "*" and the PREFIXED bindings on a
// prefix of the name. Filter.Validate is AclControlManager.validateFilter
// ("Unknown patternFilter.", "Unknown entryFilter."). DeleteAcls matches
// every filter against the bindings held before the call, so overlapping
// filters each list a binding, as Kafka's controller does. Bindings (and
// Snapshot) list bindings in StandardAcl's order: resource type, resource
// name in reverse order, pattern type, operation, principal, host,
// permission. A binding is stored once however often it is added.
//
// Decisions. Authorize is StandardAuthorizerData.authorize and its rule
// search: super users (super.users, compared as "Type:name" strings) are
// allowed everything; the bindings that apply to a resource are the
// LITERAL ones on its name, the LITERAL ones on "*" and the PREFIXED ones on
// any prefix of its name; of those, the ones whose principal is the
// requester or "User:*" (for any principal type of the requester), whose
// host is the client's address or "*", and whose operation is the one
// requested or ALL match, an ALLOW of READ, WRITE, DELETE or ALTER also
// matching DESCRIBE and an ALLOW of ALTER_CONFIGS also matching
// DESCRIBE_CONFIGS (a DENY implies nothing: DENY READ does not deny
// DESCRIBE). A matching DENY wins; else a matching ALLOW allows; else the
// request is denied if any binding applies to the resource, whatever its
// principal, host or operation, and answered with
// allow.everyone.if.no.acl.found (Options.AllowEveryoneIfNoACLFound) only
// when none does. AuthorizeAny is Authorizer.authorizeByResourceType,
// including its first check of the LITERAL resource "hardcode" (through
// which super users, and everyone under allow.everyone.if.no.acl.found while
// no binding applies to that name, are allowed), its exact operation
// matching (ALL counts; READ does not imply DESCRIBE there) and its
// domination of an ALLOW by a DENY on the same LITERAL name or on a
// PREFIXED prefix of it. ParseSuperUsers parses super.users as Kafka does.
//
// Performance. Bindings are indexed by resource type, then by name: LITERAL
// ones in a map, PREFIXED ones also in a sorted slice walked by binary
// search (as StandardAuthorizerData walks its sorted set), and within a
// pattern by principal, so Authorize does a few map lookups and binary
// searches whatever the number of bindings, without allocating;
// AuthorizeAny visits only the patterns holding bindings of the principal
// and of "User:*". A sync.RWMutex guards the index (Kafka swaps immutable
// snapshots instead).
//
// # Deviations from Kafka
//
//   - Hosts. Binding.Validate refuses a host that is neither "*" nor an IP
//     address; Kafka stores any string, but compares it to the client's
//     address, so such a binding could never match. Hosts that are IP
//     addresses match the client address as addresses, not strings:
//     "::1" matches "0:0:0:0:0:0:0:1" (Java's form) and "::ffff:10.0.0.1"
//     matches "10.0.0.1" (Java turns mapped addresses into IPv4 ones).
//     Filters still compare hosts as strings, as Kafka's do.
//   - Invalid values. Validate answers INVALID_REQUEST with the
//     controller's message for ANY, MATCH and UNKNOWN values in a creation
//     and for UNKNOWN values in a filter. Kafka's broker fails the whole
//     request instead: ANY and MATCH values in a creation make its
//     AclBinding constructors throw (UNKNOWN_SERVER_ERROR for every
//     creation), and UNKNOWN values fail the request's parsing, closing
//     the connection. Version-specific rules (CreateAcls v0 allows only
//     LITERAL; DescribeAcls and DeleteAcls v0 turn pattern type ANY into
//     LITERAL) are the request handler's.
//   - Authorize and AuthorizeAny deny an UNKNOWN or ANY operation or
//     resource type, also to super users; Kafka's Action would throw or (op
//     ANY) reach the rules. The name is always LITERAL (Kafka throws for
//     other pattern types).
//   - No limit of 10000 records per CreateAcls or DeleteAcls
//     (MAX_RECORDS_PER_USER_OP); no ACL ids (bindings are identified by
//     value, which is how Kafka's controller deduplicates them); no audit
//     log; no "authorizer not ready" state before the initial load: the
//     caller restores a snapshot before serving.
//   - Snapshot and Restore (JSON, enums by name) stand for Kafka's
//     AccessControlEntryRecord and RemoveAccessControlEntryRecord in the
//     metadata log.
//   - Names are compared bytewise (Go strings); Kafka compares UTF-16
//     code units, which orders some non-BMP names differently in listings.
//     Decisions are unaffected.
package acl
