// Package kafkatest is kafkaboot's test kit, the counterpart of Spring's
// @EmbeddedKafka and KafkaTestUtils: an embedded Kafka cluster for one
// test, the configuration that points at it, the application started on
// it, and the helpers a test of a Kafka service needs.
//
// A test starts a cluster and the application under test:
//
//	func TestBilling(t *testing.T) {
//		kit := kafkatest.New(t, kafkatest.Topic("orders", 3))
//		app := kit.Start(
//			fx.Provide(NewBilling),
//			kafkaboot.Listen("topics=orders,group=billing", func(b *Billing) listener.Func[Order] { return b.OnOrder }),
//		)
//		app.WaitAssigned("billing")
//
// then sends what the service consumes and reads what it produces,
// decoded as it would be:
//
//	kit.Send("orders", Order{ID: "o-1", Qty: 2}, template.Key("o-1"))
//	invoices := kafkatest.Consume[Invoice](kit, "invoices", 1)
//
// Records the service could not handle are in its dead-letter topic, with
// the reason:
//
//	dl := kit.ExpectDLT("orders.DLT", 1)[0]
//	// dl.OriginalTopic == "orders", dl.ExceptionMessage says why
//
// and a broker failover is two lines:
//
//	node := kit.KillLeader("orders", 0)  // the partition has a new leader when this returns
//	kit.Restart(node)
//
// Conditions of the service itself are waited for with Eventually, which
// says what it saw when the deadline passes:
//
//	kit.Eventually("5 orders billed", func() error {
//		if n := billing.Count(); n != 5 {
//			return fmt.Errorf("%d billed", n)
//		}
//		return nil
//	})
//
// What the service reports is read back from in-memory OpenTelemetry
// providers (Telemetry), its readiness from App.Health, and services that
// share schemas get the embedded schema registry with the SchemaRegistry
// option (kafka.schema-registry.url points at it).
//
// Everything the kit starts is stopped when the test ends. Failures are
// reported with t.Fatal, naming what was waited for and what was seen;
// every wait has a deadline (30 s, or WithTimeout).
package kafkatest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/serde"
	"github.com/kafkaboot/kafkaboot/template"
)

// Kit is an embedded cluster for one test, with a client to send and read
// records and the configuration of applications that use it.
type Kit struct {
	t       testing.TB
	cluster *embeddedbroker.Cluster
	values  map[string]any
	timeout time.Duration
	cl      *kgo.Client
	adm     *kadm.Client
	tmpl    *template.Template
}

type settings struct {
	nodes    int
	topics   []embeddedbroker.TopicSpec
	values   map[string]any
	broker   []embeddedbroker.Option
	timeout  time.Duration
	registry bool
}

// Option configures New.
type Option func(*settings)

// Nodes sets the number of broker nodes (default 1; 3 to test failovers).
// Topics, those given to Topic and those created later without a
// replication factor, are replicated to min(nodes, 3) nodes.
func Nodes(n int) Option { return func(s *settings) { s.nodes = n } }

// Topic creates a topic with the given partitions before the test runs.
func Topic(name string, partitions int32) Option {
	return func(s *settings) {
		s.topics = append(s.topics, embeddedbroker.TopicSpec{Name: name, Partitions: partitions})
	}
}

// Set sets a configuration key of the applications started on the kit,
// for example Set("kafka.listener.ack-mode", "record"), or an application
// key their placeholders read.
func Set(key string, value any) Option { return func(s *settings) { s.values[key] = value } }

// BrokerOptions passes options to the embedded cluster (broker configs,
// a data directory, security).
func BrokerOptions(opts ...embeddedbroker.Option) Option {
	return func(s *settings) { s.broker = append(s.broker, opts...) }
}

// SchemaRegistry serves the embedded schema registry (Confluent's REST
// API, schemas in the cluster's _schemas topic) on a free port, and points
// kafka.schema-registry.url of the applications at it; Cluster's
// SchemaRegistryURL says where.
func SchemaRegistry() Option { return func(s *settings) { s.registry = true } }

// WithTimeout bounds every wait of the kit (default 30 s).
func WithTimeout(d time.Duration) Option { return func(s *settings) { s.timeout = d } }

