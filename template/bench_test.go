package template

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

type benchEvent struct {
	ID       int64             `json:"id"`
	Customer string            `json:"customer"`
	Items    []string          `json:"items"`
	Amount   float64           `json:"amount"`
	Labels   map[string]string `json:"labels"`
}

// BenchmarkSend compares a synchronous Template.Send of a JSON struct with
// a franz-go ProduceSync of the same pre-encoded bytes, on the same client
// and broker. The "-async" variants compare SendAsync with Produce, which
// is throughput-bound rather than round-trip-bound and so shows the
// template's CPU overhead (serialization, headers, hooks) more clearly.
func BenchmarkSend(b *testing.B) {
	addrs := startBroker(b, "bench")
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
	// Warm up metadata and connections.
	if _, err := tmpl.Send(ctx, "bench", ev); err != nil {
		b.Fatal(err)
	}

	b.Run("template", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tmpl.Send(ctx, "bench", ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("franz-go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "bench", Value: payload}).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("template-async", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tmpl.SendAsync(ctx, "bench", ev)
		}
		if err := tmpl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("franz-go-async", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cl.Produce(ctx, &kgo.Record{Topic: "bench", Value: payload}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	})
}
