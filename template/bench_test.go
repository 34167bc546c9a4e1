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
//   - franz-go-async-json: kgo Produce with json.Marshal per record and the
//     same header, then Flush: what a user would write by hand, the
//     baseline of the asynchronous template.
//   - template-async-gojson: SendAsync with the JSON serde on go-json
//     (serde.WithJSONCodec(serde.GoJSON())).
//
// Each variant writes to its own topic, so no variant pays for log growth
// caused by another (BenchmarkSendRatio interleaves its variants, so
// there they share topics). The sub-benchmarks report ns/op and allocations of
// each variant alone; BenchmarkSendRatio measures the ratios.
//
// BenchmarkSendRatio runs the variants in each iteration, a block of sends
// each (200 synchronous, 5,000 asynchronous), in an order shuffled from one
// iteration to the next, so that drift on a shared machine spreads evenly
// over them. It reports <variant>-ns/send and, for each pair of a variant
// and its baseline, the median over iterations of the time of the
// baseline over the variant's (throughput relative to the baseline) and
// sum-… the same of the times summed over all iterations:
//
//   - ratio-template, ratio-template-unbounded: Send against ProduceSync of
//     pre-encoded bytes (the goal is 0.9 or better); ratio-franz-go-sync-json,
//     ProduceSync with json.Marshal per send, shows how much of the gap is
//     encoding/json alone. template-unbounded is a template on the same
//     client without a delivery timeout (made with New): its Send, given a
//     context that never ends, waits on the caller's goroutine instead of
//     handing the produce to another to keep a deadline.
//   - ratio-template-async: SendAsync against Produce of pre-encoded bytes.
//   - json-ratio-template-async and json-ratio-template-async-gojson:
//     SendAsync (default serde, encoding/json) and SendAsync with go-json
//     against franz-go-async-json (the goals are 0.9 and 1.0).
//
// BenchmarkSendMetrics (below) measures what OpenTelemetry metrics cost.
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

// benchEv is the event every template benchmark sends.
func benchEv() benchEvent {
	return benchEvent{ID: 42, Customer: "customer-42", Items: []string{"book", "pen", "lamp"}, Amount: 99.5,
		Labels: map[string]string{"region": "eu", "channel": "web"}}
}

// benchSetup starts a broker with topics and returns a producer factory,
// the event the templates send, its JSON encoding, and the header the
// template's default serializer writes (shared by the franz-go records:
// franz-go does not modify headers), so that both sides put identical
// records on the wire.
func benchSetup(b *testing.B, topics ...string) (*ProducerFactory, benchEvent, []byte, []kgo.RecordHeader) {
	b.Helper()
	f := newFactory(b, startBroker(b, topics...), nil)
	ev := benchEv()
	payload, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	headers := []kgo.RecordHeader{{Key: serde.TypeIDHeader, Value: []byte(serde.DefaultTypeName(reflect.TypeOf(ev)))}}
	return f, ev, payload, headers
}

// goJSONTemplate is a template of f whose value serializer is the JSON
// serde on go-json.
func goJSONTemplate(f *ProducerFactory) *Template {
	return f.Template(WithSerializer(serde.NewJSON(serde.WithJSONCodec(serde.GoJSON()))))
}

