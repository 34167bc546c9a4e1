package cleaner

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kbin"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// ErrOptions means Filter or AddBatch was called without what it needs (a
// TxnState): a programming error of the caller.
var ErrOptions = errors.New("cleaner: invalid options")

// FilterOptions is what Filter needs besides the batch: the state of one
// cleaning, shared by every batch of it.
type FilterOptions struct {
	// Map is the offset map of the dirty section, built with AddBatch. A
	// record is compared with it only up to Map.LatestOffset(); later
	// records are kept. Nil is an empty map: every record is kept, and
	// only the batch-level rules (aborted transactions, markers) apply.
	Map *OffsetMap

	// Txn follows transactions across the batches of this cleaning: one
	// TxnState made for the walk from the first batch filtered, from the
	// aborted transactions of the section being cleaned. Required.
	Txn *TxnState

	// Now (unix ms) and DeleteRetentionMs (delete.retention.ms) set the
	// fate of tombstones and removable transaction markers, by KIP-534:
	// the first cleaning that keeps them stamps their batch's delete
	// horizon, Now+DeleteRetentionMs; a cleaning at or after the horizon
	// (Now >= horizon) removes them.
	Now, DeleteRetentionMs int64

	// IsLastBatchOfProducer reports whether the batch of this producer
	// ending at lastOffset holds the producer's last data (the last offset
	// of the last data batch in its state, for an active producer). Kafka
	// keeps that batch, emptied of its records if they all go, so that the
	// producer's epoch and sequence numbers survive cleaning and reloads.
	// Nil means none is.
	IsLastBatchOfProducer func(producerID, lastOffset int64) bool

	// IsLastMarkerOfProducer reports, for a control batch, whether its
	// producer is active, has no data batch left in its state (Kafka's
	// lastDataOffset is empty) and is at this epoch: Kafka then keeps the
	// marker, which holds the producer's last epoch, for fencing. It is
	// asked only about control batches, and only when
	// IsLastBatchOfProducer said no. Nil means never. This is an addition
	// to the brief's API: IsLastBatchOfProducer alone cannot express
	// Kafka's third case.
	IsLastMarkerOfProducer func(producerID int64, producerEpoch int16) bool

	// FirstUncleanableOffset is Kafka's upperBoundOffsetOfCleaningRound
	// (KAFKA-17076, Kafka 4.0): the batch whose next offset is this is
	// kept, emptied if need be, so that the cleaned part of the log still
	// ends where it did. Zero turns this rule off.
	FirstUncleanableOffset int64
}

// Result is what Filter decided for one batch.
type Result struct {
	// Batch is what to write in place of the input: nil to drop the batch
	// entirely, the input itself when it is kept unchanged, or else a new
	// batch with the same base offset and last offset.
	Batch []byte

	// RecordsIn is the input's record count (from its header) and
	// RecordsKept the number of records in Batch.
	RecordsIn, RecordsKept int
	// BytesIn and BytesOut are len of the input and of Batch.
	BytesIn, BytesOut int
	// Invalid counts keyless records removed (Kafka's invalid message
	// count: a compacted topic does not accept them on produce).
	Invalid int

	// MaxTimestamp and OffsetOfMaxTimestamp are what Kafka's filterTo
	// reports for the time index: Batch's max timestamp and last offset
	// (the "shallow" offset of the max timestamp), or -1 and -1 when
	// Batch is nil or holds only records without a timestamp.
	MaxTimestamp, OffsetOfMaxTimestamp int64
	// MaxOffset is the largest offset Kafka reports for Batch: its last
	// offset, or for a rebuilt batch the offset of its last record, which
	// can be smaller (the batch keeps its original last offset); -1 when
	// Batch is nil.
	MaxOffset int64

	// KeptTombstones reports that Batch keeps tombstones or a removable
	// transaction marker, which a cleaning at or after DeleteHorizon will
	// remove.
	KeptTombstones bool
	// DeleteHorizon is Batch's delete horizon (unix ms), or -1 if it has
	// none.
	DeleteHorizon int64

	// AbortedTxn is set when the input is an ABORT marker whose
	// transaction still had data in the section walked: the marker stays
	// and so must the transaction's entry in the aborted transaction
	// index of the cleaned log (Kafka rebuilds that index from these). The
	// entries of other aborted transactions of the cleaned section go.
	AbortedTxn *AbortedTxn
}

