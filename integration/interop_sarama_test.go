package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaVersions are the Kafka versions sarama is told it talks to: both
// recent enough for record batches v2 (headers), zstd and idempotence;
// sarama picks its request versions from them.
var saramaVersions = []sarama.KafkaVersion{sarama.V3_6_0_0, sarama.V4_0_0_0}

// saramaCodecs maps codec names to sarama's.
var saramaCodecs = map[string]sarama.CompressionCodec{
	"none":   sarama.CompressionNone,
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

// saramaConfig is the base config of every sarama client here.
func saramaConfig(v sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = "kafkaboot-interop"
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	// Short fetch waits: a partition consumer waits out its last fetch
	// when it closes.
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Admin.Timeout = 10 * time.Second
	return cfg
}

// saramaCreate creates a topic of numPartitions through sarama's
// ClusterAdmin.
func saramaCreate(t *testing.T, v sarama.KafkaVersion, addrs []string, topic string) {
	t.Helper()
	adm, err := sarama.NewClusterAdmin(addrs, saramaConfig(v))
	if err != nil {
		t.Fatalf("sarama NewClusterAdmin: %v", err)
	}
	defer adm.Close()
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: numPartitions, ReplicationFactor: replicationFactor}, false); err != nil {
		t.Fatalf("sarama CreateTopic %s: %v", topic, err)
	}
	mds, err := adm.DescribeTopics([]string{topic})
	if err != nil {
		t.Fatalf("sarama DescribeTopics: %v", err)
	}
	if len(mds) != 1 || mds[0].Err != sarama.ErrNoError || len(mds[0].Partitions) != numPartitions {
		t.Fatalf("sarama DescribeTopics %s: %+v", topic, mds)
	}
}

// saramaProducer produces with sarama's SyncProducer, acks=all, explicit
// partitions, idempotent or not.
func saramaProducer(v sarama.KafkaVersion, idempotent bool) producer {
	return func(t *testing.T, _ context.Context, addrs []string, topic, codec string, recs []rec) {
		t.Helper()
		saramaProduceWith(t, v, addrs, topic, codec, recs, idempotent)
	}
}

func saramaProduceWith(t *testing.T, v sarama.KafkaVersion, addrs []string, topic, codec string, recs []rec, idempotent bool) {
	t.Helper()
	cfg := saramaConfig(v)
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = saramaCodecs[codec]
	// Several batches per partition; Frequency flushes the remainder.
	cfg.Producer.Flush.Messages = 40
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	if idempotent {
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
		cfg.Producer.Retry.Max = 3
	}
	p, err := sarama.NewSyncProducer(addrs, cfg)
	if err != nil {
		t.Fatalf("sarama NewSyncProducer: %v", err)
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Partition: r.Partition, Key: sarama.ByteEncoder(r.Key), Value: sarama.ByteEncoder(r.Value)}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		msgs[i] = m
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("sarama SendMessages: %v", err)
	}
	next := map[int32]int64{}
	for i, m := range msgs {
		if m.Partition != recs[i].Partition || m.Offset != next[m.Partition] {
			t.Fatalf("sarama produce: record %d got partition %d offset %d, want partition %d offset %d", i, m.Partition, m.Offset, recs[i].Partition, next[recs[i].Partition])
		}
		next[m.Partition]++
	}
}

// saramaConsumer reads each partition with Consumer.ConsumePartition from
// offset 0, the partitions concurrently.
func saramaConsumer(v sarama.KafkaVersion) consumer {
	return func(t *testing.T, ctx context.Context, addrs []string, topic string, want map[int32]int) map[int32][]got {
		t.Helper()
		return saramaConsume(t, ctx, v, addrs, topic, want)
	}
}

func saramaConsume(t *testing.T, ctx context.Context, v sarama.KafkaVersion, addrs []string, topic string, want map[int32]int) map[int32][]got {
	t.Helper()
	cons, err := sarama.NewConsumer(addrs, saramaConfig(v))
	if err != nil {
		t.Fatalf("sarama NewConsumer: %v", err)
	}
	defer cons.Close()
	return eachPartition(t, want, func(p int32, n int) ([]got, error) {
		pc, err := cons.ConsumePartition(topic, p, 0)
		if err != nil {
			return nil, fmt.Errorf("ConsumePartition: %w", err)
		}
		defer pc.Close()
		var out []got
		for len(out) < n {
			select {
			case m := <-pc.Messages():
				g := got{rec: rec{Partition: m.Partition, Key: m.Key, Value: m.Value}, Offset: m.Offset}
				for _, h := range m.Headers {
					g.Headers = append(g.Headers, hdr{string(h.Key), h.Value})
				}
				out = append(out, g)
			case err := <-pc.Errors():
				return out, err
			case <-ctx.Done():
				return out, fmt.Errorf("%w; have %d/%d records", ctx.Err(), len(out), n)
			}
		}
		if hwm := pc.HighWaterMarkOffset(); hwm != int64(n) {
			return out, fmt.Errorf("high watermark %d, want %d", hwm, n)
		}
		return out, nil
	})
}

// TestSaramaInterop: sarama creates topics with its ClusterAdmin, produces
// with every codec, plain and idempotent, configured as Kafka 3.6 and 4.0,
// and reads back by partition.
func TestSaramaInterop(t *testing.T) {
	c := startCluster(t)
	for _, v := range saramaVersions {
		for _, idem := range []bool{false, true} {
			for _, codec := range codecs {
				name := fmt.Sprintf("sarama-%s-%s", v, codec)
				if idem {
					name = fmt.Sprintf("sarama-%s-idempotent-%s", v, codec)
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					ctx := testCtx(t)
					saramaCreate(t, v, c.Addrs(), name)
					roundTrip(t, ctx, c.Addrs(), name, codec, makeRecords(name, numRecords, false), saramaProducer(v, idem), saramaConsumer(v))
				})
			}
		}
	}
}
