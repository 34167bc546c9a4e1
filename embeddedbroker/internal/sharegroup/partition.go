package sharegroup

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Defaults of [PartitionConfig], Kafka 4.1's.
const (
	DefaultDeliveryCountLimit = 5                // group.share.delivery.count.limit
	DefaultRecordLockDuration = 30 * time.Second // group.share.record.lock.duration.ms
	DefaultMaxInFlightRecords = 2000             // group.share.partition.max.record.locks (200 in Kafka 4.0)
)

// PartitionConfig is a share partition's configuration. The zero value is
// Kafka's defaults.
type PartitionConfig struct {
	// DeliveryCountLimit is how many times a record is delivered before
	// it is archived instead of made available again. Kafka allows 2 to
	// 10. Default [DefaultDeliveryCountLimit].
	DeliveryCountLimit int
	// RecordLockDuration is how long a member holds the records it
	// acquired before they become available again. Default
	// [DefaultRecordLockDuration].
	RecordLockDuration time.Duration
	// MaxInFlightRecords bounds the records between the start and the end
	// offset: no new records are acquired beyond it. Default
	// [DefaultMaxInFlightRecords].
	MaxInFlightRecords int
}

func (c PartitionConfig) withDefaults() (PartitionConfig, error) {
	c.DeliveryCountLimit = cmp.Or(c.DeliveryCountLimit, DefaultDeliveryCountLimit)
	c.RecordLockDuration = cmp.Or(c.RecordLockDuration, DefaultRecordLockDuration)
	c.MaxInFlightRecords = cmp.Or(c.MaxInFlightRecords, DefaultMaxInFlightRecords)
	if c.DeliveryCountLimit < 1 || c.DeliveryCountLimit > 0x7fff || c.RecordLockDuration < 0 || c.MaxInFlightRecords < 1 {
		return c, fmt.Errorf("sharegroup: invalid partition configuration %+v", c)
	}
	return c, nil
}

// RecordState is the delivery state of a record, with the values Kafka's
// share state batches store.
type RecordState int8

const (
	// Available records may be acquired.
	Available RecordState = 0
	// Acquired records are held by a member until it acknowledges them
	// or its lock expires. Never persisted.
	Acquired RecordState = 1
	// Acknowledged records were accepted: done.
	Acknowledged RecordState = 2
	// Archived records were rejected, delivered as often as allowed, or
	// are gaps: done, never delivered again.
	Archived RecordState = 4
)

// String returns Kafka's name of the state.
func (s RecordState) String() string {
	switch s {
	case Available:
		return "AVAILABLE"
	case Acquired:
		return "ACQUIRED"
	case Acknowledged:
		return "ACKNOWLEDGED"
	case Archived:
		return "ARCHIVED"
	default:
		return fmt.Sprintf("RecordState(%d)", int8(s))
	}
}

func (s RecordState) done() bool { return s == Acknowledged || s == Archived }

// span is a run of consecutive in-flight records in the same state.
type span struct {
	first, last int64
	state       RecordState
	count       int16     // deliveries so far
	member      string    // Acquired only
	deadline    time.Time // Acquired only: when the lock expires
}

func (s span) len() int64 { return s.last - s.first + 1 }

// sameAs reports whether two spans may be one.
func (s span) sameAs(o span) bool {
	return s.state == o.state && s.count == o.count && s.member == o.member && s.deadline.Equal(o.deadline)
}

// Partition is the share-partition state of one (group, topic, partition)
// as its leader keeps it (Kafka's SharePartition): the share-partition
// start offset (SPSO), below which every record is done; the in-flight
// records from there on, each with its state, delivery count and, while
// acquired, its member and lock deadline; and the offset after them, from
// which new records are acquired. Like [Group], it is pure and not safe
// for concurrent use.
type Partition struct {
	cfg        PartitionConfig
	stateEpoch int32
	start      int64  // SPSO
	next       int64  // the offset after the in-flight records, >= start
	spans      []span // cover [start, next) exactly, in order
}

