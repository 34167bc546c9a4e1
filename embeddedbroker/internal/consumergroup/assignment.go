package consumergroup

import (
	"bytes"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicID is a topic's UUID, as the Kafka protocol carries it.
type TopicID = [16]byte

// Topic is one topic of the cluster as the caller's metadata knows it.
type Topic struct {
	// ID is the topic's ID.
	ID TopicID
	// Name is the topic's name.
	Name string
	// Partitions is the number of partitions.
	Partitions int32
}

// TopicMetadata is the cluster's topics by name: what the caller knows of
// them when it calls (Kafka's TopicsImage). The group never keeps it; it
// keeps only the metadata of the topics its members subscribe to, in
// [SubscriptionMetadataRecord]s.
type TopicMetadata map[string]Topic

// Assignment is a set of partitions by topic ID. In the assignments this
// package returns and stores, partitions are sorted and distinct and no
// topic has an empty list; a nil Assignment is empty. The package never
// modifies an Assignment it has returned or stored: changes replace it.
type Assignment map[TopicID][]int32

// Len returns the number of partitions.
func (a Assignment) Len() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

// Has reports whether the assignment holds the partition. The partitions
// of the topic must be sorted.
func (a Assignment) Has(topic TopicID, partition int32) bool {
	_, ok := slices.BinarySearch(a[topic], partition)
	return ok
}

// Equal reports whether both hold the same partitions. Both must be
// normalized (sorted, distinct, no empty topic).
func (a Assignment) Equal(b Assignment) bool {
	if len(a) != len(b) {
		return false
	}
	for t, ps := range a {
		if !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}

// Clone returns a normalized deep copy: sorted, distinct partitions, no
// empty topic, nil if empty.
func (a Assignment) Clone() Assignment {
	var out Assignment
	for t, ps := range a {
		if len(ps) == 0 {
			continue
		}
		c := slices.Clone(ps)
		slices.Sort(c)
		c = slices.Compact(c)
		if out == nil {
			out = make(Assignment, len(a))
		}
		out[t] = c
	}
	return out
}

// topics returns the topic IDs, sorted.
func (a Assignment) topics() []TopicID {
	ts := make([]TopicID, 0, len(a))
	for t := range a {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, compareIDs)
	return ts
}

func compareIDs(a, b TopicID) int { return bytes.Compare(a[:], b[:]) }

// setOp combines two normalized assignments partition list by partition
// list: keep(inA, inB) tells which partitions the result holds.
func setOp(a, b Assignment, keep func(inA, inB bool) bool) Assignment {
	var out Assignment
	add := func(t TopicID, ps []int32) {
		if len(ps) == 0 {
			return
		}
		if out == nil {
			out = make(Assignment)
		}
		out[t] = ps
	}
	for t, pa := range a {
		add(t, mergeOp(pa, b[t], keep))
	}
	for t, pb := range b {
		if _, ok := a[t]; !ok {
			add(t, mergeOp(nil, pb, keep))
		}
	}
	return out
}

func mergeOp(a, b []int32, keep func(inA, inB bool) bool) []int32 {
	var out []int32
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			if keep(true, false) {
				out = append(out, a[i])
			}
			i++
		case i == len(a) || b[j] < a[i]:
			if keep(false, true) {
				out = append(out, b[j])
			}
			j++
		default:
			if keep(true, true) {
				out = append(out, a[i])
			}
			i++
			j++
		}
	}
	return out
}

func intersect(a, b Assignment) Assignment {
	return setOp(a, b, func(inA, inB bool) bool { return inA && inB })
}

func subtract(a, b Assignment) Assignment {
	return setOp(a, b, func(inA, inB bool) bool { return inA && !inB })
}

func union(a, b Assignment) Assignment {
	return setOp(a, b, func(inA, inB bool) bool { return inA || inB })
}

// overlaps reports whether a and b share a partition.
func overlaps(a, b Assignment) bool {
	for t, pa := range a {
		pb := b[t]
		i, j := 0, 0
		for i < len(pa) && j < len(pb) {
			switch {
			case pa[i] < pb[j]:
				i++
			case pb[j] < pa[i]:
				j++
			default:
				return true
			}
		}
	}
	return false
}

// subset reports whether every partition of a is in b.
func subset(a, b Assignment) bool {
	for t, pa := range a {
		pb := b[t]
		for _, p := range pa {
			if _, ok := slices.BinarySearch(pb, p); !ok {
				return false
			}
		}
	}
	return true
}

// ownedFromRequest is the request's owned partitions, normalized, and
// whether the request carried them at all.
func ownedFromRequest(ts []kmsg.ConsumerGroupHeartbeatRequestTopic) (Assignment, bool) {
	if ts == nil {
		return nil, false
	}
	a := make(Assignment, len(ts))
	for _, t := range ts {
		a[t.TopicID] = append(a[t.TopicID], t.Partitions...)
	}
	return a.Clone(), true
}

// responseAssignment is the assignment as the heartbeat response carries
// it, topics sorted by ID.
func responseAssignment(a Assignment) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	ra := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	ra.Topics = make([]kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic, 0, len(a))
	for _, t := range a.topics() {
		rt := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		rt.TopicID = t
		rt.Partitions = slices.Clone(a[t])
		ra.Topics = append(ra.Topics, rt)
	}
	return &ra
}
