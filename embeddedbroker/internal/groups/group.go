package groups

import (
	"bytes"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is a classic group's state, named as Kafka names them in
// DescribeGroups and ListGroups.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s groupState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

const consumerProtocolType = "consumer"

// tp is a topic partition.
type tp struct {
	topic     string
	partition int32
}

// offsetValue is a committed offset. Values are never mutated once stored
// in a group's offsets: a new commit stores a new value, so pointer identity
// tells whether an offset changed. (A pending transactional offset gets its
// pos once written, under the group's lock, before it can be committed.)
type offsetValue struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitMs    int64
	expireMs    int64 // explicit expiration of v1-v4 commits, -1 if none

	// pos is the position of the offset's record in the log, as far as
	// the coordinator orders them (Coordinator.pos): larger is later
	// among the records of one group. Zero while the record is being
	// written. Kafka keeps the log offset of the record's batch for the
	// same purpose: a transaction's offsets do not replace a commit that
	// is later in the log when the transaction commits.
	pos int64
}

// member is a member of a classic group.
type member struct {
	id           string
	instanceID   *string
	clientID     string
	clientHost   string
	protocolType string
	protocols    []kmsg.JoinGroupRequestProtocol // in the member's order of preference
	rebalance    time.Duration
	session      time.Duration
	assignment   []byte
	seq          uint64 // join order, for deterministic iteration

	join *waiter[*kmsg.JoinGroupResponse] // non-nil while awaiting a JoinGroup response
	sync *waiter[*kmsg.SyncGroupResponse] // non-nil while awaiting a SyncGroup response

	// isNew is true from a member's first join until its first
	// rebalance completes: it cannot heartbeat yet and expires after
	// newMemberJoinTimeout.
	isNew bool

	hb    *time.Timer
	hbSeq uint64
}

func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// matches is Kafka's MemberMetadata.matches: same protocols, same order,
// same metadata.
func (m *member) matches(ps []kmsg.JoinGroupRequestProtocol) bool {
	ps = dedupProtocols(ps)
	if len(ps) != len(m.protocols) {
		return false
	}
	for i := range ps {
		if ps[i].Name != m.protocols[i].Name || !bytes.Equal(ps[i].Metadata, m.protocols[i].Metadata) {
			return false
		}
	}
	return true
}

// vote returns the member's most preferred protocol among the candidates.
func (m *member) vote(candidates map[string]bool) string {
	for _, p := range m.protocols {
		if candidates[p.Name] {
			return p.Name
		}
	}
	return ""
}

// dedupProtocols drops repeated protocol names, keeping the first; Kafka
// keeps a request's protocols in a collection keyed by name.
func dedupProtocols(ps []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, 0, len(ps))
	for _, p := range ps {
		if !slices.ContainsFunc(out, func(q kmsg.JoinGroupRequestProtocol) bool { return q.Name == p.Name }) {
			out = append(out, kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: p.Metadata})
		}
	}
	return out
}

// group is a classic group and its committed offsets. Every field but the
// immutable c, id and part is guarded by mu.
type group struct {
	c    *Coordinator
	id   string
	part *partition

	mu           sync.Mutex
	state        groupState
	stateMs      int64 // when the group entered its state; -1 if unknown (loaded from an old record)
	protocolType string
	protocol     string
	generation   int32
	leader       string

	members      map[string]*member
	static       map[string]string      // instance ID -> member ID
	pending      map[string]*time.Timer // member IDs handed out with MEMBER_ID_REQUIRED
	awaitingJoin int                    // members with a join waiter
	supported    map[string]int         // protocol name -> number of members supporting it
	pendingSync  map[string]bool        // members of this generation that have not sent SyncGroup
	nextSeq      uint64

	subscribed      map[string]bool // topics the consumer group subscribes to
	subscribedKnown bool

	// The rebalance timers. Each has a sequence number so that a timer
	// that fired while it was being replaced does nothing.
	joinTimer      *time.Timer
	joinSeq        uint64
	initialDelay   bool // the running join timer is Kafka's InitialDelayedJoin
	newMemberAdded bool // a member joined during the initial delay
	syncTimer      *time.Timer
	syncSeq        uint64

	offsets        map[tp]*offsetValue
	pendingCommits map[tp]int // commits being written
	// pendingTxn holds the offsets of TxnOffsetCommit by producer ID until
	// the transaction's marker is written (Kafka's
	// pendingTransactionalOffsetCommits): invisible to OffsetFetch,
	// UNSTABLE_OFFSET_COMMIT with RequireStable, never expired.
	pendingTxn map[int64]map[tp]*offsetValue

	writeTail chan struct{} // closed when the last write issued is applied
	inflight  int           // writes issued and not yet applied

	// cg is the group's consumer-group (KIP-848) side: set when the
	// group is a consumer group (see consumer.go).
	cg cgState

	removed  bool // no longer in the coordinator's map
	unloaded bool // removed because its partition was unloaded
}

