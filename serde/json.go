package serde

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/internal/typecache"
)

// JSON serializes values with encoding/json and writes a type header (see
// the package documentation). Create it with [NewJSON]; the zero value is
// not usable.
//
// encoding/json is the default deliberately: it is the standard,
// well-fuzzed implementation and honours json.Marshaler and struct tags
// exactly as users expect. [WithJSONCodec]([GoJSON]()) chooses
// github.com/goccy/go-json instead, about twice as fast, with the
// differences [JSONCodec] lists.
//
// Deserialization targets: any type encoding/json can decode into. For a
// pointer type *T a new T is allocated and the pointer returned. For
// interface targets the type header selects a registered type; without a
// header an empty interface (any) gets encoding/json's generic values
// (map[string]any, []any, float64 or json.Number with [UseNumber], string,
// bool) and a non-empty interface fails with [ErrUnknownType]. Empty data
// (non-nil, zero length) is an error; nil data is a tombstone. Trailing
// data after the JSON value is an error.
type JSON struct {
	o     options
	codec jsonImpl // nil: encoding/json
	// headers caches the type header per type, as a one-element slice
	// shared by every record of the type (see Serialize), per
	// registration generation; nil for types without a name.
	headers typecache.Cache[[]kgo.RecordHeader]
}

// NewJSON returns a JSON serde. Options: [WithRegistry],
// [WithTypeMapping], [WithTypeHeader], [WithoutTypeHeader],
// [DisallowUnknownFields], [UseNumber], [WithJSONCodec].
func NewJSON(opts ...Option) *JSON {
	return &JSON{o: newOptions(opts), codec: codecOf(opts)}
}

// Registry returns the serde's type registry.
func (j *JSON) Registry() *TypeRegistry { return j.o.registry }

// Serialize implements [Serializer]. The bytes are those json.Marshal
// returns (or the chosen codec's). The type header is shared by all the
// records of a type: when *headers is nil, Serialize sets it to a
// one-element slice (with no spare room, so appending copies it) that
// every record of the type shares, else it adds the header to *headers
// with the value's bytes shared. Replace headers, or build a new slice;
// do not write into a record's header slice or header values in place.
func (j *JSON) Serialize(_ string, headers *[]kgo.RecordHeader, v any) ([]byte, error) {
	if isNil(v) {
		return nil, nil
	}
	b, err := j.marshal(v)
	if err != nil {
		return nil, serializeErr(v, err)
	}
	if !j.o.noHeader && headers != nil {
		setTypeHeader(headers, j.typeHeader(reflect.TypeOf(v)))
	}
	return b, nil
}

// setTypeHeader gives *headers the type header h (nil: none), sharing h
// when *headers is nil (see JSON.Serialize).
func setTypeHeader(headers *[]kgo.RecordHeader, h []kgo.RecordHeader) {
	switch {
	case h == nil:
	case *headers == nil:
		*headers = h
	default:
		setHeaderBytes(headers, h[0].Key, h[0].Value)
	}
}

// serializeErr is the error of serializing v that failed with err.
func serializeErr(v any, err error) error {
	if isUnsupportedType(err) {
		return fmt.Errorf("serde: json: serialize %T: %w: %w", v, ErrUnsupportedType, err)
	}
	return fmt.Errorf("serde: json: serialize %T: %w", v, err)
}

// typeHeader returns the type header for t as a shared one-element slice,
// nil for types without a name.
func (j *JSON) typeHeader(t reflect.Type) []kgo.RecordHeader {
	r := j.o.registry
	var gen uint64
	if c := r.names.Load(); c != nil {
		gen = c.gen
	}
	return j.headers.Get(t, gen, func() []kgo.RecordHeader {
		name := r.NameOf(t)
		if name == "" {
			return nil
		}
		return []kgo.RecordHeader{{Key: j.o.header, Value: []byte(name)}}
	})
}

// typeSerializer returns j's serializer for the values of type t: it
// writes what j does, with t's type header kept at hand (a serializer of
// the common case, one type after another, touches fewer cache lines
// than j's per-type cache).
func (j *JSON) typeSerializer(t reflect.Type) *jsonTypeSer {
	return &jsonTypeSer{j: j, t: t, reg: j.o.registry, codec: j.codec, noHeader: j.o.noHeader, ptr: t.Kind() == reflect.Pointer}
}

// jsonTypeSer is a JSON serde's serializer of the values of one type.
type jsonTypeSer struct {
	j     *JSON
	t     reflect.Type
	reg   *TypeRegistry
	codec jsonImpl // j.codec
	// hdr is t's type header, with the registry's names it was made
	// from: a registration replaces them, and so makes it stale.
	hdr      atomic.Pointer[jsonTypeHeader]
	noHeader bool // j.o.noHeader
	ptr      bool // t is a pointer type
}

// jsonTypeHeader is a type's header slice (shared by the records of the
// type, see JSON.Serialize; nil for types without a name) and the
// registry's name cache it was made with.
type jsonTypeHeader struct {
	names *nameCache
	h     []kgo.RecordHeader
}

