// Package config loads and validates kafkaboot's configuration.
//
// Configuration is a key tree modelled on Spring Boot's spring.kafka.*
// properties, rooted at "kafka." instead of "spring.kafka.", with kebab-case
// key names:
//
//	kafka:
//	  bootstrap-servers: broker-1:9092,broker-2:9092
//	  producer:
//	    acks: all
//	    linger: 5ms
//	  consumer:
//	    group-id: payments
//	  listener:
//	    ack-mode: record
//	app:
//	  topics:
//	    payments: payments.v1
//
// # Sources and precedence
//
// [Load] merges, from lowest to highest precedence: the built-in defaults
// (see [Default]), maps given with [WithDefaults], YAML files (given with
// [WithFile], or named by the KAFKABOOT_CONFIG environment variable when no
// file option is given), environment variables, and maps given with
// [WithValues] (meant for tests).
//
// # Environment variables
//
// Environment variables use the relaxed naming of Spring Boot: a key maps to
// its upper-case form with '.' and '-' replaced by '_', so
// KAFKA_PRODUCER_BATCH_SIZE sets kafka.producer.batch-size. Because that
// mapping is not reversible in general (is KAFKA_PRODUCER_BATCH_SIZE
// "producer.batch-size" or "producer.batch.size"?), KAFKA_* variables are
// matched against the known key tree derived from the struct tags of [Kafka].
// Variables that match no known key are ignored rather than rejected: many
// container images set unrelated KAFKA_* variables (KAFKA_HOME, KAFKA_OPTS).
// A near miss is an error, though: a variable that matches no key but is at
// most two edits away from one that does, or the same but for '_' and case,
// fails [Load] with the variable meant:
//
//	config: environment variable KAFKA_BOOTSTRAP_SERVER matches no key (did you mean KAFKA_BOOTSTRAP_SERVERS?)
//
// Map-valued keys take the rest of the name as the map key, lower-cased with
// '_' replaced by '.' (KAFKA_PRODUCER_PROPERTIES_MAX_REQUEST_SIZE sets
// property "max.request.size"); list elements are addressed by index
// (KAFKA_ADMIN_TOPICS_0_NAME), and an environment-provided list replaces a
// list from a file as a whole.
//
// Keys outside "kafka." (application keys used by placeholders, such as
// app.topics.payments) have no known tree; for those the environment is
// consulted by name: at load time for every key present in a file or map,
// and at [Config.Lookup] time for keys present nowhere else.
//
// # Validation
//
// Unknown keys under "kafka." and invalid values fail [Load] with the full
// key name, for example
//
//	config: kafka.producer.acks: must be one of all 1 0 -1, got "2"
//
// An unknown key close to a known one (at most two edits away, or the same
// but for '-', '_' and case) comes with a suggestion:
//
//	config: kafka.producer.ackz: unknown key (did you mean kafka.producer.acks?)
//
// Errors about a key say where it was set when it was set in a YAML file
// or by an environment variable, and YAML syntax errors name the line at
// fault (not always the line go.yaml.in/yaml/v3 names):
//
//	config: kafka.listener.ack-mode: must be one of record batch time count count-time manual manual-immediate, got "sometimes" (app.yaml line 4)
//	config: kafka.producer.acks: must be one of all 1 0 -1, got "3" (environment variable KAFKA_PRODUCER_ACKS)
//	config: app.yaml line 5: invalid YAML: did not find expected key in "   compression: lz4"
//
// All such errors match [ErrInvalid] with errors.Is and are (joined)
// [*FieldError] values; unknown keys and variables match [ErrUnknownKey]
// too. Unknown keys outside "kafka." are accepted: they belong to the
// application.
//
// # Coming from Spring Boot
//
// Where kafkaboot's key for a setting differs from Spring Boot's, Spring
// Boot's name (under kafka. instead of spring.kafka.) is accepted as an
// alias, so that keys pasted from a Spring Boot application.yml under
// kafka: mean what they meant there (see [SpringAliases]):
//
//	kafka.producer.transaction-id-prefix  kafka.producer.transactional-id-prefix
//	kafka.producer.compression-type       kafka.producer.compression
//	kafka.consumer.fetch-min-size         kafka.consumer.fetch-min-bytes
//	kafka.listener.idle-event-interval    kafka.listener.idle-interval
//	kafka.retry.topic.<key>               kafka.listener.retry.<key> (enabled, attempts, delay, multiplier, max-delay, ...)
//	kafka.retry.topic.backoff.delay       kafka.listener.retry.delay (also multiplier, max-delay: Spring Boot 3.4's names)
//	kafka.bootstrap.servers               kafka.bootstrap-servers (also kafka.bootstrapServers)
//
// kafka.listener.type (single or batch) exists as in Spring Boot. The other
// keys Spring Boot and kafkaboot share (bootstrap-servers, client-id,
// producer.acks, producer.batch-size, consumer.group-id,
// consumer.auto-offset-reset, consumer.isolation-level,
// consumer.max-poll-records, consumer.fetch-max-wait,
// consumer.heartbeat-interval, listener.ack-mode, listener.ack-count,
// listener.ack-time, listener.poll-timeout, listener.concurrency,
// listener.missing-topics-fatal, listener.monitor-interval,
// security.protocol, admin.auto-create, admin.operation-timeout,
// template.default-topic, producer.value-serializer,
// consumer.value-deserializer) have the same names; the serializer keys
// take a format (avro, protobuf, json-schema: Confluent's registry
// serializers, with kafka.schema-registry.*) instead of a Java class
// name, and are left unset for kafkaboot's by-type JSON. Note that bare numbers in
// durations are milliseconds here, while Spring Boot reads some (such as
// listener.monitor-interval) as seconds.
//
// Aliases are applied to each source (file, map, environment) before the
// sources are merged and before validation: an alias and its key set in
// the same source are an error naming both; in different sources, the
// source of higher precedence wins as usual. Aliases work in
// kafka.clusters.<name> trees too, and as environment variables
// (KAFKA_PRODUCER_TRANSACTION_ID_PREFIX, KAFKA_RETRY_TOPIC_ENABLED). Errors
// about a key set by an alias say so ("set as kafka.retry.topic.delay").
//
// kafkaboot reads kafka.*, not spring.kafka.*: a spring.kafka tree, in a
// file or a map, and SPRING_KAFKA_* environment variables fail [Load]
// rather than being ignored:
//
//	config: spring.kafka.bootstrap-servers: kafkaboot reads kafka.* (did you mean kafka.bootstrap-servers?)
//
// # Single listeners and several clusters
//
// kafka.listeners.<id>.* sets one listener's concurrency, ack-mode, dlt,
// auto-startup, transactional, back-off and retry topics over its tag and
// the kafka.listener.* defaults ([ListenerOverride]). kafka.clusters.<name>
// configures another cluster, a whole kafka.* tree over the top level's
// ([Config.ForCluster]); listeners name it with their cluster attribute.
//
// # Mapping to franz-go
//
// All translation of configuration to franz-go client options lives in
// kgo.go: [Kafka.ClientOpts], [Kafka.ProducerOpts],
// [Kafka.TransactionalProducerOpts] and [Kafka.ConsumerOpts].
package config

