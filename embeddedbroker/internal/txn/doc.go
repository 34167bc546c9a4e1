// Package txn is the transaction coordinator of the embedded broker: the
// transactional side of InitProducerID, AddPartitionsToTxn,
// AddOffsetsToTxn, EndTxn, DescribeTransactions and ListTransactions, with
// the transactions' state kept in __transaction_state.
//
// It follows Apache Kafka 3.x's TransactionCoordinator,
// TransactionStateManager and TransactionMetadata closely, because clients
// (the Java client, franz-go, sarama) encode their expectations about error
// codes and state transitions in their retry logic. Where this package
// deviates from Kafka it says so in a comment.
//
// # Ownership and partitions
//
// Every transactional ID lives in one partition of __transaction_state,
// chosen by [Coordinator.PartitionFor]. The broker calls [Coordinator.Load] when it
// becomes leader of such a partition and [Coordinator.Unload] when it stops
// being leader. Load replays the partition's records (Kafka's
// TxnMetadataKey/TxnMetadataValue schemas, as kmsg encodes them) and then
// completes transactions it finds half-way through a commit or abort.
// Requests for transactional IDs of a partition that is not loaded answer
// NOT_COORDINATOR; of a partition still loading,
// COORDINATOR_LOAD_IN_PROGRESS.
//
// # State changes
//
// As in Kafka, every state change of a transactional ID is first prepared
// in memory as a pending transition, written to the partition's [Store] as
// one record and applied only once the write succeeded. While a transition
// is pending, other requests for the same ID answer CONCURRENT_TRANSACTIONS,
// which clients retry. No lock is held while the Store or the
// [MarkerWriter] is called; records of one partition are appended in the
// order their transitions were prepared.
//
// EndTxn answers the client once the PrepareCommit or PrepareAbort record is
// durable; the coordinator then writes the transaction markers through the
// MarkerWriter (retrying until it succeeds) and persists CompleteCommit or
// CompleteAbort.
package txn
