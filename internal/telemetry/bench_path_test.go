package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kafkaboot/kafkaboot/internal/telemetry"
)

// BenchmarkListenerPath is what a listener container's worker does with
// the instrumentation for each record of a fast handler: decide whether
// to time the call (every retry, one call in 64), read the clock if so,
// ProcessAt and End, and count the successes once per chunk of 500. Its
// sub-benchmarks, off and metrics (SDK meter provider, manual reader),
// give the cost metrics add per record, to set against the container's
// time per record in BenchmarkContainer.
func BenchmarkListenerPath(b *testing.B) {
	r := &kgo.Record{Topic: "orders", Partition: 1}
	ctx := context.Background()
	run := func(b *testing.B, cons *telemetry.Consumer) {
		var calls uint64
		succeeded := 0
		b.ReportAllocs()
		for b.Loop() {
			calls++
			measure := cons.MetricsEnabled() && calls%64 == 0
			var start time.Time
			if measure {
				start = time.Now()
			}
			_, p := cons.ProcessAt(ctx, r, 1, start, measure)
			p.End(nil)
			if succeeded++; succeeded == 500 {
				cons.Records("orders", telemetry.OutcomeSuccess, succeeded)
				succeeded = 0
			}
		}
	}
	b.Run("off", func(b *testing.B) {
		cons, err := telemetry.NewConsumer(telemetry.Config{}, "l", "g")
		if err != nil {
			b.Fatal(err)
		}
		run(b, cons)
	})
	b.Run("metrics", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		cons, err := telemetry.NewConsumer(telemetry.Config{MeterProvider: mp}, "l", "g")
		if err != nil {
			b.Fatal(err)
		}
		run(b, cons)
	})
}
