package embeddedbroker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReplicatedFailover: a topic with replication factor 3 keeps every
// acknowledged record when its leader is killed; a new leader is elected
// from the ISR within a second, and the killed node catches up and rejoins
// the ISR after a restart. Followers fetch in process (the default) and,
// in the second run, over the inter-broker listeners.
func TestReplicatedFailover(t *testing.T) {
	t.Run("in-process", func(t *testing.T) { testReplicatedFailover(t) })
	t.Run("sockets", func(t *testing.T) { testReplicatedFailover(t, embeddedbroker.ReplicateOverSockets) })
}

func testReplicatedFailover(t *testing.T, opts ...embeddedbroker.Option) {
	c := embeddedbroker.StartForTest(t, append([]embeddedbroker.Option{embeddedbroker.Nodes(3), embeddedbroker.Logger(testLogger(t)), embeddedbroker.Topic(embeddedbroker.TopicSpec{
		Name: "repl", Partitions: 3, ReplicationFactor: 3, Configs: map[string]string{"min.insync.replicas": "2"},
	})}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("repl"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	}
	produce(0, 100)
	adm := kadm.NewClient(cl)
	isrOf := func() []int32 {
		md, err := adm.Metadata(ctx, "repl")
		if err != nil {
			return nil
		}
		return md.Topics["repl"].Partitions[0].ISR
	}
	waitFor(t, "full ISR", 10*time.Second, func() bool { return len(isrOf()) == 3 })

	old := c.Leader("repl", 0)
	killed := time.Now()
	if err := c.KillNode(ctx, old); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new leader", 5*time.Second, func() bool { l := c.Leader("repl", 0); return l >= 0 && l != old })
	t.Logf("new leader %d elected %v after killing %d", c.Leader("repl", 0), time.Since(killed).Round(time.Millisecond), old)
	produce(100, 200)

	if err := c.RestartNode(ctx, old); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	waitFor(t, "the restarted node back in the ISR", 20*time.Second, func() bool { return len(isrOf()) == 3 })
	t.Logf("node %d back in the ISR %v after its restart", old, time.Since(restarted).Round(time.Millisecond))
	produce(200, 300)

	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"repl": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	for len(got) < 300 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if v != fmt.Sprint(i) {
			t.Fatalf("record %d is %q", i, v)
		}
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("KAFKABOOT_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestElectPreferredLeader: with automatic rebalancing off, leadership
// stays where failover put it until an ElectLeaders request (kadm) moves
// it back to the preferred replica; a second request is not needed.
func TestElectPreferredLeader(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3),
		embeddedbroker.BrokerConfig("auto.leader.rebalance.enable", "false"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "pref", Partitions: 1, ReplicationFactor: 3}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	pref := c.Leader("pref", 0)
	must(t, c.StopNode(ctx, pref))
	waitFor(t, "failover", 5*time.Second, func() bool { l := c.Leader("pref", 0); return l >= 0 && l != pref })
	must(t, c.RestartNode(ctx, pref))
	waitFor(t, "full ISR", 10*time.Second, func() bool {
		md, err := adm.Metadata(ctx, "pref")
		return err == nil && len(md.Topics["pref"].Partitions[0].ISR) == 3
	})
	if l := c.Leader("pref", 0); l == pref {
		t.Fatal("leadership moved back without an election")
	}
	elect := func() error {
		res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"pref": {0: struct{}{}}})
		if err != nil {
			return err
		}
		return res["pref"][0].Err
	}
	if err := elect(); err != nil {
		t.Fatalf("preferred election: %v", err)
	}
	if l := c.Leader("pref", 0); l != pref {
		t.Fatalf("leader %d after the election, want the preferred %d", l, pref)
	}
	if err := elect(); !errors.Is(err, kerr.ElectionNotNeeded) {
		t.Fatalf("second election: %v, want ELECTION_NOT_NEEDED", err)
	}
}

// TestOffsetForLeaderEpochAfterFailover: the leader epoch cache answers
// OffsetForLeaderEpoch as Kafka's does across a failover (KIP-101, the
// basis of consumers' truncation detection, KIP-320): an old epoch ends
// where the next one with records begins; the current one at the log end.
func TestOffsetForLeaderEpochAfterFailover(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "epochs", Partitions: 1, ReplicationFactor: 3}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("epochs"), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(n int) {
		for range n {
			must(t, cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr())
		}
	}
	produce(10)
	old := c.Leader("epochs", 0)
	must(t, c.StopNode(ctx, old))
	produce(5)
	adm := kadm.NewClient(cl)
	ask := func(epoch int32) (int32, int64) {
		t.Helper()
		var req kadm.OffsetForLeaderEpochRequest
		req.Add("epochs", 0, epoch)
		res, err := adm.OffsetForLeaderEpoch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		r := res["epochs"][0]
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		return r.LeaderEpoch, r.EndOffset
	}
	md, err := adm.Metadata(ctx, "epochs")
	must(t, err)
	cur := md.Topics["epochs"].Partitions[0].LeaderEpoch
	if e, end := ask(0); e != 0 || end != 10 {
		t.Fatalf("epoch 0: got epoch %d end %d, want 0 and 10", e, end)
	}
	if e, end := ask(cur); e != cur || end != 15 {
		t.Fatalf("current epoch %d: got epoch %d end %d, want %d and 15", cur, e, end, cur)
	}
	if e, end := ask(cur + 1); e != -1 || end != -1 {
		t.Fatalf("future epoch: got epoch %d end %d, want -1 -1", e, end)
	}
}
