package broker

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Append errors beyond those of the batch package.
var (
	errMessageTooLarge = errors.New("batch larger than max.message.bytes")
	errNotLeader       = errors.New("not the leader of this partition")
	// errTransactional is a batch the producer's transaction state does
	// not allow (INVALID_TXN_STATE): a non-transactional batch from a
	// producer with an open transaction.
	errTransactional = errors.New("batch not allowed in the producer's transaction state")
)

// partitionSettings are a partition's topic configs as the append and read
// paths need them, swapped atomically when configs change.
type partitionSettings struct {
	maxMessageBytes int
	minInsync       int32
	requireKeys     bool
	logAppendTime   bool
	// recompress says that produced batches in another codec than codec
	// are recompressed to it (compression.type other than producer).
	recompress bool
	codec      batch.Codec
	// timestampBeforeMaxMs and timestampAfterMaxMs bound CreateTime
	// record timestamps (message.timestamp.before.max.ms, ...after...).
	timestampBeforeMaxMs, timestampAfterMaxMs int64
	// deletable says delete is in cleanup.policy: DeleteRecords is
	// refused without it, as Kafka refuses it on compacted-only topics.
	deletable bool
	// compact says compact is in cleanup.policy: the log cleaner
	// compacts the log, under the compaction configs that follow.
	compact                                bool
	minCompactionLagMs, maxCompactionLagMs int64
	deleteRetentionMs                      int64
	minCleanableRatio                      float64
	log                                    logstore.Config
}

func (s *partitionSettings) equal(o *partitionSettings) bool {
	a, b := *s, *o
	return a.maxMessageBytes == b.maxMessageBytes && a.minInsync == b.minInsync && a.requireKeys == b.requireKeys &&
		a.logAppendTime == b.logAppendTime && a.recompress == b.recompress && a.codec == b.codec &&
		a.timestampBeforeMaxMs == b.timestampBeforeMaxMs && a.timestampAfterMaxMs == b.timestampAfterMaxMs &&
		a.log.SegmentBytes == b.log.SegmentBytes && a.log.SegmentMs == b.log.SegmentMs &&
		a.log.SegmentJitter == b.log.SegmentJitter && a.log.IndexBytes == b.log.IndexBytes &&
		a.log.RetentionBytes == b.log.RetentionBytes && a.log.RetentionMs == b.log.RetentionMs &&
		a.log.IndexIntervalBytes == b.log.IndexIntervalBytes && a.log.Fsync == b.log.Fsync &&
		a.log.FlushMessages == b.log.FlushMessages && a.deletable == b.deletable &&
		a.compact == b.compact && a.minCompactionLagMs == b.minCompactionLagMs &&
		a.maxCompactionLagMs == b.maxCompactionLagMs && a.deleteRetentionMs == b.deleteRetentionMs &&
		a.minCleanableRatio == b.minCleanableRatio
}

// compressionCodec maps a compression.type to the codec produced batches
// are stored in; recompress is false for producer (stored as sent).
func compressionCodec(compressionType string) (c batch.Codec, recompress bool) {
	switch compressionType {
	case "uncompressed":
		return batch.CodecNone, true
	case "gzip":
		return batch.CodecGzip, true
	case "snappy":
		return batch.CodecSnappy, true
	case "lz4":
		return batch.CodecLZ4, true
	case "zstd":
		return batch.CodecZstd, true
	}
	return batch.CodecNone, false
}

// epochEntry says that leader epoch Epoch appended from offset Start on
// (Kafka's leader epoch cache).
type epochEntry struct {
	Epoch int32
	Start int64
}

