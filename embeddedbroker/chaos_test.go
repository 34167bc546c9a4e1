package embeddedbroker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestChaos writes sequenced records with idempotent acks=all producers to
// a topic of 6 partitions (KAFKABOOT_CHAOS_PARTITIONS) with replication factor 3 and
// min.insync.replicas 2, while a random node is killed and restarted,
// stopped and restarted, or isolated and healed every few hundred
// milliseconds. Then it reads everything back and checks that every
// acknowledged record is there exactly once, that each producer's records
// keep their order within a partition, and that nothing appears that was
// not sent.
//
// The short run is part of go test; the long form runs longer and with
// more partitions, e.g. KAFKABOOT_CHAOS_DURATION=2m
// KAFKABOOT_CHAOS_PARTITIONS=2000. The nodes keep their logs on disk with
// the default fsync policy, so a killed node comes back without its
// unflushed tail and must re-replicate it.
//
// It runs twice: with followers fetching from leaders in process (the
// embedded cluster's default) and over the inter-broker listeners, as
// nodes of separate processes do.
func TestChaos(t *testing.T) {
	t.Run("in-process", func(t *testing.T) { testChaos(t) })
	t.Run("sockets", func(t *testing.T) { testChaos(t, embeddedbroker.ReplicateOverSockets) })
}

func testChaos(t *testing.T, opts ...embeddedbroker.Option) {
	duration := chaosDuration(t)
	const (
		topic     = "chaos"
		producers = 2
	)
	partitions := chaosPartitions(t)
	c := chaosCluster(t, topic, partitions, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), duration+2*time.Minute)
	defer cancel()

	type key struct{ producer, seq int }
	var (
		mu    sync.Mutex
		acked = map[key]bool{}
		sent  = map[key]bool{}
		fails int
		errs  = map[string]int{}
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	clients := make([]*kgo.Client, producers)
	for pi := range producers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.MetadataMinAge(50*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
			kgo.RecordDeliveryTimeout(20*time.Second), kgo.MaxBufferedRecords(2000))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		clients[pi] = cl
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				k := key{pi, seq}
				mu.Lock()
				sent[k] = true
				mu.Unlock()
				r := &kgo.Record{Partition: int32(seq % int(partitions)), Value: []byte(fmt.Sprintf("%d-%d", pi, seq))}
				cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						fails++
						errs[err.Error()]++
						return
					}
					acked[k] = true
				})
				if seq%50 == 49 {
					time.Sleep(time.Millisecond) // leave the cores to the brokers now and then
				}
			}
		}()
	}

	actions := injectFaults(t, ctx, c, duration, map[string]int32{topic: partitions})
	close(stop)
	wg.Wait()
	for _, cl := range clients {
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// Read everything back.
	adm := kadm.NewClient(clients[0])
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset; total += o.Offset })
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[key]bool{}
	last := map[[2]int]int{} // (partition, producer) -> last seq
	var read int64
	for read < total {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			read++
			parts := strings.SplitN(string(r.Value), "-", 2)
			p, err1 := strconv.Atoi(parts[0])
			s, err2 := strconv.Atoi(parts[1])
			k := key{p, s}
			if err1 != nil || err2 != nil || !sent[k] {
				t.Fatalf("record %q at %d/%d was never sent", r.Value, r.Partition, r.Offset)
			}
			if seen[k] {
				t.Fatalf("record %q appears twice (again at %d/%d)", r.Value, r.Partition, r.Offset)
			}
			seen[k] = true
			pk := [2]int{int(r.Partition), p}
			if prev, ok := last[pk]; ok && s <= prev {
				t.Fatalf("partition %d: producer %d's record %d after %d", r.Partition, p, s, prev)
			}
			last[pk] = s
		})
	}
	missing := 0
	for k := range acked {
		if !seen[k] {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged record %d-%d is missing", k.producer, k.seq)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d acknowledged records missing", missing)
	}
	t.Logf("chaos for %v: %v; %d records sent, %d acknowledged, %d failed %v, %d read back, all acknowledged present once and in order",
		duration, actions, len(sent), len(acked), fails, errs, read)
}

// chaosCluster starts the chaos tests' cluster: 3 nodes on disk, followers
// out of the ISR after 2 s behind, and topic with partitions, replication
// factor 3 and min.insync.replicas 2.
func chaosCluster(t *testing.T, topic string, partitions int32, opts ...embeddedbroker.Option) *embeddedbroker.Cluster {
	t.Helper()
	return embeddedbroker.StartForTest(t, append([]embeddedbroker.Option{embeddedbroker.Nodes(3), embeddedbroker.DataDir(t.TempDir()),
		embeddedbroker.Logger(testLogger(t)),
		embeddedbroker.BrokerConfig("replica.lag.time.max.ms", "2000"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: topic, Partitions: partitions, ReplicationFactor: 3,
			Configs: map[string]string{"min.insync.replicas": "2"}})}, opts...)...)
}

// chaosPartitions is the chaos topic's partition count: 6, or
// KAFKABOOT_CHAOS_PARTITIONS.
func chaosPartitions(t *testing.T) int32 {
	t.Helper()
	if v := os.Getenv("KAFKABOOT_CHAOS_PARTITIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("KAFKABOOT_CHAOS_PARTITIONS=%q", v)
		}
		return int32(n)
	}
	return 6
}

// chaosDuration is how long the chaos tests inject faults: 3 s, 1 s with
// -short, or KAFKABOOT_CHAOS_DURATION.
func chaosDuration(t *testing.T) time.Duration {
	t.Helper()
	if v := os.Getenv("KAFKABOOT_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if testing.Short() {
		return time.Second
	}
	return 3 * time.Second
}

// injectFaults kills and restarts, stops and restarts, or isolates and
// heals a random node of the 3-node cluster c every few hundred
// milliseconds for duration, one fault at a time, each after every replica
// of the topics' partitions (name to partition count) is back in sync. It
// returns how often each fault was injected.
func injectFaults(t *testing.T, ctx context.Context, c *embeddedbroker.Cluster, duration time.Duration, topics map[string]int32) map[string]int {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	actions := map[string]int{}
	end := time.Now().Add(duration)
	inSync := func() bool {
		for topic, partitions := range topics {
			for p := range partitions {
				if len(c.ISR(topic, p)) != 3 {
					return false
				}
			}
		}
		return true
	}
	for time.Now().Before(end) {
		// One fault at a time: a kill loses what a node had not
		// fsynced (by default, everything since its segments last
		// rolled, as in Kafka), so two overlapping kills could destroy
		// the only copies of a record, in Kafka as here.
		waitFor(t, "every replica in sync", 30*time.Second, inSync)
		id := int32(rng.IntN(3))
		pause := time.Duration(150+rng.IntN(250)) * time.Millisecond
		var act string
		switch rng.IntN(3) {
		case 0:
			act = "kill"
			must(t, c.KillNode(ctx, id))
			time.Sleep(pause)
			must(t, c.RestartNode(ctx, id))
		case 1:
			act = "stop"
			must(t, c.StopNode(ctx, id))
			time.Sleep(pause)
			must(t, c.RestartNode(ctx, id))
		case 2:
			act = "isolate"
			must(t, c.IsolateNode(ctx, id))
			time.Sleep(pause)
			must(t, c.HealNode(ctx, id))
		}
		actions[act]++
		time.Sleep(time.Duration(100+rng.IntN(200)) * time.Millisecond)
	}
	return actions
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
