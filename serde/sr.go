package serde

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// Schema registry serdes
//
// SRAvro, SRProtobuf and SRJSONSchema write and read records in Confluent's
// wire format through a schema registry (Confluent's, or the embedded
// broker's): a zero magic byte, the 4-byte big-endian schema id, for
// Protobuf the message indexes, then the payload. This file holds what the
// three share: options, subject name strategies, the registry client with
// its caches, and the framing.

// Errors of the schema registry serdes.
var (
	// ErrBadFrame is wrapped (in a [*DeserializationError]) when a record
	// is not in the schema registry wire format: it is shorter than the
	// 5-byte header, its magic byte is not 0, or its Protobuf message
	// indexes are truncated or invalid.
	ErrBadFrame = errors.New("not in the schema registry wire format")

	// ErrUnknownSchema is wrapped (in a [*DeserializationError]) when a
	// record names a schema id the registry does not know (error 40403),
	// when the schema is of another type (an Avro deserializer reading a
	// Protobuf record), or when the schema cannot be used to decode.
	ErrUnknownSchema = errors.New("unknown schema")

	// ErrSchemaNotRegistered is wrapped when auto-registration is off and
	// the schema of a value is not registered under its subject (or the
	// subject has no version to use with [UseLatestVersion]).
	ErrSchemaNotRegistered = errors.New("schema not registered")

	// ErrRegistryUnavailable is wrapped when the registry cannot be
	// reached or answers with a server error (5xx, 429) or a timeout.
	// Deserializers return it as a plain error, not a
	// [*DeserializationError]: the record is not at fault, and retrying
	// later can succeed.
	ErrRegistryUnavailable = errors.New("schema registry unavailable")

	// ErrSchemaValidation is wrapped when a value does not validate
	// against its JSON Schema (see [ValidateJSONSchema]).
	ErrSchemaValidation = errors.New("schema validation failed")
)

// SubjectNameStrategy names the subject under which a schema is registered
// and looked up, like Confluent's key.subject.name.strategy and
// value.subject.name.strategy. record is the schema's record name: the
// full name of an Avro named type (or the primitive type's name), the full
// name of a Protobuf message, or the title of a JSON Schema; it is "" when
// the serializer has no schema for the value (the schema is then the
// subject's latest version).
type SubjectNameStrategy interface {
	// Subject returns the subject for a value of record written to
	// topic, as a key when isKey.
	Subject(topic string, isKey bool, record string) (string, error)
}

// SubjectNameStrategyFunc adapts a function to [SubjectNameStrategy].
type SubjectNameStrategyFunc func(topic string, isKey bool, record string) (string, error)

// Subject calls f.
func (f SubjectNameStrategyFunc) Subject(topic string, isKey bool, record string) (string, error) {
	return f(topic, isKey, record)
}

// TopicNameStrategy names subjects <topic>-value and <topic>-key, the
// default (Confluent's TopicNameStrategy): one schema (and its versions)
// per topic.
type TopicNameStrategy struct{}

// Subject implements [SubjectNameStrategy].
func (TopicNameStrategy) Subject(topic string, isKey bool, _ string) (string, error) {
	if isKey {
		return topic + "-key", nil
	}
	return topic + "-value", nil
}

// RecordNameStrategy names subjects by the record name alone (Confluent's
// RecordNameStrategy): one subject per record type, whatever the topic, so
// a topic can carry several types.
type RecordNameStrategy struct{}

// Subject implements [SubjectNameStrategy].
func (RecordNameStrategy) Subject(_ string, _ bool, record string) (string, error) {
	if record == "" {
		return "", errors.New("the record name strategy needs a schema with a record name for the value")
	}
	return record, nil
}

// TopicRecordNameStrategy names subjects <topic>-<record name> (Confluent's
// TopicRecordNameStrategy).
type TopicRecordNameStrategy struct{}

// Subject implements [SubjectNameStrategy].
func (TopicRecordNameStrategy) Subject(topic string, _ bool, record string) (string, error) {
	if record == "" {
		return "", errors.New("the topic-record name strategy needs a schema with a record name for the value")
	}
	return topic + "-" + record, nil
}

