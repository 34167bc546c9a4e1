package consumergroup

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Defaults of [Config], Kafka's.
const (
	DefaultSessionTimeout       = 45 * time.Second // group.consumer.session.timeout.ms
	DefaultHeartbeatInterval    = 5 * time.Second  // group.consumer.heartbeat.interval.ms
	DefaultRegexRefreshInterval = 10 * time.Second // Kafka's REGEX_BATCH_REFRESH_INTERVAL_MS
)

// Config is a group's configuration. The zero value is Kafka's defaults.
type Config struct {
	// SessionTimeout is how long a member stays without heartbeating
	// before [Group.Expire] removes it. Default [DefaultSessionTimeout].
	SessionTimeout time.Duration
	// HeartbeatInterval is the interval the responses ask members to
	// heartbeat at; it must be less than SessionTimeout. Default
	// [DefaultHeartbeatInterval].
	HeartbeatInterval time.Duration
	// MaxSize is the maximum number of members (group.consumer.max.size);
	// 0 is unlimited.
	MaxSize int
	// Assignors are the server-side assignors members may choose by
	// name; the first is the group's default. Default: [UniformAssignor]
	// then [RangeAssignor], as Kafka's group.consumer.assignors.
	Assignors []Assignor
	// RegexRefreshInterval is how often the group re-resolves its
	// subscribed regular expressions against the topics a heartbeat
	// passes; a regular expression new to the group is resolved at once.
	// Default [DefaultRegexRefreshInterval].
	RegexRefreshInterval time.Duration
	// NewMemberID generates the member ID of a member that joins with
	// ConsumerGroupHeartbeat v0 and an empty member ID (from v1, KIP-1082,
	// members generate their own). Default: a random UUID from
	// crypto/rand in Kafka's base64 form, the only thing the group does
	// not derive from its inputs.
	NewMemberID func() string
	// Logger logs members joining, leaving and expiring. Default: none.
	Logger *slog.Logger
}

// Group is the state machine of one consumer group of the KIP-848
// protocol. It does no I/O, starts no goroutine, reads no clock and is not
// safe for concurrent use: the caller serializes calls and persists the
// records they return.
type Group struct {
	id              string
	cfg             Config
	log             *slog.Logger
	assignors       map[string]Assignor
	defaultAssignor string
	assignorNames   []string // in the configured order, for error messages

	// The persistent state: what the records rebuild.
	epoch           int32
	assignmentEpoch int32
	subMeta         map[string]Topic    // subscribed topics that exist, by name
	regexes         map[string][]string // resolved regular expressions
	members         map[string]*Member
	target          map[string]Assignment

	// Derived from the persistent state by apply.
	static        map[string]string            // instance ID -> member ID
	owners        map[TopicID]map[int32]string // partition -> member holding it (assigned or pending revocation)
	nameCount     map[string]int               // subscribed topic name -> members
	regexCount    map[string]int               // subscribed regex -> members
	assignorCount map[string]int               // server assignor -> members choosing it
	compiled      map[string]*regexp.Regexp    // cache
	timers        map[string]*timers           // volatile: not persisted
	regexRefresh  time.Time                    // volatile: last full regex resolution
}