// partition is one replica of a partition on one node.
type partition struct {
	topic   string
	id      int32
	topicID controller.TopicID

	settings atomic.Pointer[partitionSettings]
	hwm      atomic.Int64
	// lso is the last stable offset: the high watermark, or the first
	// offset of the earliest transaction that is open or whose marker is
	// not below it (changed under mu, with the high watermark or txns).
	lso atomic.Int64
	// leaderEpoch is the current leader epoch; leader says whether this
	// node leads (both change with metadata, under mu).
	leaderEpoch atomic.Int32
	leader      atomic.Bool

	mu        sync.Mutex // serializes appends and state changes
	log       logstore.Log
	producers producers
	txns      *txnState
	epochs    []epochEntry

	// snaps writes the snapshots of producers, txns and epochs taken at
	// segment rolls (snapshot.go); tailBytes counts the bytes of batches
	// the state took in since it last matched a snapshot (under mu); a
	// clean stop writes a snapshot when it reaches snapMinTail.
	snaps       snapshotWriter
	tailBytes   int64
	snapMinTail int64

	// Replication state, under mu: who leads, the replica set and ISR as
	// the controller last published them, and on the leader what each
	// follower has fetched.
	self      int32
	leaderID  int32
	replicas  []int32
	isr       []int32
	partEpoch int32
	followers map[int32]*followerState
	// recent is, on a leader with followers, the last batch a producer
	// appended, until the high watermark passes it (see recentBatch).
	recent atomic.Pointer[recentBatch]
	// isrPending says an ISR change was asked of the controller and not
	// yet answered; proposal is that change, with the epochs it was
	// decided at.
	isrPending bool
	proposal   isrProposal
	// isrSize mirrors len(isr) for the produce path's min.insync.replicas
	// checks.
	isrSize atomic.Int32

	waitMu  sync.Mutex
	waiters map[waiter]struct{}
}

func newPartition(self int32, topic string, id int32, topicID controller.TopicID, log logstore.Log, s *partitionSettings) (*partition, error) {
	p := &partition{self: self, topic: topic, id: id, topicID: topicID, log: log, producers: producers{}, txns: newTxnState(),
		waiters: map[waiter]struct{}{}, leaderID: -1, followers: map[int32]*followerState{}}
	p.settings.Store(s)
	p.leaderEpoch.Store(-1)
	p.snaps.log, p.snapMinTail = log, snapshotMinTail
	log.OnRoll(p.rolled)
	// Rebuild producer state, transaction state and the epoch cache from
	// the newest snapshot and the log after it, as Kafka does.
	if err := p.rescan(true); err != nil {
		return nil, fmt.Errorf("recovering %s-%d: %w", topic, id, err)
	}
	p.setHWM(log.EndOffset())
	return p, nil
}

// rescan rebuilds the producer and transaction state, and with epochs the
// leader epoch cache too, from the newest usable snapshot and the log after
// its offset, or from the whole log when there is none (see snapshot.go).
// Without epochs (after a truncation) the epoch cache is left as it is. p.mu
// must be held (or p not yet shared).
func (p *partition) rescan(epochs bool) error {
	p.producers = producers{}
	p.txns.reset()
	from := p.log.StartOffset()
	off, ok, err := p.log.LoadSnapshot(func(_ int64, data []byte) error {
		s, err := decodeStateSnapshot(data)
		if err != nil {
			return err
		}
		p.producers = s.producers
		p.txns.load(s)
		if epochs {
			p.epochs = s.epochs
		}
		return nil
	})
	if err != nil {
		return err
	}
	if ok {
		from = off
	} else if epochs {
		p.epochs = nil
	}
	p.tailBytes = 0
	err = p.log.Scan(from, func(b []byte) error {
		h, err := batch.ParseHeader(b)
		if err != nil {
			return err
		}
		if epochs {
			p.observe(b, &h)
		} else {
			p.observeProducer(b, &h)
		}
		return nil
	})
	// A snapshot may list aborted transactions that retention removed
	// since.
	p.txns.dropBelow(p.log.StartOffset())
	return err
}

// observe updates producer state, transaction state and the epoch cache
// for an appended batch b with header h.
func (p *partition) observe(b []byte, h *batch.Header) {
	p.observeProducer(b, h)
	if n := len(p.epochs); n == 0 || p.epochs[n-1].Epoch < h.PartitionLeaderEpoch {
		p.assignEpoch(h.PartitionLeaderEpoch, h.BaseOffset)
	}
}

// observeProducer updates producer and transaction state for an appended
// batch.
func (p *partition) observeProducer(b []byte, h *batch.Header) {
	p.tailBytes += int64(len(b))
	if !h.Idempotent() {
		return
	}
	p.producers.record(h)
	if m, ok := p.txns.observe(b, h); ok {
		p.producers[h.ProducerID].coordinatorEpoch = m.coordinatorEpoch
	}
}

// setHWM sets the high watermark and recomputes the last stable offset,
// reporting whether either moved. p.mu must be held (or p not yet shared).
func (p *partition) setHWM(hw int64) bool {
	moved := p.hwm.Swap(hw) != hw
	return p.updateLSO() || moved
}

