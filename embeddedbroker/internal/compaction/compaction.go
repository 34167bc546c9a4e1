// Package compaction is the record logic of the log cleaner: the offset
// map of a log's dirty section (the latest offset of each key) and the
// filter that decides, batch by batch, what a cleaned segment keeps. It does
// no I/O: the broker's cleaner reads the log, hands each batch here in
// offset order, and writes back what Filter returns (logstore's Rewrite).
//
// The rules are Apache Kafka's (LogCleaner, CleanedTransactionMetadata and
// MemoryRecords.filterTo, 3.x and 4.x):
//
//   - a record is kept unless a later record of its key is in the offset
//     map; keyless records, which the broker refuses on compacted topics,
//     are removed as invalid;
//   - the data of aborted transactions is removed;
//   - tombstones (null values) and transaction markers whose transaction
//     has no data left are kept for delete.retention.ms after the cleaning
//     that first finds them (KIP-534): that cleaning stamps the batch with
//     its delete horizon (attribute bit 0x40, base timestamp = horizon, the
//     record timestamp deltas rebased so that every record keeps its
//     timestamp), and a cleaning after the horizon removes them;
//   - a batch keeps its base offset, last offset, producer id, epoch, base
//     sequence, leader epoch and attributes; records keep their offset
//     deltas, timestamps and headers; a batch that loses records is
//     re-encoded (and recompressed with its codec), one that loses none is
//     kept byte for byte;
//   - the last data batch of each producer is kept, emptied of its records
//     if need be, so that the producer's sequence numbers survive cleaning.
package compaction

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// AttrDeleteHorizon is the batch attribute bit saying the base timestamp
// holds the batch's delete horizon (KIP-534).
const AttrDeleteHorizon = 0x40

// entrySize is what Kafka's SkimpyOffsetMap counts per key: a 16-byte
// hash and an 8-byte offset.
const entrySize = 24

// OffsetMap maps record keys to the offset of their latest record in the
// dirty section (Kafka's SkimpyOffsetMap). Keys are stored as 128-bit
// hashes, so memory per key is fixed; two keys with the same hash would be
// taken for one (Kafka makes the same bet with MD5).
type OffsetMap struct {
	seeds  [2]maphash.Seed
	m      map[[2]uint64]int64
	slots  int
	latest int64
}

// NewOffsetMap returns a map holding at most 90% (Kafka's
// log.cleaner.io.buffer.load.factor) of the keys memoryBytes fits.
func NewOffsetMap(memoryBytes int) *OffsetMap {
	slots := max(1, int(float64(memoryBytes/entrySize)*0.9))
	return &OffsetMap{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, m: map[[2]uint64]int64{}, slots: slots, latest: -1}
}

func (m *OffsetMap) hash(key []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(m.seeds[0], key), maphash.Bytes(m.seeds[1], key)}
}

// Get returns the latest offset put for key.
func (m *OffsetMap) Get(key []byte) (int64, bool) {
	off, ok := m.m[m.hash(key)]
	return off, ok
}

// Len is the number of keys.
func (m *OffsetMap) Len() int { return len(m.m) }

// Full reports whether the map holds as many keys as it may.
func (m *OffsetMap) Full() bool { return len(m.m) >= m.slots }

// LatestOffset is the highest offset put, -1 when empty.
func (m *OffsetMap) LatestOffset() int64 { return m.latest }

// Clear empties the map.
func (m *OffsetMap) Clear() { clear(m.m); m.latest = -1 }

// AddBatch puts every keyed record of one batch into the map, skipping
// control batches and the batches of aborted transactions (tx tracks
// them; pass the same TxnState for every batch of the section, in offset
// order). fit=false means the batch's keys did not all fit: the map is as
// before the call, and the section to clean ends before this batch, as
// Kafka's buildOffsetMap ends it.
func (m *OffsetMap) AddBatch(b []byte, tx *TxnState) (fit bool, err error) {
	h, err := batch.ParseHeader(b)
	if err != nil {
		return false, fmt.Errorf("compaction: %w", err)
	}
	if h.Control() {
		if err := tx.controlRead(b, &h); err != nil {
			return false, err
		}
		return true, nil
	}
	if tx.dataRead(&h) {
		return true, nil // aborted: its keys are not the latest
	}
	var keys [][2]uint64
	var offs []int64
	err = batch.ForEachRecord(b, func(r batch.Record) bool {
		if r.Key != nil {
			keys = append(keys, m.hash(r.Key))
			offs = append(offs, h.BaseOffset+int64(r.OffsetDelta))
		}
		return true
	})
	if err != nil {
		return false, fmt.Errorf("compaction: batch at offset %d: %w", h.BaseOffset, err)
	}
	added := 0
	for _, k := range keys {
		if _, ok := m.m[k]; !ok {
			added++
		}
	}
	if len(m.m)+added > m.slots {
		return false, nil
	}
	for i, k := range keys {
		m.m[k] = offs[i]
	}
	m.latest = max(m.latest, h.LastOffset())
	return true, nil
}

