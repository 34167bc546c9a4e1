package serde

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
)

// Codec is a typed view of a serde for values of type T:
//
//	orders := serde.JSONFor[Order]()
//	b, err := orders.Encode("orders", &rec.Headers, Order{ID: 1})
//	o, err := orders.DecodeRecord(rec)
//
// A Codec is itself a [Serde] (delegating to the underlying one), so it can
// be passed wherever a serializer or deserializer is expected. The zero
// Codec is not usable.
type Codec[T any] struct {
	s Serializer
	d Deserializer
}

// NewCodec returns a Codec for T backed by s.
func NewCodec[T any](s Serde) Codec[T] { return Codec[T]{s: s, d: s} }

// NewCodecOf returns a Codec for T backed by separate halves.
func NewCodecOf[T any](s Serializer, d Deserializer) Codec[T] { return Codec[T]{s: s, d: d} }

// JSONFor returns a JSON Codec for T. T is registered under its default
// name in the codec's registry (unless a registry or mapping option says
// otherwise), so that interface targets sharing the registry resolve it.
func JSONFor[T any](opts ...Option) Codec[T] {
	j := NewJSON(opts...)
	registerDefault[T](j.o.registry)
	return NewCodec[T](j)
}

// ProtobufFor returns a Protobuf Codec for the message type T (a pointer
// type such as *pb.Order).
func ProtobufFor[T proto.Message](opts ...Option) Codec[T] {
	return NewCodec[T](NewProtobuf(opts...))
}

// AutoFor returns an [Auto] Codec for T.
func AutoFor[T any](opts ...Option) Codec[T] {
	a := NewAuto(opts...)
	registerDefault[T](a.Registry())
	return NewCodec[T](a)
}

// registerDefault registers T under its default name when neither T nor
// the name are registered yet; conflicts are silently left alone.
func registerDefault[T any](r *TypeRegistry) {
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Interface || DefaultTypeName(t) == "" {
		return
	}
	_ = r.RegisterType("", t)
}

// Serialize implements [Serializer].
func (c Codec[T]) Serialize(topic string, headers *[]kgo.RecordHeader, v any) ([]byte, error) {
	return c.s.Serialize(topic, headers, v)
}

// Deserialize implements [Deserializer].
func (c Codec[T]) Deserialize(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (any, error) {
	return c.d.Deserialize(topic, headers, data, t)
}

// DeserializeInto implements [IntoDeserializer], using the underlying
// deserializer's DeserializeInto when it has one.
func (c Codec[T]) DeserializeInto(topic string, headers []kgo.RecordHeader, data []byte, ptr any) error {
	if id, ok := c.d.(IntoDeserializer); ok {
		return id.DeserializeInto(topic, headers, data, ptr)
	}
	pv, t, err := intoTarget(ptr)
	if err != nil {
		return deserErr(topic, headers, data, t, err)
	}
	return setFrom(c.d, topic, headers, data, pv, t)
}

// Encode serializes v.
func (c Codec[T]) Encode(topic string, headers *[]kgo.RecordHeader, v T) ([]byte, error) {
	return c.s.Serialize(topic, headers, v)
}

// Decode deserializes data into a T.
func (c Codec[T]) Decode(topic string, headers []kgo.RecordHeader, data []byte) (T, error) {
	return Unmarshal[T](c.d, topic, headers, data)
}

// DecodeRecord deserializes the value of r into a T.
func (c Codec[T]) DecodeRecord(r *kgo.Record) (T, error) {
	return Value[T](c.d, r)
}

// Record returns a new record for topic with v serialized as its value
// (and the type header set), ready for a franz-go Produce call.
func (c Codec[T]) Record(topic string, v T) (*kgo.Record, error) {
	r := &kgo.Record{Topic: topic}
	b, err := c.s.Serialize(topic, &r.Headers, v)
	if err != nil {
		return nil, err
	}
	r.Value = b
	return r, nil
}

// Unmarshal deserializes data into a T with d.
func Unmarshal[T any](d Deserializer, topic string, headers []kgo.RecordHeader, data []byte) (T, error) {
	t := reflect.TypeFor[T]()
	v, err := d.Deserialize(topic, headers, data, t)
	if err != nil {
		var zero T
		return zero, err
	}
	return as[T](v, topic, headers, data, t)
}

func as[T any](v any, topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (T, error) {
	if v == nil {
		var zero T
		return zero, nil
	}
	out, ok := v.(T)
	if !ok {
		var zero T
		return zero, deserErr(topic, headers, data, t, fmt.Errorf("deserializer returned %T: %w", v, ErrUnsupportedType))
	}
	return out, nil
}

// DecodeValue deserializes r.Value into type t with d; a
// [*DeserializationError] carries r's partition and offset.
func DecodeValue(d Deserializer, r *kgo.Record, t reflect.Type) (any, error) {
	v, err := d.Deserialize(r.Topic, r.Headers, r.Value, t)
	return v, withRecord(err, r, false)
}

// DecodeKey deserializes r.Key into type t with d; see [DecodeValue].
func DecodeKey(d Deserializer, r *kgo.Record, t reflect.Type) (any, error) {
	v, err := d.Deserialize(r.Topic, r.Headers, r.Key, t)
	return v, withRecord(err, r, true)
}

// Value deserializes r.Value into a T with d.
func Value[T any](d Deserializer, r *kgo.Record) (T, error) {
	t := reflect.TypeFor[T]()
	v, err := DecodeValue(d, r, t)
	if err != nil {
		var zero T
		return zero, err
	}
	out, err := as[T](v, r.Topic, r.Headers, r.Value, t)
	return out, withRecord(err, r, false)
}

// Key deserializes r.Key into a T with d.
func Key[T any](d Deserializer, r *kgo.Record) (T, error) {
	t := reflect.TypeFor[T]()
	v, err := DecodeKey(d, r, t)
	if err != nil {
		var zero T
		return zero, err
	}
	out, err := as[T](v, r.Topic, r.Headers, r.Key, t)
	return out, withRecord(err, r, true)
}

// withRecord fills position information into a DeserializationError, or
// wraps any other error into one.
func withRecord(err error, r *kgo.Record, isKey bool) error {
	if err == nil {
		return nil
	}
	data := r.Value
	if isKey {
		data = r.Key
	}
	var de *DeserializationError
	if errors.As(err, &de) {
		cp := *de
		cp.Topic, cp.Partition, cp.Offset, cp.IsKey = r.Topic, r.Partition, r.Offset, isKey
		return &cp
	}
	return &DeserializationError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, IsKey: isKey, Data: data, Headers: r.Headers, Err: err}
}
