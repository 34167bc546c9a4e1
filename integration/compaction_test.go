package integration

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// TestCompactionAcrossClients writes 100 keys x 20 versions, every tenth
// key ending with a tombstone, to a compacted topic at replication factor
// 3, waits until the log cleaner has left one record per live key (the
// tombstones gone after delete.retention.ms), and checks that franz-go,
// sarama, kafka-go and kcat all read exactly that from the beginning: the
// latest value of each live key, at the offset it was written at.
func TestCompactionAcrossClients(t *testing.T) {
	const (
		topic    = "compacted"
		keys     = 100
		versions = 20
	)
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.BrokerConfig("log.cleaner.backoff.ms", "20"))
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 3, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.bytes":             kadm.StringPtr("4096"),
		"segment.ms":                kadm.StringPtr("100"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"delete.retention.ms":       kadm.StringPtr("500"),
	}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	latest := map[string]got{}
	for v := range versions {
		var rs []*kgo.Record
		for k := range keys {
			r := &kgo.Record{Key: fmt.Appendf(nil, "k%03d", k), Value: fmt.Appendf(nil, "v%02d", v)}
			if v == versions-1 && k%10 == 0 {
				r.Value = nil
			}
			rs = append(rs, r)
		}
		res := cl.ProduceSync(ctx, rs...)
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			latest[string(r.Record.Key)] = got{rec: rec{Key: r.Record.Key, Value: r.Record.Value}, Offset: r.Record.Offset}
		}
	}
	time.Sleep(150 * time.Millisecond) // letting segment.ms pass, not waiting for state
	res := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("roll"), Value: []byte("r")})
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	latest["roll"] = got{rec: rec{Key: []byte("roll"), Value: []byte("r")}, Offset: res[0].Record.Offset}
	want := map[int64]string{}
	for _, g := range latest {
		if g.Value != nil {
			want[g.Offset] = string(g.Key) + "=" + string(g.Value)
		}
	}
	asMap := func(gs []got) map[int64]string {
		m := map[int64]string{}
		for _, g := range gs {
			m[g.Offset] = string(g.Key) + "=" + string(g.Value)
		}
		return m
	}

	// Compacted: a read from the beginning up to the end holds exactly
	// the live keys' latest records.
	deadline := time.Now().Add(60 * time.Second)
	for {
		gotAll := franzConsume(t, ctx, c.Addrs(), topic, map[int32]int{0: len(want)})[0]
		if maps.Equal(asMap(gotAll), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not compacted after 60 s: the first %d records read are not the %d latest", len(gotAll), len(want))
		}
		time.Sleep(100 * time.Millisecond) // polling the cleaner's progress
	}
	n := map[int32]int{0: len(want)}
	for name, read := range map[string]func(t *testing.T) []got{
		"franz-go": func(t *testing.T) []got { return franzConsume(t, ctx, c.Addrs(), topic, n)[0] },
		"sarama":   func(t *testing.T) []got { return saramaReadN(t, ctx, c.Addrs(), topic, len(want)) },
		"kafka-go": func(t *testing.T) []got { return kafkagoConsume(t, ctx, c.Addrs(), topic, n)[0] },
		"kcat":     func(t *testing.T) []got { return kcatConsume(t, ctx, c.Addrs(), topic, n)[0] },
	} {
		t.Run(name, func(t *testing.T) {
			gs := read(t)
			if m := asMap(gs); !maps.Equal(m, want) {
				offs := slices.Sorted(maps.Keys(m))
				t.Fatalf("%s read %d records (offsets %v...), want the %d latest", name, len(gs), offs[:min(5, len(offs))], len(want))
			}
		})
	}
}

// saramaReadN reads the first n records of partition 0 with sarama's
// consumer (saramaConsume also checks that the high watermark is n, which
// a compacted partition's is not).
func saramaReadN(t *testing.T, ctx context.Context, addrs []string, topic string, n int) []got {
	t.Helper()
	cons, err := sarama.NewConsumer(addrs, saramaConfig(saramaVersions[len(saramaVersions)-1]))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var out []got
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, got{rec: rec{Key: m.Key, Value: m.Value}, Offset: m.Offset})
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatalf("sarama: %v; have %d/%d records", ctx.Err(), len(out), n)
		}
	}
	return out
}