// AbortedTxn is an aborted transaction from the partition's aborted
// transaction index: its producer, its first data offset, and the offset
// of its ABORT marker.
type AbortedTxn struct{ ProducerID, FirstOffset, LastOffset int64 }

// TxnState follows transactions while batches are read in offset order
// (Kafka's CleanedTransactionMetadata): which producers are inside an
// aborted transaction (their data goes), and whether a transaction had
// data in the batches read (its marker must stay until it has none).
type TxnState struct {
	aborted   []AbortedTxn // by first offset, not yet reached
	inAborted map[int64]*abortedSeen
	committed map[int64]bool // producers whose open committed-so-far transaction had data read
}

type abortedSeen struct{ sawData bool }

// NewTxnState returns the state for a pass over batches, given the aborted
// transactions that may overlap them.
func NewTxnState(aborted []AbortedTxn) *TxnState {
	a := slices.Clone(aborted)
	slices.SortFunc(a, func(x, y AbortedTxn) int {
		switch {
		case x.FirstOffset < y.FirstOffset:
			return -1
		case x.FirstOffset > y.FirstOffset:
			return 1
		}
		return 0
	})
	return &TxnState{aborted: a, inAborted: map[int64]*abortedSeen{}, committed: map[int64]bool{}}
}

// reach moves the aborted transactions that start at or before off into
// the ongoing ones.
func (t *TxnState) reach(off int64) {
	for len(t.aborted) > 0 && t.aborted[0].FirstOffset <= off {
		if _, ok := t.inAborted[t.aborted[0].ProducerID]; !ok {
			t.inAborted[t.aborted[0].ProducerID] = &abortedSeen{}
		}
		t.aborted = t.aborted[1:]
	}
}

// dataRead records a data batch and reports whether it belongs to an
// aborted transaction.
func (t *TxnState) dataRead(h *batch.Header) (aborted bool) {
	t.reach(h.LastOffset())
	if !h.Transactional() {
		return false
	}
	if a, ok := t.inAborted[h.ProducerID]; ok {
		a.sawData = true
		return true
	}
	t.committed[h.ProducerID] = true
	return false
}

// controlRead records a control batch and reports whether its marker may
// go (once past its delete horizon): its transaction had no data in the
// batches read.
func (t *TxnState) controlRead(b []byte, h *batch.Header) error {
	_, err := t.markerRemovable(b, h)
	return err
}

func (t *TxnState) markerRemovable(b []byte, h *batch.Header) (bool, error) {
	t.reach(h.LastOffset())
	abort, ok, err := markerType(b)
	if err != nil {
		return false, fmt.Errorf("compaction: control batch at offset %d: %w", h.BaseOffset, err)
	}
	if !ok {
		return false, nil // not a transaction marker: keep it
	}
	pid := h.ProducerID
	if abort {
		a, ok := t.inAborted[pid]
		delete(t.inAborted, pid)
		return !ok || !a.sawData, nil
	}
	had := t.committed[pid]
	delete(t.committed, pid)
	return !had, nil
}

// markerType reads a control batch's first record: abort (type 0) or
// commit (type 1); ok=false for other control records.
func markerType(b []byte) (abort, ok bool, err error) {
	err = batch.ForEachRecord(b, func(r batch.Record) bool {
		if len(r.Key) >= 4 {
			switch binary.BigEndian.Uint16(r.Key[2:]) {
			case 0:
				abort, ok = true, true
			case 1:
				ok = true
			}
		}
		return false
	})
	return abort, ok, err
}

// FilterOptions are the inputs of Filter, the same for every batch of a
// cleaning pass.
type FilterOptions struct {
	// Map is the offset map of the dirty section.
	Map *OffsetMap
	// Txn follows transactions over the batches filtered, from the log's
	// start.
	Txn *TxnState
	// Now (unix milliseconds) and DeleteRetentionMs (delete.retention.ms)
	// set and check delete horizons.
	Now, DeleteRetentionMs int64
	// IsLastBatchOfProducer reports whether a data batch is its
	// producer's last in the log (by last offset): it is kept.
	IsLastBatchOfProducer func(producerID, lastOffset int64) bool
}

// Result is what Filter made of one batch.
type Result struct {
	// Batch is what to write instead: nil to drop the batch, the input
	// itself when it is kept unchanged.
	Batch []byte
	// RecordsIn and RecordsKept count records.
	RecordsIn, RecordsKept int
	// KeptTombstones says the batch kept tombstones or a marker that a
	// later cleaning, after the batch's delete horizon, will remove.
	KeptTombstones bool
}

// errBadBatch is Filter's error for bytes that are not one whole batch.
var errBadBatch = errors.New("compaction: malformed batch")

