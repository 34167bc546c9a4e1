package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

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
	tel := kit.Telemetry()
	// Billing slower than the test: the listener is behind until Fast,
	// however long sending takes.
	b := NewBilling(time.Hour)
	app := kit.Start(tel.Provide(), Listeners(b))
	app.WaitAssigned("billing")
	app.WaitAssigned("dlt-monitor")
	ready(kit, app, true)

	// The orders are sent with the application's template, which traces
	// its sends, inside a request's span.
	reqCtx, req := tel.TracerProvider.Tracer("test").Start(t.Context(), "POST /orders")
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

	if rep := ready(kit, app, false); !strings.Contains(strings.Join(rep.Reasons, "; "), "kafka.health.max-lag") {
		t.Fatalf("not ready for another reason than lag: %q", rep.Reasons)
	}
	b.Fast()
	ready(kit, app, true)
	if dl := kit.ExpectDLT("orders.DLT", 1)[0]; string(dl.Record.Key) != "o-7" || !strings.Contains(dl.ExceptionMessage, "Item") {
		t.Fatalf("dead letter %s: %s", dl.Record.Key, dl.ExceptionMessage)
	}

	// kafkaboot.listener.records of the billing listener, by outcome.
	kit.Eventually(fmt.Sprintf("kafkaboot.listener.records of billing: %d success, 1 dead_lettered", n-1), func() error {
		id := attribute.String("kafkaboot.listener.id", "billing")
		ok := tel.Counter("kafkaboot.listener.records", id, attribute.String("kafkaboot.outcome", "success"))
		dead := tel.Counter("kafkaboot.listener.records", id, attribute.String("kafkaboot.outcome", "dead_lettered"))
		if ok != n-1 || dead != 1 {
			return fmt.Errorf("%d success, %d dead_lettered", ok, dead)
		}
		return nil
	})

	// The trace of the request: send orders (o-3) under POST /orders,
	// process orders (o-3) under that send; and the dead letter's send to
	// orders.DLT (o-7) in the same trace.
	key := func(k string) attribute.KeyValue { return attribute.String("messaging.kafka.message.key", k) }
	traceID := req.SpanContext().TraceID()
	kit.Eventually("send orders, process orders (o-3) and send orders.DLT (o-7) in the request's trace", func() error {
		send, process, dlt := tel.Span("send orders", key("o-3")), tel.Span("process orders", key("o-3")), tel.Span("send orders.DLT", key("o-7"))
		if send == nil || process == nil || dlt == nil {
			return fmt.Errorf("spans ended: send %v, process %v, dead letter %v", send != nil, process != nil, dlt != nil)
		}
		if send.Parent().SpanID() != req.SpanContext().SpanID() || process.Parent().SpanID() != send.SpanContext().SpanID() ||
			process.SpanContext().TraceID() != traceID || dlt.SpanContext().TraceID() != traceID {
			return fmt.Errorf("send's parent %v, process's parent %v, traces %v %v", send.Parent().SpanID(), process.Parent().SpanID(),
				process.SpanContext().TraceID(), dlt.SpanContext().TraceID())
		}
		return nil
	})
}

// ready waits until the application's readiness is want, and returns the
// report.
func ready(kit *kafkatest.Kit, app *kafkatest.App, want bool) (rep kafkaboot.HealthReport) {
	kit.Eventually(fmt.Sprintf("ready: %v", want), func() error {
		if rep = app.Health.Check(context.Background()); rep.Ready != want {
			return fmt.Errorf("ready %v: %q", rep.Ready, rep.Reasons)
		}
		return nil
	})
	return rep
}
