package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/internal/telemetry"
)

// handlerError is a handler's error with a telling type name.
type handlerError struct{}

func (*handlerError) Error() string { return "handler failed" }

// point is one data point of any kind: Value is a sum's or gauge's value,
// or a histogram's sum; Count is a histogram's count.
type point struct {
	Attrs attribute.Set
	Value float64
	Count uint64
}

type providers struct {
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
}

func newProviders(t testing.TB) providers {
	t.Helper()
	p := providers{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	p.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(p.reader))
	p.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p.spans))
	t.Cleanup(func() {
		_ = p.mp.Shutdown(context.Background())
		_ = p.tp.Shutdown(context.Background())
	})
	return p
}

// collect returns the data points of every metric, by name.
func collect(t testing.TB, r *sdkmetric.ManualReader) map[string][]point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	out := map[string][]point{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != telemetry.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, telemetry.ScopeName)
		}
		for _, m := range sm.Metrics {
			var pts []point
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					pts = append(pts, point{Attrs: dp.Attributes, Value: float64(dp.Value)})
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					pts = append(pts, point{Attrs: dp.Attributes, Value: float64(dp.Value)})
				}
			case metricdata.Gauge[float64]:
				for _, dp := range d.DataPoints {
					pts = append(pts, point{Attrs: dp.Attributes, Value: dp.Value})
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					pts = append(pts, point{Attrs: dp.Attributes, Value: dp.Sum, Count: dp.Count})
				}
			default:
				t.Fatalf("metric %s: unexpected data %T", m.Name, m.Data)
			}
			out[m.Name] = pts
		}
	}
	return out
}

func attr(s attribute.Set, key string) string {
	v, ok := s.Value(attribute.Key(key))
	if !ok {
		return ""
	}
	return v.Emit()
}

// matches reports whether s has every key=value of want ("" means absent).
func matches(s attribute.Set, want map[string]string) bool {
	for k, v := range want {
		if attr(s, k) != v {
			return false
		}
	}
	return true
}

