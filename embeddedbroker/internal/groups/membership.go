package groups

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func millis(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }

// joinReq is a validated JoinGroup request.
type joinReq struct {
	req       *kmsg.JoinGroupRequest
	session   time.Duration
	rebalance time.Duration
	client    clientInfo
	w         *waiter[*kmsg.JoinGroupResponse]
}

func (j *joinReq) fail(memberID string, code int16) {
	j.w.send(joinError(j.req.Version, memberID, code))
}

func (c *Coordinator) handleJoin(ctx context.Context, req *kmsg.JoinGroupRequest) kmsg.Response {
	w := newWaiter[*kmsg.JoinGroupResponse](req.Version)
	c.join(ctx, req, w)
	return w.wait(ctx, func() *kmsg.JoinGroupResponse {
		return joinError(req.Version, req.MemberID, kerr.CoordinatorNotAvailable.Code)
	})
}

// join is Kafka's handleJoinGroup. Every path answers w, now or later.
func (c *Coordinator) join(ctx context.Context, req *kmsg.JoinGroupRequest, w *waiter[*kmsg.JoinGroupResponse]) {
	j := &joinReq{req: req, session: millis(req.SessionTimeoutMillis), client: clientFrom(ctx), w: w}
	j.rebalance = j.session
	if req.Version >= 1 && req.RebalanceTimeoutMillis >= 0 {
		j.rebalance = millis(req.RebalanceTimeoutMillis)
	}
	if req.Group == "" {
		j.fail(req.MemberID, kerr.InvalidGroupID.Code)
		return
	}
	if code := c.status(req.Group); code != 0 {
		j.fail(req.MemberID, code)
		return
	}
	if j.session < c.cfg.MinSessionTimeout || j.session > c.cfg.MaxSessionTimeout {
		j.fail(req.MemberID, kerr.InvalidSessionTimeout.Code)
		return
	}
	unknown := req.MemberID == ""
	g, code := c.acquire(req.Group, unknown)
	if code != 0 {
		j.fail(req.MemberID, code)
		return
	}
	if g == nil {
		j.fail(req.MemberID, kerr.UnknownMemberID.Code)
		return
	}
	defer g.mu.Unlock()
	defer g.maybeDropUnused()
	if g.isConsumer() && !g.cg.broken && g.cg.g.Len() > 0 {
		g.classicJoin(ctx, j)
		return
	}
	if g.isShare() || g.isConsumer() && !g.toClassic() {
		j.fail(req.MemberID, kerr.InconsistentGroupProtocol.Code)
		return
	}

	switch {
	case !g.acceptJoiningMember(req.MemberID):
		g.c.log.Info("group is full", "group", g.id, "max", c.cfg.MaxGroupSize, "member", req.MemberID)
		if !unknown {
			g.remove(req.MemberID)
		}
		j.fail("", kerr.GroupMaxSizeReached.Code)
	case unknown:
		g.joinNewMember(j)
	default:
		g.joinExistingMember(j)
	}
	g.tryCompleteJoin()
}

// acceptJoiningMember is Kafka's check of group.max.size.
func (g *group) acceptJoiningMember(memberID string) bool {
	m := g.members[memberID]
	switch g.state {
	case stateEmpty, stateDead:
		return true
	case statePreparingRebalance:
		return (m != nil && m.join != nil) || g.awaitingJoin < g.c.cfg.MaxGroupSize
	default:
		return m != nil || len(g.members) < g.c.cfg.MaxGroupSize
	}
}

// joinNewMember is Kafka's doNewMemberJoinGroup.
func (g *group) joinNewMember(j *joinReq) {
	req := j.req
	switch {
	case g.state == stateDead:
		j.fail("", kerr.CoordinatorNotAvailable.Code)
		return
	case !g.supportsProtocols(req.ProtocolType, req.Protocols):
		j.fail("", kerr.InconsistentGroupProtocol.Code)
		return
	}
	newID := generateMemberID(j.client.id, req.InstanceID)
	switch {
	case req.InstanceID != nil:
		if oldID, ok := g.static[*req.InstanceID]; ok {
			g.c.log.Info("static member with unknown member id rejoins, replacing its previous member id",
				"group", g.id, "instance", *req.InstanceID, "old", oldID, "new", newID, "state", g.state)
			g.updateStaticMemberAndRebalance(oldID, newID, j)
		} else {
			g.addMemberAndRebalance(newID, j)
		}
	case req.Version >= 4:
		// KIP-394: hand out the member ID and have the member join again
		// with it, so that a join whose response is lost does not leave a
		// member behind.
		g.addPending(newID, j.session)
		j.fail(newID, kerr.MemberIDRequired.Code)
	default:
		g.addMemberAndRebalance(newID, j)
	}
}

