package groups

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleTxnOffsetCommit is Kafka's handleTxnCommitOffsets (KIP-98, with the
// member and generation checks of KIP-447 from v3): the offsets are written
// to the group's partition as a transactional batch of the producer and
// kept pending for it until the producer's transaction marker is appended
// there (CompleteTxn). Partitions of unknown topics answer
// UNKNOWN_TOPIC_OR_PARTITION whatever else happens, as Kafka's KafkaApis
// filters them out before the coordinator sees the request.
//
// v5 (KIP-890 part 2) means the client did not send AddOffsetsToTxn and
// expects the broker to add the partition to the transaction itself; this
// coordinator does not do that, so the broker should advertise up to v4.
// v6 identifies topics by ID, resolved as OffsetCommit v10 does.
func (c *Coordinator) handleTxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	codes := make([][]int16, len(req.Topics))
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
	}
	// A commit written after ctx ended stays pending for the producer.
	done, apply := c.txnCommit(req, codes)
	awaitCommit(ctx, codes, done, apply)
	for i, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		rt.TopicID = t.TopicID
		for j, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// txnCommit validates the transactional commit, fills codes for the
// partitions it rejects and issues the write of the others, as commit does
// for OffsetCommit.
func (c *Coordinator) txnCommit(req *kmsg.TxnOffsetCommitRequest, codes [][]int16) (<-chan struct{}, func()) {
	// The partitions the commit may write: known topics only.
	type staged struct {
		i, j int // index in codes
		t    tp
		p    *kmsg.TxnOffsetCommitRequestTopicPartition
		o    *offsetValue
	}
	var cands []staged
	for i := range req.Topics {
		t := &req.Topics[i]
		topic, ok := c.commitTopic(t.Topic, t.TopicID, req.Version >= 6)
		if !ok {
			for j := range t.Partitions {
				codes[i][j] = kerr.UnknownTopicID.Code
			}
			continue
		}
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if !c.partitionExists(topic, p.Partition) {
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
				continue
			}
			cands = append(cands, staged{i: i, j: j, t: tp{topic, p.Partition}, p: p})
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	fill := func(code int16) {
		for _, s := range cands {
			codes[s.i][s.j] = code
		}
	}
	if req.Group == "" {
		fill(kerr.InvalidGroupID.Code)
		return nil, nil
	}
	// A transactional commit creates an unknown group, Empty, whatever it
	// carries (Kafka's handleTxnCommitOffsets).
	g, code := c.acquire(req.Group, true)
	if code != 0 {
		fill(code)
		return nil, nil
	}
	defer g.mu.Unlock()
	defer g.maybeDropUnused()

	memberID, instanceID, generation := req.MemberID, req.InstanceID, req.Generation
	if req.Version < 3 {
		memberID, instanceID, generation = "", nil, -1
	}
	if code := g.validateTxnOffsetCommit(memberID, instanceID, generation); code != 0 {
		fill(code)
		return nil, nil
	}

	now := c.nowMs()
	var writes []staged
	for _, s := range cands {
		if s.p.Metadata != nil && len(*s.p.Metadata) > c.cfg.MaxMetadataSize {
			codes[s.i][s.j] = kerr.OffsetMetadataTooLarge.Code
			continue
		}
		o := &offsetValue{offset: s.p.Offset, leaderEpoch: s.p.LeaderEpoch, commitMs: now, expireMs: -1}
		if s.p.Metadata != nil {
			o.metadata = *s.p.Metadata
		}
		if req.Version < 2 {
			o.leaderEpoch = -1
		}
		s.o = o
		codes[s.i][s.j] = pendingCode
		writes = append(writes, s)
	}
	if len(writes) == 0 {
		return nil, nil
	}

	// Kafka's prepareTxnOffsetCommit: pending from now on, so that
	// RequireStable fetches see it while it is written.
	pid := req.ProducerID
	os := g.pendingTxn[pid]
	if os == nil {
		os = make(map[tp]*offsetValue)
		g.pendingTxn[pid] = os
	}
	recs := make([]KV, len(writes))
	for k, w := range writes {
		recs[k] = offsetRecord(g.id, w.t, w.o)
		os[w.t] = w.o
	}
	results := make([]int16, len(writes))
	done := make(chan struct{})
	g.writeAs(&txnProducer{id: pid, epoch: req.ProducerEpoch}, recs, func(err error) {
		code := int16(0)
		switch {
		case g.unloaded:
			code = kerr.NotCoordinator.Code
		case err != nil:
			code = storeErrCode(err, true)
			g.c.log.Warn("failed to write transactional offset commit", "group", g.id,
				"producer", pid, "epoch", req.ProducerEpoch, "err", err)
		}
		pos := g.c.pos.Add(1)
		os := g.pendingTxn[pid]
		for k, w := range writes {
			results[k] = code
			if os[w.t] != w.o {
				continue // replaced by a later commit of the transaction, or completed
			}
			if code == 0 {
				// Kafka's onTxnOffsetCommitAppend.
				w.o.pos = pos
			} else {
				// Kafka's failPendingTxnOffsetCommit.
				delete(os, w.t)
			}
		}
		if os != nil && len(os) == 0 {
			delete(g.pendingTxn, pid)
		}
		close(done)
	})
	return done, func() {
		for k, w := range writes {
			codes[w.i][w.j] = results[k]
		}
	}
}

// validateTxnOffsetCommit is Kafka's validateOffsetCommit for transactional
// commits: the member and generation are checked only if the request
// carries them (v3+, KIP-447), and unlike OffsetCommit, neither a group with
// members nor a rebalance in progress refuses a commit without them.
func (g *group) validateTxnOffsetCommit(memberID string, instanceID *string, generation int32) int16 {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if g.isConsumer() {
		return g.validateConsumerCommit(memberID, generation, 0, true)
	}
	if generation >= 0 || memberID != "" || instanceID != nil {
		if code := g.validateMember(memberID, instanceID); code != 0 {
			return code
		}
		if generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
	}
	return 0
}
