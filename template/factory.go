package template

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/twmb/franz-go/pkg/kerr"
	"log/slog"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/internal/connwatch"
	"github.com/kafkaboot/kafkaboot/internal/kgolog"
	"github.com/kafkaboot/kafkaboot/internal/telemetry"
)

// ErrClosed is returned by a closed [ProducerFactory].
var ErrClosed = errors.New("producer factory closed")

// ProducerFactory owns the franz-go producer clients built from the
// configuration: one shared non-transactional client, and any number of
// transactional clients (one per transactional id).
//
// The shared client is created eagerly by [NewProducerFactory], so option
// errors (bad TLS files, conflicting settings) surface at startup. This is
// cheap: franz-go connects to brokers lazily, on first use. Transactional
// clients are created on demand by [ProducerFactory.NewTransactional].
//
// Every client gets [Partitioner] (so templates honour the Partition
// option) and the kafka.producer.* settings; extra kgo options given with
// [WithClientOpts] are applied last and win.
type ProducerFactory struct {
	kafka    config.Kafka
	extra    []kgo.Opt
	logger   *slog.Logger
	logLevel kgo.LogLevel // kafka.client.log-level
	// watch follows the shared client's broker connections: it logs
	// outages and names their cause in the errors of sends that give up.
	watch *connwatch.Watcher
	// otel selects OpenTelemetry's providers; tel instruments every
	// client of the factory and its templates.
	otel telemetry.Config
	tel  *telemetry.Producer

	mu     sync.Mutex
	shared *kgo.Client
	txs    map[string]*kgo.Client // by transactional id
	closed bool
}

// FactoryOption configures a [ProducerFactory].
type FactoryOption interface{ applyFactory(*ProducerFactory) }

type factoryFunc func(*ProducerFactory)

func (f factoryFunc) applyFactory(p *ProducerFactory) { f(p) }

// WithClientOpts appends franz-go options to every client the factory
// creates, after the configuration-derived ones (so they take precedence).
func WithClientOpts(opts ...kgo.Opt) FactoryOption {
	return factoryFunc(func(p *ProducerFactory) { p.extra = append(p.extra, opts...) })
}

// WithClientLogger sets the factory's logger (default slog.Default()):
// where outages are said, and where franz-go's client logs go from
// kafka.client.log-level up.
func WithClientLogger(l *slog.Logger) FactoryOption {
	return factoryFunc(func(p *ProducerFactory) { p.logger = l })
}

// WithMeterProvider records the producer metrics (records and bytes sent,
// send latency, failures; OpenTelemetry's messaging conventions) with mp.
// The latency of every synchronous send is recorded, and of one
// asynchronous send in 64 (timing each would cost a tenth of the send);
// the counts of records are exact. Without it there are none, at no cost.
func WithMeterProvider(mp metric.MeterProvider) FactoryOption {
	return factoryFunc(func(p *ProducerFactory) { p.otel.MeterProvider = mp })
}

// WithTracerProvider gives every record sent a "send <topic>" span from
// tp, child of the send's context, and carries its trace context in the
// record's headers (W3C traceparent by default), so that the listener
// handling the record continues the trace. Without it nothing is traced,
// at no cost.
func WithTracerProvider(tp trace.TracerProvider) FactoryOption {
	return factoryFunc(func(p *ProducerFactory) { p.otel.TracerProvider = tp })
}

// WithPropagator sets how trace context is written into record headers
// (default: W3C trace context and baggage).
func WithPropagator(prop propagation.TextMapPropagator) FactoryOption {
	return factoryFunc(func(p *ProducerFactory) { p.otel.Propagator = prop })
}