// Serialize implements [Serializer]: what [JSON.Serialize] does.
func (s *jsonTypeSer) Serialize(topic string, headers *[]kgo.RecordHeader, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if reflect.TypeOf(v) != s.t {
		return s.j.Serialize(topic, headers, v)
	}
	if s.ptr && reflect.ValueOf(v).IsNil() {
		return nil, nil
	}
	var b []byte
	var err error
	if s.codec == nil {
		b, err = json.Marshal(v)
	} else {
		b, err = s.codec.marshal(v)
	}
	if err != nil {
		return nil, serializeErr(v, err)
	}
	if !s.noHeader && headers != nil {
		setTypeHeader(headers, s.header())
	}
	return b, nil
}

// header returns the type header of s's type.
func (s *jsonTypeSer) header() []kgo.RecordHeader {
	names := s.reg.names.Load()
	if e := s.hdr.Load(); e != nil && e.names == names {
		return e.h
	}
	// Made after names was read: if a registration came in between,
	// the next call finds names replaced and makes it again.
	h := s.j.typeHeader(s.t)
	s.hdr.Store(&jsonTypeHeader{names: names, h: h})
	return h
}

// marshal returns the JSON encoding of v.
func (j *JSON) marshal(v any) ([]byte, error) {
	if j.codec == nil {
		return json.Marshal(v)
	}
	return j.codec.marshal(v)
}

// Deserialize implements [Deserializer].
func (j *JSON) Deserialize(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (any, error) {
	if t == nil {
		return nil, deserErr(topic, headers, data, t, errNilType)
	}
	if data == nil {
		return tombstone(t), nil
	}
	target := t
	if t.Kind() == reflect.Interface {
		ct, err := resolveInterface(j.o.registry, headers, j.o.header, t)
		if err != nil {
			return nil, deserErr(topic, headers, data, t, err)
		}
		if ct != nil {
			target = ct
		}
	}
	v, err := j.decode(data, target)
	if err != nil {
		return nil, deserErr(topic, headers, data, t, err)
	}
	return v, nil
}

func (j *JSON) decode(data []byte, t reflect.Type) (any, error) {
	p := reflect.New(t)
	if err := j.decodeInto(data, p.Interface()); err != nil {
		return nil, err
	}
	return p.Elem().Interface(), nil
}

// DeserializeInto implements [IntoDeserializer]: it decodes data straight
// into *ptr with encoding/json, which saves Deserialize's copy of the
// decoded value into an interface (an allocation per record). For
// interface element types it falls back to Deserialize (the type header
// chooses the concrete type).
func (j *JSON) DeserializeInto(topic string, headers []kgo.RecordHeader, data []byte, ptr any) error {
	pv, t, err := intoTarget(ptr)
	if err != nil {
		return deserErr(topic, headers, data, t, err)
	}
	return j.deserializeInto(topic, headers, data, ptr, pv, t)
}

func (j *JSON) deserializeInto(topic string, headers []kgo.RecordHeader, data []byte, ptr any, pv reflect.Value, t reflect.Type) error {
	if t.Kind() == reflect.Interface {
		return setFrom(j, topic, headers, data, pv, t)
	}
	if data == nil {
		pv.Elem().SetZero()
		return nil
	}
	if err := j.decodeInto(data, ptr); err != nil {
		return deserErr(topic, headers, data, t, err)
	}
	return nil
}

// decodeInto decodes data into ptr, a non-nil pointer. The plain
// json.Unmarshal path is used unless an option needs a json.Decoder.
func (j *JSON) decodeInto(data []byte, ptr any) error {
	if j.codec != nil {
		return j.codec.unmarshal(data, ptr, j.o.disallowUnknown, j.o.useNumber)
	}
	if !j.o.disallowUnknown && !j.o.useNumber {
		return json.Unmarshal(data, ptr)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if j.o.disallowUnknown {
		dec.DisallowUnknownFields()
	}
	if j.o.useNumber {
		dec.UseNumber()
	}
	if err := dec.Decode(ptr); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("empty JSON input: %w", io.ErrUnexpectedEOF)
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: data after the top-level value")
	}
	return nil
}

// resolveInterface picks the concrete type for interface target t from the
// type header. It returns (nil, nil) when there is no header and t is the
// empty interface (generic decoding).
func resolveInterface(reg *TypeRegistry, headers []kgo.RecordHeader, header string, t reflect.Type) (reflect.Type, error) {
	name, ok := HeaderValue(headers, header)
	if !ok || name == "" {
		if t.NumMethod() == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("no %s header to choose a type implementing %s: %w", header, t, ErrUnknownType)
	}
	rt, ok := reg.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("type %q (from header %s) is not registered: %w", name, header, ErrUnknownType)
	}
	ct, ok := implementer(rt, t)
	if !ok {
		return nil, fmt.Errorf("type %q (%s) does not implement %s: %w", name, rt, t, ErrUnknownType)
	}
	return ct, nil
}