// joinExistingMember is Kafka's doCurrentMemberJoinGroup.
func (g *group) joinExistingMember(j *joinReq) {
	req := j.req
	id := req.MemberID
	switch {
	case g.state == stateDead:
		j.fail(id, kerr.CoordinatorNotAvailable.Code)
		return
	case !g.supportsProtocols(req.ProtocolType, req.Protocols):
		j.fail(id, kerr.InconsistentGroupProtocol.Code)
		return
	}
	if _, ok := g.pending[id]; ok && req.InstanceID == nil {
		g.addMemberAndRebalance(id, j)
		return
	}
	if code := g.validateMember(id, req.InstanceID); code != 0 {
		j.fail(id, code)
		return
	}
	m := g.members[id]
	switch g.state {
	case statePreparingRebalance:
		g.updateMemberAndRebalance(m, j, "member joining during PreparingRebalance")
	case stateCompletingRebalance:
		if m.matches(req.Protocols) {
			// The member probably lost the JoinGroup response: answer
			// again for the current generation.
			j.w.send(g.joinResponse(req.Version, id, id == g.leader))
		} else {
			g.updateMemberAndRebalance(m, j, "member changed its metadata during CompletingRebalance")
		}
	case stateStable:
		switch {
		case id == g.leader:
			// The leader rejoins to trigger a rebalance for changes
			// that its members' metadata does not show (new topics).
			g.updateMemberAndRebalance(m, j, "leader rejoining during Stable")
		case !m.matches(req.Protocols):
			g.updateMemberAndRebalance(m, j, "member changed its metadata during Stable")
		default:
			j.w.send(g.joinResponse(req.Version, id, false))
		}
	default:
		g.c.log.Warn("member rejoining a group in an unexpected state", "group", g.id, "member", id, "state", g.state)
		j.fail(id, kerr.UnknownMemberID.Code)
	}
}

// addMemberAndRebalance adds a new member that waits for the rebalance.
func (g *group) addMemberAndRebalance(id string, j *joinReq) {
	req := j.req
	m := &member{
		id:           id,
		instanceID:   req.InstanceID,
		clientID:     j.client.id,
		clientHost:   j.client.host,
		protocolType: req.ProtocolType,
		protocols:    dedupProtocols(req.Protocols),
		rebalance:    j.rebalance,
		session:      j.session,
		isNew:        true,
		join:         j.w,
	}
	if g.state == statePreparingRebalance && g.initialDelay {
		g.newMemberAdded = true
	}
	g.add(m)
	// New members cannot heartbeat and their socket is muted while they
	// wait, so a JoinGroup that is never completed is bounded instead.
	g.scheduleHeartbeat(m)
	g.maybePrepareRebalance("adding new member " + id)
}

func (g *group) updateMemberAndRebalance(m *member, j *joinReq, reason string) {
	g.updateMember(m, j.req.Protocols, j.rebalance, j.session, j.w)
	g.maybePrepareRebalance(reason)
}

// updateStaticMemberAndRebalance is Kafka's handling of a known static
// member joining with an unknown member ID (a restarted instance, KIP-345).
// The old member ID is fenced. In a Stable group whose protocol would not
// change, there is no rebalance: the group is persisted with the new member
// ID and the member gets the current generation, then its old assignment
// through SyncGroup.
func (g *group) updateStaticMemberAndRebalance(oldID, newID string, j *joinReq) {
	req := j.req
	instanceID := *req.InstanceID
	currentLeader := g.leader
	m := g.replaceStaticMember(instanceID, oldID, newID)
	g.scheduleHeartbeat(m)
	oldProtocols, oldRebalance, oldSession := m.protocols, m.rebalance, m.session
	g.updateMember(m, req.Protocols, j.rebalance, j.session, j.w)

	switch g.state {
	case stateStable:
		if g.selectProtocol() != g.protocol {
			g.maybePrepareRebalance("static member " + instanceID + " rejoined with a change of protocol")
			return
		}
		g.c.log.Info("static member rejoined a Stable group with unchanged protocol, no rebalance",
			"group", g.id, "instance", instanceID, "member", newID)
		w := j.w
		g.write([]KV{g.groupRecord(nil)}, func(err error) {
			if g.unloaded {
				return
			}
			if err != nil {
				code := storeErrCode(err, false)
				g.c.log.Warn("failed to persist replaced static member, reverting", "group", g.id,
					"instance", instanceID, "err", err)
				if g.members[newID] == m && g.static[instanceID] == newID {
					g.updateMember(m, oldProtocols, oldRebalance, oldSession, nil)
					old := g.replaceStaticMember(instanceID, newID, oldID)
					g.scheduleHeartbeat(old)
				}
				resp := joinError(w.version, "", code)
				resp.Generation = g.generation
				resp.ProtocolType = strOrNil(g.protocolType)
				resp.Protocol = strOrNil(g.protocol)
				resp.LeaderID = currentLeader
				w.send(resp)
				return
			}
			if m.join != w {
				return // answered meanwhile (fenced, or a rebalance started)
			}
			var resp *kmsg.JoinGroupResponse
			if w.version >= 9 {
				// KIP-814: a static leader learns it is the leader
				// but skips the assignment of a Stable group.
				isLeader := g.leader == newID
				resp = g.joinResponse(w.version, newID, isLeader)
				resp.SkipAssignment = isLeader
			} else {
				// Older leaders would run a useless assignment that
				// a Stable group ignores: report the old leader ID so
				// that the member does not think it leads.
				resp = g.joinResponse(w.version, newID, false)
				resp.LeaderID = currentLeader
			}
			g.completeJoin(m, resp)
		})
	case stateCompletingRebalance:
		// The leader may have been given the old member ID; rebalance
		// so that the new one gets an assignment.
		g.prepareRebalance("static member " + instanceID + " rejoined during CompletingRebalance")
	}
}

