package groups

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleOffsetCommit is Kafka's handleCommitOffsets: validated against the
// group's generation and members, written to the store, and only then
// answered and applied.
func (c *Coordinator) handleOffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	// codes[i][j] is the answer for req.Topics[i].Partitions[j].
	codes := make([][]int16, len(req.Topics))
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
	}
	fillAll := func(code int16) {
		for i := range codes {
			for j := range codes[i] {
				codes[i][j] = code
			}
		}
	}
	done, apply := c.commit(req, codes, fillAll)
	awaitCommit(ctx, codes, done, apply)
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		rt.TopicID = t.TopicID
		for j, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// commitTopic is the topic a commit's topic entry names: by ID when byID
// (the request versions that carry topic IDs; false if the ID is unknown),
// else by name.
func (c *Coordinator) commitTopic(name string, id [16]byte, byID bool) (string, bool) {
	if !byID {
		return name, true
	}
	if c.cfg.Topics == nil {
		return "", false
	}
	return c.cfg.Topics.TopicName(id)
}

// partitionExists reports whether a commit may name the partition: always
// without a Topics view.
func (c *Coordinator) partitionExists(topic string, p int32) bool {
	return c.cfg.Topics == nil || c.cfg.Topics.PartitionExists(topic, p)
}

// pendingCode marks, in codes, a partition whose commit is being written.
const pendingCode = int16(-32768)

// awaitCommit waits for a commit's write (done; nil if nothing was
// written) and then fills codes with apply. If ctx ends first, the
// partitions still being written answer REQUEST_TIMED_OUT: the write may
// still land, and the client retries (or, for a transactional commit,
// aborts).
func awaitCommit(ctx context.Context, codes [][]int16, done <-chan struct{}, apply func()) {
	if done == nil {
		return
	}
	select {
	case <-done:
		apply()
	case <-ctx.Done():
		for i := range codes {
			for j := range codes[i] {
				if codes[i][j] == pendingCode {
					codes[i][j] = kerr.RequestTimedOut.Code
				}
			}
		}
	}
}

