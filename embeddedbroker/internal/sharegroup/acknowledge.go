package sharegroup

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AckType is an acknowledgement type of ShareFetch and ShareAcknowledge.
type AckType int8

const (
	// AckGap marks offsets that hold no record (a gap in a compacted or
	// transactional log): archived.
	AckGap AckType = 0
	// AckAccept marks records processed: acknowledged.
	AckAccept AckType = 1
	// AckRelease gives records back for redelivery: available again, or
	// archived once delivered as often as allowed.
	AckRelease AckType = 2
	// AckReject marks records that cannot be processed: archived.
	AckReject AckType = 3
)

// AckBatch is one acknowledgement batch of a request: its offsets and
// either one type for all of them or one type per offset.
type AckBatch struct {
	// FirstOffset is the first offset acknowledged.
	FirstOffset int64
	// LastOffset is the last offset acknowledged.
	LastOffset int64
	// Types has one entry, for every offset, or one per offset.
	Types []AckType
}

// AckBatchesFromShareFetch converts the acknowledgement batches of a
// ShareFetch request partition.
func AckBatchesFromShareFetch(bs []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) []AckBatch {
	out := make([]AckBatch, 0, len(bs))
	for _, b := range bs {
		out = append(out, AckBatch{FirstOffset: b.FirstOffset, LastOffset: b.LastOffset, Types: ackTypes(b.AcknowledgeTypes)})
	}
	return out
}

// AckBatchesFromShareAcknowledge converts the acknowledgement batches of
// a ShareAcknowledge request partition.
func AckBatchesFromShareAcknowledge(bs []kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch) []AckBatch {
	out := make([]AckBatch, 0, len(bs))
	for _, b := range bs {
		out = append(out, AckBatch{FirstOffset: b.FirstOffset, LastOffset: b.LastOffset, Types: ackTypes(b.AcknowledgeTypes)})
	}
	return out
}

func ackTypes(ts []int8) []AckType {
	out := make([]AckType, len(ts))
	for i, t := range ts {
		out[i] = AckType(t)
	}
	return out
}

// AckResult is the outcome of [Partition.Acknowledge].
type AckResult struct {
	// ErrorCode is the partition's error code in the response, 0 if the
	// acknowledgements applied.
	ErrorCode int16
	// ErrorMessage goes with ErrorCode.
	ErrorMessage string
	// FailedBatch is the index of the batch that failed, -1 if none.
	FailedBatch int
	// Changed reports whether anything changed, expired locks included:
	// the caller persists [Partition.State] before it answers (releases
	// and expiries alone leave State as it was; writing it anyway is
	// harmless).
	Changed bool
}

// Err returns the result's error, matched by errors.Is against the kerr
// error, nil if none.
func (r AckResult) Err() error {
	if r.ErrorCode == 0 {
		return nil
	}
	code, ok := kerr.ErrorForCode(r.ErrorCode).(*kerr.Error)
	if !ok {
		code = kerr.UnknownServerError
	}
	return &Error{Code: code, Message: r.ErrorMessage}
}

// Acknowledge applies a member's acknowledgements of one partition at time
// now (Kafka's SharePartition.acknowledge), all or nothing: if a batch
// fails, none applies. Batches must be in order and not overlap, each
// with one type or one type per offset, and not go past the in-flight
// records (INVALID_REQUEST); every offset at or above the start offset
// must be acquired by the member (INVALID_RECORD_STATE), which it is not
// once its lock expired. Offsets below the start offset are skipped: they
// are done. Delivery counts do not change.
func (p *Partition) Acknowledge(now time.Time, memberID string, batches []AckBatch) AckResult {
	expired := p.ExpireLocks(now)
	res := AckResult{FailedBatch: -1, Changed: expired}
	fail := func(i int, code *kerr.Error, format string, args ...any) AckResult {
		res.FailedBatch, res.ErrorCode, res.ErrorMessage = i, code.Code, fmt.Sprintf(format, args...)
		return res
	}
	prevLast := int64(-1)
	for i, b := range batches {
		switch {
		case b.FirstOffset < 0 || b.LastOffset < b.FirstOffset:
			return fail(i, kerr.InvalidRequest, "Invalid acknowledgement batch offsets %d-%d.", b.FirstOffset, b.LastOffset)
		case i > 0 && b.FirstOffset <= prevLast:
			return fail(i, kerr.InvalidRequest, "Acknowledgement batches are not in order or overlap at offset %d.", b.FirstOffset)
		case len(b.Types) != 1 && int64(len(b.Types)) != b.LastOffset-b.FirstOffset+1:
			return fail(i, kerr.InvalidRequest, "Acknowledgement batch %d-%d has %d acknowledge types.", b.FirstOffset, b.LastOffset, len(b.Types))
		}
		for _, t := range b.Types {
			if t < AckGap || t > AckReject {
				return fail(i, kerr.InvalidRequest, "Invalid acknowledge type: %d.", t)
			}
		}
		prevLast = b.LastOffset
		if b.LastOffset < p.start {
			continue
		}
		if b.LastOffset >= p.next {
			return fail(i, kerr.InvalidRequest, "Batch record not found. The last offset in request is past acquired records.")
		}
		for k := p.find(max(b.FirstOffset, p.start)); k < len(p.spans) && p.spans[k].first <= b.LastOffset; k++ {
			s := p.spans[k]
			if s.state != Acquired {
				return fail(i, kerr.InvalidRecordState, "The batch cannot be acknowledged. The offset %d is not acquired.", max(s.first, b.FirstOffset))
			}
			if s.member != memberID {
				return fail(i, kerr.InvalidRecordState, "Member is not the owner of offset %d.", max(s.first, b.FirstOffset))
			}
		}
	}
	// Everything checked: apply.
	for _, b := range batches {
		if b.LastOffset < p.start {
			continue
		}
		for first := max(b.FirstOffset, p.start); first <= b.LastOffset; {
			t := b.Types[0]
			last := b.LastOffset
			if len(b.Types) > 1 {
				t = b.Types[first-b.FirstOffset]
				last = first
				for last < b.LastOffset && b.Types[last+1-b.FirstOffset] == t {
					last++
				}
			}
			i, j := p.isolate(first, last)
			for k := i; k < j; k++ {
				s := &p.spans[k]
				switch t {
				case AckAccept:
					s.state = Acknowledged
				case AckRelease:
					p.release(s)
				default:
					s.state = Archived
				}
				s.member, s.deadline = "", time.Time{}
			}
			res.Changed = true
			first = last + 1
		}
	}
	p.tidy()
	return res
}