// New returns an empty group.
func New(groupID string, cfg Config) (*Group, error) {
	if groupID == "" {
		return nil, fmt.Errorf("consumergroup: empty group ID")
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.RegexRefreshInterval == 0 {
		cfg.RegexRefreshInterval = DefaultRegexRefreshInterval
	}
	if cfg.SessionTimeout < 0 || cfg.HeartbeatInterval < 0 || cfg.RegexRefreshInterval < 0 || cfg.MaxSize < 0 {
		return nil, fmt.Errorf("consumergroup: negative timeout, interval or size in %+v", cfg)
	}
	if cfg.HeartbeatInterval >= cfg.SessionTimeout {
		return nil, fmt.Errorf("consumergroup: heartbeat interval %v not below session timeout %v", cfg.HeartbeatInterval, cfg.SessionTimeout)
	}
	if len(cfg.Assignors) == 0 {
		cfg.Assignors = []Assignor{UniformAssignor{}, RangeAssignor{}}
	}
	if cfg.NewMemberID == nil {
		cfg.NewMemberID = randomMemberID
	}
	g := &Group{
		id:        groupID,
		cfg:       cfg,
		log:       cfg.Logger,
		assignors: make(map[string]Assignor, len(cfg.Assignors)),
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.log = g.log.With("group", groupID)
	for _, a := range cfg.Assignors {
		name := a.Name()
		if name == "" {
			return nil, fmt.Errorf("consumergroup: assignor %T without a name", a)
		}
		if _, dup := g.assignors[name]; dup {
			return nil, fmt.Errorf("consumergroup: two assignors named %q", name)
		}
		g.assignors[name] = a
		g.assignorNames = append(g.assignorNames, name)
	}
	g.defaultAssignor = g.assignorNames[0]
	g.reset()
	return g, nil
}

// reset empties the group, as when it is deleted.
func (g *Group) reset() {
	g.epoch, g.assignmentEpoch = 0, 0
	g.subMeta = make(map[string]Topic)
	g.regexes = make(map[string][]string)
	g.members = make(map[string]*Member)
	g.target = make(map[string]Assignment)
	g.static = make(map[string]string)
	g.owners = make(map[TopicID]map[int32]string)
	g.nameCount = make(map[string]int)
	g.regexCount = make(map[string]int)
	g.assignorCount = make(map[string]int)
	g.compiled = make(map[string]*regexp.Regexp)
	g.timers = make(map[string]*timers)
	g.regexRefresh = time.Time{}
}

// randomMemberID is Kafka's Uuid.randomUuid().toString().
func randomMemberID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// GroupState is the group's state as ConsumerGroupDescribe and ListGroups
// report it.
type GroupState int8

const (
	// GroupEmpty is a group without members.
	GroupEmpty GroupState = iota
	// GroupAssigning is a group whose epoch moved past its assignment
	// epoch: the next heartbeat computes a new target assignment.
	GroupAssigning
	// GroupReconciling is a group with members not yet at the target
	// assignment.
	GroupReconciling
	// GroupStable is a group whose members all have their target
	// assignment.
	GroupStable
)

// String returns Kafka's name of the state.
func (s GroupState) String() string {
	switch s {
	case GroupEmpty:
		return "Empty"
	case GroupAssigning:
		return "Assigning"
	case GroupReconciling:
		return "Reconciling"
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

// State returns the group's state, derived as Kafka's
// ConsumerGroup.maybeUpdateGroupState.
func (g *Group) State() GroupState {
	switch {
	case len(g.members) == 0:
		return GroupEmpty
	case g.epoch > g.assignmentEpoch:
		return GroupAssigning
	}
	for _, m := range g.members {
		if !m.reconciledTo(g.assignmentEpoch) {
			return GroupReconciling
		}
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

// StaticMember returns the ID of the member holding a static instance ID.
func (g *Group) StaticMember(instanceID string) (string, bool) {
	id, ok := g.static[instanceID]
	return id, ok
}

// Members returns copies of the members, sorted by ID.
func (g *Group) Members() []Member {
	ms := make([]Member, 0, len(g.members))
	for _, id := range sortedKeys(g.members) {
		ms = append(ms, g.members[id].clone())
	}
	return ms
}

// TargetAssignment returns the member's target assignment.
func (g *Group) TargetAssignment(memberID string) Assignment {
	return g.target[memberID].Clone()
}

// SubscriptionMetadata returns the metadata of the subscribed topics as of
// the last heartbeat, sorted by name.
func (g *Group) SubscriptionMetadata() []Topic {
	ts := make([]Topic, 0, len(g.subMeta))
	for _, t := range g.subMeta {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b Topic) int { return strings.Compare(a.Name, b.Name) })
	return ts
}

// ResolvedRegex returns the topics a subscribed regular expression
// resolved to, and whether it is resolved.
func (g *Group) ResolvedRegex(regex string) ([]string, bool) {
	ts, ok := g.regexes[regex]
	return slices.Clone(ts), ok
}

// AssignorName returns the assignor the next target assignment uses: the
// one most members chose (ties to the smallest name) if the group has it,
// else the default.
func (g *Group) AssignorName() string {
	best, bestN := "", 0
	for name, n := range g.assignorCount {
		if _, ok := g.assignors[name]; !ok {
			continue
		}
		if n > bestN || (n == bestN && name < best) {
			best, bestN = name, n
		}
	}
	if best == "" {
		return g.defaultAssignor
	}
	return best
}

// Delete returns the tombstones that delete the group, and applies them;
// it refuses (NON_EMPTY_GROUP) a group that has members.
func (g *Group) Delete() ([]Record, error) {
	if len(g.members) > 0 {
		return nil, refuse(kerr.NonEmptyGroup, "The group has %d members.", len(g.members))
	}
	var rs []Record
	for _, re := range sortedKeys(g.regexes) {
		rs = append(rs, RegexRecord{Regex: re, Tombstone: true})
	}
	rs = append(rs,
		TargetAssignmentMetadataRecord{Tombstone: true},
		SubscriptionMetadataRecord{Tombstone: true},
		GroupEpochRecord{Tombstone: true},
	)
	for _, r := range rs {
		if err := g.apply(r); err != nil {
			return nil, internalError(err)
		}
	}
	return rs, nil
}

// effectiveTopics returns the topic names a member subscribes to: its
// names and the topics its regular expression resolved to.
func (g *Group) effectiveTopics(m *Member) []string {
	if m.SubscribedTopicRegex == "" {
		return m.SubscribedTopicNames
	}
	resolved := g.regexes[m.SubscribedTopicRegex]
	if len(m.SubscribedTopicNames) == 0 {
		return resolved
	}
	return normalizeNames(append(slices.Clone(m.SubscribedTopicNames), resolved...))
}

// subscribedNames returns every topic name a member subscribes to.
func (g *Group) subscribedNames() map[string]struct{} {
	names := make(map[string]struct{}, len(g.nameCount))
	for n := range g.nameCount {
		names[n] = struct{}{}
	}
	for re := range g.regexCount {
		for _, n := range g.regexes[re] {
			names[n] = struct{}{}
		}
	}
	return names
}

// compile returns the compiled subscribed regular expression, cached
// while the group has it resolved.
func (g *Group) compile(regex string) (*regexp.Regexp, error) {
	if re, ok := g.compiled[regex]; ok {
		return re, nil
	}
	re, err := compileRegex(regex)
	if err != nil {
		return nil, err
	}
	g.compiled[regex] = re
	return re, nil
}

// compileRegex compiles a subscribed regular expression as Kafka matches
// it: against the whole topic name (RE2J's Matcher.matches).
func compileRegex(regex string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + regex + `)$`)
	if err != nil {
		return nil, fmt.Errorf("compile %q: %w", regex, err)
	}
	return re, nil
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// CheckCommit checks an offset commit of the partitions parts by member
// memberID at member epoch epoch, as Kafka 4.3 does with KIP-1251's
// assignment epochs: at the member's current epoch any commit is the
// member's; at an older epoch only one of partitions the member has had
// since that epoch or before (a commit sent before a heartbeat bumped the
// epoch, answered after); a newer epoch, or an older one naming a
// partition the member got later or no longer has, is STALE_MEMBER_EPOCH.
// An unknown member is UNKNOWN_MEMBER_ID. The error matches the kerr
// error with errors.Is.
func (g *Group) CheckCommit(memberID string, epoch int32, parts Assignment) error {
	m, ok := g.members[memberID]
	switch {
	case !ok:
		return refuse(kerr.UnknownMemberID, "Member %s is not a member of group %s.", memberID, g.id)
	case epoch == m.Epoch:
		return nil
	case epoch > m.Epoch:
		return refuse(kerr.StaleMemberEpoch, "The member epoch %d is newer than the member's, %d.", epoch, m.Epoch)
	}
	for t, ps := range parts {
		for _, p := range ps {
			if e, ok := m.AssignedEpochs[t][p]; !ok || e > epoch {
				return refuse(kerr.StaleMemberEpoch, "Partition %d of topic %x was not the member's at epoch %d.", p, t, epoch)
			}
		}
	}
	return nil
}
