package txn

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transaction states, with the ids Kafka persists in TxnMetadataValue.State.
const (
	stateEmpty             = kmsg.TransactionState(0)
	stateOngoing           = kmsg.TransactionState(1)
	statePrepareCommit     = kmsg.TransactionState(2)
	statePrepareAbort      = kmsg.TransactionState(3)
	stateCompleteCommit    = kmsg.TransactionState(4)
	stateCompleteAbort     = kmsg.TransactionState(5)
	stateDead              = kmsg.TransactionState(6)
	statePrepareEpochFence = kmsg.TransactionState(7)
)

// noEpoch and noProducerID are Kafka's RecordBatch.NO_PRODUCER_EPOCH and
// NO_PRODUCER_ID.
const (
	noEpoch      int16 = -1
	noProducerID int64 = -1
)

// epochExhausted reports whether a producer epoch can no longer be bumped
// by InitProducerID (Kafka's TransactionMetadata.isEpochExhausted: one
// value is kept for fencing).
func epochExhausted(epoch int16) bool { return epoch >= math.MaxInt16-1 }

// partSet is the set of partitions of a transaction, by topic.
type partSet map[string]map[int32]struct{}

func (s partSet) clone() partSet {
	out := make(partSet, len(s))
	for t, ps := range s {
		out[t] = maps.Clone(ps)
	}
	return out
}

func (s partSet) has(topic string, p int32) bool {
	_, ok := s[topic][p]
	return ok
}

func (s partSet) add(topic string, p int32) {
	ps := s[topic]
	if ps == nil {
		ps = make(map[int32]struct{})
		s[topic] = ps
	}
	ps[p] = struct{}{}
}

// sorted returns the partitions as topic → sorted partitions.
func (s partSet) sorted() map[string][]int32 {
	out := make(map[string][]int32, len(s))
	for t, ps := range s {
		out[t] = slices.Sorted(maps.Keys(ps))
	}
	return out
}

func (s partSet) topics() []string { return slices.Sorted(maps.Keys(s)) }

// meta is the persisted part of a transactional ID's state: what one
// TxnMetadataValue record holds, plus the in-memory last epoch of KIP-360.
type meta struct {
	producerID     int64
	lastProducerID int64 // the producer ID before the last rotation, -1 if none
	epoch          int16
	lastEpoch      int16 // the epoch before the last InitProducerID bump that a retry may present, -1 if none
	timeoutMs      int32
	state          kmsg.TransactionState
	parts          partSet
	startMs        int64 // start of the ongoing (or last) transaction, -1 if none
	lastUpdateMs   int64
}

// txn is one transactional ID (Kafka's TransactionMetadata).
type txn struct {
	id   string
	part *partition

	mu      sync.Mutex
	removed bool // unloaded; look the ID up again
	meta
	// pending is the transition being persisted, nil if none (Kafka's
	// pendingState). Requests that would change the state answer
	// CONCURRENT_TRANSACTIONS while it is set.
	pending *meta
	// completing is closed when the markers of the last ended
	// transaction are written and its completion persisted (or the
	// attempt gave up); nil before the first end.
	completing chan struct{}
}

// Lock, Unlock, Removed and Partition make a txn a coordruntime.Item.
func (t *txn) Lock()                 { t.mu.Lock() }
func (t *txn) Unlock()               { t.mu.Unlock() }
func (t *txn) Removed() bool         { return t.removed }
func (t *txn) Partition() *partition { return t.part }

func newTxn(id string, part *partition, pid int64, timeoutMs int32) *txn {
	return &txn{id: id, part: part, meta: meta{
		producerID:     pid,
		lastProducerID: noProducerID,
		epoch:          noEpoch,
		lastEpoch:      noEpoch,
		timeoutMs:      timeoutMs,
		state:          stateEmpty,
		parts:          partSet{},
		startMs:        -1,
		lastUpdateMs:   -1,
	}}
}

// next returns a copy of the current state to be modified into a
// transition.
func (t *txn) next() *meta {
	m := t.meta
	m.parts = t.parts.clone()
	return &m
}

// txnKey is the __transaction_state key of the ID.
func txnKey(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: 0, TransactionalID: id}
	return k.AppendTo(nil)
}

// record is the __transaction_state record of the ID in state m, as
// Kafka's TransactionLog.valueToBytes writes it (value version 0; the
// partitions are null in state Empty).
func (m *meta) record(id string) KV {
	v := kmsg.NewTxnMetadataValue()
	v.Version = 0
	v.ProducerID = m.producerID
	v.ProducerEpoch = m.epoch
	v.TimeoutMillis = m.timeoutMs
	v.State = m.state
	if m.state != stateEmpty {
		v.Topics = []kmsg.TxnMetadataValueTopic{}
		sorted := m.parts.sorted()
		for _, topic := range m.parts.topics() {
			vt := kmsg.NewTxnMetadataValueTopic()
			vt.Topic = topic
			vt.Partitions = sorted[topic]
			v.Topics = append(v.Topics, vt)
		}
	}
	v.LastUpdateTimestamp = m.lastUpdateMs
	v.StartTimestamp = m.startMs
	return KV{Key: txnKey(id), Value: v.AppendTo(nil)}
}

