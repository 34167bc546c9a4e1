package broker

import (
	"errors"
	"fmt"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Idempotence errors, mapped to OUT_OF_ORDER_SEQUENCE_NUMBER and
// INVALID_PRODUCER_EPOCH.
var (
	errOutOfOrderSequence = errors.New("out of order sequence number")
	errInvalidEpoch       = errors.New("producer epoch is older than the partition's")
)

// producerWindow is how many of a producer's latest batches a partition
// remembers to answer retries: Kafka's max.in.flight for idempotence.
const producerWindow = 5

// batchMeta is what a partition remembers of one idempotent batch.
type batchMeta struct {
	firstSeq, lastSeq int32
	baseOffset        int64
	timestamp         int64 // the batch's max timestamp (log append time when set)
}

// producerState is one producer's state on one partition: its epoch and its
// last batches, newest last.
type producerState struct {
	epoch   int16
	batches []batchMeta
	// coordinatorEpoch is the transaction coordinator epoch of the
	// producer's last marker here (-1 before any).
	coordinatorEpoch int32
	// lastTimestamp is the max timestamp of the producer's last batch or
	// marker here, what producer.id.expiration.ms counts from (Kafka's
	// ProducerStateEntry.lastTimestamp): the producer's clock under
	// CreateTime, the broker's under LogAppendTime.
	lastTimestamp int64
}

// producers tracks idempotent producers on a partition (Kafka's
// ProducerStateManager). It is guarded by the partition's lock.
type producers map[int64]*producerState

// check decides what to do with an idempotent batch: a duplicate of a
// remembered batch (dup set, no error), a batch to append (nil), or an
// error. It does not change state; record does, after the append.
//
// The rules are those of Kafka's ProducerAppendInfo.checkSequence (since
// KIP-360): a producer the partition has no state for (a new one, or one
// whose batches retention or DeleteRecords removed before a restart, or
// whose state expired) may start at any sequence; a newer epoch than the
// partition's must start at 0, and so must the first batch of an epoch a
// marker started; otherwise the batch must follow the last one.
func (ps producers) check(h *batch.Header) (dup *batchMeta, err error) {
	st := ps[h.ProducerID]
	if st == nil {
		return nil, nil
	}
	switch {
	case h.ProducerEpoch < st.epoch:
		return nil, fmt.Errorf("%w: producer %d epoch %d, current %d", errInvalidEpoch, h.ProducerID, h.ProducerEpoch, st.epoch)
	case h.ProducerEpoch > st.epoch:
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("%w: producer %d new epoch %d starts at sequence %d, expected 0", errOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return nil, nil
	}
	last := h.LastSequence()
	for i := range st.batches {
		if b := &st.batches[i]; b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return b, nil
		}
	}
	if len(st.batches) == 0 {
		// The epoch came from a marker: sequences restart, as in
		// Kafka.
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("%w: producer %d epoch %d has no batch here; sent sequence %d, expected 0", errOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return nil, nil
	}
	want := nextSeq(st.batches[len(st.batches)-1].lastSeq)
	if h.BaseSequence != want {
		return nil, fmt.Errorf("%w: producer %d epoch %d sent sequence %d, expected %d", errOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, want)
	}
	return nil, nil
}

// checkMarker decides whether a transaction marker for producer pid at
// epoch, from a coordinator at coordinatorEpoch, may be appended: not from
// an older producer epoch (INVALID_PRODUCER_EPOCH), nor from a coordinator
// epoch older than that of the producer's last marker here
// (TRANSACTION_COORDINATOR_FENCED), as in Kafka's ProducerAppendInfo.
func (ps producers) checkMarker(pid int64, epoch int16, coordinatorEpoch int32) error {
	st := ps[pid]
	switch {
	case st == nil:
		return nil
	case epoch < st.epoch:
		return fmt.Errorf("%w: marker for producer %d epoch %d, current %d", errInvalidEpoch, pid, epoch, st.epoch)
	case coordinatorEpoch < st.coordinatorEpoch:
		return fmt.Errorf("%w: marker for producer %d from coordinator epoch %d, last was %d", kerr.TransactionCoordinatorFenced, pid, coordinatorEpoch, st.coordinatorEpoch)
	}
	return nil
}

// record remembers an appended idempotent batch (or a marker, which
// carries no sequence but may start a new epoch).
func (ps producers) record(h *batch.Header) {
	st := ps[h.ProducerID]
	if st == nil {
		st = &producerState{epoch: h.ProducerEpoch, coordinatorEpoch: -1}
		ps[h.ProducerID] = st
	}
	if h.ProducerEpoch != st.epoch {
		st.epoch = h.ProducerEpoch
		st.batches = st.batches[:0]
	}
	st.lastTimestamp = h.MaxTimestamp
	if h.BaseSequence < 0 {
		return // transaction markers carry no sequence
	}
	if len(st.batches) == producerWindow {
		copy(st.batches, st.batches[1:])
		st.batches = st.batches[:producerWindow-1]
	}
	st.batches = append(st.batches, batchMeta{firstSeq: h.BaseSequence, lastSeq: h.LastSequence(), baseOffset: h.BaseOffset, timestamp: h.MaxTimestamp})
}

func nextSeq(s int32) int32 {
	if s == 1<<31-1 {
		return 0
	}
	return s + 1
}

// expire forgets the producers with no batch or marker for at least
// expirationMs before nowMs (by their last timestamp) and no open transaction
// in txns, as Kafka's ProducerStateManager.removeExpiredProducers does for
// producer.id.expiration.ms. A producer forgotten this way that writes
// again is accepted at whatever sequence it sends (KIP-360). It returns
// how many it forgot.
func (ps producers) expire(nowMs, expirationMs int64, txns *txnState) int {
	n := 0
	for pid, st := range ps {
		if txns.isOpen(pid) {
			continue
		}
		if nowMs-st.lastTimestamp >= expirationMs {
			delete(ps, pid)
			n++
		}
	}
	return n
}
