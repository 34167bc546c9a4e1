package consumergroup

import (
	"maps"
	"slices"
	"time"
)

// Member epochs with a meaning of their own in ConsumerGroupHeartbeat.
const (
	// JoinEpoch is the epoch a member sends to join or rejoin the group.
	JoinEpoch int32 = 0
	// LeaveEpoch is the epoch a member sends to leave the group.
	LeaveEpoch int32 = -1
	// StaticLeaveEpoch is the epoch a static member sends to leave the
	// group temporarily: it keeps its partitions until its session
	// expires, and its instance ID may rejoin with another member ID and
	// get them back.
	StaticLeaveEpoch int32 = -2
)

// MemberState is where a member is in the reconciliation of its current
// assignment with its target assignment: Kafka's MemberState, with the
// values Kafka's records store.
type MemberState int8

const (
	// MemberStable is a member whose assignment is its target assignment
	// as of its epoch; if the target moved on, its next heartbeat moves it.
	MemberStable MemberState = 0
	// MemberUnrevokedPartitions is a member that must revoke partitions
	// (they are left out of its assignment in the response) before it
	// moves to the target epoch and gets new partitions.
	MemberUnrevokedPartitions MemberState = 1
	// MemberUnreleasedPartitions is a member at the target epoch that
	// waits for partitions of its target that other members still own.
	MemberUnreleasedPartitions MemberState = 2
)

// String returns Kafka's name of the state.
func (s MemberState) String() string {
	switch s {
	case MemberStable:
		return "STABLE"
	case MemberUnrevokedPartitions:
		return "UNREVOKED_PARTITIONS"
	case MemberUnreleasedPartitions:
		return "UNRELEASED_PARTITIONS"
	default:
		return "UNKNOWN"
	}
}

// Member is a copy of one member's state.
type Member struct {
	// ID is the member ID.
	ID string
	// InstanceID is the static member's group.instance.id, "" for a
	// dynamic member.
	InstanceID string
	// RackID is "" if the member did not give one.
	RackID string
	// ClientID is the client ID of the member's last heartbeat.
	ClientID string
	// ClientHost is the address of the member's last heartbeat.
	ClientHost string
	// SubscribedTopicNames is sorted and distinct.
	SubscribedTopicNames []string
	// SubscribedTopicRegex is "" if the member does not subscribe by
	// regular expression.
	SubscribedTopicRegex string
	// ServerAssignor is the assignor the member asked for, "" if none.
	ServerAssignor string
	// RebalanceTimeout is how long the member may take to revoke
	// partitions before it is removed.
	RebalanceTimeout time.Duration

	// Epoch is the member epoch the member must send in its next
	// heartbeat; [StaticLeaveEpoch] while a static member is away.
	Epoch int32
	// PreviousEpoch is the epoch before the last bump, which the member
	// may still send if the response with the bump was lost.
	PreviousEpoch int32
	// State is where the member is in its reconciliation.
	State MemberState
	// Assigned are the partitions the member owns or may own now: those
	// the last response gave it.
	Assigned Assignment
	// AssignedEpochs is, for each partition of Assigned, the member epoch
	// at which the member was given it (KIP-1251's assignment epochs):
	// an offset commit at an older member epoch is still the member's
	// for the partitions it has had since then (see [Group.CheckCommit]).
	AssignedEpochs map[TopicID]map[int32]int32
	// PendingRevocation are the partitions the member owns and must
	// revoke; no other member gets them before it does.
	PendingRevocation Assignment
}

// clone returns a deep copy. The group's own members are never modified
// in place: their Assignment maps and topic slices are replaced.
func (m *Member) clone() Member {
	c := *m
	c.SubscribedTopicNames = slices.Clone(m.SubscribedTopicNames)
	c.Assigned = m.Assigned.Clone()
	c.AssignedEpochs = cloneEpochs(m.AssignedEpochs)
	c.PendingRevocation = m.PendingRevocation.Clone()
	return c
}

func cloneEpochs(e map[TopicID]map[int32]int32) map[TopicID]map[int32]int32 {
	if e == nil {
		return nil
	}
	c := make(map[TopicID]map[int32]int32, len(e))
	for t, ps := range e {
		c[t] = maps.Clone(ps)
	}
	return c
}

// epochsFor returns the assignment epochs of a, taking those of the
// partitions in prev and giving the others epoch.
func epochsFor(a Assignment, prev map[TopicID]map[int32]int32, epoch int32) map[TopicID]map[int32]int32 {
	if len(a) == 0 {
		return nil
	}
	out := make(map[TopicID]map[int32]int32, len(a))
	for t, ps := range a {
		m := make(map[int32]int32, len(ps))
		for _, p := range ps {
			e, ok := prev[t][p]
			if !ok {
				e = epoch
			}
			m[p] = e
		}
		out[t] = m
	}
	return out
}

func sameEpochs(a, b map[TopicID]map[int32]int32) bool {
	return maps.EqualFunc(a, b, func(x, y map[int32]int32) bool { return maps.Equal(x, y) })
}

// reconciledTo is Kafka's isReconciledTo.
func (m *Member) reconciledTo(assignmentEpoch int32) bool {
	return m.State == MemberStable && m.Epoch == assignmentEpoch
}

// sameSubscription reports whether two members have the same
// subscription record.
func sameSubscription(a, b *Member) bool {
	return a.InstanceID == b.InstanceID &&
		a.RackID == b.RackID &&
		a.ClientID == b.ClientID &&
		a.ClientHost == b.ClientHost &&
		slices.Equal(a.SubscribedTopicNames, b.SubscribedTopicNames) &&
		a.SubscribedTopicRegex == b.SubscribedTopicRegex &&
		a.ServerAssignor == b.ServerAssignor &&
		a.RebalanceTimeout == b.RebalanceTimeout
}

// sameAssignmentState reports whether two members have the same current
// assignment record.
func sameAssignmentState(a, b *Member) bool {
	return a.Epoch == b.Epoch &&
		a.PreviousEpoch == b.PreviousEpoch &&
		a.State == b.State &&
		a.Assigned.Equal(b.Assigned) &&
		sameEpochs(a.AssignedEpochs, b.AssignedEpochs) &&
		a.PendingRevocation.Equal(b.PendingRevocation)
}

// normalizeNames returns the names sorted and distinct, nil if none.
func normalizeNames(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	c := slices.Clone(names)
	slices.Sort(c)
	return slices.Compact(c)
}
