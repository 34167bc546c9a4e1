package consumergroup

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// Topic IDs of Kafka's RangeAssignorTest.
var (
	topic1 = tid(1)
	topic2 = tid(2)
	topic3 = tid(3)
)

// mspec is a member spec subscribed to the topics.
func mspec(instance string, current Assignment, topics ...TopicID) MemberSpec {
	ts := slices.Clone(topics)
	slices.SortFunc(ts, compareIDs)
	return MemberSpec{InstanceID: instance, Topics: ts, Assignment: current}
}

func counts(kv ...any) map[TopicID]int32 {
	m := make(map[TopicID]int32)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(TopicID)] = int32(kv[i+1].(int))
	}
	return m
}

// checkAssignment compares an assignor's output with the expected one
// (members with nothing may be absent or empty in either).
func checkAssignment(t *testing.T, got, want map[string]Assignment) {
	t.Helper()
	for id := range got {
		if _, ok := want[id]; !ok && got[id].Len() > 0 {
			t.Errorf("unexpected member %s: %v", id, got[id])
		}
	}
	for id, w := range want {
		if g := got[id].Clone(); !g.Equal(w.Clone()) {
			t.Errorf("member %s: got %v, want %v", id, g, w)
		}
	}
}

// checkValid checks that every partition of a subscribed topic is assigned
// exactly once, to a subscriber, and returns the loads by member.
func checkValid(t *testing.T, spec GroupSpec, out map[string]Assignment) map[string]int {
	t.Helper()
	owner := map[partition]string{}
	ls := map[string]int{}
	for id, a := range out {
		m, ok := spec.Members[id]
		if !ok {
			t.Fatalf("assignment for unknown member %s", id)
		}
		if !a.Equal(a.Clone()) {
			t.Fatalf("member %s: unnormalized %v", id, a)
		}
		for tp, ps := range a {
			if !m.subscribes(tp) {
				t.Fatalf("member %s assigned topic %x it does not subscribe to", id, tp[15])
			}
			for _, p := range ps {
				if p < 0 || p >= spec.Topics[tp] {
					t.Fatalf("member %s assigned %x-%d out of range", id, tp[15], p)
				}
				if o, dup := owner[partition{tp, p}]; dup {
					t.Fatalf("%x-%d assigned to %s and %s", tp[15], p, o, id)
				}
				owner[partition{tp, p}] = id
			}
		}
		ls[id] = a.Len()
	}
	for id, m := range spec.Members {
		ls[id] += 0
		for _, tp := range m.Topics {
			for p := range spec.Topics[tp] {
				if _, ok := owner[partition{tp, p}]; !ok {
					t.Fatalf("%x-%d subscribed by %s unassigned", tp[15], p, id)
				}
			}
		}
	}
	return ls
}

// moves counts the partitions whose owner changed between two
// assignments, among those assigned in both.
func moves(before, after map[string]Assignment) int {
	owner := map[partition]string{}
	for id, a := range before {
		for t, ps := range a {
			for _, p := range ps {
				owner[partition{t, p}] = id
			}
		}
	}
	n := 0
	for id, a := range after {
		for t, ps := range a {
			for _, p := range ps {
				if o, ok := owner[partition{t, p}]; ok && o != id {
					n++
				}
			}
		}
	}
	return n
}

func loadSpread(ls map[string]int) int {
	var vs []int
	for _, l := range ls {
		vs = append(vs, l)
	}
	return spread(vs)
}

// The cases of Kafka's RangeAssignorTest.

func TestRangeOneMemberNoTopic(t *testing.T) {
	out := RangeAssignor{}.Assign(GroupSpec{
		Members: map[string]MemberSpec{"A": mspec("", nil)},
		Topics:  counts(topic1, 3),
	})
	checkAssignment(t, out, map[string]Assignment{"A": nil})
}

func TestRangeFirstAssignmentTwoMembersTwoTopicsSameSubscriptions(t *testing.T) {
	out := RangeAssignor{}.Assign(GroupSpec{
		Members: map[string]MemberSpec{
			"A": mspec("", nil, topic1, topic3),
			"B": mspec("", nil, topic1, topic3),
		},
		Topics: counts(topic1, 3, topic3, 2),
	})
	checkAssignment(t, out, map[string]Assignment{
		"A": asgs(asg(1, 0, 1), asg(3, 0)),
		"B": asgs(asg(1, 2), asg(3, 1)),
	})
}