// persist writes the transition tr, which must already be t.pending, and
// applies it once written. then is called with t locked, after tr was
// applied (code 0) or dropped (the error code to answer): NOT_COORDINATOR
// if the partition was unloaded meanwhile. t must be locked.
func (c *Coordinator) persist(t *txn, tr *meta, then func(code int16)) {
	if t.removed {
		// Unloaded (maybe by Close, which no longer waits for new writers).
		then(kerr.NotCoordinator.Code)
		return
	}
	t.pending = tr
	part := t.part
	c.write(part, []KV{tr.record(t.id)}, func(err error) {
		t.mu.Lock()
		defer t.mu.Unlock()
		var code int16
		switch {
		case t.removed:
			code = kerr.NotCoordinator.Code
		case err != nil:
			code = storeErrCode(err)
			c.log.Warn("transaction state write failed", "transactional_id", t.id,
				"state", tr.state.String(), "partition", part.ID, "err", err)
		default:
			t.meta = *tr
		}
		if t.pending == tr {
			t.pending = nil
		}
		then(code)
	})
}

// startCompleteLocked starts completing the transaction in PrepareCommit or
// PrepareAbort: writing its markers in the background, then persisting
// CompleteCommit or CompleteAbort (Kafka's prepareComplete and
// TransactionMarkerChannelManager). t must be locked, with nothing pending.
func (c *Coordinator) startCompleteLocked(t *txn) {
	if t.removed {
		return // the partition's next coordinator completes it
	}
	commit := t.state == statePrepareCommit
	tr := t.next()
	tr.state = stateCompleteAbort
	if commit {
		tr.state = stateCompleteCommit
	}
	tr.parts = partSet{}
	tr.lastUpdateMs = c.nowMs()
	t.pending = tr
	m := Markers{
		ProducerID:       t.producerID,
		ProducerEpoch:    t.epoch,
		Commit:           commit,
		CoordinatorEpoch: t.part.Epoch,
		Partitions:       t.parts.sorted(),
	}
	part := t.part
	done := make(chan struct{})
	t.completing = done
	finished := sync.OnceFunc(func() { close(done) })
	c.rt.Go(func() {
		c.writeMarkers(part, t.id, m)
		if part.Ctx.Err() != nil {
			finished()
			return
		}
		c.persistComplete(t, tr, c.cfg.RetryBackoff, finished)
	})
}

// writeMarkers calls the MarkerWriter until it succeeds or the partition is
// unloaded.
func (c *Coordinator) writeMarkers(part *partition, id string, m Markers) {
	if len(m.Partitions) == 0 {
		return
	}
	if c.cfg.Markers == nil {
		c.log.Error("no MarkerWriter configured: transaction markers not written", "transactional_id", id)
		return
	}
	backoff := c.cfg.RetryBackoff
	for {
		err := c.cfg.Markers.WriteMarkers(part.Ctx, m)
		if err == nil || part.Ctx.Err() != nil {
			return
		}
		if m.Partitions = retryPartitions(m.Partitions, err); m.Partitions == nil {
			c.log.Warn("transaction markers refused as fenced; giving up on them", "transactional_id", id,
				"producer_id", m.ProducerID, "producer_epoch", m.ProducerEpoch, "err", err)
			return
		}
		c.log.Warn("writing transaction markers failed; retrying", "transactional_id", id,
			"producer_id", m.ProducerID, "producer_epoch", m.ProducerEpoch, "commit", m.Commit,
			"backoff", backoff, "err", err)
		if !sleep(part.Ctx, backoff) {
			return
		}
		backoff = nextBackoff(backoff)
	}
}

// persistComplete persists the completion tr once the markers are
// written, retrying failed writes until the partition is unloaded; finished
// is called once it is persisted or abandoned.
func (c *Coordinator) persistComplete(t *txn, tr *meta, backoff time.Duration, finished func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removed || t.pending != tr {
		finished()
		return
	}
	c.persist(t, tr, func(code int16) {
		if code == 0 || t.removed {
			finished()
			return
		}
		// Kafka retries the completion record on COORDINATOR_NOT_AVAILABLE;
		// it gives up on NOT_COORDINATOR, which here means the partition is
		// being unloaded (the new coordinator completes the transaction).
		t.pending = tr
		c.rt.Go(func() {
			if sleep(t.part.Ctx, backoff) {
				c.persistComplete(t, tr, nextBackoff(backoff), finished)
			} else {
				finished()
			}
		})
	})
}

// abortLocked moves the Ongoing transaction to PrepareAbort, bumping the
// epoch to fence the producer (Kafka's prepareFenceProducerEpoch followed by
// endTransaction(ABORT, isFromClient = false)), then completes it. then is
// called once PrepareAbort is persisted (0) or failed. t must be locked,
// Ongoing, with nothing pending.
//
// Deviation from Kafka: if the PrepareAbort write fails the epoch stays as
// it was (Kafka keeps the bumped epoch in memory and reuses it for the next
// attempt).
func (c *Coordinator) abortLocked(t *txn, then func(code int16)) {
	tr := t.next()
	if tr.epoch < math.MaxInt16 {
		tr.epoch++
	}
	tr.lastEpoch = noEpoch
	tr.state = statePrepareAbort
	tr.lastUpdateMs = c.nowMs()
	c.persist(t, tr, func(code int16) {
		if code == 0 {
			c.startCompleteLocked(t)
		}
		then(code)
	})
}

