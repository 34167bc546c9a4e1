// Package groups is the consumer group coordinator of the embedded broker:
// the classic (pre-KIP-848) group membership protocol and the committed
// offsets kept in __consumer_offsets, KIP-848 consumer groups
// (consumer.go) and KIP-932 share groups (share.go, share_admin.go).
//
// It follows Apache Kafka's GroupCoordinator / GroupMetadataManager closely,
// because real clients (the Java client, franz-go, sarama,
// segmentio/kafka-go, librdkafka) encode their expectations about error
// codes, state transitions and timing in their retry logic. Where this
// package deviates from Kafka it says so in a comment.
//
// # Ownership and partitions
//
// Every group lives in one partition of __consumer_offsets, chosen by
// [Coordinator.PartitionFor]. The broker calls [Coordinator.Load] when it becomes leader
// of such a partition and [Coordinator.Unload] when it stops being leader.
// Load replays the partition's records (the same GroupMetadataKey/Value and
// OffsetCommitKey/Value schemas Kafka writes) and then serves the groups.
// Requests for groups of a partition that is not loaded answer
// NOT_COORDINATOR; of a partition still loading, COORDINATOR_LOAD_IN_PROGRESS
// (or the variant Kafka answers for that API, see [Coordinator.Handle]).
//
// # Durability
//
// Every state change that Kafka persists is appended through the partition's
// [Store] before it is acknowledged: offset commits before the commit is
// answered, a new generation's assignment before SyncGroup is answered,
// tombstones before DeleteGroups/OffsetDelete are answered. Writes of one
// group are appended strictly in the order they were decided, and their
// effect is applied to memory in the same order, so that the in-memory state
// always equals what a replay of the log would rebuild.
//
// # Transactional offset commits
//
// TxnOffsetCommit (KIP-98, KIP-447) writes its offsets as a transactional
// batch of the producer ([Store].AppendTxn) and keeps them pending for that
// producer: invisible to OffsetFetch, UNSTABLE_OFFSET_COMMIT for fetches
// that require stable offsets, never expired. The broker calls
// [Coordinator.CompleteTxn] once the producer's commit or abort marker is
// appended to the partition; Load resolves pending offsets from the markers
// it replays, as Kafka's GroupMetadataManager does.
//
// # Concurrency
//
// Each group is guarded by its own mutex. The coordinator's own mutex only
// guards the map of groups and of loaded partitions and is never held while
// a group is locked or while anything waits. JoinGroup and SyncGroup block
// their caller until the rebalance step completes (or the caller's context
// ends); nothing else blocks except on the Store. Timers (session timeouts,
// rebalance timeouts, the initial rebalance delay) run on their own
// goroutines and take the group's mutex.
package groups
