package controller

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/benbjohnson/immutable"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
)

// Replication errors returned by AlterPartitions.
var (
	// ErrStaleLeader means the caller is not the partition's leader at the
	// epoch it named (FENCED_LEADER_EPOCH).
	ErrStaleLeader = errors.New("controller: not the current leader and epoch")
	// ErrStalePartitionEpoch means the partition changed since the caller
	// read it; it must read the new state and decide again.
	ErrStalePartitionEpoch = errors.New("controller: stale partition epoch")
	// ErrIneligibleReplica means an ISR expansion named a replica that is
	// fenced or not a replica of the partition (INELIGIBLE_REPLICA).
	ErrIneligibleReplica = errors.New("controller: ineligible replica")
)

// Election types of ElectLeaders (KIP-460).
const (
	ElectPreferred int8 = 0
	ElectUnclean   int8 = 1
)

// Election outcomes of ElectLeaders, per partition.
var (
	// ErrElectionNotNeeded: the preferred replica already leads, or (for
	// an unclean election) the partition has a live leader.
	ErrElectionNotNeeded = errors.New("controller: election not needed")
	// ErrPreferredLeaderNotAvailable: the preferred replica is fenced or
	// not in the ISR.
	ErrPreferredLeaderNotAvailable = errors.New("controller: preferred leader not available")
	// ErrEligibleLeadersNotAvailable: no live replica can lead.
	ErrEligibleLeadersNotAvailable = errors.New("controller: no eligible leader available")
)

// decider turns requests into records. Its methods are pure functions of
// the image they are given and of its fields: no clock, no I/O, no state,
// so that every decision can be tested in a table and replayed.
type decider struct {
	broker *configs.Broker
	// maxRF caps replication factors.
	maxRF int16
	// newID returns topic ids (random in production, a counter in tests).
	newID func() TopicID
	// logger hears about unclean elections.
	logger *slog.Logger
}

// createTopic decides a topic creation.
func (dc *decider) createTopic(im *Image, spec TopicSpec) (*Topic, []record, error) {
	if err := ValidateTopicName(spec.Name); err != nil {
		return nil, nil, err
	}
	if _, ok := im.Topic(spec.Name); ok {
		return nil, nil, fmt.Errorf("%w: %q", ErrTopicExists, spec.Name)
	}
	if other, ok := im.collisions.Get(collisionKey(spec.Name)); ok {
		return nil, nil, fmt.Errorf("%w: topic %q collides with existing topic %q (names that differ only in '.' and '_' collide)", ErrInvalidTopic, spec.Name, other)
	}
	if err := configs.ValidateTopic(spec.Configs); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	var parts []Partition
	if len(spec.Assignment) > 0 {
		if spec.Partitions > 0 || spec.ReplicationFactor > 0 {
			return nil, nil, fmt.Errorf("%w: both a replica assignment and partitions or replication factor", ErrInvalidReplicaAssign)
		}
		if err := checkPartitionCount(int64(len(spec.Assignment))); err != nil {
			return nil, nil, err
		}
		var err error
		if parts, err = dc.assigned(im, spec.Assignment, 0, dc.unclean(spec.Configs)); err != nil {
			return nil, nil, err
		}
	} else {
		n := spec.Partitions
		if n == -1 {
			n = int32(dc.broker.Int("num.partitions"))
		}
		if n <= 0 {
			return nil, nil, fmt.Errorf("%w: %d", ErrInvalidPartitions, n)
		}
		if err := checkPartitionCount(int64(n)); err != nil {
			return nil, nil, err
		}
		rf := spec.ReplicationFactor
		if rf == -1 {
			rf = int16(dc.broker.Int("default.replication.factor"))
		}
		if spec.Internal {
			// Internal topics take what the cluster can give, as Kafka
			// caps offsets.topic.replication.factor at the live brokers.
			rf = max(1, min(rf, int16(len(im.Brokers)), dc.maxRF))
		}
		var err error
		if parts, err = dc.place(im, n, rf, 0, im.NumTopics()); err != nil {
			return nil, nil, err
		}
	}
	cfg := maps.Clone(spec.Configs)
	if cfg == nil {
		cfg = map[string]string{}
	}
	t := &Topic{Name: spec.Name, ID: dc.newID(), Internal: spec.Internal, Configs: cfg, parts: newPartList(parts...)}
	recs := make([]record, 0, 1+len(parts))
	recs = append(recs, record{Topic: &topicRecord{Name: t.Name, ID: t.ID, Internal: t.Internal, Configs: cfg}})
	for i, p := range parts {
		recs = append(recs, partitionRec(t.ID, int32(i), p))
	}
	return t, recs, nil
}

