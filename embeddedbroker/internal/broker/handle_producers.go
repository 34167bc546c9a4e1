package broker

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDescribeProducers answers DescribeProducers (KIP-664), which
// kafka-transactions --describe-producers uses to find hanging
// transactions: for each partition this node leads, the producers it
// remembers, with their epoch, last sequence and timestamp, the
// coordinator epoch of their last marker, and the first offset of their
// open transaction (-1 when none).
func (n *Node) handleDescribeProducers(req *kmsg.DescribeProducersRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewDescribeProducersResponseTopic()
		t.Topic = rt.Topic
		for _, id := range rt.Partitions {
			out := kmsg.NewDescribeProducersResponseTopicPartition()
			out.Partition = id
			p := n.partition(rt.Topic, id)
			switch {
			case p == nil:
				out.ErrorCode = n.missingPartitionCode(rt.Topic, id)
			case !p.leader.Load():
				out.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				out.ActiveProducers = p.describeProducers()
			}
			t.Partitions = append(t.Partitions, out)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// describeProducers lists the partition's producers, by producer id.
func (p *partition) describeProducers() []kmsg.DescribeProducersResponseTopicPartitionActiveProducer {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]int64, 0, len(p.producers))
	for id := range p.producers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]kmsg.DescribeProducersResponseTopicPartitionActiveProducer, 0, len(ids))
	for _, id := range ids {
		st := p.producers[id]
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID, ap.ProducerEpoch = id, int32(st.epoch)
		ap.LastSequence, ap.LastTimestamp = -1, -1
		if n := len(st.batches); n > 0 {
			ap.LastSequence, ap.LastTimestamp = st.batches[n-1].lastSeq, st.batches[n-1].timestamp
		}
		ap.CoordinatorEpoch = st.coordinatorEpoch
		ap.CurrentTxnStartOffset = -1
		if o, ok := p.txns.open[id]; ok {
			ap.CurrentTxnStartOffset = o.first
		}
		out = append(out, ap)
	}
	return out
}