func TestRangeFirstAssignmentThreeMembersThreeTopicsDifferentSubscriptions(t *testing.T) {
	out := RangeAssignor{}.Assign(GroupSpec{
		Members: map[string]MemberSpec{
			"A": mspec("", nil, topic1, topic2),
			"B": mspec("", nil, topic3),
			"C": mspec("", nil, topic2, topic3),
		},
		Topics: counts(topic1, 3, topic2, 3, topic3, 2),
	})
	checkAssignment(t, out, map[string]Assignment{
		"A": asgs(asg(1, 0, 1, 2), asg(2, 0, 1)),
		"B": asg(3, 0),
		"C": asgs(asg(2, 2), asg(3, 1)),
	})
}

func TestRangeFirstAssignmentNumMembersGreaterThanNumPartitions(t *testing.T) {
	out := RangeAssignor{}.Assign(GroupSpec{
		Members: map[string]MemberSpec{
			"A": mspec("", nil, topic1, topic3),
			"B": mspec("", nil, topic1, topic3),
			"C": mspec("", nil, topic1, topic3),
		},
		Topics: counts(topic1, 3, topic3, 2),
	})
	checkAssignment(t, out, map[string]Assignment{
		"A": asgs(asg(1, 0), asg(3, 0)),
		"B": asgs(asg(1, 1), asg(3, 1)),
		"C": asg(1, 2),
	})
}

func TestRangeStaticMembership(t *testing.T) {
	topics := counts(topic1, 3)
	members := map[string]MemberSpec{
		"A": mspec("instanceA", nil, topic1),
		"B": mspec("instanceB", nil, topic1),
	}
	initial := RangeAssignor{}.Assign(GroupSpec{Members: members, Topics: topics})
	// A rejoins with another member ID (after B by ID) but its instance ID.
	delete(members, "A")
	members["memberA1"] = mspec("instanceA", nil, topic1)
	again := RangeAssignor{}.Assign(GroupSpec{Members: members, Topics: topics})
	checkAssignment(t, again, map[string]Assignment{"memberA1": initial["A"], "B": initial["B"]})
}

func TestRangeMixedStaticMembership(t *testing.T) {
	topics := counts(topic1, 5)
	members := map[string]MemberSpec{
		"A": mspec("instanceA", nil, topic1),
		"C": mspec("instanceC", nil, topic1),
		"B": mspec("", nil, topic1),
	}
	initial := RangeAssignor{}.Assign(GroupSpec{Members: members, Topics: topics})
	delete(members, "A")
	members["memberA1"] = mspec("instanceA", nil, topic1)
	again := RangeAssignor{}.Assign(GroupSpec{Members: members, Topics: topics})
	checkAssignment(t, again, map[string]Assignment{"memberA1": initial["A"], "B": initial["B"], "C": initial["C"]})
	// Static members come first: A and C get the first ranges.
	checkAssignment(t, initial, map[string]Assignment{"A": asg(1, 0, 1), "C": asg(1, 2, 3), "B": asg(1, 4)})
}

func TestRangeReassignmentNumMembersGreaterThanNumPartitionsWhenOneMemberAdded(t *testing.T) {
	out := RangeAssignor{}.Assign(GroupSpec{
		Members: map[string]MemberSpec{
			"A": mspec("", asgs(asg(1, 0), asg(2, 0)), topic1, topic2),
			"B": mspec("", asgs(asg(1, 1), asg(2, 1)), topic1, topic2),
			"C": mspec("", nil, topic1, topic2),
		},
		Topics: counts(topic1, 2, topic2, 2),
	})
	checkAssignment(t, out, map[string]Assignment{
		"A": asgs(asg(1, 0), asg(2, 0)),
		"B": asgs(asg(1, 1), asg(2, 1)),
	})
}

