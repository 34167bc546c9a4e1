// Package consumergroup is the state machine of one consumer group of the
// next-generation consumer group protocol (KIP-848, ConsumerGroupHeartbeat
// and ConsumerGroupDescribe), as Kafka 4.0's group coordinator
// (GroupMetadataManager, ConsumerGroup, CurrentAssignmentBuilder,
// TargetAssignmentBuilder and the uniform and range assignors) implements
// it. It is pure: no I/O, no goroutines, no clock (the caller passes the
// time), no storage. A coordinator runtime owns one [Group] per group,
// serializes the calls on it, persists the records the calls return and
// drives its timers.
//
// # The protocol
//
// Members heartbeat with their member epoch: 0 to join, -1 to leave, -2
// for a static member leaving for a while. A member's subscription (topic
// names and/or a regular expression) or a change of the subscribed topics
// bumps the group epoch; the next heartbeat then computes a new target
// assignment with the assignor the most members chose (else the group's
// default) and stamps it with the group epoch. Each member then reconciles
// its own assignment with its target, one heartbeat at a time: it keeps
// what it has of its target, must revoke the rest (the response assigns
// it without them), and only once its heartbeats no longer report them as
// owned does it move to the target epoch and get its new partitions, of
// which it gets only those no other member still holds. No partition is
// ever held by two members. Members heartbeat with their current epoch or,
// if a response was lost, with the previous one; other epochs are fenced
// (FENCED_MEMBER_EPOCH) and the member rejoins with epoch 0 and its
// member ID, without partitions.
//
// # Records
//
// Every state change is a [Record], mirroring the ConsumerGroup*Key/Value
// records Kafka writes to __consumer_offsets; the group applies them to
// itself as it decides them. [Group.Replay] applies them to a new group,
// which then has the same state; [Group.Snapshot] returns records that
// rebuild the current state at once. Records have a [Record.Key]: a log
// compacted by key replays to the same state.
//
// # Time
//
// Timers are data: a heartbeat sets its member's session deadline and,
// when the member must revoke partitions, its rebalance deadline;
// [Group.Deadlines] and [Group.NextDeadline] expose them and
// [Group.Expire] removes the members whose deadlines passed. They are not
// persisted; [Group.ResetTimers] starts them for a group loaded by replay.
//
// # What differs from Kafka 4.0
//
//   - Regular expressions are Go's regexp (RE2 syntax), matched against the
//     whole topic name as Kafka matches its RE2J expressions. RE2J follows
//     RE2 (no backreferences, no lookaround) but takes Java's spelling in
//     corners, such as some character class names and flags, which may
//     compile differently or not at all here (INVALID_REGULAR_EXPRESSION).
//     Kafka resolves expressions asynchronously and in batches;
//     here a new expression is resolved in the heartbeat that brings it,
//     and all of them again at most every [Config.RegexRefreshInterval],
//     against the topics the heartbeat passes (which must leave out the
//     topics members may not see: unauthorized ones; internal topics are
//     in, as Kafka matches them too).
//   - The subscription metadata is recomputed on every heartbeat from the
//     topics it passes, where Kafka refreshes it every few minutes or on
//     metadata changes; a change bumps the group epoch as in Kafka.
//   - A member known to the group may rejoin with epoch 0 and its member
//     ID (Kafka since KAFKA-19233); a static member may do so too while
//     it holds its instance ID, where Kafka answers UNRELEASED_INSTANCE_ID.
//     A static member taking over a departed one is not refused when the
//     group is full.
//   - When the last member leaves, the assignment epoch follows the group
//     epoch (Kafka since KAFKA-20442).
//   - Assignors are deterministic by construction; ties Kafka breaks by
//     hash map order are broken by member ID or topic ID. The uniform
//     assignor's algorithms are this package's, with Kafka's properties
//     (balance first, then stickiness); neither assignor is rack-aware
//     (nor are Kafka 4.0's).
//   - Not covered: members of the classic protocol in a consumer group
//     (online upgrade and downgrade), per-group dynamic configuration,
//     client-side assignors, offsets (commit validation with member epochs
//     belongs to the offsets code), and GROUP_ID_NOT_FOUND for a heartbeat
//     to a group that does not exist (the caller knows which exist; here
//     an unknown member is UNKNOWN_MEMBER_ID).
package consumergroup
