package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// kafkagoCodecs maps codec names to kafka-go's.
var kafkagoCodecs = map[string]kafka.Compression{
	"none":   0,
	"gzip":   kafka.Gzip,
	"snappy": kafka.Snappy,
	"lz4":    kafka.Lz4,
	"zstd":   kafka.Zstd,
}

// kafkagoTransport is a transport of the test's own, so that no connection
// or metadata is shared through kafka.DefaultTransport.
func kafkagoTransport(t *testing.T) *kafka.Transport {
	tr := &kafka.Transport{ClientID: "kafkaboot-interop", MetadataTTL: time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// kafkagoCreate creates a topic of numPartitions with kafka-go's
// Client.CreateTopics.
func kafkagoCreate(t *testing.T, ctx context.Context, addrs []string, topic string) {
	t.Helper()
	cl := &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 10 * time.Second, Transport: kafkagoTransport(t)}
	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: numPartitions, ReplicationFactor: replicationFactor}},
	})
	if err != nil {
		t.Fatalf("kafka-go CreateTopics: %v", err)
	}
	if err := resp.Errors[topic]; err != nil {
		t.Fatalf("kafka-go CreateTopics %s: %v", topic, err)
	}
	// Asking again must say the topic exists.
	resp, err = cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: numPartitions, ReplicationFactor: replicationFactor}},
	})
	if err != nil {
		t.Fatalf("kafka-go CreateTopics again: %v", err)
	}
	if err := resp.Errors[topic]; !errors.Is(err, kafka.TopicAlreadyExists) {
		t.Fatalf("kafka-go CreateTopics %s again: %v, want %v", topic, err, kafka.TopicAlreadyExists)
	}
}

// kafkagoProduce produces with kafka-go's Writer, acks=all, each record to
// the partition of its part header.
func kafkagoProduce(t *testing.T, ctx context.Context, addrs []string, topic, codec string, recs []rec) {
	t.Helper()
	errs := &errorLog{}
	defer errs.check(t, "kafka-go writer")
	w := &kafka.Writer{
		Addr:         kafka.TCP(addrs...),
		Topic:        topic,
		Balancer:     kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return partitionOf(kafkagoHeaders(m.Headers)) }),
		RequiredAcks: kafka.RequireAll,
		Compression:  kafkagoCodecs[codec],
		BatchSize:    40, // several batches per partition
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  3,
		Transport:    kafkagoTransport(t),
		ErrorLogger:  errs,
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		m := kafka.Message{Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		msgs[i] = m
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("kafka-go WriteMessages: %v", err)
	}
	if st := w.Stats(); st.Errors != 0 || st.Messages != int64(len(recs)) {
		t.Fatalf("kafka-go writer: %d errors, %d messages written, want 0 and %d", st.Errors, st.Messages, len(recs))
	}
}

// errorLog collects what a client logs as errors (kafka.Logger).
type errorLog struct {
	mu   sync.Mutex
	msgs []string
}

// Printf records an error, except a read timeout of a long poll: kafka-go
// sets its socket deadline at MaxWait and asks the broker to wait only
// three quarters of it, so on a loaded machine (or under -race) the empty
// answer can come in after the deadline. The reader retries at once; the
// broker did nothing wrong.
func (l *errorLog) Printf(f string, args ...any) {
	msg := fmt.Sprintf(f, args...)
	if strings.HasSuffix(msg, "i/o timeout") {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, msg)
}

func (l *errorLog) check(t *testing.T, who string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		t.Errorf("%s logged an error: %s", who, m)
	}
}

func kafkagoHeaders(hs []kafka.Header) []hdr {
	var out []hdr
	for _, h := range hs {
		out = append(out, hdr{h.Key, h.Value})
	}
	return out
}

// kafkagoConsume reads each partition with a kafka-go Reader on that
// partition (no GroupID) from offset 0, the partitions concurrently.
func kafkagoConsume(t *testing.T, ctx context.Context, addrs []string, topic string, want map[int32]int) map[int32][]got {
	t.Helper()
	// The reader retries what fails and only logs it: a broker that makes
	// it log an error fails the test.
	errs := &errorLog{}
	defer errs.check(t, "kafka-go reader")
	return eachPartition(t, want, func(p int32, n int) ([]got, error) {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:         addrs,
			Topic:           topic,
			Partition:       int(p),
			MinBytes:        1,
			MaxBytes:        4 << 20,
			MaxWait:         250 * time.Millisecond,
			ReadLagInterval: -1,
			ErrorLogger:     errs,
		})
		defer r.Close()
		if err := r.SetOffset(0); err != nil {
			return nil, fmt.Errorf("SetOffset: %w", err)
		}
		var out []got
		for len(out) < n {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				return out, fmt.Errorf("ReadMessage: %w; have %d/%d records", err, len(out), n)
			}
			out = append(out, got{rec: rec{Partition: int32(m.Partition), Key: m.Key, Value: m.Value, Headers: kafkagoHeaders(m.Headers)}, Offset: m.Offset})
		}
		// ReadLag asks the broker for the partition's end offset.
		if lag, err := r.ReadLag(ctx); err != nil || lag != 0 {
			return out, fmt.Errorf("ReadLag after %d records: %d, %v; want 0", n, lag, err)
		}
		return out, nil
	})
}

