package config

// This file is the one place where configuration is translated into
// franz-go client options.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// ClientOpts returns the options common to every client: seed brokers,
// client id, TLS and SASL. TLS files are read here, so an unreadable or
// malformed file fails here (and not at [Load]).
//
// Most callers want [Kafka.ProducerOpts] or [Kafka.ConsumerOpts], which
// include these options.
func (k *Kafka) ClientOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(k.BootstrapServers...)}
	if k.ClientID != "" {
		opts = append(opts, kgo.ClientID(k.ClientID))
	}
	s := &k.Security
	proto := strings.ToUpper(s.Protocol)
	if proto == ProtocolSSL || proto == ProtocolSASLSSL {
		tc, err := s.TLS.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if proto == ProtocolSASLPlaintext || proto == ProtocolSASLSSL {
		a := &s.SASL
		switch strings.ToUpper(a.Mechanism) {
		case MechanismPlain:
			opts = append(opts, kgo.SASL(plain.Auth{User: a.Username, Pass: a.Password}.AsMechanism()))
		case MechanismScramSHA256:
			opts = append(opts, kgo.SASL(scram.Auth{User: a.Username, Pass: a.Password}.AsSha256Mechanism()))
		case MechanismScramSHA512:
			opts = append(opts, kgo.SASL(scram.Auth{User: a.Username, Pass: a.Password}.AsSha512Mechanism()))
		default:
			return nil, &FieldError{Key: "kafka.security.sasl.mechanism", Msg: fmt.Sprintf("must be one of PLAIN SCRAM-SHA-256 SCRAM-SHA-512, got %q", a.Mechanism)}
		}
	}
	return opts, nil
}

// tlsConfig builds a crypto/tls configuration (TLS 1.2 minimum).
func (t *TLS) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // explicit opt-in, documented as test-only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, &FieldError{Key: "kafka.security.tls.ca-file", Msg: err.Error(), Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &FieldError{Key: "kafka.security.tls.ca-file", Msg: fmt.Sprintf("no PEM certificates found in %q", t.CAFile)}
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, &FieldError{Key: "kafka.security.tls.cert-file", Msg: fmt.Sprintf("load key pair (%q, %q): %v", t.CertFile, t.KeyFile, err), Err: err}
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// ProducerOpts returns everything needed to build a non-transactional
// producer client: [Kafka.ClientOpts] followed by the kafka.producer.*
// settings. Mapping:
//
//	acks              -> kgo.RequiredAcks (all/-1: AllISRAcks, 1: LeaderAck, 0: NoAck)
//	idempotence       -> kgo.DisableIdempotentWrite when off; off implicitly
//	                     when acks is not all and idempotence is unset
//	compression       -> kgo.ProducerBatchCompression
//	linger            -> kgo.ProducerLinger
//	batch-size        -> kgo.ProducerBatchMaxBytes
//	retries           -> kgo.RecordRetries
//	delivery-timeout  -> not a client option: the template enforces it on
//	                     each send (kgo.RecordDeliveryTimeout measures from
//	                     the record's timestamp, so a send with an explicit
//	                     older timestamp would fail at once)
//	client-id         -> kgo.ClientID (overrides kafka.client-id)
//	properties        -> see SupportedProducerProperties
//
// Callers may append more options (a partitioner, a logger); later options
// override earlier ones.
func (k *Kafka) ProducerOpts() ([]kgo.Opt, error) {
	opts, err := k.ClientOpts()
	if err != nil {
		return nil, err
	}
	p := &k.Producer
	acks := strings.ToLower(p.Acks)
	allAcks := acks == "all" || acks == "-1" || acks == ""
	switch acks {
	case "all", "-1", "":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		return nil, &FieldError{Key: "kafka.producer.acks", Msg: fmt.Sprintf("must be one of all 1 0 -1, got %q", p.Acks)}
	}
	if p.Idempotence != nil && *p.Idempotence && !allAcks {
		return nil, &FieldError{Key: "kafka.producer.idempotence", Msg: fmt.Sprintf("idempotence requires kafka.producer.acks=all, got acks %q", p.Acks)}
	}
	if !p.IdempotenceEnabled() {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if p.Compression != "" {
		var c kgo.CompressionCodec
		switch strings.ToLower(p.Compression) {
		case "none":
			c = kgo.NoCompression()
		case "gzip":
			c = kgo.GzipCompression()
		case "snappy":
			c = kgo.SnappyCompression()
		case "lz4":
			c = kgo.Lz4Compression()
		case "zstd":
			c = kgo.ZstdCompression()
		default:
			return nil, &FieldError{Key: "kafka.producer.compression", Msg: fmt.Sprintf("must be one of none gzip snappy lz4 zstd, got %q", p.Compression)}
		}
		opts = append(opts, kgo.ProducerBatchCompression(c))
	}
	if p.Linger != nil {
		opts = append(opts, kgo.ProducerLinger(*p.Linger))
	}
	if p.BatchSize > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(min(p.BatchSize, 1<<31-1))))
	}
	if p.Retries != nil {
		opts = append(opts, kgo.RecordRetries(*p.Retries))
	}
	if p.ClientID != "" {
		opts = append(opts, kgo.ClientID(p.ClientID))
	}
	props, err := propertyOpts("kafka.producer.properties", p.Properties, producerProps)
	if err != nil {
		return nil, err
	}
	return append(opts, props...), nil
}

