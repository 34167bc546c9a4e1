package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPeersReplicateInProcess: nodes that share Peers replicate by
// calling their leaders (every follower's link is a localLink), with the
// faults of a network: while the leader is isolated its followers get
// nothing (their calls are refused); once it heals they catch up; a
// leader closed while its
// followers wait in long polls ends their calls and closes without
// waiting out the polls.
func TestPeersReplicateInProcess(t *testing.T) {
	const topic = "peers"
	ctrl, nodes := testClusterWith(t, 3, NewPeers())
	ctx := context.Background()
	if _, err := ctrl.CreateTopic(ctx, controller.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: 3}, false); err != nil {
		t.Fatal(err)
	}
	fullISR := func() bool {
		_, st, ok := ctrl.Image().Partition(topic, 0)
		return ok && len(st.ISR) == 3
	}
	waitFor(t, "a full ISR", fullISR)
	_, st, _ := ctrl.Image().Partition(topic, 0)
	leader := nodes[st.Leader]
	var followers []*Node
	for _, n := range nodes {
		if n != leader {
			followers = append(followers, n)
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(leader.Addr()), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}).FirstErr(); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	}
	produce(0, 50)
	caughtUp := func(n int64) func() bool {
		return func() bool {
			for _, f := range followers {
				if p := f.partition(topic, 0); p == nil || p.log.EndOffset() != n {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, "followers at 50", caughtUp(50))
	for _, f := range followers {
		fe := f.fetchers.byLeaderOf(leader.ID())
		if fe == nil {
			t.Fatalf("node %d has no fetcher for leader %d", f.ID(), leader.ID())
		}
		waitFor(t, fmt.Sprintf("node %d fetching from %d in process", f.ID(), leader.ID()), func() bool {
			_, ok := fe.currentLink().(*localLink)
			return ok
		})
	}

	// Isolated, the leader serves no call: the followers' logs stay
	// where they are, and an acks=all produce does not complete.
	leader.Isolate()
	p := leader.partition(topic, 0)
	recs := make([]batch.Record, 5)
	for i := range recs {
		recs[i].Value = []byte("isolated")
	}
	if _, err := p.appendRecords(batch.Build(batch.BuildOptions{Timestamp: time.Now().UnixMilli()}, recs...), time.Now()); err != nil {
		t.Fatal(err)
	}
	// Long enough for a fetch to be answered, were it served; shorter
	// than broker.session.timeout.ms, after which the controller would
	// elect another leader.
	time.Sleep(200 * time.Millisecond)
	if !caughtUp(50)() {
		t.Fatal("a follower fetched from an isolated leader")
	}
	if err := leader.Heal(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "followers at 55 after the heal", caughtUp(55))

	// A leader closed while its followers wait in long polls.
	closed := make(chan error, 1)
	go func() { closed <- leader.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the leader's Close did not return")
	}
}

// byLeaderOf returns the fetcher from leader, if any.
func (fs *fetchers) byLeaderOf(leader int32) *fetcher {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.byLeader[leader]
}

// currentLink returns the link of the fetch in progress, if any.
func (f *fetcher) currentLink() replicaLink {
	f.inflightMu.Lock()
	defer f.inflightMu.Unlock()
	return f.inflight
}
