package sharegroup

import (
	"fmt"
	"slices"
)

// PartitionState is a share partition's persistent state: what
// WriteShareGroupState writes and ReadShareGroupState returns.
type PartitionState struct {
	// StateEpoch is bumped when the state is reset.
	StateEpoch int32
	// StartOffset is the share-partition start offset; -1 if the
	// partition has no state yet (Kafka's UNINITIALIZED_START_OFFSET).
	StartOffset int64
	// Batches are the states of records at and above StartOffset, sorted
	// and not overlapping.
	Batches []StateBatch
}

// StateBatch is the state of a range of records (Kafka's
// PersisterStateBatch).
type StateBatch struct {
	// FirstOffset is the first offset of the range.
	FirstOffset int64
	// LastOffset is the last offset of the range.
	LastOffset int64
	// DeliveryState is Available, Acknowledged or Archived.
	DeliveryState RecordState
	// DeliveryCount is how many times the records were delivered.
	DeliveryCount int16
}

// State returns what must survive the leader: the start offset and the
// state of every in-flight record, acquired ones as if released now
// (available with their delivery count, or archived once delivered as
// often as allowed, and the start offset past them if they are first),
// as the partition a new leader rebuilds with [NewPartition] has no
// acquisitions. Equal neighbours are merged.
func (p *Partition) State() PartitionState {
	st := PartitionState{StateEpoch: p.stateEpoch, StartOffset: p.start}
	for _, s := range p.spans {
		if s.state == Acquired {
			p.release(&s)
		}
		b := StateBatch{FirstOffset: s.first, LastOffset: s.last, DeliveryState: s.state, DeliveryCount: s.count}
		if n := len(st.Batches); n > 0 && st.Batches[n-1].sameState(b) {
			st.Batches[n-1].LastOffset = b.LastOffset
			continue
		}
		st.Batches = append(st.Batches, b)
	}
	// Released acquisitions may archive records at the front.
	for len(st.Batches) > 0 && st.Batches[0].DeliveryState.done() {
		st.StartOffset = st.Batches[0].LastOffset + 1
		st.Batches = st.Batches[1:]
	}
	return st
}

func (b StateBatch) sameState(o StateBatch) bool {
	return b.DeliveryState == o.DeliveryState && b.DeliveryCount == o.DeliveryCount
}

// Clone returns a deep copy.
func (s PartitionState) Clone() PartitionState {
	s.Batches = slices.Clone(s.Batches)
	return s
}

// Equal reports whether two states are the same, batch for batch.
func (s PartitionState) Equal(o PartitionState) bool {
	return s.StateEpoch == o.StateEpoch && s.StartOffset == o.StartOffset && slices.Equal(s.Batches, o.Batches)
}

// DeliveryCompleteCount returns how many records at and above the start
// offset are done (acknowledged or archived).
func (s PartitionState) DeliveryCompleteCount() int64 {
	var n int64
	for _, b := range s.Batches {
		if b.LastOffset >= s.StartOffset && b.DeliveryState.done() {
			n += b.LastOffset - max(b.FirstOffset, s.StartOffset) + 1
		}
	}
	return n
}

// Lag returns the records of the partition the group has still to
// finish, as DescribeShareGroupOffsets reports it (KIP-1226): the records
// from the start offset to the high watermark, less those done. It is -1
// for a partition without state.
func (s PartitionState) Lag(highWatermark int64) int64 {
	if s.StartOffset < 0 {
		return -1
	}
	var done int64
	for _, b := range s.Batches {
		if b.DeliveryState.done() {
			lo, hi := max(b.FirstOffset, s.StartOffset), min(b.LastOffset, highWatermark-1)
			done += max(0, hi-lo+1)
		}
	}
	return max(0, highWatermark-s.StartOffset-done)
}

// overlay returns base with the batches of top over it (top wins where
// both have a state), the result cut below start and equal neighbours
// merged (Kafka's PersisterStateBatchCombiner).
func overlay(base, top []StateBatch, start int64) []StateBatch {
	var out []StateBatch
	add := func(b StateBatch) {
		if b.LastOffset < start {
			return
		}
		b.FirstOffset = max(b.FirstOffset, start)
		if n := len(out); n > 0 && out[n-1].LastOffset+1 == b.FirstOffset && out[n-1].sameState(b) {
			out[n-1].LastOffset = b.LastOffset
			return
		}
		out = append(out, b)
	}
	sweep(base, top, func(first, last int64, b, t *StateBatch) {
		src := b
		if t != nil {
			src = t
		}
		if src != nil {
			add(StateBatch{FirstOffset: first, LastOffset: last, DeliveryState: src.DeliveryState, DeliveryCount: src.DeliveryCount})
		}
	})
	return out
}

// sweep calls fn for each maximal range over which the batch of a and the
// batch of b (nil where none) do not change, in order.
func sweep(a, b []StateBatch, fn func(first, last int64, x, y *StateBatch)) {
	var points []int64
	for _, l := range [][]StateBatch{a, b} {
		for _, s := range l {
			points = append(points, s.FirstOffset, s.LastOffset+1)
		}
	}
	slices.Sort(points)
	points = slices.Compact(points)
	i, j := 0, 0
	for k := 0; k+1 < len(points); k++ {
		first, last := points[k], points[k+1]-1
		for i < len(a) && a[i].LastOffset < first {
			i++
		}
		for j < len(b) && b[j].LastOffset < first {
			j++
		}
		var x, y *StateBatch
		if i < len(a) && a[i].FirstOffset <= first {
			x = &a[i]
		}
		if j < len(b) && b[j].FirstOffset <= first {
			y = &b[j]
		}
		if x != nil || y != nil {
			fn(first, last, x, y)
		}
	}
}

// Validate checks that the batches are sorted, do not overlap, lie at or
// above the start offset and have persistable states.
func (s PartitionState) Validate() error {
	prev := s.StartOffset - 1
	for i, b := range s.Batches {
		switch {
		case b.LastOffset < b.FirstOffset || b.FirstOffset <= prev:
			return fmt.Errorf("sharegroup: state batch %d (%d-%d) out of order, overlapping or below start offset %d", i, b.FirstOffset, b.LastOffset, s.StartOffset)
		case b.DeliveryState != Available && b.DeliveryState != Acknowledged && b.DeliveryState != Archived:
			return fmt.Errorf("sharegroup: state batch %d in state %v", i, b.DeliveryState)
		case b.DeliveryCount < 0:
			return fmt.Errorf("sharegroup: state batch %d with delivery count %d", i, b.DeliveryCount)
		}
		prev = b.LastOffset
	}
	return nil
}
