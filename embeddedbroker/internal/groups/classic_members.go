package groups

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
)

// Classic members in a consumer group (Kafka 4's GroupMetadataManager:
// classicGroupJoinToConsumerGroup, classicGroupSyncToConsumerGroup,
// classicGroupHeartbeatToConsumerGroup, classicGroupLeaveToConsumerGroup).
// A member of the classic protocol (JoinGroup with protocol type
// "consumer") may join a consumer group that has members: each of its
// classic requests becomes a ConsumerGroupHeartbeat of the group's state
// machine on its behalf, so that the broker's assignor gives it partitions
// and it takes part in the group's incremental reconciliation:
//
//   - JoinGroup carries its subscription and, for cooperative clients, the
//     partitions it still owns (in its protocol's metadata); the response
//     has no member list (nobody assigns on the client side) and the
//     member epoch as the generation.
//   - SyncGroup returns the partitions the member may own now.
//   - Heartbeat keeps its session and answers REBALANCE_IN_PROGRESS when
//     its epoch moved on or it must give partitions up: a classic member
//     can only revoke and take partitions by rejoining, whose owned
//     partitions tell the group what it gave up.
//   - LeaveGroup leaves the group (member epoch -1).
//
// What differs from Kafka: a classic member's session is the consumer
// group's (group.consumer.session.timeout.ms), not the session timeout of
// its JoinGroup, and which members are classic is kept in memory, not in
// the member records: after a coordinator failover a classic member is
// known as such again at its next JoinGroup, SyncGroup or Heartbeat
// (until then its offset commits, of OffsetCommit versions below 9, are
// refused with UNSUPPORTED_VERSION as a consumer-protocol member's would
// be, and it commits again after rejoining). A Stable classic group with
// members becomes a consumer group when a consumer-protocol member joins
// (upgradeToConsumer); a consumer group keeps its type when its last
// consumer-protocol member leaves (Kafka's downgrade is not done).

// classicSubscription reads a classic member's subscription from the
// first of its protocols whose metadata parses (Kafka requires them all
// to carry the same one): the protocol's name, the topics and the
// partitions it owns.
func classicSubscription(protocols []kmsg.JoinGroupRequestProtocol) (name string, topics []string, owned []kmsg.ConsumerMemberMetadataOwnedPartition, ok bool) {
	for _, p := range protocols {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(p.Metadata); err != nil {
			continue
		}
		return p.Name, md.Topics, md.OwnedPartitions, true
	}
	return "", nil, nil, false
}

// classicHeartbeatReq is the ConsumerGroupHeartbeat standing for a classic
// member's request: its member ID and epoch, and the partitions it owns.
func (g *group) classicHeartbeatReq(memberID string, instanceID *string, epoch int32, owned consumergroup.Assignment) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group = g.id
	req.MemberID = memberID
	req.InstanceID = instanceID
	req.MemberEpoch = epoch
	req.RebalanceTimeoutMillis = -1
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for id, ps := range owned {
		t := kmsg.NewConsumerGroupHeartbeatRequestTopic()
		t.TopicID, t.Partitions = id, ps
		req.Topics = append(req.Topics, t)
	}
	return req
}

// classicCode maps a ConsumerGroupHeartbeat error to what a classic member
// understands.
func classicCode(code int16) int16 {
	switch code {
	case kerr.FencedMemberEpoch.Code, kerr.UnknownMemberID.Code:
		return kerr.UnknownMemberID.Code
	case kerr.StaleMemberEpoch.Code:
		return kerr.IllegalGeneration.Code
	case kerr.UnreleasedInstanceID.Code:
		return kerr.FencedInstanceID.Code
	}
	return code
}