// Filter decides what a cleaned segment keeps of batch b, which must be the
// next batch in offset order of the pass.
func Filter(b []byte, o FilterOptions) (Result, error) {
	h, err := batch.ParseHeader(b)
	if err != nil || h.Size() != len(b) {
		return Result{}, fmt.Errorf("%w: %w", errBadBatch, errors.Join(err, batch.ErrCorrupt))
	}
	horizonSet := h.Attributes&AttrDeleteHorizon != 0
	horizonPassed := horizonSet && h.FirstTimestamp <= o.Now
	res := Result{RecordsIn: int(h.NumRecords)}

	if h.Control() {
		removable, err := o.Txn.markerRemovable(b, &h)
		if err != nil {
			return Result{}, err
		}
		switch {
		case removable && horizonPassed:
			return res, nil // dropped
		case removable && !horizonSet:
			nb, err := rebuild(b, &h, nil, true, o)
			if err != nil {
				return Result{}, err
			}
			res.Batch, res.RecordsKept, res.KeptTombstones = nb, res.RecordsIn, true
			return res, nil
		}
		res.Batch, res.RecordsKept = b, res.RecordsIn
		res.KeptTombstones = removable
		return res, nil
	}

	last := o.IsLastBatchOfProducer != nil && h.ProducerID >= 0 && o.IsLastBatchOfProducer(h.ProducerID, h.LastOffset())
	if o.Txn.dataRead(&h) {
		// Aborted data goes; the producer's last batch stays, empty.
		if last {
			nb, err := rebuild(b, &h, []kept{}, false, o)
			return Result{Batch: nb, RecordsIn: res.RecordsIn}, err
		}
		return res, nil
	}

	var keep []kept
	tombstones := false
	all := true
	err = batch.ForEachRecord(b, func(r batch.Record) bool {
		off := h.BaseOffset + int64(r.OffsetDelta)
		ok := r.Key != nil
		if ok {
			if latest, found := o.Map.Get(r.Key); found && off < latest {
				ok = false
			}
		}
		if ok && r.Value == nil && horizonPassed {
			ok = false // a tombstone past its horizon
		}
		if ok {
			keep = append(keep, kept{r: r})
			if r.Value == nil {
				tombstones = true
			}
		} else {
			all = false
		}
		return true
	})
	if err != nil {
		return Result{}, fmt.Errorf("compaction: batch at offset %d: %w", h.BaseOffset, err)
	}
	res.RecordsKept = len(keep)
	res.KeptTombstones = tombstones
	stamp := tombstones && !horizonSet
	switch {
	case all && !stamp:
		res.Batch = b
	case len(keep) == 0 && !last:
		// dropped
	default:
		if keep == nil {
			keep = []kept{}
		}
		if res.Batch, err = rebuild(b, &h, keep, stamp, o); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// kept is a record a rebuilt batch keeps.
type kept struct{ r batch.Record }

// rebuild encodes the batch h (whose bytes are b) with the records keep
// (nil: all of b's), keeping its base and last offsets, producer fields,
// leader epoch and attributes; with stamp, it sets the delete horizon
// Now + DeleteRetentionMs and rebases the record timestamps on it.
func rebuild(b []byte, h *batch.Header, keep []kept, stamp bool, o FilterOptions) ([]byte, error) {
	if keep == nil {
		err := batch.ForEachRecord(b, func(r batch.Record) bool {
			keep = append(keep, kept{r: r})
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("compaction: batch at offset %d: %w", h.BaseOffset, err)
		}
	}
	attrs := h.Attributes
	oldBase := h.FirstTimestamp
	newBase := oldBase
	if stamp {
		attrs |= AttrDeleteHorizon
		newBase = o.Now + o.DeleteRetentionMs
	}
	maxTs := int64(-1)
	var payload []byte
	for _, k := range keep {
		r := k.r
		ts := oldBase + r.TimestampDelta
		maxTs = max(maxTs, ts)
		var hdrs []kmsg.Header
		for _, hh := range r.Headers {
			hdrs = append(hdrs, kmsg.Header{Key: hh.Key, Value: hh.Value})
		}
		kr := kmsg.Record{TimestampDelta64: ts - newBase, OffsetDelta: r.OffsetDelta, Key: r.Key, Value: r.Value, Headers: hdrs}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1) // the length varint of 0 is one byte
		payload = kr.AppendTo(payload)
	}
	if len(keep) == 0 || h.LogAppendTime() {
		maxTs = h.MaxTimestamp
	}
	if c := h.Codec(); c != batch.CodecNone && len(keep) > 0 {
		payload = batch.Compress(c, nil, payload)
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          h.BaseOffset,
		Length:               int32(batch.HeaderSize - batch.LengthOverhead + len(payload)),
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      h.LastOffsetDelta,
		FirstTimestamp:       newBase,
		MaxTimestamp:         maxTs,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		FirstSequence:        h.BaseSequence,
		NumRecords:           int32(len(keep)),
		Records:              payload,
	}
	out := rb.AppendTo(make([]byte, 0, batch.HeaderSize+len(payload)))
	batch.SetCRC(out)
	return out, nil
}
