package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTransactionalListenerChaos: a consume-transform-produce listener in
// transactions (two members, so both rebalance) on a 3-node cluster at
// replication factor 3, while nodes are killed and restarted: every input
// gives exactly one output visible to read_committed consumers; records
// whose handler fails once are retried through aborted transactions (what
// their failed attempt sent is never visible); a poison record is
// dead-lettered exactly once, in the transaction that commits its offset.
func TestTransactionalListenerChaos(t *testing.T) {
	t.Parallel()
	const (
		n      = 3000
		poison = 1234
	)
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.DataDir(t.TempDir()),
		embeddedbroker.BrokerConfig("replica.lag.time.max.ms", "2000"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "tx-in", Partitions: 3, ReplicationFactor: 3}),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "tx-out", Partitions: 3, ReplicationFactor: 3, Configs: map[string]string{"min.insync.replicas": "2"}}),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "tx-in.DLT", Partitions: 3, ReplicationFactor: 3}))
	addrs := c.Addrs()
	fast := []kgo.Opt{kgo.SeedBrokers(addrs...), kgo.MetadataMinAge(50 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond })}
	prod, err := kgo.NewClient(append(fast, kgo.ProducerLinger(0))...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var in []*kgo.Record
	for i := range n {
		in = append(in, &kgo.Record{Topic: "tx-in", Key: []byte("k" + strconv.Itoa(i%97)), Value: []byte(strconv.Itoa(i))})
	}
	if err := prod.ProduceSync(context.Background(), in...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	tmpl := template.New(prod)
	// The container's log, shown if the listener stops committing.
	var logs lockedBuffer
	var (
		attempts sync.Map // value -> attempts
		aborted  atomic.Int64
	)
	handler := listener.RecordFunc[string](func(ctx context.Context, r *listener.Record[string]) error {
		i, _ := strconv.Atoi(r.Value)
		a, _ := attempts.LoadOrStore(i, new(atomic.Int32))
		try := a.(*atomic.Int32).Add(1)
		if _, err := tmpl.Send(ctx, "tx-out", "out-"+r.Value, template.Key(string(r.Key))); err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond)
		switch {
		case i == poison:
			return NotRetryable(errors.New("poison"))
		case i%300 == 7 && try == 1:
			aborted.Add(1)
			return errors.New("transient failure after sending")
		}
		return nil
	})
	ep := &listener.Endpoint{ID: "eos", Group: "g-eos", Topics: []string{"tx-in"}, Concurrency: 2,
		Transactional: listener.On, Handler: handler}
	ctr, err := New(ep,
		WithClientOpts(append(fast, kgo.FetchMaxWait(50*time.Millisecond), kgo.HeartbeatInterval(100*time.Millisecond),
			kgo.SessionTimeout(6*time.Second), kgo.RebalanceTimeout(10*time.Second),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...),
		// Kafka's default transaction.timeout.ms: a poll's transaction
		// sends its 500 records one synchronous send at a time, which
		// under the race detector on a loaded machine can take more than
		// 10 s; the coordinator would then abort it and fence the
		// producer (the member goes on with a new client, but a
		// transaction that always outlives its timeout never commits).
		WithTransactionalClientOpts(kgo.TransactionTimeout(60*time.Second)),
		WithErrorHandler(&ErrorHandler{BackOff: FixedBackOff{Interval: 20 * time.Millisecond, MaxRetries: 3}}),
		// franz-go's transaction decisions (ending, resetting to the
		// committed offsets, producer ID failures) are in the log shown
		// on failure.
		WithClientLogLevel(kgo.LogLevelInfo),
		WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	if err != nil {
		t.Fatal(err)
	}
	if err := ctr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer stop(t, ctr)

	adm := kadm.NewClient(prod)
	progress := func() int64 {
		offs, err := adm.FetchOffsets(context.Background(), "g-eos")
		if err != nil {
			return -1
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum
	}
	// Faults while the listener works: kill a node, bring it back, kill
	// another.
	kills := 0
	waitFor(t, 60*time.Second, func() bool { return progress() > n/10 }, "progress before the faults")
	for _, id := range []int32{1, 2, 0} {
		before := progress()
		if err := c.KillNode(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		kills++
		// The fault lasts a second, then the node is back for half a
		// second: this is the chaos schedule, not a wait for state.
		time.Sleep(time.Second)
		if err := c.RestartNode(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		t.Logf("node %d killed at %d committed inputs, restarted", id, before)
	}
	if !waitUntil(90*time.Second, func() bool { return progress() == n }) {
		st := ctr.Status()
		t.Logf("container state %v err %v\n%s\ncontainer log:\n%s", st.State, st.Err, txnDiagnostics(adm, "g-eos"), logs.String())
		t.Fatalf("timeout waiting for all %d inputs committed (%d are)", n, progress())
	}

	// Read what a read_committed consumer sees.
	out := readCommitted(t, addrs, "tx-out", n-1)
	var missing, dups []string
	for i := range n {
		v := "out-" + strconv.Itoa(i)
		switch c := out[v]; {
		case i == poison:
			if c != 0 {
				t.Errorf("the poison record's output is visible %d times", c)
			}
		case c == 0:
			missing = append(missing, v)
		case c > 1:
			dups = append(dups, fmt.Sprintf("%s x%d", v, c))
		}
	}
	if len(missing) > 0 || len(dups) > 0 || len(out) != n-1 {
		t.Fatalf("%d distinct outputs; missing %d (%.10v), duplicated %d (%.10v)\ncontainer log:\n%s", len(out), len(missing), missing, len(dups), dups, logs.String())
	}
	dlt := readCommitted(t, addrs, "tx-in.DLT", 1)
	if dlt[strconv.Itoa(poison)] != 1 || len(dlt) != 1 {
		t.Fatalf("dead letters seen: %v, want the poison record once", dlt)
	}
	var calls int64
	attempts.Range(func(_, v any) bool { calls += int64(v.(*atomic.Int32).Load()); return true })
	t.Logf("%d kills; %d inputs -> %d outputs, each exactly once, poison dead-lettered once; %d handler calls (%d failed on purpose, the rest redone by aborted transactions); producers fenced and replaced: %d",
		kills, n, n-1, calls, aborted.Load(), strings.Count(logs.String(), "producer fenced; going on"))
}

// txnDiagnostics describes what a stuck transactional listener may be
// waiting on: the cluster's transactions, the group and its offsets (with
// their errors), for a test's failure message.
func txnDiagnostics(adm *kadm.Client, group string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	if txns, err := adm.DescribeTransactions(ctx); err != nil {
		fmt.Fprintf(&b, "DescribeTransactions: %v\n", err)
	} else {
		for _, d := range txns.Sorted() {
			fmt.Fprintf(&b, "txn %s: state %s producer %d/%d coordinator %d started %d timeout %d topics %v err %v\n",
				d.TxnID, d.State, d.ProducerID, d.ProducerEpoch, d.Coordinator, d.StartTimestamp, d.TimeoutMillis, d.Topics, d.Err)
		}
	}
	if groups, err := adm.DescribeGroups(ctx, group); err != nil {
		fmt.Fprintf(&b, "DescribeGroups: %v\n", err)
	} else {
		for _, g := range groups.Sorted() {
			fmt.Fprintf(&b, "group %s: state %s coordinator %d members %d err %v\n", g.Group, g.State, g.Coordinator.NodeID, len(g.Members), g.Err)
		}
	}
	if offs, err := adm.FetchOffsets(ctx, group); err != nil {
		fmt.Fprintf(&b, "FetchOffsets: %v\n", err)
	} else {
		offs.Each(func(o kadm.OffsetResponse) {
			fmt.Fprintf(&b, "offset %s/%d: %d err %v\n", o.Topic, o.Partition, o.At, o.Err)
		})
	}
	if md, err := adm.Metadata(ctx); err == nil {
		for _, tp := range []string{"tx-in", "tx-out", "__consumer_offsets", "__transaction_state"} {
			if td, ok := md.Topics[tp]; ok {
				for _, p := range td.Partitions.Sorted() {
					fmt.Fprintf(&b, "partition %s/%d: leader %d epoch %d isr %v err %v\n", tp, p.Partition, p.Leader, p.LeaderEpoch, p.ISR, p.Err)
				}
			}
		}
	}
	return b.String()
}