// noTimestamp is Kafka's RecordBatch.NO_TIMESTAMP.
const noTimestamp = -1

// kept is a record Filter keeps, with its absolute timestamp.
type kept struct {
	batch.Record
	ts int64
}

// Filter decides what becomes of the one batch that is b (raw Kafka v2
// record batch bytes, base offset set) in a cleaning: kept as is, rewritten
// without some records, emptied, or dropped. The caller passes every batch
// of the section it cleans, in offset order, from the log's start; offsets
// never change.
//
// It follows Kafka's Cleaner.cleanInto and MemoryRecords.filterTo:
//
//   - A batch of an aborted transaction loses all its records. A control
//     batch (COMMIT or ABORT marker) goes only when its transaction has no
//     data batch left in the walk and its delete horizon has passed; the
//     first cleaning that finds it removable stamps the horizon. An ABORT
//     marker stays while the walk meets batches of its transaction (even
//     ones this cleaning removes), so it goes at a later cleaning.
//   - A record past Map.LatestOffset() is kept. Before it, a keyless record
//     goes (Kafka does not fail the cleaning for it) and a keyed one stays
//     if its offset is at least the map's offset for its key and, for a
//     tombstone (null value), if its batch has no delete horizon yet or Now
//     is before it. Records of control batches always stay unless the
//     whole batch goes.
//   - The batch holding a producer's last data (IsLastBatchOfProducer), a
//     producer's last marker (IsLastMarkerOfProducer), and the batch ending
//     at FirstUncleanableOffset stay even when they lose every record: as
//     an empty batch (a header only, no codec, base timestamp -1, no delete
//     horizon, the original max timestamp) with the producer id, epoch,
//     base sequence, last offset delta, partition leader epoch and the
//     transactional, control and timestamp-type bits of the original.
//     Other batches that lose every record go.
//   - A batch that keeps every record and needs no new horizon is returned
//     as is (the same slice).
//   - Otherwise the batch is rebuilt: same base offset, last offset delta
//     (so the last sequence number survives), producer id, epoch, base
//     sequence, partition leader epoch, codec, transactional, control and
//     timestamp-type bits, and the kept records with their offset deltas,
//     timestamps, keys, values and headers, encoded afresh (record
//     attributes 0) and compressed with the batch's codec, with a new CRC.
//     Other attribute bits (7-15) are dropped, as Kafka's builder does.
//
// # The delete horizon (KIP-534)
//
// A kept batch gets a delete horizon, Now+DeleteRetentionMs, when it keeps
// a tombstone or is a removable marker and has none yet: attribute bit 6
// (0x40) is set and the batch's base timestamp (FirstTimestamp) becomes the
// horizon. A batch with a horizon keeps it through later rewrites. Kafka
// derives every record's timestamp as base timestamp plus the record's
// timestamp delta whether or not the bit is set, so, like Kafka, Filter
// rewrites each record's delta against the horizon (ts - horizon, negative):
// record timestamps read the same for every client, old or new, which all
// compute base plus delta (or take MaxTimestamp under LogAppendTime, which
// is kept). What does change for old clients is only the batch's base
// timestamp, which no longer is the first record's timestamp; a client
// that showed it as a record's timestamp would show the horizon. Kafka does
// the same. Without a horizon, a rebuilt batch's base timestamp is its first
// kept record's timestamp, as in Kafka.
//
// A record timestamp below -1 cannot be written by Kafka's batch builder:
// it fails the cleaning (IllegalArgumentException), and so does Filter,
// with an error wrapping batch.ErrInvalidTimestamp, when such a record must
// be rewritten.
//
// # Deviations from Kafka
//
// Only message format v2 is handled: magic 0 and 1 batches fail with
// batch.ErrUnsupportedMagic (Kafka cleans them with the legacy, segment-age
// tombstone rule). The CRC of the input is not checked, as Kafka's cleaner
// does not check it either. Compressed output has the same codec but not
// byte for byte what Java's compressors write. Malformed input fails with
// an error wrapping the batch package's sentinels, where Kafka throws.
func Filter(b []byte, opt FilterOptions) (Result, error) {
	res := Result{
		BytesIn:              len(b),
		MaxTimestamp:         noTimestamp,
		OffsetOfMaxTimestamp: -1,
		MaxOffset:            -1,
		DeleteHorizon:        -1,
	}
	if opt.Txn == nil {
		return res, fmt.Errorf("%w: Filter with a nil TxnState", ErrOptions)
	}
	h, err := parseBatch(b)
	if err != nil {
		return res, err
	}
	res.RecordsIn = int(max(h.NumRecords, 0))
	horizon, hasHorizon := h.FirstTimestamp, h.Attributes&batch.AttrDeleteHorizon != 0

	// Kafka's checkBatchRetention.
	var canDiscard bool
	if h.Control() {
		canDiscard, res.AbortedTxn, err = opt.Txn.onControlBatch(&h, b)
		if err != nil {
			return res, err
		}
	} else {
		canDiscard = opt.Txn.onDataBatch(&h)
	}
	discardRecords := canDiscard
	if h.Control() {
		discardRecords = canDiscard && hasHorizon && horizon <= opt.Now
	}
	retainEmpty := false
	switch {
	case h.ProducerID >= 0 && lastOfProducer(&h, &opt):
		retainEmpty = true
	case opt.FirstUncleanableOffset != 0 && h.NextOffset() == opt.FirstUncleanableOffset:
		retainEmpty = true
	case discardRecords:
		return res, nil // DELETE: the records are not even read
	}
	markerForEmptyTxn := canDiscard && h.Control()

	// Kafka's filterBatch.
	var (
		keep       []kept
		tombstones bool
		maxOffset  int64 = -1
		allKept          = true
	)
	if !discardRecords {
		latest := int64(-1)
		if opt.Map != nil {
			latest = opt.Map.latest
		}
		logAppendTime := h.LogAppendTime()
		keep = make([]kept, 0, min(int(max(h.NumRecords, 0)), len(b)/7))
		err := batch.ForEachRecord(b, func(r batch.Record) bool {
			off := h.BaseOffset + int64(r.OffsetDelta)
			if !h.Control() && !retainRecord(&opt, latest, off, &r, hasHorizon, horizon, &res) {
				allKept = false
				return true
			}
			ts := h.FirstTimestamp + r.TimestampDelta
			if logAppendTime {
				ts = h.MaxTimestamp
			}
			keep = append(keep, kept{Record: r, ts: ts})
			maxOffset = max(maxOffset, off)
			if r.Value == nil {
				tombstones = true
			}
			return true
		})
		if err != nil {
			return res, fmt.Errorf("cleaner: filtering the batch at offset %d: %w", h.BaseOffset, err)
		}
	}

	switch {
	case len(keep) > 0:
		res.RecordsKept = len(keep)
		res.KeptTombstones = tombstones || markerForEmptyTxn
		needHorizon := (tombstones || markerForEmptyTxn) && !hasHorizon
		if allKept && !needHorizon {
			res.Batch = b
			res.MaxTimestamp, res.OffsetOfMaxTimestamp, res.MaxOffset = h.MaxTimestamp, h.LastOffset(), h.LastOffset()
			if hasHorizon {
				res.DeleteHorizon = horizon
			}
			break
		}
		newHorizon := int64(noTimestamp)
		if needHorizon {
			newHorizon = opt.Now + opt.DeleteRetentionMs
		} else if hasHorizon {
			newHorizon = horizon
		}
		out, maxTs, err := rebuild(&h, keep, newHorizon)
		if err != nil {
			return res, err
		}
		res.Batch = out
		res.MaxTimestamp, res.MaxOffset = maxTs, maxOffset
		// MemoryRecordsBuilder.info: -1 for a CreateTime batch whose
		// records have no timestamp.
		if h.LogAppendTime() || maxTs != noTimestamp {
			res.OffsetOfMaxTimestamp = h.LastOffset()
		}
		if newHorizon >= 0 {
			res.DeleteHorizon = newHorizon
		}
	case retainEmpty:
		out := emptyBatch(&h)
		if bytes.Equal(out, b) {
			out = b
		}
		res.Batch = out
		res.MaxTimestamp, res.OffsetOfMaxTimestamp, res.MaxOffset = h.MaxTimestamp, h.LastOffset(), h.LastOffset()
	}
	res.BytesOut = len(res.Batch)
	return res, nil
}

