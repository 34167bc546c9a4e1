// Package sharecoord is the share coordinator of KIP-932 (Kafka's
// ShareCoordinatorService and ShareCoordinatorShard): it keeps the
// delivery state of every share partition (a share group's view of one
// topic partition: its start offset and the state of its in-flight
// records) in the internal topic __share_group_state, and serves the
// RPCs partition leaders and the group coordinator send it:
// InitializeShareGroupState, ReadShareGroupState, WriteShareGroupState,
// DeleteShareGroupState and ReadShareGroupStateSummary.
//
// It sits on package coordruntime as the group and transaction
// coordinators do: a node that leads a partition of __share_group_state
// loads it ([Coordinator.Load]: the records are replayed into a
// [sharegroup.StateStore] per share partition) and unloads it when the
// leadership moves; the state of a share partition lives in the partition
// its coordinator key ([Key]: "group:topicId:partition", topicId in
// Kafka's base64 form) hashes to (coordkey.Partition, as Kafka's
// ShareCoordinator.partitionFor), which FindCoordinator with key type 2
// (SHARE) finds. The fencing of stale writers (leader epoch, state epoch)
// and the validation of states are sharegroup.StateStore's.
//
// A write is answered once its record is durable (appended and
// replicated as an acks=all produce); the writes of one share partition
// are serialized. A failed append leaves the state in memory as it was.
//
// # What differs from Kafka
//
//   - Every write is a snapshot (Kafka's ShareSnapshotKey/Value) of the
//     whole share-partition state, never a ShareUpdate delta: the topic
//     is compacted here (Kafka deletes it by retention and prunes it with
//     DeleteRecords below the oldest snapshot still needed), and a
//     compacted log keeps only the last record of a key, which must then
//     be complete. States are small (the in-flight records, in ranges), so
//     the cost is bytes, not writes. The keys are Kafka's ShareSnapshotKey
//     bytes (version 0, group, topic ID, partition); the values are
//     sharegroup.ShareRecord's own encoding.
//   - ReadShareGroupState records the reader's leader epoch in memory
//     only (Kafka writes it); WriteShareGroupState persists it. A reader
//     fenced only by such a read may write again after a coordinator
//     failover.
//   - ReadShareGroupState of a share partition without state answers its
//     start offset as -1 with no error (what a partition leader takes as
//     "initialize from share.auto.offset.reset"); InitializeShareGroupState
//     is accepted but not required before a write.
//   - There is no share.coordinator.snapshot.update.records.per.snapshot,
//     no pruning and no metrics.
package sharecoord