// Lock, Unlock, Removed and Partition make a group a coordruntime.Item.
func (g *group) Lock()                 { g.mu.Lock() }
func (g *group) Unlock()               { g.mu.Unlock() }
func (g *group) Removed() bool         { return g.removed }
func (g *group) Partition() *partition { return g.part }

func newGroup(c *Coordinator, id string, part *partition) *group {
	return &group{
		c:              c,
		id:             id,
		part:           part,
		state:          stateEmpty,
		stateMs:        c.nowMs(),
		members:        make(map[string]*member),
		static:         make(map[string]string),
		pending:        make(map[string]*time.Timer),
		supported:      make(map[string]int),
		pendingSync:    make(map[string]bool),
		offsets:        make(map[tp]*offsetValue),
		pendingCommits: make(map[tp]int),
		pendingTxn:     make(map[int64]map[tp]*offsetValue),
	}
}

func (g *group) transition(s groupState) {
	g.state = s
	g.stateMs = g.c.nowMs()
}

// sortedMembers returns the members in join order.
func (g *group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return ms
}

// rebalanceTimeout is the largest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalance)
	}
	return d
}

func (g *group) hasAllMembersJoined() bool {
	return len(g.members) == g.awaitingJoin && len(g.pending) == 0
}

// canRebalance reports whether PreparingRebalance may be entered.
func (g *group) canRebalance() bool {
	return g.state == stateStable || g.state == stateCompletingRebalance || g.state == stateEmpty
}