import (
	"time"

	"github.com/knadh/koanf/v2"
)

// Config is a loaded configuration: the typed kafka.* tree plus every other
// key (application keys) for placeholder resolution with [Config.Lookup]
// and [Config.Resolve].
//
// A Config is safe for concurrent reads. Mutating Kafka after handing the
// Config to other components is a data race; treat a loaded Config as
// immutable.
type Config struct {
	// Kafka is the typed, validated kafka.* tree.
	Kafka Kafka

	k   *koanf.Koanf      // all merged keys, including kafka.*
	env map[string]string // environment snapshot by name (prefix stripped)
	// clusters are the kafka.clusters entries (see ForCluster).
	clusters map[string]*Kafka
	// origins are where keys were set, for errors (see FieldError).
	origins map[string]origin
}

// Kafka is the kafka.* key tree. Field documentation names the key; see
// [Default] for default values. Zero durations and sizes mean "use the
// franz-go client default" unless stated otherwise.
type Kafka struct {
	// BootstrapServers (kafka.bootstrap-servers) are the seed brokers as
	// host:port. A comma-separated string is accepted. Default
	// ["localhost:9092"].
	BootstrapServers []string `koanf:"bootstrap-servers" validate:"min=1,dive,hostname_port"`
	// ClientID (kafka.client-id) is the client id sent to brokers by all
	// clients unless overridden per producer/consumer.
	ClientID string `koanf:"client-id"`
	// Security (kafka.security) configures TLS and SASL.
	Security Security `koanf:"security"`
	// Producer (kafka.producer) configures producer clients.
	Producer Producer `koanf:"producer"`
	// Consumer (kafka.consumer) configures consumer clients.
	Consumer Consumer `koanf:"consumer"`
	// Listener (kafka.listener) configures listener containers.
	Listener Listener `koanf:"listener"`
	// Listeners (kafka.listeners.<id>) configure single listeners, by id,
	// over their tags and kafka.listener.
	Listeners map[string]ListenerOverride `koanf:"listeners" validate:"dive"`
	// Admin (kafka.admin) configures topic administration.
	Admin Admin `koanf:"admin"`
	// Template (kafka.template) configures the KafkaTemplate.
	Template Template `koanf:"template"`
	// Client (kafka.client) configures what every franz-go client shares.
	Client Client `koanf:"client"`
	// Health (kafka.health) configures kafkaboot.Health's readiness.
	Health Health `koanf:"health"`
	// SchemaRegistry (kafka.schema-registry) configures the schema
	// registry of the serde package's registry serializers.
	SchemaRegistry SchemaRegistry `koanf:"schema-registry"`
}

