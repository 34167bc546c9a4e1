package consumergroup

import (
	"cmp"
	"slices"
)

// Assignor is a server-side assignor (Kafka's
// ConsumerGroupPartitionAssignor): it computes the target assignment of a
// group from its members' subscriptions and current target assignment.
//
// Assign must be deterministic (the same spec, the same result: a group
// rebuilt by replay must decide what the live one decided) and must not
// modify the spec. It returns an assignment for every member (an absent
// member gets nothing); a partition it gives to two members, or to a
// member that does not subscribe to its topic, or that does not exist is
// left unassigned by the group, which logs it.
type Assignor interface {
	// Name is the name members choose the assignor by.
	Name() string
	// Assign computes the target assignment.
	Assign(spec GroupSpec) map[string]Assignment
}

// GroupSpec is an assignor's input.
type GroupSpec struct {
	// Members are the members by ID.
	Members map[string]MemberSpec
	// Topics are the partition counts of the topics members subscribe to,
	// by topic ID.
	Topics map[TopicID]int32
}

// MemberSpec is a member as an assignor sees it.
type MemberSpec struct {
	// InstanceID is the static member's instance ID, "" if dynamic.
	InstanceID string
	// RackID is the member's rack, "" if unknown.
	RackID string
	// Topics are the topics the member subscribes to (that exist), sorted.
	Topics []TopicID
	// Assignment is the member's current target assignment.
	Assignment Assignment
}

// Homogeneous reports whether all members subscribe to the same topics.
func (s GroupSpec) Homogeneous() bool {
	var first []TopicID
	seen := false
	for _, m := range s.Members {
		if !seen {
			first, seen = m.Topics, true
			continue
		}
		if !slices.Equal(first, m.Topics) {
			return false
		}
	}
	return true
}

func (s GroupSpec) memberIDs() []string { return sortedKeys(s.Members) }

// subscribes reports whether the member subscribes to the topic.
func (m MemberSpec) subscribes(t TopicID) bool {
	_, ok := slices.BinarySearchFunc(m.Topics, t, compareIDs)
	return ok
}

// sanitize keeps of an assignor's result what is valid: for every member
// of the spec, partitions of topics it subscribes to that exist, each
// given once (to the first member by ID). It returns the number of
// partitions it dropped.
func sanitize(spec GroupSpec, out map[string]Assignment) (map[string]Assignment, int) {
	clean := make(map[string]Assignment, len(spec.Members))
	taken := newPartitionSet(spec.Topics)
	dropped := 0
	for id, a := range out {
		if _, ok := spec.Members[id]; !ok {
			dropped += a.Len()
		}
	}
	for _, id := range spec.memberIDs() {
		m := spec.Members[id]
		var kept Assignment
		for t, ps := range out[id].Clone() {
			for _, p := range ps {
				if !m.subscribes(t) || !taken.add(t, p) {
					dropped++
					continue
				}
				if kept == nil {
					kept = make(Assignment)
				}
				kept[t] = append(kept[t], p)
			}
		}
		clean[id] = kept
	}
	return clean, dropped
}

// partitionSet is a set of the partitions of some topics.
type partitionSet map[TopicID][]bool

func newPartitionSet(topics map[TopicID]int32) partitionSet {
	s := make(partitionSet, len(topics))
	for t, n := range topics {
		s[t] = make([]bool, n)
	}
	return s
}

// add adds a partition of one of the set's topics if it is not in yet.
func (s partitionSet) add(t TopicID, p int32) bool {
	ps := s[t]
	if p < 0 || int(p) >= len(ps) || ps[p] {
		return false
	}
	ps[p] = true
	return true
}

func (s partitionSet) has(t TopicID, p int32) bool {
	ps := s[t]
	return p >= 0 && int(p) < len(ps) && ps[p]
}

// partition is a topic partition, inside the assignors.
type partition struct {
	topic TopicID
	p     int32
}

// UniformAssignorName is the name of [UniformAssignor].
const UniformAssignorName = "uniform"

// RangeAssignorName is the name of [RangeAssignor].
const RangeAssignorName = "range"

// UniformAssignor is Kafka's default server-side assignor ("uniform"):
// balanced first (member loads differ by at most one partition where the
// subscriptions allow), then sticky (members keep the partitions of their
// current target assignment where balance allows). When all members
// subscribe to the same topics it uses a direct quota-based algorithm;
// otherwise it keeps what it can, gives the rest to the least loaded
// subscribers, and moves partitions from the most to the least loaded
// subscribers of each topic until no move improves the balance. Racks are
// ignored (Kafka 4.0's uniform assignor ignores them too).
type UniformAssignor struct{}