func BenchmarkSend(b *testing.B) {
	topics := []string{"bench-template", "bench-franz", "bench-template-async", "bench-franz-async", "bench-franz-async-json", "bench-template-async-gojson"}
	f, ev, payload, headers := benchSetup(b, topics...)
	tmpl, cl, fast := f.Template(), f.Client(), goJSONTemplate(f)
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
	b.Run("template-async-gojson", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			fast.SendAsync(ctx, "bench-template-async-gojson", ev)
		}
		if err := fast.Flush(ctx); err != nil {
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
	f, ev, payload, headers := benchSetup(b, topics...)
	tmpl, cl, fast := f.Template(), f.Client(), goJSONTemplate(f)
	unbounded := New(cl)
	ctx := context.Background()
	produceSync := func(topic string, value []byte) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: value, Headers: headers}).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	const (
		franzSync = iota
		templateSync
		franzSyncJSON
		franzAsync
		templateAsync
		templateUnbounded
		franzAsyncJSON
		templateAsyncGoJSON
	)
	variants := []benchrun.Variant{
		franzSync: {Name: "franz-go", Run: func() {
			for range syncBlock {
				produceSync("ratio-sync", payload)
			}
		}},
		templateSync: {Name: "template", Run: func() { sendBlock(b, tmpl, "ratio-sync", ev, syncBlock) }},
		franzSyncJSON: {Name: "franz-go-sync-json", Run: func() {
			for range syncBlock {
				var v any = ev
				p, err := json.Marshal(v)
				if err != nil {
					b.Fatal(err)
				}
				produceSync("ratio-sync", p)
			}
		}},
		franzAsync: {Name: "franz-go-async", Run: func() {
			for range asyncBlock {
				cl.Produce(ctx, &kgo.Record{Topic: "ratio-async", Value: payload, Headers: headers}, nil)
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}},
		templateAsync: {Name: "template-async", Run: func() { sendAsyncBlock(b, tmpl, "ratio-async", ev, asyncBlock) }},
		// A template on the same client without a delivery timeout:
		// with a context that never ends, Send waits on the caller's
		// goroutine.
		templateUnbounded: {Name: "template-unbounded", Run: func() { sendBlock(b, unbounded, "ratio-sync", ev, syncBlock) }},
		// What a user would write by hand: encode the struct with
		// encoding/json per record, Produce it with the same header,
		// then Flush.
		franzAsyncJSON: {Name: "franz-go-async-json", Run: func() {
			for range asyncBlock {
				var v any = ev
				p, err := json.Marshal(v)
				if err != nil {
					b.Fatal(err)
				}
				cl.Produce(ctx, &kgo.Record{Topic: "ratio-async", Value: p, Headers: headers}, nil)
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}},
		templateAsyncGoJSON: {Name: "template-async-gojson", Run: func() { sendAsyncBlock(b, fast, "ratio-async", ev, asyncBlock) }},
	}
	s := benchrun.Run(b, variants)
	for k, v := range variants {
		n := asyncBlock
		if k == franzSync || k == templateSync || k == franzSyncJSON || k == templateUnbounded {
			n = syncBlock
		}
		b.ReportMetric(float64(s.Total(k).Nanoseconds())/float64(s.Rounds()*n), v.Name+"-ns/send")
	}
	for _, pair := range []struct {
		v, base int
		metric  string
	}{
		{templateSync, franzSync, "ratio-template"},
		{franzSyncJSON, franzSync, "ratio-franz-go-sync-json"},
		{templateAsync, franzAsync, "ratio-template-async"},
		{templateUnbounded, franzSync, "ratio-template-unbounded"},
		{templateAsync, franzAsyncJSON, "json-ratio-template-async"},
		{templateAsyncGoJSON, franzAsyncJSON, "json-ratio-template-async-gojson"},
	} {
		v, base := []int{pair.v}, []int{pair.base}
		ratio, sum := s.MedianRatio(v, base), s.Ratio(v, base)
		b.ReportMetric(ratio, pair.metric)
		b.ReportMetric(sum, "sum-"+pair.metric)
		b.Logf("%s against %s: ratio (throughput relative to the baseline) %.3f, of the summed times %.3f",
			variants[pair.v].Name, variants[pair.base].Name, ratio, sum)
	}
}

// BenchmarkSendMetrics measures what OpenTelemetry metrics cost a
// template: four producer factories on one broker, two recording metrics
// with the SDK (a meter provider with a manual reader: aggregation
// included, no export; tracing off) and two without. Each factory's
// template sends a block of records synchronously (200) and, as another
// variant, asynchronously (5,000, then Flush) per round, all to the same
// two topics.
//
// Two clients of each kind, because two clients of the same kind differ
// by a few percent in a run (their connections, partition choices and
// buffers are their own), which would otherwise be taken for the cost of
// metrics. Reported:
//
//   - ratio-template-metrics and ratio-template-async-metrics: the median
//     over rounds of the plain pair's time over the metered pair's
//     (throughput with metrics relative to without; the goal is 0.95 or
//     more), and cpu-ratio-… the same of the process's CPU time;
//   - sum-ratio-…: the same ratios of the times summed over all rounds;
//   - aa-ratio-template and aa-ratio-template-async: one plain client over
//     the other, medians like the ratios: what the benchmark cannot tell
//     from noise (1 when it is exact).
func BenchmarkSendMetrics(b *testing.B) {
	const (
		syncBlock  = 200
		asyncBlock = 5000
	)
	topics := []string{"metrics-sync", "metrics-async"}
	addrs := startBroker(b, topics...)
	ev := benchEv()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	// Created alternately, so that neither kind is always the older.
	tmpls := []*Template{
		newFactory(b, addrs, nil, WithMeterProvider(mp)).Template(),
		newFactory(b, addrs, nil).Template(),
		newFactory(b, addrs, nil, WithMeterProvider(mp)).Template(),
		newFactory(b, addrs, nil).Template(),
	}
	names := []string{"metered-a", "plain-a", "metered-b", "plain-b"}
	var variants []benchrun.Variant
	for k, t := range tmpls {
		variants = append(variants,
			benchrun.Variant{Name: "sync-" + names[k], Run: func() { sendBlock(b, t, "metrics-sync", ev, syncBlock) }},
			benchrun.Variant{Name: "async-" + names[k], Run: func() { sendAsyncBlock(b, t, "metrics-async", ev, asyncBlock) }})
	}
	s := benchrun.Run(b, variants)
	// Variant 2k is factory k's synchronous block, 2k+1 its asynchronous one.
	for _, c := range []struct {
		name   string
		first  int // 0 sync, 1 async
		sends  int
		metric string
	}{{"template", 0, syncBlock, "template-metrics"}, {"template-async", 1, asyncBlock, "template-async-metrics"}} {
		metered, plain := []int{c.first, 4 + c.first}, []int{2 + c.first, 6 + c.first}
		perSend := func(vs []int) float64 {
			return float64(s.Total(vs...).Nanoseconds()) / float64(len(vs)*s.Rounds()*c.sends)
		}
		b.ReportMetric(perSend(metered), c.metric+"-ns/send")
		b.ReportMetric(perSend(plain), c.name+"-plain-ns/send")
		ratio, cpu := s.MedianRatio(metered, plain), s.MedianCPURatio(metered, plain)
		aa := s.MedianRatio([]int{6 + c.first}, []int{2 + c.first})
		b.ReportMetric(ratio, "ratio-"+c.metric)
		b.ReportMetric(cpu, "cpu-ratio-"+c.metric)
		b.ReportMetric(s.Ratio(metered, plain), "sum-ratio-"+c.metric)
		b.ReportMetric(aa, "aa-ratio-"+c.name)
		b.Logf("%s with metrics against without: ratio %.3f, CPU time %.3f (two clients without: %.3f)", c.name, ratio, cpu, aa)
	}
}

// sendBlock sends n events synchronously with t.
func sendBlock(b *testing.B, t *Template, topic string, ev benchEvent, n int) {
	for range n {
		if _, err := t.Send(context.Background(), topic, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// sendAsyncBlock sends n events asynchronously with t, then flushes.
func sendAsyncBlock(b *testing.B, t *Template, topic string, ev benchEvent, n int) {
	for range n {
		t.SendAsync(context.Background(), topic, ev)
	}
	if err := t.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
}
