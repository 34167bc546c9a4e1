package consumergroup

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Record is one change of a group's persistent state, as the group
// decided it: the records a call returns, replayed in order with
// [Group.Replay] on a new group, rebuild the state of the group they came
// from. Each record type mirrors one of the key/value pairs Kafka's group
// coordinator writes to __consumer_offsets for a consumer group (the
// ConsumerGroup*Key/Value schemas); a record whose Tombstone is set is the
// key with a null value, and its other fields (but the key's) are zero.
//
// The records are Go values, not a wire format: how they are encoded is up
// to the runtime that persists them.
type Record interface {
	// Key identifies what the record is about within the group. A record
	// replaces the previous record of its key, so that a log compacted
	// by key (keeping the last record of each key, in log order) replays
	// to the same state as the whole log.
	Key() string
	record()
}

// GroupEpochRecord is Kafka's ConsumerGroupMetadataKey/Value: the group
// epoch, bumped on every change of the members or of their subscriptions.
// Its tombstone deletes the group: what remains of it is reset.
type GroupEpochRecord struct {
	// Epoch is the group epoch.
	Epoch int32
	// Tombstone deletes the group.
	Tombstone bool
}

// SubscriptionMetadataRecord is Kafka's ConsumerGroupPartitionMetadataKey/
// Value: the metadata, as of the last heartbeat, of the topics that the
// members subscribe to (by name or by regular expression) and that exist.
type SubscriptionMetadataRecord struct {
	// Topics are sorted by name.
	Topics []Topic
	// Tombstone deletes the subscription metadata.
	Tombstone bool
}

// RegexRecord is Kafka's ConsumerGroupRegularExpressionKey/Value: a
// subscribed regular expression and the topics it resolved to.
type RegexRecord struct {
	// Regex is the regular expression as members sent it (the key).
	Regex string
	// Topics are the names of the topics it matched, sorted.
	Topics []string
	// Tombstone deletes the resolution: no member subscribes to Regex.
	Tombstone bool
}

// MemberSubscriptionRecord is Kafka's ConsumerGroupMemberMetadataKey/
// Value: a member and its subscription. Its tombstone removes the member.
type MemberSubscriptionRecord struct {
	// MemberID is the member (the key).
	MemberID string
	// InstanceID is the static member's instance ID, "" if dynamic.
	InstanceID string
	// RackID is the member's rack, "" if none.
	RackID string
	// ClientID is the client ID of the member's last heartbeat.
	ClientID string
	// ClientHost is the address of the member's last heartbeat.
	ClientHost string
	// SubscribedTopicNames are sorted and distinct.
	SubscribedTopicNames []string
	// SubscribedTopicRegex is "" if the member has no regular expression.
	SubscribedTopicRegex string
	// RebalanceTimeoutMs is the member's rebalance timeout.
	RebalanceTimeoutMs int32
	// ServerAssignor is the assignor the member chose, "" if none.
	ServerAssignor string
	// Tombstone removes the member.
	Tombstone bool
}

// TargetAssignmentMemberRecord is Kafka's
// ConsumerGroupTargetAssignmentMemberKey/Value: the partitions the last
// assignment gave a member.
type TargetAssignmentMemberRecord struct {
	// MemberID is the member (the key).
	MemberID string
	// Partitions is the member's target assignment.
	Partitions Assignment
	// Tombstone deletes the member's target assignment.
	Tombstone bool
}

// TargetAssignmentMetadataRecord is Kafka's
// ConsumerGroupTargetAssignmentMetadataKey/Value: the group epoch the
// target assignment was computed for.
type TargetAssignmentMetadataRecord struct {
	// AssignmentEpoch is the epoch of the target assignment.
	AssignmentEpoch int32
	// Tombstone resets the assignment epoch (the group is deleted).
	Tombstone bool
}