// New starts an embedded cluster for t, closed when t ends, and a client
// of its own. Applications started with Start read the configuration that
// points at the cluster: kafka.bootstrap-servers, consumers that start
// from the earliest offset, the keys given with Set, and nothing from the
// environment.
func New(t testing.TB, opts ...Option) *Kit {
	t.Helper()
	s := settings{nodes: 1, values: map[string]any{}, timeout: 30 * time.Second}
	for _, o := range opts {
		o(&s)
	}
	rf := min(s.nodes, 3)
	bopts := []embeddedbroker.Option{embeddedbroker.Nodes(s.nodes),
		embeddedbroker.BrokerConfig("default.replication.factor", fmt.Sprint(rf))}
	for _, tp := range s.topics {
		tp.ReplicationFactor = int16(rf)
		bopts = append(bopts, embeddedbroker.Topic(tp))
	}
	if s.registry {
		bopts = append(bopts, embeddedbroker.SchemaRegistry("127.0.0.1:0"))
	}
	c := embeddedbroker.StartForTest(t, append(bopts, s.broker...)...)
	k := &Kit{t: t, cluster: c, timeout: s.timeout, values: map[string]any{
		"kafka.bootstrap-servers":          strings.Join(c.Addrs(), ","),
		"kafka.consumer.auto-offset-reset": "earliest",
	}}
	if s.registry {
		k.values["kafka.schema-registry.url"] = c.SchemaRegistryURL()
	}
	for key, v := range s.values {
		k.values[key] = v
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ProducerLinger(0),
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RecordPartitioner(template.Partitioner(kgo.StickyKeyPartitioner(nil))))
	if err != nil {
		t.Fatalf("kafkatest: client: %v", err)
	}
	t.Cleanup(cl.Close)
	k.cl, k.adm, k.tmpl = cl, kadm.NewClient(cl), template.New(cl)
	return k
}

// Cluster returns the embedded cluster (fault injection: KillNode,
// IsolateNode, ...).
func (k *Kit) Cluster() *embeddedbroker.Cluster { return k.cluster }

// Addrs returns the brokers' addresses.
func (k *Kit) Addrs() []string { return k.cluster.Addrs() }

// Client returns the kit's franz-go client (producing and admin).
func (k *Kit) Client() *kgo.Client { return k.cl }

// Admin returns a kadm client on the kit's client.
func (k *Kit) Admin() *kadm.Client { return k.adm }

// Values returns the configuration values of applications on the kit.
func (k *Kit) Values() map[string]any {
	out := make(map[string]any, len(k.values))
	for key, v := range k.values {
		out[key] = v
	}
	return out
}

// ConfigOptions is the fx option giving an application the kit's
// configuration; Start includes it.
func (k *Kit) ConfigOptions() fx.Option {
	return kafkaboot.ConfigOptions(config.WithEnviron(nil), config.WithValues(k.Values()))
}

// Config loads the kit's configuration, for code that does not use fx.
func (k *Kit) Config() *config.Config {
	k.t.Helper()
	cfg, err := config.Load(config.WithEnviron(nil), config.WithValues(k.Values()))
	if err != nil {
		k.t.Fatalf("kafkatest: config: %v", err)
	}
	return cfg
}

// App is an application started by Start.
type App struct {
	*fx.App
	kit *Kit
	// Containers are the application's listener containers.
	Containers *kafkaboot.Containers
	// Template is the application's template.
	Template *template.Template
	// Health is the application's health (Health.Check is what /readyz
	// answers).
	Health *kafkaboot.Health
}

