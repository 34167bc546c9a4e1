package broker

import (
	"context"
	"errors"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchPart is one partition of a fetch being served.
type fetchPart struct {
	p    *partition
	req  *kmsg.FetchRequestTopicPartition
	resp *kmsg.FetchResponseTopicPartition
}

// handleFetch answers a fetch. Fetch sessions (KIP-227) are declined: every
// answer carries session id 0, which tells the client to keep sending full
// fetches. The read and the long poll happen in the pending answer, so a
// waiting fetch holds only its own connection's later responses, as in
// Kafka.
func (n *Node) handleFetch(ctx context.Context, req *kmsg.FetchRequest) wire.Pending {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.SessionID != 0 || req.SessionEpoch > 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return done(resp)
	}
	replica := req.ReplicaID
	if req.Version >= 15 {
		replica = req.ReplicaState.ID
	}
	if replica >= 0 && !fromBroker(ctx) {
		// A replica fetch moves the follower's position and the high
		// watermark: only brokers may send one, on their own listener
		// (Kafka authorizes it as CLUSTER_ACTION and answers
		// TOPIC_AUTHORIZATION_FAILED otherwise).
		return done(refuseFetch(req, resp, kerr.TopicAuthorizationFailed.Code))
	}
	var parts []fetchPart
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		t := &resp.Topics[i]
		*t = kmsg.NewFetchResponseTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		topic := rt.Topic
		unknownID := false
		if req.Version >= 13 {
			var ok bool
			topic, ok = n.topicName(rt.TopicID)
			unknownID = !ok
		}
		t.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			out := &t.Partitions[j]
			*out = kmsg.NewFetchResponseTopicPartition()
			out.Partition = rp.Partition
			out.HighWatermark, out.LastStableOffset, out.LogStartOffset = -1, -1, -1
			out.RecordBatches = noRecords()
			if unknownID {
				out.ErrorCode = kerr.UnknownTopicID.Code
				continue
			}
			p := n.partition(topic, rp.Partition)
			if p == nil {
				out.ErrorCode = n.missingPartitionCode(topic, rp.Partition)
				continue
			}
			if code := p.checkLeader(rp.CurrentLeaderEpoch); code != 0 {
				out.ErrorCode = code
				if _, st, ok := n.ctrl.Image().Partition(topic, rp.Partition); ok {
					out.CurrentLeader.LeaderID, out.CurrentLeader.LeaderEpoch = st.Leader, st.LeaderEpoch
				}
				continue
			}
			if replica >= 0 {
				// A follower whose log diverged from this leader's
				// has not fetched anything yet: it truncates first
				// (Kafka updates follower state only for fetches
				// without a diverging epoch). Counting it would let a
				// replica holding different records at the same
				// offsets join the ISR, and be elected.
				if _, _, diverged := p.divergence(rp.LastFetchedEpoch, rp.FetchOffset); !diverged && p.followerFetched(replica, rp.FetchOffset, n.cfg.Now()) {
					n.changeISR(p)
				}
			}
			parts = append(parts, fetchPart{p, rp, out})
		}
	}
	maxBytes := int(req.MaxBytes)
	if limit := int(n.cfg.Broker.Int("fetch.max.bytes")); req.Version < 3 || maxBytes <= 0 || maxBytes > limit {
		maxBytes = limit // Kafka: min(request's max bytes, fetch.max.bytes)
	}
	// The wait counts from the request's arrival, as in Kafka, not from
	// when the answer's turn on the connection comes.
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	// A partition error answers at once, as in Kafka (whose delayed fetch
	// completes on any partition error): the client, or a follower whose
	// leader has not yet applied the metadata that makes it leader, must
	// learn it now, not after the long poll. A follower parked for the
	// whole wait would hold the partition's high watermark, and with it
	// every acks=all write and group write, for that long.
	failed := anyPartitionError(resp)
	// Only consumers read committed; followers read the whole log.
	readCommitted := req.IsolationLevel == 1 && replica < 0
	return func() kmsg.Response {
		var ch chan struct{}
		for {
			total, stop := n.readFetch(parts, replica, readCommitted, maxBytes)
			if stop || failed || total >= int(req.MinBytes) || !time.Now().Before(deadline) {
				return resp
			}
			if ch == nil {
				ch = make(chan struct{}, 1)
				for _, fp := range parts {
					defer fp.p.wait(ch)()
				}
				continue // re-read once registered, so no wake-up is missed
			}
			t := time.NewTimer(time.Until(deadline))
			select {
			case <-ch:
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return resp
			}
			t.Stop()
		}
	}
}

