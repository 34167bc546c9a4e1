package serde

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// SRJSONSchema serializes values as JSON (encoding/json) with a JSON
// Schema in a schema registry, in Confluent's wire format. Create it with
// [NewSRJSONSchema]; the zero value is not usable. It is safe for
// concurrent use.
//
// A Go type gets its JSON Schema (text) from [SRJSONSchema.Register] (or
// [RegisterJSONSchema], [SRJSONSchemaFor]); T and *T share one. It is
// registered as JSON under the subject the [SubjectNameStrategy] names
// (record name: the schema's "title") as [SRAvro] does, including
// auto-registration off and [UseLatestVersion]; a type without a schema
// uses the latest version of its subject.
//
// Values are validated against the schema (santhosh-tekuri/jsonschema,
// draft-07 unless the schema's $schema says otherwise, as Confluent) only
// with [ValidateJSONSchema]: on serialize against the schema the value is
// written with, on deserialize against the writer's schema.
// Schemas load nothing from files or the network: a $ref must resolve
// within the schema or, when reading, to one of the writer's schema
// references.
//
// Deserialization targets: anything encoding/json decodes into (any gets
// generic values), and other interfaces, resolved by the writer's schema
// title among the registered types. Bad frames, unknown schema ids,
// schemas of another type, invalid JSON and (with validation) invalid
// values fail with a [*DeserializationError]; registry outages with
// [ErrRegistryUnavailable].
type SRJSONSchema struct {
	core *srCore

	mu    sync.RWMutex
	types map[reflect.Type]*jsonSchemaType // by pointer-stripped type
	names map[string]reflect.Type          // title -> type as registered

	writers atomic.Pointer[lazyCache[writerKey, *jsonSchemaWriter]]
	readers *lazyCache[int, *jsonSchemaReader]
}

type jsonSchemaType struct {
	text     string
	title    string
	compiled *jsonschema.Schema
}

type jsonSchemaWriter struct {
	id       int
	validate *jsonschema.Schema // nil without validation
}

type jsonSchemaReader struct {
	title    string
	validate *jsonschema.Schema // nil without validation
}

// NewSRJSONSchema returns a JSON Schema serde using the registry client
// cl. Options: [AutoRegister], [UseLatestVersion],
// [WithSubjectNameStrategy], [ForKeys], [SRCacheCapacity],
// [RegistryTimeout], [ValidateJSONSchema].
func NewSRJSONSchema(cl *sr.Client, opts ...SROption) *SRJSONSchema {
	j := &SRJSONSchema{
		core:  newSRCore(cl, sr.TypeJSON, opts),
		types: map[reflect.Type]*jsonSchemaType{},
		names: map[string]reflect.Type{},
	}
	j.readers = newLazyCache[int, *jsonSchemaReader](j.core.o.capacity)
	j.writers.Store(newLazyCache[writerKey, *jsonSchemaWriter](j.core.o.capacity))
	return j
}

// Client returns the registry client.
func (j *SRJSONSchema) Client() *sr.Client { return j.core.cl }

// Register sets the JSON Schema (text) of the type of sample (a value or a
// pointer; T and *T share the schema). The schema must compile. Registering
// a type again replaces its schema; two types cannot share a title
// ([ErrTypeConflict]).
func (j *SRJSONSchema) Register(sample any, schema string) error {
	if sample == nil {
		return errors.New("serde: json schema: register: nil sample")
	}
	return j.RegisterType(reflect.TypeOf(sample), schema)
}

// RegisterType is [SRJSONSchema.Register] with a reflect.Type.
func (j *SRJSONSchema) RegisterType(t reflect.Type, schema string) error {
	if t == nil {
		return errors.New("serde: json schema: register: nil type")
	}
	compiled, title, err := compileJSONSchema(schema, nil)
	if err != nil {
		return fmt.Errorf("serde: json schema: register %s: %w", t, err)
	}
	base := baseType(t)
	jt := &jsonSchemaType{text: schema, title: title, compiled: compiled}
	j.mu.Lock()
	defer j.mu.Unlock()
	if title != "" {
		if old, ok := j.names[title]; ok && baseType(old) != base {
			return fmt.Errorf("serde: json schema: register %s as %q: already registered for %s: %w", t, title, old, ErrTypeConflict)
		}
	}
	if old, ok := j.types[base]; ok && old.title != "" {
		delete(j.names, old.title)
	}
	j.types[base] = jt
	if title != "" {
		j.names[title] = t
	}
	j.writers.Store(newLazyCache[writerKey, *jsonSchemaWriter](j.core.o.capacity))
	return nil
}