func (c *Coordinator) handleSync(ctx context.Context, req *kmsg.SyncGroupRequest) kmsg.Response {
	w := newWaiter[*kmsg.SyncGroupResponse](req.Version)
	c.sync(ctx, req, w)
	return w.wait(ctx, func() *kmsg.SyncGroupResponse {
		return syncError(req.Version, kerr.CoordinatorNotAvailable.Code)
	})
}

// sync is Kafka's handleSyncGroup.
func (c *Coordinator) sync(ctx context.Context, req *kmsg.SyncGroupRequest, w *waiter[*kmsg.SyncGroupResponse]) {
	fail := func(code int16) { w.send(syncError(req.Version, code)) }
	if req.Group == "" {
		fail(kerr.InvalidGroupID.Code)
		return
	}
	g, code := c.acquire(req.Group, false)
	switch {
	case code == kerr.CoordinatorLoadInProgress.Code:
		// The rebalance state is lost with the old coordinator: have the
		// member rejoin (older clients do not expect the loading error).
		fail(kerr.RebalanceInProgress.Code)
		return
	case code != 0:
		fail(code)
		return
	case g == nil:
		fail(kerr.UnknownMemberID.Code)
		return
	}
	defer g.mu.Unlock()

	if g.state == stateDead {
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	}
	if g.isConsumer() {
		w.send(g.classicSync(ctx, req))
		return
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		fail(code)
		return
	}
	switch {
	case req.Generation != g.generation:
		fail(kerr.IllegalGeneration.Code)
		return
	case req.ProtocolType != nil && (g.protocolType == "" || *req.ProtocolType != g.protocolType):
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	case req.Protocol != nil && (g.protocol == "" || *req.Protocol != g.protocol):
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		fail(kerr.UnknownMemberID.Code)
	case statePreparingRebalance:
		fail(kerr.RebalanceInProgress.Code)
	case stateCompletingRebalance:
		if m.sync != nil && m.sync != w {
			m.sync.send(syncError(m.sync.version, kerr.RebalanceInProgress.Code))
		}
		m.sync = w
		g.removePendingSync(m.id)
		if m.id == g.leader {
			g.storeAssignment(req)
		}
	case stateStable:
		g.removePendingSync(m.id)
		w.send(g.syncResponse(req.Version, m))
		g.scheduleHeartbeat(m)
	}
}

// storeAssignment persists the leader's assignment, then completes the
// rebalance: members waiting in SyncGroup get their assignment and the
// group is Stable. Members the leader did not assign get an empty
// assignment; assignments of unknown members are dropped.
func (g *group) storeAssignment(req *kmsg.SyncGroupRequest) {
	assignment := make(map[string][]byte, len(g.members))
	for _, a := range req.GroupAssignment {
		if g.members[a.MemberID] != nil {
			assignment[a.MemberID] = a.MemberAssignment
		}
	}
	for id := range g.members {
		if _, ok := assignment[id]; !ok {
			g.c.log.Warn("leader sent no assignment for member, setting it empty", "group", g.id,
				"member", id, "generation", g.generation)
			assignment[id] = []byte{}
		}
	}
	g.c.log.Info("assignment received from leader", "group", g.id, "leader", req.MemberID,
		"generation", g.generation, "members", len(g.members))
	gen := g.generation
	g.write([]KV{g.groupRecord(assignment)}, func(err error) {
		// A member may have joined or left while the write was in
		// flight: only the same rebalance completes.
		if g.unloaded || g.state != stateCompletingRebalance || g.generation != gen {
			return
		}
		if err != nil {
			g.c.log.Warn("failed to store group assignment", "group", g.id, "generation", gen, "err", err)
			g.resetAndPropagateAssignmentError(storeErrCode(err, false))
			g.maybePrepareRebalance("error storing the group assignment")
			return
		}
		g.setAndPropagateAssignment(assignment)
		g.transition(stateStable)
	})
}

