package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sharecoord"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sharegroup"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file serves ShareFetch and ShareAcknowledge (KIP-932) on the
// leaders of the fetched partitions: the share sessions of the members
// that fetch from this node, and the share partitions (a share group's
// delivery state of one partition, sharegroup.Partition) of the
// partitions this node leads.
//
// A share partition is built at the first fetch for it from the state the
// share coordinator keeps (ReadShareGroupState), or, without state, from
// share.auto.offset.reset, and is dropped when this node stops leading
// the partition (or leads it at a new epoch: the next fetch reads the
// state again). Its state is written back (WriteShareGroupState) before
// the response that changed it is sent: after acknowledgements that
// changed something and after acquisitions (one write for both when a
// ShareFetch acknowledges and acquires records of the same partition),
// so that delivery counts survive a crash. The share partition stays
// locked while its state is written: a write that fails with
// acknowledgements in it rolls back everything the call changed
// (acknowledgements and acquisitions, as Kafka's
// rollbackOrProcessStateUpdates does) and the acknowledgements are
// answered with the write's error (shareWriteErrorCode); the records stay
// acquired by the member, which may acknowledge them again. A write of
// acquisitions alone that fails still delivers the records (Kafka does
// not write acquisitions at all). The share coordinator may be on
// another node: the calls go over the inter-broker listener as Kafka's
// persister sends them, or in process when this node is the coordinator.
//
// Acquired records are released when their lock expires, when the member
// closes its share session (epoch -1) or the connection that opened it
// closes, and, on the node of the group coordinator, when the coordinator
// removes the member. Deviations from Kafka 4.2: a member removed by the
// group coordinator keeps its records on the other nodes until its
// connections close or its locks expire. A ShareFetch waits for records (MaxWaitMs) as a whole:
// MinBytes is taken as "some records acquired". The RENEW acknowledgement
// is not served (INVALID_REQUEST); KIP-1206's acquire modes are: 0
// (batch_optimized) acquires whole log batches, MaxRecords a soft limit,
// and 1 (record_limit) at most MaxRecords records, splitting a batch. Share isolation is read_uncommitted.

// shareNode is what the node keeps for share groups: the share
// coordinator of the __share_group_state partitions it leads (see
// handle_sharecoord.go) and the leader side.
type shareNode struct {
	coord *sharecoord.Coordinator
	// coordinating maps the __share_group_state partitions loaded into
	// coord to their leader epoch; under n.mu.
	coordinating map[int32]int32

	n        *Node
	cfg      sharegroup.PartitionConfig
	mu       sync.Mutex
	parts    map[sharePartKey]*sharePart
	sessions map[shareSessionKey]*shareSession
	closed   bool
}

func (n *Node) newShareNode() *shareNode {
	b := n.cfg.Broker
	return &shareNode{
		coord:        n.newShareCoordinator(),
		coordinating: map[int32]int32{},
		n:            n,
		cfg: sharegroup.PartitionConfig{
			DeliveryCountLimit: int(b.Int("group.share.delivery.count.limit")),
			RecordLockDuration: b.Millis("group.share.record.lock.duration.ms"),
			MaxInFlightRecords: int(b.Int("group.share.partition.max.record.locks")),
		},
		parts:    map[sharePartKey]*sharePart{},
		sessions: map[shareSessionKey]*shareSession{},
	}
}

// close stops the share coordinator and the lock timers.
func (s *shareNode) close() {
	s.coord.Close()
	s.mu.Lock()
	s.closed = true
	parts := s.parts
	s.parts = map[sharePartKey]*sharePart{}
	s.mu.Unlock()
	for _, sp := range parts {
		sp.mu.Lock()
		sp.drop()
		sp.mu.Unlock()
	}
}

type sharePartKey struct {
	group     string
	topic     [16]byte
	partition int32
}

type shareSessionKey struct{ group, member string }

// shareSession is a member's share session with this node: the next epoch
// it must send and the partitions it fetches.
type shareSession struct {
	epoch int32
	parts map[tidPart]int32 // the partition's max bytes
	// stop unregisters the end of the session with its connection.
	stop func() bool
}

type tidPart struct {
	topic     [16]byte
	partition int32
}