// TransactionalProducerOpts returns [Kafka.ProducerOpts] plus
// kgo.TransactionalID(prefix+suffix) and kgo.TransactionTimeout. It fails
// if kafka.producer.transactional-id-prefix is empty or if idempotence is
// disabled (transactions require it).
//
// Transactional ids must be unique among concurrently running producers
// (a second producer with the same id fences the first); choose suffixes
// accordingly, for example an instance id plus a counter.
func (k *Kafka) TransactionalProducerOpts(suffix string) ([]kgo.Opt, error) {
	p := &k.Producer
	if p.TransactionalIDPrefix == "" {
		return nil, &FieldError{Key: "kafka.producer.transactional-id-prefix", Msg: "is required for a transactional producer"}
	}
	if !p.IdempotenceEnabled() {
		return nil, &FieldError{Key: "kafka.producer.transactional-id-prefix", Msg: "transactions require kafka.producer.idempotence=true and kafka.producer.acks=all"}
	}
	opts, err := k.ProducerOpts()
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.TransactionalID(p.TransactionalIDPrefix+suffix))
	if p.TransactionTimeout > 0 {
		opts = append(opts, kgo.TransactionTimeout(p.TransactionTimeout))
	}
	return opts, nil
}

// ConsumerOpts returns [Kafka.ClientOpts] followed by the
// kafka.consumer.* settings, for the given consumer group (empty means
// kafka.consumer.group-id; if that is empty too, no group option is added
// and the caller must assign partitions directly). Mapping:
//
//	group              -> kgo.ConsumerGroup
//	auto-offset-reset  -> kgo.ConsumeResetOffset (earliest: AtStart, latest: AtEnd, none: NoResetOffset)
//	isolation-level    -> kgo.FetchIsolationLevel
//	session-timeout, rebalance-timeout, heartbeat-interval -> the kgo options of the same name
//	fetch-max-wait, fetch-min-bytes, fetch-max-bytes, max-partition-fetch-bytes -> kgo.FetchMaxWait, ...
//	client-id          -> kgo.ClientID (overrides kafka.client-id)
//	properties         -> see SupportedConsumerProperties
//
// The topics to consume, commit behaviour (a listener container typically
// adds kgo.DisableAutoCommit and kgo.BlockRebalanceOnPoll) and
// max-poll-records (an argument of PollRecords, not a client option) are
// left to the caller.
func (k *Kafka) ConsumerOpts(group string) ([]kgo.Opt, error) {
	opts, err := k.ClientOpts()
	if err != nil {
		return nil, err
	}
	c := &k.Consumer
	if group == "" {
		group = c.GroupID
	}
	if group != "" {
		opts = append(opts, kgo.ConsumerGroup(group))
		if c.SessionTimeout > 0 {
			opts = append(opts, kgo.SessionTimeout(c.SessionTimeout))
		}
		if c.RebalanceTimeout > 0 {
			opts = append(opts, kgo.RebalanceTimeout(c.RebalanceTimeout))
		}
		if c.HeartbeatInterval > 0 {
			opts = append(opts, kgo.HeartbeatInterval(c.HeartbeatInterval))
		}
	}
	switch strings.ToLower(c.AutoOffsetReset) {
	case "earliest":
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	case "latest", "":
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	case "none":
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NoResetOffset()))
	default:
		return nil, &FieldError{Key: "kafka.consumer.auto-offset-reset", Msg: fmt.Sprintf("must be one of earliest latest none, got %q", c.AutoOffsetReset)}
	}
	switch strings.ToLower(c.IsolationLevel) {
	case "read_committed":
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	case "read_uncommitted", "":
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	default:
		return nil, &FieldError{Key: "kafka.consumer.isolation-level", Msg: fmt.Sprintf("must be one of read_uncommitted read_committed, got %q", c.IsolationLevel)}
	}
	if c.FetchMaxWait > 0 {
		opts = append(opts, kgo.FetchMaxWait(c.FetchMaxWait))
	}
	if c.FetchMinBytes > 0 {
		opts = append(opts, kgo.FetchMinBytes(int32(min(c.FetchMinBytes, 1<<31-1))))
	}
	if c.FetchMaxBytes > 0 {
		opts = append(opts, kgo.FetchMaxBytes(int32(min(c.FetchMaxBytes, 1<<31-1))))
	}
	if c.MaxPartitionFetchBytes > 0 {
		opts = append(opts, kgo.FetchMaxPartitionBytes(int32(min(c.MaxPartitionFetchBytes, 1<<31-1))))
	}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	props, err := propertyOpts("kafka.consumer.properties", c.Properties, consumerProps)
	if err != nil {
		return nil, err
	}
	opts = append(opts, props...)
	protocol, assignor, err := c.EffectiveGroupProtocol()
	if err != nil {
		return nil, err
	}
	if protocol == "consumer" && group != "" {
		// franz-go joins with KIP-848 when asked to and its first
		// balancer is the sticky (uniform) or range one.
		b := kgo.StickyBalancer()
		if assignor == "range" {
			b = kgo.RangeBalancer()
		}
		opts = append(opts, kgo.ServerSideBalancer(), kgo.Balancers(b))
	}
	return opts, nil
}