// total sums Value (or Count, for histograms when count is set) over the
// points matching want.
func total(pts []point, want map[string]string) (value float64, count uint64) {
	for _, p := range pts {
		if matches(p.Attrs, want) {
			value += p.Value
			count += p.Count
		}
	}
	return value, count
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func spansNamed(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

type partOffset struct {
	partition int32
	offset    int64
}

// TestProduceAndConsume sends and consumes through the embedded broker and
// checks the metrics and the trace that runs from the sender's span through
// the send spans to the process spans.
func TestProduceAndConsume(t *testing.T) {
	cluster := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(1),
		embeddedbroker.Topics(3, "orders"),
		embeddedbroker.BrokerConfig("auto.create.topics.enable", "false"))
	pv := newProviders(t)
	cfg := telemetry.Config{MeterProvider: pv.mp, TracerProvider: pv.tp}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Producer side.
	prod, err := telemetry.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !prod.MetricsEnabled() {
		t.Fatal("MetricsEnabled = false with a MeterProvider")
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Addrs()...), kgo.WithHooks(prod.Hooks()...))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()

	pctx, parent := pv.tp.Tracer("test").Start(ctx, "parent")
	recs := make([]*kgo.Record, 10)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "orders", Key: []byte("key-" + strconv.Itoa(i)), Value: []byte("value")}
	}
	// As a dead letter copied from a consumed record would, the first record
	// already carries a traceparent, in a slice shared with its original.
	stale := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	shared := []kgo.RecordHeader{{Key: "x-origin", Value: []byte("a")}, {Key: "traceparent", Value: []byte(stale)}}
	recs[0].Headers = shared
	if err := pcl.ProduceSync(pctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	parent.End()

	sendSpans := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spansNamed(pv.spans, "send orders") {
		sendSpans[s.SpanContext().SpanID()] = s
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("send span %s: parent %s/%s, want %s/%s", s.SpanContext().SpanID(),
				s.Parent().TraceID(), s.Parent().SpanID(), parent.SpanContext().TraceID(), parent.SpanContext().SpanID())
		}
		if s.SpanKind() != trace.SpanKindProducer {
			t.Errorf("send span kind %v, want producer", s.SpanKind())
		}
		if got := spanAttr(s, "messaging.system"); got != "kafka" {
			t.Errorf("send span messaging.system = %q", got)
		}
	}
	if len(sendSpans) != 10 {
		t.Fatalf("%d send spans, want 10", len(sendSpans))
	}
	sendSpanOf := map[partOffset]trace.SpanID{}
	for i, r := range recs {
		n := 0
		for _, h := range r.Headers {
			if h.Key == "traceparent" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("record %d: %d traceparent headers, want 1", i, n)
		}
		hdr := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), telemetry.HeaderCarrier{Headers: &r.Headers}))
		own := trace.SpanContextFromContext(r.Context)
		s, ok := sendSpans[hdr.SpanID()]
		if !ok || hdr.SpanID() != own.SpanID() {
			t.Errorf("record %d: traceparent span %s, record span %s: not its send span", i, hdr.SpanID(), own.SpanID())
			continue
		}
		if got, want := spanAttr(s, "messaging.kafka.offset"), strconv.FormatInt(r.Offset, 10); got != want {
			t.Errorf("record %d: send span offset %s, want %s", i, got, want)
		}
		if got, want := spanAttr(s, "messaging.destination.partition.id"), strconv.Itoa(int(r.Partition)); got != want {
			t.Errorf("record %d: send span partition %s, want %s", i, got, want)
		}
		if got, want := spanAttr(s, "messaging.kafka.message.key"), string(r.Key); got != want {
			t.Errorf("record %d: send span key %q, want %q", i, got, want)
		}
		sendSpanOf[partOffset{r.Partition, r.Offset}] = hdr.SpanID()
	}
	if string(shared[1].Value) != stale {
		t.Errorf("the shared header slice was modified: %q", shared[1].Value)
	}

	// A record to a topic that does not exist (auto-creation is off) fails
	// and counts with its error.type. A second client, instrumented by the
	// same Producer, gives up on it after a second.
	fcl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Addrs()...),
		kgo.WithHooks(prod.Hooks()...),
		kgo.RecordDeliveryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer fcl.Close()
	fctx, fcancel := context.WithTimeout(ctx, 15*time.Second)
	sendErr := fcl.ProduceSync(fctx, &kgo.Record{Topic: "missing", Value: []byte("x")}).FirstErr()
	fcancel()
	if sendErr == nil {
		t.Fatal("produce to a missing topic succeeded")
	}
	prod.SendDone("orders", time.Now().Add(-5*time.Millisecond), nil)
	prod.SendDone("missing", time.Now(), sendErr)

	m := collect(t, pv.reader)
	orders := map[string]string{"messaging.system": "kafka", "messaging.destination.name": "orders",
		"messaging.operation.name": "send", "error.type": ""}
	if v, _ := total(m["messaging.client.sent.messages"], orders); v != 10 {
		t.Errorf("sent.messages (orders) = %v, want 10; points %v", v, m["messaging.client.sent.messages"])
	}
	var wantBytes int64 // keys, values and headers, the trace context's included
	for _, r := range recs {
		wantBytes += int64(len(r.Key) + len(r.Value))
		for _, h := range r.Headers {
			wantBytes += int64(len(h.Key) + len(h.Value))
		}
	}
	if v, _ := total(m["kafkaboot.client.sent.bytes"], orders); v != float64(wantBytes) {
		t.Errorf("sent.bytes (orders) = %v, want %d", v, wantBytes)
	}
	wantType := telemetry.ErrorType(sendErr)
	t.Logf("send to a missing topic: %v (error.type %s)", sendErr, wantType)
	failed := map[string]string{"messaging.destination.name": "missing", "error.type": wantType}
	if wantType == "" || wantType == telemetry.ErrorTypeOther {
		t.Errorf("error.type of %v = %q", sendErr, wantType)
	}
	if v, _ := total(m["messaging.client.sent.messages"], failed); v != 1 {
		t.Errorf("sent.messages (missing, error.type %s) = %v, want 1; points %v", wantType, v, m["messaging.client.sent.messages"])
	}
	if _, n := total(m["messaging.client.operation.duration"], orders); n != 1 {
		t.Errorf("operation.duration count (orders) = %d, want 1", n)
	}
	if _, n := total(m["messaging.client.operation.duration"], failed); n != 1 {
		t.Errorf("operation.duration count (missing, error) = %d, want 1", n)
	}
	if ss := spansNamed(pv.spans, "send missing"); len(ss) != 1 || ss[0].Status().Code != codes.Error {
		t.Errorf("send span of the failed record: %d spans, want 1 with status Error", len(ss))
	}

	// Consumer side.
	cons, err := telemetry.NewConsumer(cfg, "orders-listener", "orders-group")
	if err != nil {
		t.Fatal(err)
	}
	ccl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Addrs()...),
		kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithHooks(cons.Hooks()...))
	if err != nil {
		t.Fatal(err)
	}
	defer ccl.Close()
	var fetched []*kgo.Record
	for len(fetched) < 10 {
		fs := ccl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("fetched %d of 10 records before the deadline", len(fetched))
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fetched = append(fetched, fs.Records()...)
	}

	handlerErr := fmt.Errorf("order 0: %w", &handlerError{})
	for i, r := range fetched {
		hctx, p := cons.Process(ctx, r, 1)
		if !trace.SpanFromContext(hctx).IsRecording() {
			t.Fatalf("record %d: handler context without a recording span", i)
		}
		if hctx.Done() != ctx.Done() {
			t.Errorf("record %d: handler context not derived from ctx", i)
		}
		var err error
		if i == 0 {
			err = handlerErr
		}
		p.End(err)
	}
	procSpans := spansNamed(pv.spans, "process orders")
	if len(procSpans) != 10 {
		t.Fatalf("%d process spans, want 10", len(procSpans))
	}
	for _, s := range procSpans {
		po := partOffset{}
		p, _ := strconv.Atoi(spanAttr(s, "messaging.destination.partition.id"))
		po.partition = int32(p)
		po.offset, _ = strconv.ParseInt(spanAttr(s, "messaging.kafka.offset"), 10, 64)
		want, ok := sendSpanOf[po]
		if !ok {
			t.Errorf("process span for %v: no record sent there", po)
			continue
		}
		if s.Parent().SpanID() != want || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("process span for %v: parent %s in trace %s, want send span %s in trace %s",
				po, s.Parent().SpanID(), s.SpanContext().TraceID(), want, parent.SpanContext().TraceID())
		}
		if s.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("process span kind %v, want consumer", s.SpanKind())
		}
		for k, v := range map[string]string{"kafkaboot.attempt": "1", "messaging.consumer.group.name": "orders-group",
			"messaging.operation.type": "process", "kafkaboot.listener.id": "orders-listener"} {
			if got := spanAttr(s, k); got != v {
				t.Errorf("process span %s = %q, want %q", k, got, v)
			}
		}
		isFailed := po == partOffset{fetched[0].Partition, fetched[0].Offset}
		if got := s.Status().Code; (got == codes.Error) != isFailed {
			t.Errorf("process span for %v: status %v (failed handler: %v)", po, got, isFailed)
		}
	}

	// A batch handler call: one span, child of ctx, linking every record.
	bctx, bparent := pv.tp.Tracer("test").Start(ctx, "poll loop")
	_, bp := cons.ProcessBatch(bctx, fetched, 2)
	bp.End(nil)
	bparent.End()
	batch := spansNamed(pv.spans, "process orders")
	if len(batch) != 11 {
		t.Fatalf("%d process spans after the batch, want 11", len(batch))
	}
	b := batch[10]
	if b.Parent().SpanID() != bparent.SpanContext().SpanID() {
		t.Errorf("batch span parent %s, want %s", b.Parent().SpanID(), bparent.SpanContext().SpanID())
	}
	if len(b.Links()) != 10 || spanAttr(b, "messaging.batch.message_count") != "10" || spanAttr(b, "kafkaboot.attempt") != "2" {
		t.Errorf("batch span: %d links, message_count %s, attempt %s; want 10, 10, 2",
			len(b.Links()), spanAttr(b, "messaging.batch.message_count"), spanAttr(b, "kafkaboot.attempt"))
	}
	for _, l := range b.Links() {
		if _, ok := sendSpans[l.SpanContext.SpanID()]; !ok {
			t.Errorf("batch span links to %s, not a send span", l.SpanContext.SpanID())
		}
	}

	cons.Records("orders", telemetry.OutcomeSuccess, 9)
	cons.Records("orders", telemetry.OutcomeDeadLettered, 1)
	cons.Retry("orders")
	cons.Rebalance(telemetry.RebalanceAssigned, 3)
	cons.Commit(nil)
	cons.Commit(kerr.RebalanceInProgress)

	m = collect(t, pv.reader)
	listener := map[string]string{"messaging.system": "kafka", "messaging.consumer.group.name": "orders-group",
		"kafkaboot.listener.id": "orders-listener"}
	with := func(kv ...string) map[string]string {
		w := map[string]string{}
		for k, v := range listener {
			w[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			w[kv[i]] = kv[i+1]
		}
		return w
	}
	if v, _ := total(m["messaging.client.consumed.messages"], with("messaging.destination.name", "orders", "messaging.operation.name", "receive")); v != 10 {
		t.Errorf("consumed.messages = %v, want 10", v)
	}
	if v, _ := total(m["kafkaboot.client.consumed.bytes"], listener); v <= 0 {
		t.Errorf("consumed.bytes = %v, want > 0", v)
	}
	dur := m["messaging.process.duration"]
	if _, n := total(dur, with("error.type", "*telemetry_test.handlerError")); n != 1 {
		t.Errorf("process.duration with error.type: count %d, want 1; points %v", n, dur)
	}
	if _, n := total(dur, with("error.type", "", "messaging.destination.name", "orders")); n != 10 {
		t.Errorf("process.duration without error: count %d, want 10 (9 records, 1 batch)", n)
	}
	checks := []struct {
		metric string
		want   map[string]string
		value  float64
	}{
		{"kafkaboot.listener.records", with("kafkaboot.outcome", "success", "messaging.destination.name", "orders"), 9},
		{"kafkaboot.listener.records", with("kafkaboot.outcome", "dead_lettered"), 1},
		{"kafkaboot.listener.retries", with("messaging.destination.name", "orders"), 1},
		{"kafkaboot.consumer.rebalances", with("kafkaboot.rebalance.type", "assigned"), 1},
		{"kafkaboot.consumer.commits", with("error.type", ""), 1},
		{"kafkaboot.consumer.commits", with("error.type", "REBALANCE_IN_PROGRESS"), 1},
	}
	for _, c := range checks {
		if v, _ := total(m[c.metric], c.want); v != c.value {
			t.Errorf("%s %v = %v, want %v", c.metric, c.want, v, c.value)
		}
	}

	// A closed Producer's counts leave the collection.
	prod.Close()
	prod.Close()
	m = collect(t, pv.reader)
	if pts := m["messaging.client.sent.messages"]; len(pts) != 0 {
		t.Errorf("sent.messages after Close: %v, want none", pts)
	}
}

