package sharegroup

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Defaults of [Config], Kafka's.
const (
	DefaultSessionTimeout    = 45 * time.Second // group.share.session.timeout.ms
	DefaultHeartbeatInterval = 5 * time.Second  // group.share.heartbeat.interval.ms
	DefaultMaxSize           = 200              // group.share.max.size
)

// Config is a share group's configuration. The zero value is Kafka's
// defaults.
type Config struct {
	// SessionTimeout is how long a member stays without heartbeating
	// before [Group.Expire] removes it. Default [DefaultSessionTimeout].
	SessionTimeout time.Duration
	// HeartbeatInterval is the interval the responses ask members to
	// heartbeat at; it must be less than SessionTimeout. Default
	// [DefaultHeartbeatInterval].
	HeartbeatInterval time.Duration
	// MaxSize is the maximum number of members: 0 is [DefaultMaxSize],
	// a negative value is unlimited.
	MaxSize int
	// Assignor computes the target assignment. Default [SimpleAssignor],
	// Kafka's only share group assignor.
	Assignor Assignor
	// Logger logs members joining, leaving and expiring. Default: none.
	Logger *slog.Logger
}

// Group is the state machine of one share group (KIP-932): its members,
// their subscriptions and assignments. It does no I/O, starts no
// goroutine, reads no clock and is not safe for concurrent use: the
// caller serializes calls and persists the records they return.
type Group struct {
	id  string
	cfg Config
	log *slog.Logger

	// The persistent state: what the records rebuild.
	epoch           int32
	assignmentEpoch int32
	subMeta         map[string]consumergroup.Topic // subscribed topics that exist, by name
	members         map[string]*Member
	target          map[string]consumergroup.Assignment

	// Derived: how many members subscribe to each topic name.
	nameCount map[string]int
	// Volatile: session deadlines, not persisted.
	sessions map[string]time.Time
}

// New returns an empty share group.
func New(groupID string, cfg Config) (*Group, error) {
	if groupID == "" {
		return nil, fmt.Errorf("sharegroup: empty group ID")
	}
	cfg.SessionTimeout = cmp.Or(cfg.SessionTimeout, DefaultSessionTimeout)
	cfg.HeartbeatInterval = cmp.Or(cfg.HeartbeatInterval, DefaultHeartbeatInterval)
	cfg.MaxSize = cmp.Or(cfg.MaxSize, DefaultMaxSize)
	if cfg.SessionTimeout < 0 || cfg.HeartbeatInterval < 0 {
		return nil, fmt.Errorf("sharegroup: negative session timeout %v or heartbeat interval %v", cfg.SessionTimeout, cfg.HeartbeatInterval)
	}
	if cfg.HeartbeatInterval >= cfg.SessionTimeout {
		return nil, fmt.Errorf("sharegroup: heartbeat interval %v not below session timeout %v", cfg.HeartbeatInterval, cfg.SessionTimeout)
	}
	if cfg.Assignor == nil {
		cfg.Assignor = SimpleAssignor{}
	}
	if cfg.Assignor.Name() == "" {
		return nil, fmt.Errorf("sharegroup: assignor %T without a name", cfg.Assignor)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Group{id: groupID, cfg: cfg, log: log.With("group", groupID)}
	g.clear()
	return g, nil
}

// clear empties the group, as when it is deleted.
func (g *Group) clear() {
	g.epoch, g.assignmentEpoch = 0, 0
	g.subMeta = make(map[string]consumergroup.Topic)
	g.members = make(map[string]*Member)
	g.target = make(map[string]consumergroup.Assignment)
	g.nameCount = make(map[string]int)
	g.sessions = make(map[string]time.Time)
}

// GroupState is a share group's state as ShareGroupDescribe and
// ListGroups report it (Kafka's ShareGroup.ShareGroupState).
type GroupState int8

const (
	// GroupEmpty is a group without members.
	GroupEmpty GroupState = iota
	// GroupStable is a group with members. A share group has no
	// reconciliation to wait for: a member gets its new assignment on its
	// next heartbeat.
	GroupStable
)

// String returns Kafka's name of the state.
func (s GroupState) String() string {
	switch s {
	case GroupEmpty:
		return "Empty"
	case GroupStable:
		return "Stable"
	default:
		return "Unknown"
	}
}

// ID returns the group ID.
func (g *Group) ID() string { return g.id }

// Epoch returns the group epoch.
func (g *Group) Epoch() int32 { return g.epoch }

// AssignmentEpoch returns the epoch of the target assignment.
func (g *Group) AssignmentEpoch() int32 { return g.assignmentEpoch }

// State returns the group's state.
func (g *Group) State() GroupState {
	if len(g.members) == 0 {
		return GroupEmpty
	}
	return GroupStable
}

// Len returns the number of members.
func (g *Group) Len() int { return len(g.members) }

// Member returns a copy of a member.
func (g *Group) Member(id string) (Member, bool) {
	m, ok := g.members[id]
	if !ok {
		return Member{}, false
	}
	return m.clone(), true
}

// Members returns copies of the members, sorted by ID.
func (g *Group) Members() []Member {
	out := make([]Member, 0, len(g.members))
	for _, id := range sortedIDs(g.members) {
		out = append(out, g.members[id].clone())
	}
	return out
}

// TargetAssignment returns a member's target assignment.
func (g *Group) TargetAssignment(memberID string) consumergroup.Assignment {
	return g.target[memberID].Clone()
}

// SubscriptionMetadata returns the metadata of the subscribed topics as of
// the last heartbeat or departure, sorted by name.
func (g *Group) SubscriptionMetadata() []consumergroup.Topic {
	ts := make([]consumergroup.Topic, 0, len(g.subMeta))
	for _, name := range sortedIDs(g.subMeta) {
		ts = append(ts, g.subMeta[name])
	}
	return ts
}

// Partitions returns the partitions some member is assigned: those whose
// share-partition state the leaders must keep (Kafka initializes the
// share state of a partition before it assigns it).
func (g *Group) Partitions() consumergroup.Assignment {
	all := make(consumergroup.Assignment)
	for _, m := range g.members {
		for t, ps := range m.Assigned {
			all[t] = append(all[t], ps...)
		}
	}
	return all.Clone()
}

// Delete returns the tombstones that delete the group, and applies them;
// it refuses (NON_EMPTY_GROUP) a group that has members.
func (g *Group) Delete() ([]Record, error) {
	if len(g.members) > 0 {
		return nil, newError(kerr.NonEmptyGroup, "The group has %d members.", len(g.members))
	}
	rs := []Record{
		TargetAssignmentMetadataRecord{Tombstone: true},
		SubscriptionMetadataRecord{Tombstone: true},
		GroupEpochRecord{Tombstone: true},
	}
	for _, r := range rs {
		if err := g.apply(r); err != nil {
			return nil, bug(err)
		}
	}
	return rs, nil
}

func sortedIDs[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
