// Package kafkaboot wires kafkaboot's parts into a go.uber.org/fx
// application, the way Spring Boot's auto-configuration wires Spring for
// Apache Kafka:
//
//	fx.New(
//		kafkaboot.Module, // config, producer factory, template, admin, containers
//		fx.Provide(NewBillingService),
//		kafkaboot.Listeners(func(s *BillingService) *Orders { return &Orders{Created: s.OnOrder} }),
//		fx.Invoke(func(t *template.Template) { ... }),
//	).Run()
//
// Module provides *config.Config (loaded from defaults, the YAML file named
// by KAFKABOOT_CONFIG and the environment; add config options with
// ConfigOptions), *template.ProducerFactory and *template.Template, *Admin
// (which creates kafka.admin.topics at start), and *Containers, which
// registers every struct given to Listeners and runs its listener
// containers: started after the admin on fx start, stopped gracefully (in
// flight records finished and committed) on fx stop, before the producer
// is flushed and closed. It also provides *Health, the application's
// liveness and readiness as the Kafka side sees them (also as the
// http.Handler named HealthHandler, to mount at /healthz and /readyz).
//
// When the application provides a metric.MeterProvider or a
// trace.TracerProvider (and optionally a propagation.TextMapPropagator),
// the producers and the listener containers record OpenTelemetry metrics
// and spans with them (see Telemetry); OpenTelemetry's global providers
// are never used. An *slog.Logger in the graph gets the framework's logs
// and franz-go's, from kafka.client.log-level up.
//
// Every constructor here is a plain function, usable without fx:
// NewConfig, NewProducerFactory, NewAdmin, NewContainers and NewHealth take what they
// need as arguments; their Start and Stop methods are what the fx hooks
// call.
package kafkaboot