func TestObserveLag(t *testing.T) {
	pv := newProviders(t)
	cons, err := telemetry.NewConsumer(telemetry.Config{MeterProvider: pv.mp}, "l1", "g1")
	if err != nil {
		t.Fatal(err)
	}
	lags := []telemetry.PartitionLag{
		{Topic: "orders", Partition: 0, Lag: 5, LagTime: 2 * time.Second},
		{Topic: "orders", Partition: 2, Lag: 7, LagTime: 1500 * time.Millisecond},
	}
	unregister, err := cons.ObserveLag(func() []telemetry.PartitionLag { return lags }, func() int { return 3 })
	if err != nil {
		t.Fatal(err)
	}
	m := collect(t, pv.reader)
	base := map[string]string{"messaging.system": "kafka", "messaging.consumer.group.name": "g1", "kafkaboot.listener.id": "l1"}
	for _, l := range lags {
		want := map[string]string{"messaging.destination.name": l.Topic, "messaging.destination.partition.id": strconv.Itoa(int(l.Partition))}
		for k, v := range base {
			want[k] = v
		}
		if v, _ := total(m["kafkaboot.consumer.lag"], want); v != float64(l.Lag) {
			t.Errorf("lag %s/%d = %v, want %d", l.Topic, l.Partition, v, l.Lag)
		}
		if v, _ := total(m["kafkaboot.consumer.lag.time"], want); v != l.LagTime.Seconds() {
			t.Errorf("lag.time %s/%d = %v, want %v", l.Topic, l.Partition, v, l.LagTime.Seconds())
		}
	}
	if pts := m["kafkaboot.consumer.paused.partitions"]; len(pts) != 1 || pts[0].Value != 3 || !matches(pts[0].Attrs, base) {
		t.Errorf("paused.partitions = %v, want one point 3 with %v", pts, base)
	}

	lags = lags[:1]
	if pts := collect(t, pv.reader)["kafkaboot.consumer.lag"]; len(pts) != 1 {
		t.Errorf("after a partition left: %d lag points, want 1", len(pts))
	}

	unregister()
	unregister()
	m = collect(t, pv.reader)
	for _, name := range []string{"kafkaboot.consumer.lag", "kafkaboot.consumer.lag.time", "kafkaboot.consumer.paused.partitions"} {
		if len(m[name]) != 0 {
			t.Errorf("%s after unregister: %v, want no points", name, m[name])
		}
	}

	off, err := telemetry.NewConsumer(telemetry.Config{}, "l1", "g1")
	if err != nil {
		t.Fatal(err)
	}
	unregister, err = off.ObserveLag(func() []telemetry.PartitionLag { t.Error("lags called with metrics off"); return nil }, nil)
	if err != nil || unregister == nil {
		t.Fatalf("disabled ObserveLag: nil func %v, err %v", unregister == nil, err)
	}
	unregister()
}

