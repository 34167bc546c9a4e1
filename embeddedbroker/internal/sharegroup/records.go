package sharegroup

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
)

// Record is one change of a share group's persistent state: the records
// the calls return, replayed in order with [Group.Replay] on a new group,
// rebuild the state of the group they came from. Each type mirrors one of
// the ShareGroup*Key/Value pairs Kafka's group coordinator writes to
// __consumer_offsets; a record whose Tombstone is set is the key with a
// null value, and its other fields but the key's are zero.
//
// The records are Go values, not a wire format: the runtime that persists
// them encodes them as it likes.
type Record interface {
	// Key identifies what the record is about within the group: a record
	// replaces the previous record of its key, so that a log compacted by
	// key replays to the state of the whole log.
	Key() string
	isRecord()
}

// GroupEpochRecord is Kafka's ShareGroupMetadataKey/Value: the group
// epoch. Its tombstone deletes the group.
type GroupEpochRecord struct {
	// Epoch is the group epoch.
	Epoch int32
	// Tombstone deletes the group.
	Tombstone bool
}

// SubscriptionMetadataRecord is Kafka's ShareGroupPartitionMetadataKey/
// Value: the topics members subscribe to that exist, as of the last
// heartbeat.
type SubscriptionMetadataRecord struct {
	// Topics are sorted by name.
	Topics []consumergroup.Topic
	// Tombstone deletes the metadata.
	Tombstone bool
}

// MemberSubscriptionRecord is Kafka's ShareGroupMemberMetadataKey/Value: a
// member and its subscription. Its tombstone removes the member.
type MemberSubscriptionRecord struct {
	// MemberID is the member (the key).
	MemberID string
	// RackID is "" if none.
	RackID string
	// ClientID is the client ID of the member's last heartbeat.
	ClientID string
	// ClientHost is the address of the member's last heartbeat.
	ClientHost string
	// SubscribedTopicNames are sorted and distinct.
	SubscribedTopicNames []string
	// Tombstone removes the member.
	Tombstone bool
}

// TargetAssignmentMemberRecord is Kafka's
// ShareGroupTargetAssignmentMemberKey/Value: a member's target assignment.
type TargetAssignmentMemberRecord struct {
	// MemberID is the member (the key).
	MemberID string
	// Partitions are the member's target partitions.
	Partitions consumergroup.Assignment
	// Tombstone deletes the member's target.
	Tombstone bool
}

// TargetAssignmentMetadataRecord is Kafka's
// ShareGroupTargetAssignmentMetadataKey/Value: the group epoch the target
// assignment was computed at.
type TargetAssignmentMetadataRecord struct {
	// AssignmentEpoch is the epoch of the target assignment.
	AssignmentEpoch int32
	// Tombstone resets it (the group is deleted).
	Tombstone bool
}

// CurrentAssignmentRecord is Kafka's
// ShareGroupCurrentMemberAssignmentKey/Value: a member's epochs and
// partitions. Its tombstone takes the member's partitions away (the
// subscription tombstone that follows removes the member).
type CurrentAssignmentRecord struct {
	// MemberID is the member (the key).
	MemberID string
	// MemberEpoch is the member's epoch.
	MemberEpoch int32
	// PreviousMemberEpoch is the epoch before the last bump.
	PreviousMemberEpoch int32
	// AssignedPartitions are the member's partitions.
	AssignedPartitions consumergroup.Assignment
	// Tombstone takes the member's partitions away.
	Tombstone bool
}

// Key implements [Record].
func (GroupEpochRecord) Key() string { return "metadata" }

// Key implements [Record].
func (SubscriptionMetadataRecord) Key() string { return "partition-metadata" }

// Key implements [Record].
func (r MemberSubscriptionRecord) Key() string { return "member:" + r.MemberID }

// Key implements [Record].
func (r TargetAssignmentMemberRecord) Key() string { return "target:" + r.MemberID }

// Key implements [Record].
func (TargetAssignmentMetadataRecord) Key() string { return "target-metadata" }

// Key implements [Record].
func (r CurrentAssignmentRecord) Key() string { return "current:" + r.MemberID }

func (GroupEpochRecord) isRecord()               {}
func (SubscriptionMetadataRecord) isRecord()     {}
func (MemberSubscriptionRecord) isRecord()       {}
func (TargetAssignmentMemberRecord) isRecord()   {}
func (TargetAssignmentMetadataRecord) isRecord() {}
func (CurrentAssignmentRecord) isRecord()        {}

// ErrInvalidRecord is wrapped by the errors of [Group.Replay] for records
// that cannot apply.
var ErrInvalidRecord = errors.New("sharegroup: invalid record")

