package sharegroup

import (
	"slices"
	"strings"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client is what the broker knows of the connection a request came on:
// the client ID of the request header and the client's address.
type Client = consumergroup.Client

// Heartbeat handles a ShareGroupHeartbeat request at time now, with the
// cluster's topics as the caller knows them then (leaving out the topics
// members may not see: internal and unauthorized ones).
//
// It returns the response and the records of the state changes, which it
// has applied: the caller persists them, in order, before it sends the
// response. A refused request changes nothing; it returns a response with
// the error code and message, nil records and an error that errors.Is
// matches against the kerr error. An UNKNOWN_SERVER_ERROR is a bug that
// left the group unlike its records: the caller discards the group and
// replays its records into a new one.
func (g *Group) Heartbeat(now time.Time, client Client, req *kmsg.ShareGroupHeartbeatRequest, topics consumergroup.TopicMetadata) (*kmsg.ShareGroupHeartbeatResponse, []Record, error) {
	h := &heartbeat{g: g, now: now, client: client, req: req, topics: topics}
	h.resp = kmsg.NewPtrShareGroupHeartbeatResponse()
	h.resp.Version = req.Version
	if err := h.run(); err != nil {
		code, msg := responseError(err)
		resp := kmsg.NewPtrShareGroupHeartbeatResponse()
		resp.Version = req.Version
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		return resp, nil, err
	}
	return h.resp, h.records, nil
}

// heartbeat is one Heartbeat call: it refuses the request, if it must,
// before it changes anything; every change is then a record it applies
// and keeps.
type heartbeat struct {
	g       *Group
	now     time.Time
	client  Client
	req     *kmsg.ShareGroupHeartbeatRequest
	topics  consumergroup.TopicMetadata
	resp    *kmsg.ShareGroupHeartbeatResponse
	records []Record
}

func (h *heartbeat) emit(r Record) error {
	if err := h.g.apply(r); err != nil {
		return bug(err)
	}
	h.records = append(h.records, r)
	return nil
}

func (h *heartbeat) run() error {
	if err := h.validate(); err != nil {
		return err
	}
	if h.req.MemberEpoch == LeaveEpoch {
		return h.leave()
	}
	return h.join()
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// validate is Kafka's throwIfShareGroupHeartbeatRequestIsInvalid.
func (h *heartbeat) validate() error {
	req := h.req
	invalid := func(msg string, args ...any) error { return newError(kerr.InvalidRequest, msg, args...) }
	switch {
	case blank(req.MemberID):
		return invalid("MemberId can't be empty.")
	case blank(req.GroupID):
		return invalid("GroupId can't be empty.")
	case req.GroupID != h.g.id:
		return invalid("GroupId %s is not the group %s.", req.GroupID, h.g.id)
	case req.RackID != nil && blank(*req.RackID):
		return invalid("RackId can't be empty.")
	case req.MemberEpoch == JoinEpoch && len(req.SubscribedTopicNames) == 0:
		return invalid("SubscribedTopicNames must be set in first request.")
	case req.MemberEpoch < LeaveEpoch:
		return invalid("MemberEpoch is invalid.")
	}
	return nil
}

// join handles a heartbeat that is not a leave (Kafka's
// shareGroupHeartbeat): (1) the member is created or updated, and the
// group epoch bumped if its subscription or the subscribed topics
// changed; (2) the target assignment is recomputed if the group epoch
// moved past it; (3) the member takes its target assignment at the
// assignment epoch, at once: share groups have no revocation step.
func (h *heartbeat) join() error {
	g, req := h.g, h.req
	old := g.members[req.MemberID]
	if old == nil {
		if req.MemberEpoch != JoinEpoch {
			return newError(kerr.UnknownMemberID, "Member %s is not a member of group %s.", req.MemberID, g.id)
		}
		if g.cfg.MaxSize > 0 && len(g.members) >= g.cfg.MaxSize {
			return newError(kerr.GroupMaxSizeReached, "The share group has reached its maximum capacity of %d members.", g.cfg.MaxSize)
		}
	} else if err := checkEpoch(old, req.MemberEpoch); err != nil {
		return err
	}

	// Nothing refuses the request from here on.
	base := old
	if base == nil {
		base = &Member{ID: req.MemberID}
		g.log.Info("member joins", "member", req.MemberID, "client", h.client.ID)
	}
	before := base.Assigned
	upd := base.clone()
	if req.RackID != nil {
		upd.RackID = *req.RackID
	}
	if req.SubscribedTopicNames != nil {
		upd.SubscribedTopicNames = sortedNames(req.SubscribedTopicNames)
	}
	upd.ClientID, upd.ClientHost = h.client.ID, h.client.Host
	bump := g.epoch == 0 || !slices.Equal(base.SubscribedTopicNames, upd.SubscribedTopicNames)
	if old == nil || !sameSubscription(base, &upd) {
		if err := h.emit(subscriptionRecord(&upd)); err != nil {
			return err
		}
	}
	if meta := g.subscribedTopics(h.topics); !sameTopics(meta, g.subMeta) {
		if err := h.emit(SubscriptionMetadataRecord{Topics: topicList(meta)}); err != nil {
			return err
		}
		bump = true
	}
	if bump {
		if err := h.emit(GroupEpochRecord{Epoch: g.epoch + 1}); err != nil {
			return err
		}
	}
	if g.epoch > g.assignmentEpoch {
		if err := g.assign(h.emit); err != nil {
			return err
		}
	}

	// Kafka's ShareGroupAssignmentBuilder: the member moves to the
	// target epoch with its target partitions.
	m := g.members[req.MemberID]
	if target := g.target[m.ID]; m.Epoch != g.assignmentEpoch || !m.Assigned.Equal(target) {
		next := m.clone()
		next.PreviousEpoch, next.Epoch, next.Assigned = m.Epoch, g.assignmentEpoch, target.Clone()
		if err := h.emit(assignmentRecord(&next)); err != nil {
			return err
		}
	}
	g.sessions[m.ID] = h.now.Add(g.cfg.SessionTimeout)

	h.resp.MemberID = kmsg.StringPtr(m.ID)
	h.resp.MemberEpoch = m.Epoch
	h.resp.HeartbeatIntervalMillis = int32(g.cfg.HeartbeatInterval / time.Millisecond)
	if req.MemberEpoch == JoinEpoch || !before.Equal(m.Assigned) {
		h.resp.Assignment = responseAssignment(m.Assigned)
	}
	return nil
}

// checkEpoch is Kafka's throwIfShareGroupMemberEpochIsInvalid: a member
// sends its epoch or, if the response that bumped it was lost, its
// previous one. Epoch 0 is the member rejoining with its member ID after
// an error, which this package accepts (see the package doc).
func checkEpoch(m *Member, epoch int32) error {
	switch {
	case epoch == JoinEpoch:
		return nil
	case epoch > m.Epoch:
		return newError(kerr.FencedMemberEpoch, "The share group member has a greater member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", epoch, m.Epoch)
	case epoch < m.Epoch && epoch != m.PreviousEpoch:
		return newError(kerr.FencedMemberEpoch, "The share group member has a smaller member epoch (%d) than the one known by the group coordinator (%d), and it does not match the previous member epoch (%d). The member must abandon all its partitions and rejoin.", epoch, m.Epoch, m.PreviousEpoch)
	}
	return nil
}

// leave handles epoch -1 (Kafka's shareGroupLeave).
func (h *heartbeat) leave() error {
	g, req := h.g, h.req
	if g.members[req.MemberID] == nil {
		return newError(kerr.UnknownMemberID, "Member %s is not a member of group %s.", req.MemberID, g.id)
	}
	h.resp.MemberID = kmsg.StringPtr(req.MemberID)
	h.resp.MemberEpoch = LeaveEpoch
	g.log.Info("member leaves", "member", req.MemberID)
	return g.fence(h.emit, req.MemberID)
}

// fence removes a member (Kafka's shareGroupFenceMember): its records are
// deleted, the subscription metadata loses the topics no one else
// subscribes to, and the group epoch is bumped so that the next heartbeat
// reassigns.
func (g *Group) fence(emit func(Record) error, id string) error {
	for _, r := range []Record{
		CurrentAssignmentRecord{MemberID: id, Tombstone: true},
		TargetAssignmentMemberRecord{MemberID: id, Tombstone: true},
		MemberSubscriptionRecord{MemberID: id, Tombstone: true},
	} {
		if err := emit(r); err != nil {
			return err
		}
	}
	// Without topics at hand, the remaining subscribed topics keep the
	// metadata they have; the next heartbeat refreshes it.
	kept := make(map[string]consumergroup.Topic, len(g.subMeta))
	for name, t := range g.subMeta {
		if g.nameCount[name] > 0 {
			kept[name] = t
		}
	}
	if len(kept) != len(g.subMeta) {
		if err := emit(SubscriptionMetadataRecord{Topics: topicList(kept)}); err != nil {
			return err
		}
	}
	if err := emit(GroupEpochRecord{Epoch: g.epoch + 1}); err != nil {
		return err
	}
	// An empty group has nothing to assign: the assignment epoch follows.
	if len(g.members) == 0 {
		return emit(TargetAssignmentMetadataRecord{AssignmentEpoch: g.epoch})
	}
	return nil
}

// subscribedTopics returns the subscribed topics that exist, with at least
// one partition.
func (g *Group) subscribedTopics(topics consumergroup.TopicMetadata) map[string]consumergroup.Topic {
	meta := make(map[string]consumergroup.Topic, len(g.nameCount))
	for name := range g.nameCount {
		if t, ok := topics[name]; ok && t.Partitions > 0 {
			t.Name = name
			meta[name] = t
		}
	}
	return meta
}

func sameTopics(a, b map[string]consumergroup.Topic) bool {
	if len(a) != len(b) {
		return false
	}
	for name, t := range a {
		if u, ok := b[name]; !ok || u != t {
			return false
		}
	}
	return true
}

func topicList(meta map[string]consumergroup.Topic) []consumergroup.Topic {
	out := make([]consumergroup.Topic, 0, len(meta))
	for _, name := range sortedIDs(meta) {
		out = append(out, meta[name])
	}
	return out
}

// assign computes the target assignment at the group epoch and writes the
// targets that changed.
func (g *Group) assign(emit func(Record) error) error {
	spec := g.groupSpec()
	out := g.cfg.Assignor.Assign(spec)
	for _, id := range sortedIDs(spec.Members) {
		a := keepSubscribed(spec, id, out[id])
		if old, ok := g.target[id]; !ok || !old.Equal(a) {
			if err := emit(TargetAssignmentMemberRecord{MemberID: id, Partitions: a}); err != nil {
				return err
			}
		}
	}
	if err := emit(TargetAssignmentMetadataRecord{AssignmentEpoch: g.epoch}); err != nil {
		return err
	}
	g.log.Info("computed target assignment", "epoch", g.epoch, "assignor", g.cfg.Assignor.Name(), "members", len(spec.Members))
	return nil
}

// keepSubscribed is the part of an assignor's result for a member that is
// valid: partitions that exist of topics the member subscribes to.
func keepSubscribed(spec consumergroup.GroupSpec, id string, a consumergroup.Assignment) consumergroup.Assignment {
	m := spec.Members[id]
	var out consumergroup.Assignment
	for t, ps := range a.Clone() {
		if _, ok := slices.BinarySearchFunc(m.Topics, t, compareTopicIDs); !ok {
			continue
		}
		n := spec.Topics[t]
		kept := slices.DeleteFunc(ps, func(p int32) bool { return p < 0 || p >= n })
		if len(kept) > 0 {
			if out == nil {
				out = make(consumergroup.Assignment)
			}
			out[t] = kept
		}
	}
	return out
}

// groupSpec is the assignor's input.
func (g *Group) groupSpec() consumergroup.GroupSpec {
	spec := consumergroup.GroupSpec{
		Members: make(map[string]consumergroup.MemberSpec, len(g.members)),
		Topics:  make(map[consumergroup.TopicID]int32, len(g.subMeta)),
	}
	for _, t := range g.subMeta {
		spec.Topics[t.ID] = t.Partitions
	}
	for id, m := range g.members {
		var ids []consumergroup.TopicID
		for _, name := range m.SubscribedTopicNames {
			if t, ok := g.subMeta[name]; ok {
				ids = append(ids, t.ID)
			}
		}
		slices.SortFunc(ids, compareTopicIDs)
		spec.Members[id] = consumergroup.MemberSpec{
			RackID:     m.RackID,
			Topics:     slices.Compact(ids),
			Assignment: g.target[id].Clone(),
		}
	}
	return spec
}

// responseAssignment is the assignment as the heartbeat response carries
// it, topics sorted by ID.
func responseAssignment(a consumergroup.Assignment) *kmsg.ShareGroupHeartbeatResponseAssignment {
	ra := kmsg.NewShareGroupHeartbeatResponseAssignment()
	ra.TopicPartitions = make([]kmsg.ShareGroupHeartbeatResponseAssignmentTopicPartition, 0, len(a))
	for _, t := range topicIDs(a) {
		tp := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
		tp.TopicID = t
		tp.Partitions = slices.Clone(a[t])
		ra.TopicPartitions = append(ra.TopicPartitions, tp)
	}
	return &ra
}