// lastOfProducer is Kafka's isBatchLastRecordOfProducer.
func lastOfProducer(h *batch.Header, opt *FilterOptions) bool {
	if opt.IsLastBatchOfProducer != nil && opt.IsLastBatchOfProducer(h.ProducerID, h.LastOffset()) {
		return true
	}
	return h.Control() && opt.IsLastMarkerOfProducer != nil && opt.IsLastMarkerOfProducer(h.ProducerID, h.ProducerEpoch)
}

// retainRecord is Kafka's Cleaner.shouldRetainRecord for a data record at
// offset off, given the map's latest offset.
func retainRecord(opt *FilterOptions, latest, off int64, r *batch.Record, hasHorizon bool, horizon int64, res *Result) bool {
	if opt.Map == nil || off > latest {
		return true
	}
	if r.Key == nil {
		res.Invalid++
		return false
	}
	found, ok := opt.Map.Get(r.Key)
	if ok && off < found {
		return false
	}
	if r.Value != nil {
		return true
	}
	return !hasHorizon || opt.Now < horizon
}

// parseBatch parses the header of the one batch that must be all of b.
func parseBatch(b []byte) (batch.Header, error) {
	h, err := batch.ParseHeader(b)
	if err != nil {
		return h, fmt.Errorf("cleaner: %w", err)
	}
	if h.Size() != len(b) {
		return h, fmt.Errorf("%w: the batch at offset %d is %d bytes by its length field but %d are given",
			batch.ErrCorrupt, h.BaseOffset, h.Size(), len(b))
	}
	return h, nil
}

