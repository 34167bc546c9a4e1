package broker

import (
	"context"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// markerTimeout bounds how long a WriteTxnMarkers answer waits for its
// markers to be committed: the request has no timeout of its own, and Kafka
// waits request.timeout.ms (30 s by default).
const markerTimeout = 30 * time.Second

// handleWriteTxnMarkers appends the transaction markers a transaction
// coordinator sends to the partition leaders (WriteTxnMarkers, KIP-98): per
// marker and partition, a control batch that ends the producer's
// transaction there, committed or aborted. Each partition is answered once
// its marker is committed (the high watermark is past it, as for acks=all),
// in a pending answer so that the wait does not hold the connection's
// reader. After each successful append the node's txnMarkerHook, if set,
// hears of it.
func (n *Node) handleWriteTxnMarkers(ctx context.Context, req *kmsg.WriteTxnMarkersRequest) wire.Pending {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	if !fromBroker(ctx) {
		// Markers end other producers' transactions: only transaction
		// coordinators may send them, on the inter-broker listener
		// (Kafka authorizes WriteTxnMarkers as CLUSTER_ACTION).
		for _, m := range req.Markers {
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = m.ProducerID
			for _, mt := range m.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = mt.Topic
				for _, p := range mt.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition, rp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				rm.Topics = append(rm.Topics, rt)
			}
			resp.Markers = append(resp.Markers, rm)
		}
		return done(resp)
	}
	now := n.cfg.Now()
	type waitFor struct {
		p     *partition
		out   *kmsg.WriteTxnMarkersResponseMarkerTopicPartition
		last  int64
		epoch int32
	}
	var waits []waitFor
	resp.Markers = make([]kmsg.WriteTxnMarkersResponseMarker, len(req.Markers))
	for i := range req.Markers {
		m := &req.Markers[i]
		rm := &resp.Markers[i]
		*rm = kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		rm.Topics = make([]kmsg.WriteTxnMarkersResponseMarkerTopic, len(m.Topics))
		for j := range m.Topics {
			mt := &m.Topics[j]
			rt := &rm.Topics[j]
			*rt = kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = mt.Topic
			rt.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(mt.Partitions))
			for k, part := range mt.Partitions {
				out := &rt.Partitions[k]
				*out = kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				out.Partition = part
				p := n.partition(mt.Topic, part)
				if p == nil {
					out.ErrorCode = n.missingPartitionCode(mt.Topic, part)
					continue
				}
				if p.isrSize.Load() < p.settings.Load().minInsync {
					out.ErrorCode = kerr.NotEnoughReplicas.Code
					continue
				}
				res, err := p.appendMarker(m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch, now)
				if err != nil {
					out.ErrorCode = errCode(err)
					n.log.Debug("transaction marker refused", "topic", mt.Topic, "partition", part, "producer", m.ProducerID, "epoch", m.ProducerEpoch, "err", err)
					continue
				}
				if hook := n.txnMarkerHook; hook != nil {
					hook(mt.Topic, part, m.ProducerID, m.Committed)
				}
				waits = append(waits, waitFor{p, out, res.lastOffset, res.epoch})
			}
		}
	}
	if len(waits) == 0 {
		return done(resp)
	}
	deadline := time.Now().Add(markerTimeout)
	return func() kmsg.Response {
		for _, w := range waits {
			if code := w.p.awaitAcks(ctx, w.last, w.epoch, deadline); code != 0 {
				w.out.ErrorCode = code
			}
		}
		return resp
	}
}
