package embeddedbroker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file tests, over real sockets, that every topic and broker config
// the embedded broker accepts takes effect, and that those it does not
// implement are refused with INVALID_CONFIG naming them (see the table in
// internal/configs). Pure logic (recompression, timestamp bounds, roll
// rules) is unit-tested in the batch and logstore packages.

func topicSpec(name string, cfg ...string) embeddedbroker.Option {
	m := map[string]string{}
	for i := 0; i+1 < len(cfg); i += 2 {
		m[cfg[i]] = cfg[i+1]
	}
	return embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: name, Partitions: 1, Configs: m})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newClient(t *testing.T, c *embeddedbroker.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// rawProduce sends one produce request of records to topic/0 and returns
// the partition's answer.
func rawProduce(t *testing.T, rc *rawConn, topic string, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = -1
	req.TimeoutMillis = 5000
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: records}}}}
	return rc.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

// rawFetch returns the batches of topic/0 from offset 0, asking for maxBytes.
func rawFetch(t *testing.T, rc *rawConn, topic string, maxBytes int32) [][]byte {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID = -1
	req.MaxBytes = maxBytes
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = maxBytes
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	resp := rc.do(req).(*kmsg.FetchResponse)
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("fetch %s: %v", topic, err)
	}
	var out [][]byte
	for rest := p.RecordBatches; len(rest) > 0; {
		b, r, err := batch.Next(rest)
		if err != nil {
			break // a partial batch at the end
		}
		out = append(out, b)
		rest = r
	}
	return out
}

var kgoCodecs = map[batch.Codec]kgo.CompressionCodec{
	batch.CodecNone:   kgo.NoCompression(),
	batch.CodecGzip:   kgo.GzipCompression(),
	batch.CodecSnappy: kgo.SnappyCompression(),
	batch.CodecLZ4:    kgo.Lz4Compression(),
	batch.CodecZstd:   kgo.ZstdCompression(),
}