// putHeader writes the header fields that Filter's batches share with the
// original h: the base offset, partition leader epoch, magic, last offset
// delta and producer, leaving length, attributes, timestamps, count and CRC
// to the caller.
func putHeader(out []byte, h *batch.Header) {
	batch.SetBaseOffset(out, h.BaseOffset)
	binary.BigEndian.PutUint32(out[batch.OffLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	out[batch.OffMagic] = 2
	binary.BigEndian.PutUint32(out[batch.OffLastOffsetDelta:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint64(out[batch.OffProducerID:], uint64(h.ProducerID))
	binary.BigEndian.PutUint16(out[batch.OffProducerEpoch:], uint16(h.ProducerEpoch))
	binary.BigEndian.PutUint32(out[batch.OffBaseSequence:], uint32(h.BaseSequence))
}

// emptyBatch is Kafka's DefaultRecordBatch.writeEmptyHeader for h.
func emptyBatch(h *batch.Header) []byte {
	out := make([]byte, batch.HeaderSize)
	putHeader(out, h)
	binary.BigEndian.PutUint32(out[batch.OffLength:], batch.HeaderSize-batch.LengthOverhead)
	attrs := uint16(h.Attributes) & (batch.AttrTimestampType | batch.AttrTransactional | batch.AttrControl)
	binary.BigEndian.PutUint16(out[batch.OffAttributes:], attrs)
	binary.BigEndian.PutUint64(out[batch.OffFirstTimestamp:], math.MaxUint64) // NO_TIMESTAMP, -1
	binary.BigEndian.PutUint64(out[batch.OffMaxTimestamp:], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint32(out[batch.OffNumRecords:], 0)
	batch.SetCRC(out)
	return out
}

// rebuild writes a batch like h's holding only recs, as Kafka's
// buildRetainedRecordsInto does, with delete horizon horizon (-1: none). It
// returns the batch and its max timestamp.
func rebuild(h *batch.Header, recs []kept, horizon int64) ([]byte, int64, error) {
	codec := h.Codec()
	if !codec.Known() {
		return nil, 0, fmt.Errorf("%w: the batch at offset %d has unknown compression codec %d",
			batch.ErrCorrupt, h.BaseOffset, int8(codec))
	}
	logAppendTime := h.LogAppendTime()
	base := recs[0].ts
	if horizon >= 0 {
		base = horizon
	}
	maxTs := int64(noTimestamp)
	if logAppendTime {
		maxTs = h.MaxTimestamp
	}
	size := 0
	for i := range recs {
		r := &recs[i]
		if r.ts < 0 && r.ts != noTimestamp {
			return nil, 0, fmt.Errorf("%w: record at offset %d has timestamp %d, which a rewritten batch cannot hold",
				batch.ErrInvalidTimestamp, h.BaseOffset+int64(r.OffsetDelta), r.ts)
		}
		if !logAppendTime && r.ts > maxTs {
			maxTs = r.ts
		}
		size += 5 + recordBodyLen(&r.Record, r.ts-base)
	}

	var payload []byte
	if codec == batch.CodecNone {
		payload = make([]byte, batch.HeaderSize, batch.HeaderSize+size)
	} else {
		payload = make([]byte, 0, size)
	}
	for i := range recs {
		payload = appendRecord(payload, &recs[i].Record, recs[i].ts-base)
	}
	out := payload
	if codec != batch.CodecNone {
		out = batch.Compress(codec, make([]byte, batch.HeaderSize, batch.HeaderSize+size/2+64), payload)
	}
	if len(out)-batch.LengthOverhead > math.MaxInt32 {
		return nil, 0, fmt.Errorf("%w: the batch at offset %d would be %d bytes rewritten",
			batch.ErrCorrupt, h.BaseOffset, len(out))
	}
	putHeader(out, h)
	binary.BigEndian.PutUint32(out[batch.OffLength:], uint32(len(out)-batch.LengthOverhead))
	attrs := uint16(h.Attributes) & (batch.AttrCompressionMask | batch.AttrTimestampType | batch.AttrTransactional | batch.AttrControl)
	if horizon >= 0 {
		attrs |= batch.AttrDeleteHorizon
	}
	binary.BigEndian.PutUint16(out[batch.OffAttributes:], attrs)
	binary.BigEndian.PutUint64(out[batch.OffFirstTimestamp:], uint64(base))
	binary.BigEndian.PutUint64(out[batch.OffMaxTimestamp:], uint64(maxTs))
	binary.BigEndian.PutUint32(out[batch.OffNumRecords:], uint32(len(recs)))
	batch.SetCRC(out)
	return out, maxTs, nil
}

// recordBodyLen is the encoded size of r after its length varint, with
// timestamp delta tsDelta.
func recordBodyLen(r *batch.Record, tsDelta int64) int {
	n := 1 + kbin.VarlongLen(tsDelta) + kbin.VarintLen(r.OffsetDelta) +
		nullableLen(r.Key) + nullableLen(r.Value) + kbin.VarintLen(int32(len(r.Headers)))
	for _, hd := range r.Headers {
		n += kbin.VarintLen(int32(len(hd.Key))) + len(hd.Key) + nullableLen(hd.Value)
	}
	return n
}

func nullableLen(b []byte) int {
	if b == nil {
		return 1 // varint -1
	}
	return kbin.VarintLen(int32(len(b))) + len(b)
}

// appendRecord appends r encoded as Kafka's DefaultRecord.writeTo does.
func appendRecord(dst []byte, r *batch.Record, tsDelta int64) []byte {
	dst = kbin.AppendVarint(dst, int32(recordBodyLen(r, tsDelta)))
	dst = append(dst, 0) // attributes: unused
	dst = kbin.AppendVarlong(dst, tsDelta)
	dst = kbin.AppendVarint(dst, r.OffsetDelta)
	dst = kbin.AppendVarintBytes(dst, r.Key)
	dst = kbin.AppendVarintBytes(dst, r.Value)
	dst = kbin.AppendVarint(dst, int32(len(r.Headers)))
	for _, hd := range r.Headers {
		dst = kbin.AppendVarint(dst, int32(len(hd.Key)))
		dst = append(dst, hd.Key...)
		dst = kbin.AppendVarintBytes(dst, hd.Value)
	}
	return dst
}