// ParseSubjectNameStrategy returns the strategy named as in
// kafka.schema-registry.subject-name-strategy: topic (or ""), record or
// topic-record. Confluent's class names (TopicNameStrategy,
// RecordNameStrategy, TopicRecordNameStrategy, with or without package)
// are accepted too.
func ParseSubjectNameStrategy(name string) (SubjectNameStrategy, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if i := strings.LastIndexByte(n, '.'); i >= 0 {
		n = n[i+1:]
	}
	switch n {
	case "", "topic", "topicnamestrategy":
		return TopicNameStrategy{}, nil
	case "record", "recordnamestrategy":
		return RecordNameStrategy{}, nil
	case "topic-record", "topic_record", "topicrecordnamestrategy":
		return TopicRecordNameStrategy{}, nil
	}
	return nil, fmt.Errorf("serde: unknown subject name strategy %q (want topic, record or topic-record)", name)
}

// SROption configures the schema registry serdes ([NewSRAvro],
// [NewSRProtobuf], [NewSRJSONSchema]). Options that do not apply to a
// serde are ignored by it.
type SROption interface{ applySR(*srOptions) }

type srOptFunc func(*srOptions)

func (f srOptFunc) applySR(o *srOptions) { f(o) }

type srOptions struct {
	autoRegister  bool
	useLatest     bool
	strategy      SubjectNameStrategy
	isKey         bool
	capacity      int
	timeout       time.Duration
	validateSer   bool
	validateDeser bool
	avroAPI       avro.API
}

// DefaultSRCacheCapacity is the default capacity of each cache of a schema
// registry serde, as Confluent's max.schemas.per.subject.
const DefaultSRCacheCapacity = 1000

func newSROptions(opts []SROption) srOptions {
	o := srOptions{autoRegister: true, strategy: TopicNameStrategy{}, capacity: DefaultSRCacheCapacity, timeout: 30 * time.Second}
	for _, opt := range opts {
		if opt != nil {
			opt.applySR(&o)
		}
	}
	if o.strategy == nil {
		o.strategy = TopicNameStrategy{}
	}
	if o.timeout <= 0 {
		o.timeout = 30 * time.Second
	}
	if o.avroAPI == nil {
		o.avroAPI = DefaultAvroAPI
	}
	return o
}

// AutoRegister sets whether serializers register the schema of a value
// under its subject (Confluent's auto.register.schemas; default true).
// Off, the schema must already be registered: serializers look its id up
// (POST /subjects/{subject}) and fail with [ErrSchemaNotRegistered] when
// it is not there.
func AutoRegister(on bool) SROption {
	return srOptFunc(func(o *srOptions) { o.autoRegister = on })
}

// UseLatestVersion makes serializers use the latest version of the subject
// (its schema and id) instead of the value's own schema, when
// auto-registration is off (Confluent's use.latest.version, which also
// only applies with auto.register.schemas=false). Default false. Values
// of types without a schema always use the latest version.
func UseLatestVersion(on bool) SROption {
	return srOptFunc(func(o *srOptions) { o.useLatest = on })
}

// WithSubjectNameStrategy sets how subjects are named; default
// [TopicNameStrategy].
func WithSubjectNameStrategy(s SubjectNameStrategy) SROption {
	return srOptFunc(func(o *srOptions) { o.strategy = s })
}

// ForKeys makes the serde one for record keys: [TopicNameStrategy] then
// names subjects <topic>-key, and other strategies get isKey true.
func ForKeys() SROption {
	return srOptFunc(func(o *srOptions) { o.isKey = true })
}

// SRCacheCapacity bounds each cache of the serde (schema ids by subject
// and schema, schemas by id, parsed schemas, per-topic writers) to n
// entries; n <= 0 means unbounded. Default [DefaultSRCacheCapacity]. A
// full cache drops an arbitrary entry, which is asked for again when next
// needed.
func SRCacheCapacity(n int) SROption {
	return srOptFunc(func(o *srOptions) { o.capacity = n })
}

// RegistryTimeout bounds each request to the schema registry made while
// serializing or deserializing (default 30s; the sr.Client's HTTP client
// may have a shorter timeout of its own, 5s by default).
func RegistryTimeout(d time.Duration) SROption {
	return srOptFunc(func(o *srOptions) { o.timeout = d })
}

// ValidateJSONSchema makes [SRJSONSchema] validate values against their
// JSON Schema when serializing (the value's schema, or the latest version
// used instead) and when deserializing (the writer's schema, by the id in
// the record). Default off for both. A value that does not validate fails
// with [ErrSchemaValidation]: an error of Serialize, or a
// [*DeserializationError] of Deserialize.
func ValidateJSONSchema(onSerialize, onDeserialize bool) SROption {
	return srOptFunc(func(o *srOptions) { o.validateSer, o.validateDeser = onSerialize, onDeserialize })
}

