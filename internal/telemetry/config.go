package telemetry

import (
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every meter and tracer the
// package creates.
const ScopeName = "github.com/kafkaboot/kafkaboot"

// Config selects the providers. A nil MeterProvider disables metrics, a nil
// TracerProvider disables tracing; a nil Propagator means
// propagation.NewCompositeTextMapPropagator(propagation.TraceContext{},
// propagation.Baggage{}). The propagator is only used with tracing on.
type Config struct {
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
}

// Enabled reports whether either provider is set.
func (c Config) Enabled() bool {
	return c.MeterProvider != nil || c.TracerProvider != nil
}

func (c Config) propagator() propagation.TextMapPropagator {
	if c.Propagator != nil {
		return c.Propagator
	}
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

func (c Config) meter() metric.Meter {
	if c.MeterProvider == nil {
		return nil
	}
	return c.MeterProvider.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
}

func (c Config) tracer() trace.Tracer {
	if c.TracerProvider == nil {
		return nil
	}
	return c.TracerProvider.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL))
}