// Client log levels accepted by kafka.client.log-level.
const (
	LogLevelNone  = "none"
	LogLevelError = "error"
	LogLevelWarn  = "warn"
	LogLevelInfo  = "info"
	LogLevelDebug = "debug"
)

// Client is kafka.client.
type Client struct {
	// LogLevel (kafka.client.log-level) is the level from which franz-go's
	// own client logs go to the application's slog logger (with
	// component=franz-go): none, error, warn, info or debug. Default
	// error: at warn, franz-go logs every failed connection attempt, which
	// during an outage repeats what the framework says once (an outage is
	// logged once per client, then at most every 30 s, whatever this
	// level).
	LogLevel string `koanf:"log-level" validate:"oneof=none error warn info debug"`
}

// Health is kafka.health: when kafkaboot.Health reports a listener ready.
type Health struct {
	// MaxLag (kafka.health.max-lag) is the most records any partition of
	// a listener may be behind for the application to be ready; 0 (the
	// default) does not check.
	MaxLag int64 `koanf:"max-lag" validate:"gte=0"`
	// MaxLagTime (kafka.health.max-lag-time) is the oldest a record
	// waiting in a listener may be for the application to be ready; 0
	// (the default) does not check.
	MaxLagTime time.Duration `koanf:"max-lag-time" validate:"gte=0"`
}

// Security protocols accepted by kafka.security.protocol.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// SASL mechanisms accepted by kafka.security.sasl.mechanism.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// Security is kafka.security.
type Security struct {
	// Protocol (kafka.security.protocol) is one of PLAINTEXT, SSL,
	// SASL_PLAINTEXT, SASL_SSL (case-insensitive). Default PLAINTEXT.
	// TLS settings are only allowed with SSL and SASL_SSL, SASL settings
	// only with SASL_PLAINTEXT and SASL_SSL: a TLS file configured next to
	// PLAINTEXT is an error rather than silently unencrypted traffic.
	Protocol string `koanf:"protocol" validate:"oneof=PLAINTEXT SSL SASL_PLAINTEXT SASL_SSL"`
	// TLS (kafka.security.tls) configures TLS for SSL and SASL_SSL.
	TLS TLS `koanf:"tls"`
	// SASL (kafka.security.sasl) configures SASL for SASL_*.
	SASL SASL `koanf:"sasl"`
}

