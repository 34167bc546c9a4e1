package sharegroup

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BatchRange is a record batch of the log, by its base and last offsets.
type BatchRange struct {
	// FirstOffset is the batch's base offset.
	FirstOffset int64
	// LastOffset is the batch's last offset.
	LastOffset int64
}

// Acquire acquires records for a member at time now (Kafka's
// SharePartition.acquire) and returns them as the ShareFetch response
// carries them, in offset order.
//
// batches are the record batches the leader read from the log for the
// fetch, in order, from [Partition.NextFetchOffset] on and below the high
// watermark (or the last stable offset, for read_committed). Offsets
// between two batches, or before the first one, are taken to hold no
// records: if new, they are archived at once (Kafka acquires them and the
// client acknowledges them as gaps).
//
// Available in-flight records come first, as the fetch offset is the
// first of them: each is acquired again with its delivery count bumped.
// Records past the in-flight ones are acquired new, with delivery count 1,
// while the in-flight records are below MaxInFlightRecords. Both limits,
// maxRecords and the in-flight one, are soft as in Kafka: records are
// acquired a log batch at a time, and the batch that reaches a limit is
// acquired whole (the fetch response carries whole batches anyway).
// Acquired records are locked for RecordLockDuration.
//
// The delivery counts Acquire bumps are part of [Partition.State]; a
// caller that persists only after acknowledgements, releases and lock
// expiries (as Kafka does) may deliver a record once more than the limit
// after a crash.
func (p *Partition) Acquire(now time.Time, memberID string, batches []BatchRange, maxRecords int) []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord {
	p.ExpireLocks(now)
	if memberID == "" || maxRecords <= 0 {
		return nil
	}
	deadline := now.Add(p.cfg.RecordLockDuration)
	var got []span
	acquired, prevLast := 0, int64(-1)
	for _, b := range batches {
		if acquired >= maxRecords {
			break
		}
		if b.LastOffset < b.FirstOffset || b.FirstOffset <= prevLast {
			continue // not a batch of the log in order: ignored
		}
		prevLast = b.LastOffset
		lo := max(b.FirstOffset, p.start)
		if lo > b.LastOffset {
			continue
		}
		// In-flight records of the batch that are available.
		if lo < p.next {
			hi := min(b.LastOffset, p.next-1)
			i, j := p.isolate(lo, hi)
			for k := i; k < j; k++ {
				s := &p.spans[k]
				if s.state != Available {
					continue
				}
				s.state, s.member, s.deadline = Acquired, memberID, deadline
				s.count++
				got = append(got, *s)
				acquired += int(s.len())
			}
			lo = hi + 1
		}
		// New records.
		if lo > b.LastOffset {
			continue
		}
		if p.InFlight() >= int64(p.cfg.MaxInFlightRecords) {
			break
		}
		if lo > p.next {
			p.spans = append(p.spans, span{first: p.next, last: lo - 1, state: Archived})
		}
		s := span{first: lo, last: b.LastOffset, state: Acquired, count: 1, member: memberID, deadline: deadline}
		p.spans = append(p.spans, s)
		p.next = b.LastOffset + 1
		got = append(got, s)
		acquired += int(s.len())
	}
	p.tidy()
	var out []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	for _, s := range got {
		if n := len(out); n > 0 && out[n-1].LastOffset+1 == s.first && out[n-1].DeliveryCount == s.count {
			out[n-1].LastOffset = s.last
			continue
		}
		r := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
		r.FirstOffset, r.LastOffset, r.DeliveryCount = s.first, s.last, s.count
		out = append(out, r)
	}
	return out
}
