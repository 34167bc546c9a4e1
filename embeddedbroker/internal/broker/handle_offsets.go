package broker

import (
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Special ListOffsets timestamps.
const (
	listLatest          = -1
	listEarliest        = -2
	listMaxTimestamp    = -3
	listEarliestLocal   = -4
	listEarliestPending = -5
)

func (n *Node) handleListOffsets(req *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewListOffsetsResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			out := kmsg.NewListOffsetsResponseTopicPartition()
			out.Partition = rp.Partition
			p := n.partition(rt.Topic, rp.Partition)
			if p == nil {
				out.ErrorCode = n.missingPartitionCode(rt.Topic, rp.Partition)
			} else if code := p.checkLeader(rp.CurrentLeaderEpoch); code != 0 && req.ReplicaID < 0 {
				out.ErrorCode = code
			} else {
				ts, off, epoch, err := p.listOffset(rp.Timestamp, req.IsolationLevel == 1)
				out.ErrorCode = errCode(err)
				out.Timestamp, out.Offset, out.LeaderEpoch = ts, off, epoch
				if req.Version == 0 && err == nil {
					if off >= 0 {
						out.OldStyleOffsets = []int64{off}
					}
				}
			}
			t.Partitions = append(t.Partitions, out)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// listOffset answers one ListOffsets query: timestamp -1 is the high
// watermark (the last stable offset for readCommitted), -2 (and -4, -5: no
// tiered storage here) the log start offset, -3 the record with the largest
// timestamp, and any other the first record whose timestamp is at least the
// one asked for; records at or past the high watermark (the last stable
// offset for readCommitted) are not found, as in Kafka.
func (p *partition) listOffset(ts int64, readCommitted bool) (timestamp, offset int64, epoch int32, err error) {
	lso, hwm := p.lastStable()
	if readCommitted {
		hwm = lso
	}
	switch ts {
	case listLatest:
		return -1, hwm, p.leaderEpoch.Load(), nil
	case listEarliest, listEarliestLocal, listEarliestPending:
		off := p.log.StartOffset()
		return -1, off, p.epochAt(off), nil
	case listMaxTimestamp:
		b, found, err := p.log.MaxTimestampBatch()
		if err != nil || !found {
			return -1, -1, -1, err
		}
		return p.findInBatch(b, -1, hwm)
	}
	if ts < 0 {
		return -1, -1, -1, kerr.InvalidRequest
	}
	b, found, err := p.log.FindTimestamp(ts)
	if err != nil || !found {
		return -1, -1, -1, err
	}
	return p.findInBatch(b, ts, hwm)
}

// findInBatch finds in a batch the first record whose timestamp is at least
// ts, or for ts -1 the first record holding the batch's max timestamp.
func (p *partition) findInBatch(b []byte, ts, hwm int64) (int64, int64, int32, error) {
	h, err := batch.ParseHeader(b)
	if err != nil {
		return -1, -1, -1, err
	}
	if h.BaseOffset >= hwm {
		return -1, -1, -1, nil
	}
	if h.LogAppendTime() {
		return h.MaxTimestamp, max(h.BaseOffset, p.log.StartOffset()), h.PartitionLeaderEpoch, nil
	}
	want := ts
	if ts < 0 {
		want = h.MaxTimestamp
	}
	resTs, resOff := int64(-1), int64(-1)
	start := p.log.StartOffset()
	err = batch.ForEachRecord(b, func(r batch.Record) bool {
		off := h.BaseOffset + int64(r.OffsetDelta)
		rts := h.FirstTimestamp + r.TimestampDelta
		if off < start {
			return true
		}
		if (ts < 0 && rts == want) || (ts >= 0 && rts >= want) {
			resTs, resOff = rts, off
			return false
		}
		return true
	})
	if err != nil {
		return -1, -1, -1, err
	}
	if resOff < 0 {
		return -1, -1, -1, nil
	}
	return resTs, resOff, h.PartitionLeaderEpoch, nil
}

func (n *Node) handleOffsetForLeaderEpoch(req *kmsg.OffsetForLeaderEpochRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewOffsetForLeaderEpochResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			out := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			out.Partition = rp.Partition
			out.LeaderEpoch, out.EndOffset = -1, -1
			p := n.partition(rt.Topic, rp.Partition)
			switch {
			case p == nil:
				out.ErrorCode = n.missingPartitionCode(rt.Topic, rp.Partition)
			case p.checkLeader(rp.CurrentLeaderEpoch) != 0:
				out.ErrorCode = p.checkLeader(rp.CurrentLeaderEpoch)
			default:
				out.LeaderEpoch, out.EndOffset = p.endOffsetForEpoch(rp.LeaderEpoch)
			}
			t.Partitions = append(t.Partitions, out)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

func (n *Node) handleDeleteRecords(req *kmsg.DeleteRecordsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewDeleteRecordsResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			out := kmsg.NewDeleteRecordsResponseTopicPartition()
			out.Partition = rp.Partition
			out.LowWatermark = -1
			p := n.partition(rt.Topic, rp.Partition)
			switch {
			case p == nil:
				out.ErrorCode = n.missingPartitionCode(rt.Topic, rp.Partition)
			case !p.leader.Load():
				out.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				lw, err := p.deleteRecordsBefore(rp.Offset)
				out.ErrorCode = errCode(err)
				out.LowWatermark = lw
			}
			t.Partitions = append(t.Partitions, out)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}