// DefaultAvroAPI is the hamba/avro configuration [SRAvro] uses unless
// [WithAvroAPI] says otherwise: hamba's defaults (struct tag "avro",
// strings and bytes up to 1 MiB), except that an array may hold at most
// 2^20 elements. hamba allocates an array before decoding its elements,
// so without that bound a corrupt record announcing billions of elements
// could exhaust memory.
var DefaultAvroAPI = avro.Config{MaxSliceAllocSize: 1 << 20}.Freeze()

// WithAvroAPI sets the hamba/avro configuration [SRAvro] encodes and
// decodes with (struct tag key, union resolution, size limits); default
// [DefaultAvroAPI].
func WithAvroAPI(api avro.API) SROption {
	return srOptFunc(func(o *srOptions) { o.avroAPI = api })
}

// ---------------------------------------------------------------------------
// caches

// lazyCache maps keys to values loaded once: concurrent misses for a key
// wait for one load. Failed loads are not cached. With a capacity, a full
// cache drops an arbitrary loaded entry before adding one.
type lazyCache[K comparable, V any] struct {
	mu       sync.RWMutex
	m        map[K]*lazyEntry[V]
	capacity int
}

type lazyEntry[V any] struct {
	done chan struct{}
	v    V
	err  error
}

func newLazyCache[K comparable, V any](capacity int) *lazyCache[K, V] {
	return &lazyCache[K, V]{m: map[K]*lazyEntry[V]{}, capacity: capacity}
}

var errLoadPanicked = errors.New("serde: schema registry: cache load panicked")

func (c *lazyCache[K, V]) get(k K, load func() (V, error)) (V, error) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		<-e.done
		return e.v, e.err
	}
	c.mu.Lock()
	if e, ok = c.m[k]; ok {
		c.mu.Unlock()
		<-e.done
		return e.v, e.err
	}
	if c.capacity > 0 && len(c.m) >= c.capacity {
		for k2, e2 := range c.m {
			select {
			case <-e2.done:
				delete(c.m, k2)
			default:
				continue
			}
			break
		}
	}
	e = &lazyEntry[V]{done: make(chan struct{})}
	c.m[k] = e
	c.mu.Unlock()

	finished := false
	defer func() {
		if !finished {
			e.err = errLoadPanicked
		}
		if e.err != nil {
			c.mu.Lock()
			if c.m[k] == e {
				delete(c.m, k)
			}
			c.mu.Unlock()
		}
		close(e.done)
	}()
	e.v, e.err = load()
	finished = true
	return e.v, e.err
}

// len returns the number of entries (for tests and debugging).
func (c *lazyCache[K, V]) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// ---------------------------------------------------------------------------
// registry access

// srCore is the registry client and caches a schema registry serde shares
// between its serializing and deserializing halves.
type srCore struct {
	cl  *sr.Client
	o   srOptions
	typ sr.SchemaType

	ids    *lazyCache[subjectSchemaKey, sr.SubjectSchema] // (subject, schema) -> id (and version)
	latest *lazyCache[string, sr.SubjectSchema]           // subject -> latest version
	byID   *lazyCache[int, sr.Schema]                     // id -> schema
}

type subjectSchemaKey struct {
	subject, schema, refs string
	version               bool
}

func newSRCore(cl *sr.Client, typ sr.SchemaType, opts []SROption) *srCore {
	if cl == nil {
		panic("serde: nil *sr.Client")
	}
	o := newSROptions(opts)
	return &srCore{
		cl: cl, o: o, typ: typ,
		ids:    newLazyCache[subjectSchemaKey, sr.SubjectSchema](o.capacity),
		latest: newLazyCache[string, sr.SubjectSchema](o.capacity),
		byID:   newLazyCache[int, sr.Schema](o.capacity),
	}
}

func (c *srCore) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.o.timeout)
}

// subject names the subject of a value with record name record.
func (c *srCore) subject(topic, record string) (string, error) {
	s, err := c.o.strategy.Subject(topic, c.o.isKey, record)
	if err != nil {
		return "", fmt.Errorf("serde: schema registry: subject for topic %q: %w", topic, err)
	}
	if s == "" {
		return "", fmt.Errorf("serde: schema registry: empty subject for topic %q", topic)
	}
	return s, nil
}

// useLatest reports whether serializers use the subject's latest version
// rather than the value's schema.
func (c *srCore) useLatest() bool { return !c.o.autoRegister && c.o.useLatest }

