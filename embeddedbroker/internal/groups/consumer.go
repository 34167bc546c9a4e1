package groups

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordruntime"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file serves the consumer groups of KIP-848 (ConsumerGroupHeartbeat,
// ConsumerGroupDescribe) with the state machine of package consumergroup:
// a group whose cg is set is a consumer group. Its committed offsets live
// in the same group struct as a classic group's, as Kafka keeps offsets
// apart from the group type (OffsetMetadataManager).
//
// A group changes type offline, as Kafka 4 allows: an empty classic group
// becomes a consumer group when a member heartbeats with epoch 0 (its
// metadata is tombstoned), an empty consumer group becomes a classic group
// when a member sends JoinGroup (its records are tombstoned); committed
// offsets stay. Online, as Kafka 4's default migration policy
// (group.consumer.migration.policy=bidirectional) allows in part: a
// consumer group with members takes classic members too, and a Stable
// classic group with members becomes a consumer group when a
// consumer-protocol member joins it (classic_members.go). Deviations: a
// classic group in the middle of a rebalance is not converted
// (GROUP_ID_NOT_FOUND, as Kafka answers when it cannot convert; Kafka
// converts it and has its members rejoin), a consumer group whose last
// consumer-protocol member left stays a consumer group (Kafka converts it
// back to a classic group), and the policy is not configurable.

// errSkipped fails a consumer group write queued behind one that failed:
// its records were decided on state the log does not have.
var errSkipped = errors.New("groups: write skipped: an earlier write of the group failed")

// cgState is what a group keeps of its consumer-group side.
type cgState struct {
	g *consumergroup.Group
	// broken is set when a write of the group's records failed: the
	// state in memory may be ahead of the log. Heartbeats answer
	// COORDINATOR_NOT_AVAILABLE until the state is rebuilt from the log
	// (rebuildConsumer), once the writes in flight are done.
	broken bool
	// timer fires at the group's next deadline (sessions, rebalance
	// timeouts), at timerAt.
	timer deadlineTimer
	// classic are the members of the classic protocol (by member ID, to
	// the protocol name they joined with): see classic_members.go.
	classic map[string]*classicState
}

// isConsumer reports whether the group is a consumer group (KIP-848).
func (g *group) isConsumer() bool { return g.cg.g != nil }

// hasMembers reports whether the group has members of either protocol, or
// members being admitted.
func (g *group) hasMembers() bool {
	return len(g.members) > 0 || len(g.pending) > 0 || (g.isConsumer() && g.cg.g.Len() > 0)
}

func (c *Coordinator) newConsumerGroup(id string) (*consumergroup.Group, error) {
	cfg := c.cfg.Consumer
	cfg.Logger = c.log
	return consumergroup.New(id, cfg)
}

// handleConsumerGroupHeartbeat is Kafka's consumerGroupHeartbeat: the
// group decides, its records are appended, and the response is sent once
// they are durable.
func (c *Coordinator) handleConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest) kmsg.Response {
	fail := func(code int16, msg string) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	if req.Group == "" {
		return fail(kerr.InvalidRequest.Code, "GroupId can't be empty.")
	}
	g, code := c.acquire(req.Group, req.MemberEpoch == 0)
	switch {
	case code != 0:
		return fail(code, "")
	case g == nil:
		return fail(kerr.GroupIDNotFound.Code, "Consumer group "+req.Group+" not found.")
	}
	resp, done := g.consumerHeartbeat(ctx, req)
	g.mu.Unlock()
	return answerAfter(ctx, kmsg.Response(resp), done, fail)
}

// answerAfter returns resp once done (nil: nothing to wait for) says the
// records it waited for are written, else fail's answer with the write's
// error code, or REQUEST_TIMED_OUT when ctx ends first.
func answerAfter[R any](ctx context.Context, resp R, done <-chan int16, fail func(code int16, msg string) R) R {
	if done == nil {
		return resp
	}
	select {
	case code := <-done:
		if code != 0 {
			return fail(code, "")
		}
		return resp
	case <-ctx.Done():
		return fail(kerr.RequestTimedOut.Code, "")
	}
}