// anyPartitionError reports whether a fetch answer has a partition error.
func anyPartitionError(resp *kmsg.FetchResponse) bool {
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if resp.Topics[i].Partitions[j].ErrorCode != 0 {
				return true
			}
		}
	}
	return false
}

// checkLeader validates that this replica leads at the client's epoch
// (-1: the client does not check).
func (p *partition) checkLeader(clientEpoch int32) int16 {
	epoch := p.leaderEpoch.Load()
	switch {
	case !p.leader.Load():
		return kerr.NotLeaderForPartition.Code
	case clientEpoch >= 0 && clientEpoch < epoch:
		return kerr.FencedLeaderEpoch.Code
	case clientEpoch > epoch:
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}

// readFetch fills the answers of parts; it returns the bytes read, and
// stop when an answer must go out at once (an error, a divergence). A
// read_committed consumer reads up to the last stable offset and learns the
// aborted transactions among what it read; other consumers read up to the
// high watermark, followers up to the log end.
func (n *Node) readFetch(parts []fetchPart, replica int32, readCommitted bool, maxBytes int) (total int, stop bool) {
	for _, fp := range parts {
		out, rp, p := fp.resp, fp.req, fp.p
		out.RecordBatches = noRecords()
		out.AbortedTransactions = nil
		out.ErrorCode = 0
		lso, hwm := p.lastStable()
		out.HighWatermark = hwm
		out.LastStableOffset = lso
		out.LogStartOffset = p.log.StartOffset()
		upTo := hwm
		switch {
		case replica >= 0:
			upTo = p.log.EndOffset()
		case readCommitted:
			upTo = lso
		}
		if e, end, diverged := p.divergence(rp.LastFetchedEpoch, rp.FetchOffset); diverged {
			out.DivergingEpoch.Epoch, out.DivergingEpoch.EndOffset = e, end
			stop = true
			continue
		}
		if rp.FetchOffset >= upTo && rp.FetchOffset <= p.log.EndOffset() {
			continue // nothing new yet
		}
		limit := int(rp.PartitionMaxBytes)
		if rem := maxBytes - total; rem < limit {
			limit = rem
		}
		if limit <= 0 && total > 0 {
			continue
		}
		data, err := p.log.Read(rp.FetchOffset, max(limit, 1), upTo)
		if err != nil {
			out.ErrorCode = errCode(err)
			if !errors.Is(err, logstore.ErrOffsetOutOfRange) {
				n.log.Warn("fetch read", "topic", p.topic, "partition", p.id, "err", err)
			}
			stop = true
			continue
		}
		if data != nil {
			out.RecordBatches = data
		}
		if readCommitted && len(data) > 0 {
			out.AbortedTransactions = p.txns.abortedIn(rp.FetchOffset, fetchedUpTo(data))
		}
		total += len(data)
	}
	return total, stop
}

// noRecords is the records field of a partition answer without data: empty,
// never null. Kafka always sends empty records there, and clients on the
// non-flexible fetch versions (kafka-go, sarama) reject a null one as a
// size mismatch.
func noRecords() []byte { return []byte{} }

// refuseFetch answers every partition of a fetch with code.
func refuseFetch(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, code int16) *kmsg.FetchResponse {
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		t := &resp.Topics[i]
		*t = kmsg.NewFetchResponseTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			out := kmsg.NewFetchResponseTopicPartition()
			out.Partition = rp.Partition
			out.HighWatermark, out.LastStableOffset, out.LogStartOffset = -1, -1, -1
			out.RecordBatches = noRecords()
			out.ErrorCode = code
			t.Partitions = append(t.Partitions, out)
		}
	}
	return resp
}
