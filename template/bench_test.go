// BenchmarkSend compares the template with franz-go on the same client
// (so the same producer options: acks, linger, batching, compression,
// idempotence come from one configuration) and the same embedded broker:
//
//   - template vs franz-go: Template.Send of a JSON struct (serialization
//     with the default serde, type header, send options, listener hooks,
//     result) against kgo ProduceSync of the same bytes, encoded once
//     before the loop, with the same "__TypeId__" header, so both put
//     identical records on the wire. Synchronous sends are bound by the
//     broker round trip.
//   - template-async vs franz-go-async: SendAsync (with its Future) against
//     kgo Produce of the pre-encoded record with a nil promise, each loop
//     followed by a Flush inside the timed region, so ns/op is the time
//     per acknowledged record. These are throughput-bound and show the
//     template's CPU cost per record, JSON encoding included.
//   - franz-go-async-json: kgo Produce with json.Marshal per record; not
//     part of the acceptance ratios (which compare against pre-encoded
//     bytes), it separates the cost of encoding/json from the template's
//     own overhead.
//
// Each variant writes to its own topic, so no variant pays for log growth
// caused by another (BenchmarkSendRatio interleaves its variants, so
// there they share topics). The sub-benchmarks report ns/op and allocations of
// each variant alone; BenchmarkSendRatio measures the ratios.
//
// BenchmarkSendRatio runs the variants in each iteration, a block of sends
// each (200 synchronous, 5,000 asynchronous), in an order rotated from one
// iteration to the next, so that drift on a shared machine spreads evenly
// over them. It reports <variant>-ns/send and ratio-<variant>: the time of
// the franz-go counterpart over the variant's, summed over all iterations
// (throughput relative to franz-go; the goal is 0.9 or better for the
// synchronous template). franz-go-sync-json, ProduceSync with json.Marshal
// per send, shows how much of the gap is encoding/json alone.
// template-metrics and template-async-metrics are the template of a
// factory recording OpenTelemetry metrics (SDK meter provider, manual
// reader, tracing off); their ratios are against template-plain and
// template-async-plain, the template of another factory without metrics
// (a second client of the same broker, as the metered one is: the goal is
// within 5%, a ratio of 0.95 or more); cpu-ratio-template-metrics and
// cpu-ratio-template-async-metrics are the same ratios of the process's
// CPU time (the broker's included).
package template

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kafkaboot/kafkaboot/internal/benchrun"
	"github.com/kafkaboot/kafkaboot/serde"
)

type benchEvent struct {
	ID       int64             `json:"id"`
	Customer string            `json:"customer"`
	Items    []string          `json:"items"`
	Amount   float64           `json:"amount"`
	Labels   map[string]string `json:"labels"`
}

// benchSetup starts a broker with topics and returns the template and the
// franz-go client of one producer factory, the event the template sends,
// its JSON encoding, and the header the template's default serializer
// writes (shared by the franz-go records: franz-go does not modify
// headers), so that both sides put identical records on the wire.
func benchSetup(b *testing.B, topics ...string) (*Template, *kgo.Client, benchEvent, []byte, []kgo.RecordHeader) {
	b.Helper()
	tmpl, cl, ev, payload, headers, _ := benchSetupAddrs(b, topics...)
	return tmpl, cl, ev, payload, headers
}

// benchSetupAddrs is benchSetup that also returns the broker's addresses.
func benchSetupAddrs(b *testing.B, topics ...string) (*Template, *kgo.Client, benchEvent, []byte, []kgo.RecordHeader, []string) {
	b.Helper()
	addrs := startBroker(b, topics...)
	f := newFactory(b, addrs, nil)
	ev := benchEvent{ID: 42, Customer: "customer-42", Items: []string{"book", "pen", "lamp"}, Amount: 99.5,
		Labels: map[string]string{"region": "eu", "channel": "web"}}
	payload, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	headers := []kgo.RecordHeader{{Key: serde.TypeIDHeader, Value: []byte(serde.DefaultTypeName(reflect.TypeOf(ev)))}}
	return f.Template(), f.Client(), ev, payload, headers, addrs
}