func TestRangeReassignmentWhenOnePartitionAddedForTwoMembersTwoTopics(t *testing.T) {
	out := RangeAssignor{}.Assign(GroupSpec{
		Members: map[string]MemberSpec{
			"A": mspec("", asgs(asg(1, 0, 1), asg(2, 0, 1)), topic1, topic2),
			"B": mspec("", asgs(asg(1, 2), asg(2, 2)), topic1, topic2),
		},
		Topics: counts(topic1, 4, topic2, 4),
	})
	checkAssignment(t, out, map[string]Assignment{
		"A": asgs(asg(1, 0, 1), asg(2, 0, 1)),
		"B": asgs(asg(1, 2, 3), asg(2, 2, 3)),
	})
}

func TestRangeReassignmentWhenOneMemberAddedAfterInitialAssignmentWithTwoMembersTwoTopics(t *testing.T) {
	out := RangeAssignor{}.Assign(GroupSpec{
		Members: map[string]MemberSpec{
			"A": mspec("", asgs(asg(1, 0, 1), asg(2, 0, 1)), topic1, topic2),
			"B": mspec("", asgs(asg(1, 2), asg(2, 2)), topic1, topic2),
			"C": mspec("", nil, topic1, topic2),
		},
		Topics: counts(topic1, 3, topic2, 3),
	})
	checkAssignment(t, out, map[string]Assignment{
		"A": asgs(asg(1, 0), asg(2, 0)),
		"B": asgs(asg(1, 1), asg(2, 1)),
		"C": asgs(asg(1, 2), asg(2, 2)),
	})
}

func TestRangeReassignmentWhenOneMemberAddedAndOnePartitionAfterInitialAssignmentWithTwoMembersTwoTopics(t *testing.T) {
	out := RangeAssignor{}.Assign(GroupSpec{
		Members: map[string]MemberSpec{
			"A": mspec("", asgs(asg(1, 0, 1), asg(2, 0, 1)), topic1, topic2),
			"B": mspec("", asgs(asg(1, 2), asg(2, 2)), topic1, topic2),
			"C": mspec("", nil, topic1),
		},
		Topics: counts(topic1, 4, topic2, 3),
	})
	checkAssignment(t, out, map[string]Assignment{
		"A": asgs(asg(1, 0, 1), asg(2, 0, 1)),
		"B": asgs(asg(1, 2), asg(2, 2)),
		"C": asg(1, 3),
	})
}

func TestRangeReassignmentWhenOneMemberRemovedAfterInitialAssignmentWithTwoMembersTwoTopics(t *testing.T) {
	out := RangeAssignor{}.Assign(GroupSpec{
		Members: map[string]MemberSpec{
			"B": mspec("", asgs(asg(1, 2), asg(2, 2)), topic1, topic2),
		},
		Topics: counts(topic1, 3, topic2, 3),
	})
	checkAssignment(t, out, map[string]Assignment{"B": asgs(asg(1, 0, 1, 2), asg(2, 0, 1, 2))})
}

func TestRangeReassignmentWhenMultipleSubscriptionsRemovedAfterInitialAssignmentWithThreeMembersTwoTopics(t *testing.T) {
	out := RangeAssignor{}.Assign(GroupSpec{
		Members: map[string]MemberSpec{
			"A": mspec("", asgs(asg(1, 0, 1, 2), asg(2, 0)), topic1),
			"B": mspec("", asg(2, 1), topic1, topic2, topic3),
			"C": mspec("", asgs(asg(2, 2), asg(3, 0, 1)), topic2),
		},
		Topics: counts(topic1, 3, topic2, 3, topic3, 2),
	})
	checkAssignment(t, out, map[string]Assignment{
		"A": asg(1, 0, 1),
		"B": asgs(asg(1, 2), asg(2, 0, 1), asg(3, 0, 1)),
		"C": asg(2, 2),
	})
}