// supportsProtocols is Kafka's GroupMetadata.supportsProtocols: an Empty
// group takes any non-empty protocol type and list; otherwise the type must
// match and one of the protocols be supported by every member.
func (g *group) supportsProtocols(protocolType string, ps []kmsg.JoinGroupRequestProtocol) bool {
	if g.state == stateEmpty {
		return protocolType != "" && len(ps) > 0
	}
	if g.protocolType != protocolType {
		return false
	}
	for _, p := range ps {
		if g.supported[p.Name] == len(g.members) {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol every member supports that most
// members prefer. Ties go to the protocol voted for by the earliest member,
// where Kafka picks any.
func (g *group) selectProtocol() string {
	candidates := make(map[string]bool)
	for p, n := range g.supported {
		if n == len(g.members) {
			candidates[p] = true
		}
	}
	votes := make(map[string]int)
	var order []string
	for _, m := range g.sortedMembers() {
		v := m.vote(candidates)
		if votes[v] == 0 {
			order = append(order, v)
		}
		votes[v]++
	}
	best := ""
	for _, p := range order {
		if best == "" || votes[p] > votes[best] {
			best = p
		}
	}
	return best
}

// computeSubscribed parses the consumer protocol subscriptions of the
// members, as Kafka does to protect subscribed topics from OffsetDelete and
// offset expiration.
func (g *group) computeSubscribed() {
	g.subscribed, g.subscribedKnown = nil, false
	if g.protocolType != consumerProtocolType {
		return
	}
	if len(g.members) == 0 {
		g.subscribed, g.subscribedKnown = map[string]bool{}, true
		return
	}
	if g.protocol == "" {
		return
	}
	topics := make(map[string]bool)
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		// Kafka parses with the v0 schema, the prefix of every version.
		if err := meta.ReadFrom(m.metadata(g.protocol)); err != nil && len(meta.Topics) == 0 {
			g.c.log.Warn("cannot parse consumer protocol subscription; group's subscribed topics unknown",
				"group", g.id, "member", m.id, "protocol", g.protocol, "err", err)
			return
		}
		for _, t := range meta.Topics {
			topics[t] = true
		}
	}
	g.subscribed, g.subscribedKnown = topics, true
}

// isSubscribedTo is Kafka's ClassicGroup.isSubscribedToTopic: unknown
// subscriptions count as subscribed for consumer groups only.
func (g *group) isSubscribedTo(topic string) bool {
	if g.isConsumer() {
		return g.consumerSubscribed(topic)
	}
	if g.subscribedKnown {
		return g.subscribed[topic]
	}
	return g.protocolType == consumerProtocolType
}

// add adds a member, with its join waiter if any.
func (g *group) add(m *member) {
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.nextSeq++
	m.seq = g.nextSeq
	g.members[m.id] = m
	for _, p := range m.protocols {
		g.supported[p.Name]++
	}
	if m.join != nil {
		g.awaitingJoin++
	}
	g.removePending(m.id)
}

// remove removes a member; waiters it still has are answered
// UNKNOWN_MEMBER_ID. It does not rebalance.
func (g *group) remove(id string) {
	if m := g.members[id]; m != nil {
		delete(g.members, id)
		for _, p := range m.protocols {
			g.supported[p.Name]--
			if g.supported[p.Name] <= 0 {
				delete(g.supported, p.Name)
			}
		}
		g.failJoin(m, "", kerr.UnknownMemberID.Code)
		if m.sync != nil {
			m.sync.send(syncError(m.sync.version, kerr.UnknownMemberID.Code))
			m.sync = nil
		}
		if m.instanceID != nil && g.static[*m.instanceID] == id {
			delete(g.static, *m.instanceID)
		}
		g.stopHeartbeat(m)
	}
	if g.leader == id {
		g.leader = ""
		if ms := g.sortedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
	g.removePending(id)
	delete(g.pendingSync, id)
}

func (g *group) removePending(id string) {
	if t, ok := g.pending[id]; ok {
		t.Stop()
		delete(g.pending, id)
	}
}

// addPending remembers a member ID handed out with MEMBER_ID_REQUIRED until
// the member joins with it or its session timeout passes.
func (g *group) addPending(id string, session time.Duration) {
	g.pending[id] = g.after(session, func() {
		if _, ok := g.pending[id]; !ok {
			return
		}
		g.c.log.Info("pending member expired", "group", g.id, "member", id)
		delete(g.pending, id)
		if g.state == statePreparingRebalance {
			g.tryCompleteJoin()
		}
		g.maybeDropUnused()
	})
}

// setJoinWaiter installs (or with nil clears) a member's join waiter,
// keeping the count of awaiting members. A waiter it replaces belongs to a
// request the client gave up on; it is answered REBALANCE_IN_PROGRESS.
func (g *group) setJoinWaiter(m *member, w *waiter[*kmsg.JoinGroupResponse]) {
	if m.join != nil && w != nil && m.join != w {
		m.join.send(joinError(m.join.version, m.id, kerr.RebalanceInProgress.Code))
	}
	switch {
	case w != nil && m.join == nil:
		g.awaitingJoin++
	case w == nil && m.join != nil:
		g.awaitingJoin--
	}
	m.join = w
}

// updateMember is Kafka's GroupMetadata.updateMember.
func (g *group) updateMember(m *member, ps []kmsg.JoinGroupRequestProtocol, rebalance, session time.Duration, w *waiter[*kmsg.JoinGroupResponse]) {
	for _, p := range m.protocols {
		g.supported[p.Name]--
		if g.supported[p.Name] <= 0 {
			delete(g.supported, p.Name)
		}
	}
	m.protocols = dedupProtocols(ps)
	for _, p := range m.protocols {
		g.supported[p.Name]++
	}
	m.rebalance = rebalance
	m.session = session
	g.setJoinWaiter(m, w)
}

// completeJoin answers a member's join waiter, if it has one.
func (g *group) completeJoin(m *member, resp *kmsg.JoinGroupResponse) bool {
	if m.join == nil {
		return false
	}
	m.join.send(resp)
	m.join = nil
	g.awaitingJoin--
	return true
}

// failJoin answers a member's join waiter, if it has one, with an error.
func (g *group) failJoin(m *member, memberID string, code int16) {
	if m.join != nil {
		g.completeJoin(m, joinError(m.join.version, memberID, code))
	}
}

// replaceStaticMember gives a static member a new member ID; the old ID's
// waiters are fenced.
func (g *group) replaceStaticMember(instanceID, oldID, newID string) *member {
	old := g.members[oldID]
	delete(g.members, oldID)
	g.failJoin(old, oldID, kerr.FencedInstanceID.Code)
	if old.sync != nil {
		old.sync.send(syncError(old.sync.version, kerr.FencedInstanceID.Code))
		old.sync = nil
	}
	g.stopHeartbeat(old)
	nm := *old
	nm.id = newID
	nm.hb, nm.hbSeq = nil, 0
	g.members[newID] = &nm
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	g.static[instanceID] = newID
	return &nm
}

// validateMember is Kafka's validateMember / validateCurrentMember.
func (g *group) validateMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		known, ok := g.static[*instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case known != memberID:
			g.c.log.Info("fenced static member", "group", g.id, "instance", *instanceID, "member", memberID, "current", known)
			return kerr.FencedInstanceID.Code
		}
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// after runs fn after d with the group locked, unless the group was removed
// from the coordinator by then. fn must check that what it acts on is still
// current.
func (g *group) after(d time.Duration, fn func()) *time.Timer {
	return time.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if !g.removed {
			fn()
		}
	})
}

// scheduleHeartbeat is Kafka's completeAndScheduleNextHeartbeatExpiration:
// it expects the next heartbeat (or join, sync or commit) of the member
// within its session timeout.
func (g *group) scheduleHeartbeat(m *member) {
	d := m.session
	if m.isNew {
		d = newMemberJoinTimeout
	}
	g.scheduleHeartbeatIn(m, d)
}

func (g *group) scheduleHeartbeatIn(m *member, d time.Duration) {
	g.stopHeartbeat(m)
	m.hbSeq++
	seq := m.hbSeq
	m.hb = g.after(d, func() {
		if g.members[m.id] != m || m.hbSeq != seq {
			return
		}
		g.expireHeartbeat(m)
	})
}

func (g *group) stopHeartbeat(m *member) {
	if m.hb != nil {
		m.hb.Stop()
		m.hb = nil
	}
	m.hbSeq++
}

// expireHeartbeat is Kafka's onExpireHeartbeat: members waiting in a
// JoinGroup or SyncGroup satisfy their heartbeat (unless they are new);
// anyone else is removed.
func (g *group) expireHeartbeat(m *member) {
	if g.state == stateDead {
		return
	}
	if !m.isNew && (m.join != nil || m.sync != nil) {
		return
	}
	g.c.log.Info("member session expired, removing it from the group", "group", g.id, "member", m.id, "state", g.state)
	g.removeMemberAndUpdate(m, "session timeout expired")
}

// removeMemberAndUpdate removes a member and moves the group on: a
// rebalance if it was Stable or CompletingRebalance, a completion check if
// it was PreparingRebalance.
func (g *group) removeMemberAndUpdate(m *member, reason string) {
	g.failJoin(m, "", kerr.UnknownMemberID.Code)
	g.remove(m.id)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.maybePrepareRebalance(reason)
	case statePreparingRebalance:
		g.tryCompleteJoin()
	}
}