// classicJoin is classicGroupJoinToConsumerGroup, on the locked group. It
// answers j now or once the records it wrote are durable.
func (g *group) classicJoin(ctx context.Context, j *joinReq) {
	req := j.req
	if g.cg.broken {
		j.fail(req.MemberID, kerr.CoordinatorNotAvailable.Code)
		return
	}
	name, topics, ownedParts, ok := classicSubscription(req.Protocols)
	if req.ProtocolType != "consumer" || !ok {
		j.fail(req.MemberID, kerr.InconsistentGroupProtocol.Code)
		return
	}
	id := req.MemberID
	if id == "" {
		id = generateMemberID(j.client.id, req.InstanceID)
		if req.Version >= 4 && req.InstanceID == nil {
			// KIP-394, as for classic groups: the member joins again
			// with its ID.
			j.fail(id, kerr.MemberIDRequired.Code)
			return
		}
	}
	meta := g.c.subscribable(ctx)
	owned := consumergroup.Assignment{}
	for _, t := range ownedParts {
		if tm, ok := meta[t.Topic]; ok && len(t.Partitions) > 0 {
			ps := slices.Clone(t.Partitions)
			slices.Sort(ps)
			owned[tm.ID] = slices.Compact(ps)
		}
	}
	epoch := int32(0)
	if m, ok := g.cg.g.Member(id); ok {
		epoch = m.Epoch
	}
	hb := g.classicHeartbeatReq(id, req.InstanceID, epoch, owned)
	hb.RebalanceTimeoutMillis = int32(j.rebalance / time.Millisecond)
	hb.SubscribedTopicNames = topics
	if hb.SubscribedTopicNames == nil {
		hb.SubscribedTopicNames = []string{}
	}
	resp, done := g.consumerHeartbeat(ctx, hb)
	if resp.ErrorCode != 0 {
		j.fail(req.MemberID, classicCode(resp.ErrorCode))
		return
	}
	cs := g.classicMember(id)
	cs.protocol, cs.synced, cs.hasSynced = name, nil, false
	out := req.ResponseKind().(*kmsg.JoinGroupResponse)
	out.MemberID = id
	out.Generation = resp.MemberEpoch
	out.ProtocolType = &req.ProtocolType
	out.Protocol = &name
	out.LeaderID = ""
	g.c.log.Info("classic member joined the consumer group", "group", g.id, "member", id, "epoch", resp.MemberEpoch)
	answerClassic(done, func(code int16) {
		if code != 0 {
			j.fail(req.MemberID, code)
			return
		}
		j.w.send(out)
	})
}

// answerClassic calls answer with the code of the write done stands for
// (0 without one), on its own goroutine when it must wait.
func answerClassic(done <-chan int16, answer func(code int16)) {
	if done == nil {
		answer(0)
		return
	}
	go func() { answer(<-done) }()
}

// classicState is what the coordinator keeps in memory of a classic
// member of a consumer group.
type classicState struct {
	// protocol is the protocol name it joined with.
	protocol string
	// synced is the assignment its last SyncGroup returned (if hasSynced
	// since its last JoinGroup): a heartbeat that finds another has the
	// member rejoin.
	synced    consumergroup.Assignment
	hasSynced bool
}

// classicMember returns the state of classic member id, added if new (as
// having synced the assignment it has now: after a coordinator failover,
// a member's first heartbeat is taken to hold what the log says it has).
func (g *group) classicMember(id string) *classicState {
	if g.cg.classic == nil {
		g.cg.classic = map[string]*classicState{}
	}
	cs := g.cg.classic[id]
	if cs == nil {
		cs = &classicState{hasSynced: true}
		if m, ok := g.cg.g.Member(id); ok {
			cs.synced = m.Assigned
		}
		g.cg.classic[id] = cs
	}
	return cs
}

// sameAssignment reports whether a and b hold the same partitions.
func sameAssignment(a, b consumergroup.Assignment) bool {
	if a.Len() != b.Len() {
		return false
	}
	for id, ps := range a {
		if !slices.Equal(ps, b[id]) {
			return false
		}
	}
	return true
}

