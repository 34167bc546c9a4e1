package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// txnCluster starts a 3-node cluster with topic "txn": 3 partitions,
// replication factor 3, min.insync.replicas 2.
func txnCluster(t *testing.T) *embeddedbroker.Cluster {
	t.Helper()
	return embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "txn", Partitions: 3, ReplicationFactor: 3,
			Configs: map[string]string{"min.insync.replicas": "2"}}))
}

// txnProducer is a franz-go transactional producer writing to "txn".
func txnProducer(t *testing.T, addrs []string, id string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.TransactionalID(id), kgo.DefaultProduceTopic("txn"),
		kgo.TransactionTimeout(20*time.Second), kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// txnRun runs one transaction of n records with values "<prefix>-<j>",
// committing or aborting it.
func txnRun(ctx context.Context, cl *kgo.Client, prefix string, n int, commit bool) error {
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	for j := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(prefix), Value: fmt.Appendf(nil, "%s-%d", prefix, j)}).FirstErr(); err != nil {
			return err
		}
	}
	return cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
}

// txnConsume reads topic from the start with the isolation level until it
// holds want records, and returns their values.
func txnConsume(t *testing.T, ctx context.Context, addrs []string, topic string, committed bool, want int) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var vals []string
	for len(vals) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records of %s (committed=%v): %v", len(vals), want, topic, committed, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
	}
	return vals
}

// txnCheckEnd checks that a read_committed consumer that has read want
// records is at the end of every partition: the markers after them are
// consumed too, so nothing is left behind a still-open transaction.
func txnCheckEnd(t *testing.T, ctx context.Context, addrs []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, "txn")
	if err != nil {
		t.Fatal(err)
	}
	// The last stable offset (read_committed "latest") equals the high
	// watermark once no transaction is open.
	stable, err := adm.ListCommittedOffsets(ctx, "txn")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := stable.Lookup(o.Topic, o.Partition)
		if s.Offset != o.Offset {
			t.Errorf("%s[%d]: last stable offset %d, high watermark %d", o.Topic, o.Partition, s.Offset, o.Offset)
		}
	})
}

