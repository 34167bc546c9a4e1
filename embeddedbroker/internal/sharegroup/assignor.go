package sharegroup

import (
	"bytes"
	"slices"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
)

// SimpleAssignorName is the name of [SimpleAssignor], Kafka's.
const SimpleAssignorName = "simple"

// Assignor is a share group assignor (Kafka's
// ShareGroupPartitionAssignor). Unlike a consumer group assignor, it may
// give a partition to several members: they share its records.
//
// Assign must be deterministic (a group rebuilt by replay must decide what
// the live one decided) and must not modify the spec. It returns the
// target assignment of every member (an absent member gets nothing); the
// group drops partitions of topics a member does not subscribe to and
// partitions that do not exist.
type Assignor interface {
	// Name is the assignor's name, which ShareGroupDescribe reports.
	Name() string
	// Assign computes the target assignment.
	Assign(spec consumergroup.GroupSpec) map[string]consumergroup.Assignment
}

// SimpleAssignor is Kafka's share group assignor (SimpleAssignor, with
// its SimpleHomogeneousAssignmentBuilder and
// SimpleHeterogeneousAssignmentBuilder): balance first, then stickiness.
//
// Each partition is shared by ceil(members/partitions) members, so that
// every partition has a member and, with more members than partitions,
// every member has a partition; each member gets its share of the
// partitions (the counts differ by at most one). Members keep what they
// have where balance allows. When all members subscribe to the same
// topics, their partitions are balanced as one set; otherwise each topic
// is balanced among its subscribers on its own, as Kafka does.
type SimpleAssignor struct{}

// Name implements [Assignor].
func (SimpleAssignor) Name() string { return SimpleAssignorName }

// Assign implements [Assignor].
func (SimpleAssignor) Assign(spec consumergroup.GroupSpec) map[string]consumergroup.Assignment {
	ids := sortedIDs(spec.Members)
	out := make(map[string]consumergroup.Assignment, len(ids))
	if len(ids) == 0 {
		return out
	}
	held := make([]map[tp]bool, len(ids)) // member index -> current target
	for i, id := range ids {
		held[i] = make(map[tp]bool)
		for t, ps := range spec.Members[id].Assignment {
			for _, p := range ps {
				held[i][tp{t, p}] = true
			}
		}
	}
	result := make([][]tp, len(ids))
	balance := func(parts []tp, members []int) {
		for i, got := range shareOut(parts, members, held) {
			result[members[i]] = append(result[members[i]], got...)
		}
	}
	if spec.Homogeneous() {
		var parts []tp
		for _, t := range spec.Members[ids[0]].Topics {
			parts = appendPartitions(parts, t, spec.Topics[t])
		}
		balance(parts, indexes(len(ids)))
	} else {
		subscribers := make(map[consumergroup.TopicID][]int)
		for i, id := range ids {
			for _, t := range spec.Members[id].Topics {
				subscribers[t] = append(subscribers[t], i)
			}
		}
		topics := make([]consumergroup.TopicID, 0, len(subscribers))
		for t := range subscribers {
			topics = append(topics, t)
		}
		slices.SortFunc(topics, compareTopicIDs)
		for _, t := range topics {
			balance(appendPartitions(nil, t, spec.Topics[t]), subscribers[t])
		}
	}
	for i, id := range ids {
		var a consumergroup.Assignment
		for _, x := range result[i] {
			if a == nil {
				a = make(consumergroup.Assignment)
			}
			a[x.topic] = append(a[x.topic], x.partition)
		}
		out[id] = a.Clone()
	}
	return out
}

// tp is one topic partition.
type tp struct {
	topic     consumergroup.TopicID
	partition int32
}

func appendPartitions(parts []tp, t consumergroup.TopicID, n int32) []tp {
	for p := range n {
		parts = append(parts, tp{t, p})
	}
	return parts
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// shareOut shares the partitions among the members (indexes into held, in
// order), keeping what members hold where balance allows. It returns each
// member's partitions, in the members' order.
func shareOut(parts []tp, members []int, held []map[tp]bool) [][]tp {
	got := make([][]tp, len(members))
	if len(parts) == 0 || len(members) == 0 {
		return got
	}
	nP, nM := len(parts), len(members)
	sharing := (nM + nP - 1) / nP // members per partition
	slots := sharing * nP
	want := make([]int, nM) // partitions per member
	for i := range want {
		want[i] = (slots*(i+1)+nM-1)/nM - (slots*i+nM-1)/nM
	}
	holders := make(map[tp][]int, nP) // partition -> member positions
	for i, m := range members {
		for _, x := range parts {
			if held[m][x] {
				got[i] = append(got[i], x)
				holders[x] = append(holders[x], i)
			}
		}
	}
	drop := func(i int, x tp) {
		got[i] = slices.DeleteFunc(got[i], func(y tp) bool { return y == x })
		holders[x] = slices.DeleteFunc(holders[x], func(j int) bool { return j == i })
	}
	// Partitions shared by too many: drop them first from members that
	// have too many partitions, then from the others.
	for _, x := range parts {
		for _, overfull := range []bool{true, false} {
			for _, i := range slices.Clone(holders[x]) {
				if len(holders[x]) <= sharing {
					break
				}
				if (len(got[i]) > want[i]) == overfull {
					drop(i, x)
				}
			}
		}
	}
	// Members with too many partitions give up their last ones.
	for i := range got {
		for len(got[i]) > want[i] {
			drop(i, got[i][len(got[i])-1])
		}
	}
	// Partitions shared by too few go to the members with too few, in
	// turn.
	next := 0
	for _, x := range parts {
		for len(holders[x]) < sharing {
			found := false
			for k := range nM {
				i := (next + k) % nM
				if len(got[i]) < want[i] && !slices.Contains(holders[x], i) {
					got[i] = append(got[i], x)
					holders[x] = append(holders[x], i)
					next, found = i+1, true
					break
				}
			}
			if !found {
				break
			}
		}
	}
	return got
}

func compareTopicIDs(a, b consumergroup.TopicID) int { return bytes.Compare(a[:], b[:]) }

// topicIDs returns the assignment's topics, sorted.
func topicIDs(a consumergroup.Assignment) []consumergroup.TopicID {
	ts := make([]consumergroup.TopicID, 0, len(a))
	for t := range a {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, compareTopicIDs)
	return ts
}