// TestConfigCompressionType: a topic whose compression.type is a codec
// stores every produced batch in that codec, whatever the producer used,
// keeping the idempotent producer's id and sequences and the records; the
// broker's compression.type applies to topics that set none; producer
// keeps the producer's codec. A transaction's batches keep their
// transactional bit and its markers stay uncompressed.
func TestConfigCompressionType(t *testing.T) {
	targets := map[string]batch.Codec{
		"uncompressed": batch.CodecNone, "gzip": batch.CodecGzip, "snappy": batch.CodecSnappy,
		"lz4": batch.CodecLZ4, "zstd": batch.CodecZstd,
	}
	opts := []embeddedbroker.Option{
		embeddedbroker.BrokerConfig("compression.type", "lz4"),
		topicSpec("comp-producer", "compression.type", "producer"),
		topicSpec("comp-broker"), // lz4 from the broker
		topicSpec("comp-small", "compression.type", "uncompressed", "max.message.bytes", "2000"),
	}
	for name := range targets {
		opts = append(opts, topicSpec("comp-"+name, "compression.type", name))
	}
	c := embeddedbroker.StartForTest(t, opts...)
	ctx := testCtx(t)
	value := bytes.Repeat([]byte("compressible kafka value "), 40)

	// One idempotent producer per codec, each writing two batches (two
	// sequential records) to every topic.
	topics := []string{"comp-producer", "comp-broker"}
	for name := range targets {
		topics = append(topics, "comp-"+name)
	}
	slices.Sort(topics)
	order := []batch.Codec{batch.CodecNone, batch.CodecGzip, batch.CodecSnappy, batch.CodecLZ4, batch.CodecZstd}
	for _, pc := range order {
		cl := newClient(t, c, kgo.ProducerBatchCompression(kgoCodecs[pc]), kgo.ProducerLinger(0))
		for _, topic := range topics {
			for i := range 2 {
				r := &kgo.Record{Topic: topic, Key: []byte("k"), Value: value, Headers: []kgo.RecordHeader{{Key: "from", Value: []byte(fmt.Sprint(pc, i))}}}
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatalf("produce %v to %s: %v", pc, topic, err)
				}
			}
		}
	}

	rc := dialRaw(t, c.Addrs()[0])
	for _, topic := range topics {
		bs := rawFetch(t, rc, topic, 1<<20)
		if len(bs) != 2*len(order) {
			t.Fatalf("%s: %d batches, want %d", topic, len(bs), 2*len(order))
		}
		var pids []int64
		for i, b := range bs {
			h, err := batch.Validate(b, batch.ValidateOptions{})
			if err != nil {
				t.Fatalf("%s batch %d: %v", topic, i, err)
			}
			producerCodec := order[i/2]
			want, ok := targets[strings.TrimPrefix(topic, "comp-")]
			switch {
			case topic == "comp-broker":
				want = batch.CodecLZ4
			case !ok:
				want = producerCodec
			}
			if h.Codec() != want {
				t.Errorf("%s batch %d (producer %v): stored as %v, want %v", topic, i, producerCodec, h.Codec(), want)
			}
			if h.ProducerID < 0 || h.BaseSequence != int32(i%2) || h.NumRecords != 1 {
				t.Errorf("%s batch %d: producer %d sequence %d records %d", topic, i, h.ProducerID, h.BaseSequence, h.NumRecords)
			}
			if i%2 == 1 && h.ProducerID != pids[len(pids)-1] {
				t.Errorf("%s batch %d: producer id changed", topic, i)
			}
			pids = append(pids, h.ProducerID)
			recs, err := batch.Records(b)
			if err != nil || len(recs) != 1 || !bytes.Equal(recs[0].Value, value) || string(recs[0].Headers[0].Value) != fmt.Sprint(producerCodec, i%2) {
				t.Fatalf("%s batch %d: records %v, %v", topic, i, recs, err)
			}
		}
	}

	// A consumer (franz-go's own decompressors) reads every topic.
	cons := newClient(t, c, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < len(topics)*2*len(order) {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !bytes.Equal(r.Value, value) {
				t.Errorf("%s@%d: value differs", r.Topic, r.Offset)
			}
			got++
		})
	}

	// A transaction through a recompressing topic.
	tx := newClient(t, c, kgo.TransactionalID("comp-tx"), kgo.ProducerBatchCompression(kgo.GzipCompression()))
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(ctx, &kgo.Record{Topic: "comp-zstd", Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the commit marker", 10*time.Second, func() bool { return len(rawFetch(t, rc, "comp-zstd", 1<<20)) == 2*len(order)+2 })
	bs := rawFetch(t, rc, "comp-zstd", 1<<20)
	data, marker := bs[len(bs)-2], bs[len(bs)-1]
	hd, _ := batch.ParseHeader(data)
	hm, _ := batch.ParseHeader(marker)
	if hd.Codec() != batch.CodecZstd || !hd.Transactional() || hd.ProducerID < 0 || hd.Control() {
		t.Fatalf("transactional batch: %+v", hd)
	}
	if !hm.Control() || hm.Codec() != batch.CodecNone || hm.ProducerID != hd.ProducerID {
		t.Fatalf("marker: %+v", hm)
	}
	committed := newClient(t, c, kgo.ConsumeTopics("comp-zstd"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for n := 0; n < 2*len(order)+1; {
		fs := committed.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}

	// max.message.bytes applies to the recompressed batch too: 10 KiB of
	// zeros gzip to far below 2000 bytes but do not fit uncompressed.
	big := batch.Build(batch.BuildOptions{Codec: batch.CodecGzip, Timestamp: time.Now().UnixMilli()},
		batch.Record{Key: []byte("k"), Value: make([]byte, 10<<10)})
	if len(big) >= 2000 {
		t.Fatalf("test batch is %d bytes compressed", len(big))
	}
	p := rawProduce(t, rc, "comp-small", big)
	if p.ErrorCode != kerr.MessageTooLarge.Code || p.ErrorMessage == nil || !strings.Contains(*p.ErrorMessage, "after recompression") {
		t.Fatalf("too large after recompression: %v %v", kerr.ErrorForCode(p.ErrorCode), p.ErrorMessage)
	}
	small := batch.Build(batch.BuildOptions{Codec: batch.CodecGzip}, batch.Record{Key: []byte("k"), Value: []byte("fits")})
	if p := rawProduce(t, rc, "comp-small", small); p.ErrorCode != 0 {
		t.Fatalf("small batch: %v", kerr.ErrorForCode(p.ErrorCode))
	}
}

// TestConfigTimestampBounds: message.timestamp.before.max.ms and
// message.timestamp.after.max.ms (and their broker synonyms) refuse a
// batch holding a CreateTime timestamp out of range with INVALID_TIMESTAMP
// and a message naming the bounds; LogAppendTime topics do not check.
func TestConfigTimestampBounds(t *testing.T) {
	c := embeddedbroker.StartForTest(t,
		embeddedbroker.BrokerConfig("log.message.timestamp.before.max.ms", "60000"),
		topicSpec("ts", "message.timestamp.before.max.ms", "3600000", "message.timestamp.after.max.ms", "3600000"),
		topicSpec("ts-broker"),
		topicSpec("ts-lat", "message.timestamp.type", "LogAppendTime", "message.timestamp.before.max.ms", "0"),
	)
	ctx := testCtx(t)
	cl := newClient(t, c, kgo.DisableIdempotentWrite(), kgo.ProducerLinger(0))
	now := time.Now()
	for _, tt := range []struct {
		topic string
		ts    time.Time
		ok    bool
	}{
		{"ts", now, true},
		{"ts", now.Add(-50 * time.Minute), true},
		{"ts", now.Add(50 * time.Minute), true},
		{"ts", now.Add(-2 * time.Hour), false},
		{"ts", now.Add(2 * time.Hour), false},
		{"ts-broker", now.Add(-2 * time.Minute), false},
		{"ts-broker", now.Add(24 * time.Hour), true},
		{"ts-lat", now.Add(-24 * time.Hour), true},
	} {
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: tt.topic, Value: []byte("v"), Timestamp: tt.ts}).FirstErr()
		if tt.ok && err != nil {
			t.Errorf("%s at now%+v: %v", tt.topic, tt.ts.Sub(now).Round(time.Minute), err)
		}
		if !tt.ok && !errors.Is(err, kerr.InvalidTimestamp) {
			t.Errorf("%s at now%+v: %v, want INVALID_TIMESTAMP", tt.topic, tt.ts.Sub(now).Round(time.Minute), err)
		}
	}

	// The message says which record and which bounds; the refused batch
	// appended nothing.
	rc := dialRaw(t, c.Addrs()[0])
	before := len(rawFetch(t, rc, "ts", 1<<20))
	old := batch.Build(batch.BuildOptions{Timestamp: now.Add(-90 * time.Minute).UnixMilli()},
		batch.Record{Key: []byte("a")}, batch.Record{Key: []byte("b"), TimestampDelta: -int64(time.Hour / time.Millisecond)})
	p := rawProduce(t, rc, "ts", old)
	if p.ErrorCode != kerr.InvalidTimestamp.Code || p.ErrorMessage == nil ||
		!strings.Contains(*p.ErrorMessage, "record 0") || !strings.Contains(*p.ErrorMessage, "message.timestamp.before.max.ms=3600000") {
		t.Fatalf("old batch: %v %v", kerr.ErrorForCode(p.ErrorCode), p.ErrorMessage)
	}
	if after := len(rawFetch(t, rc, "ts", 1<<20)); after != before {
		t.Fatalf("%d batches after a refused one, want %d", after, before)
	}
	// A producer may not claim LogAppendTime.
	lat := batch.Build(batch.BuildOptions{Timestamp: now.UnixMilli()}, batch.Record{Key: []byte("a")})
	batch.SetLogAppendTime(lat, now.UnixMilli())
	if p := rawProduce(t, rc, "ts-lat", lat); p.ErrorCode != kerr.InvalidTimestamp.Code {
		t.Fatalf("LogAppendTime batch from a producer: %v", kerr.ErrorForCode(p.ErrorCode))
	}
}

// TestConfigRefused: configs the embedded broker does not implement are
// refused, in CreateTopics, AlterConfigs and IncrementalAlterConfigs, with
// INVALID_CONFIG and a message naming the config and why; at start, a
// broker config fails Start naming it. Their default values are accepted.
func TestConfigRefused(t *testing.T) {
	c := embeddedbroker.StartForTest(t, topicSpec("existing"))
	ctx := testCtx(t)
	adm := kadm.NewClient(newClient(t, c))
	refused := []struct{ name, value, why string }{
		{"preallocate", "true", "does not preallocate"},
		{"file.delete.delay.ms", "1000", "deletes segment files at once"},
	}
	check := func(what, name, why string, err error, msg string) {
		t.Helper()
		if !errors.Is(err, kerr.InvalidConfig) || !strings.Contains(msg, name) || !strings.Contains(msg, why) {
			t.Errorf("%s %s: %v %q, want INVALID_CONFIG naming it and saying %q", what, name, err, msg, why)
		}
	}
	for _, r := range refused {
		v := r.value
		resps, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{r.name: &v}, "refused")
		if err != nil {
			t.Fatal(err)
		}
		check("CreateTopics", r.name, r.why, resps["refused"].Err, resps["refused"].ErrMessage)

		ars, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: r.name, Value: &v}}, "existing")
		if err != nil {
			t.Fatal(err)
		}
		check("IncrementalAlterConfigs", r.name, r.why, ars[0].Err, ars[0].ErrMessage)

		ars, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: r.name, Value: &v}}, "existing")
		if err != nil {
			t.Fatal(err)
		}
		check("AlterConfigs", r.name, r.why, ars[0].Err, ars[0].ErrMessage)
	}
	if tds, err := adm.ListTopics(ctx); err != nil || tds.Has("refused") {
		t.Fatalf("a refused topic exists: %v", err)
	}

	// Their defaults, 0 for the delete delay, and every honoured config
	// with a non-default value are accepted.
	accepted := map[string]string{
		"preallocate": "false", "file.delete.delay.ms": "0", "delete.retention.ms": "86400000",
		"min.cleanable.dirty.ratio": "0.5", "min.compaction.lag.ms": "0", "max.compaction.lag.ms": "9223372036854775807",
		"cleanup.policy": "compact,delete", "compression.type": "zstd", "flush.messages": "10", "flush.ms": "1000",
		"index.interval.bytes": "100", "max.message.bytes": "2000000", "message.timestamp.type": "LogAppendTime",
		"message.timestamp.before.max.ms": "1000", "message.timestamp.after.max.ms": "1000", "min.insync.replicas": "1",
		"retention.bytes": "0", "retention.ms": "0", "segment.bytes": "100000", "segment.index.bytes": "4096",
		"segment.jitter.ms": "1000", "segment.ms": "60000", "unclean.leader.election.enable": "true",
	}
	cfg := map[string]*string{}
	for k, v := range accepted {
		cfg[k] = &v
	}
	for _, d := range configs.TopicDefs() {
		if _, ok := accepted[d.Name]; !ok {
			t.Errorf("topic config %s is missing from this test", d.Name)
		}
	}
	if resp, err := adm.CreateTopic(ctx, 1, 1, cfg, "accepted"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopics with every config: %v %v %s", err, resp.Err, resp.ErrMessage)
	}

	// Broker configs fail the start, naming the config.
	for _, bc := range []struct{ name, value, why string }{
		{"log.preallocate", "true", "does not preallocate"},
		{"log.segment.delete.delay.ms", "5", "deletes segment files at once"},
	} {
		c, err := embeddedbroker.Start(ctx, embeddedbroker.BrokerConfig(bc.name, bc.value))
		if err == nil {
			c.Close()
			t.Errorf("Start with %s=%s succeeded", bc.name, bc.value)
			continue
		}
		if !errors.Is(err, configs.ErrUnsupported) || !strings.Contains(err.Error(), bc.name) || !strings.Contains(err.Error(), bc.why) {
			t.Errorf("Start with %s=%s: %v", bc.name, bc.value, err)
		}
	}
}