// commit validates the commit, fills codes for the partitions it rejects
// and issues the write of the others. If it wrote anything it returns a
// channel closed once the write is applied, and a function that then fills
// codes for the written partitions.
func (c *Coordinator) commit(req *kmsg.OffsetCommitRequest, codes [][]int16, fillAll func(int16)) (<-chan struct{}, func()) {
	g, code := c.acquire(req.Group, false)
	if code != 0 {
		fillAll(code)
		return nil, nil
	}
	if g == nil {
		switch {
		case req.Generation < 0:
			// A group that does not use group management: create it.
			if g, code = c.acquire(req.Group, true); code != 0 {
				fillAll(code)
				return nil, nil
			}
		case req.Version >= 9:
			fillAll(kerr.GroupIDNotFound.Code)
			return nil, nil
		default:
			fillAll(kerr.IllegalGeneration.Code)
			return nil, nil
		}
	}
	defer g.mu.Unlock()
	defer g.maybeDropUnused()

	code = g.validateOffsetCommit(req.MemberID, req.InstanceID, req.Generation)
	if code == 0 && g.isConsumer() {
		code = g.validateConsumerCommit(req.MemberID, req.Generation, req.Version, false)
	}
	if code != 0 {
		fillAll(code)
		return nil, nil
	}
	if m := g.members[req.MemberID]; m != nil && (g.state == stateStable || g.state == statePreparingRebalance) {
		// During PreparingRebalance commits are still taken: the member
		// learns of the rebalance from its heartbeat.
		g.scheduleHeartbeat(m)
	}

	type staged struct {
		i, j int // index in codes
		t    tp
		o    *offsetValue
	}
	var writes []staged
	now := c.nowMs()
	for i, t := range req.Topics {
		topic, ok := c.commitTopic(t.Topic, t.TopicID, req.Version >= 10)
		if !ok {
			for j := range t.Partitions {
				codes[i][j] = kerr.UnknownTopicID.Code
			}
			continue
		}
		for j, p := range t.Partitions {
			switch {
			case !c.partitionExists(topic, p.Partition):
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
			case p.Metadata != nil && len(*p.Metadata) > c.cfg.MaxMetadataSize:
				codes[i][j] = kerr.OffsetMetadataTooLarge.Code
			default:
				o := &offsetValue{offset: p.Offset, leaderEpoch: p.LeaderEpoch, commitMs: now, expireMs: -1}
				if p.Metadata != nil {
					o.metadata = *p.Metadata
				}
				if req.Version < 6 {
					o.leaderEpoch = -1
				}
				if req.Version == 1 && p.Timestamp != -1 {
					o.commitMs = p.Timestamp
				}
				if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis != -1 {
					o.expireMs = now + req.RetentionTimeMillis
				}
				codes[i][j] = pendingCode
				writes = append(writes, staged{i, j, tp{topic, p.Partition}, o})
			}
		}
	}
	if len(writes) == 0 {
		return nil, nil
	}

	recs := make([]KV, len(writes))
	for k, w := range writes {
		recs[k] = offsetRecord(g.id, w.t, w.o)
		g.pendingCommits[w.t]++
	}
	// The callback only writes results; codes belongs to the caller,
	// which copies results into it once done is closed.
	results := make([]int16, len(writes))
	done := make(chan struct{})
	g.write(recs, func(err error) {
		code := int16(0)
		switch {
		case g.unloaded:
			code = kerr.NotCoordinator.Code
		case err != nil:
			code = storeErrCode(err, true)
			g.c.log.Warn("failed to write offset commit", "group", g.id, "err", err)
		}
		pos := g.c.pos.Add(1)
		for k, w := range writes {
			if g.pendingCommits[w.t]--; g.pendingCommits[w.t] <= 0 {
				delete(g.pendingCommits, w.t)
			}
			if code == 0 {
				// The latest write of the group: later in the log
				// than any offset the group has.
				w.o.pos = pos
				g.offsets[w.t] = w.o
			}
			results[k] = code
		}
		close(done)
	})
	return done, func() {
		for k, w := range writes {
			codes[w.i][w.j] = results[k]
		}
	}
}

