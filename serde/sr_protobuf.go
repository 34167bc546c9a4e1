package serde

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/bufbuild/protocompile/parser"
	"github.com/bufbuild/protocompile/reporter"
	"github.com/jhump/protoreflect/v2/protoprint"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// SRProtobuf serializes proto.Message values with a schema registry, in
// Confluent's wire format: magic byte, schema id, the message indexes
// (the path of the message type in its .proto file, a single 0 for the
// first top-level message), then the protobuf binary payload. Create it
// with [NewSRProtobuf]; the zero value is not usable. It is safe for
// concurrent use.
//
// # Serializing
//
// The schema of a message is the .proto source of its file, printed from
// the message's file descriptor (github.com/jhump/protoreflect/v2's
// protoprint, in declaration order, without comments), registered as
// PROTOBUF under the subject the [SubjectNameStrategy] names (record name:
// the message's full name). Every file it imports (well-known types
// included) is registered first under the subject named by its import path
// (as Confluent's DefaultReferenceSubjectNameStrategy does) and referenced
// by that name and version. With auto-registration off ([AutoRegister])
// the file and its imports must be registered with the same text (look up
// is by text), or [UseLatestVersion] used.
//
// # Deserializing
//
// The writer's schema is fetched by the id in the record (once per id) and
// parsed (bufbuild/protocompile) to name the message the indexes point to.
// Targets:
//
//   - pointers to generated messages (*pb.Order): the record must hold
//     that message (by full name), else the error is a poison pill; when
//     the writer's schema cannot be parsed, the name is not checked;
//   - interfaces (proto.Message, any, or an application interface): the
//     message named by the schema and indexes, from the types linked into
//     the program (protoregistry.GlobalTypes).
//
// Non-pointer message types are rejected with [ErrUnsupportedType]
// (messages must not be copied). Bad frames or indexes, unknown schema
// ids, schemas of another type, messages of another type and payloads that
// do not unmarshal fail with a [*DeserializationError]; registry outages
// with [ErrRegistryUnavailable].
type SRProtobuf struct {
	core    *srCore
	printer protoprint.Printer

	texts   *lazyCache[protoreflect.FileDescriptor, string]
	writers *lazyCache[protoWriterKey, []byte]
	readers *lazyCache[int, *protoSchema]
}

type protoWriterKey struct {
	topic string
	md    protoreflect.MessageDescriptor
}

// protoSchema is a writer's schema, parsed.
type protoSchema struct {
	fdp *descriptorpb.FileDescriptorProto // nil when the text did not parse
	err error                             // the parse error
}

// NewSRProtobuf returns a Protobuf serde using the registry client cl.
// Options: [AutoRegister], [UseLatestVersion], [WithSubjectNameStrategy],
// [ForKeys], [SRCacheCapacity], [RegistryTimeout].
func NewSRProtobuf(cl *sr.Client, opts ...SROption) *SRProtobuf {
	core := newSRCore(cl, sr.TypeProtobuf, opts)
	return &SRProtobuf{
		core:    core,
		printer: protoprint.Printer{OmitComments: protoprint.CommentsAll, Compact: true},
		texts:   newLazyCache[protoreflect.FileDescriptor, string](core.o.capacity),
		writers: newLazyCache[protoWriterKey, []byte](core.o.capacity),
		readers: newLazyCache[int, *protoSchema](core.o.capacity),
	}
}

// SRProtobufFor returns a Protobuf Codec for the message type T (a
// pointer type such as *pb.Order).
func SRProtobufFor[T proto.Message](cl *sr.Client, opts ...SROption) Codec[T] {
	return NewCodec[T](NewSRProtobuf(cl, opts...))
}

// Client returns the registry client.
func (p *SRProtobuf) Client() *sr.Client { return p.core.cl }

// SchemaText returns the .proto source registered for the file of m.
func (p *SRProtobuf) SchemaText(m proto.Message) (string, error) {
	return p.text(m.ProtoReflect().Descriptor().ParentFile())
}

