package serde

import (
	"maps"
	"reflect"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Auto chooses a serde by type. It is the default serde of the framework.
//
// Serialization, by the value's dynamic type: nil or a typed nil pointer is
// a tombstone; proto.Message uses [Protobuf]; string kinds (and pointers to
// them) use [String]; []byte kinds use [Bytes]; everything else uses
// [JSON]. Only JSON and Protobuf write a type header.
//
// Deserialization, by the target type t: pointers implementing
// proto.Message use Protobuf; string kinds and *string kinds use String;
// []byte kinds use Bytes; interfaces are resolved with the type header
// (registered types first, choosing Protobuf or JSON by whether the type is
// a proto.Message, then linked protobuf message names), falling back to
// JSON semantics (generic values for any, [ErrUnknownType] otherwise);
// everything else uses JSON.
//
// The JSON and Protobuf parts share one [TypeRegistry].
type Auto struct {
	json  *JSON
	proto *Protobuf
	// sers and desers keep the serde chosen per concrete type (the
	// choice takes a few reflect.Type.Implements calls, more than the
	// lookup): copy-on-write maps, as an application uses a handful of
	// types per serde. Interface targets are not kept (the type header
	// decides).
	sers   atomic.Pointer[map[reflect.Type]*choice[Serializer]]
	desers atomic.Pointer[map[reflect.Type]*choice[Deserializer]]
	// lastSer and lastDeser are the last choices made or found, which
	// spare the common case (values of one type after another) the
	// maps' lookup.
	lastSer   atomic.Pointer[choice[Serializer]]
	lastDeser atomic.Pointer[choice[Deserializer]]
}

// choice is a concrete type and the serde Auto chose for it.
type choice[S any] struct {
	t reflect.Type
	s S
}

// chosen returns the serde chosen for t: last's when t is its type, else
// m's (choose computes and adds a missing one), which becomes last. A
// type seen before reuses its entry, so types taking turns do not
// allocate.
func chosen[S any](last *atomic.Pointer[choice[S]], m *atomic.Pointer[map[reflect.Type]*choice[S]], t reflect.Type, choose func(reflect.Type) S) S {
	if c := last.Load(); c != nil && c.t == t {
		return c.s
	}
	c := cached(m, t, func(t reflect.Type) *choice[S] { return &choice[S]{t: t, s: choose(t)} })
	last.Store(c)
	return c.s
}

// cached returns m[t], computing and adding it on a miss. Concurrent
// misses may compute the same entry twice, which is harmless.
func cached[S any](m *atomic.Pointer[map[reflect.Type]S], t reflect.Type, compute func(reflect.Type) S) S {
	cur := m.Load()
	if cur != nil {
		if s, ok := (*cur)[t]; ok {
			return s
		}
	}
	s := compute(t)
	for {
		next := make(map[reflect.Type]S, 1)
		if cur != nil {
			maps.Copy(next, *cur)
		}
		next[t] = s
		if m.CompareAndSwap(cur, &next) {
			return s
		}
		cur = m.Load()
	}
}

// NewAuto returns an Auto serde. Options apply to its JSON and Protobuf
// parts (see [NewJSON], [NewProtobuf]).
func NewAuto(opts ...Option) *Auto {
	o := newOptions(opts)
	return &Auto{json: &JSON{o: o}, proto: &Protobuf{o: o}}
}

// Registry returns the shared type registry.
func (a *Auto) Registry() *TypeRegistry { return a.json.o.registry }

// Serialize implements [Serializer].
// Every serializer it chooses writes a typed nil pointer as a tombstone.
func (a *Auto) Serialize(topic string, headers *[]kgo.RecordHeader, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return a.SerializerFor(reflect.TypeOf(v)).Serialize(topic, headers, v)
}

func (a *Auto) serializerFor(t reflect.Type) Serializer {
	switch {
	case t.Implements(protoMessageType):
		return a.proto
	case t.Kind() == reflect.String, t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.String:
		return String{}
	case isBytesType(t):
		return Bytes{}
	}
	return a.json.typeSerializer(t)
}

// Deserialize implements [Deserializer].
func (a *Auto) Deserialize(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (any, error) {
	if t == nil {
		return nil, deserErr(topic, headers, data, t, errNilType)
	}
	return a.deserializerFor(headers, t).Deserialize(topic, headers, data, t)
}

// DeserializeInto implements [IntoDeserializer]: JSON, string and []byte
// targets are decoded in place (see [JSON.DeserializeInto]); protobuf
// targets go through Deserialize.
func (a *Auto) DeserializeInto(topic string, headers []kgo.RecordHeader, data []byte, ptr any) error {
	pv, t, err := intoTarget(ptr)
	if err != nil {
		return deserErr(topic, headers, data, t, err)
	}
	switch d := a.deserializerFor(headers, t).(type) {
	case *JSON:
		return d.deserializeInto(topic, headers, data, ptr, pv, t)
	case IntoDeserializer:
		return d.DeserializeInto(topic, headers, data, ptr)
	default:
		return setFrom(d, topic, headers, data, pv, t)
	}
}

func (a *Auto) deserializerFor(headers []kgo.RecordHeader, t reflect.Type) Deserializer {
	if t.Kind() == reflect.Interface {
		return a.interfaceDeserializer(headers, t)
	}
	return chosen(&a.lastDeser, &a.desers, t, a.concreteDeserializer)
}

// interfaceDeserializer chooses by the type header (interface targets).
func (a *Auto) interfaceDeserializer(headers []kgo.RecordHeader, _ reflect.Type) Deserializer {
	name, ok := HeaderValue(headers, a.json.o.header)
	if !ok || name == "" {
		return a.json
	}
	if rt, ok := a.json.o.registry.Lookup(name); ok {
		if rt.Implements(protoMessageType) || reflect.PointerTo(rt).Implements(protoMessageType) {
			return a.proto
		}
		return a.json
	}
	if fn := protoreflect.FullName(name); fn.IsValid() {
		if _, err := protoregistry.GlobalTypes.FindMessageByName(fn); err == nil {
			return a.proto
		}
	}
	return a.json
}

// concreteDeserializer chooses by the (non-interface) target type.
func (a *Auto) concreteDeserializer(t reflect.Type) Deserializer {
	switch t.Kind() {
	case reflect.String:
		return String{}
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.String {
			return String{}
		}
	}
	switch {
	case t.Implements(protoMessageType), reflect.PointerTo(t).Implements(protoMessageType):
		return a.proto
	case isBytesType(t):
		return Bytes{}
	}
	return a.json
}