func refsKey(refs []sr.SchemaReference) string {
	if len(refs) == 0 {
		return ""
	}
	var b strings.Builder
	for _, r := range refs {
		b.WriteString(r.Name)
		b.WriteByte(0)
		b.WriteString(r.Subject)
		b.WriteByte(0)
		b.WriteString(strconv.Itoa(r.Version))
		b.WriteByte(0)
	}
	return b.String()
}

// schemaID returns the id of s in subject, registering it with
// auto-registration on and looking it up otherwise; withVersion also
// fetches the version (needed for references). The registry is asked once
// per (subject, schema) while the entry stays cached.
func (c *srCore) schemaID(subject string, s sr.Schema, withVersion bool) (sr.SubjectSchema, error) {
	key := subjectSchemaKey{subject: subject, schema: s.Schema, refs: refsKey(s.References), version: withVersion}
	return c.ids.get(key, func() (sr.SubjectSchema, error) {
		ctx, cancel := c.ctx()
		defer cancel()
		if c.o.autoRegister {
			id, err := c.cl.RegisterSchema(ctx, subject, s, -1, -1)
			if err != nil {
				return sr.SubjectSchema{}, fmt.Errorf("serde: schema registry: register %s schema under subject %q: %w", c.typ, subject, registryErr(err))
			}
			if !withVersion {
				return sr.SubjectSchema{Subject: subject, ID: id, Schema: s}, nil
			}
		}
		ss, err := c.cl.LookupSchema(ctx, subject, s)
		if err != nil {
			if isNotFound(err) {
				return sr.SubjectSchema{}, fmt.Errorf("serde: schema registry: %s schema not registered under subject %q (auto-registration is off): %w: %w", c.typ, subject, ErrSchemaNotRegistered, err)
			}
			return sr.SubjectSchema{}, fmt.Errorf("serde: schema registry: look up %s schema under subject %q: %w", c.typ, subject, registryErr(err))
		}
		if ss.Subject == "" {
			ss.Subject = subject
		}
		return ss, nil
	})
}

// latestSchema returns the latest version of subject.
func (c *srCore) latestSchema(subject string) (sr.SubjectSchema, error) {
	return c.latest.get(subject, func() (sr.SubjectSchema, error) {
		ctx, cancel := c.ctx()
		defer cancel()
		ss, err := c.cl.SchemaByVersion(ctx, subject, -1)
		if err != nil {
			if isNotFound(err) {
				return sr.SubjectSchema{}, fmt.Errorf("serde: schema registry: no schema under subject %q to use as its latest version: %w: %w", subject, ErrSchemaNotRegistered, err)
			}
			return sr.SubjectSchema{}, fmt.Errorf("serde: schema registry: latest version of subject %q: %w", subject, registryErr(err))
		}
		if !sameType(ss.Type, c.typ) {
			return sr.SubjectSchema{}, fmt.Errorf("serde: schema registry: the latest version of subject %q is of type %s, not %s", subject, typeName(ss.Type), c.typ)
		}
		return ss, nil
	})
}

// schemaByID returns the schema with id. Errors are either
// ErrUnknownSchema (the id does not exist) or registry errors.
func (c *srCore) schemaByID(id int) (sr.Schema, error) {
	if id <= 0 {
		return sr.Schema{}, fmt.Errorf("schema id %d: %w", id, ErrUnknownSchema)
	}
	return c.byID.get(id, func() (sr.Schema, error) {
		ctx, cancel := c.ctx()
		defer cancel()
		s, err := c.cl.SchemaByID(ctx, id)
		if err != nil {
			if isNotFound(err) {
				return sr.Schema{}, fmt.Errorf("schema id %d: %w: %w", id, ErrUnknownSchema, err)
			}
			return sr.Schema{}, fmt.Errorf("serde: schema registry: schema id %d: %w", id, registryErr(err))
		}
		if !sameType(s.Type, c.typ) {
			return sr.Schema{}, fmt.Errorf("schema id %d is of type %s, not %s: %w", id, typeName(s.Type), c.typ, ErrUnknownSchema)
		}
		return s, nil
	})
}