// TLS is kafka.security.tls. Files are PEM encoded and read when client
// options are built ([Kafka.ClientOpts]), not at load time.
type TLS struct {
	// CAFile (kafka.security.tls.ca-file) holds the CA certificates to
	// trust; empty means the system roots.
	CAFile string `koanf:"ca-file"`
	// CertFile (kafka.security.tls.cert-file) is the client certificate
	// for mutual TLS; requires key-file.
	CertFile string `koanf:"cert-file"`
	// KeyFile (kafka.security.tls.key-file) is the client private key;
	// requires cert-file.
	KeyFile string `koanf:"key-file"`
	// InsecureSkipVerify (kafka.security.tls.insecure-skip-verify)
	// disables server certificate verification. For tests only.
	InsecureSkipVerify bool `koanf:"insecure-skip-verify"`
	// ServerName (kafka.security.tls.server-name) overrides the name used
	// to verify the server certificate.
	ServerName string `koanf:"server-name"`
}

// SASL is kafka.security.sasl.
type SASL struct {
	// Mechanism (kafka.security.sasl.mechanism) is one of PLAIN,
	// SCRAM-SHA-256, SCRAM-SHA-512 (case-insensitive). Required for
	// SASL_* protocols.
	Mechanism string `koanf:"mechanism" validate:"omitempty,oneof=PLAIN SCRAM-SHA-256 SCRAM-SHA-512"`
	// Username (kafka.security.sasl.username).
	Username string `koanf:"username"`
	// Password (kafka.security.sasl.password).
	Password string `koanf:"password"`
}

// Producer is kafka.producer.
type Producer struct {
	// Acks (kafka.producer.acks) is all, -1 (same as all), 1 or 0.
	// Default all.
	Acks string `koanf:"acks" validate:"oneof=all 1 0 -1"`
	// Idempotence (kafka.producer.idempotence) enables idempotent writes.
	// Nil means the Kafka default: enabled, unless acks is not all, in
	// which case it is silently disabled. Explicitly true with acks other
	// than all is a configuration error, as in the Java client.
	Idempotence *bool `koanf:"idempotence"`
	// Compression (kafka.producer.compression) is none, gzip, snappy, lz4
	// or zstd. Empty means franz-go's default (snappy, falling back to
	// none for brokers that cannot decode it); note that the Java
	// client's default is none.
	Compression string `koanf:"compression" validate:"omitempty,oneof=none gzip snappy lz4 zstd"`
	// Linger (kafka.producer.linger) is how long a partition's batch waits
	// for more records. Nil means franz-go's default (10ms); 0 disables
	// lingering. Synchronous template sends are never delayed by linger
	// (franz-go's ProduceSync un-lingers).
	Linger *time.Duration `koanf:"linger" validate:"omitempty,gte=0"`
	// BatchSize (kafka.producer.batch-size) is the maximum size of a
	// record batch in bytes (accepts "16KB", "1MB"; 1KB = 1024 bytes).
	// 0 means franz-go's default (1MB).
	BatchSize ByteSize `koanf:"batch-size" validate:"gte=0,lte=2147483647"`
	// Retries (kafka.producer.retries) limits how often a record is
	// retried. Nil means unlimited (bounded by delivery-timeout and the
	// context), as in Kafka.
	Retries *int `koanf:"retries" validate:"omitempty,gte=0"`
	// DeliveryTimeout (kafka.producer.delivery-timeout) bounds how long a
	// template send waits for the broker's acknowledgement, including
	// retries: its result (Send's error, the Future, OnComplete) is then
	// template.ErrDeliveryTimeout. Unlike Kafka's producer, the client
	// may still deliver the record afterwards (franz-go drops it only
	// where that cannot break the idempotent producer's sequence: a
	// synchronous send's record not sent yet); its outcome then goes to
	// the template's listener. Default 2m, Kafka's delivery.timeout.ms; 0
	// means no limit other than the send context.
	DeliveryTimeout time.Duration `koanf:"delivery-timeout" validate:"gte=0"`
	// TransactionalIDPrefix (kafka.producer.transactional-id-prefix)
	// enables transactional producers; each transactional producer uses
	// this prefix plus a caller-chosen suffix as its transactional id.
	TransactionalIDPrefix string `koanf:"transactional-id-prefix"`
	// TransactionTimeout (kafka.producer.transaction-timeout) is the
	// broker-side transaction timeout. 0 means franz-go's default (40s).
	TransactionTimeout time.Duration `koanf:"transaction-timeout" validate:"gte=0"`
	// ValueSerializer (kafka.producer.value-serializer, Spring Boot's
	// spring.kafka.producer.value-serializer) is how templates serialize
	// values: avro, protobuf or json-schema serialize with the schema
	// registry of kafka.schema-registry in Confluent's wire format, as
	// Confluent's KafkaAvroSerializer, KafkaProtobufSerializer and
	// KafkaJsonSchemaSerializer do. Empty (the default): by the value's
	// type (JSON, strings and bytes as they are, plain Protobuf).
	ValueSerializer string `koanf:"value-serializer" validate:"omitempty,oneof=avro protobuf json-schema"`
	// ClientID (kafka.producer.client-id) overrides kafka.client-id.
	ClientID string `koanf:"client-id"`
	// Properties (kafka.producer.properties) are Kafka client properties
	// by their Java names. Only a fixed set is translated to franz-go
	// (see [SupportedProducerProperties]); any other is rejected at load.
	Properties map[string]string `koanf:"properties"`
}

