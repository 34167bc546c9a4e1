package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// grpStartOn starts a 3-node cluster kept in dir (nothing is created if
// the topic exists already, as after a restart).
func grpStartOn(t *testing.T, ctx context.Context, dir string) *embeddedbroker.Cluster {
	t.Helper()
	c, err := embeddedbroker.Start(ctx,
		embeddedbroker.Nodes(3),
		embeddedbroker.Topics(grpPartitions, "orders"),
		embeddedbroker.BrokerConfig("group.min.session.timeout.ms", "100"),
		embeddedbroker.DataDir(dir),
	)
	if err != nil {
		t.Fatalf("embeddedbroker.Start on %s: %v", dir, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// grpProduceN produces n records to every partition of topic, values from,
// from+1, ..., each partition's sequence numbers continuing where the
// previous call stopped.
func grpProduceN(t *testing.T, ctx context.Context, addrs []string, topic string, from, n int64) {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		for p := range int32(grpPartitions) {
			recs = append(recs, &kgo.Record{Partition: p, Key: []byte("key-" + strconv.Itoa(int(p))), Value: []byte(strconv.FormatInt(i, 10))})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// grpFranzDrain consumes topic as a franz-go member of group until every
// partition is read up to end[p], then runs before (if any) while still a
// member, and closes. Autocommit is off unless autocommit: what is
// committed is up to the test. It returns the records per partition and the
// generation the member consumed in.
func grpFranzDrain(t *testing.T, ctx context.Context, addrs []string, group, topic string, end []int64, autocommit bool, before func(cl *kgo.Client, got map[int32][]*kgo.Record)) (map[int32][]*kgo.Record, int32) {
	t.Helper()
	opts := grpFranzOpts(addrs, group, topic, "drain")
	opts = append(opts, kgo.Balancers(kgo.RangeBalancer()))
	if !autocommit {
		opts = append(opts, kgo.DisableAutoCommit())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[int32][]*kgo.Record{}
	done := func() bool {
		for p, e := range end {
			rs := got[int32(p)]
			if e > 0 && (len(rs) == 0 || rs[len(rs)-1].Offset < e-1) {
				return false
			}
		}
		return true
	}
	gen := int32(-1)
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming %s as %s: %v; got %d partitions", topic, group, ctx.Err(), len(got))
		}
		fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s[%d]: %v", topic, p, err) })
		_, gen = cl.GroupMetadata()
		fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], r) })
		cl.AllowRebalance()
	}
	if before != nil {
		before(cl, got)
	}
	if autocommit {
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	cl.AllowRebalance()
	return got, gen
}

// grpCheckResume checks that each partition's records start exactly at
// from[p] and run contiguously to end[p], each value its offset.
func grpCheckResume(t *testing.T, who string, got map[int32][]*kgo.Record, from, end []int64) {
	t.Helper()
	for p := range int32(grpPartitions) {
		rs := got[p]
		if len(rs) == 0 {
			t.Errorf("%s: nothing read from partition %d", who, p)
			continue
		}
		if rs[0].Offset != from[p] {
			t.Errorf("%s: partition %d resumed at offset %d, want the committed %d", who, p, rs[0].Offset, from[p])
		}
		for i, r := range rs {
			if want := rs[0].Offset + int64(i); r.Offset != want || string(r.Value) != strconv.FormatInt(r.Offset, 10) {
				t.Errorf("%s: partition %d record %d at offset %d value %q, want offset %d", who, p, i, r.Offset, r.Value, want)
				break
			}
		}
		if last := rs[len(rs)-1].Offset; last != end[p]-1 {
			t.Errorf("%s: partition %d read to offset %d, want %d", who, p, last, end[p]-1)
		}
	}
}

// grpWantCommitted fails unless the group's committed offsets are want.
func grpWantCommitted(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string, want []int64, when string) {
	t.Helper()
	got, err := grpCommitted(ctx, adm, group, topic)
	if err != nil {
		t.Fatalf("%s: FetchOffsets %s: %v", when, group, err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: group %s committed %v, want %v", when, group, got, want)
	}
}

// TestGroupRestart commits offsets, stops the whole cluster, starts it
// again on the same data directory and checks that consumers of the same
// groups resume exactly at the committed offsets: the commits live in
// __consumer_offsets and are replayed when the coordinators load it.
//
// Two groups: "franz-restart" commits as a member (a franz-go consumer that
// read everything commits chosen offsets through CommitOffsetsSync in its
// generation); "sarama-restart" never had members and gets its offsets
// through kadm CommitOffsets (generation -1), and is resumed by a sarama
// ConsumerGroup after the restart. Different partitions commit different
// offsets so that a mix-up would show.
func TestGroupRestart(t *testing.T) {
	ctx := grpCtx(t)
	dir := t.TempDir()
	const topic = "orders"
	franzAt := []int64{5, 22, 39, 56, 73, 90}
	saramaAt := []int64{90, 0, 17, 1, 99, 50}

	c := grpStartOn(t, ctx, dir)
	grpProduceN(t, ctx, c.Addrs(), topic, 0, 100)
	hundred := slices.Repeat([]int64{100}, grpPartitions)
	adm := grpAdmin(t, c.Addrs())

	got, genBefore := grpFranzDrain(t, ctx, c.Addrs(), "franz-restart", topic, hundred, false, func(cl *kgo.Client, got map[int32][]*kgo.Record) {
		offsets := map[string]map[int32]kgo.EpochOffset{topic: {}}
		for p, at := range franzAt {
			// With the leader epoch of the record before the offset, as
			// a consumer commits it.
			offsets[topic][int32(p)] = kgo.EpochOffset{Epoch: got[int32(p)][at-1].LeaderEpoch, Offset: at}
		}
		var cerr error
		cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				cerr = err
				return
			}
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if err := kerr.ErrorForCode(rp.ErrorCode); err != nil && cerr == nil {
						cerr = fmt.Errorf("%s[%d]: %w", rt.Topic, rp.Partition, err)
					}
				}
			}
		})
		if cerr != nil {
			t.Fatalf("CommitOffsetsSync: %v", cerr)
		}
	})
	grpCheckResume(t, "first franz-go consumer", got, make([]int64, grpPartitions), hundred)
	grpWantCommitted(t, ctx, adm, "franz-restart", topic, franzAt, "before the restart")

	var os kadm.Offsets
	for p, at := range saramaAt {
		os.AddOffset(topic, int32(p), at, -1)
	}
	cresp, err := adm.CommitOffsets(ctx, "sarama-restart", os)
	if err == nil {
		err = cresp.Error()
	}
	if err != nil {
		t.Fatalf("kadm CommitOffsets: %v", err)
	}
	grpWantCommitted(t, ctx, adm, "sarama-restart", topic, saramaAt, "before the restart")

	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c = grpStartOn(t, ctx, dir)
	adm = grpAdmin(t, c.Addrs())
	grpWantCommitted(t, ctx, adm, "franz-restart", topic, franzAt, "after the restart")
	grpWantCommitted(t, ctx, adm, "sarama-restart", topic, saramaAt, "after the restart")
	if d, err := grpDescribe(ctx, adm, "franz-restart"); err != nil || d.State != "Empty" || d.ProtocolType != "consumer" {
		t.Errorf("after the restart: franz-restart described as %q (protocol type %q), err %v; want an Empty consumer group", d.State, d.ProtocolType, err)
	}
	// More records after the restart: the resumed consumers read the old
	// log and the new records.
	grpProduceN(t, ctx, c.Addrs(), topic, 100, 20)
	end := slices.Repeat([]int64{120}, grpPartitions)
	if ends := grpEndOffsets(t, ctx, adm, topic); !slices.Equal(ends, end) {
		t.Fatalf("end offsets after the restart %v, want %v", ends, end)
	}

	got, genAfter := grpFranzDrain(t, ctx, c.Addrs(), "franz-restart", topic, end, true, nil)
	grpCheckResume(t, "franz-go consumer after the restart", got, franzAt, end)
	if genAfter <= genBefore {
		t.Errorf("generation %d after the restart, %d before: the group's generation was not restored", genAfter, genBefore)
	}
	grpWantCommitted(t, ctx, adm, "franz-restart", topic, end, "after consuming to the end")

	first := grpSaramaDrain(t, ctx, c.Addrs(), "sarama-restart", topic, end)
	if !slices.Equal(first, saramaAt) {
		t.Errorf("sarama resumed at offsets %v, want the committed %v", first, saramaAt)
	}
	grpWantCommitted(t, ctx, adm, "sarama-restart", topic, end, "after sarama consumed to the end")
	t.Logf("franz-restart: committed %v before the restart (generation %d), resumed there in generation %d; sarama-restart: committed %v by kadm, sarama resumed at %v",
		franzAt, genBefore, genAfter, saramaAt, first)
}