// TestConfigDeleteTopicDisabled: with delete.topic.enable=false, DeleteTopics
// answers TOPIC_DELETION_DISABLED (INVALID_REQUEST before version 3) and
// the topic stays.
func TestConfigDeleteTopicDisabled(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.BrokerConfig("delete.topic.enable", "false"), topicSpec("keep"))
	ctx := testCtx(t)
	adm := kadm.NewClient(newClient(t, c))
	resps, err := adm.DeleteTopics(ctx, "keep")
	if err != nil {
		t.Fatal(err)
	}
	if r := resps["keep"]; !errors.Is(r.Err, kerr.TopicDeletionDisabled) || !strings.Contains(r.ErrMessage, "delete.topic.enable") {
		t.Fatalf("DeleteTopics: %v %q", r.Err, r.ErrMessage)
	}
	rc := dialRaw(t, c.Addrs()[0])
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.SetVersion(2)
	req.TopicNames = []string{"keep"}
	req.TimeoutMillis = 5000
	if code := rc.do(req).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode; code != kerr.InvalidRequest.Code {
		t.Fatalf("DeleteTopics v2: %v", kerr.ErrorForCode(code))
	}
	if tds, err := adm.ListTopics(ctx); err != nil || !tds.Has("keep") {
		t.Fatalf("topic gone: %v", err)
	}
}