// IdempotenceEnabled reports whether idempotent writes are in effect,
// resolving the nil default against Acks.
func (p *Producer) IdempotenceEnabled() bool {
	if p.Idempotence != nil {
		return *p.Idempotence
	}
	return p.Acks == "all" || p.Acks == "-1" || p.Acks == ""
}

// Consumer is kafka.consumer.
type Consumer struct {
	// GroupID (kafka.consumer.group-id) is the default consumer group for
	// listeners that do not name one.
	GroupID string `koanf:"group-id"`
	// AutoOffsetReset (kafka.consumer.auto-offset-reset) is earliest,
	// latest or none: where to start when there is no committed offset.
	// Default latest.
	AutoOffsetReset string `koanf:"auto-offset-reset" validate:"oneof=earliest latest none"`
	// IsolationLevel (kafka.consumer.isolation-level) is
	// read_uncommitted or read_committed. Default read_uncommitted.
	IsolationLevel string `koanf:"isolation-level" validate:"oneof=read_uncommitted read_committed"`
	// MaxPollRecords (kafka.consumer.max-poll-records) caps the records a
	// listener container hands to one partition's worker at a time (and so
	// a batch listener's batch) and the backlog at which it stops polling.
	// Default 500.
	MaxPollRecords int `koanf:"max-poll-records" validate:"gte=1"`
	// SessionTimeout (kafka.consumer.session-timeout); 0 = franz default (45s).
	SessionTimeout time.Duration `koanf:"session-timeout" validate:"gte=0"`
	// RebalanceTimeout (kafka.consumer.rebalance-timeout); 0 = franz default (60s).
	RebalanceTimeout time.Duration `koanf:"rebalance-timeout" validate:"gte=0"`
	// HeartbeatInterval (kafka.consumer.heartbeat-interval); 0 = franz default (3s).
	HeartbeatInterval time.Duration `koanf:"heartbeat-interval" validate:"gte=0"`
	// FetchMaxWait (kafka.consumer.fetch-max-wait); 0 = franz default (5s).
	FetchMaxWait time.Duration `koanf:"fetch-max-wait" validate:"gte=0"`
	// FetchMinBytes (kafka.consumer.fetch-min-bytes); 0 = franz default (1).
	FetchMinBytes ByteSize `koanf:"fetch-min-bytes" validate:"gte=0,lte=2147483647"`
	// FetchMaxBytes (kafka.consumer.fetch-max-bytes); 0 = franz default (50MiB).
	FetchMaxBytes ByteSize `koanf:"fetch-max-bytes" validate:"gte=0,lte=2147483647"`
	// MaxPartitionFetchBytes (kafka.consumer.max-partition-fetch-bytes);
	// 0 = franz default (1MiB).
	MaxPartitionFetchBytes ByteSize `koanf:"max-partition-fetch-bytes" validate:"gte=0,lte=2147483647"`
	// ValueDeserializer (kafka.consumer.value-deserializer, Spring Boot's
	// spring.kafka.consumer.value-deserializer) is how listeners
	// deserialize values: avro, protobuf or json-schema deserialize
	// Confluent's wire format with the writer's schema from the registry
	// of kafka.schema-registry (a record not in that format is a poison
	// pill, dead-lettered with the reason). Empty (the default): by the
	// handler's type (JSON, strings, bytes, plain Protobuf).
	ValueDeserializer string `koanf:"value-deserializer" validate:"omitempty,oneof=avro protobuf json-schema"`
	// GroupProtocol (kafka.consumer.group-protocol, Kafka's
	// group.protocol) is the protocol consumers join their groups with:
	// classic (the default: JoinGroup/SyncGroup, the client assigns) or
	// consumer (KIP-848, Kafka 4.0+: the broker assigns partitions,
	// incrementally). With consumer, session-timeout, heartbeat-interval
	// and the partition.assignment.strategy, session.timeout.ms and
	// heartbeat.interval.ms properties are refused, as Kafka's consumer
	// refuses them: the broker's group.consumer.* configs apply. A
	// listener's groupprotocol attribute overrides it.
	GroupProtocol string `koanf:"group-protocol" validate:"omitempty,oneof=classic consumer"`
	// GroupRemoteAssignor (kafka.consumer.group-remote-assignor, Kafka's
	// group.remote.assignor) is the broker-side assignor of the consumer
	// protocol: uniform or range; empty lets the broker choose (its
	// default, uniform).
	GroupRemoteAssignor string `koanf:"group-remote-assignor" validate:"omitempty,oneof=uniform range"`
	// ClientID (kafka.consumer.client-id) overrides kafka.client-id.
	ClientID string `koanf:"client-id"`
	// Properties (kafka.consumer.properties) are Kafka client properties
	// by their Java names (see [SupportedConsumerProperties]).
	Properties map[string]string `koanf:"properties"`
}