func (p *SRProtobuf) text(fd protoreflect.FileDescriptor) (string, error) {
	return p.texts.get(fd, func() (string, error) {
		if fd.IsPlaceholder() {
			return "", fmt.Errorf("serde: protobuf: file %q is a placeholder (not linked into the program)", fd.Path())
		}
		s, err := p.printer.PrintProtoToString(fd)
		if err != nil {
			return "", fmt.Errorf("serde: protobuf: print %q: %w", fd.Path(), err)
		}
		return s, nil
	})
}

// fileSchema returns the schema of fd, registering (or looking up) the
// files it imports to reference them.
func (p *SRProtobuf) fileSchema(fd protoreflect.FileDescriptor) (sr.Schema, error) {
	text, err := p.text(fd)
	if err != nil {
		return sr.Schema{}, err
	}
	s := sr.Schema{Schema: text, Type: sr.TypeProtobuf}
	imports := fd.Imports()
	for i := range imports.Len() {
		dep := imports.Get(i).FileDescriptor
		ds, err := p.fileSchema(dep)
		if err != nil {
			return sr.Schema{}, err
		}
		ss, err := p.core.schemaID(dep.Path(), ds, true)
		if err != nil {
			return sr.Schema{}, fmt.Errorf("serde: protobuf: import %q of %q: %w", dep.Path(), fd.Path(), err)
		}
		s.References = append(s.References, sr.SchemaReference{Name: dep.Path(), Subject: dep.Path(), Version: ss.Version})
	}
	return s, nil
}

// messageIndexes returns the path of md in its file.
func messageIndexes(md protoreflect.MessageDescriptor) []int {
	var index []int
	var d protoreflect.Descriptor = md
	for {
		index = append(index, d.Index())
		parent, ok := d.Parent().(protoreflect.MessageDescriptor)
		if !ok {
			break
		}
		d = parent
	}
	slices.Reverse(index)
	return index
}

// Serialize implements [Serializer].
func (p *SRProtobuf) Serialize(topic string, _ *[]kgo.RecordHeader, v any) ([]byte, error) {
	if isNil(v) {
		return nil, nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("serde: protobuf: cannot serialize %T (not a proto.Message): %w", v, ErrUnsupportedType)
	}
	md := m.ProtoReflect().Descriptor()
	prefix, err := p.writers.get(protoWriterKey{topic, md}, func() ([]byte, error) {
		subject, err := p.core.subject(topic, string(md.FullName()))
		if err != nil {
			return nil, err
		}
		var id int
		if p.core.useLatest() {
			ss, err := p.core.latestSchema(subject)
			if err != nil {
				return nil, err
			}
			id = ss.ID
		} else {
			s, err := p.fileSchema(md.ParentFile())
			if err != nil {
				return nil, err
			}
			ss, err := p.core.schemaID(subject, s, false)
			if err != nil {
				return nil, err
			}
			id = ss.ID
		}
		return appendIndexes(appendSRHeader(nil, id), messageIndexes(md)), nil
	})
	if err != nil {
		return nil, err
	}
	opts := proto.MarshalOptions{}
	out := make([]byte, len(prefix), len(prefix)+opts.Size(m))
	copy(out, prefix)
	out, err = opts.MarshalAppend(out, m)
	if err != nil {
		return nil, fmt.Errorf("serde: protobuf: serialize %T: %w", v, err)
	}
	return out, nil
}

// reader returns the writer's schema with id, parsed.
func (p *SRProtobuf) reader(id int) (*protoSchema, error) {
	return p.readers.get(id, func() (*protoSchema, error) {
		s, err := p.core.schemaByID(id)
		if err != nil {
			return nil, err
		}
		return parseProtoSchema(s.Schema), nil
	})
}

func parseProtoSchema(text string) (ps *protoSchema) {
	defer func() {
		if r := recover(); r != nil {
			ps = &protoSchema{err: fmt.Errorf("protobuf parser panicked: %v", r)}
		}
	}()
	h := reporter.NewHandler(nil)
	file, err := parser.Parse("schema.proto", strings.NewReader(text), h)
	if err != nil {
		return &protoSchema{err: err}
	}
	res, err := parser.ResultFromAST(file, false, h)
	if err != nil {
		return &protoSchema{err: err}
	}
	return &protoSchema{fdp: res.FileDescriptorProto()}
}

