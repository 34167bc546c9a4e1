package integration

// End-to-end tests of the kafkaboot framework: fx applications built with
// kafkaboot.Module (configuration, template, admin, listener containers)
// against a 3-node embedded cluster. This file holds what the
// framework_*_test.go files share; every name here starts with fw so that
// it does not collide with the interop and group tests of this package.

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/template"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fwTimeout bounds one framework test; each is expected to take a few
// seconds.
const fwTimeout = 45 * time.Second

// fwCluster starts a 3-node embedded cluster with topics created at start.
func fwCluster(t *testing.T, topics ...embeddedbroker.TopicSpec) *embeddedbroker.Cluster {
	t.Helper()
	opts := []embeddedbroker.Option{embeddedbroker.Nodes(3)}
	for _, s := range topics {
		opts = append(opts, embeddedbroker.Topic(s))
	}
	return embeddedbroker.StartForTest(t, opts...)
}

// fwTopics returns topic specs of the given partition count.
func fwTopics(partitions int32, names ...string) []embeddedbroker.TopicSpec {
	out := make([]embeddedbroker.TopicSpec, len(names))
	for i, n := range names {
		out[i] = embeddedbroker.TopicSpec{Name: n, Partitions: partitions}
	}
	return out
}

// fwCtx is the context of one framework test.
func fwCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), fwTimeout)
	t.Cleanup(cancel)
	return ctx
}

// fwValues are the configuration values every framework app uses, plus
// extra: fast group protocol timings so that joins, leaves and rebalances
// take milliseconds, and consumption from the start of topics.
func fwValues(addrs []string, extra map[string]any) map[string]any {
	v := map[string]any{
		"kafka.bootstrap-servers":           strings.Join(addrs, ","),
		"kafka.consumer.auto-offset-reset":  "earliest",
		"kafka.consumer.heartbeat-interval": "100ms",
		"kafka.consumer.session-timeout":    "6s",
		"kafka.consumer.rebalance-timeout":  "10s",
		"kafka.consumer.fetch-max-wait":     "100ms",
	}
	maps.Copy(v, extra)
	return v
}

// fwLogger is the logger of framework apps: discarded, unless FW_LOG is
// set (then text to stderr), because dead-letter tests log warnings by
// design.
func fwLogger() *slog.Logger {
	if os.Getenv("FW_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// fwApp is a started kafkaboot fx application.
type fwApp struct {
	app  *fx.App
	tmpl *template.Template
	once sync.Once
	err  error
}

// fwNewApp builds (without starting) an app from kafkaboot.Module, the
// values (config.WithEnviron(nil): no process environment) and opts.
func fwNewApp(values map[string]any, opts ...fx.Option) (*fwApp, *fx.App) {
	a := &fwApp{}
	all := append([]fx.Option{
		fx.NopLogger,
		kafkaboot.Module,
		kafkaboot.ConfigOptions(config.WithEnviron(nil), config.WithValues(values)),
		fx.Supply(fwLogger()),
		fx.Populate(&a.tmpl),
	}, opts...)
	a.app = fx.New(all...)
	return a, a.app
}

// fwStartApp builds and starts an app; it is stopped when the test ends
// (if the test did not stop it).
func fwStartApp(t *testing.T, ctx context.Context, values map[string]any, opts ...fx.Option) *fwApp {
	t.Helper()
	a, app := fwNewApp(values, opts...)
	if err := app.Err(); err != nil {
		t.Fatalf("building the app: %v", err)
	}
	if err := app.Start(ctx); err != nil {
		t.Fatalf("starting the app: %v", err)
	}
	t.Cleanup(func() {
		if err := a.stop(context.Background()); err != nil {
			t.Errorf("stopping the app: %v", err)
		}
	})
	return a
}

// stop stops the app once; later calls return the first result.
func (a *fwApp) stop(ctx context.Context) error {
	a.once.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		a.err = a.app.Stop(ctx)
	})
	return a.err
}

// fwAdmin returns an admin client of the cluster, closed at the end of the
// test.
func fwAdmin(t *testing.T, addrs []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// fwCommitted returns the committed offsets of group for topic by
// partition (partitions without a commit are absent).
func fwCommitted(ctx context.Context, adm *kadm.Client, group, topic string) (map[int32]int64, error) {
	resps, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, err
	}
	if err := resps.Error(); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for p, r := range resps[topic] {
		if r.At >= 0 {
			out[p] = r.At
		}
	}
	return out, nil
}

// fwMustCommitted is fwCommitted failing the test on error.
func fwMustCommitted(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	c, err := fwCommitted(ctx, adm, group, topic)
	if err != nil {
		t.Fatalf("fetching offsets of group %s: %v", group, err)
	}
	return c
}

// fwEnds returns the end offsets of topic by partition.
func fwEnds(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("ListEndOffsets %s: %v", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s[%d]: %v", topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out
}

// fwNonEmpty drops partitions at offset 0 (nothing to commit) from ends.
func fwNonEmpty(ends map[int32]int64) map[int32]int64 {
	out := map[int32]int64{}
	for p, o := range ends {
		if o > 0 {
			out[p] = o
		}
	}
	return out
}

// fwWait polls cond every 10ms until it holds, failing the test with the
// last detail when ctx ends.
func fwWait(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, detail := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; last: %s", what, ctx.Err(), detail)
		case <-tick.C:
		}
	}
}