// Start builds and starts an fx application with kafkaboot.Module, the
// kit's configuration, fx.NopLogger and opts, and stops it when the test
// ends. A failure to build or start fails the test with its cause in one
// line (kafkaboot.Cause).
func (k *Kit) Start(opts ...fx.Option) *App {
	k.t.Helper()
	a := &App{kit: k}
	all := append([]fx.Option{fx.NopLogger, kafkaboot.Module, k.ConfigOptions(), fx.Populate(&a.Containers, &a.Template, &a.Health)}, opts...)
	a.App = fx.New(all...)
	if err := a.Err(); err != nil {
		k.t.Fatalf("kafkatest: application: %v", kafkaboot.Cause(err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	if err := a.App.Start(ctx); err != nil {
		k.t.Fatalf("kafkatest: starting the application: %v", kafkaboot.Cause(err))
	}
	k.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
		defer cancel()
		if err := a.App.Stop(ctx); err != nil {
			k.t.Errorf("kafkatest: stopping the application: %v", kafkaboot.Cause(err))
		}
	})
	return a
}

// Container returns the container of a listener, failing the test if
// there is none.
func (a *App) Container(listenerID string) *container.Container {
	a.kit.t.Helper()
	c := a.Containers.Registry.Container(listenerID)
	if c == nil {
		var ids []string
		for _, c := range a.Containers.Registry.Containers() {
			ids = append(ids, c.ID())
		}
		a.kit.t.Fatalf("kafkatest: no listener %q (listeners: %s)", listenerID, strings.Join(ids, ", "))
	}
	return c
}

// WaitAssigned waits until the listener's container owns partitions (its
// group has assigned them), so that records sent next are consumed by it.
// It returns the assignment.
func (a *App) WaitAssigned(listenerID string) map[string][]int32 {
	a.kit.t.Helper()
	c := a.Container(listenerID)
	var got map[string][]int32
	a.kit.waitFor(func() bool { got = c.Assignment(); return len(got) > 0 }, "listener %q assigned partitions", listenerID)
	return got
}

// Send sends value to topic with the kit's own template (JSON for
// structs, as the application's template does) and waits for the
// broker's acknowledgement.
func (k *Kit) Send(topic string, value any, opts ...template.SendOption) template.Result {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	res, err := k.tmpl.Send(ctx, topic, value, opts...)
	if err != nil {
		k.t.Fatalf("kafkatest: send to %q: %v", topic, err)
	}
	return res
}

// Records reads the first n records of topic from the start of every
// partition, without a consumer group, in the order they arrive
// (partition by partition), failing the test if fewer arrive in time.
// Only committed records of transactions are read.
func (k *Kit) Records(topic string, n int) []*kgo.Record {
	k.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		k.t.Fatalf("kafkatest: consumer: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			k.t.Fatalf("kafkatest: %d of %d records of %q arrived in %v", len(out), n, topic, k.timeout)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out[:n]
}

// Consume reads the first n records of topic (see Records) and decodes
// their values as T with the serde package's automatic deserializer (JSON
// for structs, UTF-8 for strings, bytes as they are), the way listeners
// decode them. A value that does not decode fails the test.
func Consume[T any](k *Kit, topic string, n int) []T {
	k.t.Helper()
	auto := serde.NewAuto()
	t := reflect.TypeFor[T]()
	out := make([]T, 0, n)
	for _, r := range k.Records(topic, n) {
		v, err := auto.Deserialize(r.Topic, r.Headers, r.Value, t)
		if err != nil {
			k.t.Fatalf("kafkatest: %s[%d]@%d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		out = append(out, v.(T))
	}
	return out
}

// DeadLetter is a record of a dead-letter topic with its decoded
// headers: where it came from and why (kafka_dlt-* headers, or the
// kafka_original-* and kafka_exception-* ones of retry topics).
type DeadLetter struct {
	container.DeadLetterInfo
	Record *kgo.Record
}

// ExpectDLT reads the first n dead letters of topic (see Records),
// failing the test if fewer arrive in time or one has no dead-letter
// headers.
func (k *Kit) ExpectDLT(topic string, n int) []DeadLetter {
	k.t.Helper()
	var out []DeadLetter
	for _, r := range k.Records(topic, n) {
		info, ok := container.ParseDeadLetter(r)
		if !ok {
			k.t.Fatalf("kafkatest: %s[%d]@%d is not a dead letter (no original-topic header)", r.Topic, r.Partition, r.Offset)
		}
		out = append(out, DeadLetter{DeadLetterInfo: info, Record: r})
	}
	return out
}

// Leader returns the node leading a partition, failing the test when
// there is none.
func (k *Kit) Leader(topic string, partition int32) int32 {
	k.t.Helper()
	var id int32
	k.waitFor(func() bool { id = k.cluster.Leader(topic, partition); return id >= 0 }, "a leader of %s[%d]", topic, partition)
	return id
}

// KillLeader kills the node leading topic's partition, as a crash, and
// returns once another node leads it (the controller notices the crash
// after broker.session.timeout.ms). It returns the killed node, for
// Restart.
func (k *Kit) KillLeader(topic string, partition int32) int32 {
	k.t.Helper()
	old := k.Leader(topic, partition)
	if err := k.cluster.KillNode(context.Background(), old); err != nil {
		k.t.Fatalf("kafkatest: killing node %d: %v", old, err)
	}
	k.waitFor(func() bool {
		l := k.cluster.Leader(topic, partition)
		return l >= 0 && l != old
	}, "a new leader of %s[%d] after node %d was killed", topic, partition, old)
	return old
}

// Restart starts a killed or stopped node again and waits until it is
// back in the in-sync replicas of every partition it holds a replica of
// (topics given to New).
func (k *Kit) Restart(node int32) {
	k.t.Helper()
	if err := k.cluster.RestartNode(context.Background(), node); err != nil {
		k.t.Fatalf("kafkatest: restarting node %d: %v", node, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	tds, err := k.adm.ListTopics(ctx)
	if err != nil {
		k.t.Fatalf("kafkatest: listing topics: %v", err)
	}
	for _, td := range tds.Sorted() {
		for _, p := range td.Partitions.Sorted() {
			if !slices.Contains(p.Replicas, node) {
				continue
			}
			k.waitFor(func() bool { return slices.Contains(k.cluster.ISR(td.Topic, p.Partition), node) },
				"node %d back in the ISR of %s[%d]", node, td.Topic, p.Partition)
		}
	}
}

// Eventually polls cond until it returns nil, failing the test after the
// kit's timeout with what and cond's last error (what it saw instead):
//
//	kit.Eventually("5 orders billed", func() error {
//		if n := billing.Count(); n != 5 {
//			return fmt.Errorf("%d billed", n)
//		}
//		return nil
//	})
func (k *Kit) Eventually(what string, cond func() error) {
	k.t.Helper()
	deadline := time.Now().Add(k.timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("kafkatest: waited %v for %s: %v", k.timeout, what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or the kit's timeout passes.
func (k *Kit) waitFor(cond func() bool, format string, args ...any) {
	k.t.Helper()
	deadline := time.Now().Add(k.timeout)
	for !cond() {
		if time.Now().After(deadline) {
			k.t.Fatalf("kafkatest: waited %v for %s", k.timeout, fmt.Sprintf(format, args...))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