// referenced returns the schema a reference names (for parsing schemas
// with references).
func (c *srCore) referenced(ref sr.SchemaReference) (sr.SubjectSchema, error) {
	key := subjectSchemaKey{subject: ref.Subject, schema: "\x00ref", refs: strconv.Itoa(ref.Version)}
	return c.ids.get(key, func() (sr.SubjectSchema, error) {
		ctx, cancel := c.ctx()
		defer cancel()
		ss, err := c.cl.SchemaByVersion(ctx, ref.Subject, ref.Version)
		if err != nil {
			if isNotFound(err) {
				return sr.SubjectSchema{}, fmt.Errorf("reference %q (subject %q version %d): %w: %w", ref.Name, ref.Subject, ref.Version, ErrUnknownSchema, err)
			}
			return sr.SubjectSchema{}, fmt.Errorf("serde: schema registry: reference %q (subject %q version %d): %w", ref.Name, ref.Subject, ref.Version, registryErr(err))
		}
		return ss, nil
	})
}

func sameType(got, want sr.SchemaType) bool {
	return got == want || got == 0 && want == sr.TypeAvro
}

func typeName(t sr.SchemaType) string {
	if t == 0 {
		return "AVRO"
	}
	return t.String()
}

// isNotFound reports whether err is the registry's 404 (unknown subject,
// version or schema).
func isNotFound(err error) bool {
	var re *sr.ResponseError
	return errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.ErrorCode/100 == 404)
}

// registryErr marks transport failures, timeouts and server errors with
// ErrRegistryUnavailable.
func registryErr(err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		if re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests || re.StatusCode == http.StatusRequestTimeout {
			return fmt.Errorf("%w: %d %w", ErrRegistryUnavailable, re.StatusCode, err)
		}
		return fmt.Errorf("%d (error code %d): %w", re.StatusCode, re.ErrorCode, err)
	}
	return fmt.Errorf("%w: %w", ErrRegistryUnavailable, err)
}

// readErr turns a failure to get or use the writer's schema into the
// deserializer's error: a *DeserializationError when the record is at
// fault (bad frame, unknown or unusable schema), the error as is when the
// registry is (unavailable, or refusing the request).
func readErr(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type, err error) error {
	if errors.Is(err, ErrUnknownSchema) || errors.Is(err, ErrBadFrame) {
		return deserErr(topic, headers, data, t, err)
	}
	return err
}

// ---------------------------------------------------------------------------
// framing

// srHeaderLen is the length of the magic byte and schema id.
const srHeaderLen = 5

// maxIndexDepth bounds the Protobuf message indexes read from a record.
const maxIndexDepth = 128

// appendSRHeader appends the magic byte and id.
func appendSRHeader(b []byte, id int) []byte {
	return append(b, 0, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
}

// parseSRHeader splits a record into schema id and the rest.
func parseSRHeader(data []byte) (int, []byte, error) {
	if len(data) < srHeaderLen {
		return 0, nil, fmt.Errorf("%d bytes, shorter than the 5-byte header: %w", len(data), ErrBadFrame)
	}
	if data[0] != 0 {
		return 0, nil, fmt.Errorf("magic byte %d, want 0: %w", data[0], ErrBadFrame)
	}
	return int(binary.BigEndian.Uint32(data[1:5])), data[srHeaderLen:], nil
}

// appendIndexes appends Protobuf message indexes as Confluent does: a
// single 0 for [0], else the count and the indexes as zig-zag varints.
func appendIndexes(b []byte, index []int) []byte {
	if len(index) == 1 && index[0] == 0 {
		return append(b, 0)
	}
	b = binary.AppendVarint(b, int64(len(index)))
	for _, i := range index {
		b = binary.AppendVarint(b, int64(i))
	}
	return b
}

// parseIndexes reads Protobuf message indexes.
func parseIndexes(b []byte) ([]int, []byte, error) {
	n, w := binary.Varint(b)
	if w <= 0 {
		return nil, nil, fmt.Errorf("truncated message indexes: %w", ErrBadFrame)
	}
	b = b[w:]
	if n == 0 {
		return []int{0}, b, nil
	}
	if n < 0 || n > maxIndexDepth {
		return nil, nil, fmt.Errorf("message index count %d: %w", n, ErrBadFrame)
	}
	index := make([]int, n)
	for i := range index {
		v, w := binary.Varint(b)
		if w <= 0 {
			return nil, nil, fmt.Errorf("truncated message indexes: %w", ErrBadFrame)
		}
		if v < 0 || v > 1<<30 {
			return nil, nil, fmt.Errorf("message index %d: %w", v, ErrBadFrame)
		}
		index[i] = int(v)
		b = b[w:]
	}
	return index, b, nil
}
