// Package sharegroup is the state machine of KIP-932 share groups
// ("queues for Kafka", Apache Kafka 4.1): the membership of a share group
// as its group coordinator keeps it (ShareGroupHeartbeat,
// ShareGroupDescribe: Kafka's GroupMetadataManager, ShareGroup and
// SimpleAssignor), the delivery state of each share partition as its
// partition leader keeps it (ShareFetch, ShareAcknowledge: Kafka's
// SharePartition), and the records of that state in __share_group_state
// (Kafka's ShareCoordinatorShard). It is pure: no I/O, no goroutines, no
// clock (the caller passes the time), no storage. The types reuse
// consumergroup's topics, assignments and assignor input.
//
// # Membership: [Group]
//
// Members heartbeat with the member ID they generated and their member
// epoch: 0 to join, -1 to leave. A new member, a change of subscription
// (topic names) or of the subscribed topics bumps the group epoch; the
// next heartbeat computes the target assignment with the [Assignor]
// ([SimpleAssignor]) and stamps it with the group epoch. A share group
// has no revocation step: a partition may be assigned to several members
// at once (they share its records), so each member simply takes its
// target at the assignment epoch on its next heartbeat. A member sends its
// epoch or, if the response that bumped it was lost, its previous one;
// other epochs are FENCED_MEMBER_EPOCH. Every change is a [Record]
// mirroring the ShareGroup*Key/Value records of __consumer_offsets;
// [Group.Replay] rebuilds a group from them and [Group.Snapshot] returns
// the records that rebuild it at once. Session deadlines are data:
// [Group.Deadlines], [Group.NextDeadline] and [Group.Expire], which
// returns the members it removed; [Group.ResetTimers] starts them for a
// group loaded by replay.
//
// # Delivery: [Partition]
//
// A share partition has a start offset (SPSO), below which every record
// is done, and in-flight records from there on, each Available, Acquired
// (by one member, until its lock deadline), Acknowledged or Archived,
// with its delivery count. The leader reads the log from
// [Partition.NextFetchOffset] (the first available in-flight record, else
// past the in-flight ones) and passes the record batches it read to
// [Partition.Acquire], which acquires available records again first, then
// new ones, a log batch at a time, bumping delivery counts, within
// maxRecords and MaxInFlightRecords (both soft, as in Kafka).
// [Partition.Acknowledge] applies ACCEPT (acknowledged), RELEASE
// (available again, or archived once delivered DeliveryCountLimit times),
// REJECT and GAP (archived), all or nothing for the partition, only for
// records the member holds. [Partition.ReleaseMember] and
// [Partition.ExpireLocks] release acquisitions as RELEASE does. The start
// offset moves past the done records at the front, whose state is then
// forgotten.
//
// # Persistence
//
// [Partition.State] is what survives the leader ([PartitionState], as
// WriteShareGroupState carries it and ReadShareGroupState returns it):
// the start offset and the in-flight records, acquired ones as if
// released (available with their delivery count, or archived at the
// limit), so that [NewPartition] on it rebuilds the partition a new
// leader has. [StateStore] is the share coordinator's side: it turns each
// state into a [ShareRecord] (a ShareSnapshot, or a ShareUpdate delta
// between snapshots), fences stale leader and state epochs, and rebuilds
// itself by replay; [ShareRecord.MarshalBinary] is its encoding, with a
// version byte. [PartitionState.Lag] is the lag DescribeShareGroupOffsets
// reports.
//
// # Wiring
//
//   - The group coordinator serializes calls on a Group, persists the
//     records each returns before it answers, drives Expire from
//     NextDeadline, and tells the leaders of the partitions of removed
//     members (Expire's result, leaves) to ReleaseMember; so does a
//     closing share session.
//   - A leader creates a Partition at the first ShareFetch for it, from
//     ReadShareGroupState; a partition without state (StartOffset -1)
//     starts where share.auto.offset.reset says: parse it with
//     [ParseAutoOffsetReset] and look up
//     [AutoOffsetReset.ListOffsetsTimestamp] in the log.
//   - ShareFetch: Acknowledge the piggybacked acknowledgements first, then
//     if [Partition.CanAcquire], read the log from NextFetchOffset up to
//     the high watermark (or last stable offset) and Acquire; the
//     response carries the acquired ranges and the batches read. Offsets
//     between the batches passed are taken to hold no records.
//   - Persist State (WriteShareGroupState) before answering after
//     Acknowledge reports Changed, and after AdvanceLogStart and Reset;
//     persisting after an Acquire that acquired something keeps delivery
//     counts exact across a crash. ReleaseMember and ExpireLocks never
//     change State, which already counts acquisitions as released. If a
//     write of acknowledgements fails, go back to a [Partition.Clone]
//     taken before them and answer the write's error (Kafka's
//     rollbackOrProcessStateUpdates): the records stay the member's.
//   - Drive ExpireLocks from NextDeadline (it completes waiting fetches:
//     records became available); Acquire and Acknowledge expire due
//     locks themselves, so a late timer changes no outcome. Call
//     AdvanceLogStart when the log start offset moves.
//
// # What differs from Kafka 4.1
//
//   - A known member may rejoin with epoch 0 and its member ID; Kafka
//     fences it unless its previous epoch is 0 (its consumer groups
//     accept it since KAFKA-19233).
//   - Kafka initializes the share state of a partition
//     (InitializeShareGroupState, ShareGroupStatePartitionMetadata
//     records) before it assigns it; here every partition of a
//     subscribed topic is assignable at once and the leader creates the
//     state at the first fetch. Deleting a group's share state is the
//     caller's ([StateStore.Delete]).
//   - The subscription metadata is recomputed on every heartbeat from the
//     topics passed (Kafka refreshes it periodically, and since 4.1 keeps
//     a metadata hash instead); a change bumps the group epoch as in
//     Kafka. There is no share.assignment.interval.ms batching: the
//     assignment is computed in the heartbeat that needs it.
//   - The SimpleAssignor's rules are Kafka's (members per partition,
//     partitions per member, revoke the over-shared, then the
//     over-filled, then hand out the rest); ties Kafka breaks by hash map
//     order are broken by member ID, topic ID and partition.
//   - A partition's in-flight records always cover the start offset to
//     the end offset without holes: offsets between log batches are
//     archived at acquisition instead of being acquired and acknowledged
//     as gaps by the client (a GAP acknowledgement is still accepted).
//   - Acquired delivery counts are part of State: Kafka writes state only
//     on acknowledgement, release and lock expiry, so after a crash it may
//     deliver a record once more than the limit; here that happens only
//     if the caller does not persist after Acquire. Loaded available
//     records at the limit are archived.
//   - When the log start offset passes in-flight records, their state is
//     dropped at once, acquired ones included (Kafka archives them when
//     released); acknowledgements below the start offset are ignored in
//     both.
//   - Acknowledge checks every offset's owner and state before applying
//     any (Kafka applies and rolls back), with the same outcome and error
//     codes (INVALID_REQUEST for malformed batches or offsets past the
//     in-flight records, INVALID_RECORD_STATE for records not acquired
//     by the member). Batches are validated here rather than by the
//     request handler.
//   - Not covered: per-group dynamic configuration (KIP-1240), the
//     RENEW acknowledgement and acquisition modes of KIP-1222 and later,
//     read_committed transaction filtering (the leader passes batches
//     below the last stable offset and drops aborted ones itself), share
//     sessions and their epochs, the delayed-fetch purgatory, and the
//     snapshot-epoch bookkeeping of ShareCoordinatorShard beyond counting
//     updates per snapshot.
package sharegroup