// CurrentAssignmentRecord is Kafka's
// ConsumerGroupCurrentMemberAssignmentKey/Value: a member's epochs,
// reconciliation state and partitions. Its tombstone takes the member's
// partitions away (the member leaves; its subscription tombstone follows).
type CurrentAssignmentRecord struct {
	// MemberID is the member (the key).
	MemberID string
	// MemberEpoch is the epoch the member must send.
	MemberEpoch int32
	// PreviousMemberEpoch is the epoch before the last bump.
	PreviousMemberEpoch int32
	// State is the member's reconciliation state.
	State MemberState
	// AssignedPartitions are the partitions the member was given.
	AssignedPartitions Assignment
	// PartitionsPendingRevocation are the partitions the member must
	// revoke.
	PartitionsPendingRevocation Assignment
	// AssignedEpochs are the assignment epochs of AssignedPartitions
	// (KIP-1251); a partition missing from it was assigned at
	// MemberEpoch.
	AssignedEpochs map[TopicID]map[int32]int32
	// Tombstone takes the member's partitions away.
	Tombstone bool
}

// Key implements [Record].
func (GroupEpochRecord) Key() string { return "metadata" }

// Key implements [Record].
func (SubscriptionMetadataRecord) Key() string { return "partition-metadata" }

// Key implements [Record].
func (r RegexRecord) Key() string { return "regex:" + r.Regex }

// Key implements [Record].
func (r MemberSubscriptionRecord) Key() string { return "member:" + r.MemberID }

// Key implements [Record].
func (r TargetAssignmentMemberRecord) Key() string { return "target:" + r.MemberID }

// Key implements [Record].
func (TargetAssignmentMetadataRecord) Key() string { return "target-metadata" }

// Key implements [Record].
func (r CurrentAssignmentRecord) Key() string { return "current:" + r.MemberID }

func (GroupEpochRecord) record()               {}
func (SubscriptionMetadataRecord) record()     {}
func (RegexRecord) record()                    {}
func (MemberSubscriptionRecord) record()       {}
func (TargetAssignmentMemberRecord) record()   {}
func (TargetAssignmentMetadataRecord) record() {}
func (CurrentAssignmentRecord) record()        {}

// ErrInvalidRecord is wrapped by the errors of [Group.Replay] for records
// that cannot apply to the group's state.
var ErrInvalidRecord = errors.New("consumergroup: invalid record")

func invalidRecord(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidRecord)
}

// Replay applies a record to the group's state, as [Group.Heartbeat] and
// the other calls applied it when they returned it. Replaying on a new
// group the records of every call, in order, rebuilds the state (all but
// the timers: call [Group.ResetTimers] once loaded, as Kafka's onLoaded
// does). Like Kafka, Replay refuses a current assignment that would give a
// partition to two members; a refused record changes nothing.
func (g *Group) Replay(r Record) error {
	return g.apply(r)
}