// sharePart is one share partition led here.
type sharePart struct {
	key   sharePartKey
	p     *partition
	epoch int32 // the partition's leader epoch it was loaded at

	mu      sync.Mutex
	sp      *sharegroup.Partition // nil until loaded
	timer   *time.Timer
	timerAt time.Time
	dropped bool
	// wake is closed (and replaced) when records become available
	// again: a lock expired, a member released its records.
	wake chan struct{}
}

// drop stops the share partition's timer; sp.mu is held.
func (sp *sharePart) drop() {
	sp.dropped = true
	if sp.timer != nil {
		sp.timer.Stop()
		sp.timer = nil
	}
	sp.signal()
}

// signal wakes the fetches waiting on the share partition; sp.mu is held.
func (sp *sharePart) signal() {
	close(sp.wake)
	sp.wake = make(chan struct{})
}

// schedule arms the lock expiry timer for the earliest lock; sp.mu is held.
func (sp *sharePart) schedule() {
	if sp.dropped || sp.sp == nil {
		return
	}
	next, ok := sp.sp.NextDeadline()
	if !ok || sp.timer != nil && !sp.timerAt.After(next) {
		return
	}
	if sp.timer != nil {
		sp.timer.Stop()
	}
	sp.timerAt = next
	sp.timer = time.AfterFunc(time.Until(next), func() {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		sp.timer = nil
		if sp.dropped || sp.sp == nil {
			return
		}
		if sp.sp.ExpireLocks(time.Now()) {
			sp.signal()
		}
		sp.schedule()
	})
}

// sharePartFor returns the share partition of the group on p, created if
// needed; one loaded at another leader epoch is replaced.
func (s *shareNode) sharePartFor(key sharePartKey, p *partition) *sharePart {
	epoch := p.leaderEpoch.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.parts[key]
	if sp != nil && (sp.p != p || sp.epoch != epoch) {
		old := sp
		go func() {
			old.mu.Lock()
			old.drop()
			old.mu.Unlock()
		}()
		sp = nil
	}
	if sp == nil {
		sp = &sharePart{key: key, p: p, epoch: epoch, wake: make(chan struct{})}
		s.parts[key] = sp
	}
	return sp
}

// forget drops a share partition that failed to load or whose partition
// is no longer led here, if it is still the current one.
func (s *shareNode) forget(sp *sharePart) {
	s.mu.Lock()
	if s.parts[sp.key] == sp {
		delete(s.parts, sp.key)
	}
	s.mu.Unlock()
}

// dropIdle drops a share partition in which no record is acquired, so
// that the next fetch reads its state again: a member opening a share
// session sees offsets AlterShareGroupOffsets or DeleteShareGroupOffsets
// changed while the group was empty.
func (s *shareNode) dropIdle(key sharePartKey) {
	s.mu.Lock()
	sp := s.parts[key]
	s.mu.Unlock()
	if sp == nil {
		return
	}
	sp.mu.Lock()
	idle := sp.sp == nil
	if !idle {
		_, held := sp.sp.NextDeadline()
		idle = !held
	}
	if idle {
		sp.drop()
	}
	sp.mu.Unlock()
	if idle {
		s.forget(sp)
	}
}

// membersGone releases the records the members hold in the share
// partitions of this node and drops their share sessions: the group
// coordinator removed them.
func (s *shareNode) membersGone(group string, members []string) {
	s.mu.Lock()
	var parts []*sharePart
	for k, sp := range s.parts {
		if k.group == group {
			parts = append(parts, sp)
		}
	}
	for _, m := range members {
		key := shareSessionKey{group, m}
		if ss := s.sessions[key]; ss != nil && ss.stop != nil {
			ss.stop()
		}
		delete(s.sessions, key)
	}
	s.mu.Unlock()
	for _, sp := range parts {
		sp.mu.Lock()
		if sp.sp != nil {
			released := false
			for _, m := range members {
				released = sp.sp.ReleaseMember(m) || released
			}
			if released {
				sp.signal()
			}
		}
		sp.mu.Unlock()
	}
}

