package embeddedbroker_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// replicaRecord is a record as a replica's log holds it.
type replicaRecord struct {
	offset int64
	value  string
	tomb   bool
}

// replicaKeys reads node id's replica of topic-0 and returns its records by
// key, in offset order.
func replicaKeys(t *testing.T, c *embeddedbroker.Cluster, id int32, topic string) map[string][]replicaRecord {
	t.Helper()
	out := map[string][]replicaRecord{}
	err := c.ScanReplica(id, topic, 0, func(b []byte) error {
		h, err := batch.ParseHeader(b)
		if err != nil {
			return err
		}
		if h.Attributes&batch.AttrControl != 0 {
			return nil
		}
		return batch.ForEachRecord(b, func(r batch.Record) bool {
			out[string(r.Key)] = append(out[string(r.Key)], replicaRecord{offset: h.BaseOffset + int64(r.OffsetDelta), value: string(r.Value), tomb: r.Value == nil})
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCompaction writes 100 keys x 20 versions, 10 keys ending with a
// tombstone, to a compacted topic at replication factor 3, and waits until
// every replica holds exactly the latest record of each live key, at the
// offset it was written at, and no record of the tombstoned keys once
// delete.retention.ms has passed.
func TestCompaction(t *testing.T) {
	const (
		topic    = "compacted"
		keys     = 100
		versions = 20
	)
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3),
		embeddedbroker.BrokerConfig("log.cleaner.backoff.ms", "20"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: 3, Configs: map[string]string{
			"cleanup.policy":            "compact",
			"segment.bytes":             "4096",
			"min.cleanable.dirty.ratio": "0.01",
			"delete.retention.ms":       "500",
			"segment.ms":                "100",
		}}))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	latest := map[string]replicaRecord{}
	for v := range versions {
		var rs []*kgo.Record
		for k := range keys {
			r := &kgo.Record{Key: fmt.Appendf(nil, "k%03d", k), Value: fmt.Appendf(nil, "v%d", v)}
			if v == versions-1 && k%10 == 0 {
				r.Value = nil // the last version of every tenth key is a tombstone
			}
			rs = append(rs, r)
		}
		res := cl.ProduceSync(ctx, rs...)
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			latest[string(r.Record.Key)] = replicaRecord{offset: r.Record.Offset, value: string(r.Record.Value), tomb: r.Record.Value == nil}
		}
	}
	// A record after segment.ms rolls the segment holding the last
	// versions, so that all of them can be cleaned.
	time.Sleep(150 * time.Millisecond) // letting segment.ms pass, not waiting for state
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("roll"), Value: []byte("r")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	want := map[string][]replicaRecord{}
	for k, r := range latest {
		if !r.tomb {
			want[k] = []replicaRecord{r}
		}
	}
	for id := range int32(3) {
		var got map[string][]replicaRecord
		waitFor(t, fmt.Sprintf("node %d compacted", id), 30*time.Second, func() bool {
			got = replicaKeys(t, c, id, topic)
			delete(got, "roll")
			return maps.EqualFunc(got, want, slices.Equal)
		})
	}
}