// Listener ack modes accepted by kafka.listener.ack-mode, with Spring's
// semantics.
const (
	AckModeRecord          = "record"
	AckModeBatch           = "batch"
	AckModeTime            = "time"
	AckModeCount           = "count"
	AckModeCountTime       = "count-time"
	AckModeManual          = "manual"
	AckModeManualImmediate = "manual-immediate"
)

// Listener is kafka.listener: defaults for listener containers.
type Listener struct {
	// Concurrency (kafka.listener.concurrency) is the number of consumers
	// per container. Default 1.
	Concurrency int `koanf:"concurrency" validate:"gte=1"`
	// AckMode (kafka.listener.ack-mode) is record, batch, time, count,
	// count-time, manual or manual-immediate (case-insensitive, '_'
	// accepted for '-'). Default batch, like Spring.
	AckMode string `koanf:"ack-mode" validate:"oneof=record batch time count count-time manual manual-immediate"`
	// AckCount (kafka.listener.ack-count) is the record count for the
	// count and count-time modes. Default 1.
	AckCount int `koanf:"ack-count" validate:"gte=0"`
	// AckTime (kafka.listener.ack-time) is the interval for the time and
	// count-time modes. Default 5s.
	AckTime time.Duration `koanf:"ack-time" validate:"gte=0"`
	// PollTimeout (kafka.listener.poll-timeout) bounds one poll. Default 5s.
	PollTimeout time.Duration `koanf:"poll-timeout" validate:"gt=0"`
	// IdleInterval (kafka.listener.idle-interval) is how long a container
	// may receive no records before it publishes an idle event; 0
	// disables idle events.
	IdleInterval time.Duration `koanf:"idle-interval" validate:"gte=0"`
	// MissingTopicsFatal (kafka.listener.missing-topics-fatal) makes a
	// container fail to start when a topic does not exist. Default false.
	MissingTopicsFatal bool `koanf:"missing-topics-fatal"`
	// MonitorInterval (kafka.listener.monitor-interval) is how often a
	// container checks for handler calls stuck on one record, and how long
	// one may run before it is reported (a WARN and a NonResponsiveEvent).
	// Default 30s, like Spring's monitorInterval.
	MonitorInterval time.Duration `koanf:"monitor-interval" validate:"gt=0"`
	// Retry (kafka.listener.retry) configures non-blocking retries through
	// retry topics: the values a listener's retry attribute does not give
	// and, with enabled, retry topics for every listener without one.
	Retry ListenerRetry `koanf:"retry"`
	// TransactionalIDPrefix (kafka.listener.transactional-id-prefix) makes
	// every listener without transactional=false run in Kafka
	// transactions (exactly-once consume-transform-produce), each
	// container member producing with the transactional id
	// prefix+listener id+"-"+member. Make it unique per running instance
	// when several instances run the same listeners (for example with
	// ${HOSTNAME}): a second producer with the same id fences the first.
	// Default "": transactional only where a listener's tag says so (with
	// the prefix "kafkaboot-").
	TransactionalIDPrefix string `koanf:"transactional-id-prefix"`
	// Type (kafka.listener.type, Spring Boot's spring.kafka.listener.type)
	// is single (the default) or batch: with batch, a listener whose
	// handler takes a slice is a batch listener without the batch
	// attribute.
	Type string `koanf:"type" validate:"oneof=single batch"`
	// BackOff (kafka.listener.back-off) is how failed deliveries are
	// retried in place (without retry topics). Default: fixed, no wait, 9
	// retries.
	BackOff BackOff `koanf:"back-off"`
}

