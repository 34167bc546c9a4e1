package serde_test

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kafkaboot/kafkaboot/serde"
)

var shopProtoOnce = sync.OnceValue(func() protoreflect.FileDescriptor {
	// shop/v1/order.proto:
	//
	//	syntax = "proto3";
	//	package shop.v1;
	//	import "google/protobuf/timestamp.proto";
	//	message Customer { string name = 1; }
	//	message Order {
	//	  message Line { string sku = 1; int32 qty = 2; }
	//	  string id = 1;
	//	  repeated Line lines = 2;
	//	  google.protobuf.Timestamp created = 3;
	//	}
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("shop/v1/order.proto"),
		Package:    proto.String("shop.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto"},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("Customer"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("name"), JsonName: proto.String("name"), Number: proto.Int32(1), Type: str, Label: opt},
			}},
			{Name: proto.String("Order"),
				NestedType: []*descriptorpb.DescriptorProto{{Name: proto.String("Line"), Field: []*descriptorpb.FieldDescriptorProto{
					{Name: proto.String("sku"), JsonName: proto.String("sku"), Number: proto.Int32(1), Type: str, Label: opt},
					{Name: proto.String("qty"), JsonName: proto.String("qty"), Number: proto.Int32(2), Type: descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum(), Label: opt},
				}}},
				Field: []*descriptorpb.FieldDescriptorProto{
					{Name: proto.String("id"), JsonName: proto.String("id"), Number: proto.Int32(1), Type: str, Label: opt},
					{Name: proto.String("lines"), JsonName: proto.String("lines"), Number: proto.Int32(2), Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
						Label: descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum(), TypeName: proto.String(".shop.v1.Order.Line")},
					{Name: proto.String("created"), JsonName: proto.String("created"), Number: proto.Int32(3), Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
						Label: opt, TypeName: proto.String(".google.protobuf.Timestamp")},
				}},
		},
	}
	_ = timestamppb.Now() // linked into GlobalFiles
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		panic(err)
	}
	// Make the messages resolvable for interface targets.
	for _, md := range []protoreflect.MessageDescriptor{fd.Messages().Get(0), fd.Messages().Get(1), fd.Messages().Get(1).Messages().Get(0)} {
		if err := protoregistry.GlobalTypes.RegisterMessage(dynamicpb.NewMessageType(md)); err != nil {
			panic(err)
		}
	}
	return fd
})

// shopOrder returns a dynamic shop.v1.Order.
func shopOrder(id string) *dynamicpb.Message {
	md := shopProtoOnce().Messages().ByName("Order")
	m := dynamicpb.NewMessage(md)
	m.Set(md.Fields().ByName("id"), protoreflect.ValueOfString(id))
	lmd := md.Messages().ByName("Line")
	line := dynamicpb.NewMessage(lmd)
	line.Set(lmd.Fields().ByName("sku"), protoreflect.ValueOfString("pen"))
	line.Set(lmd.Fields().ByName("qty"), protoreflect.ValueOfInt32(2))
	lines := m.Mutable(md.Fields().ByName("lines")).List()
	lines.Append(protoreflect.ValueOfMessage(line))
	m.Set(md.Fields().ByName("created"), protoreflect.ValueOfMessage(timestamppb.New(timestamppb.Now().AsTime()).ProtoReflect()))
	return m
}