// TestUniformFirstAssignment: balanced, and each topic spread.
func TestUniformFirstAssignment(t *testing.T) {
	spec := GroupSpec{
		Members: map[string]MemberSpec{
			"A": mspec("", nil, topic1, topic3),
			"B": mspec("", nil, topic1, topic3),
		},
		Topics: counts(topic1, 3, topic3, 2),
	}
	out := UniformAssignor{}.Assign(spec)
	if ls := checkValid(t, spec, out); loadSpread(ls) > 1 {
		t.Fatalf("loads %v", ls)
	}
	// Round-robin: both members get partitions of both topics.
	for id, a := range out {
		if len(a) != 2 {
			t.Fatalf("%s got %v", id, a)
		}
	}
	if out := (UniformAssignor{}).Assign(GroupSpec{Members: map[string]MemberSpec{"A": mspec("", nil)}, Topics: counts(topic1, 3)}); out["A"].Len() != 0 {
		t.Fatalf("member without topics got %v", out)
	}
	if out := (UniformAssignor{}).Assign(GroupSpec{}); len(out) != 0 {
		t.Fatalf("no members: %v", out)
	}
}

// TestUniformStickyHomogeneous: a member joining takes only its share; a
// member leaving gives only its own; a balanced assignment stays.
func TestUniformStickyHomogeneous(t *testing.T) {
	topics := counts(topic1, 7, topic2, 5, topic3, 12) // 24 partitions
	spec := func(current map[string]Assignment, ids ...string) GroupSpec {
		s := GroupSpec{Members: map[string]MemberSpec{}, Topics: topics}
		for _, id := range ids {
			s.Members[id] = mspec("", current[id], topic1, topic2, topic3)
		}
		return s
	}
	out := UniformAssignor{}.Assign(spec(nil, "a", "b", "c"))
	checkValid(t, spec(nil, "a", "b", "c"), out)
	if again := (UniformAssignor{}).Assign(spec(out, "a", "b", "c")); !reflect.DeepEqual(again, out) {
		t.Fatalf("balanced assignment changed: %v -> %v", out, again)
	}
	for n, id := range []string{"d", "e", "f", "g"} {
		ids := []string{"a", "b", "c", "d", "e", "f", "g"}[:4+n]
		next := UniformAssignor{}.Assign(spec(out, ids...))
		ls := checkValid(t, spec(out, ids...), next)
		if loadSpread(ls) > 1 {
			t.Fatalf("loads %v", ls)
		}
		// Only the newcomer's share moves.
		if m := moves(out, next); m != ls[id] || ls[id] != 24/len(ids) {
			t.Fatalf("%d members: %d partitions moved, newcomer got %d", len(ids), m, ls[id])
		}
		out = next
	}
	// A member leaving: only its partitions move.
	delete(out, "b")
	ids := []string{"a", "c", "d", "e", "f", "g"}
	next := UniformAssignor{}.Assign(spec(out, ids...))
	if ls := checkValid(t, spec(out, ids...), next); loadSpread(ls) > 1 || moves(out, next) != 0 {
		t.Fatalf("after b left: loads %v, moves %d", ls, moves(out, next))
	}
}

// TestUniformHeterogeneous: members subscribed to different topics.
func TestUniformHeterogeneous(t *testing.T) {
	spec := GroupSpec{
		Members: map[string]MemberSpec{
			"A": mspec("", nil, topic1),
			"B": mspec("", nil, topic1, topic2),
			"C": mspec("", nil, topic2),
		},
		Topics: counts(topic1, 6, topic2, 6),
	}
	out := UniformAssignor{}.Assign(spec)
	if ls := checkValid(t, spec, out); ls["A"] != 4 || ls["B"] != 4 || ls["C"] != 4 {
		t.Fatalf("loads %v", ls)
	}
	// Stays as it is.
	for id, m := range spec.Members {
		m.Assignment = out[id]
		spec.Members[id] = m
	}
	if again := (UniformAssignor{}).Assign(spec); !reflect.DeepEqual(again, out) {
		t.Fatalf("balanced assignment changed: %v -> %v", out, again)
	}
	// C subscribes to topic 3 as well: A keeps its partitions. (The
	// best balance, 5 each, takes a chain of moves, C to B to A, that no
	// single move starts: as Kafka's, the assignor stops near it.)
	m := spec.Members["C"]
	m.Topics = []TopicID{topic2, topic3}
	spec.Members["C"] = m
	spec.Topics[topic3] = 3
	next := UniformAssignor{}.Assign(spec)
	ls := checkValid(t, spec, next)
	if !subset(out["A"], next["A"]) || loadSpread(ls) > 2 || moves(out, next) > 1 {
		t.Fatalf("after C subscribed to topic 3: %v, loads %v", next, ls)
	}
	// Kafka's documented case: disjoint-ish subscriptions where no single
	// move improves the balance are left alone.
	spec = GroupSpec{
		Members: map[string]MemberSpec{
			"A": mspec("", nil, topic1),
			"B": mspec("", nil, topic2),
		},
		Topics: counts(topic1, 10, topic2, 2),
	}
	if ls := checkValid(t, spec, UniformAssignor{}.Assign(spec)); ls["A"] != 10 || ls["B"] != 2 {
		t.Fatalf("loads %v", ls)
	}
}