// Replay applies a record to the group, as the call that returned it
// applied it. Replaying on a new group the records of every call, in
// order, rebuilds the state but the session deadlines: call
// [Group.ResetTimers] once loaded. A refused record changes nothing.
func (g *Group) Replay(r Record) error {
	return g.apply(r)
}

// apply is the only place the persistent state changes.
func (g *Group) apply(r Record) error {
	switch r := r.(type) {
	case GroupEpochRecord:
		if r.Tombstone {
			g.clear()
		} else {
			g.epoch = r.Epoch
		}
	case SubscriptionMetadataRecord:
		g.subMeta = make(map[string]consumergroup.Topic, len(r.Topics))
		for _, t := range r.Topics {
			g.subMeta[t.Name] = t
		}
	case MemberSubscriptionRecord:
		if r.MemberID == "" {
			return fmt.Errorf("member record without a member ID: %w", ErrInvalidRecord)
		}
		m := g.members[r.MemberID]
		if r.Tombstone {
			if m != nil {
				g.count(m, -1)
				delete(g.members, r.MemberID)
				delete(g.sessions, r.MemberID)
			}
			return nil
		}
		if m == nil {
			m = &Member{ID: r.MemberID}
			g.members[m.ID] = m
		} else {
			g.count(m, -1)
		}
		m.RackID, m.ClientID, m.ClientHost = r.RackID, r.ClientID, r.ClientHost
		m.SubscribedTopicNames = sortedNames(r.SubscribedTopicNames)
		g.count(m, +1)
	case TargetAssignmentMemberRecord:
		if r.MemberID == "" {
			return fmt.Errorf("target record without a member ID: %w", ErrInvalidRecord)
		}
		if r.Tombstone {
			delete(g.target, r.MemberID)
		} else {
			g.target[r.MemberID] = r.Partitions.Clone()
		}
	case TargetAssignmentMetadataRecord:
		g.assignmentEpoch = r.AssignmentEpoch
	case CurrentAssignmentRecord:
		if r.MemberID == "" {
			return fmt.Errorf("current assignment record without a member ID: %w", ErrInvalidRecord)
		}
		m := g.members[r.MemberID]
		if m == nil {
			if r.Tombstone {
				return nil
			}
			m = &Member{ID: r.MemberID}
			g.members[m.ID] = m
		}
		if r.Tombstone {
			m.Epoch, m.PreviousEpoch, m.Assigned = LeaveEpoch, LeaveEpoch, nil
			return nil
		}
		m.Epoch, m.PreviousEpoch = r.MemberEpoch, r.PreviousMemberEpoch
		m.Assigned = r.AssignedPartitions.Clone()
	default:
		return fmt.Errorf("unknown record type %T: %w", r, ErrInvalidRecord)
	}
	return nil
}

// count adds delta to the subscriber counts of the member's topics.
func (g *Group) count(m *Member, delta int) {
	for _, n := range m.SubscribedTopicNames {
		if g.nameCount[n] += delta; g.nameCount[n] <= 0 {
			delete(g.nameCount, n)
		}
	}
}

func subscriptionRecord(m *Member) MemberSubscriptionRecord {
	return MemberSubscriptionRecord{
		MemberID:             m.ID,
		RackID:               m.RackID,
		ClientID:             m.ClientID,
		ClientHost:           m.ClientHost,
		SubscribedTopicNames: slices.Clone(m.SubscribedTopicNames),
	}
}

func assignmentRecord(m *Member) CurrentAssignmentRecord {
	return CurrentAssignmentRecord{
		MemberID:            m.ID,
		MemberEpoch:         m.Epoch,
		PreviousMemberEpoch: m.PreviousEpoch,
		AssignedPartitions:  m.Assigned.Clone(),
	}
}

// Snapshot returns records that rebuild the group's state at once on a
// new group (Kafka's createShareGroupRecords), nil for a group that has
// never had a member.
func (g *Group) Snapshot() []Record {
	if g.epoch == 0 && g.assignmentEpoch == 0 && len(g.members) == 0 && len(g.subMeta) == 0 {
		return nil
	}
	rs := []Record{GroupEpochRecord{Epoch: g.epoch}}
	if len(g.subMeta) > 0 {
		rs = append(rs, SubscriptionMetadataRecord{Topics: g.SubscriptionMetadata()})
	}
	ids := sortedIDs(g.members)
	for _, id := range ids {
		rs = append(rs, subscriptionRecord(g.members[id]))
	}
	for _, id := range sortedIDs(g.target) {
		rs = append(rs, TargetAssignmentMemberRecord{MemberID: id, Partitions: g.target[id].Clone()})
	}
	rs = append(rs, TargetAssignmentMetadataRecord{AssignmentEpoch: g.assignmentEpoch})
	for _, id := range ids {
		rs = append(rs, assignmentRecord(g.members[id]))
	}
	return rs
}
