package serde_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kafkaboot/kafkaboot/serde"
)

// TestDeserializeIntoMatchesDeserialize checks, for every deserializer
// implementing IntoDeserializer, target type, header set and input (valid,
// garbage and tombstone), that DeserializeInto produces exactly what
// Deserialize produces: the same value or the same error.
func TestDeserializeIntoMatchesDeserialize(t *testing.T) {
	ds := deserializers()
	ds["codec-json"] = serde.JSONFor[Order]()
	ds["codec-protobuf"] = serde.ProtobufFor[*wrapperspb.StringValue]()
	pb, _ := proto.Marshal(wrapperspb.String("hi"))
	inputs := append([][]byte{nil, []byte(`{"id":1,"item":"pen"}`), []byte(`"text"`), []byte(`[1,2]`), []byte(`12`), pb}, garbage...)
	n := 0
	for name, d := range ds {
		id, ok := d.(serde.IntoDeserializer)
		if !ok {
			continue
		}
		for _, target := range garbageTargets {
			if target == nil {
				continue
			}
			for _, hs := range garbageHeaders {
				for _, data := range inputs {
					n++
					want, werr := d.Deserialize("t", hs, data, target)
					ptr := reflect.New(target)
					gerr := id.DeserializeInto("t", hs, data, ptr.Interface())
					if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
						t.Errorf("%s: %s: %q: Deserialize err %v, DeserializeInto err %v", name, target, data, werr, gerr)
						continue
					}
					if werr != nil {
						var de *serde.DeserializationError
						if !errors.As(gerr, &de) {
							t.Errorf("%s: %s: %q: not a DeserializationError: %v", name, target, data, gerr)
						}
						continue
					}
					got := ptr.Elem().Interface()
					wantV := serde.ReflectValue(want, target)
					if !wantV.IsValid() {
						t.Errorf("%s: %s: %q: Deserialize returned %T", name, target, data, want)
						continue
					}
					w := wantV.Interface()
					if m, ok := w.(proto.Message); ok && m != nil && !reflect.ValueOf(m).IsNil() {
						gm, _ := got.(proto.Message)
						if gm == nil || !proto.Equal(m, gm) {
							t.Errorf("%s: %s: %q: got %v, want %v", name, target, data, got, w)
						}
						continue
					}
					if !reflect.DeepEqual(got, w) {
						t.Errorf("%s: %s: %q: got %#v, want %#v", name, target, data, got, w)
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no IntoDeserializer tested")
	}
}

func TestDeserializeIntoArguments(t *testing.T) {
	a := serde.NewAuto()
	for _, ptr := range []any{nil, Order{}, (*Order)(nil)} {
		err := a.DeserializeInto("t", nil, []byte(`{}`), ptr)
		if !errors.Is(err, serde.ErrUnsupportedType) || !errors.As(err, new(*serde.DeserializationError)) {
			t.Errorf("ptr %#v: %v", ptr, err)
		}
	}
	// A tombstone zeroes the target.
	o := Order{ID: 9}
	if err := a.DeserializeInto("t", nil, nil, &o); err != nil || o != (Order{}) {
		t.Errorf("tombstone: %+v, %v", o, err)
	}
	s := "x"
	if err := a.DeserializeInto("t", nil, nil, &s); err != nil || s != "" {
		t.Errorf("string tombstone: %q, %v", s, err)
	}
	b := []byte("x")
	if err := a.DeserializeInto("t", nil, nil, &b); err != nil || b != nil {
		t.Errorf("bytes tombstone: %q, %v", b, err)
	}
	// Interface targets resolve the type header.
	var hs []kgo.RecordHeader
	j := serde.NewJSON(serde.WithTypeMapping("order", &Order{}))
	data, _ := j.Serialize("t", &hs, &Order{ID: 4})
	var ev Event
	if err := j.DeserializeInto("t", hs, data, &ev); err != nil || ev.(*Order).ID != 4 {
		t.Errorf("interface: %#v, %v", ev, err)
	}
}

// TestNameOfCache checks that cached type names follow registrations,
// including ones made concurrently with lookups.
func TestNameOfCache(t *testing.T) {
	reg := serde.NewTypeRegistry()
	ot := reflect.TypeFor[Order]()
	if got := reg.NameOf(ot); got != "serde_test.Order" {
		t.Fatalf("default name %q", got)
	}
	if got := reg.NameOf(ot); got != "serde_test.Order" {
		t.Fatalf("cached default name %q", got)
	}
	if err := reg.Register("com.example.Order", Order{}); err != nil {
		t.Fatal(err)
	}
	if got := reg.NameOf(reflect.TypeFor[*Order]()); got != "com.example.Order" {
		t.Fatalf("after registration %q", got)
	}
	rt := reflect.TypeFor[Refund]()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			reg.NameOf(rt)
		}
	}()
	if err := reg.Register("com.example.Refund", Refund{}); err != nil {
		t.Fatal(err)
	}
	<-done
	if got := reg.NameOf(rt); got != "com.example.Refund" {
		t.Fatalf("after concurrent registration %q", got)
	}
	// Auto caches its serializer choice per type; the header name still
	// follows the registry.
	a := serde.NewAuto(serde.WithRegistry(reg))
	var hs []kgo.RecordHeader
	if _, err := a.Serialize("t", &hs, Refund{}); err != nil || header(hs, serde.TypeIDHeader) != "com.example.Refund" {
		t.Fatalf("header %v, %v", hs, err)
	}
}