// Name implements [Assignor].
func (UniformAssignor) Name() string { return UniformAssignorName }

// Assign implements [Assignor].
func (UniformAssignor) Assign(spec GroupSpec) map[string]Assignment {
	if len(spec.Members) == 0 {
		return map[string]Assignment{}
	}
	if spec.Homogeneous() {
		return uniformHomogeneous(spec)
	}
	return uniformHeterogeneous(spec)
}

// uniformHomogeneous assigns when every member subscribes to the same
// topics. With P partitions and N members, every member gets P/N
// partitions and P%N of them one more; those are the members that keep
// the most partitions, so that as few partitions as possible move. Every
// member keeps its current partitions up to its quota; the others are
// dealt round-robin (by topic, then partition) to the members below their
// quota, which spreads each topic's partitions.
func uniformHomogeneous(spec GroupSpec) map[string]Assignment {
	ids := spec.memberIDs()
	topics := spec.Members[ids[0]].Topics
	total := 0
	for _, t := range topics {
		total += int(spec.Topics[t])
	}
	n := len(ids)
	minQuota, extra := total/n, total%n

	taken := newPartitionSet(spec.Topics)
	kept := make([][]partition, n)
	for i, id := range ids {
		m := spec.Members[id]
		for _, t := range m.Assignment.topics() {
			if !m.subscribes(t) {
				continue
			}
			for _, p := range m.Assignment[t] {
				if taken.add(t, p) {
					kept[i] = append(kept[i], partition{t, p})
				}
			}
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(kept[b]), len(kept[a])) })
	quota := make([]int, n)
	for rank, i := range order {
		quota[i] = minQuota
		if rank < extra {
			quota[i]++
		}
	}
	for i := range kept {
		if len(kept[i]) > quota[i] {
			for _, tp := range kept[i][quota[i]:] {
				taken[tp.topic][tp.p] = false
			}
			kept[i] = kept[i][:quota[i]]
		}
	}
	var room []int // members below their quota, by ID
	for i := range kept {
		if len(kept[i]) < quota[i] {
			room = append(room, i)
		}
	}
	next := 0
	for _, t := range topics {
		for p := range spec.Topics[t] {
			if taken.has(t, p) {
				continue
			}
			tp := partition{t, p}
			for len(kept[room[next]]) >= quota[room[next]] {
				room = slices.Delete(room, next, next+1)
				if next == len(room) {
					next = 0
				}
			}
			i := room[next]
			kept[i] = append(kept[i], tp)
			next = (next + 1) % len(room)
		}
	}
	out := make(map[string]Assignment, n)
	for i, id := range ids {
		out[id] = toAssignment(kept[i])
	}
	return out
}

func toAssignment(tps []partition) Assignment {
	if len(tps) == 0 {
		return nil
	}
	a := make(Assignment)
	for _, tp := range tps {
		a[tp.topic] = append(a[tp.topic], tp.p)
	}
	return a.Clone()
}

// maxBalanceRounds bounds the balancing passes over the topics of a
// heterogeneous group, as Kafka bounds them: with overlapping subscriptions
// balance may take many passes, and near-balance is enough.
const maxBalanceRounds = 16

