package embeddedbroker_test

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// BenchmarkProduceCompacted produces 1 KB keyed records (10 000 keys,
// uncompressed) to a compacted topic of 1 MiB segments on disk (3 nodes,
// replication factor 3), with the log cleaner off, running at the default
// min.cleanable.dirty.ratio (0.5), and running as eagerly as it can (0.01,
// looking for work every 10 ms): the ratios are what cleaning alongside
// costs producers.
//
//	go test -run '^$' -bench BenchmarkProduceCompacted -benchtime 100000x -count 3 ./embeddedbroker/
func BenchmarkProduceCompacted(b *testing.B) {
	for _, run := range []struct{ cleaner, ratio string }{{"false", "0.5"}, {"true", "0.5"}, {"true", "0.01"}} {
		cleaner := run.cleaner
		b.Run(fmt.Sprintf("cleaner=%s/dirty-ratio=%s", run.cleaner, run.ratio), func(b *testing.B) {
			c := embeddedbroker.StartForTest(b, embeddedbroker.Nodes(3), embeddedbroker.DataDir(b.TempDir()),
				embeddedbroker.BrokerConfig("log.cleaner.enable", cleaner),
				embeddedbroker.BrokerConfig("log.cleaner.backoff.ms", "10"),
				embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "compacted", Partitions: 1, ReplicationFactor: 3, Configs: map[string]string{
					"cleanup.policy": "compact", "segment.bytes": "1048576", "min.cleanable.dirty.ratio": run.ratio,
				}}))
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("compacted"),
				kgo.ProducerBatchCompression(kgo.NoCompression()))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			value := randomValue(1000)
			b.SetBytes(1000)
			b.ResetTimer()
			produceEach(b, cl, b.N, func(i int) *kgo.Record {
				return &kgo.Record{Key: fmt.Appendf(nil, "key-%05d", i%10_000), Value: value}
			})
		})
	}
}