// load builds the share partition from the share coordinator's state;
// sp.mu is held.
func (s *shareNode) load(ctx context.Context, sp *sharePart) error {
	if sp.sp != nil {
		return nil
	}
	st, err := s.readState(ctx, sp.key, sp.epoch)
	if err != nil {
		return err
	}
	img := s.n.ctrl.Image()
	initial := st.StartOffset < 0
	if initial {
		reset, err := sharegroup.ParseAutoOffsetReset(s.n.groupConfig(img, sp.key.group, "share.auto.offset.reset"))
		if err != nil {
			return fmt.Errorf("group %s: %w", sp.key.group, err)
		}
		start, code := s.n.offsetForTimestamp(sp.p, reset.ListOffsetsTimestamp(time.Now()))
		if code != 0 {
			return kerr.ErrorForCode(code)
		}
		st = sharegroup.PartitionState{StartOffset: start}
	}
	cfg := s.cfg
	if d := s.n.groupConfigMillis(img, sp.key.group, "share.record.lock.duration.ms"); d > 0 {
		cfg.RecordLockDuration = d
	}
	if v, err := strconv.Atoi(s.n.groupConfig(img, sp.key.group, "share.delivery.count.limit")); err == nil && v > 0 {
		cfg.DeliveryCountLimit = v
	}
	if v, err := strconv.Atoi(s.n.groupConfig(img, sp.key.group, "share.partition.max.record.locks")); err == nil && v > 0 {
		cfg.MaxInFlightRecords = v
	}
	part, err := sharegroup.NewPartition(cfg, st)
	if err != nil {
		return fmt.Errorf("share partition %s/%d: %w", sp.p.topic, sp.p.id, err)
	}
	part.AdvanceLogStart(sp.p.log.StartOffset())
	sp.sp = part
	if initial {
		// The start offset share.auto.offset.reset gave is written at
		// once, so that a new leader starts where this one did.
		if err := s.persist(ctx, sp); err != nil {
			sp.sp = nil
			return err
		}
	}
	return nil
}

// offsetForTimestamp looks up a ListOffsets timestamp in p's log, as
// ListOffsets answers it.
func (n *Node) offsetForTimestamp(p *partition, ts int64) (int64, int16) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 4
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = p.topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p.id, ts, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := n.handleListOffsets(req).(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return -1, kerr.UnknownServerError.Code
	}
	got := resp.Topics[0].Partitions[0]
	if got.ErrorCode != 0 {
		return -1, got.ErrorCode
	}
	if got.Offset < 0 { // a timestamp past every record
		_, hwm := p.lastStable()
		return hwm, 0
	}
	return got.Offset, 0
}

// persist writes the share partition's state; sp.mu is held.
func (s *shareNode) persist(ctx context.Context, sp *sharePart) error {
	return s.writeState(ctx, sp.key, sp.epoch, sp.sp.State())
}

// fenced reports whether a state write failed because the state was reset
// (AlterShareGroupOffsets) or another leader took over: the share
// partition is stale and is dropped, the next fetch reads the state
// again.
func fenced(err error) bool {
	return errors.Is(err, kerr.FencedStateEpoch) || errors.Is(err, kerr.FencedLeaderEpoch)
}

// shareWriteErrorCode is the error code that answers acknowledgements
// whose state write failed, as Kafka's SharePartition.fetchPersisterError
// maps the persister's errors: the coordinator moving, loading or out of
// reach is COORDINATOR_NOT_AVAILABLE (retriable: the member sends the
// acknowledgements again), a fenced state epoch FENCED_STATE_EPOCH, a
// fenced leader epoch NOT_LEADER_OR_FOLLOWER, an unknown group or
// partition INVALID_REQUEST, another error of the coordinator
// UNKNOWN_SERVER_ERROR.
func shareWriteErrorCode(err error) int16 {
	switch {
	case errors.Is(err, kerr.FencedStateEpoch):
		return kerr.FencedStateEpoch.Code
	case errors.Is(err, kerr.FencedLeaderEpoch):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, kerr.GroupIDNotFound), errors.Is(err, kerr.UnknownTopicOrPartition):
		return kerr.InvalidRequest.Code
	case errors.Is(err, kerr.NotCoordinator), errors.Is(err, kerr.CoordinatorNotAvailable), errors.Is(err, kerr.CoordinatorLoadInProgress):
		return kerr.CoordinatorNotAvailable.Code
	}
	if _, ok := errors.AsType[*kerr.Error](err); ok {
		return kerr.UnknownServerError.Code
	}
	// The coordinator did not answer (its node is unreachable and
	// callCoordinator gave up).
	return kerr.CoordinatorNotAvailable.Code
}