func (g *group) maybePrepareRebalance(reason string) {
	if g.canRebalance() {
		g.prepareRebalance(reason)
	}
}

// prepareRebalance moves the group to PreparingRebalance. From Empty, the
// completion waits for the initial rebalance delay; otherwise it completes
// when every member has rejoined or the rebalance timeout passes.
func (g *group) prepareRebalance(reason string) {
	if g.state == stateCompletingRebalance {
		g.resetAndPropagateAssignmentError(kerr.RebalanceInProgress.Code)
	}
	g.stopSyncTimer()
	wasEmpty := g.state == stateEmpty
	g.transition(statePreparingRebalance)
	g.c.log.Info("preparing to rebalance group", "group", g.id, "generation", g.generation,
		"partition", g.part.ID, "reason", reason)
	if wasEmpty {
		delay := g.c.cfg.InitialRebalanceDelay
		g.scheduleInitialJoin(delay, max(g.rebalanceTimeout()-delay, 0))
		return
	}
	g.scheduleJoin(g.rebalanceTimeout())
	g.tryCompleteJoin()
}

// scheduleInitialJoin is Kafka's InitialDelayedJoin: after delay, if new
// members arrived meanwhile and time remains, wait again; else complete.
func (g *group) scheduleInitialJoin(delay, remaining time.Duration) {
	g.stopJoinTimer()
	g.initialDelay = true
	g.newMemberAdded = false
	seq := g.joinSeq
	g.joinTimer = g.after(delay, func() {
		if g.joinSeq != seq || g.state != statePreparingRebalance {
			return
		}
		if g.newMemberAdded && remaining > 0 {
			next := min(g.c.cfg.InitialRebalanceDelay, remaining)
			g.scheduleInitialJoin(next, max(remaining-next, 0))
			return
		}
		g.onCompleteJoin()
	})
}

