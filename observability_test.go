package kafkaboot_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/template"
)

// observed fails "retry-once" at its first attempt and "poison" always; the
// poison's dead letter is handled by DLT.
type observed struct {
	Orders func(context.Context, string) error `kafka:"id=orders,topics=orders,group=orders"`
	DLT    func(context.Context, string) error `kafka:"id=orders-dlt,topics=orders.DLT,group=orders-dlt"`
}

// collected holds a collection; sum adds its data points: sums of counters and histogram
// counts, by metric name, for the points whose attributes hold every
// key=value of match ("key=" matches a point without the key, "key=*"
// one with it).
type collected struct{ rm metricdata.ResourceMetrics }

func (c collected) sum(name string, match ...string) (total int64, points int) {
	for _, sm := range c.rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if matches(p.Attributes, match) {
						total += p.Value
						points++
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if matches(p.Attributes, match) {
						total += p.Value
						points++
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if matches(p.Attributes, match) {
						total += int64(p.Count)
						points++
					}
				}
			}
		}
	}
	return total, points
}

// maxGauge is the largest value of a float gauge over its points.
func (c collected) maxGauge(name string) (max float64, points int) {
	for _, sm := range c.rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Gauge[float64]); ok && m.Name == name {
				for _, p := range d.DataPoints {
					max = fmax(max, p.Value)
					points++
				}
			}
		}
	}
	return max, points
}

