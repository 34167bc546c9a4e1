package serde

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// SRAvro serializes values in Avro (github.com/hamba/avro/v2) with a schema
// registry, in Confluent's wire format. Create it with [NewSRAvro]; the
// zero value is not usable. It is safe for concurrent use.
//
// # Serializing
//
// A Go type gets its Avro schema (Avro JSON text) from
// [SRAvro.Register] (or [RegisterAvro], [SRAvroFor]); struct fields map to
// Avro fields by their `avro:"name"` tags, as in hamba/avro, and map[string]any
// values serialize as records too. T and *T share one schema. The schema is
// registered under the subject the [SubjectNameStrategy] names (record
// name: the full name of the schema's named type) unless
// auto-registration is off ([AutoRegister]); then its id is looked up, or
// with [UseLatestVersion] the subject's latest version is used. A value
// whose type has no schema is serialized with the latest version of its
// subject (which with the record strategies cannot be named, an error).
// Schemas are registered as given, so must be self-contained (no
// references to types of other subjects).
//
// # Deserializing
//
// The writer's schema is fetched by the id in the record (once per id) and
// the payload decoded with it into the target type:
//
//   - structs (and pointers to them) by avro tags; for a type with a
//     registered schema, through the schema resolution of the writer's
//     schema to that reader schema (so fields the writer lacks get the
//     reader's defaults), falling back to the writer's schema alone when
//     the two do not resolve;
//   - any and map[string]any get hamba/avro's generic values (records as
//     map[string]any);
//   - other interfaces are resolved by the writer's record name among the
//     registered types, failing with [ErrUnknownType] otherwise.
//
// Bad frames, unknown schema ids (registry error 40403), schemas of another
// type, truncated payloads, trailing bytes and payloads that do not decode
// fail with a [*DeserializationError] (a poison pill); registry outages
// fail with [ErrRegistryUnavailable].
type SRAvro struct {
	core   *srCore
	api    avro.API
	compat *avro.SchemaCompatibility

	mu    sync.RWMutex
	types map[reflect.Type]*avroType // by pointer-stripped type
	names map[string]reflect.Type    // record name -> type as registered

	writers  atomic.Pointer[lazyCache[writerKey, *avroWriter]]
	resolved atomic.Pointer[lazyCache[resolvedKey, avro.Schema]]
	readers  *lazyCache[int, *avroReader]

	wpool sync.Pool // *avro.Writer
	rpool sync.Pool // *avro.Reader
}

type avroType struct {
	text   string
	schema avro.Schema
	name   string
}

type writerKey struct {
	topic string
	t     reflect.Type
}

type resolvedKey struct {
	id int
	t  reflect.Type
}

type avroWriter struct {
	id     int
	schema avro.Schema
}

type avroReader struct {
	schema avro.Schema
	name   string
}

// NewSRAvro returns an Avro serde using the registry client cl. Options:
// [AutoRegister], [UseLatestVersion], [WithSubjectNameStrategy],
// [ForKeys], [SRCacheCapacity], [RegistryTimeout], [WithAvroAPI].
func NewSRAvro(cl *sr.Client, opts ...SROption) *SRAvro {
	core := newSRCore(cl, sr.TypeAvro, opts)
	a := &SRAvro{
		core:   core,
		api:    core.o.avroAPI,
		compat: avro.NewSchemaCompatibility(),
		types:  map[reflect.Type]*avroType{},
		names:  map[string]reflect.Type{},
	}
	a.readers = newLazyCache[int, *avroReader](a.core.o.capacity)
	a.resetCaches()
	a.wpool.New = func() any { return avro.NewWriter(nil, 256, avro.WithWriterConfig(a.api)) }
	a.rpool.New = func() any { return avro.NewReader(nil, 0, avro.WithReaderConfig(a.api)) }
	return a
}

func (a *SRAvro) resetCaches() {
	a.writers.Store(newLazyCache[writerKey, *avroWriter](a.core.o.capacity))
	a.resolved.Store(newLazyCache[resolvedKey, avro.Schema](a.core.o.capacity))
}

// Client returns the registry client.
func (a *SRAvro) Client() *sr.Client { return a.core.cl }

// Register sets the Avro schema (Avro JSON text) of the type of sample (a
// value or a pointer; T and *T share the schema). Registering a type again
// replaces its schema; two types cannot share a record name
// ([ErrTypeConflict]). The schema is registered with the registry when a
// value is first serialized, not here.
func (a *SRAvro) Register(sample any, schema string) error {
	if sample == nil {
		return errors.New("serde: avro: register: nil sample")
	}
	return a.RegisterType(reflect.TypeOf(sample), schema)
}

