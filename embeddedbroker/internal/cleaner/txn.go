package cleaner

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// AbortedTxn is an aborted transaction of one partition, as its aborted
// transaction index records it.
type AbortedTxn struct {
	// ProducerID is the transaction's producer.
	ProducerID int64
	// FirstOffset is the offset of the transaction's first record here.
	FirstOffset int64
	// LastOffset is the offset of its ABORT marker.
	LastOffset int64
}

// Control record types (the second int16 of a control record's key).
const (
	controlAbort  = 0
	controlCommit = 1
)

// abortedMeta is Kafka's AbortedTransactionMetadata: an aborted transaction
// that the walk has entered, and whether it met a batch of it.
type abortedMeta struct {
	txn      AbortedTxn
	observed bool // Kafka's lastObservedBatchOffset.isDefined
}

// TxnState tracks, while walking batches in offset order, which producers are
// inside an aborted transaction (their data is dropped) and whether an open
// transaction had data batches (its marker must stay): Kafka's
// CleanedTransactionMetadata.
//
// Make one with NewTxnState for each walk: one for AddBatch over the dirty
// section (from the aborted transactions there) and another for Filter over
// the section being cleaned, from its start (from the aborted transactions
// there). Its state carries from batch to batch, so the walk must not skip
// batches. The zero TxnState knows no aborted transaction. It is not safe
// for concurrent use.
type TxnState struct {
	pending   []AbortedTxn           // by FirstOffset; not yet entered
	aborted   map[int64]*abortedMeta // by producer: entered, marker not yet met
	committed map[int64]struct{}     // producers with data of an open, not aborted transaction
}

// NewTxnState returns the state at the start of a walk over a section whose
// aborted transactions (those with data or their marker in it, as Kafka's
// collectAbortedTransactions lists them) are aborted. The order of aborted
// does not matter, a transaction listed twice counts once, and one that
// ended before the walk's first batch is ignored.
func NewTxnState(aborted []AbortedTxn) *TxnState {
	p := slices.Clone(aborted)
	slices.SortStableFunc(p, func(a, b AbortedTxn) int {
		switch {
		case a.FirstOffset < b.FirstOffset:
			return -1
		case a.FirstOffset > b.FirstOffset:
			return 1
		}
		return 0
	})
	return &TxnState{pending: p, aborted: map[int64]*abortedMeta{}, committed: map[int64]struct{}{}}
}

// ready makes the zero TxnState usable (as one with no aborted
// transactions).
func (t *TxnState) ready() {
	if t.aborted == nil {
		t.aborted = map[int64]*abortedMeta{}
		t.committed = map[int64]struct{}{}
	}
}

// enter starts the aborted transactions that begin at or before the last
// offset of the batch h (Kafka's consumeAbortedTxnsUpTo). A producer already
// inside one keeps it. A transaction whose ABORT marker lies before the
// batch is dropped instead: the walk began after it ended, and entering it
// would make its producer's later data look aborted to the end of the walk.
// Kafka never meets one (its lists come from collectAbortedTransactions,
// which leaves them out), so this only guards against a caller's wider list.
func (t *TxnState) enter(h *batch.Header) {
	t.ready()
	last := h.LastOffset()
	for len(t.pending) > 0 && t.pending[0].FirstOffset <= last {
		a := t.pending[0]
		t.pending = t.pending[1:]
		if a.LastOffset < h.BaseOffset {
			continue
		}
		if _, ok := t.aborted[a.ProducerID]; !ok {
			t.aborted[a.ProducerID] = &abortedMeta{txn: a}
		}
	}
}

// onDataBatch records a data batch and reports whether it belongs to an
// aborted transaction (Kafka's onBatchRead).
func (t *TxnState) onDataBatch(h *batch.Header) bool {
	t.enter(h)
	if !h.Transactional() {
		return false
	}
	if a, ok := t.aborted[h.ProducerID]; ok {
		a.observed = true
		return true
	}
	t.committed[h.ProducerID] = struct{}{}
	return false
}

// onControlBatch records the control batch b (with header h) and reports
// whether its transaction has no data left in the walk, so that its marker
// may go once past the delete horizon (Kafka's onControlBatchRead). For an
// ABORT marker whose transaction did have data, it also returns the
// transaction, which stays in the cleaned log's aborted transaction index.
//
// An empty control batch (a marker a cleaning already emptied) may go; a
// control record of another type than COMMIT or ABORT stays. A control
// record whose key is null, shorter than 4 bytes or of negative version is
// an error, as in Kafka (ControlRecordType.parse).
func (t *TxnState) onControlBatch(h *batch.Header, b []byte) (discardable bool, kept *AbortedTxn, err error) {
	t.enter(h)
	var (
		key   []byte
		found bool
	)
	err = batch.ForEachRecord(b, func(r batch.Record) bool {
		key, found = r.Key, true
		return false
	})
	if err != nil {
		return false, nil, fmt.Errorf("cleaner: control batch at offset %d: %w", h.BaseOffset, err)
	}
	if !found {
		return true, nil, nil
	}
	if len(key) < 4 {
		return false, nil, fmt.Errorf("%w: control batch at offset %d: control record key of %d bytes, want at least 4",
			batch.ErrCorrupt, h.BaseOffset, len(key))
	}
	if v := int16(binary.BigEndian.Uint16(key)); v < 0 {
		return false, nil, fmt.Errorf("%w: control batch at offset %d: control record key version %d",
			batch.ErrCorrupt, h.BaseOffset, v)
	}
	switch int16(binary.BigEndian.Uint16(key[2:])) {
	case controlAbort:
		a, ok := t.aborted[h.ProducerID]
		delete(t.aborted, h.ProducerID)
		if ok && a.observed {
			txn := a.txn
			return false, &txn, nil
		}
		return true, nil, nil
	case controlCommit:
		_, ok := t.committed[h.ProducerID]
		delete(t.committed, h.ProducerID)
		return !ok, nil, nil
	}
	return false, nil, nil
}
