package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// expectedDescribe renders what topics describe must print for topic,
// from the cluster's own metadata, with the given Configs column.
func expectedDescribe(t *testing.T, c *embeddedbroker.Cluster, topic, configs string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	ds, err := adm.ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	d := ds[topic]
	if d.Err != nil {
		t.Fatal(d.Err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: 1\tConfigs: %s\n",
		topic, base64.RawURLEncoding.EncodeToString(d.ID[:]), len(d.Partitions), configs)
	for _, p := range d.Partitions.Sorted() {
		if p.Leader < 0 || p.Leader > 2 {
			t.Fatalf("partition %d: leader %d", p.Partition, p.Leader)
		}
		fmt.Fprintf(&b, "\tTopic: %s\tPartition: %d\tLeader: %d\tLeaderEpoch: %d\tReplicas: %d\tIsr: %d\n",
			topic, p.Partition, p.Leader, p.LeaderEpoch, p.Leader, p.Leader)
	}
	return b.String()
}

func TestTopics(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3))

	r := kbc(t, c, "", "topics", "create", "--topic", "orders", "--partitions", "3", "--replication-factor", "1",
		"--config", "cleanup.policy=compact", "--config", "retention.ms=60000").ok(t)
	if r.stdout != "Created topic orders.\n" {
		t.Fatalf("create printed %q", r.stdout)
	}
	kbc(t, c, "", "topics", "create", "--topic", "audit").ok(t) // broker defaults

	r = kbc(t, c, "", "topics", "create", "--topic", "orders")
	if r.code != 1 || !strings.Contains(r.stderr, "TOPIC_ALREADY_EXISTS") {
		t.Fatalf("second create: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := kbc(t, c, "", "topics", "create", "--topic", "orders", "--if-not-exists").ok(t); r.stdout != "" {
		t.Fatalf("create --if-not-exists printed %q", r.stdout)
	}

	if r := kbc(t, c, "", "topics", "list", "--exclude-internal").ok(t); r.stdout != "audit\norders\n" {
		t.Fatalf("list printed %q", r.stdout)
	}

	want := expectedDescribe(t, c, "orders", "cleanup.policy=compact,retention.ms=60000")
	if r := kbc(t, c, "", "topics", "describe", "--topic", "orders").ok(t); r.stdout != want {
		t.Fatalf("describe printed\n%s\nwant\n%s", r.stdout, want)
	}
	wantAll := expectedDescribe(t, c, "audit", "") + want
	if r := kbc(t, c, "", "topics", "describe", "--exclude-internal").ok(t); r.stdout != wantAll {
		t.Fatalf("describe all printed\n%s\nwant\n%s", r.stdout, wantAll)
	}

	r = kbc(t, c, "", "topics", "alter", "--topic", "orders", "--partitions", "5",
		"--config", "retention.ms=120000", "--delete-config", "cleanup.policy").ok(t)
	if r.stdout != "Altered topic orders.\n" {
		t.Fatalf("alter printed %q", r.stdout)
	}
	want = expectedDescribe(t, c, "orders", "retention.ms=120000")
	if !strings.Contains(want, "PartitionCount: 5") {
		t.Fatalf("partitions not added:\n%s", want)
	}
	if r := kbc(t, c, "", "topics", "describe", "--topic", "orders").ok(t); r.stdout != want {
		t.Fatalf("describe after alter printed\n%s\nwant\n%s", r.stdout, want)
	}
	r = kbc(t, c, "", "topics", "alter", "--topic", "orders", "--partitions", "2")
	if r.code != 1 || !strings.Contains(r.stderr, "INVALID_PARTITIONS") {
		t.Fatalf("shrinking partitions: exit %d, stderr %q", r.code, r.stderr)
	}

	if r := kbc(t, c, "", "topics", "delete", "--topic", "orders").ok(t); r.stdout != "Deleted topic orders.\n" {
		t.Fatalf("delete printed %q", r.stdout)
	}
	if r := kbc(t, c, "", "topics", "list", "--exclude-internal").ok(t); r.stdout != "audit\n" {
		t.Fatalf("list after delete printed %q", r.stdout)
	}
	r = kbc(t, c, "", "topics", "describe", "--topic", "orders")
	if r.code != 1 || !strings.Contains(r.stderr, `topic "orders" does not exist`) {
		t.Fatalf("describe deleted topic: exit %d, stderr %q", r.code, r.stderr)
	}
	r = kbc(t, c, "", "topics", "delete", "--topic", "orders")
	if r.code != 1 || !strings.Contains(r.stderr, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("delete deleted topic: exit %d, stderr %q", r.code, r.stderr)
	}
	kbc(t, c, "", "topics", "delete", "--topic", "orders", "--if-exists").ok(t)
}

func TestParseTopicSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    embeddedbroker.TopicSpec
		wantErr bool
	}{
		{in: "a", want: embeddedbroker.TopicSpec{Name: "a"}},
		{in: "a:3", want: embeddedbroker.TopicSpec{Name: "a", Partitions: 3}},
		{in: "a.b-c_d:6:1", want: embeddedbroker.TopicSpec{Name: "a.b-c_d", Partitions: 6, ReplicationFactor: 1}},
		{in: "", wantErr: true},
		{in: ":3", wantErr: true},
		{in: "a:0", wantErr: true},
		{in: "a:x", wantErr: true},
		{in: "a:1:0", wantErr: true},
		{in: "a:1:1:1", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseTopicSpec(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseTopicSpec(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (got.Name != tt.want.Name || got.Partitions != tt.want.Partitions || got.ReplicationFactor != tt.want.ReplicationFactor) {
			t.Errorf("parseTopicSpec(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// TestTopicsDescribeCleaner: on an embedded cluster with an admin API, the
// partitions of a compacted topic show their leader's log cleaner.
func TestTopicsDescribeCleaner(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.AdminAddr("127.0.0.1:0"),
		embeddedbroker.BrokerConfig("log.cleaner.backoff.ms", "20"))
	kbc(t, c, "", "topics", "create", "--topic", "state", "--partitions", "2", "--replication-factor", "3",
		"--config", "cleanup.policy=compact", "--config", "segment.bytes=2048", "--config", "min.cleanable.dirty.ratio=0.01").ok(t)
	kbc(t, c, "", "topics", "create", "--topic", "events", "--partitions", "1").ok(t)

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("state"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for v := range 20 { // partition 0 only: 20 keys, 20 versions, a batch each, many segments
		var rs []*kgo.Record
		for k := range 20 {
			rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "key-%02d", k), Value: fmt.Appendf(nil, "value-%03d", v)})
		}
		if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "partition 0 cleaned on every replica", 30*time.Second, func() bool {
		rep, err := c.CleanerReport("state")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range rep.Nodes {
			if len(n.Logs) != 2 || n.Logs[0].LastRun == nil {
				return false
			}
		}
		return true
	})

	r := kbc(t, c, "", "topics", "describe").ok(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	clean := regexp.MustCompile(`\tDirtyRatio: (\d\.\d\d)\tLastClean: (never|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\S+, [\d.]+ (B|KiB) -> [\d.]+ (B|KiB)\))$`)
	var stateLines int
	for _, l := range lines {
		m := clean.FindStringSubmatch(l)
		switch {
		case strings.Contains(l, "Topic: state\tPartition: 0"):
			if m == nil || m[2] == "never" {
				t.Errorf("partition 0 does not show its cleaning: %q", l)
			}
			stateLines++
		case strings.Contains(l, "Topic: state\tPartition: 1"):
			if m == nil || m[1] != "0.00" || m[2] != "never" {
				t.Errorf("empty partition 1 shows %q", l)
			}
			stateLines++
		case m != nil:
			t.Errorf("a partition of a topic that is not compacted shows the cleaner: %q", l)
		}
	}
	if stateLines != 2 {
		t.Fatalf("describe printed\n%s", r.stdout)
	}
	t.Logf("describe printed\n%s", r.stdout)
}