// NewPartition returns the share partition that the persisted state
// describes (what ReadShareGroupState returns). State.StartOffset must be
// set: for a partition without state (Kafka's -1), the caller computes it
// with [AutoOffsetReset] first. Batches must be sorted, not overlap, lie
// at or above the start offset and carry persistable states (Available,
// Acknowledged, Archived). Offsets between the start offset and the last
// batch that no batch covers are available, never delivered; available
// records delivered as often as allowed are archived.
func NewPartition(cfg PartitionConfig, st PartitionState) (*Partition, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if st.StartOffset < 0 {
		return nil, fmt.Errorf("sharegroup: share partition without a start offset (%d)", st.StartOffset)
	}
	p := &Partition{cfg: cfg, stateEpoch: st.StateEpoch, start: st.StartOffset, next: st.StartOffset}
	for i, b := range st.Batches {
		switch {
		case b.LastOffset < b.FirstOffset:
			return nil, fmt.Errorf("sharegroup: state batch %d: offsets %d-%d", i, b.FirstOffset, b.LastOffset)
		case b.FirstOffset < p.next:
			return nil, fmt.Errorf("sharegroup: state batch %d (%d-%d) below start offset %d or overlapping its predecessor", i, b.FirstOffset, b.LastOffset, p.next)
		case b.DeliveryCount < 0:
			return nil, fmt.Errorf("sharegroup: state batch %d with delivery count %d", i, b.DeliveryCount)
		}
		state := b.DeliveryState
		switch state {
		case Available, Acquired:
			state = Available
			if int(b.DeliveryCount) >= cfg.DeliveryCountLimit {
				state = Archived
			}
		case Acknowledged, Archived:
		default:
			return nil, fmt.Errorf("sharegroup: state batch %d in unknown state %d", i, b.DeliveryState)
		}
		if b.FirstOffset > p.next {
			p.spans = append(p.spans, span{first: p.next, last: b.FirstOffset - 1, state: Available})
		}
		p.spans = append(p.spans, span{first: b.FirstOffset, last: b.LastOffset, state: state, count: b.DeliveryCount})
		p.next = b.LastOffset + 1
	}
	p.tidy()
	return p, nil
}

// Clone returns a copy of the share partition that shares nothing with
// it: the leader keeps one while a change waits for its state write, to
// roll the change back if the write fails (Kafka's
// rollbackOrProcessStateUpdates).
func (p *Partition) Clone() *Partition {
	c := *p
	c.spans = slices.Clone(p.spans)
	return &c
}

// StateEpoch returns the state epoch, which [Partition.Reset] bumps.
func (p *Partition) StateEpoch() int32 { return p.stateEpoch }

// StartOffset returns the share-partition start offset (SPSO): every
// record below it is done.
func (p *Partition) StartOffset() int64 { return p.start }

// EndOffset returns the share-partition end offset (SPEO) as Kafka does:
// the last in-flight record, or the start offset if none is in flight.
func (p *Partition) EndOffset() int64 {
	if p.next == p.start {
		return p.start
	}
	return p.next - 1
}

// InFlight returns the number of records between the start offset and the
// end offset, whatever their state: what MaxInFlightRecords bounds.
func (p *Partition) InFlight() int64 { return p.next - p.start }

// NextFetchOffset returns where the leader reads the log for the next
// [Partition.Acquire]: the first available in-flight record, else the
// offset after the in-flight records.
func (p *Partition) NextFetchOffset() int64 {
	for _, s := range p.spans {
		if s.state == Available {
			return s.first
		}
	}
	return p.next
}

// CanAcquire reports whether an Acquire from [Partition.NextFetchOffset]
// may acquire anything: a record is available, or the in-flight records
// are below the limit (Kafka's canAcquireRecords). A fetch that cannot
// waits (Kafka parks it in its purgatory).
func (p *Partition) CanAcquire() bool {
	return p.NextFetchOffset() < p.next || p.InFlight() < int64(p.cfg.MaxInFlightRecords)
}

// RecordStateAt returns the state and delivery count of one offset, and
// the member holding it if acquired. Offsets below the start offset are
// done (Acknowledged, as far as the partition knows); offsets past the
// in-flight records are available, never delivered.
func (p *Partition) RecordStateAt(offset int64) (state RecordState, deliveries int16, member string) {
	if offset < p.start {
		return Acknowledged, 0, ""
	}
	if i := p.find(offset); i < len(p.spans) {
		s := p.spans[i]
		return s.state, s.count, s.member
	}
	return Available, 0, ""
}

// find returns the index of the span holding offset, len(spans) if none.
func (p *Partition) find(offset int64) int {
	i, _ := slices.BinarySearchFunc(p.spans, offset, func(s span, o int64) int {
		switch {
		case s.last < o:
			return -1
		case s.first > o:
			return 1
		}
		return 0
	})
	return i
}

// isolate splits spans so that [first, last], within [start, next), is
// covered by whole spans, and returns their index range.
func (p *Partition) isolate(first, last int64) (int, int) {
	p.splitAt(first)
	p.splitAt(last + 1)
	return p.find(first), p.find(last) + 1
}

// splitAt makes offset the first of its span.
func (p *Partition) splitAt(offset int64) {
	i := p.find(offset)
	if i == len(p.spans) || p.spans[i].first == offset {
		return
	}
	s := p.spans[i]
	left, right := s, s
	left.last, right.first = offset-1, offset
	p.spans = slices.Replace(p.spans, i, i+1, left, right)
}