// validateOffsetCommit is Kafka's ClassicGroup.validateOffsetCommit.
func (g *group) validateOffsetCommit(memberID string, instanceID *string, generation int32) int16 {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if g.isConsumer() {
		return 0 // see validateConsumerCommit
	}
	if generation < 0 && g.state == stateEmpty {
		// The admin client or a consumer without group management.
		return 0
	}
	if generation >= 0 || memberID != "" || instanceID != nil {
		if code := g.validateMember(memberID, instanceID); code != 0 {
			return code
		}
		if generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
	} else if g.state != stateEmpty {
		// Only members may commit to a group that has members.
		return kerr.UnknownMemberID.Code
	}
	if g.state == stateCompletingRebalance {
		// The member has the new generation but not its assignment yet.
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// hasPendingOffsets reports whether a commit of the partition is being
// written or part of an open transaction (RequireStable answers
// UNSTABLE_OFFSET_COMMIT then; expiration skips it).
func (g *group) hasPendingOffsets(t tp) bool {
	if g.pendingCommits[t] > 0 {
		return true
	}
	for _, os := range g.pendingTxn {
		if _, ok := os[t]; ok {
			return true
		}
	}
	return false
}

// handleOffsetFetch is Kafka's handleFetchOffsets, for one group (v0-v7) or
// many (v8+). Offsets are returned whatever the group's state: the group may
// not use group management at all.
func (c *Coordinator) handleOffsetFetch(req *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version <= 7 {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = req.Group
		if req.Topics != nil {
			rg.Topics = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(req.Topics))
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetFetchRequestGroupTopic()
				rt.Topic = t.Topic
				rt.Partitions = t.Partitions
				rg.Topics = append(rg.Topics, rt)
			}
		}
		sg := c.fetchGroup(req.Version, req.RequireStable, rg)
		resp.ErrorCode = sg.ErrorCode
		for _, t := range sg.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition = p.Partition
				rp.Offset = p.Offset
				rp.LeaderEpoch = p.LeaderEpoch
				rp.Metadata = p.Metadata
				rp.ErrorCode = p.ErrorCode
				if req.Version < 2 && sg.ErrorCode != 0 {
					rp.ErrorCode = sg.ErrorCode // no top-level error before v2
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, rg := range req.Groups {
		resp.Groups = append(resp.Groups, c.fetchGroup(req.Version, req.RequireStable, rg))
	}
	return resp
}

func (c *Coordinator) fetchGroup(version int16, requireStable bool, rg kmsg.OffsetFetchRequestGroup) kmsg.OffsetFetchResponseGroup {
	sg := kmsg.NewOffsetFetchResponseGroup()
	sg.Group = rg.Group
	byID := version >= 10

	// Resolve the requested partitions; nil means all of the group's.
	type req struct {
		topic string
		id    [16]byte
		parts []int32
		known bool
	}
	var reqs []req
	if rg.Topics != nil {
		reqs = make([]req, 0, len(rg.Topics))
		for _, t := range rg.Topics {
			r := req{topic: t.Topic, id: t.TopicID, parts: t.Partitions, known: true}
			if byID {
				r.known = false
				if c.cfg.Topics != nil {
					r.topic, r.known = c.cfg.Topics.TopicName(t.TopicID)
				}
			}
			reqs = append(reqs, r)
		}
	}

	g, code := c.acquire(rg.Group, false)
	if code != 0 {
		sg.ErrorCode = code
		if version < 2 {
			// No group error field: answer it on every partition.
			for _, r := range reqs {
				st := fetchTopic(r.topic, r.id)
				for _, p := range r.parts {
					sp := unknownOffset(p)
					sp.ErrorCode = code
					st.Partitions = append(st.Partitions, sp)
				}
				sg.Topics = append(sg.Topics, st)
			}
		}
		return sg
	}
	var offsets map[tp]*offsetValue
	var unstable map[tp]bool
	if g != nil && g.isConsumer() && version >= 9 {
		if code := g.validateConsumerFetch(derefOr(rg.MemberID), rg.MemberEpoch); code != 0 {
			g.mu.Unlock()
			sg.ErrorCode = code
			return sg
		}
	}
	if g != nil {
		if g.state != stateDead {
			offsets = make(map[tp]*offsetValue, len(g.offsets))
			for t, o := range g.offsets {
				offsets[t] = o
			}
			if requireStable {
				unstable = make(map[tp]bool)
				for t := range g.pendingCommits {
					unstable[t] = true
				}
				for _, os := range g.pendingTxn {
					for t := range os {
						unstable[t] = true
					}
				}
			}
		}
		g.mu.Unlock()
	}

	if rg.Topics == nil {
		byTopic := make(map[string][]int32)
		for t := range offsets {
			byTopic[t.topic] = append(byTopic[t.topic], t.partition)
		}
		topics := make([]string, 0, len(byTopic))
		for t := range byTopic {
			topics = append(topics, t)
		}
		slices.Sort(topics)
		for _, t := range topics {
			r := req{topic: t, parts: byTopic[t], known: true}
			slices.Sort(r.parts)
			if byID {
				r.known = false
				if c.cfg.Topics != nil {
					r.id, r.known = c.cfg.Topics.TopicID(t)
				}
				if !r.known {
					continue // a deleted topic has no ID to answer with
				}
			}
			reqs = append(reqs, r)
		}
	}

	for _, r := range reqs {
		st := fetchTopic(r.topic, r.id)
		for _, p := range r.parts {
			sp := unknownOffset(p)
			t := tp{r.topic, p}
			switch {
			case !r.known:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case unstable[t]:
				sp.ErrorCode = kerr.UnstableOffsetCommit.Code
			default:
				if o := offsets[t]; o != nil {
					sp.Offset = o.offset
					sp.LeaderEpoch = o.leaderEpoch
					sp.Metadata = kmsg.StringPtr(o.metadata)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		sg.Topics = append(sg.Topics, st)
	}
	return sg
}

func fetchTopic(topic string, id [16]byte) kmsg.OffsetFetchResponseGroupTopic {
	st := kmsg.NewOffsetFetchResponseGroupTopic()
	st.Topic = topic
	st.TopicID = id
	return st
}

func unknownOffset(p int32) kmsg.OffsetFetchResponseGroupTopicPartition {
	sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
	sp.Partition = p
	sp.Offset = -1
	sp.LeaderEpoch = -1
	sp.Metadata = kmsg.StringPtr("")
	return sp
}

// handleOffsetDelete is Kafka's handleDeleteOffsets: an Empty group loses
// any offsets, a consumer group with members only those of topics none of
// its members subscribes to (GROUP_SUBSCRIBED_TO_TOPIC for the others), any
// other group none (NON_EMPTY_GROUP).
func (c *Coordinator) handleOffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	codes := make([][]int16, len(req.Topics))
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
	}
	top, done := c.deleteOffsets(req, codes)
	if done != nil {
		select {
		case top = <-done:
		case <-ctx.Done():
			top = kerr.RequestTimedOut.Code
		}
	}
	resp.ErrorCode = top
	if top != 0 {
		return resp
	}
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for j, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (c *Coordinator) deleteOffsets(req *kmsg.OffsetDeleteRequest, codes [][]int16) (int16, <-chan int16) {
	g, code := c.acquire(req.Group, false)
	switch {
	case code != 0:
		return code, nil
	case g == nil:
		return kerr.GroupIDNotFound.Code, nil
	}
	defer g.mu.Unlock()

	switch g.state {
	case stateDead:
		return kerr.GroupIDNotFound.Code, nil
	case stateEmpty:
	default:
		if g.protocolType != consumerProtocolType {
			return kerr.NonEmptyGroup.Code, nil
		}
	}
	var eligible []tp
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if g.state != stateEmpty && g.isSubscribedTo(t.Topic) {
				codes[i][j] = kerr.GroupSubscribedToTopic.Code
				continue
			}
			eligible = append(eligible, tp{t.Topic, p.Partition})
		}
	}
	removed := make(map[tp]*offsetValue)
	for _, t := range eligible {
		if o := g.offsets[t]; o != nil {
			removed[t] = o
		}
	}
	return 0, g.removeOffsets(removed)
}

// removeOffsets writes tombstones for the offsets and removes them once
// written; if that leaves an Empty group without offsets, the group dies
// with them (and its metadata tombstone is written in the same batch). The
// returned channel gets the error code, or is nil if nothing is written.
// The group must be locked.
func (g *group) removeOffsets(removed map[tp]*offsetValue) <-chan int16 {
	dies := g.state == stateEmpty && !g.hasMembers() && !g.cg.broken &&
		len(g.pendingCommits) == 0 && len(g.pendingTxn) == 0 && len(removed) == len(g.offsets)
	if len(removed) == 0 && !dies {
		return nil
	}
	ts := make([]tp, 0, len(removed))
	for t := range removed {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b tp) int {
		if a.topic != b.topic {
			if a.topic < b.topic {
				return -1
			}
			return 1
		}
		return int(a.partition) - int(b.partition)
	})
	var recs []KV
	for _, t := range ts {
		recs = append(recs, offsetTombstone(g.id, t))
	}
	// Pending transactional offsets of the removed partitions go with
	// them, as in Kafka's removeOffsets: those written before the
	// tombstones, which is what a replay of the log drops too.
	dropTxn := g.pendingTxnOf(removed)
	prevStateMs := g.stateMs
	if dies {
		cgRecs, err := g.consumerTombstones()
		if err != nil {
			return nil // members joined: not dead after all
		}
		recs = append(recs, cgRecs...)
		g.transition(stateDead)
		// Kafka writes no group tombstone for generation 0: such a group
		// only ever stored offsets.
		if g.generation > 0 {
			recs = append(recs, groupTombstone(g.id))
		}
	}
	if len(recs) == 0 {
		g.removeFromCoordinator()
		return nil
	}
	done := make(chan int16, 1)
	g.write(recs, func(err error) {
		switch {
		case g.unloaded:
			done <- kerr.NotCoordinator.Code
			return
		case err != nil:
			g.c.log.Warn("failed to write offset tombstones", "group", g.id, "err", err)
			if dies && g.state == stateDead && !g.removed {
				g.state, g.stateMs = stateEmpty, prevStateMs
			}
			done <- storeErrCode(err, true)
			return
		}
		for t, o := range removed {
			if g.offsets[t] == o {
				delete(g.offsets, t)
			}
		}
		g.dropPendingTxn(dropTxn)
		if dies {
			g.c.log.Info("group is dead: no members and no offsets left", "group", g.id)
			g.removeFromCoordinator()
		}
		done <- 0
	})
	return done
}

// pendingTxnRef is one pending transactional offset of a producer.
type pendingTxnRef struct {
	producerID int64
	t          tp
	o          *offsetValue
}

// pendingTxnOf returns the pending transactional offsets of the partitions.
func (g *group) pendingTxnOf(ts map[tp]*offsetValue) []pendingTxnRef {
	var refs []pendingTxnRef
	for pid, os := range g.pendingTxn {
		for t, o := range os {
			if _, ok := ts[t]; ok {
				refs = append(refs, pendingTxnRef{pid, t, o})
			}
		}
	}
	return refs
}

// dropPendingTxn drops the pending transactional offsets that are still
// pending.
func (g *group) dropPendingTxn(refs []pendingTxnRef) {
	for _, r := range refs {
		os := g.pendingTxn[r.producerID]
		if os[r.t] != r.o {
			continue
		}
		delete(os, r.t)
		if len(os) == 0 {
			delete(g.pendingTxn, r.producerID)
		}
	}
}

// expireOffsets is Kafka's cleanupGroupMetadata run by the retention check:
// it removes expired offsets and groups that are Empty without offsets.
func (c *Coordinator) expireOffsets() {
	gs, _ := c.snapshot()
	now := c.nowMs()
	for _, g := range gs {
		g.mu.Lock()
		if !g.removed && g.state != stateDead {
			g.expire(now)
		}
		g.mu.Unlock()
	}
}

func (g *group) expire(now int64) {
	retention := g.c.cfg.OffsetsRetention.Milliseconds()
	var base func(o *offsetValue) int64
	skipSubscribed := false
	switch {
	case g.isConsumer():
		// Kafka's ConsumerGroup: from each commit, and while the group
		// has members only for topics it does not subscribe to.
		base = func(o *offsetValue) int64 { return o.commitMs }
		skipSubscribed = g.cg.g.Len() > 0
	case g.protocolType == "":
		// A group that only stores offsets: retention counts from each
		// commit.
		base = func(o *offsetValue) int64 { return o.commitMs }
	case g.state == stateEmpty:
		// KIP-211: from when the group became Empty (from the commit
		// for groups loaded from records without that timestamp).
		base = func(o *offsetValue) int64 {
			if g.stateMs >= 0 {
				return g.stateMs
			}
			return o.commitMs
		}
	case g.protocolType == consumerProtocolType && g.subscribedKnown && g.state == stateStable:
		// KIP-496: offsets of topics the group no longer subscribes to.
		base = func(o *offsetValue) int64 { return o.commitMs }
		skipSubscribed = true
	}
	removed := make(map[tp]*offsetValue)
	if base != nil {
		for t, o := range g.offsets {
			if (skipSubscribed && g.isSubscribedTo(t.topic)) || g.hasPendingOffsets(t) {
				continue
			}
			if o.expireMs >= 0 {
				if now >= o.expireMs {
					removed[t] = o
				}
			} else if now-base(o) >= retention {
				removed[t] = o
			}
		}
	}
	if len(removed) > 0 {
		g.c.log.Info("expiring offsets", "group", g.id, "offsets", len(removed))
	}
	g.removeOffsets(removed)
}