// handleShareFetch is Kafka's handleShareFetchRequest.
func (n *Node) handleShareFetch(ctx context.Context, req *kmsg.ShareFetchRequest) kmsg.Response {
	s := n.share
	resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
	fail := func(code int16, msg string) kmsg.Response {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	group, member := derefStr(req.GroupID), derefStr(req.MemberID)
	if group == "" || member == "" {
		return fail(kerr.InvalidRequest.Code, "ShareFetch without a group ID or member ID.")
	}
	resp.AcquisitionLockTimeoutMillis = n.shareLockMillis(group)
	if req.IsRenewAck {
		return fail(kerr.InvalidRequest.Code, "RENEW acknowledgements are not supported.")
	}
	epoch := req.ShareSessionEpoch
	closing := epoch == -1
	var hasAcks bool
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			hasAcks = hasAcks || len(p.AcknowledgementBatches) > 0
		}
	}
	if epoch == 0 && hasAcks {
		return fail(kerr.InvalidRequest.Code, "Acknowledgements in the request that opens a share session.")
	}
	if epoch == 0 {
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				s.dropIdle(sharePartKey{group, t.TopicID, p.Partition})
			}
		}
	}
	if code := s.advanceSession(ctx, group, member, epoch, req); code != 0 {
		return fail(code, "")
	}

	now := time.Now()
	// The answer has the partitions of the request (their
	// acknowledgements) and the partitions of the session that have
	// records or an error: a request of an open session names only the
	// partitions that changed or carry acknowledgements.
	type fetchPart struct {
		tp        tidPart
		out       *kmsg.ShareFetchResponseTopicPartition
		sp        *sharePart
		maxBytes  int32
		requested bool
		// acks are the acknowledgements of a fetched partition, applied
		// by its first acquisition.
		acks []sharegroup.AckBatch
	}
	outs := map[tidPart]*fetchPart{}
	var order []tidPart
	get := func(tp tidPart) *fetchPart {
		f := outs[tp]
		if f == nil {
			out := kmsg.NewShareFetchResponseTopicPartition()
			out.Partition = tp.partition
			out.Records = noRecords()
			f = &fetchPart{tp: tp, out: &out}
			outs[tp] = f
			order = append(order, tp)
			sp, code := n.sharePartition(ctx, group, tp.topic, tp.partition, &out.CurrentLeader.LeaderID, &out.CurrentLeader.LeaderEpoch)
			f.sp, f.out.ErrorCode = sp, code
		}
		return f
	}
	var sessParts map[tidPart]int32
	if !closing {
		sessParts = s.sessionParts(group, member)
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := tidPart{t.TopicID, p.Partition}
			f := get(tp)
			f.requested = true
			if len(p.AcknowledgementBatches) == 0 {
				continue
			}
			if f.sp == nil {
				f.out.AcknowledgeErrorCode = f.out.ErrorCode
				continue
			}
			acks := sharegroup.AckBatchesFromShareFetch(p.AcknowledgementBatches)
			if !closing && sessParts[tp] > 0 {
				// The partition is fetched too: the first
				// acquisition applies the acknowledgements and
				// writes both at once.
				f.acks = acks
				continue
			}
			f.out.AcknowledgeErrorCode, f.out.AcknowledgeErrorMessage = s.acknowledge(ctx, f.sp, member, now, acks)
		}
	}
	var fetching []*fetchPart
	if !closing {
		for tp, maxBytes := range sessParts {
			if f := get(tp); f.sp != nil && maxBytes > 0 {
				f.maxBytes = maxBytes
				fetching = append(fetching, f)
			}
		}
	} else {
		s.closeSession(group, member)
	}
	defer func() {
		byTopic := map[[16]byte]int{}
		for _, tp := range order {
			f := outs[tp]
			if !f.requested && f.out.ErrorCode == 0 && len(f.out.AcquiredRecords) == 0 {
				continue
			}
			i, ok := byTopic[tp.topic]
			if !ok {
				rt := kmsg.NewShareFetchResponseTopic()
				rt.TopicID = tp.topic
				resp.Topics = append(resp.Topics, rt)
				i = len(resp.Topics) - 1
				byTopic[tp.topic] = i
			}
			resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, *f.out)
		}
	}()
	if len(fetching) == 0 {
		return resp
	}

	maxRecords := int(req.MaxRecords)
	if maxRecords <= 0 {
		maxRecords = 500
	}
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = 1 << 30
	}
	deadline := now.Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	wake := make(chan struct{}, 1)
	for _, f := range fetching {
		defer f.sp.p.wait(wake)()
	}
	for {
		got, total := 0, 0
		var waitOn []<-chan struct{}
		for _, f := range fetching {
			full := got >= maxRecords || total >= maxBytes
			if full && f.acks == nil {
				continue
			}
			if f.sp.isDropped() && f.out.ErrorCode == 0 {
				// A session opened on the partition while it was idle
				// (dropIdle), or its leader epoch moved: the waiting
				// fetch goes on with the current share partition.
				sp, code := n.sharePartition(ctx, group, f.tp.topic, f.tp.partition, &f.out.CurrentLeader.LeaderID, &f.out.CurrentLeader.LeaderEpoch)
				if code != 0 {
					f.out.ErrorCode = code
				} else {
					if sp.p != f.sp.p {
						defer sp.p.wait(wake)()
					}
					f.sp = sp
				}
			}
			room, roomBytes := maxRecords-got, min(int(f.maxBytes), maxBytes-total)
			if full {
				room, roomBytes = 0, 0 // the acknowledgements alone
			}
			n, bytes, ch := s.acquire(ctx, f.sp, member, now, f.acks, room, req.ShareAcquireMode == 1, roomBytes, f.out)
			f.acks = nil
			got += n
			total += bytes
			if ch != nil {
				waitOn = append(waitOn, ch)
			}
		}
		if got > 0 || !time.Now().Before(deadline) || ctx.Err() != nil {
			return resp
		}
		timer := time.NewTimer(time.Until(deadline))
		stop := make(chan struct{})
		for _, ch := range waitOn {
			go func() {
				select {
				case <-ch:
					select {
					case wake <- struct{}{}:
					default:
					}
				case <-stop:
				}
			}()
		}
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
		}
		close(stop)
		timer.Stop()
	}
}