// ListenerRetry is kafka.listener.retry: retry topics with Spring's
// semantics and names (see listener.RetryTopics).
type ListenerRetry struct {
	// Enabled (kafka.listener.retry.enabled) gives every listener retry
	// topics unless its tag says retry=false. Default false.
	Enabled bool `koanf:"enabled"`
	// Attempts (kafka.listener.retry.attempts) counts deliveries, the
	// first included. Default 3.
	Attempts int `koanf:"attempts" validate:"gte=2"`
	// Delay (kafka.listener.retry.delay) is the first back off. Default 1s.
	Delay time.Duration `koanf:"delay" validate:"gt=0"`
	// Multiplier (kafka.listener.retry.multiplier) > 1 makes the back off
	// exponential. Default 0: fixed.
	Multiplier float64 `koanf:"multiplier" validate:"gte=0"`
	// MaxDelay (kafka.listener.retry.max-delay) caps an exponential back
	// off. Default 30s.
	MaxDelay time.Duration `koanf:"max-delay" validate:"gt=0"`
	// TopicSuffixing (kafka.listener.retry.topic-suffixing) is index
	// (orders-retry-0, ...; the default) or delay (orders-retry-1000, ...).
	TopicSuffixing string `koanf:"topic-suffixing" validate:"oneof=index delay"`
	// TopicReuse (kafka.listener.retry.topic-reuse) is single (trailing
	// retries with one delay share a topic; the default) or multiple.
	TopicReuse string `koanf:"topic-reuse" validate:"oneof=single multiple"`
	// RetryTopicSuffix and DLTTopicSuffix
	// (kafka.listener.retry.retry-topic-suffix, .dlt-topic-suffix) default
	// to -retry and -dlt, Spring's.
	RetryTopicSuffix string `koanf:"retry-topic-suffix" validate:"required,nefield=DLTTopicSuffix"`
	DLTTopicSuffix   string `koanf:"dlt-topic-suffix" validate:"required"`
	// AutoCreateTopics (kafka.listener.retry.auto-create-topics) creates
	// the retry and dead-letter topics at start. Default true.
	AutoCreateTopics bool `koanf:"auto-create-topics"`
}

