// Package serde converts between Go values and Kafka record bytes.
//
// The interfaces are shaped for two kinds of callers:
//
//   - Reflection-driven code such as listener containers, which only know
//     a handler's parameter type as a reflect.Type at runtime, calls
//     [Deserializer.Deserialize] with that type.
//   - Application code uses the generic conveniences: [Codec] (built with
//     [JSONFor], [ProtobufFor], [AutoFor] or [NewCodec]), [Value], [Key]
//     and [Unmarshal].
//
// Implementations: [String], [Bytes], [JSON], [Protobuf] and [Auto], which
// picks one of the others by type (string -> String, []byte -> Bytes,
// proto.Message -> Protobuf, anything else -> JSON). All are safe for
// concurrent use.
//
// # Schema registry
//
// [SRAvro], [SRProtobuf] and [SRJSONSchema] write and read records in
// Confluent's wire format (magic byte 0, 4-byte schema id, for Protobuf
// the message indexes, then the payload) with a Confluent-compatible
// schema registry, through franz-go's sr.Client: the embedded broker's
// (embeddedbroker.SchemaRegistry) or Confluent's. Schemas are registered
// (or looked up, or taken as the subject's latest version) under subjects
// a [SubjectNameStrategy] names, and each schema id is asked for once
// (cached). kafka.schema-registry configures them: [NewSRClient] builds the
// client and [SROptionsFromConfig] the options:
//
//	cl, err := serde.NewSRClient(cfg.Kafka.SchemaRegistry)
//	orders, err := serde.SRAvroFor[Order](cl, orderSchema, serde.SROptionsFromConfig(cfg.Kafka.SchemaRegistry)...)
//
// Records that are not in the wire format, name unknown schema ids, or
// do not decode are poison pills ([*DeserializationError] wrapping
// [ErrBadFrame], [ErrUnknownSchema] or the decoder's error); an
// unreachable registry is not ([ErrRegistryUnavailable]).
//
// # Type headers
//
// JSON and Protobuf serializers write the type name of the value into a
// record header, [TypeIDHeader] ("__TypeId__", Spring's header name) for
// values; use [WithTypeHeader]([KeyTypeIDHeader]) for keys. When the
// target type is an interface (any, or an application interface), the
// deserializer uses the header to choose the concrete type from a
// [TypeRegistry], so one topic can carry several types. For a concrete
// target type the header is ignored: Go has no subtyping, so the target
// type is always the one decoded. (Spring's "trusted packages" switch is
// therefore not needed: only types explicitly registered can be chosen by a
// header.)
//
// # Results and tombstones
//
// Deserialize returns a value whose dynamic type is exactly t, except for
// interface targets, where it is the chosen concrete type (which implements
// t). Use [ReflectValue] to turn a result into a reflect.Value of type t,
// which also covers nil results.
//
// A nil data slice is a tombstone (a record with a null value): every
// deserializer returns the zero value of t for it, i.e.
// reflect.Zero(t).Interface(): a typed nil pointer for pointer types, the
// zero struct for struct types, and a nil interface for interface targets.
// Use pointer parameter types to tell tombstones from empty values.
// Conversely, serializers return nil bytes (a tombstone) for a nil value or
// a typed nil pointer.
//
// # Errors
//
// Deserializers never panic on malformed input; failures are returned as
// [*DeserializationError], which carries the raw data and headers for
// dead-letter handling. (The one exception: the schema registry
// deserializers return an unreachable registry as a plain error wrapping
// [ErrRegistryUnavailable], since the record is not at fault.) Serialization failures wrap [ErrUnsupportedType]
// when the value's type cannot be handled by the serializer.
package serde

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header names used for type information, as in Spring for Apache Kafka.
const (
	// TypeIDHeader carries the type name of a record value.
	TypeIDHeader = "__TypeId__"
	// KeyTypeIDHeader carries the type name of a record key.
	KeyTypeIDHeader = "__KeyTypeId__"
)