// checkPartitionCount refuses creating more partitions than one change may
// hold, before anything of that size is allocated.
func checkPartitionCount(n int64) error {
	if n > MaxPartitionsPerRequest {
		return fmt.Errorf("%w: excessively large number of partitions per request: %d, at most %d", ErrPolicyViolation, n, MaxPartitionsPerRequest)
	}
	return nil
}

func newPartList(ps ...Partition) *immutable.List[Partition] {
	b := immutable.NewListBuilder[Partition]()
	for _, p := range ps {
		b.Append(p)
	}
	return b.List()
}

// place assigns replicas for n partitions starting at partition index first,
// spreading leaders round robin over the unfenced brokers from start.
func (dc *decider) place(im *Image, n int32, rf int16, first int32, start int) ([]Partition, error) {
	var live []int32
	for _, b := range im.Brokers {
		if !b.Fenced {
			live = append(live, b.ID)
		}
	}
	if rf <= 0 {
		return nil, fmt.Errorf("%w: %d", ErrInvalidReplication, rf)
	}
	if rf > dc.maxRF {
		return nil, fmt.Errorf("%w: %d; this cluster supports at most %d", ErrInvalidReplication, rf, dc.maxRF)
	}
	if int(rf) > len(live) {
		return nil, fmt.Errorf("%w: %d is larger than the %d available brokers", ErrInvalidReplication, rf, len(live))
	}
	// Partitions with the same replica list share its slices: they are
	// never modified, and len(live) lists cover every partition.
	shapes := make([][]int32, len(live))
	isrs := make([][]int32, len(live))
	for s := range shapes {
		reps := make([]int32, rf)
		for j := range reps {
			reps[j] = live[(s+j)%len(live)]
		}
		shapes[s], isrs[s] = reps, sortedCopy(reps)
	}
	parts := make([]Partition, n)
	for i := range parts {
		s := (start + int(first) + i) % len(live)
		parts[i] = Partition{Replicas: shapes[s], ISR: isrs[s], Leader: shapes[s][0]}
	}
	return parts, nil
}

