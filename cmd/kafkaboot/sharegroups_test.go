package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// TestShareGroups: a share group (two franz-go share consumers that
// accepted every record) is listed, described with its start offsets and
// lag, its members and its state, and deleted once empty.
func TestShareGroups(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.Topics(2, "sq"))
	skipWithoutGroups(t, c)
	kbc(t, c, "a\nb\nc\nd\ne\nf\n", "produce", "--topic", "sq").ok(t)
	admin, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "sg"
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Value = "share.auto.offset.reset", kmsg.StringPtr("earliest")
	res.Configs = append(res.Configs, cfg)
	req.Resources = append(req.Resources, res)
	if resp, err := req.RequestWith(t.Context(), admin); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("share.auto.offset.reset: %v %+v", err, resp)
	}
	var consumers []*kgo.Client
	for range 2 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ShareGroup("sg"), kgo.ConsumeTopics("sq"), kgo.ClientID("worker"))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		consumers = append(consumers, cl)
	}
	got := 0
	deadline := time.Now().Add(20 * time.Second)
	for got < 6 && time.Now().Before(deadline) {
		for _, cl := range consumers {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			fs := cl.PollRecords(ctx, 10)
			cancel()
			fs.EachRecord(func(r *kgo.Record) { r.Ack(kgo.AckAccept); got++ })
			if err := cl.FlushAcks(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got != 6 {
		t.Fatalf("consumed %d of 6 records", got)
	}

	r := kbc(t, c, "", "share-groups", "list").ok(t)
	if want := "GROUP  STATE\nsg     Stable\n"; r.stdout != want {
		t.Fatalf("share-groups list printed %q, want %q", r.stdout, want)
	}
	r = kbc(t, c, "", "share-groups", "describe", "--group", "sg", "--state").ok(t)
	if f := strings.Fields(strings.Split(strings.TrimSpace(r.stdout), "\n")[1]); f[0] != "sg" || f[1] != "Stable" || f[2] != "simple" || f[5] != "2" {
		t.Fatalf("describe --state printed\n%s", r.stdout)
	}
	r = kbc(t, c, "", "share-groups", "describe", "--group", "sg", "--members").ok(t)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 3 || !strings.Contains(lines[1], "worker") {
		t.Fatalf("describe --members printed\n%s", r.stdout)
	}
	// Every record accepted: the start offsets are at the log ends.
	waitFor(t, "start offsets at the log ends", 10*time.Second, func() bool {
		r = kbc(t, c, "", "share-groups", "describe", "--group", "sg").ok(t)
		starts := 0
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) == 5 && f[1] == "sq" {
				n, _ := strconv.Atoi(f[3])
				starts += n
			}
		}
		return starts == 6
	})
	for _, cl := range consumers {
		cl.Close()
	}
	waitFor(t, "the group to be empty", 20*time.Second, func() bool {
		return strings.Contains(kbc(t, c, "", "share-groups", "list").ok(t).stdout, "sg     Empty")
	})
	if r := kbc(t, c, "", "share-groups", "delete", "--group", "sg").ok(t); !strings.Contains(r.stdout, "'sg'") {
		t.Fatalf("delete printed %q", r.stdout)
	}
	if r := kbc(t, c, "", "share-groups", "list").ok(t); r.stdout != "" {
		t.Fatalf("list after delete printed %q", r.stdout)
	}
}