// classicSync is classicGroupSyncToConsumerGroup, on the locked group.
func (g *group) classicSync(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	out := req.ResponseKind().(*kmsg.SyncGroupResponse)
	m, ok := g.cg.g.Member(req.MemberID)
	switch {
	case g.cg.broken:
		out.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return out
	case !ok:
		out.ErrorCode = kerr.UnknownMemberID.Code
		return out
	case req.InstanceID != nil && m.InstanceID != *req.InstanceID:
		out.ErrorCode = kerr.FencedInstanceID.Code
		return out
	case req.Generation != m.Epoch:
		out.ErrorCode = kerr.IllegalGeneration.Code
		return out
	}
	cs := g.classicMember(m.ID)
	cs.synced, cs.hasSynced = m.Assigned, true
	out.ProtocolType, out.Protocol = req.ProtocolType, req.Protocol
	if out.Protocol == nil && cs.protocol != "" {
		p := cs.protocol
		out.Protocol = &p
	}
	names := map[consumergroup.TopicID]string{}
	for _, t := range g.c.subscribable(ctx) {
		names[t.ID] = t.Name
	}
	var a kmsg.ConsumerMemberAssignment
	for _, id := range sortedIDs(m.Assigned) {
		if name, ok := names[id]; ok {
			a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: name, Partitions: slices.Clone(m.Assigned[id])})
		}
	}
	out.MemberAssignment = a.AppendTo(nil)
	return out
}

// classicHeartbeat is classicGroupHeartbeatToConsumerGroup, on the locked
// group: the member heartbeats with what it owns (what it was given and
// has not yet given up), and is told to rejoin when its epoch moved on or
// it must revoke partitions.
func (g *group) classicHeartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) (int16, <-chan int16) {
	m, ok := g.cg.g.Member(req.MemberID)
	switch {
	case g.cg.broken:
		return kerr.CoordinatorNotAvailable.Code, nil
	case !ok:
		return kerr.UnknownMemberID.Code, nil
	case req.InstanceID != nil && m.InstanceID != *req.InstanceID:
		return kerr.FencedInstanceID.Code, nil
	}
	cs := g.classicMember(m.ID)
	owned := consumergroup.Assignment{}
	for _, a := range []consumergroup.Assignment{m.Assigned, m.PendingRevocation} {
		for id, ps := range a {
			owned[id] = append(owned[id], ps...)
		}
	}
	for id, ps := range owned {
		slices.Sort(ps)
		owned[id] = slices.Compact(ps)
	}
	resp, done := g.consumerHeartbeat(ctx, g.classicHeartbeatReq(m.ID, req.InstanceID, m.Epoch, owned))
	if resp.ErrorCode != 0 {
		return classicCode(resp.ErrorCode), nil
	}
	after, ok := g.cg.g.Member(m.ID)
	if !ok || resp.MemberEpoch != req.Generation || after.PendingRevocation.Len() > 0 ||
		cs.hasSynced && !sameAssignment(cs.synced, after.Assigned) {
		return kerr.RebalanceInProgress.Code, done
	}
	return 0, done
}

// classicLeave is classicGroupLeaveToConsumerGroup for one member, on the
// locked group; memberID "" names the static member by instance ID. It
// returns the error code and, if records must be written first, a channel
// that gets the write's.
func (g *group) classicLeave(memberID string, instanceID *string) (int16, <-chan int16) {
	if memberID == "" && instanceID != nil {
		id, ok := g.cg.g.StaticMember(*instanceID)
		if !ok {
			return kerr.UnknownMemberID.Code, nil
		}
		memberID = id
	}
	m, ok := g.cg.g.Member(memberID)
	switch {
	case g.cg.broken:
		return kerr.CoordinatorNotAvailable.Code, nil
	case !ok:
		return kerr.UnknownMemberID.Code, nil
	case instanceID != nil && m.InstanceID != *instanceID:
		return kerr.FencedInstanceID.Code, nil
	}
	resp, done := g.consumerHeartbeat(context.Background(), g.classicHeartbeatReq(m.ID, nil, consumergroup.LeaveEpoch, nil))
	delete(g.cg.classic, m.ID)
	g.c.log.Info("classic member left the consumer group", "group", g.id, "member", m.ID)
	return classicCode(resp.ErrorCode), done
}