// tidy merges neighbouring spans in the same state and moves the start
// offset past the done records at the front (Kafka's
// maybeUpdateCachedStateAndOffsets); their state is forgotten.
func (p *Partition) tidy() {
	k := 0
	for _, s := range p.spans {
		if k > 0 && p.spans[k-1].sameAs(s) {
			p.spans[k-1].last = s.last
			continue
		}
		p.spans[k] = s
		k++
	}
	p.spans = p.spans[:k]
	n := 0
	for n < len(p.spans) && p.spans[n].state.done() {
		n++
	}
	if n > 0 {
		p.start = p.spans[n-1].last + 1
		p.spans = slices.Delete(p.spans, 0, n)
	}
}

// release makes an acquired span available again, or archives it once
// delivered as often as allowed (Kafka's tryUpdateState).
func (p *Partition) release(s *span) {
	s.state = Available
	if int(s.count) >= p.cfg.DeliveryCountLimit {
		s.state = Archived
	}
	s.member, s.deadline = "", time.Time{}
}

// ReleaseMember makes the records a member holds available again (or
// archives those delivered as often as allowed): the member left the
// group, was removed, or closed its share session (Kafka's
// releaseAcquiredRecords). It reports whether it released anything. The
// persisted [Partition.State] does not change: it already counts
// acquisitions as released.
func (p *Partition) ReleaseMember(memberID string) bool {
	return p.releaseIf(func(s *span) bool { return s.member == memberID })
}

// ExpireLocks releases, at time now, the records whose acquisition lock
// has expired, as ReleaseMember releases them. It reports whether it
// released anything; like ReleaseMember, it does not change
// [Partition.State].
func (p *Partition) ExpireLocks(now time.Time) bool {
	return p.releaseIf(func(s *span) bool { return !now.Before(s.deadline) })
}

func (p *Partition) releaseIf(match func(*span) bool) bool {
	changed := false
	for i := range p.spans {
		if s := &p.spans[i]; s.state == Acquired && match(s) {
			p.release(s)
			changed = true
		}
	}
	if changed {
		p.tidy()
	}
	return changed
}

// NextDeadline returns the earliest acquisition lock deadline, if any
// record is acquired. The caller calls [Partition.ExpireLocks] once it
// has passed; Acquire and Acknowledge also expire the locks due first, so
// how promptly the caller does so changes nothing.
func (p *Partition) NextDeadline() (time.Time, bool) {
	var next time.Time
	for _, s := range p.spans {
		if s.state == Acquired && (next.IsZero() || s.deadline.Before(next)) {
			next = s.deadline
		}
	}
	return next, !next.IsZero()
}

// Acquired returns the ranges a member holds, in order.
func (p *Partition) Acquired(memberID string) []OffsetRange {
	var out []OffsetRange
	for _, s := range p.spans {
		if s.state == Acquired && s.member == memberID {
			if n := len(out); n > 0 && out[n-1].Last+1 == s.first {
				out[n-1].Last = s.last
				continue
			}
			out = append(out, OffsetRange{First: s.first, Last: s.last})
		}
	}
	return out
}

// OffsetRange is a range of offsets, both ends included.
type OffsetRange struct {
	// First is the first offset.
	First int64
	// Last is the last offset.
	Last int64
}

// AdvanceLogStart moves the start offset up to the log start offset, when
// retention or DeleteRecords removed records the share partition had not
// finished with (Kafka's updateCacheAndOffsets). Their state is dropped,
// acquired records included: acknowledgements of offsets below the start
// offset are ignored. It reports whether the state changed.
func (p *Partition) AdvanceLogStart(logStartOffset int64) bool {
	if logStartOffset <= p.start {
		return false
	}
	if logStartOffset < p.next {
		i, _ := p.isolate(logStartOffset, p.next-1)
		p.spans = slices.Delete(p.spans, 0, i)
	} else {
		p.spans = nil
		p.next = logStartOffset
	}
	p.start = logStartOffset
	p.tidy()
	return true
}

// Reset forgets the in-flight state and moves the start offset to
// startOffset, under a new state epoch, for AlterShareGroupOffsets (or
// DeleteShareGroupOffsets, with the offset that share.auto.offset.reset
// gives). It refuses while records are acquired: Kafka alters the offsets
// of an empty group only.
func (p *Partition) Reset(startOffset int64) error {
	if startOffset < 0 {
		return fmt.Errorf("sharegroup: reset to negative offset %d", startOffset)
	}
	for _, s := range p.spans {
		if s.state == Acquired {
			return fmt.Errorf("sharegroup: reset with records %d-%d acquired by member %s", s.first, s.last, s.member)
		}
	}
	p.spans = nil
	p.start, p.next = startOffset, startOffset
	p.stateEpoch++
	return nil
}
