package serde

import (
	"fmt"
	"reflect"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

var protoMessageType = reflect.TypeFor[proto.Message]()

// Protobuf serializes proto.Message values in the protobuf binary format
// (no schema-registry framing). Create it with [NewProtobuf].
//
// The type header carries the registered name or, by default, the
// message's full protobuf name (e.g. "google.protobuf.StringValue").
//
// Deserialization targets must be pointer types implementing proto.Message
// (*pb.Order); a non-pointer message struct type is rejected with
// [ErrUnsupportedType] because messages must not be copied. For interface
// targets (proto.Message, any, or an application interface) the header is
// resolved first in the [TypeRegistry], then among the protobuf types linked
// into the program (protoregistry.GlobalTypes). Empty data decodes to an
// empty message (valid protobuf); nil data is a tombstone (typed nil
// pointer).
type Protobuf struct {
	o options
}

// NewProtobuf returns a Protobuf serde. Options: [WithRegistry],
// [WithTypeMapping], [WithTypeHeader], [WithoutTypeHeader].
func NewProtobuf(opts ...Option) *Protobuf {
	return &Protobuf{o: newOptions(opts)}
}

// Registry returns the serde's type registry.
func (p *Protobuf) Registry() *TypeRegistry { return p.o.registry }

// Serialize implements [Serializer].
func (p *Protobuf) Serialize(_ string, headers *[]kgo.RecordHeader, v any) ([]byte, error) {
	if isNil(v) {
		return nil, nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("serde: protobuf: cannot serialize %T (not a proto.Message): %w", v, ErrUnsupportedType)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("serde: protobuf: serialize %T: %w", v, err)
	}
	if b == nil {
		b = []byte{} // an empty message is not a tombstone
	}
	if !p.o.noHeader && headers != nil {
		SetHeader(headers, p.o.header, p.nameOf(m))
	}
	return b, nil
}

func (p *Protobuf) nameOf(m proto.Message) string {
	if name, ok := p.o.registry.registered(reflect.TypeOf(m)); ok {
		return name
	}
	return string(m.ProtoReflect().Descriptor().FullName())
}

// Deserialize implements [Deserializer].
func (p *Protobuf) Deserialize(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (any, error) {
	if t == nil {
		return nil, deserErr(topic, headers, data, t, errNilType)
	}
	if data == nil {
		return tombstone(t), nil
	}
	var m proto.Message
	switch {
	case t.Kind() == reflect.Interface:
		mt, err := p.resolve(headers, t)
		if err != nil {
			return nil, deserErr(topic, headers, data, t, err)
		}
		m = mt
	case t.Kind() == reflect.Pointer && t.Implements(protoMessageType):
		var ok bool
		m, ok = reflect.New(t.Elem()).Interface().(proto.Message)
		if !ok {
			return nil, deserErr(topic, headers, data, t, fmt.Errorf("%s is not a proto.Message: %w", t, ErrUnsupportedType))
		}
	case reflect.PointerTo(t).Implements(protoMessageType):
		return nil, deserErr(topic, headers, data, t, fmt.Errorf("protobuf target must be a pointer (*%s), messages must not be copied: %w", t, ErrUnsupportedType))
	default:
		return nil, deserErr(topic, headers, data, t, fmt.Errorf("%s is not a proto.Message: %w", t, ErrUnsupportedType))
	}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, deserErr(topic, headers, data, t, err)
	}
	return m, nil
}

// resolve returns a new, empty message of the type named by the header,
// checked to implement t.
func (p *Protobuf) resolve(headers []kgo.RecordHeader, t reflect.Type) (proto.Message, error) {
	name, ok := HeaderValue(headers, p.o.header)
	if !ok || name == "" {
		return nil, fmt.Errorf("no %s header to choose a protobuf type implementing %s: %w", p.o.header, t, ErrUnknownType)
	}
	if rt, ok := p.o.registry.Lookup(name); ok {
		ct, ok := implementer(rt, t)
		if !ok || ct.Kind() != reflect.Pointer || !ct.Implements(protoMessageType) {
			return nil, fmt.Errorf("type %q (%s) is not a proto.Message implementing %s: %w", name, rt, t, ErrUnknownType)
		}
		m, ok := reflect.New(ct.Elem()).Interface().(proto.Message)
		if !ok {
			return nil, fmt.Errorf("type %q (%s) is not a proto.Message: %w", name, rt, ErrUnknownType)
		}
		return m, nil
	}
	return globalProto(name, t)
}

// globalProto looks up a message type by full name among the linked
// protobuf types.
func globalProto(name string, t reflect.Type) (proto.Message, error) {
	fn := protoreflect.FullName(name)
	if !fn.IsValid() {
		return nil, fmt.Errorf("type %q is neither registered nor a protobuf message name: %w", name, ErrUnknownType)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(fn)
	if err != nil {
		return nil, fmt.Errorf("type %q is neither registered nor a known protobuf message: %w", name, ErrUnknownType)
	}
	m := mt.New().Interface()
	if !reflect.TypeOf(m).Implements(t) {
		return nil, fmt.Errorf("protobuf type %q (%T) does not implement %s: %w", name, m, t, ErrUnknownType)
	}
	return m, nil
}
