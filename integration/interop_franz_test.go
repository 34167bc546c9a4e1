package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kgo"
)

// franzCodecs maps codec names to franz-go's.
var franzCodecs = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

// replicationFactor is the replication factor of the interop tests'
// topics: every record written by one client and read by another travels
// leader to followers too, and acks=all waits for all three copies.
const replicationFactor = 3

// franzCreate creates a topic of numPartitions through kadm.
func franzCreate(t *testing.T, ctx context.Context, addrs []string, topic string) {
	t.Helper()
	resp, err := franzAdmin(t, addrs).CreateTopic(ctx, numPartitions, replicationFactor, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("kadm CreateTopic %s: %v", topic, err)
	}
	if resp.NumPartitions != numPartitions || resp.ReplicationFactor != replicationFactor {
		t.Fatalf("kadm CreateTopic %s: %d partitions, replication factor %d", topic, resp.NumPartitions, resp.ReplicationFactor)
	}
}

// franzProduce produces with franz-go: idempotent (its default), acks=all,
// explicit partitions.
func franzProduce(t *testing.T, ctx context.Context, addrs []string, topic, codec string, recs []rec) {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(franzCodecs[codec]),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		kr := &kgo.Record{Partition: r.Partition, Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		krs[i] = kr
	}
	if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		t.Fatalf("franz-go produce: %v", err)
	}
	// Offsets per partition come back in production order from 0.
	next := map[int32]int64{}
	for i, kr := range krs {
		if kr.Offset != next[kr.Partition] {
			t.Fatalf("franz-go produce: record %d got offset %d in partition %d, want %d", i, kr.Offset, kr.Partition, next[kr.Partition])
		}
		next[kr.Partition]++
	}
}

// franzConsume reads by partition assignment with franz-go.
func franzConsume(t *testing.T, ctx context.Context, addrs []string, topic string, want map[int32]int) map[int32][]got {
	t.Helper()
	return franzConsumeWith(t, ctx, addrs, topic, want)
}

func franzConsumeWith(t *testing.T, ctx context.Context, addrs []string, topic string, want map[int32]int, opts ...kgo.Opt) map[int32][]got {
	t.Helper()
	parts := map[int32]kgo.Offset{}
	for p := range want {
		parts[p] = kgo.NewOffset().At(0)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addrs...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[int32][]got{}
	missing := func() bool {
		for p, n := range want {
			if len(out[p]) < n {
				return true
			}
		}
		return false
	}
	for missing() {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("franz-go consume: %v; have %d/%d/%d records", err, len(out[0]), len(out[1]), len(out[2]))
		}
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.Canceled) && !errors.Is(fe.Err, context.DeadlineExceeded) {
				t.Fatalf("franz-go consume %s/%d: %v", fe.Topic, fe.Partition, fe.Err)
			}
		}
		fs.EachRecord(func(kr *kgo.Record) {
			g := got{rec: rec{Partition: kr.Partition, Key: kr.Key, Value: kr.Value}, Offset: kr.Offset}
			for _, h := range kr.Headers {
				g.Headers = append(g.Headers, hdr{h.Key, h.Value})
			}
			out[kr.Partition] = append(out[kr.Partition], g)
		})
	}
	return out
}

// TestFranzInterop: franz-go creates a topic with kadm, produces with every
// codec and reads back by partition.
func TestFranzInterop(t *testing.T) {
	c := startCluster(t)
	for _, codec := range codecs {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			topic := "franz-" + codec
			franzCreate(t, ctx, c.Addrs(), topic)
			roundTrip(t, ctx, c.Addrs(), topic, codec, makeRecords("franz-"+codec, numRecords, false), franzProduce, franzConsume)
		})
	}
}

// TestCrossClient produces with one client and reads with another, so that
// what each writes is shown to be client-neutral on the wire.
func TestCrossClient(t *testing.T) {
	c := startCluster(t)
	clients := map[string]struct {
		prod producer
		cons consumer
	}{
		"franz":   {franzProduce, franzConsume},
		"sarama":  {saramaProducer(saramaVersions[0], false), saramaConsumer(saramaVersions[0])},
		"kafkago": {kafkagoProduce, kafkagoConsume},
	}
	pairs := []struct{ from, to string }{
		{"franz", "sarama"},
		{"sarama", "kafkago"},
		{"kafkago", "franz"},
		{"sarama", "franz"},
		{"franz", "kafkago"},
		{"kafkago", "sarama"},
	}
	for _, pair := range pairs {
		for _, codec := range codecs {
			name := pair.from + "-to-" + pair.to + "-" + codec
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx := testCtx(t)
				franzCreate(t, ctx, c.Addrs(), name)
				recs := makeRecords(name, numRecords/3, false)
				roundTrip(t, ctx, c.Addrs(), name, codec, recs, clients[pair.from].prod, clients[pair.to].cons)
			})
		}
	}
}

// TestInteropOnDisk runs round trips on a cluster that keeps its logs on
// disk in small segments, so that the fetches of every client read across
// segment files.
func TestInteropOnDisk(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.DataDir(t.TempDir()),
		embeddedbroker.BrokerConfig("log.segment.bytes", "65536"))
	v := saramaVersions[0]
	for _, tc := range []struct {
		name  string
		codec string
		prod  producer
		cons  consumer
	}{
		{"franz-to-sarama", "zstd", franzProduce, saramaConsumer(v)},
		{"sarama-to-kafkago", "snappy", saramaProducer(v, true), kafkagoConsume},
		{"kafkago-to-franz", "gzip", kafkagoProduce, franzConsume},
		{"franz-to-franz", "none", franzProduce, franzConsume},
		{"sarama-to-sarama", "lz4", saramaProducer(v, false), saramaConsumer(v)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			topic := "disk-" + tc.name
			franzCreate(t, ctx, c.Addrs(), topic)
			roundTrip(t, ctx, c.Addrs(), topic, tc.codec, makeRecords(topic, numRecords, false), tc.prod, tc.cons)
		})
	}
}