// TestConfigCleanupPolicyRetention: retention.ms and retention.bytes
// remove old segments only where cleanup.policy has delete: a compacted
// topic keeps every record (all keys differ, so the cleaner keeps them), one with
// compact,delete both needs keys and loses old segments; the broker's
// log.cleanup.policy applies to topics without their own.
func TestConfigCleanupPolicyRetention(t *testing.T) {
	// Every batch gets its own segment (segment.bytes is below a batch),
	// and retention runs every 10 ms.
	c := embeddedbroker.StartForTest(t,
		embeddedbroker.BrokerConfig("log.retention.check.interval.ms", "10"),
		embeddedbroker.BrokerConfig("log.cleanup.policy", "compact"),
		topicSpec("compacted", "cleanup.policy", "compact", "retention.ms", "1", "retention.bytes", "0", "segment.bytes", "100"),
		topicSpec("from-broker", "retention.ms", "1", "segment.bytes", "100"), // compact from log.cleanup.policy
		topicSpec("both", "cleanup.policy", "compact,delete", "retention.ms", "0", "segment.bytes", "100"),
		topicSpec("deleted", "cleanup.policy", "delete", "retention.bytes", "0", "segment.bytes", "100"),
	)
	ctx := testCtx(t)
	cl := newClient(t, c, kgo.ProducerLinger(0))
	adm := kadm.NewClient(cl)
	topics := []string{"compacted", "from-broker", "both", "deleted"}
	produce := func(topic string, n int) {
		t.Helper()
		for i := range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatalf("produce to %s: %v", topic, err)
			}
		}
	}
	for _, topic := range topics {
		produce(topic, 5)
	}
	start := func(topic string) int64 {
		t.Helper()
		offs, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup(topic, 0)
		return o.Offset
	}
	// Retention removes every sealed segment of "both" and "deleted".
	waitFor(t, "retention on the delete topics", 10*time.Second, func() bool { return start("both") == 4 && start("deleted") == 4 })
	// Another round of segments and retention passes: the compacted topics
	// were visited by passes that found their segments past retention.
	produce("deleted", 3)
	waitFor(t, "a later retention pass", 10*time.Second, func() bool { return start("deleted") == 7 })
	for _, topic := range []string{"compacted", "from-broker"} {
		if s := start(topic); s != 0 {
			t.Errorf("%s: log start offset %d, want 0: a compacted topic lost records to retention", topic, s)
		}
	}
	// compact (from the topic, from the broker, or with delete) needs keys.
	for _, topic := range []string{"compacted", "from-broker", "both"} {
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("no key")}).FirstErr()
		if !errors.Is(err, kerr.InvalidRecord) {
			t.Errorf("%s: null key: %v, want INVALID_RECORD", topic, err)
		}
	}
	// IncrementalAlterConfigs APPEND adds compact to a delete topic.
	if rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, "deleted"); err != nil || rs[0].Err != nil {
		t.Fatalf("append compact: %v %v", err, rs)
	}
	waitFor(t, "keys required on deleted", 10*time.Second, func() bool {
		return errors.Is(cl.ProduceSync(ctx, &kgo.Record{Topic: "deleted", Value: []byte("no key")}).FirstErr(), kerr.InvalidRecord)
	})
}