// Admin is kafka.admin.
type Admin struct {
	// AutoCreate (kafka.admin.auto-create) creates the configured topics at
	// startup when they do not exist. Default true.
	AutoCreate bool `koanf:"auto-create"`
	// Topics (kafka.admin.topics) are the topics to create, like Spring's
	// NewTopic beans.
	Topics []Topic `koanf:"topics" validate:"dive"`
	// OperationTimeout (kafka.admin.operation-timeout) bounds admin
	// operations. Default 30s.
	OperationTimeout time.Duration `koanf:"operation-timeout" validate:"gt=0"`
}

// Topic is one element of kafka.admin.topics.
type Topic struct {
	// Name is the topic name; required.
	Name string `koanf:"name" validate:"required"`
	// Partitions is the partition count; 0 or -1 means the broker default.
	Partitions int32 `koanf:"partitions" validate:"gte=-1"`
	// ReplicationFactor is the replication factor; 0 or -1 means the
	// broker default.
	ReplicationFactor int16 `koanf:"replication-factor" validate:"gte=-1"`
	// Configs are topic configs such as cleanup.policy.
	Configs map[string]string `koanf:"configs"`
}

// Template is kafka.template.
type Template struct {
	// DefaultTopic (kafka.template.default-topic) is the topic used by
	// Template.SendDefault.
	DefaultTopic string `koanf:"default-topic"`
}

// DefaultKafka returns the built-in defaults of the kafka.* tree.
func DefaultKafka() Kafka {
	return Kafka{
		BootstrapServers: []string{"localhost:9092"},
		Security:         Security{Protocol: ProtocolPlaintext},
		Producer:         Producer{Acks: "all", DeliveryTimeout: 2 * time.Minute},
		Consumer: Consumer{
			AutoOffsetReset: "latest",
			IsolationLevel:  "read_uncommitted",
			MaxPollRecords:  500,
		},
		Listener: Listener{
			Concurrency:     1,
			AckMode:         AckModeBatch,
			AckCount:        1,
			AckTime:         5 * time.Second,
			PollTimeout:     5 * time.Second,
			MonitorInterval: 30 * time.Second,
			Retry: ListenerRetry{
				Attempts:         3,
				Delay:            time.Second,
				MaxDelay:         30 * time.Second,
				TopicSuffixing:   "index",
				TopicReuse:       "single",
				RetryTopicSuffix: "-retry",
				DLTTopicSuffix:   "-dlt",
				AutoCreateTopics: true,
			},
			BackOff: BackOff{Type: "fixed", Multiplier: 2, MaxRetries: 9},
			Type:    "single",
		},
		Client: Client{LogLevel: LogLevelError},
		SchemaRegistry: SchemaRegistry{
			AutoRegisterSchemas: true,
			SubjectNameStrategy: SubjectNameTopic,
			CacheCapacity:       1000,
		},
		Admin: Admin{
			AutoCreate:       true,
			OperationTimeout: 30 * time.Second,
		},
	}
}

// Default returns a Config holding only the built-in defaults: no files,
// no environment. Lookup and Resolve work on it for kafka.* keys.
func Default() *Config {
	c := &Config{Kafka: DefaultKafka(), k: koanf.New(".")}
	_ = c.k.Set("kafka", encode(reflectValueOf(&c.Kafka)))
	return c
}