// ClassicGroupSettings names the kafka.consumer settings that are set
// and that only the classic group protocol takes (session-timeout,
// heartbeat-interval, and the partition.assignment.strategy,
// session.timeout.ms and heartbeat.interval.ms properties).
func (c *Consumer) ClassicGroupSettings() []string {
	var out []string
	if c.SessionTimeout > 0 {
		out = append(out, "kafka.consumer.session-timeout")
	}
	if c.HeartbeatInterval > 0 {
		out = append(out, "kafka.consumer.heartbeat-interval")
	}
	for _, p := range []string{"partition.assignment.strategy", "session.timeout.ms", "heartbeat.interval.ms"} {
		if _, ok := c.Properties[p]; ok {
			out = append(out, "kafka.consumer.properties."+p)
		}
	}
	return out
}

// EffectiveGroupProtocol returns the group protocol and remote assignor
// of kafka.consumer.group-protocol and group-remote-assignor, or of the
// group.protocol and group.remote.assignor properties (setting both a key
// and its property is an error), and checks that the consumer protocol
// comes without client-side assignors and session settings, as Kafka's
// consumer does.
func (c *Consumer) EffectiveGroupProtocol() (protocol, assignor string, err error) {
	pick := func(key, value, prop string) (string, error) {
		pv, ok := c.Properties[prop]
		switch {
		case !ok:
			return strings.ToLower(value), nil
		case value != "":
			return "", &FieldError{Key: key, Msg: "set both here and as kafka.consumer.properties." + prop + "; keep one"}
		}
		return strings.ToLower(strings.TrimSpace(pv)), nil
	}
	if protocol, err = pick("kafka.consumer.group-protocol", c.GroupProtocol, "group.protocol"); err != nil {
		return "", "", err
	}
	if assignor, err = pick("kafka.consumer.group-remote-assignor", c.GroupRemoteAssignor, "group.remote.assignor"); err != nil {
		return "", "", err
	}
	if protocol != "consumer" {
		if assignor != "" {
			return "", "", &FieldError{Key: "kafka.consumer.group-remote-assignor", Msg: "needs kafka.consumer.group-protocol=consumer"}
		}
		return protocol, "", nil
	}
	var errs []error
	for _, key := range c.ClassicGroupSettings() {
		errs = append(errs, &FieldError{Key: key, Msg: "not supported with group-protocol=consumer: the broker assigns partitions " +
			"(group-remote-assignor) and sets the session timeout and heartbeat interval (its group.consumer.* configs)"})
	}
	return protocol, assignor, joinErrs(errs)
}

// ---------------------------------------------------------------------------
// Java client properties

// propFn translates one property value into a franz-go option.
type propFn func(v string) (kgo.Opt, error)

func msProp(f func(time.Duration) kgo.Opt) propFn {
	return func(v string) (kgo.Opt, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("expected a non-negative number of milliseconds, got %q", v)
		}
		return f(time.Duration(n) * time.Millisecond), nil
	}
}

func intProp(f func(int) kgo.Opt) propFn {
	return func(v string) (kgo.Opt, error) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("expected a positive integer, got %q", v)
		}
		return f(n), nil
	}
}

func int32Prop(f func(int32) kgo.Opt) propFn {
	return func(v string) (kgo.Opt, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("expected a positive 32-bit integer, got %q", v)
		}
		return f(int32(n)), nil
	}
}

func boolProp(f func() kgo.Opt) propFn {
	return func(v string) (kgo.Opt, error) {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("expected true or false, got %q", v)
		}
		if !b {
			return nil, nil
		}
		return f(), nil
	}
}

func strProp(f func(string) kgo.Opt) propFn {
	return func(v string) (kgo.Opt, error) { return f(strings.TrimSpace(v)), nil }
}

