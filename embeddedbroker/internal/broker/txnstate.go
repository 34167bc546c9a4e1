package broker

import (
	"cmp"
	"slices"
	"sync/atomic"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// openTxn is a transaction a producer has begun on a partition and not yet
// ended with a marker.
type openTxn struct {
	first int64 // offset of its first transactional data batch
	epoch int16
}

// txnRange is an ended transaction: from its first data batch to its
// marker (Kafka's CompletedTxn and AbortedTxn).
type txnRange struct {
	producerID  int64
	first, last int64 // last is the offset of the marker
}

// txnState is what a partition knows of the transactions written to it,
// rebuilt on open and on truncation from the newest snapshot and the log
// after it (see snapshot.go; Kafka keeps the same in
// its ProducerStateManager and aborted transaction index):
//
//   - the open transactions, one per producer id;
//   - the ended transactions whose marker is not yet below the high
//     watermark: like open ones, they hold the last stable offset, so that a
//     read_committed consumer never reads a transaction whose outcome could
//     still be lost with the marker (Kafka's unreplicated transactions);
//   - the aborted transactions, which read_committed fetches list so that
//     consumers drop their records.
//
// It is guarded by the partition's lock, except aborted, which fetches read
// without it: it is only replaced (appends never write below the published
// length), so a loaded slice never changes under its reader.
type txnState struct {
	open     map[int64]openTxn
	unstable []txnRange // ended, marker at or above the high watermark; in marker order
	aborted  atomic.Pointer[[]txnRange]
}

func newTxnState() *txnState {
	t := &txnState{}
	t.reset()
	return t
}

// reset forgets everything, before a rebuild from the log.
func (t *txnState) reset() {
	t.open = map[int64]openTxn{}
	t.unstable = nil
	t.aborted.Store(&[]txnRange{})
}

// load replaces the state with a snapshot's.
func (t *txnState) load(s *stateSnapshot) {
	t.open = s.open
	t.unstable = s.unstable
	aborted := s.aborted
	t.aborted.Store(&aborted)
}

// marker is a decoded transaction marker (the one control record of a
// control batch).
type marker struct {
	commit           bool
	coordinatorEpoch int32
}

// parseMarker decodes the control record of a control batch; ok is false
// for control records that are not transaction markers.
func parseMarker(b []byte) (m marker, ok bool) {
	err := batch.ForEachRecord(b, func(r batch.Record) bool {
		var key kmsg.ControlRecordKey
		if key.ReadFrom(r.Key) != nil {
			return false
		}
		switch key.Type {
		case kmsg.ControlRecordKeyTypeCommit:
			m.commit = true
		case kmsg.ControlRecordKeyTypeAbort:
		default:
			return false
		}
		var v kmsg.EndTxnMarker
		if v.ReadFrom(r.Value) == nil {
			m.coordinatorEpoch = v.CoordinatorEpoch
		}
		ok = true
		return false
	})
	return m, ok && err == nil
}

// observe updates the state for a batch appended to the log; b is the
// batch, h its header. It returns the decoded marker of a control batch.
func (t *txnState) observe(b []byte, h *batch.Header) (m marker, isMarker bool) {
	if !h.Transactional() || h.ProducerID < 0 {
		return m, false
	}
	pid := h.ProducerID
	if !h.Control() {
		if _, ok := t.open[pid]; !ok {
			t.open[pid] = openTxn{first: h.BaseOffset, epoch: h.ProducerEpoch}
		}
		return m, false
	}
	m, isMarker = parseMarker(b)
	if !isMarker {
		return m, false
	}
	o, ok := t.open[pid]
	if !ok {
		return m, true // a marker for no transaction here changes nothing
	}
	delete(t.open, pid)
	r := txnRange{producerID: pid, first: o.first, last: h.BaseOffset}
	t.unstable = append(t.unstable, r)
	if !m.commit {
		old := *t.aborted.Load()
		next := append(old, r)
		t.aborted.Store(&next)
	}
	return m, true
}

// isOpen reports whether producer pid has an open transaction here.
func (t *txnState) isOpen(pid int64) bool {
	_, ok := t.open[pid]
	return ok
}

// stableOffset is the last stable offset for high watermark hw: the first
// offset of the earliest transaction still open or whose marker is not
// below hw, capped by hw. It forgets the ended transactions whose markers
// hw has passed.
func (t *txnState) stableOffset(hw int64) int64 {
	i := 0
	for i < len(t.unstable) && t.unstable[i].last < hw {
		i++
	}
	if i > 0 {
		t.unstable = append(t.unstable[:0], t.unstable[i:]...)
	}
	lso := hw
	for _, r := range t.unstable {
		lso = min(lso, r.first)
	}
	for _, o := range t.open {
		lso = min(lso, o.first)
	}
	return lso
}

// dropBelow forgets the aborted transactions that end below the log start
// offset start.
func (t *txnState) dropBelow(start int64) {
	old := *t.aborted.Load()
	i := 0
	for i < len(old) && old[i].last < start {
		i++
	}
	if i > 0 {
		next := append([]txnRange(nil), old[i:]...)
		t.aborted.Store(&next)
	}
}

// abortedIn lists, as a read_committed fetch answer does, the aborted
// transactions that overlap the offsets [from, upTo): those whose marker is
// at or after from and whose first offset is before upTo (Kafka's
// collectAbortedTxns). It is safe without the partition's lock.
func (t *txnState) abortedIn(from, upTo int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	all := *t.aborted.Load()
	// In marker order, so by last offset: skip those ended before from.
	i, _ := slices.BinarySearchFunc(all, from, func(r txnRange, off int64) int { return cmp.Compare(r.last, off) })
	for _, r := range all[i:] {
		if r.first < upTo {
			a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			a.ProducerID, a.FirstOffset = r.producerID, r.first
			out = append(out, a)
		}
	}
	return out
}

// trimAborted drops, after a cleaning of the offsets below end, the aborted
// transactions whose marker lies below end and that the cleaner did not
// keep: their data is gone, so read_committed fetches need not list them
// (Kafka rebuilds the cleaned segments' aborted transaction index the same
// way). p.mu must be held.
func (t *txnState) trimAborted(end int64, kept map[txnRange]bool) {
	old := *t.aborted.Load()
	next := make([]txnRange, 0, len(old))
	for _, r := range old {
		if r.last >= end || kept[r] {
			next = append(next, r)
		}
	}
	if len(next) < len(old) {
		t.aborted.Store(&next)
	}
}

// abortedRanges lists the aborted transactions that overlap [from, upTo),
// as abortedIn does, with their markers' offsets, for the log cleaner.
func (t *txnState) abortedRanges(from, upTo int64) []txnRange {
	all := *t.aborted.Load()
	i, _ := slices.BinarySearchFunc(all, from, func(r txnRange, off int64) int { return cmp.Compare(r.last, off) })
	var out []txnRange
	for _, r := range all[i:] {
		if r.first < upTo {
			out = append(out, r)
		}
	}
	return out
}

// fetchedUpTo is the offset after the data of a fetch answer: the next
// offset of its last batch, counting a partial batch at the end when its
// header is there (or its base offset + 1 when only that is).
func fetchedUpTo(data []byte) int64 {
	end := int64(-1)
	rest := data
	for len(rest) > 0 {
		b, r, err := batch.Next(rest)
		if err != nil {
			break
		}
		rest = r
		if h, err := batch.ParseHeader(b); err == nil {
			end = h.NextOffset()
		}
	}
	if len(rest) >= batch.HeaderSize {
		if h, _ := batch.ParseHeader(rest); h.Magic == 2 {
			end = max(end, h.NextOffset())
		}
	} else if len(rest) >= 8 {
		var base int64
		for _, c := range rest[:8] {
			base = base<<8 | int64(c)
		}
		end = max(end, base+1)
	}
	return end
}