// isDropped reports whether the share partition was dropped.
func (sp *sharePart) isDropped() bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.dropped
}

// acquire applies the member's acknowledgements of one share partition,
// if any, then acquires records for the member into out: it reads the log
// from the next fetch offset up to the high watermark, at most maxBytes
// (at least a batch), acquires up to maxRecords (at most, if strict:
// ShareAcquireMode 1; none if maxRecords is 0), writes the state once for
// both and fills the acknowledgement error, the records and the acquired
// ranges. If the write fails with acknowledgements in it, both are rolled
// back (see the file's doc).
// It returns the number of records acquired, the bytes added, and, when
// nothing was acquired, a channel closed when records become available
// again.
func (s *shareNode) acquire(ctx context.Context, sp *sharePart, member string, now time.Time, acks []sharegroup.AckBatch, maxRecords int, strict bool, maxBytes int, out *kmsg.ShareFetchResponseTopicPartition) (int, int, <-chan struct{}) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.dropped || sp.sp == nil || out.ErrorCode != 0 {
		if acks != nil {
			out.AcknowledgeErrorCode = cmp.Or(out.ErrorCode, kerr.NotLeaderForPartition.Code)
		}
		return 0, 0, nil
	}
	if sp.p.checkLeader(-1) != 0 {
		out.ErrorCode = kerr.NotLeaderForPartition.Code
		if acks != nil {
			out.AcknowledgeErrorCode = out.ErrorCode
		}
		return 0, 0, nil
	}
	if sp.sp.AdvanceLogStart(sp.p.log.StartOffset()) {
		if err := s.persist(ctx, sp); err != nil {
			s.n.log.Warn("share state write after log start moved", "topic", sp.p.topic, "partition", sp.p.id, "err", err)
		}
	}
	sp.sp.ExpireLocks(time.Now())
	// before is what a failed write of acknowledgements rolls back to.
	var before *sharegroup.Partition
	changed := false
	if acks != nil {
		before = sp.sp.Clone()
		res := sp.sp.Acknowledge(now, member, acks)
		if res.ErrorCode != 0 {
			out.AcknowledgeErrorCode, out.AcknowledgeErrorMessage = res.ErrorCode, kmsg.StringPtr(res.ErrorMessage)
		}
		changed = res.Changed
	}
	var data []byte
	var acquired []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	var wait <-chan struct{}
	if maxRecords > 0 {
		data, acquired, wait = s.acquireLocked(sp, member, maxRecords, strict, maxBytes, out)
	}
	sp.schedule()
	if !changed && len(acquired) == 0 {
		return 0, 0, wait
	}
	// The acquisition is written with the acknowledgements of this
	// request, if any: Kafka writes only acknowledgements, releases and
	// lock expiries, but a partition re-read from its state (a new
	// leader, or a session opened on a partition nobody holds) must not
	// forget deliveries, or a record could be delivered past the limit.
	err := s.persist(ctx, sp)
	switch {
	case err != nil && changed:
		// Kafka's rollbackOrProcessStateUpdates: the records are as
		// they were, acquired by the member; the member hears the
		// error and may acknowledge them again.
		sp.sp = before
		sp.schedule()
		out.AcknowledgeErrorCode, out.AcknowledgeErrorMessage = shareWriteErrorCode(err), kmsg.StringPtr("Failed to write the share group state: "+err.Error())
		s.n.log.Warn("share state write failed: acknowledgements rolled back", "topic", sp.p.topic, "partition", sp.p.id, "member", member, "err", err)
		acquired = nil
	case changed:
		sp.signal() // released or archived records: others may acquire
	}
	if err != nil {
		if fenced(err) {
			sp.drop()
			s.forget(sp)
			return 0, 0, nil
		}
		if !changed {
			// The records stay acquired in memory: a crash before the
			// next write may deliver them once more than counted.
			s.n.log.Warn("share state write after acquisition", "topic", sp.p.topic, "partition", sp.p.id, "err", err)
		}
	}
	if len(acquired) == 0 {
		return 0, 0, sp.wake
	}
	n := 0
	for _, a := range acquired {
		n += int(a.LastOffset - a.FirstOffset + 1)
	}
	out.Records = data
	out.AcquiredRecords = append(out.AcquiredRecords, acquired...)
	return n, len(data), nil
}