// updateLSO recomputes the last stable offset, reporting whether it moved.
// p.mu must be held.
func (p *partition) updateLSO() bool {
	lso := p.txns.stableOffset(p.hwm.Load())
	return p.lso.Swap(lso) != lso
}

// lastStable returns the last stable offset and the high watermark, the
// former never above the latter.
func (p *partition) lastStable() (lso, hwm int64) {
	hwm = p.hwm.Load()
	return min(p.lso.Load(), hwm), hwm
}

// lastStableOffset is the partition's last stable offset: what
// read_committed consumers may read up to.
func (p *partition) lastStableOffset() int64 {
	lso, _ := p.lastStable()
	return lso
}

// assignEpoch records that epoch starts at offset, dropping the latest
// entries that start at or after it: an epoch in which nothing was appended
// ends where it started and is not worth an entry, as in Kafka's leader
// epoch cache. p.mu must be held.
func (p *partition) assignEpoch(epoch int32, start int64) {
	for n := len(p.epochs); n > 0 && (p.epochs[n-1].Start >= start || p.epochs[n-1].Epoch >= epoch); n-- {
		p.epochs = p.epochs[:n-1]
	}
	p.epochs = append(p.epochs, epochEntry{Epoch: epoch, Start: start})
}

// appendResult is the outcome of a produce to one partition.
type appendResult struct {
	baseOffset    int64
	logAppendTime int64 // -1 unless the topic uses LogAppendTime
	lastOffset    int64 // what acks=all waits for
	epoch         int32 // the leader epoch it was appended in
}

