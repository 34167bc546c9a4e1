package consumergroup

import (
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client is what the broker knows of the connection a request came on: the
// client ID of the request header and the client's address.
type Client struct {
	// ID is the client ID of the request header.
	ID string
	// Host is the client's address, as Kafka shows it ("/10.0.0.1").
	Host string
}

// Heartbeat handles a ConsumerGroupHeartbeat request at time now, with the
// cluster's topics as the caller knows them then (topics the caller does
// not want members to see, such as unauthorized ones, must be left out).
//
// It returns the response and the records of the state changes, which it
// has applied to the group: the caller persists them, in order, before it
// sends the response. A refused request (the response carries the error
// code and message) changes nothing and returns a nil slice of records and
// an error that errors.Is matches against the kerr error. An internal
// error (UNKNOWN_SERVER_ERROR) means a bug left the group's state unlike
// what its records say: the caller must discard the group and replay its
// records into a new one.
//
// The request's Version matters: from v1 (KIP-1082) the member generates
// its member ID and may subscribe with a regular expression; a v0 join
// with an empty member ID gets one from [Config.NewMemberID].
func (g *Group) Heartbeat(now time.Time, client Client, req *kmsg.ConsumerGroupHeartbeatRequest, topics TopicMetadata) (*kmsg.ConsumerGroupHeartbeatResponse, []Record, error) {
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.Version = req.Version
	h := &heartbeat{g: g, now: now, client: client, req: req, topics: topics, resp: resp}
	if err := h.run(); err != nil {
		code, msg := codeAndMessage(err)
		*resp = kmsg.NewConsumerGroupHeartbeatResponse()
		resp.Version = req.Version
		resp.ErrorCode = code
		resp.ErrorMessage = &msg
		return resp, nil, err
	}
	return resp, h.records, nil
}

// heartbeat is one Heartbeat call. It decides everything that can refuse
// the request before it changes anything; from then on, every change is a
// record it applies (emit) and returns.
type heartbeat struct {
	g       *Group
	now     time.Time
	client  Client
	req     *kmsg.ConsumerGroupHeartbeatRequest
	topics  TopicMetadata
	resp    *kmsg.ConsumerGroupHeartbeatResponse
	regex   *string // the request's regular expression, nil if none (always on v0)
	records []Record
}

func (h *heartbeat) emit(r Record) error {
	if err := h.g.apply(r); err != nil {
		return internalError(err)
	}
	h.records = append(h.records, r)
	return nil
}

func (h *heartbeat) run() error {
	if err := h.validate(); err != nil {
		return err
	}
	if h.req.MemberEpoch == LeaveEpoch || h.req.MemberEpoch == StaticLeaveEpoch {
		return h.leave()
	}
	return h.join()
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// validate is Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid, in
// its order, plus the syntax of a regular expression.
func (h *heartbeat) validate() error {
	req, g := h.req, h.g
	if req.Version >= 1 {
		h.regex = req.SubscribedTopicRegex
	}
	invalid := func(msg string, args ...any) error { return refuse(kerr.InvalidRequest, msg, args...) }
	if (req.Version >= 1 || req.MemberEpoch > 0 || req.MemberEpoch == LeaveEpoch) && blank(req.MemberID) {
		return invalid("MemberId can't be empty.")
	}
	if blank(req.Group) {
		return invalid("GroupId can't be empty.")
	}
	if req.Group != g.id {
		return invalid("GroupId %s is not the group %s.", req.Group, g.id)
	}
	if req.InstanceID != nil && blank(*req.InstanceID) {
		return invalid("InstanceId can't be empty.")
	}
	if req.RackID != nil && blank(*req.RackID) {
		return invalid("RackId can't be empty.")
	}
	switch epoch := req.MemberEpoch; {
	case epoch == JoinEpoch:
		if req.RebalanceTimeoutMillis == -1 {
			return invalid("RebalanceTimeoutMs must be provided in first request.")
		}
		if req.Topics == nil || len(req.Topics) > 0 {
			return invalid("TopicPartitions must be empty when (re-)joining.")
		}
		if req.SubscribedTopicNames == nil && h.regex == nil {
			return invalid("Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
		}
	case epoch == StaticLeaveEpoch:
		if req.InstanceID == nil {
			return invalid("InstanceId can't be null.")
		}
	case epoch < StaticLeaveEpoch:
		return invalid("MemberEpoch is invalid.")
	}
	// Deviation: Kafka takes any rebalance timeout; a negative one would
	// fence the member as soon as it must revoke.
	if req.RebalanceTimeoutMillis < -1 {
		return invalid("RebalanceTimeoutMs can't be negative.")
	}
	if req.ServerAssignor != nil {
		if _, ok := g.assignors[*req.ServerAssignor]; !ok {
			return refuse(kerr.UnsupportedAssignor, "ServerAssignor %s is not supported. Supported assignors: %s.",
				*req.ServerAssignor, strings.Join(g.assignorNames, ", "))
		}
	}
	if h.regex != nil && *h.regex != "" && req.MemberEpoch >= 0 {
		if _, err := compileRegex(*h.regex); err != nil {
			return &refusal{code: kerr.InvalidRegularExpression, msg: "SubscribedTopicRegex is not a valid regular expression: " + err.Error(), cause: err}
		}
	}
	return nil
}

// join handles a heartbeat that is not a leave: Kafka's
// consumerGroupHeartbeat. (1) The member is created or updated; the group
// epoch is bumped if its subscription changed or if the subscribed topics
// changed. (2) The target assignment is recomputed if the group epoch moved
// past it. (3) The member's current assignment is reconciled with its
// target.
func (h *heartbeat) join() error {
	g, req := h.g, h.req
	memberID := req.MemberID
	owned, ownedKnown := ownedFromRequest(req.Topics)

	if g.cfg.MaxSize > 0 && len(g.members) >= g.cfg.MaxSize && (memberID == "" || g.members[memberID] == nil) && !h.replacesDepartedStatic() {
		return refuse(kerr.GroupMaxSizeReached, "The consumer group has reached its maximum capacity of %d members.", g.cfg.MaxSize)
	}
	if memberID == "" {
		memberID = g.cfg.NewMemberID()
		if blank(memberID) || g.members[memberID] != nil {
			return refuse(kerr.UnknownServerError, "Config.NewMemberID returned the unusable member ID %q.", memberID)
		}
	}
	old, replaced, err := h.findMember(memberID, owned, ownedKnown)
	if err != nil {
		return err
	}

	// The member as it was, and as the request updates it.
	base := old
	switch {
	case replaced != nil:
		base = replacement(replaced, memberID)
	case old == nil:
		base = &Member{ID: memberID}
	}
	before := base.Assigned
	upd := base.clone()
	if req.InstanceID != nil {
		upd.InstanceID = *req.InstanceID
	}
	if req.RackID != nil {
		upd.RackID = *req.RackID
	}
	if req.RebalanceTimeoutMillis != -1 {
		upd.RebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.ServerAssignor != nil {
		upd.ServerAssignor = *req.ServerAssignor
	}
	if req.SubscribedTopicNames != nil {
		upd.SubscribedTopicNames = normalizeNames(req.SubscribedTopicNames)
	}
	if h.regex != nil {
		upd.SubscribedTopicRegex = *h.regex
	}
	upd.ClientID, upd.ClientHost = h.client.ID, h.client.Host
	subscriptionChanged := !slices.Equal(base.SubscribedTopicNames, upd.SubscribedTopicNames) ||
		base.SubscribedTopicRegex != upd.SubscribedTopicRegex

	// Nothing refuses the request from here on.
	if replaced != nil {
		if err := h.replace(replaced, base); err != nil {
			return err
		}
		g.log.Info("static member rejoins, replacing its previous member", "member", memberID, "instance", upd.InstanceID, "replaced", replaced.ID)
	} else if old == nil {
		g.log.Info("member joins", "member", memberID, "instance", upd.InstanceID, "client", upd.ClientID)
	}
	if (old == nil && replaced == nil) || !sameSubscription(base, &upd) {
		if err := h.emit(subscriptionRecord(&upd)); err != nil {
			return err
		}
	}
	// A new group must move away from epoch 0 (Kafka 4.0).
	bump := g.epoch == 0 || subscriptionChanged
	changed, err := h.refreshRegexes()
	if err != nil {
		return err
	}
	bump = bump || changed
	if meta := g.computeSubscriptionMetadata(h.topics); !sameMetadata(meta, g.subMeta) {
		if err := h.emit(SubscriptionMetadataRecord{Topics: sortedTopics(meta)}); err != nil {
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

	m := g.members[memberID]
	next := g.reconcile(m, owned, ownedKnown)
	t := g.timersOf(memberID)
	if !sameAssignmentState(m, &next) {
		if err := h.emit(currentRecord(&next)); err != nil {
			return err
		}
		// Kafka's maybeReconcile: the rebalance timeout runs from the
		// last change of a member that must revoke.
		if next.State == MemberUnrevokedPartitions {
			t.rebalance = h.now.Add(m.RebalanceTimeout)
			t.rebalanceEpoch = next.Epoch
		} else {
			t.rebalance = time.Time{}
		}
	}
	t.session = h.now.Add(g.cfg.SessionTimeout)

	h.resp.MemberID = kmsg.StringPtr(memberID)
	h.resp.MemberEpoch = m.Epoch
	h.resp.HeartbeatIntervalMillis = int32(g.cfg.HeartbeatInterval / time.Millisecond)
	// The assignment is in the response when the member sent a full
	// request (it does when it joins and after errors) or when it
	// changed.
	full := req.MemberEpoch == JoinEpoch ||
		req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || h.regex != nil) && req.Topics != nil
	if full || !before.Equal(m.Assigned) {
		h.resp.Assignment = responseAssignment(m.Assigned)
	}
	return nil
}

// findMember returns the member a (non-leave) heartbeat is from: old if it
// exists, replaced if a static member takes over the instance ID of a
// member that left temporarily, neither if it is new.
func (h *heartbeat) findMember(memberID string, owned Assignment, ownedKnown bool) (old, replaced *Member, err error) {
	g, req := h.g, h.req
	epoch := req.MemberEpoch
	if req.InstanceID == nil {
		old = g.members[memberID]
		if old == nil {
			if epoch != JoinEpoch {
				return nil, nil, refuse(kerr.UnknownMemberID, "Member %s is not a member of group %s.", memberID, g.id)
			}
			return nil, nil, nil
		}
		return old, nil, checkEpoch(old, epoch, owned, ownedKnown)
	}
	instanceID := *req.InstanceID
	holderID, held := g.static[instanceID]
	if epoch != JoinEpoch {
		if !held {
			return nil, nil, refuse(kerr.UnknownMemberID, "Instance id %s is unknown.", instanceID)
		}
		if holderID != memberID {
			return nil, nil, refuse(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", memberID, instanceID, holderID)
		}
		old = g.members[holderID]
		return old, nil, checkEpoch(old, epoch, owned, ownedKnown)
	}
	switch {
	case !held:
		return g.members[memberID], nil, nil
	case holderID == memberID:
		// Deviation: Kafka answers UNRELEASED_INSTANCE_ID unless the
		// member left with epoch -2 first; with member IDs that the
		// consumer keeps for its lifetime (KIP-1082), the same member ID
		// is the same consumer rejoining, as a dynamic member may.
		return g.members[holderID], nil, nil
	}
	holder := g.members[holderID]
	if holder.Epoch != StaticLeaveEpoch {
		return nil, nil, refuse(kerr.UnreleasedInstanceID, "Static member %s with instance id %s cannot join the group because the instance id is owned by %s member.", memberID, instanceID, holderID)
	}
	if g.members[memberID] != nil {
		return nil, nil, refuse(kerr.InvalidRequest, "Member %s is already a member of group %s without instance id %s.", memberID, g.id, instanceID)
	}
	return nil, holder, nil
}

// replacesDepartedStatic reports whether the request is a static member
// taking over from a member that left with epoch -2: it does not make the
// group larger. (Deviation: Kafka refuses it when the group is full.)
func (h *heartbeat) replacesDepartedStatic() bool {
	req := h.req
	if req.InstanceID == nil || req.MemberEpoch != JoinEpoch {
		return false
	}
	holderID, held := h.g.static[*req.InstanceID]
	return held && holderID != req.MemberID && h.g.members[holderID].Epoch == StaticLeaveEpoch
}

// checkEpoch is Kafka's throwIfConsumerGroupMemberEpochIsInvalid: the
// member must send its epoch, or its previous epoch (the response that
// bumped it may have been lost) with partitions it still has. Epoch 0 is
// a member that lost its partitions rejoining with its member ID (as
// Kafka accepts since KAFKA-19233).
func checkEpoch(m *Member, epoch int32, owned Assignment, ownedKnown bool) error {
	switch {
	case epoch == JoinEpoch:
		return nil
	case epoch > m.Epoch:
		return refuse(kerr.FencedMemberEpoch, "The consumer group member has a greater member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", epoch, m.Epoch)
	case epoch < m.Epoch && (epoch != m.PreviousEpoch || !ownedKnown || !subset(owned, m.Assigned)):
		return refuse(kerr.FencedMemberEpoch, "The consumer group member has a smaller member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", epoch, m.Epoch)
	}
	return nil
}

// replacement is the member that takes over a departed static member: a
// copy with the new member ID, at epoch 0, with its partitions.
func replacement(departed *Member, memberID string) *Member {
	c := departed.clone()
	c.ID = memberID
	c.Epoch, c.PreviousEpoch = JoinEpoch, JoinEpoch
	return &c
}

// replace writes the records that replace a departed static member by
// its successor, which keeps its target and current assignments (Kafka's
// replaceMember). The group epoch does not move: the subscription is the
// same.
func (h *heartbeat) replace(departed, successor *Member) error {
	target := h.g.target[departed.ID]
	for _, r := range []Record{
		CurrentAssignmentRecord{MemberID: departed.ID, Tombstone: true},
		TargetAssignmentMemberRecord{MemberID: departed.ID, Tombstone: true},
		MemberSubscriptionRecord{MemberID: departed.ID, Tombstone: true},
		subscriptionRecord(successor),
		TargetAssignmentMemberRecord{MemberID: successor.ID, Partitions: target},
		currentRecord(successor),
	} {
		if err := h.emit(r); err != nil {
			return err
		}
	}
	return nil
}

// leave handles epochs -1 (leave) and -2 (static member leaving for a
// while): Kafka's consumerGroupLeave.
func (h *heartbeat) leave() error {
	g, req := h.g, h.req
	h.resp.MemberID = kmsg.StringPtr(req.MemberID)
	h.resp.MemberEpoch = req.MemberEpoch
	if req.InstanceID == nil {
		m := g.members[req.MemberID]
		if m == nil {
			return refuse(kerr.UnknownMemberID, "Member %s is not a member of group %s.", req.MemberID, g.id)
		}
		g.log.Info("member leaves", "member", m.ID)
		return g.fence(h.emit, m.ID)
	}
	instanceID := *req.InstanceID
	holderID, held := g.static[instanceID]
	if !held {
		return refuse(kerr.UnknownMemberID, "Instance id %s is unknown.", instanceID)
	}
	if holderID != req.MemberID {
		return refuse(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", req.MemberID, instanceID, holderID)
	}
	if req.MemberEpoch == LeaveEpoch {
		g.log.Info("static member leaves", "member", holderID, "instance", instanceID)
		return g.fence(h.emit, holderID)
	}
	// The member keeps its assigned partitions (no one else gets them)
	// until its session expires or its instance ID rejoins; it gives up
	// those it had to revoke.
	m := g.members[holderID]
	away := *m
	away.Epoch = StaticLeaveEpoch
	away.PendingRevocation = nil
	if !sameAssignmentState(m, &away) {
		if err := h.emit(currentRecord(&away)); err != nil {
			return err
		}
	}
	g.timersOf(holderID).rebalance = time.Time{}
	g.log.Info("static member leaves temporarily", "member", holderID, "instance", instanceID)
	h.resp.MemberEpoch = StaticLeaveEpoch
	return nil
}

// fence removes a member (Kafka's consumerGroupFenceMember): its records
// are deleted, the subscription metadata loses the topics no one else
// subscribes to, and the group epoch is bumped so that the next heartbeat
// reassigns its partitions.
func (g *Group) fence(emit func(Record) error, id string) error {
	regex := g.members[id].SubscribedTopicRegex
	rs := []Record{
		CurrentAssignmentRecord{MemberID: id, Tombstone: true},
		TargetAssignmentMemberRecord{MemberID: id, Tombstone: true},
		MemberSubscriptionRecord{MemberID: id, Tombstone: true},
	}
	for _, r := range rs {
		if err := emit(r); err != nil {
			return err
		}
	}
	if _, resolved := g.regexes[regex]; resolved && g.regexCount[regex] == 0 {
		if err := emit(RegexRecord{Regex: regex, Tombstone: true}); err != nil {
			return err
		}
	}
	// Without topics at hand, the metadata of the topics that remain
	// subscribed is kept as it is; the next heartbeat refreshes it.
	names := g.subscribedNames()
	meta := make(map[string]Topic, len(g.subMeta))
	for n, t := range g.subMeta {
		if _, ok := names[n]; ok {
			meta[n] = t
		}
	}
	if len(meta) != len(g.subMeta) {
		if err := emit(SubscriptionMetadataRecord{Topics: sortedTopics(meta)}); err != nil {
			return err
		}
	}
	if err := emit(GroupEpochRecord{Epoch: g.epoch + 1}); err != nil {
		return err
	}
	// An empty group has nothing to assign: its assignment epoch follows
	// its epoch (as Kafka since KAFKA-20442), so it is not Assigning.
	if len(g.members) == 0 {
		return emit(TargetAssignmentMetadataRecord{AssignmentEpoch: g.epoch})
	}
	return nil
}

// refreshRegexes deletes the resolutions of regular expressions no member
// subscribes to any more and resolves, against the heartbeat's topics,
// those new to the group and, every RegexRefreshInterval, all of them. It
// reports whether a resolution changed (the group epoch must move).
func (h *heartbeat) refreshRegexes() (bool, error) {
	g := h.g
	for _, re := range sortedKeys(g.regexes) {
		if g.regexCount[re] == 0 {
			if err := h.emit(RegexRecord{Regex: re, Tombstone: true}); err != nil {
				return false, err
			}
		}
	}
	if len(g.regexCount) == 0 {
		return false, nil
	}
	due := g.regexRefresh.IsZero() || !h.now.Before(g.regexRefresh.Add(g.cfg.RegexRefreshInterval))
	changed := false
	for _, re := range sortedKeys(g.regexCount) {
		old, resolved := g.regexes[re]
		if resolved && !due {
			continue
		}
		topics := g.resolve(re, h.topics)
		if resolved && slices.Equal(old, topics) {
			continue
		}
		if err := h.emit(RegexRecord{Regex: re, Topics: topics}); err != nil {
			return false, err
		}
		changed = true
	}
	if due {
		g.regexRefresh = h.now
	}
	return changed, nil
}

// resolve returns the topics whose whole name the regular expression
// matches, sorted.
func (g *Group) resolve(regex string, topics TopicMetadata) []string {
	re, err := g.compile(regex)
	if err != nil {
		// Only a record written elsewhere can hold a regular expression
		// this group refuses; it matches nothing.
		g.log.Warn("subscribed regular expression does not compile", "regex", regex, "err", err)
		return nil
	}
	var names []string
	for name := range topics {
		if re.MatchString(name) {
			names = append(names, name)
		}
	}
	return normalizeNames(names)
}

// computeSubscriptionMetadata returns the topics a member subscribes to
// that exist, with at least one partition.
func (g *Group) computeSubscriptionMetadata(topics TopicMetadata) map[string]Topic {
	meta := make(map[string]Topic)
	for name := range g.subscribedNames() {
		if t, ok := topics[name]; ok && t.Partitions > 0 {
			t.Name = name
			meta[name] = t
		}
	}
	return meta
}

func sameMetadata(a, b map[string]Topic) bool {
	if len(a) != len(b) {
		return false
	}
	for n, t := range a {
		if u, ok := b[n]; !ok || u != t {
			return false
		}
	}
	return true
}

func sortedTopics(meta map[string]Topic) []Topic {
	ts := make([]Topic, 0, len(meta))
	for _, n := range sortedKeys(meta) {
		ts = append(ts, meta[n])
	}
	return ts
}

// assign computes the target assignment for the group epoch with the
// preferred assignor and writes the target of every member whose target
// changed (Kafka's TargetAssignmentBuilder).
func (g *Group) assign(emit func(Record) error) error {
	name := g.AssignorName()
	spec := g.groupSpec()
	out, dropped := sanitize(spec, g.assignors[name].Assign(spec))
	if dropped > 0 {
		g.log.Warn("assignor assigned partitions it may not; they are left unassigned", "assignor", name, "partitions", dropped)
	}
	for _, id := range sortedKeys(spec.Members) {
		if old, ok := g.target[id]; !ok || !old.Equal(out[id]) {
			if err := emit(TargetAssignmentMemberRecord{MemberID: id, Partitions: out[id]}); err != nil {
				return err
			}
		}
	}
	if err := emit(TargetAssignmentMetadataRecord{AssignmentEpoch: g.epoch}); err != nil {
		return err
	}
	g.log.Info("computed target assignment", "epoch", g.epoch, "assignor", name, "members", len(spec.Members))
	return nil
}

// groupSpec is the assignors' input: every member with the topics it
// subscribes to that exist, and its target assignment.
func (g *Group) groupSpec() GroupSpec {
	spec := GroupSpec{
		Members: make(map[string]MemberSpec, len(g.members)),
		Topics:  make(map[TopicID]int32, len(g.subMeta)),
	}
	for _, t := range g.subMeta {
		spec.Topics[t.ID] = t.Partitions
	}
	for id, m := range g.members {
		var ids []TopicID
		for _, n := range g.effectiveTopics(m) {
			if t, ok := g.subMeta[n]; ok {
				ids = append(ids, t.ID)
			}
		}
		slices.SortFunc(ids, compareIDs)
		spec.Members[id] = MemberSpec{
			InstanceID: m.InstanceID,
			RackID:     m.RackID,
			Topics:     slices.Compact(ids),
			Assignment: g.target[id].Clone(),
		}
	}
	return spec
}
