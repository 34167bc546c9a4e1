package container

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// env is a broker plus a producer/admin client for one test.
type env struct {
	t     testing.TB
	addrs []string
	cl    *kgo.Client // producer (records go to Record.Partition; DLT-aware)
	adm   *kadm.Client
}

func newEnv(t testing.TB, topics map[string]int32) *env {
	t.Helper()
	addrs := startBroker(t, topics)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...),
		kgo.RecordPartitioner(DeadLetterPartitioner(kgo.ManualPartitioner())),
		kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &env{t: t, addrs: addrs, cl: cl, adm: kadm.NewClient(cl)}
}

func testLogger() *slog.Logger {
	if os.Getenv("KB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// clientOpts are fast-reacting consumer options for tests.
func (e *env) clientOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(e.addrs...),
		kgo.FetchMaxWait(50 * time.Millisecond),
		kgo.HeartbeatInterval(50 * time.Millisecond),
		kgo.SessionTimeout(6 * time.Second),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
}

func (e *env) opts(extra ...Option) []Option {
	return append([]Option{
		WithClientOpts(e.clientOpts()...),
		WithPublisher(e.cl),
		WithLogger(testLogger()),
	}, extra...)
}

// start creates and starts a container; it is stopped at cleanup.
func (e *env) start(ep *listener.Endpoint, opts ...Option) *Container {
	e.t.Helper()
	c, err := New(ep, e.opts(opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	return c
}

func stop(t testing.TB, c *Container) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func (e *env) produce(rs ...*kgo.Record) {
	e.t.Helper()
	if err := e.cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		e.t.Fatalf("produce: %v", err)
	}
}

// produceValues produces values to topic/partition in order.
func (e *env) produceValues(topic string, partition int32, values ...string) {
	e.t.Helper()
	rs := make([]*kgo.Record, len(values))
	for i, v := range values {
		rs[i] = &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v)}
	}
	e.produce(rs...)
}

func jsonValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// committed returns the group's committed offsets.
func (e *env) committed(group string) map[string]map[int32]int64 {
	e.t.Helper()
	resps, err := e.adm.FetchOffsets(context.Background(), group)
	if err != nil {
		e.t.Fatalf("fetch offsets: %v", err)
	}
	out := map[string]map[int32]int64{}
	resps.Each(func(r kadm.OffsetResponse) {
		if r.Err != nil {
			e.t.Fatalf("fetch offsets %s[%d]: %v", r.Topic, r.Partition, r.Err)
		}
		if out[r.Topic] == nil {
			out[r.Topic] = map[int32]int64{}
		}
		out[r.Topic][r.Partition] = r.At
	})
	return out
}

// readAll reads n records of topic from the start (all partitions).
func (e *env) readAll(topic string, n int) []*kgo.Record {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("read %s: got %d of %d records", topic, len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	if !waitUntil(d, cond) {
		t.Fatalf("timeout waiting for "+format, args...)
	}
}

// waitUntil polls cond until it holds (true) or d passes (false).
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// seen collects handled items concurrently.
type seen[T any] struct {
	mu    sync.Mutex
	items []T
}

func (s *seen[T]) add(v T) {
	s.mu.Lock()
	s.items = append(s.items, v)
	s.mu.Unlock()
}

func (s *seen[T]) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

func (s *seen[T]) all() []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]T(nil), s.items...)
}

// commits records commit events in order.
type commits struct {
	mu     sync.Mutex
	events []CommitEvent
}

func (c *commits) listener() Option {
	return WithCommitListener(func(ev CommitEvent) {
		c.mu.Lock()
		c.events = append(c.events, ev)
		c.mu.Unlock()
	})
}

// offsets returns the successfully committed offsets of topic/partition in
// commit order.
func (c *commits) offsets(topic string, partition int32) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int64
	for _, ev := range c.events {
		if o, ok := ev.Offsets[topic][partition]; ok {
			out = append(out, o)
		}
	}
	return out
}

type Order struct {
	ID     string `json:"id" validate:"required"`
	Amount int    `json:"amount" validate:"gte=0"`
}

func ep(id string, handler any, mod ...func(*listener.Endpoint)) *listener.Endpoint {
	e := &listener.Endpoint{ID: id, Topics: []string{id}, Handler: handler}
	for _, f := range mod {
		f(e)
	}
	return e
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