// uniformHeterogeneous assigns when members subscribe to different
// topics.
func uniformHeterogeneous(spec GroupSpec) map[string]Assignment {
	ids := spec.memberIDs()
	load := make([]int, len(ids))
	subscribers := make(map[TopicID][]int)
	for i, id := range ids {
		for _, t := range spec.Members[id].Topics {
			if spec.Topics[t] > 0 {
				subscribers[t] = append(subscribers[t], i)
			}
		}
	}
	owner := make(map[TopicID][]int, len(subscribers))
	for t := range subscribers {
		os := make([]int, spec.Topics[t])
		for p := range os {
			os[p] = -1
		}
		owner[t] = os
	}
	// Members keep the partitions of their target they still subscribe to.
	for i, id := range ids {
		m := spec.Members[id]
		for _, t := range m.Assignment.topics() {
			if !m.subscribes(t) || owner[t] == nil {
				continue
			}
			for _, p := range m.Assignment[t] {
				if p >= 0 && int(p) < len(owner[t]) && owner[t][p] == -1 {
					owner[t][p] = i
					load[i]++
				}
			}
		}
	}
	// Topics with the most partitions per subscriber first (their
	// subscribers have the least choice), then the fewest subscribers,
	// then by ID.
	topics := make([]TopicID, 0, len(subscribers))
	for t := range subscribers {
		topics = append(topics, t)
	}
	slices.SortFunc(topics, func(a, b TopicID) int {
		pa, sa := int(spec.Topics[a]), len(subscribers[a])
		pb, sb := int(spec.Topics[b]), len(subscribers[b])
		return cmp.Or(cmp.Compare(pb*sa, pa*sb), cmp.Compare(sa, sb), compareIDs(a, b))
	})
	leastLoaded := func(subs []int) int {
		best := subs[0]
		for _, i := range subs[1:] {
			if load[i] < load[best] {
				best = i
			}
		}
		return best
	}
	for _, t := range topics {
		for p, o := range owner[t] {
			if o == -1 {
				i := leastLoaded(subscribers[t])
				owner[t][p] = i
				load[i]++
			}
		}
	}
	// Move partitions from the most loaded subscriber of a topic that has
	// some of it to its least loaded one while that improves the balance.
	// Every move lowers the sum of the squared loads, so this ends.
	for range maxBalanceRounds {
		moved := false
		for _, t := range topics {
			subs := subscribers[t]
			if len(subs) < 2 {
				continue
			}
			count := make(map[int]int, len(subs))
			for _, o := range owner[t] {
				count[o]++
			}
			for {
				low := leastLoaded(subs)
				high := -1
				for _, i := range subs {
					if count[i] > 0 && (high == -1 || load[i] > load[high]) {
						high = i
					}
				}
				if high == -1 || load[high]-load[low] <= 1 {
					break
				}
				for p := len(owner[t]) - 1; p >= 0; p-- {
					if owner[t][p] == high {
						owner[t][p] = low
						break
					}
				}
				load[high]--
				load[low]++
				count[high]--
				count[low]++
				moved = true
			}
		}
		if !moved {
			break
		}
	}
	tps := make([][]partition, len(ids))
	for _, t := range topics {
		for p, o := range owner[t] {
			tps[o] = append(tps[o], partition{t, int32(p)})
		}
	}
	out := make(map[string]Assignment, len(ids))
	for i, id := range ids {
		out[id] = toAssignment(tps[i])
	}
	return out
}

// RangeAssignor is Kafka's server-side range assignor ("range"): for each
// topic, its subscribers, static members first (by instance ID, so that a
// static member keeps its ranges across restarts) then dynamic ones (by
// member ID), get consecutive ranges of its partitions, the first ones one
// partition more when the count does not divide. When members subscribe
// to the same co-partitioned topics, a member gets the same partitions of
// each. It is not sticky otherwise, and ignores racks.
type RangeAssignor struct{}

// Name implements [Assignor].
func (RangeAssignor) Name() string { return RangeAssignorName }

// Assign implements [Assignor].
func (RangeAssignor) Assign(spec GroupSpec) map[string]Assignment {
	ids := spec.memberIDs()
	slices.SortStableFunc(ids, func(a, b string) int {
		ia, ib := spec.Members[a].InstanceID, spec.Members[b].InstanceID
		switch {
		case ia != "" && ib != "":
			return cmp.Or(cmp.Compare(ia, ib), cmp.Compare(a, b))
		case ia != "":
			return -1
		case ib != "":
			return 1
		default:
			return cmp.Compare(a, b)
		}
	})
	subscribers := make(map[TopicID][]string)
	for _, id := range ids {
		for _, t := range spec.Members[id].Topics {
			subscribers[t] = append(subscribers[t], id)
		}
	}
	out := make(map[string]Assignment, len(ids))
	for _, id := range ids {
		out[id] = nil
	}
	for t, subs := range subscribers {
		n := int(spec.Topics[t])
		quota, extra := n/len(subs), n%len(subs)
		start := 0
		for k, id := range subs {
			end := start + quota
			if k < extra {
				end++
			}
			if start < end {
				if out[id] == nil {
					out[id] = make(Assignment)
				}
				ps := make([]int32, 0, end-start)
				for p := start; p < end; p++ {
					ps = append(ps, int32(p))
				}
				out[id][t] = ps
			}
			start = end
		}
	}
	return out
}