// fwWaitCommitted waits until the committed offsets of group for topic
// are exactly want.
func fwWaitCommitted(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string, want map[int32]int64) {
	t.Helper()
	fwWait(t, ctx, fmt.Sprintf("group %s to commit %v on %s", group, want, topic), func() (bool, string) {
		got, err := fwCommitted(ctx, adm, group, topic)
		if err != nil {
			return false, err.Error()
		}
		return maps.Equal(got, want), fmt.Sprintf("committed %v", got)
	})
}

// fwConsume reads n records of topic from the start with a plain franz-go
// consumer, failing the test if there are fewer before ctx ends, or more
// in the fetches that brought the first n.
func fwConsume(t *testing.T, ctx context.Context, addrs []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: got %d of %d records: %v", topic, len(out), n, ctx.Err())
		}
		fs.EachError(func(t2 string, p int32, err error) { t.Logf("fetch %s[%d]: %v", t2, p, err) })
		out = append(out, fs.Records()...)
	}
	if len(out) > n {
		t.Fatalf("%s holds %d records, want %d", topic, len(out), n)
	}
	return out
}

// fwProduceRaw produces records as they are (no serialization) to their
// Partition with a plain franz-go client.
func fwProduceRaw(t *testing.T, ctx context.Context, addrs []string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

// fwHeaders copies headers, dropping the serializer's type header, so that
// they can be compared with what a test sent.
func fwHeaders(hs []kgo.RecordHeader) []kgo.RecordHeader {
	var out []kgo.RecordHeader
	for _, h := range hs {
		if h.Key == "__TypeId__" {
			continue
		}
		out = append(out, kgo.RecordHeader{Key: h.Key, Value: slices.Clone(h.Value)})
	}
	return out
}

// fwHeadersEqual compares headers by key and value, in order.
func fwHeadersEqual(a, b []kgo.RecordHeader) bool {
	return slices.EqualFunc(a, b, func(x, y kgo.RecordHeader) bool {
		return x.Key == y.Key && string(x.Value) == string(y.Value)
	})
}

// fwPO is a partition and offset.
type fwPO struct {
	P int32
	O int64
}

// fwLedger counts the deliveries of records by partition and offset, from
// any number of handlers and apps.
type fwLedger struct {
	mu    sync.Mutex
	seen  map[fwPO]int
	total int
}

func newFwLedger() *fwLedger { return &fwLedger{seen: map[fwPO]int{}} }

func (l *fwLedger) add(p int32, o int64) {
	l.mu.Lock()
	l.seen[fwPO{p, o}]++
	l.total++
	l.mu.Unlock()
}

// covers reports whether every offset below ends was delivered at least
// once, with a description of the first gap.
func (l *fwLedger) covers(ends map[int32]int64) (bool, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	missing := 0
	first := ""
	for p, end := range ends {
		for o := range end {
			if l.seen[fwPO{p, o}] == 0 {
				if missing == 0 {
					first = fmt.Sprintf("%d[%d]", p, o)
				}
				missing++
			}
		}
	}
	if missing > 0 {
		return false, fmt.Sprintf("%d records not processed (first partition %s), %d deliveries", missing, first, l.total)
	}
	return true, ""
}

// dups returns how many records were delivered more than once, and the
// number of extra deliveries.
func (l *fwLedger) dups() (records, extra int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.seen {
		if n > 1 {
			records++
			extra += n - 1
		}
	}
	return records, extra
}

// fwProducer produces fwSeq values to a topic through a plain franz-go
// client until halted: batches of 10 every 2ms (about 5000 records a
// second), at most fwMaxProduced records.
type fwProducer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	n      int
	err    error
}

// fwSeq is the payload of load tests.
type fwSeq struct {
	N int `json:"n"`
}

// fwMaxProduced bounds the records of one fwProducer, in case a test
// never halts it.
const fwMaxProduced = 30000

// fwStartProducer starts producing to topic.
func fwStartProducer(t *testing.T, ctx context.Context, addrs []string, topic string) *fwProducer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &fwProducer{cl: cl, cancel: cancel, done: make(chan struct{})}
	go p.run(ctx, topic, fwMaxProduced)
	t.Cleanup(func() { p.halt(t) })
	return p
}

func (p *fwProducer) run(ctx context.Context, topic string, max int) {
	defer close(p.done)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < max; {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var rs []*kgo.Record
		for j := 0; j < 10 && i < max; j++ {
			rs = append(rs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, `{"n":%d}`, i)})
			i++
		}
		err := p.cl.ProduceSync(ctx, rs...).FirstErr()
		p.mu.Lock()
		if err != nil && ctx.Err() == nil {
			p.err = err
		}
		if err == nil {
			p.n += len(rs)
		}
		p.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// produced returns the number of records acknowledged so far.
func (p *fwProducer) produced() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// halt stops producing and waits for the producer; it fails the test if a
// produce failed.
func (p *fwProducer) halt(t *testing.T) {
	t.Helper()
	p.cancel()
	<-p.done
	p.cl.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Errorf("producer: %v", p.err)
		p.err = nil
	}
}
