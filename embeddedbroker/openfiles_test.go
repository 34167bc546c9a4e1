package embeddedbroker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMaxOpenFiles runs 90 replica logs (30 partitions, replication factor
// 3, 3 nodes, on disk) through a cluster-wide bound of 6 open segment files,
// so that produces, replica fetches and consumer fetches keep closing and
// reopening files, with a node killed and restarted in the middle: every
// record produced is read back, in order.
func TestMaxOpenFiles(t *testing.T) {
	const partitions, rounds = 30, 2
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.DataDir(t.TempDir()),
		embeddedbroker.MaxOpenFiles(6),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "many", Partitions: partitions, ReplicationFactor: 3}))
	produce := func(round int) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("many"),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var rs []*kgo.Record
		for p := range int32(partitions) {
			rs = append(rs, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, round)})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	produce(0)
	if err := c.KillNode(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartNode(ctx, 2); err != nil {
		t.Fatal(err)
	}
	produce(1)

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("many"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := make(map[int32][]string)
	for n := 0; n < partitions*rounds; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("after %d records: %v", n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			n++
		})
	}
	for p := range int32(partitions) {
		for round := range rounds {
			if want := fmt.Sprintf("%d-%d", p, round); len(got[p]) <= round || got[p][round] != want {
				t.Fatalf("partition %d: records %q, want %s at %d", p, got[p], want, round)
			}
		}
	}
}