// grpSaramaDrain consumes topic as a sarama member of group until every
// partition reaches end[p], and returns the first offset it read of each.
func grpSaramaDrain(t *testing.T, ctx context.Context, addrs []string, group, topic string, end []int64) []int64 {
	t.Helper()
	g, err := sarama.NewConsumerGroup(addrs, group, grpSaramaConfig("sarama-drain", sarama.NewBalanceStrategyRange()))
	if err != nil {
		t.Fatal(err)
	}
	l := newGrpLedger()
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		for cctx.Err() == nil {
			if err := g.Consume(cctx, []string{topic}, grpSaramaHandler{name: "sarama-drain", ledger: l, sessions: new(atomic.Int32)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	grpWait(t, ctx, "sarama consuming to the end", func() (bool, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		hi := make([]int64, grpPartitions)
		for _, d := range l.ds {
			hi[d.Partition] = max(hi[d.Partition], d.Offset+1)
		}
		return slices.Equal(hi, end), fmt.Sprintf("read up to %v", hi)
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("sarama Consume: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("sarama Close: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	first := slices.Repeat([]int64{-1}, grpPartitions)
	next := make([]int64, grpPartitions)
	for _, d := range l.ds {
		if first[d.Partition] < 0 {
			first[d.Partition], next[d.Partition] = d.Offset, d.Offset
		}
		if d.Offset != next[d.Partition] || d.Value != strconv.FormatInt(d.Offset, 10) {
			t.Errorf("sarama: partition %d offset %d value %q, want offset %d", d.Partition, d.Offset, d.Value, next[d.Partition])
		}
		next[d.Partition] = d.Offset + 1
	}
	return first
}

// TestGroupCoordinatorNodeRestart stops only the node that coordinates the
// group while a member is consuming, and starts it again on its data.
// __consumer_offsets is replicated (offsets.topic.replication.factor 3 on
// 3 nodes), so another replica becomes leader of the group's partition,
// replays it and serves the group, Stable with its member (fresh session
// timer), while the node is down; the member keeps consuming and
// committing throughout. The committed offsets survive, the member is not
// replaced, its generation does not change (no rebalance), and every record
// is consumed and committed.
func TestGroupCoordinatorNodeRestart(t *testing.T) {
	ctx := grpCtx(t)
	const group, topic = "node-restart", "orders"
	c := grpStartOn(t, ctx, t.TempDir())
	adm := grpAdmin(t, c.Addrs())
	fc := adm.FindGroupCoordinators(ctx, group)[group]
	if fc.Err != nil {
		t.Fatalf("FindGroupCoordinators: %v", fc.Err)
	}
	coord := fc.NodeID

	grpProduceN(t, ctx, c.Addrs(), topic, 0, 50)
	l := newGrpLedger()
	sc := &grpScenario{Group: group, Topic: topic, Addrs: c.Addrs(), Ledger: l}
	leave := grpFranzStarter(sc, kgo.RangeBalancer())(t, "m1")
	t.Cleanup(leave)
	fifty := slices.Repeat([]int64{50}, grpPartitions)
	grpWait(t, ctx, "the first 50 records of every partition consumed", func() (bool, string) { return l.covered(fifty) })
	grpWaitCommitted(t, ctx, adm, group, topic, fifty)
	before, err := grpDescribe(ctx, adm, group)
	if err != nil || len(before.Members) != 1 {
		t.Fatalf("DescribeGroups before the restart: %v, %+v", err, before)
	}

	if err := c.StopNode(ctx, coord); err != nil {
		t.Fatalf("StopNode(%d): %v", coord, err)
	}
	// __consumer_offsets is replicated to every node: another replica
	// takes over the group's partition, loads the group from its copy and
	// serves it, Stable with the same member, while the node is down.
	var moved int32
	grpWait(t, ctx, "another node coordinating the group", func() (bool, string) {
		fc := adm.FindGroupCoordinators(ctx, group)[group]
		moved = fc.NodeID
		return fc.Err == nil && fc.NodeID != coord, fmt.Sprintf("coordinator %d, err %v", fc.NodeID, fc.Err)
	})
	// A new admin client: the old one keeps the node that is down as the
	// group's coordinator and fails to dial it.
	adm = grpAdmin(t, c.Addrs())
	grpWait(t, ctx, "the group served by the new coordinator", func() (bool, string) {
		d, err := grpDescribe(ctx, adm, group)
		if err != nil {
			return false, err.Error()
		}
		return d.State == "Stable" && len(d.Members) == 1 && d.Members[0].MemberID == before.Members[0].MemberID,
			fmt.Sprintf("%s with %+v", d.State, d.Members)
	})
	grpWantCommitted(t, ctx, adm, group, topic, fifty, "while the coordinator was down")
	if err := c.RestartNode(ctx, coord); err != nil {
		t.Fatalf("RestartNode(%d): %v", coord, err)
	}
	grpWantCommitted(t, ctx, adm, group, topic, fifty, "after the coordinator restarted")

	grpProduceN(t, ctx, c.Addrs(), topic, 50, 50)
	hundred := slices.Repeat([]int64{100}, grpPartitions)
	grpWait(t, ctx, "every record consumed after the coordinator restarted", func() (bool, string) { return l.covered(hundred) })
	grpWaitCommitted(t, ctx, adm, group, topic, hundred)
	after := grpWaitStable(t, ctx, adm, group, topic, 1)
	if after.Members[0].MemberID != before.Members[0].MemberID {
		t.Errorf("member %s after the coordinator restarted, %s before: the member was replaced", after.Members[0].MemberID, before.Members[0].MemberID)
	}
	leave()
	st := l.check(t, hundred)
	if len(st.Generations) != 1 {
		t.Errorf("records consumed in generations %v: the coordinator restart caused a rebalance", st.Generations)
	}
	t.Logf("coordinator node %d stopped under a live member, node %d took over, node %d restarted: %v", coord, moved, coord, st)
}

// TestGroupCoordinatorRestartMidRebalance restarts the coordinator node
// while a rebalance waits: a raw kmsg member R leads generation 1 alone
// and never rejoins (nor heartbeats, with a 10s session), a franz-go member
// F then joins, and the group sits in PreparingRebalance waiting for R.
// The coordinator node stops and starts again: F's pending JoinGroup is
// answered NOT_COORDINATOR, and the replica that takes the group's
// partition of __consumer_offsets over loads the group as it was
// persisted, generation 1 with R only (the join in progress is not
// persisted). F rejoins, the rebalance waits out the rebalance timeout (1s) for R, drops
// it, and F leads generation 2 with every partition; R's heartbeat then
// answers UNKNOWN_MEMBER_ID.
func TestGroupCoordinatorRestartMidRebalance(t *testing.T) {
	ctx := grpCtx(t)
	const group, topic = "mid-rebalance", "orders"
	c := grpStartOn(t, ctx, t.TempDir())
	adm := grpAdmin(t, c.Addrs())
	fc := adm.FindGroupCoordinators(ctx, group)[group]
	if fc.Err != nil {
		t.Fatalf("FindGroupCoordinators: %v", fc.Err)
	}
	coord := fc.NodeID

	raw, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ClientID("raw-member"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rawID, rawGen, rawParts := grpRawJoin(t, ctx, raw, group, topic, 10*time.Second, time.Second)
	if rawGen != 1 || len(rawParts) != grpPartitions {
		t.Fatalf("raw member in generation %d with %v, want generation 1 with every partition", rawGen, rawParts)
	}

	f := grpStartTracked(t, c.Addrs(), group, topic, "franz", kgo.RebalanceTimeout(time.Second))
	grpWait(t, ctx, "the group PreparingRebalance for the franz-go member", func() (bool, string) {
		d, err := grpDescribe(ctx, adm, group)
		if err != nil {
			return false, err.Error()
		}
		return d.State == "PreparingRebalance" && len(d.Members) == 2, fmt.Sprintf("%s with %d members", d.State, len(d.Members))
	})

	if err := c.StopNode(ctx, coord); err != nil {
		t.Fatalf("StopNode(%d): %v", coord, err)
	}
	if err := c.RestartNode(ctx, coord); err != nil {
		t.Fatalf("RestartNode(%d): %v", coord, err)
	}
	// Reloaded from the log: R is a member again, until the rebalance F
	// starts anew drops it.
	grpWait(t, ctx, "the reloaded group with the raw member", func() (bool, string) {
		d, err := grpDescribe(ctx, adm, group)
		if err != nil {
			return false, err.Error()
		}
		return slices.ContainsFunc(d.Members, func(m kadm.DescribedGroupMember) bool { return m.MemberID == rawID }), fmt.Sprintf("%s with %+v", d.State, d.Members)
	})
	all := []int32{0, 1, 2, 3, 4, 5}
	grpWait(t, ctx, "the franz-go member owning every partition", func() (bool, string) {
		s := f.state()
		return slices.Equal(s.Owned, all), fmt.Sprintf("%+v", s)
	})
	if s := f.state(); s.Gen != 2 {
		t.Errorf("franz-go member owns every partition in generation %d, want 2: generation 1 persisted, then one rebalance", s.Gen)
	}
	d := grpWaitStable(t, ctx, adm, group, topic, 1)
	if d.Members[0].ClientID != "franz" {
		t.Errorf("the member left is %s (%s), want the franz-go member", d.Members[0].MemberID, d.Members[0].ClientID)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = group, rawID, rawGen
	hresp, err := hb.RequestWith(ctx, raw)
	if err != nil {
		t.Fatalf("raw Heartbeat: %v", err)
	}
	if err := kerr.ErrorForCode(hresp.ErrorCode); !errors.Is(err, kerr.UnknownMemberID) {
		t.Errorf("raw member's Heartbeat after it was dropped: %v, want UNKNOWN_MEMBER_ID", err)
	}
	f.mu.Lock()
	history := slices.Clone(f.history)
	f.mu.Unlock()
	t.Logf("coordinator node %d restarted in PreparingRebalance; franz-go member's assignments %+v; raw member: %v", coord, history, kerr.ErrorForCode(hresp.ErrorCode))
}
