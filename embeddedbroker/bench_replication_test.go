package embeddedbroker_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/internal/benchrun"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The replication benchmarks measure what replication costs and how fast a
// replicated cluster recovers from a crash:
//
//	go test -run '^$' -bench 'Failover' -benchtime 5x ./embeddedbroker/
//	go test -run '^$' -bench 'Replicated' -benchtime 100000x -count 3 ./embeddedbroker/
//	go test -run '^$' -bench ReplicationGoal -benchtime 3x ./embeddedbroker/ -replgoal.records 1000000
//
// BenchmarkFailover kills the leader of a partition under a steady stream of
// acks=all writes and reports how long the cluster takes to elect a new
// leader and to acknowledge the first write made after the crash.
// BenchmarkReplicatedProduce and BenchmarkReplicatedFetch compare
// replication factor 3 with replication factor 1 and with kfake (which does
// not replicate) in the same run. BenchmarkReplicationGoal measures issue
// 18's goal 1 (replication factor 3 on disk against kfake) with the two
// clusters interleaved.

// BenchmarkFailover measures failover after a crash. Each iteration starts
// a fresh in-memory cluster of 3 nodes with a topic of 6 partitions,
// replication factor 3 and min.insync.replicas 2, and an idempotent acks=all
// franz-go producer writing one record per millisecond to partition 0.
// Once the writes are acknowledged steadily, it kills partition 0's leader
// (KillNode: no controlled shutdown, so nothing happens until the
// controller misses the node's heartbeats for broker.session.timeout.ms)
// and measures, from the kill:
//
//   - ms-to-new-leader: until the controller's metadata names another
//     leader for partition 0 (c.Leader polled every 250 µs);
//   - ms-to-first-ack: until the first write produced after the kill (once
//     the node refuses connections) is acknowledged with acks=all, which
//     also takes the client's metadata refresh (MetadataMinAge 10 ms) and
//     retry (10 ms backoff), and the surviving follower fetching the write
//     from the new leader (the ISR is down to two, min.insync.replicas).
//
// ns/op is ms-to-first-ack in nanoseconds (the timer runs from the kill to
// that ack); failed-writes is the number of records per iteration whose
// produce failed rather than being retried until acknowledged (expected 0).
// The metrics are means over the iterations; each iteration's figures are
// logged too. The session-300ms variant sets broker.session.timeout.ms to
// 300 to show that the fencing delay, which dominates, is configurable.
func BenchmarkFailover(b *testing.B) {
	for _, v := range []struct {
		name string
		opts []embeddedbroker.Option
	}{
		{"session-600ms-default", nil},
		{"session-300ms", []embeddedbroker.Option{embeddedbroker.BrokerConfig("broker.session.timeout.ms", "300")}},
	} {
		b.Run(v.name, func(b *testing.B) {
			var leader, ack, failed float64
			var leaders, acks, kills []string
			for range b.N {
				r := failoverOnce(b, v.opts...)
				leader += ms(r.toLeader)
				ack += ms(r.toAck)
				failed += float64(r.failed)
				leaders = append(leaders, fmt.Sprintf("%.0f", ms(r.toLeader)))
				acks = append(acks, fmt.Sprintf("%.0f", ms(r.toAck)))
				kills = append(kills, fmt.Sprintf("%.0f", ms(r.killReturned)))
			}
			n := float64(b.N)
			b.ReportMetric(leader/n, "ms-to-new-leader")
			b.ReportMetric(ack/n, "ms-to-first-ack")
			b.ReportMetric(failed/n, "failed-writes")
			b.Logf("N=%d: ms to new leader %s; ms to first ack %s; ms until KillNode returned %s",
				b.N, strings.Join(leaders, " "), strings.Join(acks, " "), strings.Join(kills, " "))
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type failoverResult struct {
	toLeader, toAck time.Duration
	killReturned    time.Duration // how long KillNode took
	failed          int64
}

// failoverOnce runs one failover with the timer running only from the kill
// to the first acknowledgement after it.
func failoverOnce(b *testing.B, opts ...embeddedbroker.Option) failoverResult {
	b.StopTimer()
	const topic = "failover"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := embeddedbroker.Start(ctx, append([]embeddedbroker.Option{
		embeddedbroker.Nodes(3), embeddedbroker.Logger(testLogger(b)),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: topic, Partitions: 6, ReplicationFactor: 3,
			Configs: map[string]string{"min.insync.replicas": "2"}}),
	}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(10*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()

	// Times are offsets from base, on the monotonic clock.
	base := time.Now()
	var (
		downAt  atomic.Int64 // when the killed node stopped accepting connections; 0 before
		ackedN  atomic.Int64
		failed  atomic.Int64
		stopped atomic.Bool
		errMu   sync.Mutex
		errs    = map[string]int{}
		ackOnce sync.Once
		ackAt   time.Duration
		acked   = make(chan struct{}) // closed at the first ack of a write produced after the kill
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		value := randomValue(100)
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			at := int64(time.Since(base))
			cl.Produce(ctx, &kgo.Record{Partition: 0, Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					if !stopped.Load() {
						failed.Add(1)
						errMu.Lock()
						errs[err.Error()]++
						errMu.Unlock()
					}
					return
				}
				ackedN.Add(1)
				if d := downAt.Load(); d > 0 && at > d {
					ackOnce.Do(func() { ackAt = time.Since(base); close(acked) })
				}
			})
		}
	})
	defer func() {
		stopped.Store(true)
		close(stop)
		wg.Wait()
	}()

	// Steady state: the client has its producer id and metadata, and
	// partition 0 has its full ISR. The kill then comes after a random
	// further 0-500 ms of writes, so that it falls at a random point of
	// the nodes' heartbeat and replica fetch cycles, which otherwise run in
	// step with the cluster's start and would give every iteration the
	// same, possibly unrepresentative, phase.
	adm := kadm.NewClient(cl)
	waitFor(b, "steady acknowledged writes", 10*time.Second, func() bool { return ackedN.Load() >= 50 })
	waitFor(b, "full ISR", 10*time.Second, func() bool {
		md, err := adm.Metadata(ctx, topic)
		return err == nil && len(md.Topics[topic].Partitions[0].ISR) == 3
	})
	more := ackedN.Load() + rand.Int64N(500)
	waitFor(b, "more acknowledged writes", 10*time.Second, func() bool { return ackedN.Load() >= more })
	old := c.Leader(topic, 0)
	addr := c.Addrs()[old]

	// KillNode returns once the node's goroutines have ended, which may
	// be a while after it went down; the kill is timed from the call, and
	// writes count as produced after it once the node refuses connections.
	b.StartTimer()
	killStart := time.Since(base)
	killed := make(chan error, 1)
	var killReturned time.Duration
	go func() {
		err := c.KillNode(ctx, old)
		killReturned = time.Since(base) - killStart
		killed <- err
	}()
	for {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		nc.Close()
		if time.Since(base)-killStart > 10*time.Second {
			b.Fatalf("node %d still accepts connections 10 s after KillNode", old)
		}
	}
	downAt.Store(int64(time.Since(base)))
	var r failoverResult
	for {
		if l := c.Leader(topic, 0); l >= 0 && l != old {
			r.toLeader = time.Since(base) - killStart
			break
		}
		if time.Since(base)-killStart > 20*time.Second {
			b.Fatalf("no new leader for partition 0 20 s after killing node %d", old)
		}
		time.Sleep(250 * time.Microsecond)
	}
	select {
	case <-acked:
	case <-time.After(30 * time.Second):
		errMu.Lock()
		defer errMu.Unlock()
		b.Fatalf("no write produced after killing node %d acknowledged in 30 s (new leader %d after %v); failed writes: %v",
			old, c.Leader(topic, 0), r.toLeader, errs)
	}
	b.StopTimer()
	r.toAck = ackAt - killStart
	if err := <-killed; err != nil {
		b.Fatal(err)
	}
	r.killReturned = killReturned

	// Everything produced so far must be acknowledged eventually: the
	// producer retries through the failover instead of failing records.
	fctx, fcancel := context.WithTimeout(ctx, 20*time.Second)
	defer fcancel()
	if err := cl.Flush(fctx); err != nil {
		b.Errorf("flush after failover: %v", err)
	}
	r.failed = failed.Load()
	if r.failed > 0 {
		errMu.Lock()
		b.Logf("%d writes failed during the failover: %v", r.failed, errs)
		errMu.Unlock()
	}
	return r
}

// replicatedTargets are kfake, the baseline (it does not replicate), and
// the embedded cluster with replication factor 1 and 3, in memory and on
// disk: 3 nodes and a topic "bench" of 6 partitions each.
func replicatedTargets() []benchTarget {
	var out []benchTarget
	for _, tg := range benchTargets {
		if tg.name == "kfake" {
			out = append(out, tg)
		}
	}
	for _, disk := range []bool{false, true} {
		for _, rf := range []int16{1, 3} {
			name := fmt.Sprintf("memory-rf%d", rf)
			if disk {
				name = fmt.Sprintf("disk-rf%d", rf)
			}
			out = append(out, benchTarget{name, func(b *testing.B) []string {
				spec := embeddedbroker.TopicSpec{Name: "bench", Partitions: 6, ReplicationFactor: rf}
				if rf > 1 {
					spec.Configs = map[string]string{"min.insync.replicas": "2"}
				}
				opts := []embeddedbroker.Option{embeddedbroker.Nodes(3), embeddedbroker.Topic(spec)}
				if disk {
					opts = append(opts, embeddedbroker.DataDir(b.TempDir()))
				}
				return embeddedbroker.StartForTest(b, opts...).Addrs()
			}})
		}
	}
	return out
}

// replicatedSizes are the record sizes, with the client's default
// compression (snappy: every record of a run carries the same random
// value, so batches compress) and without ("raw").
var replicatedSizes = []string{"100B", "1000B", "1000B-raw"}

func sizeOpts(size string) (int, []kgo.Opt) {
	n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSuffix(size, "-raw"), "B"))
	opts := []kgo.Opt{kgo.DefaultProduceTopic("bench")}
	if strings.HasSuffix(size, "-raw") {
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	}
	return n, opts
}