// scheduleJoin is Kafka's DelayedJoin: the rebalance completes at the
// latest after d.
func (g *group) scheduleJoin(d time.Duration) {
	g.stopJoinTimer()
	g.initialDelay = false
	seq := g.joinSeq
	g.joinTimer = g.after(d, func() {
		if g.joinSeq != seq || g.state != statePreparingRebalance {
			return
		}
		g.onCompleteJoin()
	})
}

func (g *group) stopJoinTimer() {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
		g.joinTimer = nil
	}
	g.joinSeq++
}

// tryCompleteJoin completes the join phase early if every member has
// rejoined (never during the initial delay, as Kafka's InitialDelayedJoin).
func (g *group) tryCompleteJoin() {
	if g.state == statePreparingRebalance && !g.initialDelay && g.hasAllMembersJoined() {
		g.onCompleteJoin()
	}
}

// maybeElectNewJoinedLeader keeps the leader if it rejoined, else elects a
// member that did; false if no member rejoined.
func (g *group) maybeElectNewJoinedLeader() bool {
	if g.leader == "" {
		return false
	}
	if l := g.members[g.leader]; l != nil && l.join != nil {
		return true
	}
	for _, m := range g.sortedMembers() {
		if m.join != nil {
			g.c.log.Info("group leader failed to rejoin before the rebalance timeout, electing a new one",
				"group", g.id, "old", g.leader, "new", m.id)
			g.leader = m.id
			return true
		}
	}
	return false
}

// onCompleteJoin is Kafka's onCompleteJoin: dynamic members that did not
// rejoin are removed, the next generation starts and every waiting member
// gets its JoinGroup response, the leader with everyone's metadata.
func (g *group) onCompleteJoin() {
	g.stopJoinTimer()
	g.initialDelay = false
	for _, m := range g.sortedMembers() {
		if m.join == nil && m.instanceID == nil {
			g.c.log.Info("removing member that did not rejoin", "group", g.id, "member", m.id)
			g.remove(m.id)
		}
	}
	if g.state == stateDead {
		return
	}
	if !g.maybeElectNewJoinedLeader() && len(g.members) > 0 {
		// Only static members that did not rejoin are left: wait for them
		// to rejoin or to expire.
		g.c.log.Warn("group could not complete rebalance because no members rejoined", "group", g.id)
		g.scheduleJoin(g.rebalanceTimeout())
		return
	}
	g.initNextGeneration()
	if g.state == stateEmpty {
		g.c.log.Info("group is now empty", "group", g.id, "generation", g.generation, "partition", g.part.ID)
		g.write([]KV{g.groupRecord(nil)}, func(err error) {
			if err != nil {
				// As in Kafka: an older generation in the log has no
				// live members either, so this is only logged.
				g.c.log.Warn("failed to write empty group metadata", "group", g.id, "err", err)
			}
		})
		return
	}
	g.c.log.Info("stabilized group", "group", g.id, "generation", g.generation, "protocol", g.protocol,
		"members", len(g.members), "partition", g.part.ID)
	for _, m := range g.sortedMembers() {
		if m.join != nil {
			resp := g.joinResponse(m.join.version, m.id, m.id == g.leader)
			g.completeJoin(m, resp)
		}
		m.isNew = false
		g.scheduleHeartbeat(m)
		g.pendingSync[m.id] = true
	}
	g.schedulePendingSync()
}