func TestDisabled(t *testing.T) {
	if (telemetry.Config{}).Enabled() {
		t.Error("zero Config enabled")
	}
	var nilProd *telemetry.Producer
	var nilCons *telemetry.Consumer
	prod, err := telemetry.NewProducer(telemetry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := telemetry.NewConsumer(telemetry.Config{}, "l", "g")
	if err != nil {
		t.Fatal(err)
	}
	r := &kgo.Record{Topic: "orders", Partition: 1, Offset: 42, Value: []byte("v")}
	ctx := context.Background()
	for _, p := range []*telemetry.Producer{nilProd, prod} {
		if p.Hooks() != nil || p.MetricsEnabled() {
			t.Error("disabled producer has hooks or metrics")
		}
		p.SendDone("orders", time.Now(), errors.New("x"))
	}
	for _, c := range []*telemetry.Consumer{nilCons, cons} {
		if c.Hooks() != nil || c.MetricsEnabled() {
			t.Error("disabled consumer has hooks or metrics")
		}
		got, p := c.Process(ctx, r, 1)
		if got != ctx {
			t.Error("disabled Process changed the context")
		}
		p.End(errors.New("x"))
		_, p = c.ProcessBatch(ctx, []*kgo.Record{r}, 1)
		p.End(nil)
		c.Records("orders", telemetry.OutcomeSuccess, 1)
		c.Retry("orders")
		c.Rebalance(telemetry.RebalanceLost, 1)
		c.Commit(nil)
		unregister, err := c.ObserveLag(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		unregister()
	}
	telemetry.Processing{}.End(nil)
}

// TestAllocs checks that the hot paths do not allocate: at all when
// disabled, and in steady state with metrics on.
func TestAllocs(t *testing.T) {
	ctx := context.Background()
	r := &kgo.Record{Topic: "orders", Partition: 1, Offset: 42, Key: []byte("k"), Value: []byte("v")}
	start := time.Now()
	handlerErr := fmt.Errorf("wrapped: %w", kerr.NotLeaderForPartition)

	check := func(name string, f func()) {
		t.Helper()
		f() // warm-up: the attribute sets of the topic
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
	process := func(c *telemetry.Consumer, err error) func() {
		return func() {
			_, p := c.Process(ctx, r, 1)
			p.End(err)
		}
	}

	var nilCons *telemetry.Consumer
	var nilProd *telemetry.Producer
	offCons, _ := telemetry.NewConsumer(telemetry.Config{}, "l", "g")
	offProd, _ := telemetry.NewProducer(telemetry.Config{})
	check("nil Consumer Process+End", process(nilCons, handlerErr))
	check("disabled Consumer Process+End", process(offCons, handlerErr))
	check("nil Producer SendDone", func() { nilProd.SendDone("orders", start, nil) })
	check("disabled Producer SendDone", func() { offProd.SendDone("orders", start, handlerErr) })

	pv := newProviders(t)
	cfg := telemetry.Config{MeterProvider: pv.mp}
	cons, err := telemetry.NewConsumer(cfg, "l", "g")
	if err != nil {
		t.Fatal(err)
	}
	prod, err := telemetry.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	check("metrics Consumer Process+End", process(cons, nil))
	check("metrics Consumer Process+End(err)", process(cons, handlerErr))
	check("metrics Producer SendDone", func() { prod.SendDone("orders", start, nil) })
	check("metrics Producer SendDone(err)", func() { prod.SendDone("orders", start, handlerErr) })
	check("metrics Consumer Records", func() { cons.Records("orders", telemetry.OutcomeSuccess, 1) })
	check("ErrorType", func() { _ = telemetry.ErrorType(handlerErr) })
}

func TestErrorType(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{context.Canceled, "context.Canceled"},
		{fmt.Errorf("send: %w", context.DeadlineExceeded), "context.DeadlineExceeded"},
		{fmt.Errorf("send: %w", kerr.NotLeaderForPartition), "NOT_LEADER_FOR_PARTITION"},
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.UnknownTopicOrPartition), "UNKNOWN_TOPIC_OR_PARTITION"},
		{fmt.Errorf("send: %w", kgo.ErrRecordRetries), "kgo.ErrRecordRetries"},
		{kgo.ErrClientClosed, "kgo.ErrClientClosed"},
		{fmt.Errorf("handle: %w", &handlerError{}), "*telemetry_test.handlerError"},
		{errors.Join(errors.New("a"), fmt.Errorf("b: %w", &handlerError{})), "*telemetry_test.handlerError"},
		{errors.New("plain"), telemetry.ErrorTypeOther},
		{fmt.Errorf("wrapped: %w", errors.New("plain")), telemetry.ErrorTypeOther},
	}
	for _, tt := range tests {
		if got := telemetry.ErrorType(tt.err); got != tt.want {
			t.Errorf("ErrorType(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestHeaderCarrier(t *testing.T) {
	shared := []kgo.RecordHeader{
		{Key: "a", Value: []byte("1")},
		{Key: "traceparent", Value: []byte("old")},
		{Key: "b", Value: []byte("2")},
		{Key: "traceparent", Value: []byte("older")},
	}
	hs := shared
	c := telemetry.HeaderCarrier{Headers: &hs}
	c.Set("traceparent", "new")
	c.Set("tracestate", "s")
	want := []string{"a=1", "traceparent=new", "b=2", "tracestate=s"}
	var got []string
	for _, h := range hs {
		got = append(got, h.Key+"="+string(h.Value))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("headers %v, want %v", got, want)
	}
	if string(shared[1].Value) != "old" || len(shared) != 4 {
		t.Errorf("Set modified the original slice: %v", shared)
	}
	if c.Get("traceparent") != "new" || c.Get("missing") != "" {
		t.Errorf("Get: %q, %q", c.Get("traceparent"), c.Get("missing"))
	}
	if keys := fmt.Sprint(c.Keys()); keys != "[a traceparent b tracestate]" {
		t.Errorf("Keys = %s", keys)
	}
	var empty telemetry.HeaderCarrier
	empty.Set("k", "v")
	if empty.Get("k") != "" || empty.Keys() != nil {
		t.Error("nil Headers carrier not empty")
	}
}

// BenchmarkProcessMetrics measures Process+End with metrics on and tracing
// off, over three partitions.
func BenchmarkProcessMetrics(b *testing.B) {
	pv := newProviders(b)
	cons, err := telemetry.NewConsumer(telemetry.Config{MeterProvider: pv.mp}, "l", "g")
	if err != nil {
		b.Fatal(err)
	}
	recs := []*kgo.Record{
		{Topic: "orders", Partition: 0}, {Topic: "orders", Partition: 1}, {Topic: "orders", Partition: 2},
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_, p := cons.Process(ctx, recs[i%len(recs)], 1)
			p.End(nil)
			i++
		}
	})
}
