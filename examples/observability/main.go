// Command observability runs the quickstart's billing service with
// OpenTelemetry metrics and tracing on, and its health endpoint mounted at
// /healthz and /readyz: it sends orders while the billing listener is
// slow, shows /readyz answering 503 because the listener is behind
// (kafka.health.max-lag), lets it catch up, shows /readyz answering 200,
// then prints the metrics (read with an in-memory reader) and the trace of
// one order, from the HTTP request that sent it to the listener that
// handled it, and of an invalid order into the dead-letter topic. It exits
// 0.
//
//	go run ./examples/observability
//
// A real service exports instead, for example with
// go.opentelemetry.io/otel/exporters/prometheus or otlpmetrichttp, by
// providing its own metric.MeterProvider and trace.TracerProvider to the
// fx application.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
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
	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
)

// Order is the payload of the orders topic.
type Order struct {
	ID       string `json:"id" validate:"required"`
	Item     string `json:"item" validate:"required"`
	Quantity int    `json:"quantity" validate:"gt=0"`
}

// Billing is the service; while slow is open it takes its time.
type Billing struct {
	processed atomic.Int64
	dead      atomic.Int64
	slow      chan struct{} // closed: fast again
	delay     time.Duration // an order's billing time while slow
}

// OnOrder bills one order, slowly while b.slow is open.
func (b *Billing) OnOrder(ctx context.Context, _ *listener.Record[Order]) error {
	select {
	case <-b.slow:
	case <-time.After(b.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	b.processed.Add(1)
	return nil
}

// OnDeadLetter counts dead letters.
func (b *Billing) OnDeadLetter(context.Context, *listener.Record[[]byte]) error {
	b.dead.Add(1)
	return nil
}

// NewBilling returns the service, taking delay for each order until Fast
// is called.
func NewBilling(delay time.Duration) *Billing {
	return &Billing{slow: make(chan struct{}), delay: delay}
}

// Fast makes billing fast again.
func (b *Billing) Fast() { close(b.slow) }

// Listeners are the service's Kafka listeners, each declared once: its
// tag (listener/doc.go documents it) and its handler.
func Listeners(b *Billing) fx.Option {
	return fx.Options(
		kafkaboot.Listen("id=billing,topics=orders,group=billing", listener.RecordFunc[Order](b.OnOrder)),
		kafkaboot.Listen("id=dlt-monitor,topics=orders.DLT,group=monitor,dlt=none", listener.RecordFunc[[]byte](b.OnDeadLetter)),
	)
}

// Telemetry gives the application the OpenTelemetry providers its
// template, producers and listener containers report to; kafkaboot never
// uses the global ones.
func Telemetry(mp metric.MeterProvider, tp trace.TracerProvider) fx.Option {
	return fx.Provide(func() metric.MeterProvider { return mp }, func() trace.TracerProvider { return tp })
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "observability:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cluster, err := embeddedbroker.Start(ctx)
	if err != nil {
		return err
	}
	defer cluster.Close()

	// OpenTelemetry: an in-memory metric reader and span recorder. The
	// application provides the providers; kafkaboot never uses the
	// global ones.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	billing := NewBilling(20 * time.Millisecond)
	var (
		tmpl   *template.Template
		health http.Handler
	)
	app := fx.New(
		fx.NopLogger,
		kafkaboot.Module,
		kafkaboot.ConfigOptions(config.WithEnviron(nil), config.WithValues(map[string]any{
			"kafka.bootstrap-servers":          strings.Join(cluster.Addrs(), ","),
			"kafka.consumer.auto-offset-reset": "earliest",
			"kafka.admin.topics.0.name":        "orders",
			"kafka.admin.topics.1.name":        "orders.DLT",
			"kafka.health.max-lag":             10,
		})),
		Telemetry(mp, tp),
		Listeners(billing),
		fx.Populate(&tmpl, fx.Annotate(&health, fx.ParamTags(`name:"`+kafkaboot.HealthHandler+`"`))),
	)
	if err := app.Start(ctx); err != nil {
		return err
	}
	defer app.Stop(context.Background())

	// The application's HTTP server, with the health endpoints mounted.
	mux := http.NewServeMux()
	mux.Handle("/healthz", health)
	mux.Handle("/readyz", health)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "health endpoints at %s/healthz and %s/readyz\n", base, base)

	// Wait until the listener has joined its group.
	if _, err := waitStatus(ctx, base+"/readyz", http.StatusOK); err != nil {
		return err
	}

	// An HTTP request's span; the orders sent inside it continue its
	// trace.
	reqCtx, req := tp.Tracer("example").Start(ctx, "POST /orders")
	const n = 60
	for i := range n {
		o := Order{ID: fmt.Sprintf("o-%d", i), Item: "coffee", Quantity: 1 + i%3}
		if i == 7 {
			o.Item = "" // invalid: to the dead-letter topic
		}
		if _, err := tmpl.Send(reqCtx, "orders", o, template.Key(o.ID)); err != nil {
			return err
		}
	}
	req.End()
	fmt.Fprintf(out, "sent %d orders; billing takes 20 ms each\n", n)

	body, err := waitStatus(ctx, base+"/readyz", http.StatusServiceUnavailable)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nGET /readyz while billing is behind: 503\n%s\n", body)

	billing.Fast()
	body, err = waitStatus(ctx, base+"/readyz", http.StatusOK)
	if err != nil {
		return err
	}
	for billing.processed.Load() < n-1 || billing.dead.Load() < 1 {
		if ctx.Err() != nil {
			return fmt.Errorf("orders not handled: %w", ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprintf(out, "\nGET /readyz after billing caught up: 200\n%s\n", body)

	if err := printMetrics(ctx, out, reader); err != nil {
		return err
	}
	printTrace(out, spans.Ended(), req.SpanContext().TraceID(), "o-3", "o-7")

	if err := app.Stop(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "\ndone: %d orders billed, %d in orders.DLT\n", billing.processed.Load(), billing.dead.Load())
	return nil
}

// waitStatus polls url until it answers status, and returns the body.
func waitStatus(ctx context.Context, url string, status int) (string, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return "", err
		}
		if resp.StatusCode == status {
			return strings.TrimSpace(string(b)), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s never answered %d (last: %d %s): %w", url, status, resp.StatusCode, b, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// printMetrics prints every data point of the collection, one a line.
func printMetrics(ctx context.Context, out io.Writer, reader *sdkmetric.ManualReader) error {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nmetrics (OpenTelemetry, in-memory reader):")
	var lines []string
	shown := []attribute.Key{"messaging.destination.name", "messaging.destination.partition.id", "kafkaboot.listener.id",
		"kafkaboot.outcome", "kafkaboot.rebalance.type", "error.type"}
	attrs := func(s attribute.Set) string {
		var parts []string
		for _, k := range shown {
			if v, ok := s.Value(k); ok {
				parts = append(parts, fmt.Sprintf("%s=%s", k, v.Emit()))
			}
		}
		return strings.Join(parts, " ")
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("  %-38s %-70s %d", m.Name, attrs(p.Attributes), p.Value))
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("  %-38s %-70s %d", m.Name, attrs(p.Attributes), p.Value))
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("  %-38s %-70s %.3f", m.Name, attrs(p.Attributes), p.Value))
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("  %-38s %-70s count=%d mean=%.2fms", m.Name, attrs(p.Attributes), p.Count, 1000*p.Sum/float64(max(p.Count, 1))))
				}
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return nil
}

// printTrace prints the spans of trace that concern the given message
// keys (and the request span) as a tree.
func printTrace(out io.Writer, ended []sdktrace.ReadOnlySpan, id trace.TraceID, keys ...string) {
	children := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	var root sdktrace.ReadOnlySpan
	keyOf := func(s sdktrace.ReadOnlySpan) string {
		for _, kv := range s.Attributes() {
			if kv.Key == "messaging.kafka.message.key" {
				return kv.Value.AsString()
			}
		}
		return ""
	}
	for _, s := range ended {
		if s.SpanContext().TraceID() != id {
			continue
		}
		if !s.Parent().IsValid() {
			root = s
			continue
		}
		children[s.Parent().SpanID()] = append(children[s.Parent().SpanID()], s)
	}
	if root == nil {
		return
	}
	fmt.Fprintf(out, "\ntrace %s (orders %s):\n", id, strings.Join(keys, ", "))
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		line := fmt.Sprintf("%s%s", strings.Repeat("  ", depth+1), s.Name())
		if k := keyOf(s); k != "" {
			line += " key=" + k
		}
		if s.Status().Description != "" {
			line += " error=" + s.Status().Description
		}
		fmt.Fprintln(out, line)
		cs := children[s.SpanContext().SpanID()]
		sort.Slice(cs, func(i, j int) bool { return cs[i].StartTime().Before(cs[j].StartTime()) })
		for _, c := range cs {
			if depth == 0 && !slices.Contains(keys, keyOf(c)) {
				continue
			}
			walk(c, depth+1)
		}
	}
	walk(root, 0)
}