func fmax(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

func matches(set attribute.Set, match []string) bool {
	for _, kv := range match {
		k, v, _ := strings.Cut(kv, "=")
		got, ok := set.Value(attribute.Key(k))
		if v == "" || v == "*" {
			if ok != (v == "*") {
				return false
			}
			continue
		}
		if !ok || got.Emit() != v {
			return false
		}
	}
	return true
}

// TestObservability: an application with a MeterProvider and a
// TracerProvider sends 22 records from inside a request span; the listener
// handles 20 at once, one after a retry, and dead-letters one after three
// attempts; the dead letter is handled too. The metrics read with an
// in-memory reader count exactly that, lag goes to 0; every handler span
// is a child of its record's send span across the broker, the dead
// letter's send span a child of the last failed handler call, and its
// handler span a child of that: one trace from the request to the DLT.
func TestObservability(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(3, "orders", "orders.DLT"))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	var retried, dlts atomic.Int32
	var tmpl *template.Template
	app := fx.New(fx.NopLogger, kafkaboot.Module, appConfig(c.Addrs(), nil),
		fx.Provide(func() metric.MeterProvider { return mp }, func() trace.TracerProvider { return tp }),
		kafkaboot.ContainerOptions(container.WithErrorHandler(&container.ErrorHandler{BackOff: container.FixedBackOff{MaxRetries: 2}})),
		kafkaboot.Listeners(func() *observed {
			return &observed{
				Orders: func(_ context.Context, v string) error {
					switch {
					case v == "retry-once" && retried.Add(1) == 1:
						return errors.New("transient")
					case v == "poison":
						return errors.New("poison record")
					}
					return nil
				},
				DLT: func(context.Context, string) error { dlts.Add(1); return nil },
			}
		}),
		fx.Populate(&tmpl))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer app.Stop(context.Background())

	reqCtx, req := tp.Tracer("test").Start(ctx, "POST /orders")
	values := []string{"retry-once", "poison"}
	for i := range 20 {
		values = append(values, fmt.Sprintf("order-%d", i))
	}
	for _, v := range values {
		if _, err := tmpl.Send(reqCtx, "orders", v, template.Key(v)); err != nil {
			t.Fatal(err)
		}
	}
	req.End()

	collect := func() collected {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		return collected{rm}
	}
	waitUntil(t, "everything handled and lag 0", 30*time.Second, func() bool {
		if dlts.Load() != 1 {
			return false
		}
		m := collect()
		ok, _ := m.sum("kafkaboot.listener.records", "kafkaboot.listener.id=orders")
		lag, points := m.sum("kafkaboot.consumer.lag", "kafkaboot.listener.id=orders")
		age, _ := m.maxGauge("kafkaboot.consumer.lag.time")
		return ok == 22 && points == 3 && lag == 0 && age == 0
	})
	m := collect()
	checks := []struct {
		name  string
		match []string
		want  int64
	}{
		{"messaging.client.operation.duration", []string{"messaging.destination.name=orders"}, 22},
		{"messaging.client.sent.messages", []string{"messaging.destination.name=orders", "error.type="}, 22},
		{"messaging.client.sent.messages", []string{"messaging.destination.name=orders.DLT", "error.type="}, 1},
		{"messaging.client.consumed.messages", []string{"kafkaboot.listener.id=orders"}, 22},
		{"messaging.client.consumed.messages", []string{"kafkaboot.listener.id=orders-dlt"}, 1},
		{"kafkaboot.listener.records", []string{"kafkaboot.listener.id=orders", "kafkaboot.outcome=success"}, 21},
		{"kafkaboot.listener.records", []string{"kafkaboot.listener.id=orders", "kafkaboot.outcome=dead_lettered"}, 1},
		{"kafkaboot.listener.records", []string{"kafkaboot.listener.id=orders-dlt", "kafkaboot.outcome=success"}, 1},
		{"kafkaboot.listener.retries", []string{"kafkaboot.listener.id=orders"}, 3},
	}
	for _, ch := range checks {
		if got, _ := m.sum(ch.name, ch.match...); got != ch.want {
			t.Errorf("%s %v = %d, want %d", ch.name, ch.match, got, ch.want)
		} else {
			t.Logf("%s %v = %d", ch.name, ch.match, got)
		}
	}
	// Handler durations: every retry (the poison's 2 and 3 failed), and a
	// sample of the other calls of these fast handlers
	// (container.WithMeterProvider).
	failed, _ := m.sum("messaging.process.duration", "kafkaboot.listener.id=orders", "error.type=*")
	if calls, _ := m.sum("messaging.process.duration", "kafkaboot.listener.id=orders"); failed < 2 || calls < 3 || calls > 25 {
		t.Errorf("messaging.process.duration of orders counts %d calls, %d failed: want every retry and at most all 25", calls, failed)
	}
	bytes, _ := m.sum("kafkaboot.client.sent.bytes")
	commits, _ := m.sum("kafkaboot.consumer.commits", "kafkaboot.listener.id=orders", "error.type=")
	rebalances, _ := m.sum("kafkaboot.consumer.rebalances", "kafkaboot.rebalance.type=assigned")
	if bytes <= 0 || commits < 1 || rebalances < 2 {
		t.Errorf("sent bytes %d, commits %d, assignments %d", bytes, commits, rebalances)
	}
	t.Logf("sent %d bytes; %d commits, %d assignments", bytes, commits, rebalances)

	// The traces.
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		byID[s.SpanContext().SpanID()] = s
	}
	parentOf := func(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan { return byID[s.Parent().SpanID()] }
	key := func(s sdktrace.ReadOnlySpan) string {
		for _, kv := range s.Attributes() {
			if kv.Key == "messaging.kafka.message.key" {
				return kv.Value.AsString()
			}
		}
		return ""
	}
	processes := map[string][]sdktrace.ReadOnlySpan{}
	var dltSend, dltProcess sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		switch s.Name() {
		case "process orders":
			processes[key(s)] = append(processes[key(s)], s)
		case "send orders.DLT":
			dltSend = s
		case "process orders.DLT":
			dltProcess = s
		}
	}
	if len(processes) != 22 || len(processes["retry-once"]) != 2 || len(processes["poison"]) != 3 {
		t.Fatalf("handler spans by key: %d keys, retry-once %d, poison %d", len(processes), len(processes["retry-once"]), len(processes["poison"]))
	}
	for k, ps := range processes {
		for _, p := range ps {
			send := parentOf(p)
			if send == nil || send.Name() != "send orders" || key(send) != k || parentOf(send) == nil || parentOf(send).Name() != "POST /orders" {
				t.Fatalf("handler span of %q: parent %v, want its send span, child of the request", k, send)
			}
			if p.SpanContext().TraceID() != req.SpanContext().TraceID() {
				t.Fatalf("handler span of %q in another trace", k)
			}
		}
	}
	lastPoison := processes["poison"][2]
	if dltSend == nil || dltProcess == nil {
		t.Fatalf("dead letter spans: send %v, process %v", dltSend, dltProcess)
	}
	if parentOf(dltSend) != lastPoison {
		t.Fatalf("the dead letter's send span's parent is %v, want the last failed handler call", parentOf(dltSend))
	}
	if parentOf(dltProcess) != dltSend || dltProcess.SpanContext().TraceID() != req.SpanContext().TraceID() {
		t.Fatalf("the dead letter's handler span's parent is %v, want its send span", parentOf(dltProcess))
	}
	t.Logf("trace %s: request -> 22 sends -> 25 handler calls (2 for retry-once, 3 for poison) -> dead letter send -> its handler",
		req.SpanContext().TraceID())
}