// acquireLocked reads the log and acquires records for the member: the
// records read and the ranges acquired, or, when it acquired nothing, the
// channel to wait on (nil if the partition failed: out's error code is
// set). sp.mu is held.
func (s *shareNode) acquireLocked(sp *sharePart, member string, maxRecords int, strict bool, maxBytes int, out *kmsg.ShareFetchResponseTopicPartition) ([]byte, []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord, <-chan struct{}) {
	if !sp.sp.CanAcquire() {
		return nil, nil, sp.wake
	}
	_, hwm := sp.p.lastStable()
	from := sp.sp.NextFetchOffset()
	if from >= hwm {
		return nil, nil, sp.wake
	}
	data, err := sp.p.log.Read(from, max(maxBytes, 1), hwm)
	if err != nil {
		out.ErrorCode = errCode(err)
		return nil, nil, nil
	}
	var ranges []sharegroup.BatchRange
	for rest := data; len(rest) > 0; {
		b, r, err := batch.Next(rest)
		if err != nil {
			break
		}
		rest = r
		h, err := batch.ParseHeader(b)
		if err != nil || h.Control() {
			continue // control batches hold no records for the member: archived
		}
		ranges = append(ranges, sharegroup.BatchRange{FirstOffset: h.BaseOffset, LastOffset: h.LastOffset()})
	}
	acquire := sp.sp.Acquire
	if strict {
		acquire = sp.sp.AcquireAtMost
	}
	acquired := acquire(time.Now(), member, ranges, maxRecords)
	if len(acquired) == 0 {
		return nil, nil, sp.wake
	}
	return data, acquired, nil
}