func BenchmarkSend(b *testing.B) {
	topics := []string{"bench-template", "bench-franz", "bench-template-async", "bench-franz-async", "bench-franz-async-json"}
	tmpl, cl, ev, payload, headers := benchSetup(b, topics...)
	ctx := context.Background()
	preEncoded := func(topic string) *kgo.Record {
		return &kgo.Record{Topic: topic, Value: payload, Headers: headers}
	}
	// Warm up metadata, connections and buffers for every topic.
	for _, topic := range topics {
		for range 100 {
			if _, err := tmpl.Send(ctx, topic, ev); err != nil {
				b.Fatal(err)
			}
		}
	}

	b.Run("template", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tmpl.Send(ctx, "bench-template", ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("franz-go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := cl.ProduceSync(ctx, preEncoded("bench-franz")).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The async loops use b.N rather than b.Loop so that the final Flush,
	// which waits for the acknowledgements, is timed.
	b.Run("template-async", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			tmpl.SendAsync(ctx, "bench-template-async", ev)
		}
		if err := tmpl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("franz-go-async", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			cl.Produce(ctx, preEncoded("bench-franz-async"), nil)
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("franz-go-async-json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var v any = ev
			p, err := json.Marshal(v)
			if err != nil {
				b.Fatal(err)
			}
			cl.Produce(ctx, &kgo.Record{Topic: "bench-franz-async-json", Value: p, Headers: headers}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkSendRatio(b *testing.B) {
	const (
		syncBlock  = 200
		asyncBlock = 5000
	)
	// The synchronous variants share a topic, and so do the asynchronous
	// ones: the same partitions and leaders serve a variant and its
	// baseline, so placement cannot favour either.
	topics := []string{"ratio-sync", "ratio-async"}
	tmpl, cl, ev, payload, headers, addrs := benchSetupAddrs(b, topics...)
	ctx := context.Background()
	// Two more factories on the same broker, so that the metrics
	// comparison is between equals: one records OpenTelemetry metrics
	// with the SDK (aggregation included; tracing off), one does not.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	metered := newFactory(b, addrs, nil, WithMeterProvider(mp)).Template()
	plain := newFactory(b, addrs, nil).Template()
	for _, t := range []*Template{metered, plain} {
		for range 100 {
			if _, err := t.Send(ctx, "ratio-sync", ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	produceSync := func(topic string, value []byte) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: value, Headers: headers}).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	variants := []benchrun.Variant{
		{Name: "franz-go", Run: func() {
			for range syncBlock {
				produceSync("ratio-sync", payload)
			}
		}},
		{Name: "template", Run: func() {
			for range syncBlock {
				if _, err := tmpl.Send(ctx, "ratio-sync", ev); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{Name: "franz-go-sync-json", Run: func() {
			for range syncBlock {
				var v any = ev
				p, err := json.Marshal(v)
				if err != nil {
					b.Fatal(err)
				}
				produceSync("ratio-sync", p)
			}
		}},
		{Name: "franz-go-async", Run: func() {
			for range asyncBlock {
				cl.Produce(ctx, &kgo.Record{Topic: "ratio-async", Value: payload, Headers: headers}, nil)
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}},
		{Name: "template-async", Run: func() {
			for range asyncBlock {
				tmpl.SendAsync(ctx, "ratio-async", ev)
			}
			if err := tmpl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}},
		{Name: "template-metrics", Run: func() {
			for range syncBlock {
				if _, err := metered.Send(ctx, "ratio-sync", ev); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{Name: "template-async-metrics", Run: func() {
			for range asyncBlock {
				metered.SendAsync(ctx, "ratio-async", ev)
			}
			if err := metered.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}},
		{Name: "template-plain", Run: func() {
			for range syncBlock {
				if _, err := plain.Send(ctx, "ratio-sync", ev); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{Name: "template-async-plain", Run: func() {
			for range asyncBlock {
				plain.SendAsync(ctx, "ratio-async", ev)
			}
			if err := plain.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}},
	}
	total, cpu, rounds := benchrun.InterleavedCPU(b, variants)
	sends := []int{syncBlock, syncBlock, syncBlock, asyncBlock, asyncBlock, syncBlock, asyncBlock, syncBlock, asyncBlock}
	for k, v := range variants {
		b.ReportMetric(float64(total[k].Nanoseconds())/float64(rounds*sends[k]), v.Name+"-ns/send")
	}
	// {variant, its baseline}: franz-go for the template, the template
	// of a factory without metrics for the one with them.
	for _, pair := range [][2]int{{1, 0}, {2, 0}, {4, 3}, {5, 7}, {6, 8}} {
		ratio := benchrun.Ratio(total, pair[0], pair[1])
		b.ReportMetric(ratio, "ratio-"+variants[pair[0]].Name)
		b.Logf("%s against %s: ratio (throughput relative to the baseline) %.2f", variants[pair[0]].Name, variants[pair[1]].Name, ratio)
	}
	// The metrics variants' cost in CPU time (the broker's included),
	// which the machine's other load disturbs less than wall time.
	for _, pair := range [][2]int{{5, 7}, {6, 8}} {
		cr := benchrun.Ratio(cpu, pair[0], pair[1])
		b.ReportMetric(cr, "cpu-ratio-"+variants[pair[0]].Name)
		b.Logf("%s against %s: CPU time ratio %.3f", variants[pair[0]].Name, variants[pair[1]].Name, cr)
	}
}
