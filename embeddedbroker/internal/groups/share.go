package groups

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sharegroup"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file serves the share groups of KIP-932 (ShareGroupHeartbeat,
// ShareGroupDescribe) with the state machine of package sharegroup: a
// group whose sg is set is a share group. Share groups share the group ID
// namespace and the partitions of __consumer_offsets with classic and
// consumer groups (their records are Kafka's ShareGroup* keys, versions
// 9-14), and are served as consumer groups are (consumer.go): the state
// machine decides, its records are appended, the response waits for them;
// a failed write rebuilds the group from the log.
//
// As in Kafka, a group of one type refuses the others: ShareGroupHeartbeat
// on a classic or consumer group (one that has members, a generation or
// committed offsets) answers GROUP_ID_NOT_FOUND, JoinGroup on a share group
// INCONSISTENT_GROUP_PROTOCOL, ConsumerGroupHeartbeat, OffsetCommit,
// OffsetFetch and OffsetDelete GROUP_ID_NOT_FOUND. Unlike consumer groups,
// share groups are never converted. A share group has no committed offsets:
// its progress is the share-partition state the share coordinator keeps in
// __share_group_state.
//
// The members a share group loses (leaving with epoch -1, expired
// sessions) are reported to Config.ShareMembersGone, after their records
// are durable, so that the partition leaders release the records they
// hold.

// sgState is what a group keeps of its share-group side.
type sgState struct {
	g *sharegroup.Group
	// broken is set when a write of the group's records failed: see
	// cgState.broken.
	broken bool
	// timer fires at the group's next session deadline, at timerAt.
	timer deadlineTimer
	// initialized are the partitions with share state the group records
	// (ShareGroupStatePartitionMetadata; see share_admin.go).
	initialized consumergroup.Assignment
	// deleted are the initialized partitions of the share group
	// DeleteGroups is deleting: their states go once it is durable.
	deleted consumergroup.Assignment
}

// isShare reports whether the group is a share group (KIP-932).
func (g *group) isShare() bool { return g.sg.g != nil }

// unusedByOthers reports whether the group holds nothing of a classic or
// consumer group, so that a share group may take its ID.
func (g *group) unusedByOthers() bool {
	return !g.isConsumer() && g.state == stateEmpty && g.generation == 0 && g.protocolType == "" &&
		len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && len(g.pendingCommits) == 0 && len(g.pendingTxn) == 0
}

func (c *Coordinator) newShareGroup(id string) (*sharegroup.Group, error) {
	cfg := c.cfg.Share
	if c.cfg.ShareGroupConfig != nil {
		cfg = c.cfg.ShareGroupConfig(id)
	}
	cfg.Logger = c.log
	return sharegroup.New(id, cfg)
}

// handleShareGroupHeartbeat is Kafka's shareGroupHeartbeat.
func (c *Coordinator) handleShareGroupHeartbeat(ctx context.Context, req *kmsg.ShareGroupHeartbeatRequest) kmsg.Response {
	fail := func(code int16, msg string) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	if req.GroupID == "" {
		return fail(kerr.InvalidRequest.Code, "GroupId can't be empty.")
	}
	g, code := c.acquire(req.GroupID, req.MemberEpoch == sharegroup.JoinEpoch)
	switch {
	case code != 0:
		return fail(code, "")
	case g == nil:
		return fail(kerr.GroupIDNotFound.Code, "Share group "+req.GroupID+" not found.")
	}
	resp, done := g.shareHeartbeat(ctx, req)
	g.mu.Unlock()
	return answerAfter(ctx, kmsg.Response(resp), done, fail)
}

// shareHeartbeat runs the heartbeat on the locked group. It returns the
// response and, if records must be written first, a channel that gets the
// write's error code.
func (g *group) shareHeartbeat(ctx context.Context, req *kmsg.ShareGroupHeartbeatRequest) (*kmsg.ShareGroupHeartbeatResponse, <-chan int16) {
	fail := func(code int16, msg string) (*kmsg.ShareGroupHeartbeatResponse, <-chan int16) {
		resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp, nil
	}
	if g.state == stateDead {
		return fail(kerr.CoordinatorNotAvailable.Code, "")
	}
	sg := g.sg.g
	if sg == nil {
		if !g.unusedByOthers() || req.MemberEpoch != sharegroup.JoinEpoch {
			defer g.maybeDropUnused()
			return fail(kerr.GroupIDNotFound.Code, "Group "+g.id+" is not a share group.")
		}
		var err error
		if sg, err = g.c.newShareGroup(g.id); err != nil {
			return fail(kerr.UnknownServerError.Code, err.Error())
		}
	} else if g.sg.broken {
		return fail(kerr.CoordinatorNotAvailable.Code, "The group's state is being reloaded.")
	}
	ci := clientFrom(ctx)
	resp, recs, err := sg.Heartbeat(time.Now(), sharegroup.Client{ID: ci.id, Host: ci.host}, req, g.c.subscribable(ctx))
	if err != nil {
		if errors.Is(err, kerr.UnknownServerError) && g.isShare() {
			g.c.log.Error("share group state machine failed; reloading the group", "group", g.id, "err", err)
			g.breakShare()
		}
		if !g.isShare() {
			g.maybeDropUnused()
		}
		return resp, nil
	}
	if !g.isShare() {
		g.sg.g = sg
	}
	defer g.scheduleShare()
	if len(recs) == 0 {
		return resp, nil
	}
	var gone []string
	if req.MemberEpoch == sharegroup.LeaveEpoch {
		gone = []string{req.MemberID}
	}
	kvs := shareRecords(g.id, recs)
	if init, changed := g.initializeAssigned(); changed {
		kvs = append(kvs, initializedRecord(g.id, init))
	}
	return resp, g.writeShare(kvs, gone)
}