var commonProps = map[string]propFn{
	"metadata.max.age.ms":                msProp(func(d time.Duration) kgo.Opt { return kgo.MetadataMaxAge(d) }),
	"connections.max.idle.ms":            msProp(func(d time.Duration) kgo.Opt { return kgo.ConnIdleTimeout(d) }),
	"socket.connection.setup.timeout.ms": msProp(func(d time.Duration) kgo.Opt { return kgo.DialTimeout(d) }),
	"retry.backoff.ms": msProp(func(d time.Duration) kgo.Opt {
		return kgo.RetryBackoffFn(func(int) time.Duration { return d })
	}),
	"allow.auto.create.topics": boolProp(kgo.AllowAutoTopicCreation),
}

var producerProps = merged(commonProps, map[string]propFn{
	"buffer.memory":                         intProp(func(n int) kgo.Opt { return kgo.MaxBufferedBytes(n) }),
	"max.in.flight.requests.per.connection": intProp(func(n int) kgo.Opt { return kgo.MaxProduceRequestsInflightPerBroker(n) }),
	"request.timeout.ms":                    msProp(func(d time.Duration) kgo.Opt { return kgo.ProduceRequestTimeout(d) }),
	"max.request.size":                      int32Prop(func(n int32) kgo.Opt { return kgo.BrokerMaxWriteBytes(n) }),
	"transaction.timeout.ms":                msProp(func(d time.Duration) kgo.Opt { return kgo.TransactionTimeout(d) }),
})

var consumerProps = merged(commonProps, map[string]propFn{
	"client.rack": strProp(func(s string) kgo.Opt { return kgo.Rack(s) }),
	// Checked and applied by ConsumerOpts (see EffectiveGroupProtocol).
	"group.protocol":        oneOfProp("classic", "consumer"),
	"group.remote.assignor": oneOfProp("uniform", "range"),
	"group.instance.id":     strProp(func(s string) kgo.Opt { return kgo.InstanceID(s) }),
	"partition.assignment.strategy": func(v string) (kgo.Opt, error) {
		var bs []kgo.GroupBalancer
		for _, name := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "range", "org.apache.kafka.clients.consumer.rangeassignor":
				bs = append(bs, kgo.RangeBalancer())
			case "roundrobin", "org.apache.kafka.clients.consumer.roundrobinassignor":
				bs = append(bs, kgo.RoundRobinBalancer())
			case "sticky", "org.apache.kafka.clients.consumer.stickyassignor":
				bs = append(bs, kgo.StickyBalancer())
			case "cooperative-sticky", "org.apache.kafka.clients.consumer.cooperativestickyassignor":
				bs = append(bs, kgo.CooperativeStickyBalancer())
			default:
				return nil, fmt.Errorf("unknown assignor %q (use range, roundrobin, sticky, cooperative-sticky)", name)
			}
		}
		return kgo.Balancers(bs...), nil
	},
})

func merged(a, b map[string]propFn) map[string]propFn {
	m := make(map[string]propFn, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

// SupportedProducerProperties lists the Java producer property names
// accepted in kafka.producer.properties. Any other name is rejected rather
// than silently ignored.
func SupportedProducerProperties() []string { return slices.Sorted(maps.Keys(producerProps)) }

// SupportedConsumerProperties lists the Java consumer property names
// accepted in kafka.consumer.properties.
func SupportedConsumerProperties() []string { return slices.Sorted(maps.Keys(consumerProps)) }

func propertyOpts(prefix string, props map[string]string, table map[string]propFn) ([]kgo.Opt, error) {
	var (
		opts []kgo.Opt
		errs []error
	)
	for _, name := range sortedKeys(props) {
		fn, ok := table[name]
		if !ok {
			errs = append(errs, &FieldError{
				Key: prefix + "." + name,
				Msg: fmt.Sprintf("unsupported client property (supported: %s)", strings.Join(slices.Sorted(maps.Keys(table)), ", ")),
				Err: ErrUnknownKey,
			})
			continue
		}
		o, err := fn(props[name])
		if err != nil {
			errs = append(errs, &FieldError{Key: prefix + "." + name, Msg: err.Error()})
			continue
		}
		if o != nil {
			opts = append(opts, o)
		}
	}
	if err := joinErrs(errs); err != nil {
		return nil, err
	}
	return opts, nil
}

// oneOfProp accepts one of values (case-insensitive) and adds no option:
// the property is read where it applies.
func oneOfProp(values ...string) propFn {
	return func(v string) (kgo.Opt, error) {
		if !slices.Contains(values, strings.ToLower(strings.TrimSpace(v))) {
			return nil, fmt.Errorf("want one of %s, got %q", strings.Join(values, ", "), v)
		}
		return nil, nil
	}
}