// messageName returns the full name of the message at index.
func (s *protoSchema) messageName(index []int) (protoreflect.FullName, error) {
	if s.fdp == nil {
		return "", fmt.Errorf("writer's schema does not parse: %w: %w", ErrUnknownSchema, s.err)
	}
	name := s.fdp.GetPackage()
	msgs := s.fdp.GetMessageType()
	for _, i := range index {
		if i >= len(msgs) {
			return "", fmt.Errorf("message indexes %v are not in the writer's schema: %w", index, ErrUnknownSchema)
		}
		if name != "" {
			name += "."
		}
		name += msgs[i].GetName()
		msgs = msgs[i].GetNestedType()
	}
	return protoreflect.FullName(name), nil
}

// Deserialize implements [Deserializer].
func (p *SRProtobuf) Deserialize(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (v any, err error) {
	defer func() {
		if r := recover(); r != nil { // for example a zero *dynamicpb.Message target
			v, err = nil, deserErr(topic, headers, data, t, fmt.Errorf("protobuf: decoding into %s panicked: %v", t, r))
		}
	}()
	return p.deserialize(topic, headers, data, t)
}

func (p *SRProtobuf) deserialize(topic string, headers []kgo.RecordHeader, data []byte, t reflect.Type) (any, error) {
	if t == nil {
		return nil, deserErr(topic, headers, data, t, errNilType)
	}
	if data == nil {
		return tombstone(t), nil
	}
	switch {
	case t.Kind() == reflect.Interface, t.Kind() == reflect.Pointer && t.Implements(protoMessageType):
	case reflect.PointerTo(t).Implements(protoMessageType):
		return nil, deserErr(topic, headers, data, t, fmt.Errorf("protobuf target must be a pointer (*%s), messages must not be copied: %w", t, ErrUnsupportedType))
	default:
		return nil, deserErr(topic, headers, data, t, fmt.Errorf("%s is not a proto.Message: %w", t, ErrUnsupportedType))
	}
	id, rest, err := parseSRHeader(data)
	if err != nil {
		return nil, deserErr(topic, headers, data, t, err)
	}
	index, payload, err := parseIndexes(rest)
	if err != nil {
		return nil, deserErr(topic, headers, data, t, err)
	}
	s, err := p.reader(id)
	if err != nil {
		return nil, readErr(topic, headers, data, t, err)
	}
	var m proto.Message
	if t.Kind() == reflect.Interface {
		name, err := s.messageName(index)
		if err != nil {
			return nil, deserErr(topic, headers, data, t, err)
		}
		mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
		if err != nil {
			return nil, deserErr(topic, headers, data, t, fmt.Errorf("protobuf message %q (schema id %d) is not linked into the program: %w", name, id, ErrUnknownType))
		}
		m = mt.New().Interface()
		if !reflect.TypeOf(m).Implements(t) {
			return nil, deserErr(topic, headers, data, t, fmt.Errorf("protobuf message %q (%T) does not implement %s: %w", name, m, t, ErrUnknownType))
		}
	} else {
		var ok bool
		m, ok = reflect.New(t.Elem()).Interface().(proto.Message)
		if !ok {
			return nil, deserErr(topic, headers, data, t, fmt.Errorf("%s is not a proto.Message: %w", t, ErrUnsupportedType))
		}
		if s.fdp != nil {
			name, err := s.messageName(index)
			if err != nil {
				return nil, deserErr(topic, headers, data, t, err)
			}
			if want := m.ProtoReflect().Descriptor().FullName(); name != want {
				return nil, deserErr(topic, headers, data, t, fmt.Errorf("record holds protobuf message %q (schema id %d), not %q: %w", name, id, want, ErrUnknownType))
			}
		}
	}
	if err := proto.Unmarshal(payload, m); err != nil {
		return nil, deserErr(topic, headers, data, t, err)
	}
	return m, nil
}