// initializeAssigned adds the partitions the group assigns to its
// initialized partitions (which only AlterShareGroupOffsets and
// DeleteShareGroupOffsets otherwise change), as Kafka records the
// partitions it initializes before assigning them; it reports whether
// they changed. Their state itself is created by their leader at the
// first fetch. The group must be locked.
func (g *group) initializeAssigned() (consumergroup.Assignment, bool) {
	next := g.sg.initialized.Clone()
	if next == nil {
		next = consumergroup.Assignment{}
	}
	changed := false
	for id, ps := range g.sg.g.Partitions() {
		for _, p := range ps {
			if !slices.Contains(next[id], p) {
				next[id] = append(next[id], p)
				changed = true
			}
		}
	}
	if !changed {
		return nil, false
	}
	for _, ps := range next {
		slices.Sort(ps)
	}
	g.sg.initialized = next
	return next, true
}

// deleteShareStates deletes, in the background, the share states of a
// deleted share group's initialized partitions (Kafka deletes them
// before the group; here the group's tombstones come first and a failure
// is logged: the states stay in __share_group_state, unused).
func (c *Coordinator) deleteShareStates(group string, init consumergroup.Assignment) {
	if c.cfg.SharePersister == nil || len(init) == 0 {
		return
	}
	c.rt.Go(func() {
		ctx, cancel := context.WithTimeout(c.rt.Context(), 30*time.Second)
		defer cancel()
		for id, ps := range init {
			for _, p := range ps {
				if err := c.cfg.SharePersister.Delete(ctx, group, id, p); err != nil {
					c.log.Warn("failed to delete the share state of a deleted share group", "group", group, "partition", p, "err", err)
				}
			}
		}
	})
}

// writeShare appends the records of the group's share-group state and
// returns a channel for the write's error code. Once they are durable the
// members in gone are reported to Config.ShareMembersGone. A failed write
// breaks the group (see cgState.broken); writes queued behind it are
// skipped.
func (g *group) writeShare(recs []KV, gone []string) <-chan int16 {
	done := make(chan int16, 1)
	g.writeIf(func() bool { return !g.sg.broken }, recs, func(err error) {
		switch {
		case g.unloaded:
			done <- kerr.NotCoordinator.Code
			return
		case err != nil:
			if !errors.Is(err, errSkipped) {
				g.c.log.Warn("failed to write share group records", "group", g.id, "err", err)
			}
			g.breakShare()
			done <- consumerErrCode(err)
			return
		}
		if len(gone) > 0 && g.c.cfg.ShareMembersGone != nil {
			id, fn := g.id, g.c.cfg.ShareMembersGone
			g.c.rt.Go(func() { fn(id, gone) })
		}
		done <- 0
	})
	return done
}

// breakShare marks the group's share-group state as possibly ahead of the
// log and rebuilds it from the log once no write of the group is in
// flight. The group must be locked.
func (g *group) breakShare() {
	g.sg.broken = true
	g.maybeRebuildShare()
}

// maybeRebuildShare starts the rebuild of a broken share group when its
// writes are done. It is called after every write of the group.
func (g *group) maybeRebuildShare() {
	if !g.sg.broken || g.inflight > 0 || g.removed {
		return
	}
	sg, err := g.c.newShareGroup(g.id)
	var initialized consumergroup.Assignment
	g.replayOwn(isShareKey, func(r LogRecord) error {
		if keyVersion(r.Key) == sgStatePartMetaKey {
			if id, a, err := parseInitializedRecord(r.Key, r.Value); err == nil && id == g.id {
				initialized = a
			}
			return nil
		}
		id, rec, err := parseShareRecord(r.Key, r.Value)
		if err != nil || id != g.id {
			return nil // the load logged it
		}
		return sg.Replay(rec)
	}, err, func(err error) {
		if !g.sg.broken {
			return
		}
		if err != nil {
			g.c.log.Error("reloading a share group from the log failed; the group stays unavailable until its partition reloads",
				"group", g.id, "err", err)
			return
		}
		g.c.log.Info("share group reloaded from the log", "group", g.id, "epoch", sg.Epoch(), "members", sg.Len())
		if sg.Epoch() == 0 && len(initialized) == 0 {
			sg = nil // deleted, or never written
		}
		g.stopShareTimer()
		g.sg = sgState{g: sg}
		if sg != nil {
			g.sg.initialized = initialized
		}
		if sg != nil {
			sg.ResetTimers(time.Now())
			g.scheduleShare()
		}
		g.maybeDropUnused()
	})
}