// RegisterType is [SRAvro.Register] with a reflect.Type.
func (a *SRAvro) RegisterType(t reflect.Type, schema string) error {
	if t == nil {
		return errors.New("serde: avro: register: nil type")
	}
	s, err := avro.ParseWithCache(schema, "", &avro.SchemaCache{})
	if err != nil {
		return fmt.Errorf("serde: avro: register %s: invalid schema: %w", t, err)
	}
	base := baseType(t)
	at := &avroType{text: schema, schema: s, name: avroName(s)}
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.names[at.name]; ok && baseType(old) != base {
		return fmt.Errorf("serde: avro: register %s as %q: already registered for %s: %w", t, at.name, old, ErrTypeConflict)
	}
	if old, ok := a.types[base]; ok {
		delete(a.names, old.name)
	}
	a.types[base] = at
	a.names[at.name] = t
	a.resetCaches()
	return nil
}

// RegisterAvro sets the Avro schema of T in a (see [SRAvro.Register]).
func RegisterAvro[T any](a *SRAvro, schema string) error {
	return a.RegisterType(reflect.TypeFor[T](), schema)
}

// SRAvroFor returns an Avro Codec for T with the given schema (Avro JSON
// text); an empty schema means T is serialized with the latest version of
// its subject.
func SRAvroFor[T any](cl *sr.Client, schema string, opts ...SROption) (Codec[T], error) {
	a := NewSRAvro(cl, opts...)
	if schema != "" {
		if err := RegisterAvro[T](a, schema); err != nil {
			return Codec[T]{}, err
		}
	}
	return NewCodec[T](a), nil
}