func sortedCopy(s []int32) []int32 {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// assigned builds partitions from an explicit replica assignment, electing
// their leaders among live replicas.
func (dc *decider) assigned(im *Image, a [][]int32, first int32, unclean bool) ([]Partition, error) {
	parts := make([]Partition, len(a))
	for i, reps := range a {
		if len(reps) == 0 || (i > 0 && len(reps) != len(a[0])) {
			return nil, fmt.Errorf("%w: partition %d has %d replicas", ErrInvalidReplicaAssign, int(first)+i, len(reps))
		}
		if len(reps) > int(dc.maxRF) {
			return nil, fmt.Errorf("%w: %d replicas; this cluster supports at most %d", ErrInvalidReplication, len(reps), dc.maxRF)
		}
		seen := map[int32]bool{}
		for _, r := range reps {
			if _, ok := im.Broker(r); !ok || seen[r] {
				return nil, fmt.Errorf("%w: partition %d: broker %d unknown or repeated", ErrInvalidReplicaAssign, int(first)+i, r)
			}
			seen[r] = true
		}
		p := Partition{Replicas: slices.Clone(reps), ISR: sortedCopy(reps), Leader: -1, LeaderEpoch: -1, Epoch: -1}
		parts[i], _ = dc.reconcile(im, "", int32(i), p, im.alive, unclean, false)
	}
	return parts, nil
}

// unclean reports whether a topic with cfg allows unclean elections.
func (dc *decider) unclean(cfg map[string]string) bool {
	return dc.broker.Topic(cfg, "unclean.leader.election.enable").Value == "true"
}

// deleteTopic decides a topic deletion.
func (dc *decider) deleteTopic(im *Image, name string) ([]record, error) {
	t, ok := im.Topic(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	if t.Internal {
		return nil, fmt.Errorf("%w: %q", ErrInternalTopicReadOnly, name)
	}
	return []record{{Remove: &removeRecord{Topic: t.ID}}}, nil
}

// createPartitions decides growing a topic to count partitions.
func (dc *decider) createPartitions(im *Image, name string, count int32, assignment [][]int32) ([]record, error) {
	t, ok := im.Topic(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	have := t.NumPartitions()
	if count <= have {
		return nil, fmt.Errorf("%w: topic %q has %d partitions; the new count %d must be larger", ErrInvalidPartitions, name, have, count)
	}
	if err := checkPartitionCount(int64(count) - int64(have)); err != nil {
		return nil, err
	}
	var add []Partition
	var err error
	if len(assignment) > 0 {
		if int32(len(assignment)) != count-have {
			return nil, fmt.Errorf("%w: %d assignments for %d new partitions", ErrInvalidReplicaAssign, len(assignment), count-have)
		}
		add, err = dc.assigned(im, assignment, have, dc.unclean(t.Configs))
	} else {
		add, err = dc.place(im, count-have, t.ReplicationFactor(), have, 0)
	}
	if err != nil {
		return nil, err
	}
	recs := make([]record, len(add))
	for i, p := range add {
		recs[i] = partitionRec(t.ID, have+int32(i), p)
	}
	return recs, nil
}

// alterConfigs decides replacing a topic's dynamic configs.
func (dc *decider) alterConfigs(im *Image, name string, cfg map[string]string) ([]record, error) {
	t, ok := im.Topic(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	if err := configs.ValidateTopic(cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return []record{{Configs: &configRecord{Topic: t.ID, Configs: maps.Clone(cfg)}}}, nil
}

// registerBroker decides a broker's registration. A new incarnation of a
// known broker may have lost whatever it had not fsynced (a crash), so it
// first leaves every ISR and leadership, as if fenced, even when it came
// back before its session expired; it rejoins ISRs by catching up.
func (dc *decider) registerBroker(im *Image, b Broker) []record {
	b.Fenced = false
	old, found := im.Broker(b.ID)
	if !found {
		// A broker new to the cluster leads nothing yet, but partitions
		// without a leader may elect it.
		return dc.brokerChange(im, b, true)
	}
	fenced := old
	fenced.Fenced = true
	recs := dc.brokerChange(im, fenced, false)
	mid, _, err := im.apply(recs)
	if err != nil {
		panic(err) // records of our own making always apply
	}
	return merge(recs, dc.brokerChange(mid, b, true))
}

// setFenced decides fencing or unfencing a registered broker.
func (dc *decider) setFenced(im *Image, id int32, fenced bool) ([]record, error) {
	b, ok := im.Broker(id)
	if !ok {
		return nil, fmt.Errorf("%w: broker %d is not registered", ErrBrokerNotAvailable, id)
	}
	if b.Fenced == fenced {
		return nil, nil
	}
	b.Fenced = fenced
	return dc.brokerChange(im, b, !fenced), nil
}

// brokerChange returns the records that set broker b's state and bring the
// partitions it holds in line with it: a fenced broker leaves ISRs (unless
// it is the last member, whose data is the only copy: the ISR keeps it and
// the partition goes offline) and leadership; a live one may lead
// partitions without a leader, and, with auto.leader.rebalance.enable, take
// back the partitions it prefers to lead when it is in their ISR. Only the
// partitions b holds a replica of are looked at.
func (dc *decider) brokerChange(im *Image, b Broker, alive bool) []record {
	recs := []record{{Broker: &b}}
	isAlive := func(id int32) bool {
		if id == b.ID {
			return alive
		}
		return im.alive(id)
	}
	rebalance := alive && dc.broker.Bool("auto.leader.rebalance.enable")
	for t := range im.Topics() {
		unclean := dc.unclean(t.Configs)
		for i, p := range t.Partitions() {
			if !p.Hosts(b.ID) {
				continue
			}
			if np, changed := dc.reconcile(im, t.Name, i, p, isAlive, unclean, rebalance); changed {
				recs = append(recs, partitionRec(t.ID, i, np))
			}
		}
	}
	return recs
}

// merge appends b to a, replacing the records of a that b's set the same
// partition or broker again, so that one change carries each once.
func merge(a, b []record) []record {
	type key struct {
		topic TopicID
		part  int32
	}
	later := map[key]bool{}
	brokers := map[int32]bool{}
	for _, r := range b {
		if r.Partition != nil {
			later[key{r.Partition.Topic, r.Partition.Partition}] = true
		}
		if r.Broker != nil {
			brokers[r.Broker.ID] = true
		}
	}
	out := make([]record, 0, len(a)+len(b))
	for _, r := range a {
		if r.Partition != nil && later[key{r.Partition.Topic, r.Partition.Partition}] {
			continue
		}
		if r.Broker != nil && brokers[r.Broker.ID] {
			continue
		}
		out = append(out, r)
	}
	return append(out, b...)
}

// reconcile brings one partition in line with broker liveness, as Kafka's
// controller does: dead brokers leave the ISR (unless the last member),
// a partition without a live leader in its ISR elects one from the ISR in
// replica order (any live replica when unclean election is allowed), and
// with rebalance the preferred replica takes leadership back when it is
// live and in sync. It returns the new state (epochs bumped) and whether it
// changed.
func (dc *decider) reconcile(im *Image, topic string, idx int32, p Partition, alive func(int32) bool, unclean, rebalance bool) (Partition, bool) {
	isr := p.ISR
	if slices.ContainsFunc(isr, func(r int32) bool { return !alive(r) }) {
		isr = slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !alive(r) })
		if len(isr) == 0 {
			isr = p.ISR
		}
	}
	leader := p.Leader
	if leader < 0 || !alive(leader) || !slices.Contains(isr, leader) {
		leader = -1
		for _, r := range p.Replicas {
			if alive(r) && slices.Contains(isr, r) {
				leader = r
				break
			}
		}
		if leader < 0 && unclean {
			for _, r := range p.Replicas {
				if alive(r) {
					leader, isr = r, []int32{r}
					dc.logger.Warn("unclean leader election", "topic", topic, "partition", idx, "leader", r)
					break
				}
			}
		}
	} else if rebalance && len(p.Replicas) > 0 {
		if pref := p.Replicas[0]; pref != leader && alive(pref) && slices.Contains(isr, pref) {
			leader = pref
		}
	}
	if leader == p.Leader && slices.Equal(isr, p.ISR) {
		return p, false
	}
	np := p
	if leader != p.Leader {
		np.LeaderEpoch++
	}
	np.Leader, np.ISR = leader, isr
	np.Epoch++
	return np, true
}

// alterPartitions decides a leader's ISR changes. Each change is checked
// on its own: the outcome of every one is returned, and the records of
// those accepted. When an expansion brings the preferred replica back into
// the ISR and auto.leader.rebalance.enable is set, leadership returns to it
// in the same change.
func (dc *decider) alterPartitions(im *Image, leader int32, changes []ISRChange) ([]record, []error) {
	errs := make([]error, len(changes))
	recs := make([]record, 0, len(changes))
	rebalance := dc.broker.Bool("auto.leader.rebalance.enable")
	type key struct {
		topic TopicID
		part  int32
	}
	seen := map[key]bool{}
	for i, c := range changes {
		t, ok := im.TopicByID(c.Topic)
		var st Partition
		if ok {
			st, ok = t.Partition(c.Partition)
		}
		if !ok {
			errs[i] = fmt.Errorf("%w: %v-%d", ErrUnknownTopic, c.Topic, c.Partition)
			continue
		}
		if seen[key{c.Topic, c.Partition}] {
			errs[i] = fmt.Errorf("%w: %s-%d is changed twice in one request", ErrStalePartitionEpoch, t.Name, c.Partition)
			continue
		}
		if err := checkISRChange(im, t.Name, st, leader, c); err != nil {
			errs[i] = err
			continue
		}
		seen[key{c.Topic, c.Partition}] = true
		np := st
		np.ISR = sortedCopy(c.ISR)
		np.Epoch++
		if pref := st.Replicas[0]; rebalance && pref != st.Leader && !slices.Contains(st.ISR, pref) && slices.Contains(np.ISR, pref) && im.alive(pref) {
			np.Leader = pref
			np.LeaderEpoch++
		}
		recs = append(recs, partitionRec(t.ID, c.Partition, np))
	}
	return recs, errs
}

func checkISRChange(im *Image, topic string, st Partition, leader int32, c ISRChange) error {
	if st.Leader != leader || st.LeaderEpoch != c.LeaderEpoch {
		return fmt.Errorf("%w: %s-%d is led by %d at epoch %d", ErrStaleLeader, topic, c.Partition, st.Leader, st.LeaderEpoch)
	}
	if st.Epoch != c.PartitionEpoch {
		return fmt.Errorf("%w: %s-%d is at partition epoch %d, not %d", ErrStalePartitionEpoch, topic, c.Partition, st.Epoch, c.PartitionEpoch)
	}
	if !slices.Contains(c.ISR, leader) {
		return fmt.Errorf("%w: the ISR must contain the leader", ErrIneligibleReplica)
	}
	for j, r := range c.ISR {
		if !slices.Contains(st.Replicas, r) || slices.Contains(c.ISR[:j], r) || (!slices.Contains(st.ISR, r) && !im.alive(r)) {
			return fmt.Errorf("%w: %d", ErrIneligibleReplica, r)
		}
	}
	return nil
}

// electLeaders decides a preferred or unclean election on parts (nil:
// every partition).
func (dc *decider) electLeaders(im *Image, typ int8, parts []TopicPartition) ([]record, map[TopicPartition]error, error) {
	if typ != ElectPreferred && typ != ElectUnclean {
		return nil, nil, fmt.Errorf("%w: election type %d", ErrInvalidConfig, typ)
	}
	out := map[TopicPartition]error{}
	var recs []record
	elect := func(t *Topic, i int32, st Partition) {
		tp := TopicPartition{t.Name, i}
		leader, isr := st.Leader, st.ISR
		switch typ {
		case ElectPreferred:
			pref := st.Replicas[0]
			switch {
			case st.Leader == pref:
				out[tp] = ErrElectionNotNeeded
				return
			case !im.alive(pref) || !slices.Contains(st.ISR, pref):
				out[tp] = ErrPreferredLeaderNotAvailable
				return
			}
			leader = pref
		case ElectUnclean:
			if st.Leader >= 0 && im.alive(st.Leader) {
				out[tp] = ErrElectionNotNeeded
				return
			}
			leader = -1
			for _, r := range st.Replicas {
				if im.alive(r) && slices.Contains(st.ISR, r) {
					leader = r
					break
				}
			}
			if leader < 0 {
				for _, r := range st.Replicas {
					if im.alive(r) {
						leader, isr = r, []int32{r}
						break
					}
				}
			}
			if leader < 0 {
				out[tp] = ErrEligibleLeadersNotAvailable
				return
			}
		}
		np := st
		np.Leader, np.ISR = leader, isr
		np.LeaderEpoch++
		np.Epoch++
		recs = append(recs, partitionRec(t.ID, i, np))
		out[tp] = nil
	}
	if parts == nil {
		for t := range im.Topics() {
			for i, st := range t.Partitions() {
				elect(t, i, st)
			}
		}
		return recs, out, nil
	}
	done := map[TopicPartition]bool{}
	for _, tp := range parts {
		if done[tp] {
			continue
		}
		done[tp] = true
		t, st, ok := im.Partition(tp.Topic, tp.Partition)
		if !ok {
			out[tp] = fmt.Errorf("%w: %s-%d", ErrUnknownTopic, tp.Topic, tp.Partition)
			continue
		}
		elect(t, tp.Partition, st)
	}
	return recs, out, nil
}

// ValidateTopicName checks a topic name the way Kafka does.
func ValidateTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q contains %q; legal characters are ASCII alphanumerics, '.', '_' and '-'", ErrInvalidTopic, name, c)
		}
	}
	return nil
}
