package kafkatest

import (
	"context"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
)

// Telemetry is OpenTelemetry in memory, for a test of what a service
// reports: the metrics and spans of kafkaboot's template, producers and
// listener containers (and the application's own), read back by name and
// attributes.
//
//	tel := kit.Telemetry()
//	app := kit.Start(tel.Provide(), billingListeners)
//	...
//	kit.Eventually("60 orders billed", func() error {
//		if n := tel.Counter("kafkaboot.listener.records", attribute.String("kafkaboot.outcome", "success")); n != 60 {
//			return fmt.Errorf("%d", n)
//		}
//		return nil
//	})
type Telemetry struct {
	// MeterProvider and TracerProvider are the providers; Provide gives
	// them to an application.
	MeterProvider  *sdkmetric.MeterProvider
	TracerProvider *sdktrace.TracerProvider
	reader         *sdkmetric.ManualReader
	spans          *tracetest.SpanRecorder
}

// Telemetry returns in-memory OpenTelemetry providers, shut down when the
// test ends.
func (k *Kit) Telemetry() *Telemetry {
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	tel := &Telemetry{
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		reader:         reader,
		spans:          spans,
	}
	k.t.Cleanup(func() {
		tel.MeterProvider.Shutdown(context.Background())
		tel.TracerProvider.Shutdown(context.Background())
	})
	return tel
}

// Provide gives an application the providers (kafkaboot.Module reports to
// the metric.MeterProvider and trace.TracerProvider it is given).
func (tel *Telemetry) Provide() fx.Option {
	return fx.Provide(func() metric.MeterProvider { return tel.MeterProvider },
		func() trace.TracerProvider { return tel.TracerProvider })
}

// Counter returns the value of the int64 counter (or up-down counter)
// named name, summed over the data points that have every one of attrs
// (all of them without attrs); 0 if there is none.
func (tel *Telemetry) Counter(name string, attrs ...attribute.KeyValue) int64 {
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		return 0
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if m.Name != name || !ok {
				continue
			}
			for _, p := range sum.DataPoints {
				if hasAll(p.Attributes.ToSlice(), attrs) {
					n += p.Value
				}
			}
		}
	}
	return n
}

// Spans returns the ended spans named name that have every one of attrs,
// in the order they ended.
func (tel *Telemetry) Spans(name string, attrs ...attribute.KeyValue) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tel.spans.Ended() {
		if s.Name() == name && hasAll(s.Attributes(), attrs) {
			out = append(out, s)
		}
	}
	return out
}

// Span returns the first ended span named name that has every one of
// attrs, or nil.
func (tel *Telemetry) Span(name string, attrs ...attribute.KeyValue) sdktrace.ReadOnlySpan {
	if s := tel.Spans(name, attrs...); len(s) > 0 {
		return s[0]
	}
	return nil
}

func hasAll(have, want []attribute.KeyValue) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
