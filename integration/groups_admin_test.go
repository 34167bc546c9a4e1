package integration

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// grpDeleteGroup deletes one group with kadm and returns its error.
func grpDeleteGroup(t *testing.T, ctx context.Context, adm *kadm.Client, group string) error {
	t.Helper()
	rs, err := adm.DeleteGroups(ctx, group)
	if err != nil {
		t.Fatalf("DeleteGroups %s: %v", group, err)
	}
	return rs[group].Err
}

// grpListed lists the groups with kadm, filtered by state.
func grpListed(t *testing.T, ctx context.Context, adm *kadm.Client, states ...string) kadm.ListedGroups {
	t.Helper()
	ls, err := adm.ListGroups(ctx, states...)
	if err != nil {
		t.Fatalf("ListGroups %v: %v", states, err)
	}
	return ls
}

// TestGroupAdmin exercises the group admin APIs through kadm on a group
// with two franz-go members consuming "orders" and offsets for "other"
// committed by kadm before they joined, next to an Empty group that only
// stores offsets:
//
//   - ListGroups, unfiltered and filtered by state (Stable, Empty);
//   - DescribeGroups: state, protocol, members with their client IDs,
//     subscriptions and disjoint assignments covering the topic;
//   - DeleteGroups: NON_EMPTY_GROUP while members are in, success once
//     they left, then GROUP_ID_NOT_FOUND; the deleted group is Dead, not
//     listed, and has no offsets;
//   - OffsetDelete: GROUP_SUBSCRIBED_TO_TOPIC for a subscribed topic while
//     members are in, success for a topic nobody subscribes to, and for
//     the subscribed topic once the group is Empty.
func TestGroupAdmin(t *testing.T) {
	const group, topic, other, offsetsOnly = "admin-g", "orders", "other", "admin-offsets-only"
	c := grpCluster(t, topic, other)
	ctx := grpCtx(t)
	adm := grpAdmin(t, c.Addrs())
	grpProduceN(t, ctx, c.Addrs(), topic, 0, 10)

	for _, g := range []string{group, offsetsOnly} {
		var os kadm.Offsets
		for p := range int32(grpPartitions) {
			os.AddOffset(other, p, 3, -1)
		}
		rs, err := adm.CommitOffsets(ctx, g, os)
		if err == nil {
			err = rs.Error()
		}
		if err != nil {
			t.Fatalf("kadm CommitOffsets %s: %v", g, err)
		}
	}

	l := newGrpLedger()
	sc := &grpScenario{Group: group, Topic: topic, Addrs: c.Addrs(), Ledger: l}
	start := grpFranzStarter(sc, kgo.CooperativeStickyBalancer())
	leave1, leave2 := start(t, "m1"), start(t, "m2")
	t.Cleanup(leave1)
	t.Cleanup(leave2)
	ten := slices.Repeat([]int64{10}, grpPartitions)
	grpWaitStable(t, ctx, adm, group, topic, 2)
	grpWait(t, ctx, "every record consumed", func() (bool, string) { return l.covered(ten) })
	grpWaitCommitted(t, ctx, adm, group, topic, ten)

	// ListGroups.
	all := grpListed(t, ctx, adm)
	if g, ok := all[group]; !ok || g.State != "Stable" || g.ProtocolType != "consumer" {
		t.Errorf("ListGroups: %s listed as %+v (listed: %v), want a Stable consumer group", group, g, ok)
	}
	if g, ok := all[offsetsOnly]; !ok || g.State != "Empty" || g.ProtocolType != "" {
		t.Errorf("ListGroups: %s listed as %+v (listed: %v), want an Empty group without protocol type", offsetsOnly, g, ok)
	}
	if got := grpListed(t, ctx, adm, "Stable").Groups(); !slices.Equal(got, []string{group}) {
		t.Errorf("ListGroups(Stable) = %v, want [%s]", got, group)
	}
	if got := grpListed(t, ctx, adm, "Empty").Groups(); !slices.Equal(got, []string{offsetsOnly}) {
		t.Errorf("ListGroups(Empty) = %v, want [%s]", got, offsetsOnly)
	}
	if got := grpListed(t, ctx, adm, "PreparingRebalance", "Dead").Groups(); len(got) != 0 {
		t.Errorf("ListGroups(PreparingRebalance, Dead) = %v, want none", got)
	}

	// DescribeGroups.
	d, err := grpDescribe(ctx, adm, group)
	if err != nil {
		t.Fatalf("DescribeGroups: %v", err)
	}
	if d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol != "cooperative-sticky" || len(d.Members) != 2 {
		t.Errorf("DescribeGroups: state %s, protocol %s/%s, %d members; want Stable consumer/cooperative-sticky with 2", d.State, d.ProtocolType, d.Protocol, len(d.Members))
	}
	var clients []string
	var assigned []int32
	for _, m := range d.Members {
		clients = append(clients, m.ClientID)
		assigned = append(assigned, grpAssignment(m, topic)...)
		if c, ok := m.Join.AsConsumer(); !ok || !slices.Equal(c.Topics, []string{topic}) {
			t.Errorf("DescribeGroups: member %s subscribes to %+v, want [%s]", m.MemberID, c, topic)
		}
		if m.ClientHost == "" || m.MemberID == "" {
			t.Errorf("DescribeGroups: member %+v without ID or host", m)
		}
	}
	slices.Sort(clients)
	slices.Sort(assigned)
	if !slices.Equal(clients, []string{"m1", "m2"}) || !slices.Equal(assigned, []int32{0, 1, 2, 3, 4, 5}) {
		t.Errorf("DescribeGroups: clients %v with partitions %v, want m1 and m2 owning 0-5 once each", clients, assigned)
	}

	// Active group: DeleteGroups refuses, OffsetDelete only for topics
	// nobody subscribes to.
	if err := grpDeleteGroup(t, ctx, adm, group); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Errorf("DeleteGroups on an active group: %v, want NON_EMPTY_GROUP", err)
	}
	del := make(kadm.TopicsSet)
	del.Add(topic, 0)
	del.Add(other, 0, 1)
	drs, err := adm.DeleteOffsets(ctx, group, del)
	if err != nil {
		t.Fatalf("DeleteOffsets: %v", err)
	}
	if err, _ := drs.Lookup(topic, 0); !errors.Is(err, kerr.GroupSubscribedToTopic) {
		t.Errorf("DeleteOffsets %s[0] while subscribed: %v, want GROUP_SUBSCRIBED_TO_TOPIC", topic, err)
	}
	for _, p := range []int32{0, 1} {
		if err, ok := drs.Lookup(other, p); !ok || err != nil {
			t.Errorf("DeleteOffsets %s[%d], not subscribed: %v (answered: %v), want success", other, p, err, ok)
		}
	}
	grpWantCommitted(t, ctx, adm, group, other, []int64{-1, -1, 3, 3, 3, 3}, "after OffsetDelete of other[0,1]")
	grpWantCommitted(t, ctx, adm, group, topic, ten, "after OffsetDelete refused for orders[0]")

	// Empty group: OffsetDelete of the formerly subscribed topic and
	// DeleteGroups succeed.
	leave1()
	leave2()
	grpWait(t, ctx, "the group listed as Empty", func() (bool, string) {
		g := grpListed(t, ctx, adm, "Empty").Groups()
		return slices.Contains(g, group), "Empty groups: " + strings.Join(g, ", ")
	})
	drs, err = adm.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {0: {}}})
	if err == nil {
		err, _ = drs.Lookup(topic, 0)
	}
	if err != nil {
		t.Errorf("DeleteOffsets %s[0] of the Empty group: %v, want success", topic, err)
	}
	grpWantCommitted(t, ctx, adm, group, topic, []int64{-1, 10, 10, 10, 10, 10}, "after OffsetDelete of orders[0]")
	if err := grpDeleteGroup(t, ctx, adm, group); err != nil {
		t.Errorf("DeleteGroups on the Empty group: %v, want success", err)
	}
	if d, err := grpDescribe(ctx, adm, group); err != nil || d.State != "Dead" || len(d.Members) != 0 {
		t.Errorf("DescribeGroups after DeleteGroups: state %q, %d members, err %v; want Dead", d.State, len(d.Members), err)
	}
	if got := grpListed(t, ctx, adm).Groups(); !slices.Equal(got, []string{offsetsOnly}) {
		t.Errorf("ListGroups after DeleteGroups = %v, want [%s]", got, offsetsOnly)
	}
	grpWantCommitted(t, ctx, adm, group, topic, slices.Repeat([]int64{-1}, grpPartitions), "after DeleteGroups")
	grpWantCommitted(t, ctx, adm, group, other, slices.Repeat([]int64{-1}, grpPartitions), "after DeleteGroups")
	if err := grpDeleteGroup(t, ctx, adm, group); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Errorf("DeleteGroups of a deleted group: %v, want GROUP_ID_NOT_FOUND", err)
	}
	grpWantCommitted(t, ctx, adm, offsetsOnly, other, slices.Repeat([]int64{3}, grpPartitions), "the other group, at the end")
}