// consumerHeartbeat runs the heartbeat on the locked group. It returns the
// response and, if records must be written first, a channel that gets the
// write's error code.
func (g *group) consumerHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest) (*kmsg.ConsumerGroupHeartbeatResponse, <-chan int16) {
	fail := func(code int16, msg string) (*kmsg.ConsumerGroupHeartbeatResponse, <-chan int16) {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp, nil
	}
	if g.state == stateDead {
		return fail(kerr.CoordinatorNotAvailable.Code, "")
	}
	cg := g.cg.g
	var prefix []KV
	upgrade := false
	if cg == nil && req.MemberEpoch == 0 && g.hasMembers() {
		// A classic group with members: converted online if it can be
		// (Kafka 4's group.consumer.migration.policy, upgrade).
		var recs []consumergroup.Record
		if cg, recs, upgrade = g.upgradeToConsumer(ctx); upgrade {
			prefix = append([]KV{groupTombstone(g.id)}, consumerRecords(g.id, recs)...)
		}
	}
	if cg == nil {
		// A classic group: converted if it is empty and a member joins.
		// (A share group, members or not, stays one: Kafka converts
		// only between classic and consumer groups.)
		if g.hasMembers() || g.isShare() || g.state != stateEmpty || req.MemberEpoch != 0 {
			defer g.maybeDropUnused()
			if g.isShare() {
				return fail(kerr.GroupIDNotFound.Code, "Group "+g.id+" is not a consumer group: it is a share group.")
			}
			return fail(kerr.GroupIDNotFound.Code, "Group "+g.id+" is not a consumer group: it has members of the classic protocol "+
				"(kafkaboot converts a group between protocols only when it is empty).")
		}
		var err error
		if cg, err = g.c.newConsumerGroup(g.id); err != nil {
			return fail(kerr.UnknownServerError.Code, err.Error())
		}
		if g.generation > 0 {
			prefix = append(prefix, groupTombstone(g.id))
		}
	} else if g.cg.broken {
		return fail(kerr.CoordinatorNotAvailable.Code, "The group's state is being reloaded.")
	}
	ci := clientFrom(ctx)
	now := time.Now()
	resp, recs, err := cg.Heartbeat(now, consumergroup.Client{ID: ci.id, Host: ci.host}, req, g.c.subscribable(ctx))
	if err != nil {
		if errors.Is(err, kerr.UnknownServerError) && g.isConsumer() {
			g.c.log.Error("consumer group state machine failed; reloading the group", "group", g.id, "err", err)
			g.breakConsumer()
		}
		if !g.isConsumer() {
			g.maybeDropUnused()
		}
		return resp, nil
	}
	if !g.isConsumer() {
		g.c.log.Info("group converted from classic to consumer protocol", "group", g.id, "generation", g.generation, "online", upgrade)
		g.cg.g = cg
		if upgrade {
			g.upgraded()
		}
		g.protocolType, g.protocol, g.leader, g.generation = "", "", "", 0
		g.subscribed, g.subscribedKnown = nil, false
	}
	defer g.scheduleConsumer()
	if len(recs) == 0 && len(prefix) == 0 {
		return resp, nil
	}
	return resp, g.writeConsumer(append(prefix, consumerRecords(g.id, recs)...))
}

// writeConsumer appends the records of the group's consumer-group state
// and returns a channel for the write's error code. A failed write breaks
// the group (see cgState.broken); writes queued behind it are skipped.
func (g *group) writeConsumer(recs []KV) <-chan int16 {
	done := make(chan int16, 1)
	g.writeIf(func() bool { return !g.cg.broken }, recs, func(err error) {
		switch {
		case g.unloaded:
			done <- kerr.NotCoordinator.Code
			return
		case err != nil:
			if !errors.Is(err, errSkipped) {
				g.c.log.Warn("failed to write consumer group records", "group", g.id, "err", err)
			}
			g.breakConsumer()
			done <- consumerErrCode(err)
			return
		}
		done <- 0
	})
	return done
}

// consumerErrCode maps an Append error as Kafka's consumer group APIs
// answer it (GroupCoordinatorService.handleOperationException).
func consumerErrCode(err error) int16 {
	if errors.Is(err, errSkipped) {
		return kerr.CoordinatorNotAvailable.Code
	}
	return coordruntime.AppendErrorCode(err, func(ke *kerr.Error) (int16, bool) {
		switch ke {
		case kerr.RequestTimedOut:
			return kerr.CoordinatorNotAvailable.Code, true
		case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
			return kerr.UnknownServerError.Code, true
		}
		return 0, false
	})
}

// breakConsumer marks the group's consumer-group state as possibly ahead
// of the log and rebuilds it from the log once no write of the group is in
// flight. The group must be locked.
func (g *group) breakConsumer() {
	g.cg.broken = true
	g.maybeRebuildConsumer()
}