// RegisterJSONSchema sets the JSON Schema of T in j (see
// [SRJSONSchema.Register]).
func RegisterJSONSchema[T any](j *SRJSONSchema, schema string) error {
	return j.RegisterType(reflect.TypeFor[T](), schema)
}

// SRJSONSchemaFor returns a JSON Schema Codec for T with the given schema
// (JSON Schema text); an empty schema means T is serialized with the
// latest version of its subject.
func SRJSONSchemaFor[T any](cl *sr.Client, schema string, opts ...SROption) (Codec[T], error) {
	j := NewSRJSONSchema(cl, opts...)
	if schema != "" {
		if err := RegisterJSONSchema[T](j, schema); err != nil {
			return Codec[T]{}, err
		}
	}
	return NewCodec[T](j), nil
}

// refLoader resolves $refs to a schema's registry references by name (the
// URL itself, or its last path segments), and nothing else.
type refLoader map[string]any

// Load implements jsonschema.URLLoader.
func (l refLoader) Load(url string) (any, error) {
	for name, doc := range l {
		if url == name || strings.HasSuffix(url, "/"+strings.TrimPrefix(name, "/")) {
			return doc, nil
		}
	}
	return nil, fmt.Errorf("$ref %q: not a reference of the schema (schemas load nothing from files or the network)", url)
}

const jsonSchemaRoot = "mem://schema-registry/schema.json"

// compileJSONSchema compiles text with refs (reference name -> schema
// document) and returns its title.
func compileJSONSchema(text string, refs refLoader) (s *jsonschema.Schema, title string, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, title, err = nil, "", fmt.Errorf("invalid JSON Schema: compiler panicked: %v", r)
		}
	}()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, "", fmt.Errorf("invalid JSON Schema: %w", err)
	}
	if m, ok := doc.(map[string]any); ok {
		title, _ = m["title"].(string)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(refs)
	if err := c.AddResource(jsonSchemaRoot, doc); err != nil {
		return nil, "", fmt.Errorf("invalid JSON Schema: %w", err)
	}
	s, err = c.Compile(jsonSchemaRoot)
	if err != nil {
		return nil, "", fmt.Errorf("invalid JSON Schema: %w", err)
	}
	return s, title, nil
}

func (j *SRJSONSchema) typeOf(t reflect.Type) *jsonSchemaType {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.types[baseType(t)]
}

// Serialize implements [Serializer].
func (j *SRJSONSchema) Serialize(topic string, _ *[]kgo.RecordHeader, v any) ([]byte, error) {
	if isNil(v) {
		return nil, nil
	}
	t := reflect.TypeOf(v)
	w, err := j.writer(topic, t)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		var ute *json.UnsupportedTypeError
		if errors.As(err, &ute) {
			return nil, fmt.Errorf("serde: json schema: serialize %T: %w: %w", v, ErrUnsupportedType, err)
		}
		return nil, fmt.Errorf("serde: json schema: serialize %T: %w", v, err)
	}
	if w.validate != nil {
		if err := validateJSON(w.validate, b); err != nil {
			return nil, fmt.Errorf("serde: json schema: serialize %T: %w", v, err)
		}
	}
	out := make([]byte, 0, srHeaderLen+len(b))
	return append(appendSRHeader(out, w.id), b...), nil
}

func validateJSON(s *jsonschema.Schema, b []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("%w: %w", ErrSchemaValidation, err)
	}
	return nil
}

func (j *SRJSONSchema) writer(topic string, t reflect.Type) (*jsonSchemaWriter, error) {
	return j.writers.Load().get(writerKey{topic, t}, func() (*jsonSchemaWriter, error) {
		jt := j.typeOf(t)
		record := ""
		if jt != nil {
			record = jt.title
		}
		subject, err := j.core.subject(topic, record)
		if err != nil {
			return nil, err
		}
		if jt != nil && !j.core.useLatest() {
			ss, err := j.core.schemaID(subject, sr.Schema{Schema: jt.text, Type: sr.TypeJSON}, false)
			if err != nil {
				return nil, err
			}
			w := &jsonSchemaWriter{id: ss.ID}
			if j.core.o.validateSer {
				w.validate = jt.compiled
			}
			return w, nil
		}
		ss, err := j.core.latestSchema(subject)
		if err != nil {
			if jt == nil {
				return nil, fmt.Errorf("serde: json schema: %s has no registered schema: %w", t, err)
			}
			return nil, err
		}
		w := &jsonSchemaWriter{id: ss.ID}
		if j.core.o.validateSer {
			refs, err := j.refs(ss.References, 0)
			if err != nil {
				return nil, fmt.Errorf("serde: json schema: latest version of subject %q (id %d): %w", subject, ss.ID, err)
			}
			if w.validate, _, err = compileJSONSchema(ss.Schema.Schema, refs); err != nil {
				return nil, fmt.Errorf("serde: json schema: latest version of subject %q (id %d): %w", subject, ss.ID, err)
			}
		}
		return w, nil
	})
}

