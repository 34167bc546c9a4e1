// Package cleaner is the pure logic of the embedded broker's log cleaner
// (log compaction, cleanup.policy=compact): which records and batches of a
// log's sealed segments a cleaning keeps, and the bytes of the batches it
// rewrites. It does no I/O; the storage layer reads the segments, calls this
// package batch by batch, and writes what it returns. Offsets never change.
//
// It follows Apache Kafka 3.x/4.x closely (LogCleaner's Cleaner,
// CleanedTransactionMetadata, SkimpyOffsetMap, MemoryRecords.filterTo and
// DefaultRecordBatch), because what a compacted topic keeps is observable by
// every consumer and by the idempotent producer. Where it deviates it says so
// in the comment of the function concerned; the list is at the end.
//
// # A cleaning
//
// A cleaning of one log, with dirty section [firstDirty, firstUncleanable)
// and the clean part before it, goes:
//
//  1. Map the dirty section: with m := NewOffsetMap(share) (or a map from
//     an earlier cleaning, after m.Clear()) and tx := NewTxnState(the
//     aborted transactions of the dirty section), call m.AddBatch(b, tx) on
//     each batch from firstDirty in offset order, up to firstUncleanable or
//     the first batch that does not fit. The cleaning ends before that
//     batch (end = its base offset; Kafka ends inside it, at
//     m.LatestOffset()+1, see AddBatch), or at firstUncleanable when all
//     fit: then call m.UpdateLatestOffset(firstUncleanable-1), as Kafka
//     does at each mapped segment's end, so that a cleaning with nothing
//     new to map (only horizons to pass) still covers the whole log.
//  2. Filter the log from its start to end: with one FilterOptions (Map m,
//     Txn a new TxnState of the aborted transactions in [start, end), Now,
//     the topic's delete.retention.ms and the producers' last batches),
//     call Filter on each batch in offset order and write Result.Batch in
//     its place (nothing when nil). Of the aborted transactions whose ABORT
//     marker lies in the cleaned range, keep in the log's aborted
//     transaction index only those some Result.AbortedTxn names, as
//     Kafka's cleaned index does.
//  3. The clean part now ends at end. When some Result.KeptTombstones, a
//     later cleaning at or after the smallest Result.DeleteHorizon removes
//     what they kept.
//
// A record survives a cleaning if no later record in the dirty section has
// its key; a tombstone (a null value) survives too, until delete.retention.ms
// after the first cleaning that kept it (KIP-534: the horizon is stamped into
// the batch, see Filter). Aborted transactions' records go; transaction
// markers go once their transaction has no data left and their horizon
// passed. A producer's last batch stays, possibly empty, so that its
// sequence numbers survive. Keyless records, which a compacted topic does
// not accept, go.
//
// # Deviations from Kafka
//
//   - Only message format v2: older batches are an error (Kafka applies a
//     legacy rule, by segment age, to their tombstones).
//   - OffsetMap.AddBatch maps every record of the first dirty batch, where
//     Kafka starts at the first dirty offset inside it: harmless (see
//     AddBatch). Kafka ends a cleaning inside the first batch that did not
//     fit in the map; the caller here ends it before that batch: as safe,
//     and that batch is cleaned next time.
//   - NewOffsetMap gives a map too small for one key two slots, where Kafka
//     refuses to start.
//   - Rewritten compressed batches use this module's compressors: same
//     codec, other bytes than Java's.
//   - Malformed input is an error wrapping the batch package's sentinels,
//     where Kafka throws; neither checks the CRC while cleaning.
//   - FilterOptions.IsLastMarkerOfProducer is an addition, to express
//     Kafka's rule that a producer's last marker stays when it has no data
//     left; Result reports what Kafka's FilterResult and cleaned transaction
//     index get.
package cleaner