// acknowledge applies a member's acknowledgements to a share partition and
// writes the state if it changed, before the response; a failed write
// rolls them back and answers its error.
func (s *shareNode) acknowledge(ctx context.Context, sp *sharePart, member string, now time.Time, batches []sharegroup.AckBatch) (int16, *string) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.dropped || sp.sp == nil {
		return kerr.NotLeaderForPartition.Code, nil
	}
	before := sp.sp.Clone()
	res := sp.sp.Acknowledge(now, member, batches)
	if res.Changed {
		if err := s.persist(ctx, sp); err != nil {
			sp.sp = before
			sp.schedule()
			s.n.log.Warn("share state write failed: acknowledgements rolled back", "topic", sp.p.topic, "partition", sp.p.id, "member", member, "err", err)
			if fenced(err) {
				sp.drop()
				s.forget(sp)
			}
			return shareWriteErrorCode(err), kmsg.StringPtr("Failed to write the share group state: " + err.Error())
		}
		sp.signal()
	}
	sp.schedule()
	if res.ErrorCode != 0 {
		return res.ErrorCode, kmsg.StringPtr(res.ErrorMessage)
	}
	return 0, nil
}

// sharePartition resolves a fetched partition to its share partition,
// loaded; on NOT_LEADER it fills the current leader.
func (n *Node) sharePartition(ctx context.Context, group string, topicID [16]byte, partition int32, leaderID, leaderEpoch *int32) (*sharePart, int16) {
	topic, ok := n.topicName(topicID)
	if !ok {
		return nil, kerr.UnknownTopicID.Code
	}
	p := n.partition(topic, partition)
	if p == nil {
		return nil, n.missingPartitionCode(topic, partition)
	}
	if code := p.checkLeader(-1); code != 0 {
		if _, st, ok := n.ctrl.Image().Partition(topic, partition); ok {
			*leaderID, *leaderEpoch = st.Leader, st.LeaderEpoch
		}
		return nil, code
	}
	s := n.share
	sp := s.sharePartFor(sharePartKey{group, topicID, partition}, p)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if err := s.load(ctx, sp); err != nil {
		n.log.Warn("loading share partition", "group", group, "topic", topic, "partition", partition, "err", err)
		s.forget(sp)
		if ke, ok := errors.AsType[*kerr.Error](err); ok && ke.Code != kerr.FencedLeaderEpoch.Code {
			return nil, kerr.LeaderNotAvailable.Code
		}
		return nil, kerr.NotLeaderForPartition.Code
	}
	return sp, 0
}

// advanceSession checks and moves the member's share session for a
// request at epoch (KIP-932): 0 opens a new session, -1 is the last
// request of the session, another epoch must be the session's next.
// The partitions of req (a ShareFetch) join the session, its forgotten
// ones leave it.
func (s *shareNode) advanceSession(ctx context.Context, group, member string, epoch int32, req *kmsg.ShareFetchRequest) int16 {
	key := shareSessionKey{group, member}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[key]
	switch {
	case epoch == 0:
		if ss != nil && ss.stop != nil {
			ss.stop()
		}
		ss = &shareSession{epoch: 0, parts: map[tidPart]int32{}}
		s.sessions[key] = ss
		// The session ends with the connection that opened it (ctx
		// ends when it closes), releasing the member's records, as
		// Kafka's share session cache does on a disconnect.
		opened := ss
		ss.stop = context.AfterFunc(ctx, func() { s.endSession(key, opened) })
	case ss == nil:
		return kerr.ShareSessionNotFound.Code
	case epoch == -1:
	case epoch != ss.epoch:
		return kerr.InvalidShareSessionEpoch.Code
	}
	if epoch >= 0 {
		ss.epoch = epoch + 1
		if ss.epoch < 0 {
			ss.epoch = 1 // as Kafka wraps
		}
	}
	if req != nil {
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				tp := tidPart{t.TopicID, p.Partition}
				mb := p.PartitionMaxBytes
				if req.Version >= 1 {
					// v1+ has no partition max bytes: every partition
					// of the session is fetched, within MaxBytes.
					mb = math.MaxInt32
				}
				if _, ok := ss.parts[tp]; !ok || mb > 0 {
					ss.parts[tp] = mb
				}
			}
		}
		for _, t := range req.ForgottenTopicsData {
			for _, p := range t.Partitions {
				delete(ss.parts, tidPart{t.TopicID, p})
			}
		}
	}
	return 0
}