// TestTransactionsFranz: two franz-go transactional producers run 20
// transactions each on a 3-node cluster, committing the even ones and
// aborting the odd ones, concurrently (so their transactions interleave on
// the partitions). A read_committed consumer gets exactly the committed
// records, in each producer's order; a read_uncommitted one gets all of
// them.
func TestTransactionsFranz(t *testing.T) {
	c := txnCluster(t)
	ctx := testCtx(t)
	const txns, per = 20, 10
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, id := range []string{"tx-a", "tx-b"} {
		cl := txnProducer(t, c.Addrs(), id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range txns {
				if err := txnRun(ctx, cl, fmt.Sprintf("%s-%d", id, i), per, i%2 == 0); err != nil {
					errs <- fmt.Errorf("%s transaction %d: %w", id, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	committed := txnConsume(t, ctx, c.Addrs(), "txn", true, 2*txns/2*per)
	all := txnConsume(t, ctx, c.Addrs(), "txn", false, 2*txns*per)
	want := map[string]bool{}
	for _, id := range []string{"tx-a", "tx-b"} {
		for i := 0; i < txns; i += 2 {
			for j := range per {
				want[fmt.Sprintf("%s-%d-%d", id, i, j)] = true
			}
		}
	}
	got := map[string]bool{}
	for _, v := range committed {
		if !want[v] || got[v] {
			t.Fatalf("read_committed returned %q: aborted or repeated", v)
		}
		got[v] = true
	}
	if len(all) != 2*txns*per {
		t.Fatalf("read_uncommitted returned %d records, want %d", len(all), 2*txns*per)
	}
	txnCheckEnd(t, ctx, c.Addrs())
	t.Logf("%d transactions (half aborted) by 2 producers: read_committed %d records, read_uncommitted %d", 2*txns, len(committed), len(all))
}

// TestTransactionsFencing: a second producer with the same transactional
// id aborts the first one's open transaction and fences it: the first
// producer's commit fails, and its records are never visible to
// read_committed consumers.
func TestTransactionsFencing(t *testing.T) {
	c := txnCluster(t)
	ctx := testCtx(t)
	old := txnProducer(t, c.Addrs(), "fenced")
	if err := old.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := old.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fresh := txnProducer(t, c.Addrs(), "fenced")
	if err := txnRun(ctx, fresh, "fresh", 3, true); err != nil {
		t.Fatalf("new producer: %v", err)
	}
	err := old.EndTransaction(ctx, kgo.TryCommit)
	if err == nil {
		t.Fatal("fenced producer committed")
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("fenced producer's commit failed with %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	vals := txnConsume(t, ctx, c.Addrs(), "txn", true, 3)
	if slices.Contains(vals, "zombie") {
		t.Fatalf("fenced record visible: %v", vals)
	}
	txnCheckEnd(t, ctx, c.Addrs())
	t.Logf("fenced producer's commit: %v; read_committed: %v", err, vals)
}

// TestTransactionsCoordinatorFailover: the node coordinating a
// transactional id is killed while a transaction is open. Another node
// takes the coordinator's partition of __transaction_state over and reloads
// the transaction from it; then the killed node comes back (franz-go, which
// still has it cached as coordinator, would otherwise report the refused
// connection as an unconfirmed commit, by design) and the producer commits
// through whichever node coordinates by then. read_committed consumers see
// the records.
func TestTransactionsCoordinatorFailover(t *testing.T) {
	c := txnCluster(t)
	ctx := testCtx(t)
	cl := txnProducer(t, c.Addrs(), "failover")
	if err := txnRun(ctx, cl, "before", 5, true); err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for j := range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "during-%d", j)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	co := adm.FindTxnCoordinators(ctx, "failover")
	if err := co.Error(); err != nil {
		t.Fatal(err)
	}
	node := co["failover"].NodeID
	start := time.Now()
	if err := c.KillNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	moved := ""
	fwWait(t, ctx, "a new transaction coordinator", func() (bool, string) {
		r := adm.FindTxnCoordinators(ctx, "failover")["failover"]
		if r.Err == nil && r.NodeID != node {
			moved = fmt.Sprintf("node %d after %v", r.NodeID, time.Since(start).Round(time.Millisecond))
			return true, ""
		}
		return false, fmt.Sprintf("coordinator node %d, err %v", r.NodeID, r.Err)
	})
	if err := c.RestartNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit after the coordinator (node %d) died: %v", node, err)
	}
	took := time.Since(start)
	vals := txnConsume(t, ctx, c.Addrs(), "txn", true, 10)
	if !slices.Contains(vals, "during-4") || !slices.Contains(vals, "before-4") {
		t.Fatalf("read_committed: %v", vals)
	}
	t.Logf("coordinator node %d killed with a transaction open; new coordinator %s; committed after %v; read_committed %d records",
		node, moved, took.Round(time.Millisecond), len(vals))
}

// TestTransactionsKcat: librdkafka (kcat) reading with
// isolation.level=read_committed skips the aborted transactions, using the
// aborted-transaction lists of the fetch answers; with read_uncommitted it
// reads everything.
func TestTransactionsKcat(t *testing.T) {
	path := kcatPath(t)
	c := txnCluster(t)
	ctx := testCtx(t)
	cl := txnProducer(t, c.Addrs(), "kcat")
	for i := range 6 {
		if err := txnRun(ctx, cl, fmt.Sprintf("k%d", i), 4, i%3 != 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		iso  string
		want int
	}{{"read_committed", 16}, {"read_uncommitted", 24}} {
		out, err := runKcat(ctx, path, nil, "-C", "-b", strings.Join(c.Addrs(), ","), "-t", "txn", "-o", "beginning", "-e",
			"-q", "-f", "%s\n", "-X", "isolation.level="+tc.iso)
		if err != nil {
			t.Fatal(err)
		}
		vals := strings.Fields(string(out))
		if len(vals) != tc.want {
			t.Fatalf("%s: kcat read %d records, want %d: %v", tc.iso, len(vals), tc.want, vals)
		}
		if tc.iso == "read_committed" {
			for _, v := range vals {
				if strings.HasPrefix(v, "k1-") || strings.HasPrefix(v, "k4-") {
					t.Fatalf("kcat read_committed returned aborted %q", v)
				}
			}
		}
		t.Logf("kcat %s: %d records", tc.iso, len(vals))
	}
}

// TestTransactionsExactlyOnce: a consume-transform-produce loop with
// franz-go's GroupTransactSession reads "in" and writes one record to
// "out" per input record, committing the group's offsets inside each
// transaction; halfway through, the session is closed and a new one (same
// transactional id and group) takes over. A read_committed consumer of
// "out" sees every input exactly once.
func TestTransactionsExactlyOnce(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "in", Partitions: 3, ReplicationFactor: 3}),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "out", Partitions: 3, ReplicationFactor: 3}))
	ctx := testCtx(t)
	const n = 600
	in, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	// One record per produce request, so that the input spans many
	// batches and the loop below many transactions.
	for i := range n {
		if err := in.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	session := func() *kgo.GroupTransactSession {
		s, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID("eos"),
			kgo.ConsumerGroup("eos"), kgo.ConsumeTopics("in"), kgo.DefaultProduceTopic("out"),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	processed := 0
	txns := 0
	run := func(s *kgo.GroupTransactSession, until int) {
		for processed < until {
			fs := s.PollRecords(ctx, 40) // at most 40 records a transaction
			if err := ctx.Err(); err != nil {
				t.Fatalf("processed %d of %d: %v", processed, n, err)
			}
			fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", topic, p, err) })
			if fs.NumRecords() == 0 {
				continue
			}
			if err := s.Begin(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				s.Produce(ctx, &kgo.Record{Value: append([]byte("out-"), r.Value...)}, nil)
			})
			committed, err := s.End(ctx, kgo.TryCommit)
			if err != nil {
				t.Fatalf("end transaction: %v", err)
			}
			if committed {
				processed += fs.NumRecords()
				txns++
			}
		}
	}
	s1 := session()
	run(s1, n/2)
	s1.Close()
	s2 := session()
	defer s2.Close()
	run(s2, n)

	vals := txnConsume(t, ctx, c.Addrs(), "out", true, n)
	seen := map[string]int{}
	for _, v := range vals {
		seen[v]++
	}
	for i := range n {
		if k := fmt.Sprintf("out-%d", i); seen[k] != 1 {
			t.Fatalf("%s seen %d times", k, seen[k])
		}
	}
	t.Logf("%d records through 2 sessions in %d committed transactions; read_committed out: %d records, each input once", n, txns, len(vals))
}

// TestTransactionsSarama: sarama's transactional producer commits and
// aborts transactions, and sarama's consumer with ReadCommitted isolation
// (as franz-go's) reads exactly the committed records.
func TestTransactionsSarama(t *testing.T) {
	c := txnCluster(t)
	ctx := testCtx(t)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Transaction.ID = "sarama-txn"
	cfg.Producer.Transaction.Retry.Backoff = 20 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer(c.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const txns, per = 6, 5
	for i := range txns {
		if err := p.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for j := range per {
			if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "txn", Value: sarama.StringEncoder(fmt.Sprintf("s%d-%d", i, j))}); err != nil {
				t.Fatal(err)
			}
		}
		if i%2 == 0 {
			err = p.CommitTxn()
		} else {
			err = p.AbortTxn()
		}
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	franz := txnConsume(t, ctx, c.Addrs(), "txn", true, txns/2*per)

	ccfg := sarama.NewConfig()
	ccfg.Version = sarama.V3_6_0_0
	ccfg.Consumer.IsolationLevel = sarama.ReadCommitted
	ccfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cons, err := sarama.NewConsumer(c.Addrs(), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	msgs := make(chan string, 2*txns*per)
	for part := range int32(3) {
		pc, err := cons.ConsumePartition("txn", part, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				msgs <- string(m.Value)
			}
		}()
	}
	var viaSarama []string
	for len(viaSarama) < txns/2*per {
		select {
		case v := <-msgs:
			viaSarama = append(viaSarama, v)
		case <-ctx.Done():
			t.Fatalf("sarama consumed %v: %v", viaSarama, ctx.Err())
		}
	}
	for _, vals := range [][]string{franz, viaSarama} {
		for _, v := range vals {
			var i, j int
			if _, err := fmt.Sscanf(v, "s%d-%d", &i, &j); err != nil || i%2 != 0 {
				t.Fatalf("read_committed returned %q", v)
			}
		}
	}
	t.Logf("sarama transactional producer: %d transactions, half aborted; franz-go read_committed %d records, sarama read_committed %d", txns, len(franz), len(viaSarama))
}
