package serde_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kafkaboot/kafkaboot/serde"
)

// garbage are inputs that must never make a deserializer panic.
var garbage = [][]byte{
	{},
	{0},
	{0xff},
	{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // overlong varint
	{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f},                               // length beyond data
	{0x0a, 0x05, 'a'},                                                  // truncated field
	{0x0b},                                                             // start group without end
	{0x0c},                                                             // end group without start
	{0x0f, 0x01},                                                       // invalid wire type 7
	{0x00, 0x01},                                                       // field number 0
	{0x12, 0x02, 0xc3, 0x28},                                           // invalid UTF-8 in a string field
	[]byte("null"),
	[]byte("{"),
	[]byte("}"),
	[]byte("[1,2"),
	[]byte(`{"id":"not a number"}`),
	[]byte(`{"id":1e400}`),
	[]byte(`{"id":1}garbage`),
	[]byte(`"\ud800"`),
	[]byte("\xef\xbb\xbf{}"), // BOM
	[]byte(strings.Repeat("[", 100000)),
	[]byte(strings.Repeat(`{"a":`, 20000)),
	bytes.Repeat([]byte{0x0a, 0x00}, 1000),
	bytes.Repeat([]byte{0xff}, 4096),
}

func deserializers() map[string]serde.Deserializer {
	return map[string]serde.Deserializer{
		"json":        serde.NewJSON(),
		"json-strict": serde.NewJSON(serde.DisallowUnknownFields(), serde.UseNumber()),
		"protobuf":    serde.NewProtobuf(),
		"auto":        serde.NewAuto(serde.WithTypeMapping("order", &Order{})),
		"string":      serde.String{},
		"bytes":       serde.Bytes{},
	}
}

var garbageTargets = []reflect.Type{
	typeOf[Order](), typeOf[*Order](), typeOf[any](), typeOf[Event](), typeOf[map[string]any](),
	typeOf[[]int](), typeOf[int](), typeOf[string](), typeOf[chan int](), typeOf[func()](),
	typeOf[*wrapperspb.StringValue](), typeOf[*structpb.Struct](), typeOf[*structpb.Value](), typeOf[proto.Message](),
	typeOf[**Order](), typeOf[[]byte](), nil,
}

var garbageHeaders = [][]kgo.RecordHeader{
	nil,
	{{Key: serde.TypeIDHeader, Value: []byte("order")}},
	{{Key: serde.TypeIDHeader, Value: []byte("google.protobuf.Struct")}},
	{{Key: serde.TypeIDHeader, Value: []byte("\x00\xff")}},
}

// TestGarbage feeds every garbage input to every deserializer, target and
// header combination. Failures must be *DeserializationError carrying the
// input; nothing may panic (a panic fails the test run).
func TestGarbage(t *testing.T) {
	for name, d := range deserializers() {
		for _, data := range garbage {
			for _, target := range garbageTargets {
				for _, hs := range garbageHeaders {
					v, err := d.Deserialize("t", hs, data, target)
					if err == nil {
						if target != nil && v != nil && target.Kind() != reflect.Interface && reflect.TypeOf(v) != target {
							t.Errorf("%s: %s: result type %T", name, target, v)
						}
						continue
					}
					var de *serde.DeserializationError
					if !errors.As(err, &de) {
						t.Errorf("%s: %s: %q: not a DeserializationError: %v", name, target, data, err)
						continue
					}
					if !bytes.Equal(de.Data, data) || de.Target != target || de.Topic != "t" {
						t.Errorf("%s: %s: error fields %+v", name, target, de)
					}
				}
			}
		}
	}
}

// FuzzDeserialize runs the garbage corpus as seeds under go test; run with
// -fuzz=FuzzDeserialize to explore further.
func FuzzDeserialize(f *testing.F) {
	for _, g := range garbage {
		f.Add(g)
	}
	ds := deserializers()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range ds {
			for _, target := range garbageTargets {
				for _, hs := range garbageHeaders {
					_, _ = d.Deserialize("t", hs, data, target)
				}
			}
		}
	})
}
