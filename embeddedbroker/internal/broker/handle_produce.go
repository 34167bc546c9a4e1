package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleProduce appends each partition's batches in request order (inside
// Handle, so that pipelined produce requests on one connection append in
// the order sent) and returns a pending answer that, for acks=all, waits
// until the high watermark covers what was appended.
func (n *Node) handleProduce(ctx context.Context, req *kmsg.ProduceRequest) wire.Pending {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	now := n.cfg.Now()
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		for _, rt := range req.Topics {
			t := kmsg.NewProduceResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewProduceResponseTopicPartition()
				p.Partition = rp.Partition
				p.ErrorCode = kerr.InvalidRequiredAcks.Code
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return done(resp)
	}
	if req.TransactionID == nil && hasTransactional(req) {
		// Kafka authorizes transactional writes by transactional id;
		// without one the whole request is refused.
		for _, rt := range req.Topics {
			t := kmsg.NewProduceResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewProduceResponseTopicPartition()
				p.Partition = rp.Partition
				p.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return done(resp)
	}
	type waitFor struct {
		p     *partition
		rp    *kmsg.ProduceResponseTopicPartition
		last  int64
		epoch int32
	}
	var waits []waitFor
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		t := &resp.Topics[i]
		*t = kmsg.NewProduceResponseTopic()
		t.Topic = rt.Topic
		t.TopicID = rt.TopicID
		topic := rt.Topic
		if req.Version >= 13 {
			topic, _ = n.topicName(rt.TopicID)
		}
		t.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			out := &t.Partitions[j]
			*out = kmsg.NewProduceResponseTopicPartition()
			out.Partition = rp.Partition
			if internalTopic(topic) {
				// Only the coordinators write there, as in Kafka.
				out.ErrorCode = kerr.InvalidTopicException.Code
				out.ErrorMessage = errMessage(fmt.Errorf("cannot append to internal topic %s", topic))
				continue
			}
			p := n.partition(topic, rp.Partition)
			if p == nil {
				out.ErrorCode = n.missingPartitionCode(topic, rp.Partition)
				continue
			}
			if req.Acks == -1 && p.isrSize.Load() < p.settings.Load().minInsync {
				out.ErrorCode = kerr.NotEnoughReplicas.Code
				continue
			}
			res, err := p.appendRecords(rp.Records, now)
			if err != nil {
				out.ErrorCode = errCode(err)
				out.ErrorMessage = errMessage(err)
				if out.ErrorCode == kerr.NotLeaderForPartition.Code {
					n.setCurrentLeader(topic, rp.Partition, &out.CurrentLeader)
				}
				n.log.Debug("produce refused", "topic", topic, "partition", rp.Partition, "err", err)
				continue
			}
			out.BaseOffset = res.baseOffset
			out.LogAppendTime = res.logAppendTime
			out.LogStartOffset = p.log.StartOffset()
			if req.Acks == -1 {
				waits = append(waits, waitFor{p, out, res.lastOffset, res.epoch})
			}
		}
	}
	if req.Acks == 0 {
		return nil
	}
	if len(waits) == 0 {
		return done(resp)
	}
	deadline := time.Now().Add(time.Duration(req.TimeoutMillis) * time.Millisecond)
	return func() kmsg.Response {
		for _, w := range waits {
			if code := w.p.awaitAcks(ctx, w.last, w.epoch, deadline); code != 0 {
				w.rp.ErrorCode = code
			}
		}
		return resp
	}
}

// awaitAcks waits, as an acks=all produce does, until the batches ending
// at offset last, appended at leader epoch epoch, are committed, and returns
// the error code to answer: 0; REQUEST_TIMED_OUT at the deadline or when
// ctx ends; NOT_LEADER_OR_FOLLOWER if leadership was lost meanwhile; or
// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below
// min.insync.replicas.
func (p *partition) awaitAcks(ctx context.Context, last int64, epoch int32, deadline time.Time) int16 {
	switch p.waitCommitted(ctx, last+1, epoch, deadline) {
	case commitTimeout:
		return kerr.RequestTimedOut.Code
	case commitLostLeadership:
		return kerr.NotLeaderForPartition.Code
	}
	if p.isrSize.Load() < p.settings.Load().minInsync {
		return kerr.NotEnoughReplicasAfterAppend.Code
	}
	return 0
}

// hasTransactional reports whether any batch of a produce request has the
// transactional attribute (only headers are looked at; the append path
// validates).
func hasTransactional(req *kmsg.ProduceRequest) bool {
	for i := range req.Topics {
		for j := range req.Topics[i].Partitions {
			for rest := req.Topics[i].Partitions[j].Records; len(rest) > 0; {
				b, r, err := batch.Next(rest)
				if err != nil {
					break
				}
				rest = r
				if h, err := batch.ParseHeader(b); err == nil && h.Transactional() {
					return true
				}
			}
		}
	}
	return false
}

// Outcomes of waiting for an acks=all append.
const (
	committed = iota
	commitTimeout
	commitLostLeadership
)

// waitCommitted waits until the high watermark reaches off while this
// replica still leads at epoch. A replica that lost leadership cannot tell
// whether the new leader kept the batch, so the write is not acknowledged
// (the client retries; idempotence makes the retry safe).
func (p *partition) waitCommitted(ctx context.Context, off int64, epoch int32, deadline time.Time) int {
	lost := func() bool { return !p.leader.Load() || p.leaderEpoch.Load() != epoch }
	if p.hwm.Load() >= off && !lost() {
		return committed
	}
	ch := make(chan struct{}, 1)
	cancel := p.wait(ch)
	defer cancel()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		if lost() {
			return commitLostLeadership
		}
		if p.hwm.Load() >= off {
			return committed
		}
		select {
		case <-ch:
		case <-t.C:
			return commitTimeout
		case <-ctx.Done():
			return commitTimeout
		}
	}
}

// missingPartitionCode explains why this node has no replica of a
// partition: the topic or partition does not exist, or another node has it.
func (n *Node) missingPartitionCode(topic string, partition int32) int16 {
	_, st, ok := n.ctrl.Image().Partition(topic, partition)
	if !ok {
		return kerr.UnknownTopicOrPartition.Code
	}
	if st.Leader < 0 {
		return kerr.LeaderNotAvailable.Code
	}
	return kerr.NotLeaderForPartition.Code
}

// setCurrentLeader fills a NOT_LEADER answer's current-leader hint (KIP-951).
func (n *Node) setCurrentLeader(topic string, partition int32, cl *kmsg.ProduceResponseTopicPartitionCurrentLeader) {
	if _, st, ok := n.ctrl.Image().Partition(topic, partition); ok {
		cl.LeaderID = st.Leader
		cl.LeaderEpoch = st.LeaderEpoch
	}
}

// internalTopic reports whether topic is one of the broker's own, which
// clients may read but never write (Kafka's Topic.isInternal).
func internalTopic(topic string) bool {
	return topic == OffsetsTopic || topic == TxnStateTopic || topic == ShareStateTopic
}