// maybeRebuildConsumer starts the rebuild of a broken group when its
// writes are done. It is called after every write of the group.
func (g *group) maybeRebuildConsumer() {
	if !g.cg.broken || g.inflight > 0 || g.removed {
		return
	}
	cg, err := g.c.newConsumerGroup(g.id)
	g.replayOwn(isConsumerKey, func(r LogRecord) error {
		id, rec, err := parseConsumerRecord(r.Key, r.Value)
		if err != nil || id != g.id {
			return nil // the load logged it
		}
		return cg.Replay(rec)
	}, err, func(err error) {
		if !g.cg.broken {
			return
		}
		if err != nil {
			g.c.log.Error("reloading a consumer group from the log failed; the group stays unavailable until its partition reloads",
				"group", g.id, "err", err)
			return
		}
		g.c.log.Info("consumer group reloaded from the log", "group", g.id, "epoch", cg.Epoch(), "members", cg.Len())
		if cg.Epoch() == 0 {
			cg = nil // deleted, or never written
		}
		g.stopConsumerTimer()
		g.cg = cgState{g: cg}
		if cg != nil {
			cg.ResetTimers(time.Now())
			g.scheduleConsumer()
		}
		g.maybeDropUnused()
	})
}

// scheduleConsumer arms the group's timer for its next deadline. A timer
// already set to fire no later is kept: it then finds nothing to expire
// and re-arms.
func (g *group) scheduleConsumer() {
	if !g.isConsumer() || g.removed {
		return
	}
	next, ok := g.cg.g.NextDeadline()
	if !ok {
		return
	}
	g.cg.timer.arm(g, next, g.expireConsumer)
}

func (g *group) stopConsumerTimer() { g.cg.timer.stop() }

// expireConsumer removes the members whose session or rebalance timeout
// passed and writes what that changed.
func (g *group) expireConsumer() {
	if !g.isConsumer() || g.cg.broken {
		return
	}
	recs, err := g.cg.g.Expire(time.Now())
	if err != nil {
		g.c.log.Error("consumer group state machine failed to expire members; reloading the group", "group", g.id, "err", err)
		g.breakConsumer()
		return
	}
	if len(recs) > 0 {
		g.writeConsumer(consumerRecords(g.id, recs))
	}
	g.scheduleConsumer()
}

// consumerTombstones deletes the group's consumer-group state, in memory
// and as records. It refuses (NON_EMPTY_GROUP) while the group has members.
func (g *group) consumerTombstones() ([]KV, error) {
	if !g.isConsumer() {
		return nil, nil
	}
	recs, err := g.cg.g.Delete()
	if err != nil {
		return nil, err
	}
	g.stopConsumerTimer()
	g.cg = cgState{}
	return consumerRecords(g.id, recs), nil
}

// subscribable returns the topics members may subscribe to.
func (c *Coordinator) subscribable(ctx context.Context) consumergroup.TopicMetadata {
	if c.cfg.Topics == nil {
		return nil
	}
	return c.cfg.Topics.Subscribable(ctx)
}

