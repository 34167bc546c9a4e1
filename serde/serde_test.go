package serde_test

import (
	"encoding/json"
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

type Order struct {
	ID    int    `json:"id"`
	Item  string `json:"item"`
	Price int64  `json:"price,omitempty"`
}

type Refund struct {
	OrderID int `json:"orderId"`
}

// Event is an application interface implemented by *Order and Refund.
type Event interface{ EventKind() string }

func (*Order) EventKind() string { return "order" }
func (Refund) EventKind() string { return "refund" }

type Name string
type Raw []byte

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

func header(hs []kgo.RecordHeader, k string) string {
	v, _ := serde.HeaderValue(hs, k)
	return v
}

func TestString(t *testing.T) {
	var s serde.String
	for _, v := range []any{"héllo", Name("héllo"), []byte("héllo"), ptr("héllo")} {
		b, err := s.Serialize("t", nil, v)
		if err != nil || string(b) != "héllo" {
			t.Errorf("Serialize(%T) = %q, %v", v, b, err)
		}
	}
	if b, err := s.Serialize("t", nil, (*string)(nil)); err != nil || b != nil {
		t.Errorf("nil *string = %v, %v", b, err)
	}
	if _, err := s.Serialize("t", nil, 42); !errors.Is(err, serde.ErrUnsupportedType) {
		t.Errorf("int: %v", err)
	}
	data := []byte("héllo")
	for _, tc := range []struct {
		t    reflect.Type
		want any
	}{
		{typeOf[string](), "héllo"},
		{typeOf[Name](), Name("héllo")},
		{typeOf[[]byte](), []byte("héllo")},
		{typeOf[Raw](), Raw("héllo")},
		{typeOf[any](), "héllo"},
		{typeOf[*string](), ptr("héllo")},
	} {
		got, err := s.Deserialize("t", nil, data, tc.t)
		if err != nil || !reflect.DeepEqual(got, tc.want) || reflect.TypeOf(got) != reflect.TypeOf(tc.want) {
			t.Errorf("Deserialize(%s) = %#v, %v; want %#v", tc.t, got, err, tc.want)
		}
	}
	got, err := s.Deserialize("t", nil, nil, typeOf[*string]())
	if err != nil || got.(*string) != nil {
		t.Errorf("tombstone *string = %#v, %v", got, err)
	}
	got, err = s.Deserialize("t", nil, nil, typeOf[string]())
	if err != nil || got != "" {
		t.Errorf("tombstone string = %#v, %v", got, err)
	}
	_, err = s.Deserialize("t", nil, data, typeOf[int]())
	var de *serde.DeserializationError
	if !errors.As(err, &de) || !errors.Is(err, serde.ErrUnsupportedType) || string(de.Data) != "héllo" {
		t.Errorf("int target: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestBytes(t *testing.T) {
	var b serde.Bytes
	in := []byte{0, 1, 2, 255}
	for _, v := range []any{in, Raw(in), json.RawMessage(in)} {
		out, err := b.Serialize("t", nil, v)
		if err != nil || !reflect.DeepEqual(out, in) {
			t.Errorf("Serialize(%T) = %v, %v", v, out, err)
		}
	}
	if _, err := b.Serialize("t", nil, "str"); !errors.Is(err, serde.ErrUnsupportedType) {
		t.Errorf("string: %v", err)
	}
	for _, tt := range []reflect.Type{typeOf[[]byte](), typeOf[Raw](), typeOf[any](), typeOf[json.RawMessage]()} {
		got, err := b.Deserialize("t", nil, in, tt)
		if err != nil || reflect.TypeOf(got) != map[bool]reflect.Type{true: typeOf[[]byte](), false: tt}[tt.Kind() == reflect.Interface] {
			t.Errorf("Deserialize(%s) = %#v, %v", tt, got, err)
		}
	}
	got, err := b.Deserialize("t", nil, nil, typeOf[[]byte]())
	if err != nil || got.([]byte) != nil {
		t.Errorf("tombstone = %#v, %v", got, err)
	}
	if _, err := b.Deserialize("t", nil, in, typeOf[string]()); !errors.Is(err, serde.ErrUnsupportedType) {
		t.Errorf("string target: %v", err)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	j := serde.NewJSON()
	var hs []kgo.RecordHeader
	b, err := j.Serialize("orders", &hs, Order{ID: 1, Item: "book"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"id":1,"item":"book"}` || header(hs, serde.TypeIDHeader) != "serde_test.Order" {
		t.Fatalf("got %s, headers %v", b, hs)
	}
	// The header is replaced, not duplicated.
	if _, err := j.Serialize("orders", &hs, &Order{ID: 2}); err != nil || len(hs) != 1 {
		t.Fatalf("headers = %v, %v", hs, err)
	}
	v, err := j.Deserialize("orders", hs, b, typeOf[Order]())
	if err != nil || v != (Order{ID: 1, Item: "book"}) {
		t.Fatalf("Order = %#v, %v", v, err)
	}
	v, err = j.Deserialize("orders", hs, b, typeOf[*Order]())
	if err != nil || *v.(*Order) != (Order{ID: 1, Item: "book"}) {
		t.Fatalf("*Order = %#v, %v", v, err)
	}
	v, err = j.Deserialize("orders", nil, b, typeOf[any]())
	if m, ok := v.(map[string]any); err != nil || !ok || m["item"] != "book" {
		t.Fatalf("any = %#v, %v", v, err)
	}
	v, err = serde.NewJSON(serde.UseNumber()).Deserialize("orders", nil, b, typeOf[map[string]any]())
	if m, ok := v.(map[string]any); err != nil || !ok || m["id"] != json.Number("1") {
		t.Fatalf("UseNumber = %#v, %v", v, err)
	}
	// Tombstones.
	if b, err := j.Serialize("orders", &hs, (*Order)(nil)); b != nil || err != nil {
		t.Fatalf("nil pointer = %v, %v", b, err)
	}
	v, err = j.Deserialize("orders", nil, nil, typeOf[*Order]())
	if err != nil || v.(*Order) != nil {
		t.Fatalf("tombstone *Order = %#v, %v", v, err)
	}
	v, err = j.Deserialize("orders", nil, nil, typeOf[Order]())
	if err != nil || v != (Order{}) {
		t.Fatalf("tombstone Order = %#v, %v", v, err)
	}
	v, err = j.Deserialize("orders", nil, nil, typeOf[Event]())
	if err != nil || v != nil {
		t.Fatalf("tombstone Event = %#v, %v", v, err)
	}
	// Unnamed types get no header.
	hs = nil
	if _, err := j.Serialize("t", &hs, map[string]int{"a": 1}); err != nil || len(hs) != 0 {
		t.Fatalf("map headers = %v, %v", hs, err)
	}
	// WithoutTypeHeader and WithTypeHeader.
	hs = nil
	if _, err := serde.NewJSON(serde.WithoutTypeHeader()).Serialize("t", &hs, Order{}); err != nil || len(hs) != 0 {
		t.Fatalf("WithoutTypeHeader headers = %v", hs)
	}
	if _, err := serde.NewJSON(serde.WithTypeHeader(serde.KeyTypeIDHeader)).Serialize("t", &hs, Order{}); err != nil || header(hs, serde.KeyTypeIDHeader) != "serde_test.Order" {
		t.Fatalf("key header = %v", hs)
	}
	// Unsupported values.
	if _, err := j.Serialize("t", nil, make(chan int)); !errors.Is(err, serde.ErrUnsupportedType) {
		t.Fatalf("chan: %v", err)
	}
}

func TestJSONStrictness(t *testing.T) {
	strict := serde.NewJSON(serde.DisallowUnknownFields())
	_, err := strict.Deserialize("t", nil, []byte(`{"id":1,"extra":true}`), typeOf[Order]())
	if err == nil || !strings.Contains(err.Error(), "extra") {
		t.Fatalf("unknown field: %v", err)
	}
	for _, j := range []*serde.JSON{serde.NewJSON(), strict} {
		if _, err := j.Deserialize("t", nil, []byte(`{"id":1} {"id":2}`), typeOf[Order]()); err == nil {
			t.Fatal("trailing data accepted")
		}
		if _, err := j.Deserialize("t", nil, []byte{}, typeOf[Order]()); err == nil {
			t.Fatal("empty data accepted")
		}
		if v, err := j.Deserialize("t", nil, []byte(" {\"id\":3}\n"), typeOf[Order]()); err != nil || v.(Order).ID != 3 {
			t.Fatalf("whitespace: %v, %v", v, err)
		}
	}
}

func TestJSONPolymorphic(t *testing.T) {
	reg := serde.NewTypeRegistry()
	if err := reg.Register("com.example.Order", &Order{}); err != nil {
		t.Fatal(err)
	}
	if err := serde.Register[Refund](reg, ""); err != nil {
		t.Fatal(err)
	}
	j := serde.NewJSON(serde.WithRegistry(reg))
	type rec struct {
		hs   []kgo.RecordHeader
		data []byte
	}
	var recs []rec
	for _, v := range []any{&Order{ID: 7}, Refund{OrderID: 7}} {
		var r rec
		b, err := j.Serialize("events", &r.hs, v)
		if err != nil {
			t.Fatal(err)
		}
		r.data = b
		recs = append(recs, r)
	}
	if h := header(recs[0].hs, serde.TypeIDHeader); h != "com.example.Order" {
		t.Fatalf("order header %q", h)
	}
	if h := header(recs[1].hs, serde.TypeIDHeader); h != "serde_test.Refund" {
		t.Fatalf("refund header %q", h)
	}
	for _, target := range []reflect.Type{typeOf[Event](), typeOf[any]()} {
		v0, err0 := j.Deserialize("events", recs[0].hs, recs[0].data, target)
		v1, err1 := j.Deserialize("events", recs[1].hs, recs[1].data, target)
		if err0 != nil || err1 != nil {
			t.Fatalf("%s: %v / %v", target, err0, err1)
		}
		if o, ok := v0.(*Order); !ok || o.ID != 7 {
			t.Fatalf("%s: got %#v", target, v0)
		}
		if r, ok := v1.(Refund); !ok || r.OrderID != 7 {
			t.Fatalf("%s: got %#v", target, v1)
		}
		if rv := serde.ReflectValue(v0, target); !rv.IsValid() || rv.Type() != target {
			t.Fatalf("ReflectValue: %v", rv)
		}
	}
	// Errors for interface targets.
	for name, hs := range map[string][]kgo.RecordHeader{
		"no header":      nil,
		"unknown header": {{Key: serde.TypeIDHeader, Value: []byte("com.example.Nope")}},
	} {
		_, err := j.Deserialize("events", hs, recs[0].data, typeOf[Event]())
		if !errors.Is(err, serde.ErrUnknownType) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A registered type that does not implement the interface.
	_ = reg.Register("plain", "")
	_, err := j.Deserialize("events", []kgo.RecordHeader{{Key: serde.TypeIDHeader, Value: []byte("plain")}}, []byte(`"x"`), typeOf[Event]())
	if !errors.Is(err, serde.ErrUnknownType) {
		t.Errorf("non-implementing: %v", err)
	}
	// The header is ignored for concrete targets.
	v, err := j.Deserialize("events", recs[1].hs, []byte(`{"id":9}`), typeOf[Order]())
	if err != nil || v.(Order).ID != 9 {
		t.Errorf("concrete target: %#v, %v", v, err)
	}
}

func TestRegistry(t *testing.T) {
	reg := serde.NewTypeRegistry()
	if err := reg.Register("a", Order{}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register("a", Order{}); err != nil {
		t.Fatalf("idempotent re-register: %v", err)
	}
	if err := reg.Register("a", Refund{}); !errors.Is(err, serde.ErrTypeConflict) {
		t.Fatalf("name conflict: %v", err)
	}
	if err := reg.Register("b", &Order{}); !errors.Is(err, serde.ErrTypeConflict) {
		t.Fatalf("type conflict: %v", err)
	}
	if err := reg.Register("", map[string]int{}); err == nil {
		t.Fatal("unnamed type without a name accepted")
	}
	if err := reg.Register("x", nil); err == nil {
		t.Fatal("nil sample accepted")
	}
	if got := reg.NameOf(typeOf[*Order]()); got != "a" {
		t.Fatalf("NameOf(*Order) = %q", got)
	}
	if got := reg.NameOf(typeOf[Refund]()); got != "serde_test.Refund" {
		t.Fatalf("NameOf(Refund) = %q", got)
	}
	var nilReg *serde.TypeRegistry
	if _, ok := nilReg.Lookup("a"); ok || nilReg.NameOf(typeOf[Order]()) != "serde_test.Order" {
		t.Fatal("nil registry")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("conflicting WithTypeMapping must panic at construction")
			}
		}()
		serde.NewJSON(serde.WithTypeMapping("a", Order{}), serde.WithTypeMapping("a", Refund{}))
	}()
}

func TestSetHeader(t *testing.T) {
	hs := []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "x"}, {Key: "a", Value: []byte("2")}}
	serde.SetHeader(&hs, "a", "3")
	if len(hs) != 2 || hs[0].Key != "a" || string(hs[0].Value) != "3" || hs[1].Key != "x" {
		t.Fatalf("got %v", hs)
	}
	serde.SetHeader(&hs, "b", "4")
	if v, _ := serde.HeaderValue(hs, "b"); v != "4" || len(hs) != 3 {
		t.Fatalf("got %v", hs)
	}
	serde.SetHeader(nil, "b", "4") // must not panic
}

func TestProtobuf(t *testing.T) {
	p := serde.NewProtobuf()
	var hs []kgo.RecordHeader
	b, err := p.Serialize("t", &hs, wrapperspb.String("hi"))
	if err != nil || header(hs, serde.TypeIDHeader) != "google.protobuf.StringValue" {
		t.Fatalf("Serialize: %v, %v", err, hs)
	}
	v, err := p.Deserialize("t", hs, b, typeOf[*wrapperspb.StringValue]())
	if err != nil || v.(*wrapperspb.StringValue).GetValue() != "hi" {
		t.Fatalf("Deserialize: %#v, %v", v, err)
	}
	// Interface targets resolve the header through the linked types.
	for _, target := range []reflect.Type{typeOf[proto.Message](), typeOf[any]()} {
		v, err = p.Deserialize("t", hs, b, target)
		if err != nil || v.(*wrapperspb.StringValue).GetValue() != "hi" {
			t.Fatalf("%s: %#v, %v", target, v, err)
		}
	}
	// A registered name takes precedence in both directions.
	rp := serde.NewProtobuf(serde.WithTypeMapping("my.Greeting", &wrapperspb.StringValue{}))
	hs = nil
	b, err = rp.Serialize("t", &hs, wrapperspb.String("yo"))
	if err != nil || header(hs, serde.TypeIDHeader) != "my.Greeting" {
		t.Fatalf("registered name: %v %v", hs, err)
	}
	if v, err = rp.Deserialize("t", hs, b, typeOf[proto.Message]()); err != nil || v.(*wrapperspb.StringValue).GetValue() != "yo" {
		t.Fatalf("registered lookup: %#v %v", v, err)
	}
	// Struct messages.
	st, _ := structpb.NewStruct(map[string]any{"a": 1.5, "b": []any{"x", true}})
	b, err = p.Serialize("t", nil, st)
	if err != nil {
		t.Fatal(err)
	}
	v, err = p.Deserialize("t", nil, b, typeOf[*structpb.Struct]())
	if err != nil || !proto.Equal(v.(*structpb.Struct), st) {
		t.Fatalf("struct: %v, %v", v, err)
	}
	// Empty message: empty, non-nil bytes; decodes to an empty message.
	b, err = p.Serialize("t", nil, &wrapperspb.StringValue{})
	if err != nil || b == nil || len(b) != 0 {
		t.Fatalf("empty message = %#v, %v", b, err)
	}
	if v, err = p.Deserialize("t", nil, []byte{}, typeOf[*wrapperspb.StringValue]()); err != nil || v.(*wrapperspb.StringValue).GetValue() != "" {
		t.Fatalf("empty data: %v, %v", v, err)
	}
	// Tombstones.
	if b, err = p.Serialize("t", nil, (*wrapperspb.StringValue)(nil)); b != nil || err != nil {
		t.Fatalf("nil message = %v, %v", b, err)
	}
	if v, err = p.Deserialize("t", nil, nil, typeOf[*wrapperspb.StringValue]()); err != nil || v.(*wrapperspb.StringValue) != nil {
		t.Fatalf("tombstone = %#v, %v", v, err)
	}
	// Type errors.
	if _, err = p.Serialize("t", nil, Order{}); !errors.Is(err, serde.ErrUnsupportedType) {
		t.Fatalf("non-message: %v", err)
	}
	for _, target := range []reflect.Type{typeOf[wrapperspb.StringValue](), typeOf[Order](), typeOf[string]()} {
		if _, err = p.Deserialize("t", nil, []byte{}, target); !errors.Is(err, serde.ErrUnsupportedType) {
			t.Errorf("%s: %v", target, err)
		}
	}
	for name, hs := range map[string][]kgo.RecordHeader{
		"none":      nil,
		"unknown":   {{Key: serde.TypeIDHeader, Value: []byte("no.such.Message")}},
		"invalid":   {{Key: serde.TypeIDHeader, Value: []byte("not a name!")}},
		"wrong ifc": {{Key: serde.TypeIDHeader, Value: []byte("google.protobuf.StringValue")}},
	} {
		target := typeOf[proto.Message]()
		if name == "wrong ifc" {
			target = typeOf[Event]()
		}
		if _, err = p.Deserialize("t", hs, []byte{}, target); !errors.Is(err, serde.ErrUnknownType) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAuto(t *testing.T) {
	a := serde.NewAuto(serde.WithTypeMapping("order", Order{}))
	cases := []struct {
		v          any
		target     reflect.Type
		wantHeader string
	}{
		{"text", typeOf[string](), ""},
		{Name("text"), typeOf[Name](), ""},
		{[]byte{1, 2}, typeOf[[]byte](), ""},
		{wrapperspb.Int64(5), typeOf[*wrapperspb.Int64Value](), "google.protobuf.Int64Value"},
		{Order{ID: 1}, typeOf[Order](), "order"},
		{[]int{1, 2}, typeOf[[]int](), ""},
	}
	for _, c := range cases {
		var hs []kgo.RecordHeader
		b, err := a.Serialize("t", &hs, c.v)
		if err != nil {
			t.Fatalf("%T: %v", c.v, err)
		}
		if h := header(hs, serde.TypeIDHeader); h != c.wantHeader {
			t.Errorf("%T: header %q, want %q", c.v, h, c.wantHeader)
		}
		got, err := a.Deserialize("t", hs, b, c.target)
		if err != nil {
			t.Fatalf("%T: %v", c.v, err)
		}
		if m, ok := c.v.(proto.Message); ok {
			if !proto.Equal(m, got.(proto.Message)) {
				t.Errorf("%T: got %v", c.v, got)
			}
		} else if !reflect.DeepEqual(got, c.v) {
			t.Errorf("%T: got %#v", c.v, got)
		}
		// Interface targets resolve via the header where there is one.
		if c.wantHeader != "" {
			got, err = a.Deserialize("t", hs, b, typeOf[any]())
			if err != nil || reflect.TypeOf(got) != reflect.TypeOf(c.v) {
				t.Errorf("%T via any: %#v, %v", c.v, got, err)
			}
		}
	}
	// Unregistered Go type names cannot be resolved for interface targets.
	var hs []kgo.RecordHeader
	b, _ := a.Serialize("t", &hs, Refund{OrderID: 1})
	if _, err := a.Deserialize("t", hs, b, typeOf[Event]()); !errors.Is(err, serde.ErrUnknownType) {
		t.Errorf("unregistered: %v", err)
	}
	if b, err := a.Serialize("t", nil, nil); b != nil || err != nil {
		t.Errorf("nil = %v, %v", b, err)
	}
	if _, err := a.Deserialize("t", nil, []byte("x"), nil); err == nil {
		t.Error("nil type accepted")
	}
}

func TestCodecAndRecordHelpers(t *testing.T) {
	orders := serde.JSONFor[Order]()
	rec, err := orders.Record("orders", Order{ID: 3, Item: "pen"})
	if err != nil {
		t.Fatal(err)
	}
	rec.Partition, rec.Offset = 2, 41
	rec.Key = []byte("k-3")
	o, err := orders.DecodeRecord(rec)
	if err != nil || o.ID != 3 {
		t.Fatalf("DecodeRecord = %#v, %v", o, err)
	}
	// The codec registered Order, so an interface target resolves it.
	v, err := serde.Value[any](orders, rec)
	if _, ok := v.(Order); err != nil || !ok {
		t.Fatalf("Value[any] = %#v, %v", v, err)
	}
	k, err := serde.Key[string](serde.String{}, rec)
	if err != nil || k != "k-3" {
		t.Fatalf("Key = %q, %v", k, err)
	}
	ev, err := serde.Unmarshal[*Order](orders, "orders", rec.Headers, rec.Value)
	if err != nil || ev.Item != "pen" {
		t.Fatalf("Unmarshal = %#v, %v", ev, err)
	}
	// Tombstone through generics.
	if o, err := serde.Unmarshal[*Order](orders, "orders", nil, nil); err != nil || o != nil {
		t.Fatalf("tombstone = %#v, %v", o, err)
	}
	// Errors carry the record position.
	rec.Value = []byte("{not json")
	_, err = orders.DecodeRecord(rec)
	var de *serde.DeserializationError
	if !errors.As(err, &de) || de.Partition != 2 || de.Offset != 41 || de.IsKey || string(de.Data) != "{not json" || de.Target != typeOf[Order]() {
		t.Fatalf("error = %#v", err)
	}
	if !strings.Contains(err.Error(), `topic "orders" partition 2 offset 41 into serde_test.Order`) {
		t.Fatalf("message = %v", err)
	}
	_, err = serde.Key[int](serde.String{}, rec)
	if !errors.As(err, &de) || !de.IsKey || de.Offset != 41 {
		t.Fatalf("key error = %#v", err)
	}
	// A misbehaving deserializer returning the wrong type is an error, not a panic.
	bad := serde.DeserializerFunc(func(string, []kgo.RecordHeader, []byte, reflect.Type) (any, error) { return 42, nil })
	if _, err := serde.Value[string](bad, rec); !errors.As(err, &de) {
		t.Fatalf("wrong type = %v", err)
	}
	// Protobuf codec.
	pc := serde.ProtobufFor[*wrapperspb.BoolValue]()
	b, err := pc.Encode("t", nil, wrapperspb.Bool(true))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := pc.Decode("t", nil, b); err != nil || !m.GetValue() {
		t.Fatalf("proto codec = %v, %v", m, err)
	}
}

func TestReflectValue(t *testing.T) {
	if rv := serde.ReflectValue(nil, typeOf[*Order]()); !rv.IsValid() || !rv.IsNil() {
		t.Fatal("nil pointer")
	}
	if rv := serde.ReflectValue(nil, typeOf[Event]()); !rv.IsValid() || !rv.IsNil() || rv.Type() != typeOf[Event]() {
		t.Fatal("nil interface")
	}
	if rv := serde.ReflectValue(Order{}, typeOf[Event]()); rv.IsValid() {
		t.Fatal("Order does not implement Event (only *Order does)")
	}
	if rv := serde.ReflectValue(Order{ID: 1}, typeOf[Order]()); rv.Interface().(Order).ID != 1 {
		t.Fatal("identity")
	}
}
