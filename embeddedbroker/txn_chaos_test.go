package embeddedbroker_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTxnChaos runs transactions of a franz-go transactional producer (20
// records over 6 partitions each, one in five aborted on purpose) while
// random nodes are killed, stopped or isolated, as TestChaos does; the
// transaction coordinator's partitions move with them. Then it reads the
// topic with read_committed and checks atomicity and durability: every
// transaction whose commit was acknowledged is there, whole and once; no
// record of an aborted transaction is there; a transaction whose outcome
// the producer could not learn (its commit or abort failed in a fault) is
// there wholly or not at all; nothing appears that was not sent.
//
// A failed transaction is aborted; if that fails too the producer is
// replaced by a new one with the same transactional id, which aborts and
// fences whatever the old one left open.
func TestTxnChaos(t *testing.T) {
	duration := chaosDuration(t)
	const (
		topic      = "txn-chaos"
		partitions = 6
		per        = 20
	)
	c := chaosCluster(t, topic, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), duration+2*time.Minute)
	defer cancel()

	newProducer := func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID("chaos"), kgo.DefaultProduceTopic(topic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(10*time.Second),
			kgo.MetadataMinAge(50*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
			kgo.RecordDeliveryTimeout(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	// One transaction first, so that __transaction_state exists and the
	// fault loop waits for its replicas too.
	cl := newProducer()
	defer func() { cl.Close() }()

	type outcome int
	const (
		committed outcome = iota
		aborted
		unknown
		notBegun
	)
	results := map[int]outcome{}
	runTxn := func(n int) outcome {
		commit := n%5 != 4
		if err := cl.BeginTransaction(); err != nil {
			// The producer failed for good (franz-go gives up loading
			// its producer id when the coordinator it was named is not
			// in its metadata yet, mid-fault): replace it.
			t.Logf("transaction %d: begin: %v; replacing the producer", n, err)
			cl.Close()
			cl = newProducer()
			return notBegun
		}
		for j := range per {
			cl.Produce(ctx, &kgo.Record{Partition: int32(j % partitions), Value: fmt.Appendf(nil, "%d-%d", n, j)}, nil)
		}
		err := cl.Flush(ctx)
		if err == nil {
			if err = cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err == nil {
				if commit {
					return committed
				}
				return aborted
			}
		}
		// Abort what is left; if even that fails, replace the producer:
		// its successor's InitProducerID aborts the open transaction.
		if aerr := cl.AbortBufferedRecords(ctx); aerr == nil {
			if aerr = cl.EndTransaction(ctx, kgo.TryAbort); aerr == nil {
				return unknown // the failed commit may or may not have landed
			}
		}
		cl.Close()
		cl = newProducer()
		return unknown
	}
	results[0] = runTxn(0)

	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 1
		defer func() { done <- n }()
		for ; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			results[n] = runTxn(n)
		}
	}()
	actions := injectFaults(t, ctx, c, duration, map[string]int32{topic: partitions, "__transaction_state": 50})
	close(stop)
	txns := <-done

	// A last transaction, after the faults, writes an end record to every
	// partition: once a read_committed consumer has seen them all, every
	// earlier transaction is behind it, decided and visible or not.
	if err := cl.BeginTransaction(); err != nil {
		cl.Close()
		if cl = newProducer(); cl.BeginTransaction() != nil {
			t.Fatalf("last transaction: begin: %v", err)
		}
	}
	for p := range int32(partitions) {
		cl.Produce(ctx, &kgo.Record{Partition: p, Value: []byte("end")}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("last transaction: %v", err)
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(50*time.Millisecond), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[int]map[int]int{} // transaction -> record -> times
	ended := map[int32]bool{}
	for len(ended) < partitions {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading back (end records of %d partitions seen): %v", len(ended), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) == "end" {
				ended[r.Partition] = true
				return
			}
			parts := strings.SplitN(string(r.Value), "-", 2)
			n, err1 := strconv.Atoi(parts[0])
			j, err2 := strconv.Atoi(parts[len(parts)-1])
			if len(parts) != 2 || err1 != nil || err2 != nil || n >= txns || j >= per {
				t.Fatalf("record %q was never sent", r.Value)
			}
			if got[n] == nil {
				got[n] = map[int]int{}
			}
			got[n][j]++
		})
	}
	counts := map[string]int{}
	for n := range txns {
		recs := got[n]
		switch results[n] {
		case committed:
			counts["committed"]++
			if len(recs) != per {
				t.Errorf("committed transaction %d: %d of %d records visible", n, len(recs), per)
			}
		case aborted:
			counts["aborted"]++
			if len(recs) != 0 {
				t.Errorf("aborted transaction %d: %d records visible", n, len(recs))
			}
		case notBegun:
			counts["not begun"]++
			if len(recs) != 0 {
				t.Errorf("transaction %d never began but %d records are visible", n, len(recs))
			}
		case unknown:
			counts["unknown"]++
			if len(recs) != 0 && len(recs) != per {
				t.Errorf("transaction %d of unknown outcome: %d of %d records visible (not atomic)", n, len(recs), per)
			}
		}
		for j, times := range recs {
			if times != 1 {
				t.Errorf("transaction %d record %d visible %d times", n, j, times)
			}
		}
	}
	t.Logf("transactional chaos for %v: %v; %d transactions of %d records: %v; read_committed: committed whole and once, aborted absent, unknown all-or-nothing",
		duration, actions, txns, per, counts)
}