// sessionParts returns the partitions of the member's share session and
// their max bytes (0: acknowledgements only).
func (s *shareNode) sessionParts(group, member string) map[tidPart]int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[shareSessionKey{group, member}]
	if ss == nil {
		return nil
	}
	return maps.Clone(ss.parts)
}

// closeSession ends the member's share session and releases the records
// it holds in the session's partitions.
func (s *shareNode) closeSession(group, member string) {
	s.endSession(shareSessionKey{group, member}, nil)
}

// endSession ends a member's share session, if it is ss (any, for nil),
// and releases the records the member holds in the session's partitions.
func (s *shareNode) endSession(key shareSessionKey, ss *shareSession) {
	s.mu.Lock()
	cur := s.sessions[key]
	if cur == nil || ss != nil && cur != ss {
		s.mu.Unlock()
		return
	}
	delete(s.sessions, key)
	if cur.stop != nil {
		cur.stop()
	}
	var parts []*sharePart
	for tp := range cur.parts {
		if sp := s.parts[sharePartKey{key.group, tp.topic, tp.partition}]; sp != nil {
			parts = append(parts, sp)
		}
	}
	s.mu.Unlock()
	for _, sp := range parts {
		sp.mu.Lock()
		if sp.sp != nil && sp.sp.ReleaseMember(key.member) {
			sp.signal()
		}
		sp.mu.Unlock()
	}
}

// handleShareAcknowledge is Kafka's handleShareAcknowledgeRequest.
func (n *Node) handleShareAcknowledge(ctx context.Context, req *kmsg.ShareAcknowledgeRequest) kmsg.Response {
	s := n.share
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	fail := func(code int16, msg string) kmsg.Response {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	group, member := derefStr(req.GroupID), derefStr(req.MemberID)
	resp.AcquisitionLockTimeoutMillis = n.shareLockMillis(group)
	switch {
	case group == "" || member == "":
		return fail(kerr.InvalidRequest.Code, "ShareAcknowledge without a group ID or member ID.")
	case req.IsRenewAck:
		return fail(kerr.InvalidRequest.Code, "RENEW acknowledgements are not supported.")
	case req.ShareSessionEpoch == 0:
		return fail(kerr.InvalidShareSessionEpoch.Code, "ShareAcknowledge cannot open a share session.")
	}
	if code := s.advanceSession(ctx, group, member, req.ShareSessionEpoch, nil); code != 0 {
		return fail(code, "")
	}
	now := time.Now()
	for _, t := range req.Topics {
		rt := kmsg.NewShareAcknowledgeResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewShareAcknowledgeResponseTopicPartition()
			rp.Partition = p.Partition
			sp, code := n.sharePartition(ctx, group, t.TopicID, p.Partition, &rp.CurrentLeader.LeaderID, &rp.CurrentLeader.LeaderEpoch)
			if code == 0 {
				rp.ErrorCode, rp.ErrorMessage = s.acknowledge(ctx, sp, member, now, sharegroup.AckBatchesFromShareAcknowledge(p.AcknowledgementBatches))
			} else {
				rp.ErrorCode = code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if req.ShareSessionEpoch == -1 {
		s.closeSession(group, member)
	}
	return resp
}

func derefStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// shareLockMillis is the record lock duration of the group, as the
// responses tell the member.
func (n *Node) shareLockMillis(group string) int32 {
	d := n.groupConfigMillis(n.ctrl.Image(), group, "share.record.lock.duration.ms")
	if d <= 0 {
		d = n.share.cfg.RecordLockDuration
	}
	if d <= 0 {
		d = sharegroup.DefaultRecordLockDuration
	}
	return int32(d / time.Millisecond)
}