// NewProducerFactory creates the factory and its shared producer client
// from cfg.Kafka (see config.Kafka.ProducerOpts for the mapping).
func NewProducerFactory(cfg *config.Config, opts ...FactoryOption) (*ProducerFactory, error) {
	if cfg == nil {
		return nil, errors.New("template: producer factory: nil config")
	}
	f := &ProducerFactory{kafka: cfg.Kafka, txs: map[string]*kgo.Client{}}
	for _, o := range opts {
		o.applyFactory(f)
	}
	base, err := f.kafka.ProducerOpts()
	if err != nil {
		return nil, fmt.Errorf("template: producer factory: %w", err)
	}
	if f.logger == nil {
		f.logger = slog.Default()
	}
	if f.logLevel, err = kgolog.ParseLevel(f.kafka.Client.LogLevel); err != nil {
		return nil, fmt.Errorf("template: producer factory: %w", err)
	}
	if f.tel, err = telemetry.NewProducer(f.otel); err != nil {
		return nil, fmt.Errorf("template: producer factory: %w", err)
	}
	cl, watch, err := f.newClient("producer", base)
	if err != nil {
		return nil, fmt.Errorf("template: producer factory: %w", err)
	}
	f.shared, f.watch = cl, watch
	return f, nil
}

// newClient creates a client with base and the factory's options, and
// the connection watcher (named name in its logs) it is created with.
func (f *ProducerFactory) newClient(name string, base []kgo.Opt) (*kgo.Client, *connwatch.Watcher, error) {
	watch := connwatch.New(name, f.logger)
	// Like Kafka's Java producer, let the broker create a topic it does
	// not know when its auto.create.topics.enable says so (a dead-letter
	// topic, typically); franz-go asks for that only when told.
	opts := append(base, kgo.RecordPartitioner(Partitioner(nil)), kgo.AllowAutoTopicCreation())
	if o := kgolog.Opt(f.logger, f.logLevel, watch.IsDown); o != nil {
		opts = append(opts, o)
	}
	if hs := f.tel.Hooks(); len(hs) > 0 {
		opts = append(opts, kgo.WithHooks(hs...))
	}
	opts = append(opts, kgo.WithHooks(watch))
	cl, err := kgo.NewClient(append(opts, f.extra...)...)
	return cl, watch, err
}

// templateOpts are the options of a template on one of the factory's
// clients, opts last.
func (f *ProducerFactory) templateOpts(watch *connwatch.Watcher, opts []Option) []Option {
	return append([]Option{WithDefaultTopic(f.kafka.Template.DefaultTopic), withWatcher(watch),
		withTelemetry(f.tel), withDeliveryTimeout(f.kafka.Producer.DeliveryTimeout)}, opts...)
}

// Client returns the shared non-transactional producer client. Do not
// close it yourself; use [ProducerFactory.Close].
func (f *ProducerFactory) Client() *kgo.Client { return f.shared }

// Template returns a template on the shared client, with the default topic
// from kafka.template.default-topic; opts are applied after that.
func (f *ProducerFactory) Template(opts ...Option) *Template {
	return New(f.shared, f.templateOpts(f.watch, opts)...)
}

// NewTransactional creates a transactional producer client with the
// transactional id kafka.producer.transactional-id-prefix + suffix. The
// prefix must be configured. Ids must be unique among running producers
// (a newer producer with the same id fences the older one), so each
// application instance needs its own suffix; asking twice for the same id
// on one factory is an error. The factory closes the client on Close.
func (f *ProducerFactory) NewTransactional(suffix string) (*kgo.Client, error) {
	cl, _, err := f.newTransactional(suffix)
	return cl, err
}

// newTransactional is NewTransactional, also returning the client's
// connection watcher.
func (f *ProducerFactory) newTransactional(suffix string) (*kgo.Client, *connwatch.Watcher, error) {
	base, err := f.kafka.TransactionalProducerOpts(suffix)
	if err != nil {
		return nil, nil, fmt.Errorf("template: transactional producer: %w", err)
	}
	id := f.kafka.Producer.TransactionalIDPrefix + suffix
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, nil, ErrClosed
	}
	if _, dup := f.txs[id]; dup {
		return nil, nil, fmt.Errorf("template: transactional producer %q already exists", id)
	}
	cl, watch, err := f.newClient("producer "+id, base)
	if err != nil {
		return nil, nil, fmt.Errorf("template: transactional producer %q: %w", id, err)
	}
	f.txs[id] = cl
	return cl, watch, nil
}