// TestKafkagoInterop: kafka-go creates topics with Client.CreateTopics,
// produces with every codec and reads back by partition.
func TestKafkagoInterop(t *testing.T) {
	c := startCluster(t)
	for _, codec := range codecs {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			topic := "kafkago-" + codec
			kafkagoCreate(t, ctx, c.Addrs(), topic)
			roundTrip(t, ctx, c.Addrs(), topic, codec, makeRecords(topic, numRecords, false), kafkagoProduce, kafkagoConsume)
		})
	}
}

// TestKafkagoConn uses kafka-go's low-level Conn, the path tools built on
// it use: CreateTopics on the controller, ReadPartitions, and ReadBatch on
// each partition's leader.
func TestKafkagoConn(t *testing.T) {
	c := startCluster(t)
	ctx := testCtx(t)
	const topic = "kafkago-conn"
	conn, err := kafka.DialContext(ctx, "tcp", c.Addrs()[1])
	if err != nil {
		t.Fatalf("kafka-go Dial: %v", err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		t.Fatalf("kafka-go Controller: %v", err)
	}
	cconn, err := kafka.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatalf("kafka-go Dial controller: %v", err)
	}
	defer cconn.Close()
	if err := cconn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: numPartitions, ReplicationFactor: replicationFactor,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "3600000"}}}); err != nil {
		t.Fatalf("kafka-go Conn.CreateTopics: %v", err)
	}
	// Conn.CreateTopics is idempotent: it drops TOPIC_ALREADY_EXISTS.
	if err := cconn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: numPartitions, ReplicationFactor: replicationFactor}); err != nil {
		t.Fatalf("kafka-go Conn.CreateTopics again: %v", err)
	}
	if err := cconn.CreateTopics(kafka.TopicConfig{Topic: "rf4", NumPartitions: 1, ReplicationFactor: 4}); !errors.Is(err, kafka.InvalidReplicationFactor) {
		t.Fatalf("kafka-go Conn.CreateTopics with replication factor 4 on 3 nodes: %v, want %v", err, kafka.InvalidReplicationFactor)
	}
	parts, err := conn.ReadPartitions(topic)
	if err != nil || len(parts) != numPartitions {
		t.Fatalf("kafka-go ReadPartitions: %v, %+v", err, parts)
	}
	recs := makeRecords(topic, numRecords, false)
	kafkagoProduce(t, ctx, c.Addrs(), topic, "lz4", recs)
	want := counts(recs)
	out := map[int32][]got{}
	for p, n := range want {
		conn, err := kafka.DialLeader(ctx, "tcp", c.Addrs()[0], topic, int(p))
		if err != nil {
			t.Fatalf("kafka-go DialLeader %d: %v", p, err)
		}
		if _, err := conn.Seek(0, kafka.SeekAbsolute); err != nil {
			t.Fatalf("kafka-go Seek: %v", err)
		}
		for len(out[p]) < n {
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			b := conn.ReadBatch(1, 4<<20)
			for {
				m, err := b.ReadMessage()
				if err != nil {
					break
				}
				out[p] = append(out[p], got{rec: rec{Partition: p, Key: m.Key, Value: m.Value, Headers: kafkagoHeaders(m.Headers)}, Offset: m.Offset})
			}
			if err := b.Close(); err != nil {
				t.Fatalf("kafka-go batch partition %d: %v", p, err)
			}
			if hwm := b.HighWaterMark(); hwm != int64(n) {
				t.Errorf("kafka-go batch partition %d: high watermark %d, want %d", p, hwm, n)
			}
		}
		first, last, err := conn.ReadOffsets()
		if err != nil || first != 0 || last != int64(n) {
			t.Errorf("kafka-go ReadOffsets partition %d: [%d, %d) %v, want [0, %d)", p, first, last, err, n)
		}
		conn.Close()
	}
	verify(t, recs, out)
}