// refs collects the documents of references (recursively), by name.
func (j *SRJSONSchema) refs(refs []sr.SchemaReference, depth int) (refLoader, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	if depth > 32 {
		return nil, fmt.Errorf("schema references nested too deeply: %w", ErrUnknownSchema)
	}
	out := refLoader{}
	for _, ref := range refs {
		ss, err := j.core.referenced(ref)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(ss.Schema.Schema))
		if err != nil {
			return nil, fmt.Errorf("reference %q: invalid JSON Schema: %w: %w", ref.Name, ErrUnknownSchema, err)
		}
		out[ref.Name] = doc
		sub, err := j.refs(ss.References, depth+1)
		if err != nil {
			return nil, err
		}
		for k, v := range sub {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
	return out, nil
}

func (j *SRJSONSchema) reader(id int) (*jsonSchemaReader, error) {
	return j.readers.get(id, func() (*jsonSchemaReader, error) {
		s, err := j.core.schemaByID(id)
		if err != nil {
			return nil, err
		}
		r := &jsonSchemaReader{}
		var doc struct {
			Title string `json:"title"`
		}
		_ = json.Unmarshal([]byte(s.Schema), &doc)
		r.title = doc.Title
		if j.core.o.validateDeser {
			refs, err := j.refs(s.References, 0)
			if err != nil {
				return nil, fmt.Errorf("schema id %d: %w", id, err)
			}
			if r.validate, _, err = compileJSONSchema(s.Schema, refs); err != nil {
				return nil, fmt.Errorf("schema id %d: %w: %w", id, ErrUnknownSchema, err)
			}
		}
		return r, nil
	})
}

// payload parses the frame and reads the writer's schema, validating
// the payload with it when configured.
func (j *SRJSONSchema) payload(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) ([]byte, *jsonSchemaReader, error) {
	id, payload, err := parseSRHeader(data)
	if err != nil {
		return nil, nil, deserErr(topic, headers, data, t, err)
	}
	r, err := j.reader(id)
	if err != nil {
		return nil, nil, readErr(topic, headers, data, t, err)
	}
	if r.validate != nil {
		if err := validateJSON(r.validate, payload); err != nil {
			return nil, nil, deserErr(topic, headers, data, t, err)
		}
	}
	return payload, r, nil
}

// Deserialize implements [Deserializer].
func (j *SRJSONSchema) Deserialize(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (any, error) {
	if t == nil {
		return nil, deserErr(topic, headers, data, t, errNilType)
	}
	if data == nil {
		return tombstone(t), nil
	}
	payload, r, err := j.payload(topic, headers, data, t)
	if err != nil {
		return nil, err
	}
	target := t
	if t.Kind() == reflect.Interface && t.NumMethod() > 0 {
		j.mu.RLock()
		rt, ok := j.names[r.title]
		j.mu.RUnlock()
		if !ok || r.title == "" {
			return nil, deserErr(topic, headers, data, t, fmt.Errorf("no type registered for JSON Schema title %q to implement %s: %w", r.title, t, ErrUnknownType))
		}
		ct, ok := implementer(rt, t)
		if !ok {
			return nil, deserErr(topic, headers, data, t, fmt.Errorf("type %s (JSON Schema %q) does not implement %s: %w", rt, r.title, t, ErrUnknownType))
		}
		target = ct
	}
	p := reflect.New(target)
	if err := json.Unmarshal(payload, p.Interface()); err != nil {
		return nil, deserErr(topic, headers, data, t, err)
	}
	return p.Elem().Interface(), nil
}

// DeserializeInto implements [IntoDeserializer]: non-interface targets are
// decoded straight into *ptr; interfaces go through Deserialize.
func (j *SRJSONSchema) DeserializeInto(topic string, headers []kgo.RecordHeader, data []byte, ptr any) error {
	pv, t, err := intoTarget(ptr)
	if err != nil {
		return deserErr(topic, headers, data, t, err)
	}
	if t.Kind() == reflect.Interface {
		return setFrom(j, topic, headers, data, pv, t)
	}
	if data == nil {
		pv.Elem().SetZero()
		return nil
	}
	payload, _, err := j.payload(topic, headers, data, t)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(payload, ptr); err != nil {
		return deserErr(topic, headers, data, t, err)
	}
	return nil
}