// TransactionalTemplate is NewTransactional plus a template on the new
// client (default topic from the configuration, then opts).
func (f *ProducerFactory) TransactionalTemplate(suffix string, opts ...Option) (*Template, error) {
	cl, watch, err := f.newTransactional(suffix)
	if err != nil {
		return nil, err
	}
	return New(cl, f.templateOpts(watch, opts)...), nil
}

// Close flushes the shared client (bounded by ctx, and by
// kafka.producer.delivery-timeout, after which no record can be waited
// for anyway) and closes all clients. Records still buffered then are
// failed. Transactional clients
// are closed without committing: finish transactions first. Close is
// idempotent; later calls return nil.
func (f *ProducerFactory) Close(ctx context.Context) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	txs := f.txs
	f.txs = nil
	f.mu.Unlock()

	if d := f.kafka.Producer.DeliveryTimeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	var err error
	if ferr := f.shared.Flush(ctx); ferr != nil {
		err = fmt.Errorf("template: close: flush: %w", withCause(ferr, f.watch.LastError()))
	}
	for _, cl := range txs {
		cl.Close()
	}
	f.shared.Close()
	f.tel.Close()
	return err
}

// Connectivity reports whether the shared client's last attempt to
// connect to a broker succeeded and, when not, the error it met. A client
// that has not needed a new connection lately reports its last state:
// kafkaboot.Health confirms an outage with a request.
func (f *ProducerFactory) Connectivity() (reachable bool, lastErr error) {
	down, _ := f.watch.Down()
	return !down, f.watch.LastError()
}

// ErrAuthentication is wrapped by CheckSecurity's error when the brokers
// refuse the client's credentials or certificate, or the client refuses
// theirs.
var ErrAuthentication = errors.New("template: authentication failed")

// CheckSecurity connects to a broker of the shared client and reports a
// failed authentication at once: SASL credentials refused
// (SASL_AUTHENTICATION_FAILED), a mechanism the broker does not enable, a
// server certificate the client does not trust, or a client certificate
// the broker does not accept. These do not heal by retrying, unlike a
// broker that cannot be reached, which CheckSecurity leaves to the
// connection watcher (nil: it is logged, and sends wait for it within
// their deadlines). ctx bounds the check.
func (f *ProducerFactory) CheckSecurity(ctx context.Context) error {
	err := f.shared.Ping(ctx)
	if err == nil || !authFailure(err) {
		return nil
	}
	sec := f.kafka.Security
	who := ""
	if sec.SASL.Mechanism != "" {
		who = fmt.Sprintf(", %s user %q", sec.SASL.Mechanism, sec.SASL.Username)
	}
	return fmt.Errorf("%w: kafka.security (protocol %s%s) against %v: %w", ErrAuthentication, sec.Protocol, who, f.kafka.BootstrapServers, err)
}

// authFailure reports whether err is an authentication failure rather than
// an unreachable broker.
func authFailure(err error) bool {
	for _, e := range []error{kerr.SaslAuthenticationFailed, kerr.IllegalSaslState, kerr.UnsupportedSaslMechanism, kerr.ClusterAuthorizationFailed} {
		if errors.Is(err, e) {
			return true
		}
	}
	var (
		unknownCA   x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalid     x509.CertificateInvalidError
		verifyError *tls.CertificateVerificationError
		alert       tls.AlertError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verifyError) || errors.As(err, &alert) {
		return true
	}
	// franz-go's words for a broker that closed the connection on the
	// SASL handshake: a SASL client against a listener without SASL.
	return strings.Contains(err.Error(), "is SASL missing?")
}