// handleConsumerGroupDescribe is Kafka's consumerGroupDescribe.
func (c *Coordinator) handleConsumerGroupDescribe(ctx context.Context, req *kmsg.ConsumerGroupDescribeRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	topics := c.subscribable(ctx)
	for _, id := range req.Groups {
		d := kmsg.NewConsumerGroupDescribeResponseGroup()
		d.Group = id
		g, code := c.acquire(id, false)
		switch {
		case code != 0:
			d.ErrorCode = code
		case g == nil:
			d.ErrorCode = kerr.GroupIDNotFound.Code
			d.ErrorMessage = kmsg.StringPtr("Group " + id + " not found.")
		case !g.isConsumer() || g.state == stateDead:
			g.mu.Unlock()
			d.ErrorCode = kerr.GroupIDNotFound.Code
			d.ErrorMessage = kmsg.StringPtr("Group " + id + " is not a consumer group.")
		default:
			d = g.cg.g.Describe(topics)
			g.mu.Unlock()
		}
		if req.IncludeAuthorizedOperations && d.ErrorCode == 0 {
			d.AuthorizedOperations = allGroupOperations
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}

// validateConsumerCommit is Kafka's ConsumerGroup.validateOffsetCommit:
// commits without a member are taken while the group has no members;
// otherwise the member must exist (UNKNOWN_MEMBER_ID) and members of the
// consumer protocol commit with OffsetCommit v9+ (Kafka's check;
// transactional commits are exempt). The epoch is checked as Kafka 4.3
// does (KIP-1251, consumergroup.Group.CheckCommit): the member's current
// epoch, or an older one for partitions the member has had since then,
// so that a commit racing a heartbeat that bumped the epoch is not
// refused (STALE_MEMBER_EPOCH otherwise). parts are the partitions
// committed.
func (g *group) validateConsumerCommit(memberID string, epoch int32, version int16, transactional bool, parts consumergroup.Assignment) int16 {
	cg := g.cg.g
	if epoch < 0 && cg.Len() == 0 {
		return 0
	}
	if _, classic := g.cg.classic[memberID]; classic {
		// A classic member commits with its generation, the member
		// epoch it joined at (classic_members.go).
		return classicCode(codeOf(cg.CheckCommit(memberID, epoch, parts)))
	}
	if _, ok := cg.Member(memberID); ok && !transactional && version < 9 {
		return kerr.UnsupportedVersion.Code
	}
	return codeOf(cg.CheckCommit(memberID, epoch, parts))
}

// addCommitted adds a committed partition to parts, by topic ID (from the
// request, or looked up by name); topics the coordinator does not know are
// left out (their partitions fail on their own).
func (c *Coordinator) addCommitted(parts consumergroup.Assignment, name string, id [16]byte, p int32) {
	if id == ([16]byte{}) && c.cfg.Topics != nil {
		id, _ = c.cfg.Topics.TopicID(name)
	}
	if id != ([16]byte{}) {
		parts[id] = append(parts[id], p)
	}
}

// codeOf is the Kafka error code of an error of package consumergroup (0
// for nil).
func codeOf(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// validateConsumerFetch is Kafka's ConsumerGroup.validateOffsetFetch: a
// fetch that names a member (OffsetFetch v9+) must name a member of the
// group at its current epoch; one that names none is the admin client's.
func (g *group) validateConsumerFetch(memberID string, epoch int32) int16 {
	if memberID == "" && epoch < 0 {
		return 0
	}
	m, ok := g.cg.g.Member(memberID)
	switch {
	case !ok:
		return kerr.UnknownMemberID.Code
	case epoch != m.Epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// consumerSubscribed reports whether a member of the consumer group
// subscribes to the topic (offsets of other topics expire, KIP-496).
func (g *group) consumerSubscribed(topic string) bool {
	return slices.ContainsFunc(g.cg.g.SubscriptionMetadata(), func(t consumergroup.Topic) bool { return t.Name == topic })
}

// toClassic converts an empty consumer group to a classic group, for a
// JoinGroup: its consumer-group records are tombstoned (offsets stay). It
// reports false, changing nothing, if the group has members or its state
// is being rebuilt.
func (g *group) toClassic() bool {
	if g.cg.broken || g.cg.g.Len() > 0 {
		return false
	}
	recs, err := g.consumerTombstones()
	if err != nil {
		return false
	}
	g.c.log.Info("group converted from consumer to classic protocol", "group", g.id)
	g.write(recs, func(err error) {
		if err != nil && !g.unloaded {
			g.c.log.Warn("failed to write the tombstones of a consumer group converted to classic", "group", g.id, "err", err)
		}
	})
	return true
}

func derefOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// replayOwn reads the group's partition of __consumer_offsets again, in a
// goroutine, passing apply the data records whose key version kind
// accepts (apply sorts out the group's own), then calls done with the
// group locked and the error of the replay (or setupErr, which skips it),
// unless the group was removed meanwhile. It rebuilds the state of a
// consumer or share group whose write failed (see cgState.broken).
func (g *group) replayOwn(kind func(version int16) bool, apply func(LogRecord) error, setupErr error, done func(err error)) {
	replay := g.part.Ext.replay
	g.c.rt.Go(func() {
		err := setupErr
		if err == nil {
			err = replay(func(r LogRecord) error {
				if r.Control || len(r.Key) < 2 || !kind(keyVersion(r.Key)) {
					return nil
				}
				return apply(r)
			})
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if !g.removed {
			done(err)
		}
	})
}

// deadlineTimer fires at the next deadline of a group's state machine
// (sessions, rebalance timeouts); the group's lock guards it.
type deadlineTimer struct {
	t  *time.Timer
	at time.Time
}

// arm makes the timer call fire, with the group locked, at next. A timer
// already set to fire no later is kept: it then finds nothing to expire,
// and fire arms it again.
func (d *deadlineTimer) arm(g *group, next time.Time, fire func()) {
	if d.t != nil && !d.at.After(next) {
		return
	}
	d.stop()
	d.at = next
	d.t = g.after(time.Until(next), func() {
		d.t = nil
		fire()
	})
}

func (d *deadlineTimer) stop() {
	if d.t != nil {
		d.t.Stop()
		d.t = nil
	}
}