// apply is the only place the persistent state changes.
func (g *Group) apply(r Record) error {
	switch r := r.(type) {
	case GroupEpochRecord:
		if r.Tombstone {
			g.reset()
			return nil
		}
		g.epoch = r.Epoch

	case SubscriptionMetadataRecord:
		g.subMeta = make(map[string]Topic, len(r.Topics))
		if !r.Tombstone {
			for _, t := range r.Topics {
				g.subMeta[t.Name] = t
			}
		}

	case RegexRecord:
		if r.Regex == "" {
			return invalidRecord("regular expression record without a regular expression")
		}
		if r.Tombstone {
			delete(g.regexes, r.Regex)
			delete(g.compiled, r.Regex)
			return nil
		}
		g.regexes[r.Regex] = normalizeNames(r.Topics)

	case MemberSubscriptionRecord:
		if r.MemberID == "" {
			return invalidRecord("member subscription record without a member ID")
		}
		if r.Tombstone {
			g.removeMember(r.MemberID)
			return nil
		}
		m := g.members[r.MemberID]
		if m == nil {
			m = &Member{ID: r.MemberID}
			g.members[m.ID] = m
		} else {
			g.unindexSubscription(m)
		}
		m.InstanceID = r.InstanceID
		m.RackID = r.RackID
		m.ClientID = r.ClientID
		m.ClientHost = r.ClientHost
		m.SubscribedTopicNames = normalizeNames(r.SubscribedTopicNames)
		m.SubscribedTopicRegex = r.SubscribedTopicRegex
		m.RebalanceTimeout = time.Duration(r.RebalanceTimeoutMs) * time.Millisecond
		m.ServerAssignor = r.ServerAssignor
		g.indexSubscription(m)

	case TargetAssignmentMemberRecord:
		if r.MemberID == "" {
			return invalidRecord("target assignment record without a member ID")
		}
		if r.Tombstone {
			delete(g.target, r.MemberID)
			return nil
		}
		g.target[r.MemberID] = r.Partitions.Clone()

	case TargetAssignmentMetadataRecord:
		if r.Tombstone {
			g.assignmentEpoch = 0
			return nil
		}
		g.assignmentEpoch = r.AssignmentEpoch

	case CurrentAssignmentRecord:
		if r.MemberID == "" {
			return invalidRecord("current assignment record without a member ID")
		}
		return g.applyCurrentAssignment(r)

	default:
		return invalidRecord("unknown record type %T", r)
	}
	return nil
}

func (g *Group) applyCurrentAssignment(r CurrentAssignmentRecord) error {
	m := g.members[r.MemberID]
	if r.Tombstone {
		// Kafka keeps the member, fenced at epoch -1 without partitions,
		// until its subscription tombstone removes it.
		if m == nil {
			return nil
		}
		g.release(m)
		m.Epoch, m.PreviousEpoch = LeaveEpoch, LeaveEpoch
		m.Assigned, m.AssignedEpochs, m.PendingRevocation = nil, nil, nil
		return nil
	}
	switch r.State {
	case MemberStable, MemberUnrevokedPartitions, MemberUnreleasedPartitions:
	default:
		return invalidRecord("member %s in unknown state %d", r.MemberID, r.State)
	}
	assigned := r.AssignedPartitions.Clone()
	pending := r.PartitionsPendingRevocation.Clone()
	if overlaps(assigned, pending) {
		return invalidRecord("member %s has partitions both assigned and pending revocation", r.MemberID)
	}
	for _, a := range []Assignment{assigned, pending} {
		for t, ps := range a {
			for _, p := range ps {
				if owner, ok := g.owners[t][p]; ok && owner != r.MemberID {
					return invalidRecord("partition %x-%d of member %s is owned by member %s", t, p, r.MemberID, owner)
				}
			}
		}
	}
	if m == nil {
		m = &Member{ID: r.MemberID}
		g.members[m.ID] = m
	} else {
		g.release(m)
	}
	m.Epoch = r.MemberEpoch
	m.PreviousEpoch = r.PreviousMemberEpoch
	m.State = r.State
	m.Assigned = assigned
	m.AssignedEpochs = epochsFor(assigned, r.AssignedEpochs, r.MemberEpoch)
	m.PendingRevocation = pending
	g.claim(m)
	return nil
}

// removeMember drops a member and what the group derived from it.
func (g *Group) removeMember(id string) {
	m := g.members[id]
	if m == nil {
		return
	}
	g.release(m)
	g.unindexSubscription(m)
	delete(g.members, id)
	delete(g.timers, id)
}

// claim records the member as the owner of its partitions.
func (g *Group) claim(m *Member) {
	for _, a := range []Assignment{m.Assigned, m.PendingRevocation} {
		for t, ps := range a {
			os := g.owners[t]
			if os == nil {
				os = make(map[int32]string, len(ps))
				g.owners[t] = os
			}
			for _, p := range ps {
				os[p] = m.ID
			}
		}
	}
}

