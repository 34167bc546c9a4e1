package embeddedbroker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The benchmarks compare the embedded broker, in memory and on disk, with
// franz-go's kfake measured in the same run: 3 nodes, a topic of 6
// partitions, a franz-go client with its defaults (acks=all, idempotent).
// Read the results as ratios against kfake, e.g.
//
//	go test -run '^$' -bench 'Produce|Fetch' -benchtime 200000x ./embeddedbroker/

type benchTarget struct {
	name  string
	start func(b *testing.B) []string
}

var benchTargets = []benchTarget{
	{"kfake", func(b *testing.B) []string {
		c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(6, "bench"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		return c.ListenAddrs()
	}},
	{"embedded-memory", func(b *testing.B) []string {
		return embeddedbroker.StartForTest(b, embeddedbroker.Nodes(3), embeddedbroker.Topics(6, "bench")).Addrs()
	}},
	{"embedded-disk", func(b *testing.B) []string {
		return embeddedbroker.StartForTest(b, embeddedbroker.Nodes(3), embeddedbroker.Topics(6, "bench"), embeddedbroker.DataDir(b.TempDir())).Addrs()
	}},
}

func produceN(b *testing.B, cl *kgo.Client, n int, value []byte) {
	produceEach(b, cl, n, func(int) *kgo.Record { return &kgo.Record{Value: value} })
}

// produceEach produces the n records rec makes, asynchronously, and fails
// b on the first error.
func produceEach(b *testing.B, cl *kgo.Client, n int, rec func(i int) *kgo.Record) {
	ctx := context.Background()
	errs := make(chan error, 1)
	for i := 0; i < n; i++ {
		cl.Produce(ctx, rec(i), func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// BenchmarkProduce produces records of 100 B and 1 KB. Every record of a
// run carries the same random value, so franz-go's default snappy
// compresses the batches (as it would repetitive JSON); the "raw" variants
// turn compression off, which isolates the broker's own per-batch work
// from the decompression that validating compressed records takes (Kafka
// decompresses to validate too; kfake validates nothing).
func BenchmarkProduce(b *testing.B) {
	for _, size := range []string{"100B", "1000B", "1000B-raw"} {
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSuffix(size, "-raw"), "B"))
		opts := []kgo.Opt{kgo.DefaultProduceTopic("bench")}
		if strings.HasSuffix(size, "-raw") {
			opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
		}
		for _, tg := range benchTargets {
			b.Run(fmt.Sprintf("%s/%s", size, tg.name), func(b *testing.B) {
				benchProduce(b, tg.start(b), opts, n)
			})
		}
	}
}

// benchProduce times producing b.N records of n random bytes with a client
// made of opts, after a warm-up (metadata, producer id).
func benchProduce(b *testing.B, addrs []string, opts []kgo.Opt, n int) {
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.SeedBrokers(addrs...))...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	value := randomValue(n)
	produceN(b, cl, 100, value)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	produceN(b, cl, b.N, value)
}

func BenchmarkFetch(b *testing.B) {
	const size = 1000
	for _, tg := range benchTargets {
		b.Run(fmt.Sprintf("%dB/%s", size, tg.name), func(b *testing.B) {
			addrs := tg.start(b)
			p, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("bench"))
			if err != nil {
				b.Fatal(err)
			}
			produceN(b, p, b.N, randomValue(size))
			p.Close()
			c, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("bench"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.SetBytes(size)
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

// randomValue returns incompressible bytes, so that the client's default
// compression does not turn the benchmark into one of zeros.
func randomValue(n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(rand.Uint32())
	}
	return v
}

// BenchmarkTransactions runs transactions of 100 records of 100 B (begin,
// produce over the 6 partitions, flush, commit) with a franz-go
// transactional producer; ns/op is per transaction, coordinator round
// trips and markers included. The topic has replication factor 1, like
// kfake's, and so has __transaction_state in the embedded cluster, except
// in the rf3 variant: there its default replication factor 3 (min.insync
// 2) puts a follower round trip into each of the coordinator's three
// writes per transaction (AddPartitions, PrepareCommit, CompleteCommit).
func BenchmarkTransactions(b *testing.B) {
	rf1 := embeddedbroker.BrokerConfig("transaction.state.log.replication.factor", "1")
	targets := []benchTarget{benchTargets[0],
		{"embedded-memory", func(b *testing.B) []string {
			return embeddedbroker.StartForTest(b, embeddedbroker.Nodes(3), embeddedbroker.Topics(6, "bench"), rf1).Addrs()
		}},
		{"embedded-disk", func(b *testing.B) []string {
			return embeddedbroker.StartForTest(b, embeddedbroker.Nodes(3), embeddedbroker.Topics(6, "bench"), rf1,
				embeddedbroker.DataDir(b.TempDir())).Addrs()
		}},
		{"embedded-memory-rf3", func(b *testing.B) []string {
			return embeddedbroker.StartForTest(b, embeddedbroker.Nodes(3), embeddedbroker.Topics(6, "bench")).Addrs()
		}},
	}
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			addrs := tg.start(b)
			cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("bench"),
				kgo.TransactionalID("bench-"+tg.name))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx := context.Background()
			value := randomValue(100)
			txn := func() {
				if err := cl.BeginTransaction(); err != nil {
					b.Fatal(err)
				}
				produceN(b, cl, 100, value)
				if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					b.Fatal(err)
				}
			}
			txn() // warm up: coordinator, producer id, metadata
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				txn()
			}
		})
	}
}