// Serializer converts a value into record bytes. It may add headers (for
// example a type header); headers may be nil, in which case no header is
// written.
type Serializer interface {
	Serialize(topic string, headers *[]kgo.RecordHeader, v any) ([]byte, error)
}

// Deserializer converts record bytes into a value of type t; see the
// package documentation for the exact contract (dynamic type of the result,
// tombstones, errors).
type Deserializer interface {
	Deserialize(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (any, error)
}

// IntoDeserializer is an optional interface of deserializers that can
// decode into memory the caller allocated. Deserialize has to return the
// value in an interface, which for struct types means copying it to a new
// heap object per record; a caller that needs the value in its own memory
// anyway (a listener container building handler arguments) saves that copy
// and allocation with DeserializeInto. [JSON] and [Auto] implement it, and
// [Codec] forwards it.
//
// DeserializeInto decodes data into *ptr, where ptr is a non-nil pointer
// to the zero value of the target type T (as from new(T) or reflect.New).
// The result must equal what Deserialize(topic, headers, data, T)
// returns: a tombstone (nil data) leaves the zero value, interface targets
// are resolved with the type header, and errors are the same
// [*DeserializationError]s. On error *ptr may be partially written. (JSON
// decodes into a non-zero *ptr the way json.Unmarshal does, merging.)
type IntoDeserializer interface {
	Deserializer
	DeserializeInto(topic string, headers []kgo.RecordHeader, data []byte, ptr any) error
}

// intoTarget checks the ptr argument of DeserializeInto and returns it as
// a reflect.Value along with the target type.
func intoTarget(ptr any) (reflect.Value, reflect.Type, error) {
	pv := reflect.ValueOf(ptr)
	if pv.Kind() != reflect.Pointer || pv.IsNil() {
		return reflect.Value{}, nil, fmt.Errorf("DeserializeInto needs a non-nil pointer, got %T: %w", ptr, ErrUnsupportedType)
	}
	return pv, pv.Type().Elem(), nil
}

// setFrom is the generic DeserializeInto: Deserialize, then store the
// result in *pv.
func setFrom(d Deserializer, topic string, headers []kgo.RecordHeader, data []byte, pv reflect.Value, t reflect.Type) error {
	v, err := d.Deserialize(topic, headers, data, t)
	if err != nil {
		return err
	}
	rv := ReflectValue(v, t)
	if !rv.IsValid() {
		return deserErr(topic, headers, data, t, fmt.Errorf("deserializer returned %T: %w", v, ErrUnsupportedType))
	}
	pv.Elem().Set(rv)
	return nil
}

// Serde is both a Serializer and a Deserializer.
type Serde interface {
	Serializer
	Deserializer
}

// SerializerFunc adapts a function to [Serializer].
type SerializerFunc func(topic string, headers *[]kgo.RecordHeader, v any) ([]byte, error)

// Serialize calls f.
func (f SerializerFunc) Serialize(topic string, headers *[]kgo.RecordHeader, v any) ([]byte, error) {
	return f(topic, headers, v)
}

// DeserializerFunc adapts a function to [Deserializer].
type DeserializerFunc func(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (any, error)

// Deserialize calls f.
func (f DeserializerFunc) Deserialize(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (any, error) {
	return f(topic, headers, data, t)
}

// Sentinel errors.
var (
	// ErrUnsupportedType is wrapped when a serializer cannot handle a
	// value's type or a deserializer cannot produce the target type.
	ErrUnsupportedType = errors.New("unsupported type")

	// ErrUnknownType is wrapped when the target type is an interface and
	// the type header is missing or names a type that is not registered
	// (or does not implement the interface).
	ErrUnknownType = errors.New("unknown type")
)

// DeserializationError reports a record that could not be deserialized.
// Deserializers return it with Partition and Offset set to -1; [DecodeValue],
// [DecodeKey], [Value], [Key] and [Codec.DecodeRecord] fill them in from
// the record.
type DeserializationError struct {
	Topic     string
	Partition int32 // -1 when unknown
	Offset    int64 // -1 when unknown
	// IsKey reports whether the key (rather than the value) failed.
	IsKey bool
	// Data is the raw key or value. It aliases the record's buffer.
	Data []byte
	// Headers are the record headers.
	Headers []kgo.RecordHeader
	// Target is the requested type (nil if none was given).
	Target reflect.Type
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *DeserializationError) Error() string {
	var b strings.Builder
	b.WriteString("serde: deserialize ")
	if e.IsKey {
		b.WriteString("key")
	} else {
		b.WriteString("value")
	}
	fmt.Fprintf(&b, " from topic %q", e.Topic)
	if e.Partition >= 0 {
		fmt.Fprintf(&b, " partition %d", e.Partition)
	}
	if e.Offset >= 0 {
		fmt.Fprintf(&b, " offset %d", e.Offset)
	}
	if e.Target != nil {
		fmt.Fprintf(&b, " into %s", e.Target)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("unknown error")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *DeserializationError) Unwrap() error { return e.Err }

func deserErr(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type, err error) error {
	return &DeserializationError{Topic: topic, Partition: -1, Offset: -1, Data: data, Headers: headers, Target: t, Err: err}
}

// errNilType is returned when Deserialize is called without a target type.
var errNilType = fmt.Errorf("nil target type: %w", ErrUnsupportedType)

// tombstone returns the zero value of t as an any (nil for interfaces).
func tombstone(t reflect.Type) any { return reflect.Zero(t).Interface() }

// isNil reports whether serializers treat v as a tombstone: nil or a typed
// nil pointer. Nil slices and maps are not tombstones (JSON writes them as
// null, which is still a value).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// HeaderValue returns the value of the last header named key.
func HeaderValue(headers []kgo.RecordHeader, key string) (string, bool) {
	for i := len(headers) - 1; i >= 0; i-- {
		if headers[i].Key == key {
			return string(headers[i].Value), true
		}
	}
	return "", false
}

// SetHeader sets header key to value, replacing existing headers with that
// key (the first is replaced, later duplicates removed), or appending it.
func SetHeader(headers *[]kgo.RecordHeader, key, value string) {
	if headers == nil {
		return
	}
	setHeaderBytes(headers, key, []byte(value))
}

// setHeaderBytes is [SetHeader] with the value given as bytes (kept, not
// copied). It never writes into *headers' array in place: the slice may
// be shared by several records (see [JSON.Serialize]); appending to a
// shared slice copies it, as it has no spare room.
func setHeaderBytes(headers *[]kgo.RecordHeader, key string, value []byte) {
	hs := *headers
	at, n := -1, 0
	for i, h := range hs {
		if h.Key == key {
			if at < 0 {
				at = i
			}
			n++
		}
	}
	if at < 0 {
		*headers = append(hs, kgo.RecordHeader{Key: key, Value: value})
		return
	}
	out := make([]kgo.RecordHeader, 0, len(hs)-n+1)
	for i, h := range hs {
		if h.Key == key {
			if i != at {
				continue
			}
			h.Value = value
		}
		out = append(out, h)
	}
	*headers = out
}

// ReflectValue returns v as a reflect.Value of type t, as needed to call a
// handler through reflection: a nil v (tombstone for an interface or
// pointer target) becomes reflect.Zero(t), and a concrete value for an
// interface target is wrapped into a value of the interface type. It
// returns an invalid reflect.Value if v is not assignable to t.
func ReflectValue(v any, t reflect.Type) reflect.Value {
	if v == nil {
		return reflect.Zero(t)
	}
	rv := reflect.ValueOf(v)
	if rv.Type() == t {
		return rv
	}
	if !rv.Type().AssignableTo(t) {
		return reflect.Value{}
	}
	out := reflect.New(t).Elem()
	out.Set(rv)
	return out
}
