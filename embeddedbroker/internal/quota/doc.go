// Package quota implements Kafka's client quotas for the embedded broker:
// the configured quotas (Store, answering DescribeClientQuotas and
// AlterClientQuotas) and their enforcement (Manager, one per quota kind).
// It is pure logic: no I/O, no goroutines, no sleeping; time comes from an
// injected clock.
//
// # What follows Kafka
//
// Quota keys and entities. The keys are producer_byte_rate,
// consumer_byte_rate, request_percentage and controller_mutation_rate. An
// Entity is a user, a client-id or both, each a specific name or <default>
// (a nil name on the wire). Alter validates as Kafka's
// ClientQuotaControlManager: an unknown key, a value <= 0, a fractional or
// too large byte rate, a repeated key, an empty or repeated entity type, an
// empty name are INVALID_REQUEST; removing a key that is not set is not an
// error. An entry with no quota left is deleted.
//
// DescribeClientQuotas follows ClientQuotasImage.describe: components match
// EXACT (a name), DEFAULT (<default>) or ANY (a name or <default>) on one
// entity type each; strict also excludes entities with other types; filter
// errors are the response's top-level error.
//
// Precedence. For a connection of (user, client-id) the quota is the first
// configured of:
//
//	/config/users/<user>/clients/<client-id>
//	/config/users/<user>/clients/<default>
//	/config/users/<user>
//	/config/users/<default>/clients/<client-id>
//	/config/users/<default>/clients/<default>
//	/config/users/<default>
//	/config/clients/<client-id>
//	/config/clients/<default>
//
// and usage is measured per the entity the quota is found at, as Kafka's
// DefaultQuotaCallback names sensors: with a quota at /config/users/<default>
// each user has its own rate shared by its client-ids; with one at
// /config/clients/<default> each client-id has its own, shared across
// users; at a <user, client-id> level each pair has its own. This is done in
// Kafka's two steps (metric tags, then the limit for those tags), including
// its optimisation while quotas have only ever been set at one kind of
// level, and its quirk that an empty client-id is never matched by a quota
// with a client-id component (the tags drop it, so only user-level quotas
// can apply). The user is the principal name:
// pass "ANONYMOUS" for an unauthenticated connection, as Kafka does.
//
// Measurement. The rate is Kafka's Rate over a WindowedSum with
// quota.window.num samples (Config.Samples, default 11) of
// quota.window.size.seconds (Config.SampleSize, default 1 s), at millisecond
// resolution: samples start at a record, obsolete samples (no record for
// Samples*SampleSize) are purged, and the window is the time since the
// oldest retained sample but at least Samples-1 full samples plus the
// elapsed part of the current one. So a fresh client may burst
// (Samples-1)*SampleSize worth of quota at once (MaxValueInQuotaWindow),
// and single throttles are approximate while the long-run rate is the quota.
// A violated quota (rate > bound) yields Kafka's throttle time
// round((rate-bound)/bound*window); request_percentage throttles are capped
// at one sample (ClientRequestQuotaManager), byte-rate ones are not.
// Nothing is recorded for a kind until a quota of that kind has been
// configured; from then on every connection is recorded, also without a
// quota, so a quota set later sees recent usage. Sensors idle for an hour
// are dropped.
//
// request_percentage is a percentage of one thread: 100 is one thread's full
// time, and Kafka's total for a broker is 100*(num.io.threads +
// num.network.threads). Kafka does not scale the quota by the thread count
// and neither does this package; record Percent(handling time).
//
// # What the caller does
//
// Managers only compute. Kafka (since KIP-219) sends a throttled response at
// once, carrying throttle_time_ms, and then mutes the connection: it reads
// no further request from it until the throttle time has passed; clients
// that know KIP-219 (e.g. Produce v6+, Fetch v8+) also hold back on their
// side. The embedded broker's connection code should do the same: put the
// throttle in the response, send it, and delay reading that connection's
// next request until now+throttle (Manager.ThrottledUntil gives the same
// deadline per sensor, which is shared by all connections of the entity).
// Per API, as KafkaApis:
//
//   - Produce: Record the request size on the Produce manager and
//     Percent(handling time) on the Request manager; the throttle is the
//     larger. The records are appended regardless.
//   - Fetch: Record the response size on the Fetch manager and the handling
//     time on the Request manager; if either throttles, take the bytes back
//     (RecordNoThrottle with the negative size) and answer an empty
//     response with the larger throttle. Cap a consumer's max bytes at
//     MaxValueInQuotaWindow.
//   - Other client APIs: Record the handling time on the Request manager
//     and return the throttle in the response's throttle_time_ms.
//
// # Deviations from Kafka
//
//   - controller_mutation_rate is validated, stored and described but not
//     enforced (Kafka's ControllerMutationQuotaManager, a token bucket with
//     THROTTLING_QUOTA_EXCEEDED, is not implemented).
//   - IP entities (connection_creation_rate) are refused with
//     INVALID_REQUEST; describing an ip filter finds nothing.
//   - NaN and infinite values are refused (Kafka accepts NaN, and infinity
//     for the double-typed keys).
//   - An entity with a repeated entity type is INVALID_REQUEST (Kafka's
//     request parsing keeps the last). An entity repeated within one
//     AlterClientQuotas request is refused for its second occurrence only,
//     with one response entry per request entry.
//   - Throttle times are clamped to [0, MaxInt32] ms (Kafka's conversion
//     to int would wrap).
//   - Time is measured from the Manager's creation with the clock's
//     monotonic reading when it has one, so wall-clock jumps do not skew
//     rates.
//   - No client quota callback plugin, no metrics (byte-rate, throttle-time,
//     queue-size), no exempt request sensor; names are matched as given,
//     not URL-sanitized as Kafka does for its metric tags.
//   - Snapshot/Restore (sorted JSON) replace Kafka's metadata log records;
//     describe results are sorted (Kafka's are in hash order).
package quota