// upgradeToConsumer is Kafka's convertToConsumerGroup, for a
// ConsumerGroupHeartbeat joining a classic group with members: a Stable
// classic group of protocol type consumer, with no member being admitted,
// whose members' subscriptions and assignments parse, becomes a consumer
// group at its generation whose members are the classic ones, keeping
// their assignments (which are the target assignment). It returns the
// group and the records that build it, or false, changing nothing.
func (g *group) upgradeToConsumer(ctx context.Context) (*consumergroup.Group, []consumergroup.Record, bool) {
	if g.isShare() || g.protocolType != "consumer" || g.state != stateStable || len(g.pending) > 0 ||
		len(g.members) == 0 || g.c.cfg.Consumer.MaxSize > 0 && len(g.members) > g.c.cfg.Consumer.MaxSize {
		return nil, nil, false
	}
	cg, err := g.c.newConsumerGroup(g.id)
	if err != nil {
		return nil, nil, false
	}
	meta := g.c.subscribable(ctx)
	gen := g.generation
	recs := []consumergroup.Record{consumergroup.GroupEpochRecord{Epoch: gen}}
	for _, m := range g.sortedMembers() {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadata(g.protocol)); err != nil {
			return nil, nil, false
		}
		var ma kmsg.ConsumerMemberAssignment
		if len(m.assignment) > 0 {
			if err := ma.ReadFrom(m.assignment); err != nil {
				return nil, nil, false
			}
		}
		assigned := consumergroup.Assignment{}
		epochs := map[consumergroup.TopicID]map[int32]int32{}
		for _, t := range ma.Topics {
			tm, ok := meta[t.Topic]
			if !ok || len(t.Partitions) == 0 {
				continue
			}
			ps := append(slices.Clone(assigned[tm.ID]), t.Partitions...)
			slices.Sort(ps)
			assigned[tm.ID] = slices.Compact(ps)
			epochs[tm.ID] = map[int32]int32{}
			for _, p := range assigned[tm.ID] {
				epochs[tm.ID][p] = gen
			}
		}
		topics := slices.Clone(md.Topics)
		slices.Sort(topics)
		topics = slices.Compact(topics)
		sub := consumergroup.MemberSubscriptionRecord{MemberID: m.id, ClientID: m.clientID, ClientHost: m.clientHost,
			SubscribedTopicNames: topics, RebalanceTimeoutMs: int32(m.rebalance / time.Millisecond)}
		if m.instanceID != nil {
			sub.InstanceID = *m.instanceID
		}
		recs = append(recs, sub,
			consumergroup.TargetAssignmentMemberRecord{MemberID: m.id, Partitions: assigned},
			consumergroup.CurrentAssignmentRecord{MemberID: m.id, MemberEpoch: gen, PreviousMemberEpoch: gen,
				State: consumergroup.MemberStable, AssignedPartitions: assigned, AssignedEpochs: epochs})
	}
	recs = append(recs, consumergroup.TargetAssignmentMetadataRecord{AssignmentEpoch: gen})
	for _, r := range recs {
		if err := cg.Replay(r); err != nil {
			g.c.log.Warn("classic group not converted to a consumer group", "group", g.id, "err", err)
			return nil, nil, false
		}
	}
	return cg, recs, true
}

// upgraded ends the classic side of a group upgradeToConsumer converted:
// its members go on as classic members of the consumer group.
func (g *group) upgraded() {
	for _, m := range g.sortedMembers() {
		cs := g.classicMember(m.id)
		cs.protocol = g.protocol
		g.remove(m.id)
	}
	g.state = stateEmpty // as a consumer group converted offline
}
