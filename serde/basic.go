package serde

import (
	"fmt"
	"reflect"

	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	bytesType  = reflect.TypeFor[[]byte]()
	stringType = reflect.TypeFor[string]()
)

// isBytesType reports whether t is []byte or a named type with underlying
// type []byte (so that conversion from []byte is valid).
func isBytesType(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem() == byteType
}

var byteType = reflect.TypeFor[byte]()

// String converts strings (and types whose underlying type is string) to
// and from their UTF-8 bytes, like Kafka's StringSerializer. It also
// serializes []byte as is. Deserialization targets: string kinds, *string
// kinds (nil for tombstones), []byte kinds, and interfaces satisfied by
// string (any). Bytes are not validated as UTF-8.
type String struct{}

// Serialize implements [Serializer].
func (String) Serialize(_ string, _ *[]kgo.RecordHeader, v any) ([]byte, error) {
	if isNil(v) {
		return nil, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	switch {
	case rv.Kind() == reflect.String:
		return []byte(rv.String()), nil
	case isBytesType(rv.Type()):
		return rv.Bytes(), nil
	}
	return nil, fmt.Errorf("serde: string: cannot serialize %T: %w", v, ErrUnsupportedType)
}

// Deserialize implements [Deserializer].
func (String) Deserialize(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (any, error) {
	if t == nil {
		return nil, deserErr(topic, headers, data, t, errNilType)
	}
	if data == nil {
		return tombstone(t), nil
	}
	switch {
	case t.Kind() == reflect.String:
		return reflect.ValueOf(string(data)).Convert(t).Interface(), nil
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.String:
		p := reflect.New(t.Elem())
		p.Elem().SetString(string(data))
		return p.Interface(), nil
	case isBytesType(t):
		return reflect.ValueOf(data).Convert(t).Interface(), nil
	case t.Kind() == reflect.Interface && stringType.Implements(t):
		return string(data), nil
	}
	return nil, deserErr(topic, headers, data, t, fmt.Errorf("string deserializer cannot produce %s: %w", t, ErrUnsupportedType))
}

// DeserializeInto implements [IntoDeserializer]; string kinds are set in
// place, other targets go through Deserialize.
func (s String) DeserializeInto(topic string, headers []kgo.RecordHeader, data []byte, ptr any) error {
	pv, t, err := intoTarget(ptr)
	if err != nil {
		return deserErr(topic, headers, data, t, err)
	}
	if t.Kind() != reflect.String {
		return setFrom(s, topic, headers, data, pv, t)
	}
	if data == nil {
		pv.Elem().SetZero()
	} else {
		pv.Elem().SetString(string(data))
	}
	return nil
}

// Bytes passes []byte values through unchanged, like Kafka's
// ByteArraySerializer. Serialization accepts []byte kinds (including
// json.RawMessage); deserialization produces []byte kinds or, for interface
// targets satisfied by []byte (any), a []byte.
//
// Nothing is copied: deserialized slices alias the record's buffer (franz-go
// does not reuse fetch buffers, so this is safe, but mutating the slice
// mutates the record).
type Bytes struct{}

// Serialize implements [Serializer].
func (Bytes) Serialize(_ string, _ *[]kgo.RecordHeader, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	rv := reflect.ValueOf(v)
	if isBytesType(rv.Type()) {
		return rv.Bytes(), nil
	}
	return nil, fmt.Errorf("serde: bytes: cannot serialize %T: %w", v, ErrUnsupportedType)
}

// Deserialize implements [Deserializer].
func (Bytes) Deserialize(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (any, error) {
	if t == nil {
		return nil, deserErr(topic, headers, data, t, errNilType)
	}
	if data == nil {
		return tombstone(t), nil
	}
	switch {
	case t == bytesType:
		return data, nil
	case isBytesType(t):
		return reflect.ValueOf(data).Convert(t).Interface(), nil
	case t.Kind() == reflect.Interface && bytesType.Implements(t):
		return data, nil
	}
	return nil, deserErr(topic, headers, data, t, fmt.Errorf("bytes deserializer cannot produce %s: %w", t, ErrUnsupportedType))
}

// DeserializeInto implements [IntoDeserializer]; []byte kinds are set in
// place (aliasing data, as Deserialize does), other targets go through
// Deserialize.
func (b Bytes) DeserializeInto(topic string, headers []kgo.RecordHeader, data []byte, ptr any) error {
	pv, t, err := intoTarget(ptr)
	if err != nil {
		return deserErr(topic, headers, data, t, err)
	}
	if !isBytesType(t) {
		return setFrom(b, topic, headers, data, pv, t)
	}
	if data == nil {
		pv.Elem().SetZero()
	} else {
		pv.Elem().SetBytes(data)
	}
	return nil
}