func avroName(s avro.Schema) string {
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

func (a *SRAvro) typeOf(t reflect.Type) *avroType {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.types[baseType(t)]
}

// Serialize implements [Serializer].
func (a *SRAvro) Serialize(topic string, _ *[]kgo.RecordHeader, v any) ([]byte, error) {
	if isNil(v) {
		return nil, nil
	}
	t := reflect.TypeOf(v)
	w, err := a.writer(topic, t)
	if err != nil {
		return nil, err
	}
	aw := a.wpool.Get().(*avro.Writer)
	aw.Reset(nil)
	aw.Error = nil
	var hdr [srHeaderLen]byte
	_, _ = aw.Write(appendSRHeader(hdr[:0], w.id))
	aw.WriteVal(w.schema, v)
	if aw.Error != nil {
		err := aw.Error
		aw.Error = nil
		a.wpool.Put(aw)
		return nil, fmt.Errorf("serde: avro: serialize %T: %w", v, err)
	}
	out := bytes.Clone(aw.Buffer())
	if cap(aw.Buffer()) <= 64<<10 {
		a.wpool.Put(aw)
	}
	return out, nil
}

// writer returns the schema and id values of type t are written with to
// topic.
func (a *SRAvro) writer(topic string, t reflect.Type) (*avroWriter, error) {
	return a.writers.Load().get(writerKey{topic, t}, func() (*avroWriter, error) {
		at := a.typeOf(t)
		record := ""
		if at != nil {
			record = at.name
		}
		subject, err := a.core.subject(topic, record)
		if err != nil {
			return nil, err
		}
		if at != nil && !a.core.useLatest() {
			ss, err := a.core.schemaID(subject, sr.Schema{Schema: at.text, Type: sr.TypeAvro}, false)
			if err != nil {
				return nil, err
			}
			return &avroWriter{id: ss.ID, schema: at.schema}, nil
		}
		ss, err := a.core.latestSchema(subject)
		if err != nil {
			if at == nil {
				return nil, fmt.Errorf("serde: avro: %s has no registered schema: %w", t, err)
			}
			return nil, err
		}
		s, err := a.parse(ss.Schema)
		if err != nil {
			return nil, fmt.Errorf("serde: avro: latest version of subject %q (id %d): %w", subject, ss.ID, err)
		}
		return &avroWriter{id: ss.ID, schema: s}, nil
	})
}

// parse parses a schema from the registry with its references.
func (a *SRAvro) parse(s sr.Schema) (avro.Schema, error) {
	cache := &avro.SchemaCache{}
	if err := a.parseRefs(s.References, cache, 0); err != nil {
		return nil, err
	}
	out, err := avro.ParseWithCache(s.Schema, "", cache)
	if err != nil {
		return nil, fmt.Errorf("invalid Avro schema: %w: %w", ErrUnknownSchema, err)
	}
	return out, nil
}

func (a *SRAvro) parseRefs(refs []sr.SchemaReference, cache *avro.SchemaCache, depth int) error {
	if len(refs) > 0 && depth > 32 {
		return fmt.Errorf("schema references nested too deeply: %w", ErrUnknownSchema)
	}
	for _, ref := range refs {
		ss, err := a.core.referenced(ref)
		if err != nil {
			return err
		}
		if err := a.parseRefs(ss.References, cache, depth+1); err != nil {
			return err
		}
		if _, err := avro.ParseWithCache(ss.Schema.Schema, "", cache); err != nil {
			return fmt.Errorf("referenced schema %q: invalid Avro schema: %w: %w", ref.Name, ErrUnknownSchema, err)
		}
	}
	return nil
}

// reader returns the writer's schema with id.
func (a *SRAvro) reader(id int) (*avroReader, error) {
	return a.readers.get(id, func() (*avroReader, error) {
		s, err := a.core.schemaByID(id)
		if err != nil {
			return nil, err
		}
		schema, err := a.parse(s)
		if err != nil {
			return nil, fmt.Errorf("schema id %d: %w", id, err)
		}
		return &avroReader{schema: schema, name: avroName(schema)}, nil
	})
}

// readSchema returns the schema to decode records written with r (schema
// id) into base type t: the resolution of the writer's to t's registered
// schema, or the writer's.
func (a *SRAvro) readSchema(id int, r *avroReader, t reflect.Type) avro.Schema {
	at := a.typeOf(t)
	if at == nil {
		return r.schema
	}
	s, _ := a.resolved.Load().get(resolvedKey{id, baseType(t)}, func() (avro.Schema, error) {
		s, err := a.compat.Resolve(at.schema, r.schema)
		if err != nil {
			return r.schema, nil // decode with the writer's schema alone
		}
		return s, nil
	})
	return s
}

// Deserialize implements [Deserializer].
func (a *SRAvro) Deserialize(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (any, error) {
	if t == nil {
		return nil, deserErr(topic, headers, data, t, errNilType)
	}
	if data == nil {
		return tombstone(t), nil
	}
	id, payload, err := parseSRHeader(data)
	if err != nil {
		return nil, deserErr(topic, headers, data, t, err)
	}
	r, err := a.reader(id)
	if err != nil {
		return nil, readErr(topic, headers, data, t, err)
	}
	target := t
	if t.Kind() == reflect.Interface {
		if t.NumMethod() == 0 {
			var v any
			if err := a.decode(r, r.schema, payload, &v); err != nil {
				return nil, deserErr(topic, headers, data, t, err)
			}
			return v, nil
		}
		a.mu.RLock()
		rt, ok := a.names[r.name]
		a.mu.RUnlock()
		if !ok {
			return nil, deserErr(topic, headers, data, t, fmt.Errorf("no type registered for Avro record %q (schema id %d) to implement %s: %w", r.name, id, t, ErrUnknownType))
		}
		ct, ok := implementer(rt, t)
		if !ok {
			return nil, deserErr(topic, headers, data, t, fmt.Errorf("type %s (Avro record %q) does not implement %s: %w", rt, r.name, t, ErrUnknownType))
		}
		target = ct
	}
	if target.Kind() == reflect.Pointer {
		p := reflect.New(target.Elem())
		if err := a.decode(r, a.readSchema(id, r, target), payload, p.Interface()); err != nil {
			return nil, deserErr(topic, headers, data, t, err)
		}
		return p.Interface(), nil
	}
	p := reflect.New(target)
	if err := a.decode(r, a.readSchema(id, r, target), payload, p.Interface()); err != nil {
		return nil, deserErr(topic, headers, data, t, err)
	}
	return p.Elem().Interface(), nil
}

// DeserializeInto implements [IntoDeserializer]: non-pointer, non-interface
// targets are decoded straight into *ptr; others go through Deserialize.
func (a *SRAvro) DeserializeInto(topic string, headers []kgo.RecordHeader, data []byte, ptr any) error {
	pv, t, err := intoTarget(ptr)
	if err != nil {
		return deserErr(topic, headers, data, t, err)
	}
	if t.Kind() == reflect.Interface || t.Kind() == reflect.Pointer {
		return setFrom(a, topic, headers, data, pv, t)
	}
	if data == nil {
		pv.Elem().SetZero()
		return nil
	}
	id, payload, err := parseSRHeader(data)
	if err != nil {
		return deserErr(topic, headers, data, t, err)
	}
	r, err := a.reader(id)
	if err != nil {
		return readErr(topic, headers, data, t, err)
	}
	if err := a.decode(r, a.readSchema(id, r, t), payload, ptr); err != nil {
		return deserErr(topic, headers, data, t, err)
	}
	return nil
}

// decode checks payload against the writer's schema (see checkAvro) and
// decodes it into ptr with schema; decoder panics are returned as errors.
func (a *SRAvro) decode(w *avroReader, schema avro.Schema, payload []byte, ptr any) (err error) {
	if err := checkAvro(w.schema, payload); err != nil {
		return err
	}
	r := a.rpool.Get().(*avro.Reader)
	r.Reset(payload)
	r.Error = nil
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("avro: decoder panicked: %v", p)
			return // the reader's state is unknown: do not reuse it
		}
		r.Reset(nil)
		r.Error = nil
		a.rpool.Put(r)
	}()
	r.ReadVal(schema, ptr)
	if err := r.Error; err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("avro: truncated payload: %w", io.ErrUnexpectedEOF)
		}
		return err
	}
	return nil
}
