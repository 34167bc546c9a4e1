package serde

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestJSONSharedTypeHeader: records serialized with nil headers share
// their type's one-element header slice, which nothing the package does
// writes into: appending copies it, and setting a header on a record
// that has it replaces the record's slice.
func TestJSONSharedTypeHeader(t *testing.T) {
	type order struct{ ID int }
	j := NewJSON()
	var a, b []kgo.RecordHeader
	if _, err := j.Serialize("t", &a, order{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Serialize("t", &b, order{2}); err != nil {
		t.Fatal(err)
	}
	if len(a) != 1 || len(b) != 1 || &a[0] != &b[0] || cap(a) != 1 {
		t.Fatalf("headers %v and %v: want one shared one-element slice without room", a, b)
	}
	want := string(a[0].Value)
	SetHeader(&a, TypeIDHeader, "other")
	a = append(a, kgo.RecordHeader{Key: "x"})
	if &a[0] == &b[0] || string(b[0].Value) != want || len(b) != 1 {
		t.Fatalf("changing one record's headers changed the shared slice: %v", b)
	}
	// With headers of its own, a record gets the header in them.
	own := []kgo.RecordHeader{{Key: "trace", Value: []byte("1")}}
	if _, err := j.Serialize("t", &own, order{3}); err != nil {
		t.Fatal(err)
	}
	if len(own) != 2 || own[1].Key != TypeIDHeader || string(own[1].Value) != want {
		t.Fatalf("own headers %v", own)
	}
}

// TestAutoTypeSerializer: the serializer Auto chooses for a JSON type
// writes what the JSON serde does, follows registrations made after its
// first use, serializes values of other types as the JSON serde does,
// and writes a typed nil pointer as a tombstone.
func TestAutoTypeSerializer(t *testing.T) {
	type order struct{ ID int }
	type refund struct{ N int }
	a := NewAuto()
	s := a.SerializerFor(reflect.TypeFor[order]())
	header := func(ser Serializer, v any) (string, string) {
		t.Helper()
		var h []kgo.RecordHeader
		b, err := ser.Serialize("t", &h, v)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := HeaderValue(h, TypeIDHeader)
		return string(b), name
	}
	gotB, gotName := header(s, order{1})
	wantB, wantName := header(NewJSON(), order{1})
	if gotB != wantB || gotName != wantName {
		t.Fatalf("type serializer wrote %s %q, the JSON serde %s %q", gotB, gotName, wantB, wantName)
	}
	if err := a.Registry().Register("com.example.Order", order{}); err != nil {
		t.Fatal(err)
	}
	if _, name := header(s, order{2}); name != "com.example.Order" {
		t.Fatalf("after registering, header %q", name)
	}
	if _, name := header(a, order{3}); name != "com.example.Order" {
		t.Fatalf("Auto after registering: header %q", name)
	}
	if b, name := header(s, refund{4}); b != `{"N":4}` || name != DefaultTypeName(reflect.TypeFor[refund]()) {
		t.Fatalf("a value of another type: %s %q", b, name)
	}
	ps := a.SerializerFor(reflect.TypeFor[*order]())
	if b, name := header(ps, (*order)(nil)); b != "" || name != "" {
		t.Fatalf("typed nil pointer: %q %q, want a tombstone", b, name)
	}
	// Types taking turns through Auto do not allocate beyond the JSON
	// encoding of each (the last type is cached, the others found again).
	var h []kgo.RecordHeader
	j := NewJSON()
	base := testing.AllocsPerRun(200, func() {
		h = nil
		j.Serialize("t", &h, order{5})
		h = nil
		j.Serialize("t", &h, refund{6})
	})
	turns := testing.AllocsPerRun(200, func() {
		h = nil
		a.Serialize("t", &h, order{5})
		h = nil
		a.Serialize("t", &h, refund{6})
	})
	if turns > base {
		t.Fatalf("Auto with types taking turns: %.1f allocations, the JSON serde %.1f", turns, base)
	}
}

// TestAutoDeserializerChoice: Auto decodes into targets of types taking
// turns with the deserializer of each (JSON, String, Bytes), and finding
// the choice again allocates nothing beyond the JSON decoding.
func TestAutoDeserializerChoice(t *testing.T) {
	type order struct{ ID int }
	a := NewAuto()
	var (
		o order
		s string
		b []byte
	)
	for range 3 {
		if err := a.DeserializeInto("t", nil, []byte(`{"ID":7}`), &o); err != nil || o.ID != 7 {
			t.Fatalf("order: %+v, %v", o, err)
		}
		if err := a.DeserializeInto("t", nil, []byte("text"), &s); err != nil || s != "text" {
			t.Fatalf("string: %q, %v", s, err)
		}
		if err := a.DeserializeInto("t", nil, []byte{1, 2}, &b); err != nil || len(b) != 2 {
			t.Fatalf("bytes: %v, %v", b, err)
		}
	}
	j := NewJSON()
	data := []byte(`{"ID":7}`)
	base := testing.AllocsPerRun(200, func() {
		j.DeserializeInto("t", nil, data, &o)
		j.DeserializeInto("t", nil, data, &o)
	})
	turns := testing.AllocsPerRun(200, func() {
		a.DeserializeInto("t", nil, data, &o)
		a.DeserializeInto("t", nil, []byte("x"), &s)
	})
	if turns > base+1 { // the string's own allocation
		t.Fatalf("Auto with target types taking turns: %.1f allocations, the JSON serde twice %.1f", turns, base)
	}
}