// BenchmarkReplicatedProduce produces with a franz-go client's defaults
// (acks=all, idempotent) to kfake and to the embedded cluster at
// replication factor 1 and 3. At replication factor 3 an acknowledgement
// waits until both followers have fetched the batch, so the producer's
// throughput depends on the followers' fetch round trips as well as the
// leader's own work; the ratios to read are rf3/rf1 (the cost of
// replication) and rf3/kfake.
func BenchmarkReplicatedProduce(b *testing.B) {
	for _, size := range replicatedSizes {
		n, opts := sizeOpts(size)
		for _, tg := range replicatedTargets() {
			b.Run(fmt.Sprintf("%s/%s", size, tg.name), func(b *testing.B) {
				benchProduce(b, tg.start(b), opts, n)
			})
		}
	}
}

// BenchmarkReplicatedFetch consumes b.N records, produced beforehand as in
// BenchmarkReplicatedProduce, from the start of the topic. Consumers fetch
// from the leaders; at replication factor 3 the followers' replica fetchers
// idle on the same nodes, and the records served are those below the high
// watermark, which all replicas have.
func BenchmarkReplicatedFetch(b *testing.B) {
	for _, size := range replicatedSizes {
		n, opts := sizeOpts(size)
		for _, tg := range replicatedTargets() {
			b.Run(fmt.Sprintf("%s/%s", size, tg.name), func(b *testing.B) {
				addrs := tg.start(b)
				p, err := kgo.NewClient(append(slices.Clone(opts), kgo.SeedBrokers(addrs...))...)
				if err != nil {
					b.Fatal(err)
				}
				produceN(b, p, b.N, randomValue(n))
				p.Close()
				c, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("bench"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				b.SetBytes(int64(n))
				b.ReportAllocs()
				b.ResetTimer()
				ctx := context.Background()
				for got := 0; got < b.N; {
					fs := c.PollFetches(ctx)
					if err := fs.Err0(); err != nil {
						b.Fatal(err)
					}
					got += fs.NumRecords()
				}
			})
		}
	}
}

// BenchmarkReplicationGoal measures issue 18's goal 1 against kfake in one
// run: replication factor 3 (min.insync.replicas 2) on disk, 3 nodes, a
// topic of 6 partitions, franz-go with acks=all (idempotent) and 100 B
// records:
//
//	go test -run '^$' -bench ReplicationGoal -benchtime 5x -count 3 ./embeddedbroker/
//	go test -run '^$' -bench ReplicationGoal -benchtime 3x ./embeddedbroker/ -replgoal.records 1000000
//
// Both clusters (kfake, which does not replicate, and the embedded one)
// run in the same process, and every round of benchrun runs the two in an
// order shuffled from round to round:
//
//   - produce: replGoalRecords records produced asynchronously with
//     ProducerLinger(5ms), timed until the last is acknowledged;
//     x-kfake is the embedded cluster's throughput relative to kfake's
//     (median of the rounds' ratios);
//   - consume: replGoalRecords records consumed from the start of the
//     topic by a new consumer (metadata and the first fetches included);
//   - sync: replGoalSync records produced one at a time with ProduceSync
//     and ProducerLinger(0) (franz-go's default is 10 ms), reporting each
//     cluster's p50 and p99 in microseconds and p50-x-kfake, the embedded
//     p50 over kfake's (lower is better; the goal is at most 1.5), and
//     p50-us-rf1, the embedded cluster's p50 at replication factor 1 (a
//     third cluster in the same rounds): what replication adds.
//
// The second command is BENCHMARKS.md's: 1,000,000 records a round.
func BenchmarkReplicationGoal(b *testing.B) {
	type target struct {
		name  string
		addrs []string
	}
	start := func(b *testing.B) []target {
		kf, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(6, "bench"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(kf.Close)
		spec := embeddedbroker.TopicSpec{Name: "bench", Partitions: 6, ReplicationFactor: 3,
			Configs: map[string]string{"min.insync.replicas": "2"}}
		c := embeddedbroker.StartForTest(b, embeddedbroker.Nodes(3), embeddedbroker.Topic(spec), embeddedbroker.DataDir(b.TempDir()))
		return []target{{"kfake", kf.ListenAddrs()}, {"embedded-rf3-disk", c.Addrs()}}
	}
	// rf1 is the embedded cluster without replication, for the sync
	// latency replication adds.
	rf1 := func(b *testing.B) target {
		c := embeddedbroker.StartForTest(b, embeddedbroker.Nodes(3),
			embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "bench", Partitions: 6, ReplicationFactor: 1}),
			embeddedbroker.DataDir(b.TempDir()))
		return target{"embedded-rf1-disk", c.Addrs()}
	}
	client := func(b *testing.B, addrs []string, opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("bench"),
			kgo.RequiredAcks(kgo.AllISRAcks())}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cl.Close)
		return cl
	}
	value := randomValue(100)
	n := *replGoalRecords

	b.Run("produce", func(b *testing.B) {
		var vs []benchrun.Variant
		for _, tg := range start(b) {
			cl := client(b, tg.addrs, kgo.ProducerLinger(5*time.Millisecond))
			vs = append(vs, benchrun.Variant{Name: tg.name, Run: func() { produceN(b, cl, n, value) }})
		}
		s := benchrun.Run(b, vs)
		b.ReportMetric(s.MedianRatio([]int{1}, []int{0}), "x-kfake")
		b.ReportMetric(s.MedianCPURatio([]int{1}, []int{0}), "cpu-x-kfake")
		b.ReportMetric(float64(s.Total(0))/float64(s.Rounds()*n), "ns/rec-kfake")
		b.ReportMetric(float64(s.Total(1))/float64(s.Rounds()*n), "ns/rec-embedded")
	})

	b.Run("consume", func(b *testing.B) {
		var vs []benchrun.Variant
		for _, tg := range start(b) {
			produceN(b, client(b, tg.addrs, kgo.ProducerLinger(5*time.Millisecond)), n, value)
			vs = append(vs, benchrun.Variant{Name: tg.name, Run: func() {
				c, err := kgo.NewClient(kgo.SeedBrokers(tg.addrs...), kgo.ConsumeTopics("bench"),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				for got := 0; got < n; {
					fs := c.PollFetches(context.Background())
					if err := fs.Err0(); err != nil {
						b.Fatal(err)
					}
					got += fs.NumRecords()
				}
			}})
		}
		s := benchrun.Run(b, vs)
		b.ReportMetric(s.MedianRatio([]int{1}, []int{0}), "x-kfake")
		b.ReportMetric(float64(s.Total(0))/float64(s.Rounds()*n), "ns/rec-kfake")
		b.ReportMetric(float64(s.Total(1))/float64(s.Rounds()*n), "ns/rec-embedded")
	})

	// sockets is the embedded cluster with followers fetching over
	// their inter-broker listeners, as nodes of separate processes.
	sockets := func(b *testing.B) target {
		spec := embeddedbroker.TopicSpec{Name: "bench", Partitions: 6, ReplicationFactor: 3,
			Configs: map[string]string{"min.insync.replicas": "2"}}
		c := embeddedbroker.StartForTest(b, embeddedbroker.Nodes(3), embeddedbroker.Topic(spec), embeddedbroker.DataDir(b.TempDir()),
			embeddedbroker.ReplicateOverSockets)
		return target{"embedded-rf3-sockets", c.Addrs()}
	}

	b.Run("sync", func(b *testing.B) {
		var vs []benchrun.Variant
		lat := make([][]time.Duration, 4)
		for i, tg := range append(start(b), rf1(b), sockets(b)) {
			cl := client(b, tg.addrs, kgo.ProducerLinger(0))
			vs = append(vs, benchrun.Variant{Name: tg.name, Run: func() {
				ctx := context.Background()
				for range *replGoalSync {
					t0 := time.Now()
					if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
						b.Fatal(err)
					}
					lat[i] = append(lat[i], time.Since(t0))
				}
			}})
		}
		benchrun.Run(b, vs)
		pct := func(d []time.Duration, p float64) float64 {
			d = d[*replGoalSync:] // the untimed warm-up round
			d = slices.Clone(d)
			slices.Sort(d)
			return float64(d[int(p*float64(len(d)-1))]) / float64(time.Microsecond)
		}
		b.ReportMetric(pct(lat[0], 0.5), "p50-us-kfake")
		b.ReportMetric(pct(lat[0], 0.99), "p99-us-kfake")
		b.ReportMetric(pct(lat[1], 0.5), "p50-us-embedded")
		b.ReportMetric(pct(lat[1], 0.99), "p99-us-embedded")
		b.ReportMetric(pct(lat[1], 0.5)/pct(lat[0], 0.5), "p50-x-kfake")
		b.ReportMetric(pct(lat[2], 0.5), "p50-us-rf1")
		b.ReportMetric(pct(lat[3], 0.5), "p50-us-sockets")
	})
}

var (
	replGoalRecords = flag.Int("replgoal.records", 50000, "records produced and consumed per round by BenchmarkReplicationGoal")
	replGoalSync    = flag.Int("replgoal.sync", 500, "records produced one at a time per round by BenchmarkReplicationGoal/sync")
)