// appendRecords validates and appends the batches of a produce request's
// records field, as Kafka's LogValidator does: framing and CRC, keys on
// compacted topics, record timestamps against message.timestamp.before.max.ms
// and message.timestamp.after.max.ms, and max.message.bytes, before and,
// when compression.type asks for another codec than a batch's, after
// recompressing it. It rewrites the batches in place: records must not be
// used by the caller afterwards. All batches are validated before any is
// appended, so a bad batch appends nothing.
func (p *partition) appendRecords(records []byte, now time.Time) (appendResult, error) {
	s := p.settings.Load()
	res := appendResult{baseOffset: -1, logAppendTime: -1}
	opts := batch.ValidateOptions{
		RequireKeys: s.requireKeys,
		Timestamps: batch.TimestampRule{
			Check:         true,
			LogAppendTime: s.logAppendTime,
			Now:           now.UnixMilli(),
			BeforeMaxMs:   s.timestampBeforeMaxMs,
			AfterMaxMs:    s.timestampAfterMaxMs,
		},
	}
	type item struct {
		b []byte
		h batch.Header
	}
	var items [4]item
	list := items[:0]
	for rest := records; len(rest) > 0; {
		b, r, err := batch.Next(rest)
		if err != nil {
			return res, err
		}
		rest = r
		if len(b) > s.maxMessageBytes {
			return res, fmt.Errorf("%w: %d bytes, max.message.bytes is %d", errMessageTooLarge, len(b), s.maxMessageBytes)
		}
		h, err := batch.Validate(b, opts)
		if err != nil {
			return res, err
		}
		if h.Control() {
			return res, fmt.Errorf("%w: clients may not write control batches", kerr.InvalidRecord)
		}
		if h.Transactional() && !h.Idempotent() {
			return res, fmt.Errorf("%w: a transactional batch must carry a producer id", kerr.InvalidRecord)
		}
		if s.recompress && h.Codec() != s.codec {
			if b, err = batch.Recompress(b, s.codec, 0); err != nil {
				return res, err
			}
			if len(b) > s.maxMessageBytes {
				return res, fmt.Errorf("%w: %d bytes after recompression to %s (compression.type), max.message.bytes is %d",
					errMessageTooLarge, len(b), s.codec, s.maxMessageBytes)
			}
			if h, err = batch.ParseHeader(b); err != nil {
				return res, err
			}
		}
		list = append(list, item{b, h})
	}
	if len(list) == 0 {
		return res, fmt.Errorf("%w: no record batch", batch.ErrCorrupt)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.leader.Load() {
		return res, errNotLeader
	}
	epoch := p.leaderEpoch.Load()
	res.epoch = epoch
	ts := now.UnixMilli()
	for i := range list {
		it := &list[i]
		if it.h.Idempotent() {
			if !it.h.Transactional() && p.txns.isOpen(it.h.ProducerID) {
				return res, fmt.Errorf("%w: expected a transactional batch from producer %d, which has an open transaction", errTransactional, it.h.ProducerID)
			}
			dup, err := p.producers.check(&it.h)
			if err != nil {
				return res, err
			}
			if dup != nil {
				// A retry of a batch already appended: answer with its
				// original offset, append nothing (Kafka does the same).
				if res.baseOffset < 0 {
					res.baseOffset = dup.baseOffset
					if s.logAppendTime {
						res.logAppendTime = dup.timestamp
					}
				}
				res.lastOffset = max(res.lastOffset, dup.baseOffset+int64(it.h.LastOffsetDelta))
				continue
			}
		}
		off := p.assign(it.b, &it.h, epoch)
		if s.logAppendTime {
			batch.SetLogAppendTime(it.b, ts)
			it.h.MaxTimestamp = ts
			res.logAppendTime = ts
		}
		if err := p.log.Append(it.b); err != nil {
			return res, err
		}
		p.observe(it.b, &it.h)
		if res.baseOffset < 0 {
			res.baseOffset = off
		}
		res.lastOffset = it.h.LastOffset()
		if i == len(list)-1 {
			p.keepRecent(it.b, &it.h, epoch)
		}
	}
	p.appended()
	return res, nil
}

// recentBatch is a batch a leader appended, kept in memory while its
// followers have yet to fetch it: a follower at the log end (as every
// follower is between the acknowledgements of an acks=all producer that
// sends one batch at a time) reads it from here rather than from the
// segment file, a read system call less on the path of every such
// produce. It is dropped once the high watermark passes it, when
// leadership changes and when the log is truncated, so it holds at most one
// batch per partition, and only while it replicates.
type recentBatch struct {
	base, next int64
	epoch      int32
	data       []byte // never modified: followers' answers share it
}

// maxRecentBatch bounds the batches kept as recent.
const maxRecentBatch = 64 << 10

// keepRecent keeps b, just appended at leader epoch epoch, as the recent
// batch when followers will fetch it. p.mu must be held.
func (p *partition) keepRecent(b []byte, h *batch.Header, epoch int32) {
	if len(p.followers) == 0 || len(b) > maxRecentBatch {
		p.recent.Store(nil)
		return
	}
	p.recent.Store(&recentBatch{base: h.BaseOffset, next: h.NextOffset(), epoch: epoch, data: bytes.Clone(b)})
}

// recentAt returns the recent batch when it is all a follower fetching
// from offset, up to the log end offset end, would read; else nil.
func (p *partition) recentAt(offset, end int64) []byte {
	r := p.recent.Load()
	if r == nil || r.base != offset || r.next != end || r.epoch != p.leaderEpoch.Load() {
		return nil
	}
	return r.data
}

// appendInternal appends a batch the broker built itself (consumer
// offsets); it must be the leader.
func (p *partition) appendInternal(b []byte) (appendResult, error) {
	return p.appendInternalAt(b, -1)
}

// appendInternalAt is appendInternal for a coordinator that loaded the
// partition at leader epoch epoch (-1: any): a node that lost leadership
// and regained it at a newer epoch must not append for the state it had
// before (Kafka's coordinator epoch check in appendTransactionToLog).
func (p *partition) appendInternalAt(b []byte, epoch int32) (appendResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.leader.Load() || (epoch >= 0 && p.leaderEpoch.Load() != epoch) {
		return appendResult{}, errNotLeader
	}
	h, err := batch.ParseHeader(b)
	if err != nil {
		return appendResult{}, err
	}
	if h.Transactional() && !h.Control() {
		// A transactional offset commit of a fenced (zombie) producer:
		// refused as Kafka's producer state check does, so that it
		// neither lands nor sets the producer's epoch back.
		if st := p.producers[h.ProducerID]; st != nil && h.ProducerEpoch < st.epoch {
			return appendResult{}, fmt.Errorf("%w: producer %d epoch %d, current %d", errInvalidEpoch, h.ProducerID, h.ProducerEpoch, st.epoch)
		}
	}
	return p.appendBuilt(b, &h)
}

// appendBuilt appends a batch built by the broker as the leader. p.mu must
// be held.
func (p *partition) appendBuilt(b []byte, h *batch.Header) (appendResult, error) {
	off := p.assign(b, h, p.leaderEpoch.Load())
	if err := p.log.Append(b); err != nil {
		return appendResult{}, err
	}
	p.observe(b, h)
	p.appended()
	return appendResult{baseOffset: off, logAppendTime: -1, lastOffset: h.LastOffset(), epoch: h.PartitionLeaderEpoch}, nil
}

// appendMarker appends a transaction marker for producer pid at epoch, as
// the leader, on behalf of the transaction coordinator (WriteTxnMarkers):
// a transactional control batch holding one control record, whose key is
// the marker type (commit or abort) and whose value an EndTxnMarker with the
// coordinator epoch. A marker from an older producer epoch is refused
// (INVALID_PRODUCER_EPOCH), as is one from an older coordinator epoch than
// the last marker of the producer here (TRANSACTION_COORDINATOR_FENCED). A
// marker for a producer without an open transaction here is appended too,
// and only updates the producer's epoch.
func (p *partition) appendMarker(pid int64, epoch int16, commit bool, coordinatorEpoch int32, now time.Time) (appendResult, error) {
	typ := kmsg.ControlRecordKeyTypeAbort
	if commit {
		typ = kmsg.ControlRecordKeyTypeCommit
	}
	key := (&kmsg.ControlRecordKey{Version: 0, Type: typ}).AppendTo(nil)
	value := (&kmsg.EndTxnMarker{Version: 0, CoordinatorEpoch: coordinatorEpoch}).AppendTo(nil)
	ts := now.UnixMilli()
	b := batch.Build(batch.BuildOptions{
		Timestamp:     ts,
		Producer:      &batch.Producer{ID: pid, Epoch: epoch, BaseSequence: -1},
		Transactional: true,
		Control:       true,
	}, batch.Record{Key: key, Value: value})
	if p.settings.Load().logAppendTime {
		batch.SetLogAppendTime(b, ts)
	}
	h, err := batch.ParseHeader(b)
	if err != nil {
		return appendResult{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.leader.Load() {
		return appendResult{}, errNotLeader
	}
	if err := p.producers.checkMarker(pid, epoch, coordinatorEpoch); err != nil {
		return appendResult{}, err
	}
	return p.appendBuilt(b, &h)
}

// assign gives a batch about to be appended the next offset and the
// leader epoch, in its bytes and in its decoded header, and returns the
// offset. p.mu must be held.
func (p *partition) assign(b []byte, h *batch.Header, epoch int32) int64 {
	off := p.log.EndOffset()
	batch.SetBaseOffset(b, off)
	batch.SetPartitionLeaderEpoch(b, epoch)
	h.BaseOffset, h.PartitionLeaderEpoch = off, epoch
	return off
}

// appended wakes the waiters after an append, once: followers long-polling
// for new data, and acks=all producers when the high watermark moved.
// p.mu must be held.
func (p *partition) appended() {
	p.txns.dropBelow(p.log.StartOffset())
	if !p.advanceHighWatermark() {
		p.updateLSO()
		p.notify()
	}
}

// advanceHighWatermark moves the leader's high watermark to the smallest
// log end offset over the in-sync replicas (never backwards), waking the
// waiters when it moved, which it reports. A follower whose position the
// leader has not heard since it became leader holds it where it is. p.mu
// must be held.
func (p *partition) advanceHighWatermark() bool { return p.advanceHW(false) }

// advanceHW is advanceHighWatermark; readersOnly wakes only the waiters
// other than followers' fetches, for a move that brings no records: a
// follower's fetch, which answers records only, would wake for nothing
// (as in Kafka, a follower learns the high watermark with its next
// records or at the end of its long poll).
func (p *partition) advanceHW(readersOnly bool) bool {
	if !p.leader.Load() {
		return false
	}
	hw := p.log.EndOffset()
	// Kafka's maximal ISR: a member being added counts from the moment it
	// is proposed, because the controller may commit the expansion and
	// elect it leader before this node hears of the commit; what is
	// acknowledged must be on it. (A member being removed keeps counting
	// until the removal is applied.)
	for _, set := range [2][]int32{p.isr, p.proposal.isr} {
		for _, r := range set {
			if r == p.self {
				continue
			}
			f := p.followers[r]
			if f == nil || f.leo < 0 {
				return false
			}
			hw = min(hw, f.leo)
		}
	}
	if hw <= p.hwm.Load() {
		return false
	}
	if r := p.recent.Load(); r != nil && hw >= r.next {
		p.recent.Store(nil)
	}
	p.setHWM(hw)
	if readersOnly {
		p.notifyReaders()
	} else {
		p.notify()
	}
	return true
}

// waiter is woken at every change of a partition it watches: an append,
// a move of the high watermark or last stable offset, a change of
// leadership, a truncation. wake is called with the partition's locks held:
// it must be quick and must not call back into the partition.
type waiter interface{ wake() }

// chanWaiter wakes by a non-blocking send on its channel, which should
// have room for one value.
type chanWaiter chan struct{}

func (c chanWaiter) wake() {
	select {
	case c <- struct{}{}:
	default:
	}
}

// wait registers a waiter woken at the next change of the partition
// (append, high watermark, leadership); call the returned func to remove it.
func (p *partition) wait(ch chan struct{}) func() {
	w := chanWaiter(ch)
	p.watch(w)
	return func() { p.unwatch(w) }
}

// watch registers w until unwatch; a waiter registered twice is held once.
// Fetch sessions register each of their partitions once, for the session's
// life, so that a long poll costs nothing per partition.
func (p *partition) watch(w waiter) {
	p.waitMu.Lock()
	p.waiters[w] = struct{}{}
	p.waitMu.Unlock()
}

// unwatch removes w.
func (p *partition) unwatch(w waiter) {
	p.waitMu.Lock()
	delete(p.waiters, w)
	p.waitMu.Unlock()
}

func (p *partition) notify() {
	p.waitMu.Lock()
	for w := range p.waiters {
		w.wake()
	}
	p.waitMu.Unlock()
}

// notifyReaders is notify for every waiter but the followers' fetch
// sessions.
func (p *partition) notifyReaders() {
	p.waitMu.Lock()
	for w := range p.waiters {
		if sp, ok := w.(*sessionPart); ok && sp.s.replica >= 0 {
			continue
		}
		w.wake()
	}
	p.waitMu.Unlock()
}

// endOffsetForEpoch answers OffsetForLeaderEpoch as Kafka's leader epoch
// cache does: the largest epoch at most the requested one, and the offset
// where the next epoch starts (or the log end offset for the latest).
func (p *partition) endOffsetForEpoch(requested int32) (epoch int32, end int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if requested < 0 || len(p.epochs) == 0 {
		return -1, -1
	}
	if last := p.epochs[len(p.epochs)-1]; last.Epoch == requested {
		return requested, p.log.EndOffset()
	}
	hi := -1
	for i, e := range p.epochs {
		if e.Epoch > requested {
			hi = i
			break
		}
	}
	if hi < 0 {
		return -1, -1
	}
	if hi == 0 {
		return requested, p.epochs[0].Start
	}
	return p.epochs[hi-1].Epoch, p.epochs[hi].Start
}

// epochAt returns the leader epoch of the batch holding offset, for
// ListOffsets answers.
func (p *partition) epochAt(off int64) int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := int32(-1)
	for _, x := range p.epochs {
		if x.Start > off {
			break
		}
		e = x.Epoch
	}
	return e
}

// deleteRecordsBefore advances the log start offset (DeleteRecords); -1
// means the high watermark.
func (p *partition) deleteRecordsBefore(off int64) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.settings.Load().deletable {
		return -1, fmt.Errorf("%w: records of %s-%d cannot be deleted: cleanup.policy has no delete", controller.ErrPolicyViolation, p.topic, p.id)
	}
	hwm := p.hwm.Load()
	if off == -1 {
		off = hwm
	}
	if off < 0 || off > hwm {
		return -1, fmt.Errorf("%w: %d is beyond the high watermark %d", logstore.ErrOffsetOutOfRange, off, hwm)
	}
	if off > p.log.StartOffset() {
		if err := p.log.SetStartOffset(off); err != nil {
			return -1, err
		}
		p.txns.dropBelow(p.log.StartOffset())
		p.notify() // fetch sessions answer the new log start offset
	}
	return p.log.StartOffset(), nil
}

// reconfigure applies new topic configs.
func (p *partition) reconfigure(s *partitionSettings) {
	p.settings.Store(s)
	p.log.Reconfigure(s.log)
}