// TestConfigSegmentIndexBytes: a segment rolls when its time or offset
// index is full (segment.index.bytes, or the broker's
// log.index.size.max.bytes), as on-disk segment files show.
func TestConfigSegmentIndexBytes(t *testing.T) {
	dir := t.TempDir()
	c := embeddedbroker.StartForTest(t, embeddedbroker.DataDir(dir),
		embeddedbroker.BrokerConfig("log.index.size.max.bytes", "24"),
		// 36 bytes: 4 offset entries, 3 time entries of which 1 is kept
		// for the roll. With an index entry per batch and increasing
		// timestamps, a segment holds three batches.
		topicSpec("idx", "segment.index.bytes", "36", "index.interval.bytes", "1"),
		// 24 bytes from the broker: 3 offset entries, and the time index
		// (2 entries, 1 kept) is full at one entry: two batches.
		topicSpec("idx-broker", "index.interval.bytes", "1"),
	)
	ctx := testCtx(t)
	cl := newClient(t, c, kgo.ProducerLinger(0))
	t0 := time.Now()
	for _, topic := range []string{"idx", "idx-broker"} {
		for i := range 10 {
			r := &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("v"), Timestamp: t0.Add(time.Duration(i) * time.Millisecond)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for topic, want := range map[string]int{"idx": 4, "idx-broker": 5} {
		logs, err := filepath.Glob(filepath.Join(dir, "node-0", topic+"-0", "*.log"))
		if err != nil {
			t.Fatal(err)
		}
		if len(logs) != want {
			t.Errorf("%s: %d segments %v, want %d", topic, len(logs), logs, want)
		}
	}
}

// TestConfigFlushMessages: flush.messages fsyncs once that many records
// are unsynced, so a killed node keeps them; without it (and without
// flush.ms), a crash loses the unsynced tail, as in Kafka.
func TestConfigFlushMessages(t *testing.T) {
	c := embeddedbroker.StartForTest(t,
		topicSpec("flush2", "flush.messages", "2"),
		topicSpec("flush1", "flush.messages", "1"),
		topicSpec("noflush"),
	)
	ctx := testCtx(t)
	cl := newClient(t, c, kgo.ProducerLinger(0))
	for _, topic := range []string{"flush2", "flush1", "noflush"} {
		for range 5 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	cl.Close()
	if err := c.KillNode(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartNode(ctx, 0); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(newClient(t, c))
	want := map[string]int64{"flush2": 4, "flush1": 5, "noflush": 0}
	waitFor(t, "end offsets after the restart", 10*time.Second, func() bool {
		ends, err := adm.ListEndOffsets(ctx, "flush2", "flush1", "noflush")
		if err != nil {
			return false
		}
		for topic, w := range want {
			o, ok := ends.Lookup(topic, 0)
			if !ok || o.Err != nil || o.Offset != w {
				return false
			}
		}
		return true
	})
}

// TestConfigFetchMaxBytes: the broker's fetch.max.bytes caps a fetch
// response whatever the request asks, still returning at least one batch.
func TestConfigFetchMaxBytes(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.BrokerConfig("fetch.max.bytes", "1024"), topicSpec("fmb"))
	ctx := testCtx(t)
	cl := newClient(t, c, kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "fmb", Value: bytes.Repeat([]byte("x"), 600)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	rc := dialRaw(t, c.Addrs()[0])
	if bs := rawFetch(t, rc, "fmb", 1<<20); len(bs) != 1 {
		t.Fatalf("%d batches of about 700 bytes with fetch.max.bytes=1024, want 1", len(bs))
	}
	// A consumer still reads everything.
	cons := newClient(t, c, kgo.ConsumeTopics("fmb"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for n := 0; n < 5; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}
}

// TestConfigDeleteRecordsNeedsDeletePolicy: DeleteRecords on a topic whose
// cleanup.policy lacks delete is refused with POLICY_VIOLATION, as Kafka
// refuses it, and allowed with compact,delete.
func TestConfigDeleteRecordsNeedsDeletePolicy(t *testing.T) {
	c := embeddedbroker.StartForTest(t,
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "compacted", Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"}}),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: "both", Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact,delete"}}))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, topic := range []string{"compacted", "both"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("v")}, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("w")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	res, err := adm.DeleteRecords(ctx, kadm.OffsetsFromRecords(kgo.Record{Topic: "compacted", Offset: 0}, kgo.Record{Topic: "both", Offset: 0}))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := res.Lookup("compacted", 0); !errors.Is(r.Err, kerr.PolicyViolation) {
		t.Fatalf("compacted: %v", r.Err)
	}
	if r, _ := res.Lookup("both", 0); r.Err != nil || r.LowWatermark != 1 {
		t.Fatalf("compact,delete: low watermark %d, %v", r.LowWatermark, r.Err)
	}
}