// TestAssignorsRandom: over random groups (subscriptions, partition counts
// and current assignments), both assignors assign every subscribed
// partition exactly once to a subscriber, deterministically; the uniform
// assignor balances homogeneous groups within one partition and leaves no
// single move that would improve a heterogeneous group's balance.
func TestAssignorsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 400 {
		nTopics := 1 + r.IntN(5)
		topics := map[TopicID]int32{}
		var ids []TopicID
		for i := range nTopics {
			id := tid(byte(i + 1))
			topics[id] = int32(r.IntN(12))
			ids = append(ids, id)
		}
		homogeneous := r.IntN(2) == 0
		var common []TopicID
		for _, id := range ids {
			if r.IntN(2) == 0 || len(common) == 0 {
				common = append(common, id)
			}
		}
		spec := GroupSpec{Members: map[string]MemberSpec{}, Topics: topics}
		for i := range 1 + r.IntN(8) {
			subs := common
			if !homogeneous {
				subs = nil
				for _, id := range ids {
					if r.IntN(3) > 0 {
						subs = append(subs, id)
					}
				}
			}
			var current Assignment
			for _, id := range ids { // garbage included: other topics, out of range, duplicates
				for p := range topics[id] + 2 {
					if r.IntN(5) == 0 {
						current = union(current, Assignment{id: {p}})
					}
				}
			}
			instance := ""
			if r.IntN(3) == 0 {
				instance = fmt.Sprintf("i%d", r.IntN(10))
			}
			spec.Members[fmt.Sprintf("m%d", i)] = mspec(instance, current, subs...)
		}
		for _, a := range []Assignor{UniformAssignor{}, RangeAssignor{}} {
			out := a.Assign(spec)
			ls := checkValid(t, spec, out)
			if again := a.Assign(spec); !reflect.DeepEqual(out, again) {
				t.Fatalf("iteration %d, %s: not deterministic", iter, a.Name())
			}
			if _, isUniform := a.(UniformAssignor); !isUniform {
				continue
			}
			if spec.Homogeneous() && loadSpread(ls) > 1 {
				t.Fatalf("iteration %d: homogeneous loads %v", iter, ls)
			}
			for hi, ahi := range out {
				for lo, mlo := range spec.Members {
					if ls[hi]-ls[lo] <= 1 {
						continue
					}
					for topic := range ahi {
						if mlo.subscribes(topic) {
							t.Fatalf("iteration %d: %s (%d) could give %x to %s (%d)", iter, hi, ls[hi], topic[15], lo, ls[lo])
						}
					}
				}
			}
		}
	}
}

// TestSanitize: what an assignor may not assign is dropped.
func TestSanitize(t *testing.T) {
	spec := GroupSpec{
		Members: map[string]MemberSpec{"a": mspec("", nil, topic1), "b": mspec("", nil, topic1)},
		Topics:  counts(topic1, 2),
	}
	out, dropped := sanitize(spec, map[string]Assignment{
		"a": asgs(asg(1, 0, 1, 5), asg(2, 0)),
		"b": asg(1, 1),
		"x": asg(1, 0),
	})
	if dropped != 4 || !out["a"].Equal(asg(1, 0, 1)) || out["b"] != nil {
		t.Fatalf("sanitized %v, dropped %d", out, dropped)
	}
}