// initNextGeneration bumps the generation and selects its protocol.
func (g *group) initNextGeneration() {
	g.generation++
	if len(g.members) > 0 {
		g.protocol = g.selectProtocol()
		g.computeSubscribed()
		g.transition(stateCompletingRebalance)
	} else {
		g.protocol = ""
		g.computeSubscribed()
		g.transition(stateEmpty)
	}
	clear(g.pendingSync)
}

// schedulePendingSync removes the members of the new generation that do not
// send SyncGroup within the rebalance timeout, and rebalances.
func (g *group) schedulePendingSync() {
	g.stopSyncTimer()
	seq := g.syncSeq
	gen := g.generation
	g.syncTimer = g.after(g.rebalanceTimeout(), func() {
		if g.syncSeq != seq || g.generation != gen || len(g.pendingSync) == 0 {
			return
		}
		if g.state != stateCompletingRebalance && g.state != stateStable {
			return
		}
		var ids []string
		for id := range g.pendingSync {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		g.c.log.Info("removing members that did not sync", "group", g.id, "members", ids)
		for _, id := range ids {
			g.remove(id)
		}
		g.maybePrepareRebalance("members did not send SyncGroup in time")
	})
}

func (g *group) stopSyncTimer() {
	if g.syncTimer != nil {
		g.syncTimer.Stop()
		g.syncTimer = nil
	}
	g.syncSeq++
}

func (g *group) removePendingSync(id string) {
	delete(g.pendingSync, id)
	if len(g.pendingSync) == 0 {
		g.stopSyncTimer()
	}
}

// resetAndPropagateAssignmentError clears every assignment and answers
// members waiting in SyncGroup with the error.
func (g *group) resetAndPropagateAssignmentError(code int16) {
	for _, m := range g.members {
		m.assignment = nil
	}
	g.propagateAssignment(code)
}

// setAndPropagateAssignment installs the leader's assignment and answers
// the members waiting in SyncGroup.
func (g *group) setAndPropagateAssignment(assignment map[string][]byte) {
	for _, m := range g.members {
		m.assignment = assignment[m.id]
	}
	g.propagateAssignment(0)
}

func (g *group) propagateAssignment(code int16) {
	for _, m := range g.sortedMembers() {
		if m.sync == nil {
			continue
		}
		var resp *kmsg.SyncGroupResponse
		if code != 0 {
			resp = syncError(m.sync.version, code)
		} else {
			resp = g.syncResponse(m.sync.version, m)
		}
		m.sync.send(resp)
		m.sync = nil
		// Kafka resets the session timer here: an expiration that fired
		// while the member waited was ignored and scheduled nothing.
		g.scheduleHeartbeat(m)
	}
}

// stopTimers stops every timer of the group.
func (g *group) stopTimers() {
	g.stopConsumerTimer()
	g.stopJoinTimer()
	g.stopSyncTimer()
	for id := range g.pending {
		g.removePending(id)
	}
	for _, m := range g.members {
		g.stopHeartbeat(m)
	}
}

// removeFromCoordinator drops the group from the coordinator's map; later
// lookups create a new group.
func (g *group) removeFromCoordinator() {
	g.removed = true
	g.stopTimers()
	g.c.rt.Remove(g.id, g)
}

// maybeDropUnused removes a group that holds nothing: created by a request
// that then failed, it would otherwise show in ListGroups until the next
// expiration run (which is when Kafka removes it).
func (g *group) maybeDropUnused() {
	if g.removed || g.state != stateEmpty || g.generation != 0 || g.isConsumer() || len(g.members) > 0 || len(g.pending) > 0 ||
		len(g.offsets) > 0 || len(g.pendingCommits) > 0 || len(g.pendingTxn) > 0 || g.inflight > 0 {
		return
	}
	g.removeFromCoordinator()
}

// completeTxn is Kafka's completePendingTxnOffsetCommit: the producer's
// pending offsets become committed offsets (commit) or are dropped (abort),
// all of them. An offset whose write is still waiting for replication when
// the marker comes was appended before the marker (the broker appends, then
// waits), so it belongs to the transaction the marker ends; it takes the
// marker's place in the commit order, and its write, when it completes,
// finds nothing left to update (see txnCommitWrite). It reports whether the
// group had pending offsets of the producer. The group must be locked.
func (g *group) completeTxn(producerID int64, commit bool) bool {
	os := g.pendingTxn[producerID]
	if os == nil {
		return false
	}
	delete(g.pendingTxn, producerID)
	applied := 0
	for t, o := range os {
		if !commit {
			continue
		}
		if o.pos == 0 {
			o.pos = g.c.pos.Add(1)
		}
		if cur := g.offsets[t]; cur == nil || cur.pos < o.pos {
			g.offsets[t] = o
			applied++
		}
	}
	verb := "aborted"
	if commit {
		verb = "committed"
	}
	g.c.log.Debug("transactional offset commit "+verb, "group", g.id, "producer", producerID,
		"offsets", len(os), "applied", applied)
	return true
}

// unload drops the group because its partition moved away.
func (g *group) unload() {
	g.removed = true
	g.unloaded = true
	g.stopTimers()
	g.state = stateDead
	for _, m := range g.members {
		if m.join != nil {
			m.join.send(joinError(m.join.version, m.id, kerr.NotCoordinator.Code))
			m.join = nil
		}
		if m.sync != nil {
			m.sync.send(syncError(m.sync.version, kerr.NotCoordinator.Code))
			m.sync = nil
		}
	}
	g.awaitingJoin = 0
}

// onLoaded is Kafka's onGroupLoaded: start the session timers of the loaded
// members, and rebalance a group that is over the maximum size.
func (g *group) onLoaded() {
	if g.isConsumer() {
		g.cg.g.ResetTimers(time.Now())
		g.scheduleConsumer()
	}
	if len(g.members) > g.c.cfg.MaxGroupSize {
		g.prepareRebalance("freshly loaded group is over capacity")
	}
	for _, m := range g.members {
		g.scheduleHeartbeat(m)
	}
}

// write appends recs to the group's partition after every write issued
// before it, then calls done with the group locked and the Append's error.
// The caller must hold the lock. done runs even if the group was removed
// meanwhile; it checks g.unloaded itself.
func (g *group) write(recs []KV, done func(err error)) {
	g.writeOp(nil, nil, recs, done)
}

// writeIf is write, unless cond (called with the group locked when the
// writes before this one are done) is false: then the records are not
// appended and done gets errSkipped.
func (g *group) writeIf(cond func() bool, recs []KV, done func(err error)) {
	g.writeOp(nil, cond, recs, done)
}

// txnProducer is the transactional producer a write is made for.
type txnProducer struct {
	id    int64
	epoch int16
}

// writeAs is write, as a transactional batch of the producer (Store.AppendTxn)
// if p is not nil.
func (g *group) writeAs(p *txnProducer, recs []KV, done func(err error)) {
	g.writeOp(p, nil, recs, done)
}

func (g *group) writeOp(p *txnProducer, cond func() bool, recs []KV, done func(err error)) {
	prev := g.writeTail
	tail := make(chan struct{})
	g.writeTail = tail
	g.inflight++
	store, ctx := g.part.Ext.store, g.part.Ctx
	g.c.rt.Go(func() {
		if prev != nil {
			<-prev
		}
		var err error
		if cond != nil {
			g.mu.Lock()
			if !cond() {
				err = errSkipped
			}
			g.mu.Unlock()
		}
		switch {
		case err != nil:
		case p != nil:
			err = store.AppendTxn(ctx, p.id, p.epoch, recs)
		default:
			err = store.Append(ctx, recs)
		}
		g.mu.Lock()
		g.inflight--
		done(err)
		g.maybeRebuildConsumer()
		if g.writeTail == tail {
			g.writeTail = nil
		}
		g.mu.Unlock()
		close(tail)
	})
}
