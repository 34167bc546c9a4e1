package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, opts ...Option) *Config {
	t.Helper()
	c, err := Load(append([]Option{WithEnviron(nil)}, opts...)...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	for name, c := range map[string]*Config{"Default": Default(), "Load": mustLoad(t)} {
		t.Run(name, func(t *testing.T) {
			if !reflect.DeepEqual(c.Kafka, DefaultKafka()) {
				t.Fatalf("got %+v\nwant %+v", c.Kafka, DefaultKafka())
			}
			for key, want := range map[string]string{
				"kafka.bootstrap-servers":     "localhost:9092",
				"kafka.listener.ack-mode":     "batch",
				"kafka.listener.concurrency":  "1",
				"kafka.listener.poll-timeout": "5s",
				"kafka.admin.auto-create":     "true",
			} {
				if got, ok := c.Lookup(key); !ok || got != want {
					t.Errorf("Lookup(%q) = %q, %v; want %q", key, got, ok, want)
				}
			}
			if !c.Kafka.Producer.IdempotenceEnabled() {
				t.Error("idempotence should default to enabled")
			}
		})
	}
	if err := Default().Kafka.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

const fullYAML = `
kafka:
  bootstrap-servers: a:9092, b:9093
  client-id: app
  security:
    protocol: sasl_ssl
    tls:
      server-name: kafka.example
    sasl:
      mechanism: scram-sha-512
      username: u
      password: p
  producer:
    acks: all
    idempotence: true
    compression: zstd
    linger: 5ms
    batch-size: 64KB
    retries: 3
    delivery-timeout: 2m
    transactional-id-prefix: tx-
    properties:
      max.request.size: 2000000
      buffer.memory: 1000000
  consumer:
    group-id: g1
    auto-offset-reset: earliest
    isolation-level: read_committed
    max-poll-records: 100
    session-timeout: 30s
    fetch-max-wait: 250   # bare number: milliseconds
    fetch-max-bytes: 1MB
    properties:
      partition.assignment.strategy: cooperative-sticky
  listener:
    concurrency: 3
    ack-mode: MANUAL_IMMEDIATE
    idle-interval: 1m
    missing-topics-fatal: true
  admin:
    auto-create: false
    topics:
      - name: orders
        partitions: 6
        replication-factor: 3
        configs:
          cleanup.policy: compact
      - name: payments
  template:
    default-topic: orders
app:
  topics:
    payments: payments.v1
  retries: 4
`

func TestLoadFile(t *testing.T) {
	c := mustLoad(t, WithFile(writeFile(t, fullYAML)))
	k := c.Kafka
	linger := 5 * time.Millisecond
	retries := 3
	yes := true
	want := Kafka{
		BootstrapServers: []string{"a:9092", "b:9093"},
		ClientID:         "app",
		Security: Security{
			Protocol: ProtocolSASLSSL,
			TLS:      TLS{ServerName: "kafka.example"},
			SASL:     SASL{Mechanism: MechanismScramSHA512, Username: "u", Password: "p"},
		},
		Producer: Producer{
			Acks: "all", Idempotence: &yes, Compression: "zstd", Linger: &linger,
			BatchSize: 64 << 10, Retries: &retries, DeliveryTimeout: 2 * time.Minute,
			TransactionalIDPrefix: "tx-",
			Properties:            map[string]string{"max.request.size": "2000000", "buffer.memory": "1000000"},
		},
		Consumer: Consumer{
			GroupID: "g1", AutoOffsetReset: "earliest", IsolationLevel: "read_committed",
			MaxPollRecords: 100, SessionTimeout: 30 * time.Second, FetchMaxWait: 250 * time.Millisecond,
			FetchMaxBytes: 1 << 20,
			Properties:    map[string]string{"partition.assignment.strategy": "cooperative-sticky"},
		},
		Listener: Listener{
			Concurrency: 3, AckMode: AckModeManualImmediate, AckCount: 1, AckTime: 5 * time.Second,
			PollTimeout: 5 * time.Second, IdleInterval: time.Minute, MissingTopicsFatal: true,
			MonitorInterval: 30 * time.Second,
			Retry: ListenerRetry{
				Attempts: 3, Delay: time.Second, MaxDelay: 30 * time.Second, TopicSuffixing: "index", TopicReuse: "single",
				RetryTopicSuffix: "-retry", DLTTopicSuffix: "-dlt", AutoCreateTopics: true,
			},
			BackOff: BackOff{Type: "fixed", Multiplier: 2, MaxRetries: 9},
			Type:    "single",
		},
		Admin: Admin{
			AutoCreate: false,
			Topics: []Topic{
				{Name: "orders", Partitions: 6, ReplicationFactor: 3, Configs: map[string]string{"cleanup.policy": "compact"}},
				{Name: "payments"},
			},
			OperationTimeout: 30 * time.Second,
		},
		Template: Template{DefaultTopic: "orders"},
		Client:   Client{LogLevel: LogLevelError},
		SchemaRegistry: SchemaRegistry{
			AutoRegisterSchemas: true, SubjectNameStrategy: SubjectNameTopic, CacheCapacity: 1000,
		},
	}
	if !reflect.DeepEqual(k, want) {
		t.Fatalf("got  %+v\nwant %+v", k, want)
	}
	if v, ok := c.Lookup("app.topics.payments"); !ok || v != "payments.v1" {
		t.Fatalf("Lookup app.topics.payments = %q, %v", v, ok)
	}
	if _, ok := c.Lookup("app.topics"); ok {
		t.Fatal("a map key must not be a scalar")
	}
}

func TestLoadFileFromEnvVar(t *testing.T) {
	p := writeFile(t, "kafka:\n  client-id: from-file\n")
	c := mustLoad(t, WithEnviron([]string{EnvConfigFile + "=" + p}))
	if c.Kafka.ClientID != "from-file" {
		t.Fatalf("client-id = %q", c.Kafka.ClientID)
	}
	// An explicit WithFile wins over KAFKABOOT_CONFIG.
	p2 := writeFile(t, "kafka:\n  client-id: explicit\n")
	c = mustLoad(t, WithEnviron([]string{EnvConfigFile + "=" + p}), WithFile(p2))
	if c.Kafka.ClientID != "explicit" {
		t.Fatalf("client-id = %q", c.Kafka.ClientID)
	}
}

func TestNullSubtrees(t *testing.T) {
	for _, body := range []string{"kafka:\n", "kafka:\n  producer:\n  listener:\n", "app:\n  x: 1\n"} {
		c := mustLoad(t, WithFile(writeFile(t, body)))
		if !reflect.DeepEqual(c.Kafka, DefaultKafka()) {
			t.Errorf("%q: got %+v", body, c.Kafka)
		}
	}
}

func TestEnvPointerFields(t *testing.T) {
	c := mustLoad(t, WithEnviron([]string{"KAFKA_PRODUCER_IDEMPOTENCE=false", "KAFKA_PRODUCER_LINGER=0", "KAFKA_PRODUCER_RETRIES=5"}))
	p := c.Kafka.Producer
	if p.Idempotence == nil || *p.Idempotence || p.Linger == nil || *p.Linger != 0 || p.Retries == nil || *p.Retries != 5 {
		t.Fatalf("got idempotence %v linger %v retries %v", p.Idempotence, p.Linger, p.Retries)
	}
	_, err := Load(WithEnviron([]string{"KAFKA_PRODUCER_RETRIES=-1"}))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "kafka.producer.retries: must be >= 0") {
		t.Fatalf("negative retries: %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(WithEnviron(nil), WithFile(filepath.Join(t.TempDir(), "nope.yaml")))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestBadYAML(t *testing.T) {
	p := writeFile(t, "kafka: [unclosed\n")
	_, err := Load(WithEnviron(nil), WithFile(p))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if want := "config: " + p + ` line 1: invalid YAML: did not find expected ',' or ']' in "kafka: [unclosed"`; err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func TestEnv(t *testing.T) {
	file := writeFile(t, "kafka:\n  client-id: file\n  producer:\n    batch-size: 100\napp:\n  topic: from-file\n  other: keep\n")
	env := []string{
		"KAFKA_BOOTSTRAP_SERVERS=e1:1,e2:2",
		"KAFKA_PRODUCER_BATCH_SIZE=16KB",
		"KAFKA_CONSUMER_GROUP_ID=env-group",
		"KAFKA_LISTENER_ACK_MODE=record",
		"KAFKA_PRODUCER_PROPERTIES_MAX_REQUEST_SIZE=123456",
		"KAFKA_ADMIN_TOPICS_0_NAME=t0",
		"KAFKA_ADMIN_TOPICS_0_PARTITIONS=3",
		"KAFKA_ADMIN_TOPICS_1_NAME=t1",
		"KAFKA_HOME=/opt/kafka",             // unknown: ignored
		"KAFKA_PRODUCER_NOT_A_KEY=whatever", // unknown: ignored
		"APP_TOPIC=from-env",                // overrides file
		"APP_ONLY_ENV=hello",                // resolved at Lookup time
		"UNRELATED",                         // malformed: ignored
	}
	c := mustLoad(t, WithFile(file), WithEnviron(env))
	k := c.Kafka
	if !slices.Equal(k.BootstrapServers, []string{"e1:1", "e2:2"}) {
		t.Errorf("bootstrap = %v", k.BootstrapServers)
	}
	if k.Producer.BatchSize != 16<<10 {
		t.Errorf("batch-size = %d", k.Producer.BatchSize)
	}
	if k.ClientID != "file" || k.Consumer.GroupID != "env-group" || k.Listener.AckMode != AckModeRecord {
		t.Errorf("got client-id %q group %q ack-mode %q", k.ClientID, k.Consumer.GroupID, k.Listener.AckMode)
	}
	if k.Producer.Properties["max.request.size"] != "123456" {
		t.Errorf("properties = %v", k.Producer.Properties)
	}
	if want := []Topic{{Name: "t0", Partitions: 3}, {Name: "t1"}}; !reflect.DeepEqual(k.Admin.Topics, want) {
		t.Errorf("topics = %+v", k.Admin.Topics)
	}
	for key, want := range map[string]string{"app.topic": "from-env", "app.other": "keep", "app.only-env": "hello"} {
		if got, ok := c.Lookup(key); !ok || got != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}

func TestEnvPrefixAndPrecedence(t *testing.T) {
	env := []string{"MYAPP_KAFKA_CLIENT_ID=env", "KAFKA_CONSUMER_GROUP_ID=unprefixed", "MYAPP_APP_NAME=env-name"}
	c := mustLoad(t,
		WithEnviron(env), WithEnvPrefix("MYAPP_"),
		WithDefaults(map[string]any{"kafka.template.default-topic": "dflt", "app.name": "default-name", "app.x": "dx"}),
		WithValues(map[string]any{"kafka": map[string]any{"client-id": "values"}}),
	)
	if c.Kafka.ClientID != "values" {
		t.Errorf("client-id = %q, want values (WithValues has highest precedence)", c.Kafka.ClientID)
	}
	if c.Kafka.Consumer.GroupID != "" {
		t.Errorf("unprefixed variable must be ignored, got group %q", c.Kafka.Consumer.GroupID)
	}
	if c.Kafka.Template.DefaultTopic != "dflt" {
		t.Errorf("default-topic = %q", c.Kafka.Template.DefaultTopic)
	}
	if v, _ := c.Lookup("app.name"); v != "env-name" {
		t.Errorf("app.name = %q", v)
	}
	if v, _ := c.Lookup("app.x"); v != "dx" {
		t.Errorf("app.x = %q", v)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		values map[string]any
		env    []string
		want   []string // substrings that must all appear
		is     error
	}{
		{name: "acks", yaml: "kafka:\n  producer:\n    acks: 2\n",
			want: []string{`config: kafka.producer.acks: must be one of all 1 0 -1, got "2"`}},
		{name: "unknown key", yaml: "kafka:\n  producer:\n    ackz: all\n",
			want: []string{"config: kafka.producer.ackz: unknown key (did you mean kafka.producer.acks?)"}, is: ErrUnknownKey},
		{name: "unknown top key", yaml: "kafka:\n  bootstrap: x:1\n",
			want: []string{"kafka.bootstrap: unknown key"}, is: ErrUnknownKey},
		{name: "unknown list elem key", yaml: "kafka:\n  admin:\n    topics:\n      - name: a\n        partitionz: 3\n",
			want: []string{"kafka.admin.topics[0].partitionz: unknown key (did you mean kafka.admin.topics[0].partitions?)"}, is: ErrUnknownKey},
		{name: "bad duration", yaml: "kafka:\n  producer:\n    linger: soon\n",
			want: []string{`kafka.producer.linger: invalid duration "soon"`}},
		{name: "bad int", yaml: "kafka:\n  listener:\n    concurrency: many\n",
			want: []string{`kafka.listener.concurrency: expected an integer, got "many"`}},
		{name: "concurrency", values: map[string]any{"kafka.listener.concurrency": 0},
			want: []string{"kafka.listener.concurrency: must be >= 1, got 0"}},
		{name: "bad bool", yaml: "kafka:\n  admin:\n    auto-create: maybe\n",
			want: []string{`kafka.admin.auto-create: expected true or false, got "maybe"`}},
		{name: "overflow", yaml: "kafka:\n  admin:\n    topics:\n      - name: a\n        replication-factor: 70000\n",
			want: []string{"kafka.admin.topics[0].replication-factor: value 70000 out of range"}},
		{name: "bad seed", values: map[string]any{"kafka.bootstrap-servers": "nohostport"},
			want: []string{`kafka.bootstrap-servers[0]: must be host:port, got "nohostport"`}},
		{name: "no seeds", values: map[string]any{"kafka.bootstrap-servers": ""},
			want: []string{"kafka.bootstrap-servers: must have at least 1 element(s)"}},
		{name: "idempotence vs acks", yaml: "kafka:\n  producer:\n    acks: 1\n    idempotence: true\n",
			want: []string{"kafka.producer.idempotence", "kafka.producer.acks=all"}},
		{name: "tx without idempotence", yaml: "kafka:\n  producer:\n    idempotence: false\n    transactional-id-prefix: x\n",
			want: []string{"kafka.producer.transactional-id-prefix: transactions require kafka.producer.idempotence=true"}},
		{name: "tls with plaintext", yaml: "kafka:\n  security:\n    tls:\n      ca-file: /x.pem\n",
			want: []string{"kafka.security.tls.ca-file: set but kafka.security.protocol is PLAINTEXT"}},
		{name: "cert without key", yaml: "kafka:\n  security:\n    protocol: SSL\n    tls:\n      cert-file: /c.pem\n",
			want: []string{"kafka.security.tls.key-file: is required when kafka.security.tls.cert-file is set"}},
		{name: "sasl missing mechanism", yaml: "kafka:\n  security:\n    protocol: SASL_PLAINTEXT\n",
			want: []string{"kafka.security.sasl.mechanism: is required", "kafka.security.sasl.username: is required"}},
		{name: "bad mechanism", yaml: "kafka:\n  security:\n    protocol: SASL_SSL\n    sasl:\n      mechanism: GSSAPI\n      username: u\n",
			want: []string{`kafka.security.sasl.mechanism: must be one of PLAIN SCRAM-SHA-256 SCRAM-SHA-512, got "GSSAPI"`}},
		{name: "bad protocol", yaml: "kafka:\n  security:\n    protocol: TLS\n",
			want: []string{`kafka.security.protocol: must be one of PLAINTEXT SSL SASL_PLAINTEXT SASL_SSL, got "TLS"`}},
		{name: "ack-mode", yaml: "kafka:\n  listener:\n    ack-mode: sometimes\n",
			want: []string{`kafka.listener.ack-mode: must be one of record batch time count count-time manual manual-immediate, got "sometimes"`}},
		{name: "count ack-mode", yaml: "kafka:\n  listener:\n    ack-mode: count\n    ack-count: 0\n",
			want: []string{"kafka.listener.ack-count: must be > 0 with kafka.listener.ack-mode=count"}},
		{name: "topic name", yaml: "kafka:\n  admin:\n    topics:\n      - name: bad/name\n      - partitions: 2\n",
			want: []string{`kafka.admin.topics[0].name: topic name "bad/name" contains '/'`, "kafka.admin.topics[1].name: is required"}},
		{name: "duplicate topic", yaml: "kafka:\n  admin:\n    topics:\n      - name: a\n      - name: a\n",
			want: []string{`kafka.admin.topics[1].name: duplicate topic "a"`}},
		{name: "unsupported property", yaml: "kafka:\n  consumer:\n    properties:\n      fetch.foo: 1\n",
			want: []string{"kafka.consumer.properties.fetch.foo: unsupported client property"}, is: ErrUnknownKey},
		{name: "bad property value", yaml: "kafka:\n  producer:\n    properties:\n      request.timeout.ms: soon\n",
			want: []string{"kafka.producer.properties.request.timeout.ms: expected a non-negative number of milliseconds"}},
		{name: "size unit", yaml: "kafka:\n  producer:\n    batch-size: 3 parsecs\n",
			want: []string{`kafka.producer.batch-size: invalid size "3 parsecs"`}},
		{name: "size too large", yaml: "kafka:\n  producer:\n    batch-size: 4GB\n",
			want: []string{"kafka.producer.batch-size: must be <= 2147483647"}},
		{name: "map expected", yaml: "kafka:\n  producer: fast\n",
			want: []string{`kafka.producer: expected a map, got "fast"`}},
		{name: "env invalid", env: []string{"KAFKA_PRODUCER_ACKS=3"},
			want: []string{`kafka.producer.acks: must be one of all 1 0 -1, got "3"`}},
		{name: "multiple", yaml: "kafka:\n  producer:\n    acks: 2\n    compression: brotli\n",
			want: []string{"kafka.producer.acks", "kafka.producer.compression"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []Option{WithEnviron(tt.env)}
			if tt.yaml != "" {
				opts = append(opts, WithFile(writeFile(t, tt.yaml)))
			}
			if tt.values != nil {
				opts = append(opts, WithValues(tt.values))
			}
			c, err := Load(opts...)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c.Kafka)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not match %v", err, tt.is)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.Key, "kafka") {
				t.Errorf("error %v is not a *FieldError with a kafka key", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n  %v\ndoes not contain\n  %s", err, w)
				}
			}
		})
	}
}

func TestAcksWithoutExplicitIdempotence(t *testing.T) {
	c := mustLoad(t, WithValues(map[string]any{"kafka.producer.acks": "1"}))
	if c.Kafka.Producer.IdempotenceEnabled() {
		t.Fatal("idempotence must be implicitly disabled with acks=1")
	}
	opts, err := c.Kafka.ProducerOpts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("franz-go rejects the options: %v", err)
	}
	defer cl.Close()
	if got := cl.OptValue(kgo.DisableIdempotentWrite); got != true {
		t.Fatalf("DisableIdempotentWrite = %v", got)
	}
}

func TestResolve(t *testing.T) {
	c := mustLoad(t,
		WithEnviron([]string{"APP_ENV_ONLY=env"}),
		WithValues(map[string]any{
			"app.topics.payments": "payments.v1",
			"app.prefix":          "svc",
			"app.ref":             "${app.prefix}-ref",
			"app.loop1":           "${app.loop2}",
			"app.loop2":           "${app.loop1}",
			"app.list":            []any{"a", "b"},
		}),
	)
	tests := []struct {
		in, want string
		err      error
	}{
		{in: "plain", want: "plain"},
		{in: "${app.topics.payments}", want: "payments.v1"},
		{in: "x-${app.prefix}-${app.topics.payments}-y", want: "x-svc-payments.v1-y"},
		{in: "${app.missing:fallback}", want: "fallback"},
		{in: "${app.missing:}", want: ""},
		{in: "${app.missing:${app.prefix}}", want: "svc"},
		{in: "${app.ref}", want: "svc-ref"},
		{in: "${app.env-only}", want: "env"},
		{in: "${kafka.listener.ack-mode}", want: "batch"},
		{in: "${app.list}", want: "a,b"},
		{in: "${app.missing}", err: ErrUnresolved},
		{in: "${app.loop1}", err: ErrUnresolved},
		{in: "${app.prefix", err: ErrInvalid},
		{in: "${}", err: ErrInvalid},
	}
	for _, tt := range tests {
		got, err := c.Resolve(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Resolve(%q) = %q, %v; want error %v", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	_, err := c.Resolve("${app.missing}")
	if err == nil || !strings.Contains(err.Error(), `"app.missing"`) {
		t.Errorf("error must name the key: %v", err)
	}
}

func TestBind(t *testing.T) {
	type Retry struct {
		Attempts int           `koanf:"attempts" validate:"gte=1"`
		Backoff  time.Duration `koanf:"backoff"`
	}
	type App struct {
		Name    string            `koanf:"name" validate:"required"`
		Ratio   float64           `koanf:"ratio"`
		Topics  map[string]string `koanf:"topics"`
		Retry   Retry             `koanf:"retry"`
		Tags    []string          `koanf:"tags"`
		Workers uint8             `koanf:"workers"`
	}
	c := mustLoad(t,
		WithEnviron([]string{"APP_RETRY_BACKOFF=2s"}),
		WithValues(map[string]any{"app": map[string]any{
			"name": "svc", "ratio": "0.5", "topics": map[string]any{"in": "a", "out": "b"},
			"retry": map[string]any{"attempts": 3}, "tags": "x,y", "workers": 8,
		}}))
	app := App{Retry: Retry{Backoff: time.Second}}
	if err := c.Bind("app", &app); err != nil {
		t.Fatal(err)
	}
	want := App{Name: "svc", Ratio: 0.5, Topics: map[string]string{"in": "a", "out": "b"},
		Retry: Retry{Attempts: 3, Backoff: 2 * time.Second}, Tags: []string{"x", "y"}, Workers: 8}
	if !reflect.DeepEqual(app, want) {
		t.Fatalf("got %+v\nwant %+v", app, want)
	}

	c = mustLoad(t, WithValues(map[string]any{"app.name": "", "app.retry.attempts": 0, "app.nope": 1}))
	err := c.Bind("app", &App{})
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "app.nope") {
		t.Fatalf("unknown key: %v", err)
	}
	c = mustLoad(t, WithValues(map[string]any{"app.name": "", "app.retry.attempts": 0}))
	err = c.Bind("app", &App{})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "app.name: is required") ||
		!strings.Contains(err.Error(), "app.retry.attempts: must be >= 1") {
		t.Fatalf("validation: %v", err)
	}
	if err := c.Bind("app", App{}); err == nil {
		t.Fatal("non-pointer must fail")
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "512": 512, "1KB": 1024, "1 KiB": 1024, "2mb": 2 << 20, "1GB": 1 << 30, "7B": 7} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "KB", "1TB", "1.5MB", "99999999999999GB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", in)
		}
	}
}