// scheduleShare arms the group's timer for its next session deadline. A
// timer already set to fire no later is kept.
func (g *group) scheduleShare() {
	if !g.isShare() || g.removed {
		return
	}
	next, ok := g.sg.g.NextDeadline()
	if !ok {
		return
	}
	g.sg.timer.arm(g, next, g.expireShare)
}

func (g *group) stopShareTimer() { g.sg.timer.stop() }

// expireShare removes the members whose session passed and writes what
// that changed.
func (g *group) expireShare() {
	if !g.isShare() || g.sg.broken {
		return
	}
	recs, gone, err := g.sg.g.Expire(time.Now())
	if err != nil {
		g.c.log.Error("share group state machine failed to expire members; reloading the group", "group", g.id, "err", err)
		g.breakShare()
		return
	}
	if len(recs) > 0 {
		g.writeShare(shareRecords(g.id, recs), gone)
	}
	g.scheduleShare()
}

// shareTombstones deletes the group's share-group state, in memory and as
// records. It refuses (NON_EMPTY_GROUP) while the group has members.
func (g *group) shareTombstones() ([]KV, error) {
	if !g.isShare() {
		return nil, nil
	}
	recs, err := g.sg.g.Delete()
	if err != nil {
		return nil, err
	}
	kvs := shareRecords(g.id, recs)
	if len(g.sg.initialized) > 0 {
		kvs = append(kvs, initializedRecord(g.id, nil))
		g.sg.deleted = g.sg.initialized
	}
	g.stopShareTimer()
	g.sg = sgState{deleted: g.sg.deleted}
	return kvs, nil
}

// handleShareGroupDescribe is Kafka's shareGroupDescribe.
func (c *Coordinator) handleShareGroupDescribe(ctx context.Context, req *kmsg.ShareGroupDescribeRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	topics := c.subscribable(ctx)
	for _, id := range req.GroupIDs {
		d := kmsg.NewShareGroupDescribeResponseGroup()
		d.GroupID = id
		g, code := c.acquire(id, false)
		switch {
		case code != 0:
			d.ErrorCode = code
		case g == nil:
			d.ErrorCode = kerr.GroupIDNotFound.Code
			d.ErrorMessage = kmsg.StringPtr("Group " + id + " not found.")
		case !g.isShare() || g.state == stateDead:
			g.mu.Unlock()
			d.ErrorCode = kerr.GroupIDNotFound.Code
			d.ErrorMessage = kmsg.StringPtr("Group " + id + " is not a share group.")
		default:
			d = g.sg.g.Describe(topics)
			g.mu.Unlock()
		}
		if req.IncludeAuthorizedOperations && d.ErrorCode == 0 {
			d.AuthorizedOperations = allGroupOperations
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}

// ShareGroupMembers reports whether the share group exists on this
// coordinator and, if so, the IDs of its members with their assigned
// partitions (topic ID to partitions). A partition leader uses it to
// check the members of its share sessions.
func (c *Coordinator) ShareGroupMembers(groupID string) (map[string]map[[16]byte][]int32, bool) {
	g, code := c.acquire(groupID, false)
	if code != 0 || g == nil {
		return nil, false
	}
	defer g.mu.Unlock()
	if !g.isShare() || g.state == stateDead {
		return nil, false
	}
	out := make(map[string]map[[16]byte][]int32)
	for _, m := range g.sg.g.Members() {
		a := make(map[[16]byte][]int32, len(m.Assigned))
		for t, ps := range m.Assigned {
			a[[16]byte(t)] = ps
		}
		out[m.ID] = a
	}
	return out, true
}

// refuseShareGroup answers GROUP_ID_NOT_FOUND to a ConsumerGroupHeartbeat
// for a share group, as Kafka does; nil lets the request through. (The
// check is made before the heartbeat takes the group's lock: a share group
// created between the two is not seen. TODO: move the check into
// consumerHeartbeat's conversion test.)
func (c *Coordinator) refuseShareGroup(req *kmsg.ConsumerGroupHeartbeatRequest) kmsg.Response {
	g, code := c.acquire(req.Group, false)
	if code != 0 || g == nil {
		return nil
	}
	share := g.isShare()
	g.mu.Unlock()
	if !share {
		return nil
	}
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.ErrorCode = kerr.GroupIDNotFound.Code
	resp.ErrorMessage = kmsg.StringPtr("Group " + req.Group + " is not a consumer group.")
	return resp
}