// release forgets the member as the owner of its partitions.
func (g *Group) release(m *Member) {
	for _, a := range []Assignment{m.Assigned, m.PendingRevocation} {
		for t, ps := range a {
			os := g.owners[t]
			for _, p := range ps {
				if os[p] == m.ID {
					delete(os, p)
				}
			}
			if len(os) == 0 {
				delete(g.owners, t)
			}
		}
	}
}

func (g *Group) indexSubscription(m *Member) {
	for _, n := range m.SubscribedTopicNames {
		g.nameCount[n]++
	}
	if m.SubscribedTopicRegex != "" {
		g.regexCount[m.SubscribedTopicRegex]++
	}
	if m.ServerAssignor != "" {
		g.assignorCount[m.ServerAssignor]++
	}
	if m.InstanceID != "" {
		g.static[m.InstanceID] = m.ID
	}
}

func (g *Group) unindexSubscription(m *Member) {
	decr := func(counts map[string]int, k string) {
		if counts[k]--; counts[k] <= 0 {
			delete(counts, k)
		}
	}
	for _, n := range m.SubscribedTopicNames {
		decr(g.nameCount, n)
	}
	if m.SubscribedTopicRegex != "" {
		decr(g.regexCount, m.SubscribedTopicRegex)
	}
	if m.ServerAssignor != "" {
		decr(g.assignorCount, m.ServerAssignor)
	}
	if m.InstanceID != "" && g.static[m.InstanceID] == m.ID {
		delete(g.static, m.InstanceID)
	}
}

// subscriptionRecord is the member's subscription as a record.
func subscriptionRecord(m *Member) MemberSubscriptionRecord {
	return MemberSubscriptionRecord{
		MemberID:             m.ID,
		InstanceID:           m.InstanceID,
		RackID:               m.RackID,
		ClientID:             m.ClientID,
		ClientHost:           m.ClientHost,
		SubscribedTopicNames: slices.Clone(m.SubscribedTopicNames),
		SubscribedTopicRegex: m.SubscribedTopicRegex,
		RebalanceTimeoutMs:   int32(m.RebalanceTimeout / time.Millisecond),
		ServerAssignor:       m.ServerAssignor,
	}
}

// currentRecord is the member's current assignment as a record.
func currentRecord(m *Member) CurrentAssignmentRecord {
	return CurrentAssignmentRecord{
		MemberID:                    m.ID,
		MemberEpoch:                 m.Epoch,
		PreviousMemberEpoch:         m.PreviousEpoch,
		State:                       m.State,
		AssignedPartitions:          m.Assigned.Clone(),
		PartitionsPendingRevocation: m.PendingRevocation.Clone(),
		AssignedEpochs:              cloneEpochs(m.AssignedEpochs),
	}
}

// Snapshot returns records that rebuild the group's current state on a
// new group, as Kafka's createConsumerGroupRecords: what a runtime writes
// to start a log afresh, for example when it moves a group.
func (g *Group) Snapshot() []Record {
	var rs []Record
	if g.epoch == 0 && g.assignmentEpoch == 0 && len(g.members) == 0 && len(g.subMeta) == 0 && len(g.regexes) == 0 {
		return nil
	}
	rs = append(rs, GroupEpochRecord{Epoch: g.epoch})
	if len(g.subMeta) > 0 {
		rs = append(rs, SubscriptionMetadataRecord{Topics: g.SubscriptionMetadata()})
	}
	for _, re := range sortedKeys(g.regexes) {
		rs = append(rs, RegexRecord{Regex: re, Topics: slices.Clone(g.regexes[re])})
	}
	ids := sortedKeys(g.members)
	for _, id := range ids {
		rs = append(rs, subscriptionRecord(g.members[id]))
	}
	for _, id := range sortedKeys(g.target) {
		rs = append(rs, TargetAssignmentMemberRecord{MemberID: id, Partitions: g.target[id].Clone()})
	}
	rs = append(rs, TargetAssignmentMetadataRecord{AssignmentEpoch: g.assignmentEpoch})
	for _, id := range ids {
		rs = append(rs, currentRecord(g.members[id]))
	}
	return rs
}
