package embeddedbroker_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDeleteTopicRemovesItsFiles: deleting a topic of a cluster on disk
// removes its partitions' directories on every node, and a topic created
// again under the name starts empty.
func TestDeleteTopicRemovesItsFiles(t *testing.T) {
	dir := t.TempDir()
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.DataDir(dir),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "doomed", Partitions: 2, ReplicationFactor: 3}))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("doomed"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dirs := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "node-*", "doomed-*"))
		return m
	}
	if got := dirs(); len(got) != 6 {
		t.Fatalf("%d partition directories before the delete: %v", len(got), got)
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.DeleteTopic(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	if got := dirs(); len(got) != 0 {
		for _, d := range got {
			es, _ := os.ReadDir(d)
			t.Logf("%s: %d entries", d, len(es))
		}
		t.Fatalf("partition directories left after the delete: %v", got)
	}
}