// TestSRProtobufRoundTrip: generated and dynamic messages, top-level and
// nested, with imports registered as references, under each strategy;
// message indexes as Confluent writes them; concrete and interface
// targets.
func TestSRProtobufRoundTrip(t *testing.T) {
	_, cl, _ := registry(t)
	order := shopOrder("o-1")
	line := order.Get(order.Descriptor().Fields().ByName("lines")).List().Get(0).Message().Interface()
	for _, tc := range []struct {
		name  string
		opts  []serde.SROption
		topic string
		// subjects of StringValue, Struct and shop.v1.Order
		subjects [3]string
	}{
		{"topic", nil, "pb-t", [3]string{"pb-t-value", "pb-t-value", "pb-t-value"}},
		{"record", []serde.SROption{serde.WithSubjectNameStrategy(serde.RecordNameStrategy{})}, "pb-r",
			[3]string{"google.protobuf.StringValue", "google.protobuf.Struct", "shop.v1.Order"}},
		{"topic-record", []serde.SROption{serde.WithSubjectNameStrategy(serde.TopicRecordNameStrategy{})}, "pb-tr",
			[3]string{"pb-tr-google.protobuf.StringValue", "pb-tr-google.protobuf.Struct", "pb-tr-shop.v1.Order"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := serde.NewSRProtobuf(cl, tc.opts...)
			st, _ := structpb.NewStruct(map[string]any{"a": 1.5, "b": "x"})
			for i, c := range []struct {
				m       proto.Message
				indexes []byte // after the 5-byte header
				target  reflect.Type
			}{
				{wrapperspb.String("hello"), []byte{2, 14}, typeOf[*wrapperspb.StringValue]()}, // [7]
				{st, []byte{0}, typeOf[*structpb.Struct]()},                                    // [0], the shortcut
				{order, []byte{2, 2}, nil},                                                     // [1]
				{line, []byte{4, 2, 0}, nil},                                                   // [1, 0]
			} {
				b, err := p.Serialize(tc.topic, nil, c.m)
				if err != nil {
					t.Fatal(err)
				}
				frameID(t, b)
				if !bytes.HasPrefix(b[5:], c.indexes) {
					t.Fatalf("%s: indexes %x, want %x", c.m.ProtoReflect().Descriptor().FullName(), b[5:], c.indexes)
				}
				if i < 3 {
					latest, err := cl.SchemaByVersion(ctx(t), tc.subjects[i], -1)
					if err != nil || latest.ID != frameID(t, b) || latest.Type != sr.TypeProtobuf {
						t.Fatalf("subject %s: %+v %v", tc.subjects[i], latest, err)
					}
				}
				targets := []reflect.Type{typeOf[proto.Message](), typeOf[any]()}
				if c.target != nil {
					targets = append(targets, c.target)
				}
				for _, target := range targets {
					got, err := p.Deserialize(tc.topic, nil, b, target)
					if err != nil {
						t.Fatalf("%s into %s: %v", c.m.ProtoReflect().Descriptor().FullName(), target, err)
					}
					if !proto.Equal(got.(proto.Message), c.m) {
						t.Fatalf("%s into %s: got %v", c.m.ProtoReflect().Descriptor().FullName(), target, got)
					}
				}
			}
			// A record of another message type is a poison pill for a
			// concrete target.
			b, _ := p.Serialize(tc.topic, nil, wrapperspb.String("x"))
			_, err := p.Deserialize(tc.topic, nil, b, typeOf[*structpb.Struct]())
			wantDeserErr(t, "StringValue into *Struct", err, serde.ErrUnknownType)
			// Non-pointer message types are refused.
			_, err = p.Deserialize(tc.topic, nil, b, typeOf[wrapperspb.StringValue]())
			wantDeserErr(t, "non-pointer target", err, serde.ErrUnsupportedType)
			if _, err := p.Serialize(tc.topic, nil, "not a message"); err == nil {
				t.Fatal("serialized a string")
			}
		})
	}

	// The imports were registered under their paths and referenced.
	text, err := serde.NewSRProtobuf(cl).SchemaText(order)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, `import "google/protobuf/timestamp.proto";`) || !strings.Contains(text, "message Line") {
		t.Fatalf("schema text:\n%s", text)
	}
	latest, err := cl.SchemaByVersion(ctx(t), "shop.v1.Order", -1)
	if err != nil {
		t.Fatal(err)
	}
	want := []sr.SchemaReference{{Name: "google/protobuf/timestamp.proto", Subject: "google/protobuf/timestamp.proto", Version: 1}}
	if !slices.Equal(latest.References, want) {
		t.Fatalf("references %+v", latest.References)
	}
	if latest.Schema.Schema != text {
		t.Fatalf("registered text:\n%s\nprinted:\n%s", latest.Schema.Schema, text)
	}
	t.Logf("registered shop/v1/order.proto:\n%s", text)

	// The codec.
	codec := serde.SRProtobufFor[*wrapperspb.StringValue](cl)
	r, err := codec.Record("pb-codec", wrapperspb.String("c"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := codec.DecodeRecord(r); err != nil || v.GetValue() != "c" {
		t.Fatalf("codec: %v %v", v, err)
	}
}
