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
// caused by another. Ratios are franz-go ns/op divided by template ns/op
// (throughput relative to franz-go).
package template

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/serde"
)

type benchEvent struct {
	ID       int64             `json:"id"`
	Customer string            `json:"customer"`
	Items    []string          `json:"items"`
	Amount   float64           `json:"amount"`
	Labels   map[string]string `json:"labels"`
}

func BenchmarkSend(b *testing.B) {
	topics := []string{"bench-template", "bench-franz", "bench-template-async", "bench-franz-async", "bench-franz-async-json"}
	addrs := startBroker(b, topics...)
	f := newFactory(b, addrs, nil)
	tmpl := f.Template()
	cl := f.Client()
	ctx := context.Background()
	ev := benchEvent{ID: 42, Customer: "customer-42", Items: []string{"book", "pen", "lamp"}, Amount: 99.5,
		Labels: map[string]string{"region": "eu", "channel": "web"}}
	payload, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	// The header the template's default serializer writes, built once and
	// shared by the franz-go records (franz-go does not modify headers).
	headers := []kgo.RecordHeader{{Key: serde.TypeIDHeader, Value: []byte(serde.DefaultTypeName(reflect.TypeOf(ev)))}}
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