// handleHeartbeat is Kafka's handleHeartbeat.
func (c *Coordinator) handleHeartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.heartbeat(ctx, req)
	return resp
}

func (c *Coordinator) heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g, code := c.acquire(req.Group, false)
	switch {
	case code == kerr.CoordinatorLoadInProgress.Code:
		return 0 // the group is loading: answer blindly, as Kafka
	case code != 0:
		return code
	case g == nil:
		return kerr.UnknownMemberID.Code
	}
	if g.isConsumer() && g.state != stateDead {
		code, done := g.classicHeartbeat(ctx, req)
		g.mu.Unlock()
		if done != nil {
			select {
			case c := <-done:
				if c != 0 {
					return c
				}
			case <-ctx.Done():
				return kerr.RequestTimedOut.Code
			}
		}
		return code
	}
	defer g.mu.Unlock()
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		return kerr.UnknownMemberID.Code
	case statePreparingRebalance:
		g.scheduleHeartbeat(m)
		return kerr.RebalanceInProgress.Code
	default: // CompletingRebalance (members may heartbeat before their SyncGroup) and Stable
		g.scheduleHeartbeat(m)
		return 0
	}
}

// handleLeave is Kafka's handleLeaveGroup: v3+ removes a batch of members,
// by member ID or, for administrative removal of static members, by
// instance ID alone.
func (c *Coordinator) handleLeave(req *kmsg.LeaveGroupRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version <= 2 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	codes := make([]int16, len(leaving))
	top := c.leave(req.Group, leaving, codes)
	if req.Version <= 2 {
		resp.ErrorCode = top
		if top == 0 && len(codes) > 0 {
			resp.ErrorCode = codes[0]
		}
		return resp
	}
	resp.ErrorCode = top
	if top != 0 {
		return resp
	}
	for i, l := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID = l.MemberID
		rm.InstanceID = l.InstanceID
		rm.ErrorCode = codes[i]
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

func (c *Coordinator) leave(groupID string, leaving []kmsg.LeaveGroupRequestMember, codes []int16) int16 {
	if groupID == "" {
		return kerr.InvalidGroupID.Code
	}
	g, code := c.acquire(groupID, false)
	if code != 0 {
		return code
	}
	if g == nil {
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
		return 0
	}
	if g.isConsumer() && g.state != stateDead {
		// Each leave is answered once its records are written.
		dones := make([]<-chan int16, len(leaving))
		for i, l := range leaving {
			codes[i], dones[i] = g.classicLeave(l.MemberID, l.InstanceID)
		}
		g.mu.Unlock()
		for i, done := range dones {
			if done != nil {
				if code := <-done; code != 0 && codes[i] == 0 {
					codes[i] = code
				}
			}
		}
		return 0
	}
	defer g.mu.Unlock()
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	for i, l := range leaving {
		reason := "not provided"
		if l.Reason != nil {
			reason = *l.Reason
		}
		switch {
		case l.MemberID == "":
			id, ok := "", false
			if l.InstanceID != nil {
				id, ok = g.static[*l.InstanceID]
			}
			if !ok {
				codes[i] = kerr.UnknownMemberID.Code
				continue
			}
			g.leaveMember(g.members[id], reason)
		case g.pending[l.MemberID] != nil:
			g.removePending(l.MemberID)
			g.c.log.Info("pending member left the group", "group", g.id, "member", l.MemberID, "reason", reason)
			if g.state == statePreparingRebalance {
				g.tryCompleteJoin()
			}
		default:
			if codes[i] = g.validateMember(l.MemberID, l.InstanceID); codes[i] == 0 {
				g.leaveMember(g.members[l.MemberID], reason)
			}
		}
	}
	return 0
}

func (g *group) leaveMember(m *member, reason string) {
	g.c.log.Info("member left the group", "group", g.id, "member", m.id, "reason", reason)
	g.removeMemberAndUpdate(m, "member "+m.id+" left the group: "+reason)
}