// abortTimedOut aborts, fencing their producer, the transactions that have
// been Ongoing for longer than their timeout (Kafka's
// abortTimedOutTransactions).
func (c *Coordinator) abortTimedOut() {
	ts, _, _ := c.rt.Items(nil)
	now := c.nowMs()
	for _, t := range ts {
		t.mu.Lock()
		if !t.removed && t.pending == nil && t.state == stateOngoing && t.startMs+int64(t.timeoutMs) < now {
			c.log.Info("aborting timed out transaction", "transactional_id", t.id,
				"producer_id", t.producerID, "producer_epoch", t.epoch, "timeout_ms", t.timeoutMs)
			id := t.id
			c.abortLocked(t, func(code int16) {
				if code != 0 {
					c.log.Warn("aborting timed out transaction failed", "transactional_id", id, "err", kerr.ErrorForCode(code))
				}
			})
		} else if c.expiredLocked(t, now) {
			c.expireLocked(t)
		}
		t.mu.Unlock()
	}
}

// expiredLocked reports whether t has no transaction in progress and has
// not changed for IDExpiration (Kafka's TransactionStateManager
// timedOutTransactionalIds). t must be locked.
func (c *Coordinator) expiredLocked(t *txn, nowMs int64) bool {
	switch {
	case t.removed, t.pending != nil, t.lastUpdateMs < 0:
		return false
	case t.state != stateEmpty && t.state != stateCompleteCommit && t.state != stateCompleteAbort:
		return false
	}
	return t.lastUpdateMs+c.cfg.IDExpiration.Milliseconds() < nowMs
}

// expireLocked forgets t: a tombstone for it is written to its partition
// of __transaction_state, then it is removed (Kafka's prepareDead and
// removeExpiredTransactionalIds). Requests for the ID meanwhile answer
// CONCURRENT_TRANSACTIONS; afterwards it is a new ID. t must be locked.
func (c *Coordinator) expireLocked(t *txn) {
	tr := t.next()
	tr.state = stateDead
	t.pending = tr
	c.log.Info("expiring transactional ID", "transactional_id", t.id, "producer_id", t.producerID,
		"last_update_ms", t.lastUpdateMs)
	c.write(t.part, []KV{{Key: txnKey(t.id)}}, func(err error) {
		t.mu.Lock()
		removed := false
		if t.pending == tr {
			t.pending = nil
			if err == nil && !t.removed {
				t.meta = *tr
				t.removed = true // requests holding t look the ID up again
				removed = true
			}
		}
		t.mu.Unlock()
		if err != nil {
			c.log.Warn("expiring transactional ID failed", "transactional_id", t.id, "err", err)
		}
		if removed {
			c.rt.Remove(t.id, t)
		}
	})
}

// loader rebuilds the transactional IDs of one partition from its records,
// as Kafka's TransactionStateManager.loadTransactionMetadata: the last
// record of each ID wins, tombstones delete.
type loader struct {
	c       *Coordinator
	part    *partition
	txns    map[string]*txn
	records int
	skipped int
}

// apply takes one record. Records it cannot decode are logged and skipped
// rather than failing the load.
func (l *loader) apply(key, value []byte) error {
	l.records++
	if len(key) < 2 {
		return l.skip("short key", key, nil)
	}
	if v := int16(binary.BigEndian.Uint16(key)); v != 0 {
		return l.skip("unknown key version", key, nil)
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return l.skip("key", key, err)
	}
	if value == nil {
		delete(l.txns, k.TransactionalID)
		return nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return l.skip("value", key, err)
	}
	switch v.State {
	case stateDead:
		// Kafka writes a tombstone when it expires an ID; a Dead record
		// means the same.
		delete(l.txns, k.TransactionalID)
		return nil
	case stateEmpty, stateOngoing, statePrepareCommit, statePrepareAbort, stateCompleteCommit, stateCompleteAbort:
	default:
		return l.skip("unknown state", key, nil)
	}
	t := newTxn(k.TransactionalID, l.part, v.ProducerID, v.TimeoutMillis)
	t.epoch = v.ProducerEpoch
	t.state = v.State
	for _, vt := range v.Topics {
		for _, p := range vt.Partitions {
			t.parts.add(vt.Topic, p)
		}
	}
	t.startMs = v.StartTimestamp
	t.lastUpdateMs = v.LastUpdateTimestamp
	l.txns[k.TransactionalID] = t
	return nil
}

func (l *loader) skip(what string, key []byte, err error) error {
	l.skipped++
	l.c.log.Warn("skipping undecodable __transaction_state record", "partition", l.part.ID,
		"what", what, "key", key, "err", err)
	return nil
}
