package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/kafkatest"
	"github.com/kafkaboot/kafkaboot/template"
)

// TestRun runs the example as `go run ./examples/observability` does and
// checks that its output shows the health answers, the metrics and a
// trace.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatalf("%v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{
		"GET /readyz while billing is behind: 503",
		`"status": "DOWN"`,
		"GET /readyz after billing caught up: 200",
		"messaging.client.sent.messages",
		"kafkaboot.listener.records",
		"outcome=dead_lettered",
		"POST /orders",
		"send orders key=o-3",
		"process orders key=o-3",
		"send orders.DLT",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestObservability tests, with the test kit, what the example shows:
// /readyz answers 503 while billing is behind (kafka.health.max-lag) and
// 200 once it has caught up; the invalid order is in orders.DLT with the
// reason; kafkaboot.listener.records counts the billed and the
// dead-lettered orders; and an order sent inside a request's span is
// processed in the request's trace.
func TestObservability(t *testing.T) {
	kit := kafkatest.New(t, kafkatest.Topic("orders", 1), kafkatest.Topic("orders.DLT", 1),
		kafkatest.Set("kafka.health.max-lag", 10))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	// Billing slower than the test: the listener is behind until Fast,
	// however long sending takes.
	b := NewBilling(time.Hour)
	var health http.Handler
	app := kit.Start(Telemetry(mp, tp), Listeners(b),
		fx.Populate(fx.Annotate(&health, fx.ParamTags(`name:"`+kafkaboot.HealthHandler+`"`))))
	app.WaitAssigned("billing")
	app.WaitAssigned("dlt-monitor")
	readyz(kit, health, http.StatusOK)

	// The orders are sent with the application's template, which traces
	// its sends, inside a request's span.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reqCtx, req := tp.Tracer("test").Start(ctx, "POST /orders")
	const n = 60
	for i := range n {
		o := Order{ID: fmt.Sprintf("o-%d", i), Item: "coffee", Quantity: 1 + i%3}
		if i == 7 {
			o.Item = "" // invalid: to the dead-letter topic
		}
		if _, err := app.Template.Send(reqCtx, "orders", o, template.Key(o.ID)); err != nil {
			t.Fatalf("sending %s: %v", o.ID, err)
		}
	}
	req.End()

	if rep := readyz(kit, health, http.StatusServiceUnavailable); !strings.Contains(strings.Join(rep.Reasons, "; "), "kafka.health.max-lag") {
		t.Fatalf("not ready for another reason than lag: %q", rep.Reasons)
	}
	b.Fast()
	readyz(kit, health, http.StatusOK)

	dl := kit.ExpectDLT("orders.DLT", 1)[0]
	if string(dl.Record.Key) != "o-7" || dl.OriginalTopic != "orders" || !strings.Contains(dl.ExceptionMessage, "Item") {
		t.Fatalf("dead letter %s from %q: %s", dl.Record.Key, dl.OriginalTopic, dl.ExceptionMessage)
	}
	kit.Eventually(fmt.Sprintf("%d orders billed and 1 dead letter", n-1), func() error {
		if b.processed.Load() != n-1 || b.dead.Load() != 1 {
			return fmt.Errorf("%d billed, %d dead letters", b.processed.Load(), b.dead.Load())
		}
		return nil
	})

	// kafkaboot.listener.records of the billing listener, by outcome.
	want := map[string]int64{"success": n - 1, "dead_lettered": 1}
	kit.Eventually(fmt.Sprintf("kafkaboot.listener.records of billing %v", want), func() error {
		if got := listenerRecords(t, reader, "billing"); !maps.Equal(got, want) {
			return fmt.Errorf("%v", got)
		}
		return nil
	})

	// The trace of the request: send orders (o-3) under POST /orders,
	// process orders (o-3) under that send; and the dead letter's send to
	// orders.DLT (o-7) in the same trace.
	traceID := req.SpanContext().TraceID()
	kit.Eventually("the spans send orders, process orders (o-3) and send orders.DLT (o-7) in the request's trace", func() error {
		send := span(spans.Ended(), "send orders", "o-3")
		process := span(spans.Ended(), "process orders", "o-3")
		dlt := span(spans.Ended(), "send orders.DLT", "o-7")
		if send != nil && process != nil && dlt != nil &&
			send.SpanContext().TraceID() == traceID && send.Parent().SpanID() == req.SpanContext().SpanID() &&
			process.SpanContext().TraceID() == traceID && process.Parent().SpanID() == send.SpanContext().SpanID() &&
			dlt.SpanContext().TraceID() == traceID {
			return nil
		}
		var names []string
		for _, s := range spans.Ended() {
			if s.SpanContext().TraceID() == traceID {
				names = append(names, s.Name()+" key="+messageKey(s))
			}
		}
		return fmt.Errorf("spans of the trace: %v", names)
	})
}

// readyz waits until the health handler answers GET /readyz with status,
// and returns its report.
func readyz(kit *kafkatest.Kit, health http.Handler, status int) (rep kafkaboot.HealthReport) {
	kit.Eventually(fmt.Sprintf("GET /readyz answering %d", status), func() error {
		rec := httptest.NewRecorder()
		health.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != status {
			return fmt.Errorf("%d %s", rec.Code, rec.Body)
		}
		return json.Unmarshal(rec.Body.Bytes(), &rep)
	})
	return rep
}

// listenerRecords collects kafkaboot.listener.records of a listener, by
// kafkaboot.outcome.
func listenerRecords(t *testing.T, reader *sdkmetric.ManualReader, listenerID string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collecting metrics: %v", err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if m.Name != "kafkaboot.listener.records" || !ok {
				continue
			}
			for _, p := range sum.DataPoints {
				if id, _ := p.Attributes.Value("kafkaboot.listener.id"); id.AsString() == listenerID {
					outcome, _ := p.Attributes.Value(attribute.Key("kafkaboot.outcome"))
					out[outcome.AsString()] += p.Value
				}
			}
		}
	}
	return out
}

// span returns the ended span with the name and message key, or nil.
func span(ended []sdktrace.ReadOnlySpan, name, key string) sdktrace.ReadOnlySpan {
	for _, s := range ended {
		if s.Name() == name && messageKey(s) == key {
			return s
		}
	}
	return nil
}

func messageKey(s sdktrace.ReadOnlySpan) string {
	for _, kv := range s.Attributes() {
		if kv.Key == "messaging.kafka.message.key" {
			return kv.Value.AsString()
		}
	}
	return ""
}
