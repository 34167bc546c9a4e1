package serde_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/serde"
)

// countingTransport counts the registry's HTTP requests by method and
// path.
type countingTransport struct {
	mu   sync.Mutex
	n    map[string]int
	auth []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[r.Method+" "+r.URL.Path]++
	c.auth = append(c.auth, r.Header.Get("Authorization"))
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// total returns the number of requests so far.
func (c *countingTransport) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.n {
		n += v
	}
	return n
}

func (c *countingTransport) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// registry starts an embedded broker with a schema registry and returns a
// client counting its requests.
func registry(t testing.TB, opts ...embeddedbroker.Option) (*embeddedbroker.Cluster, *sr.Client, *countingTransport) {
	t.Helper()
	c := embeddedbroker.StartForTest(t, append([]embeddedbroker.Option{embeddedbroker.SchemaRegistry("127.0.0.1:0")}, opts...)...)
	// Several types share a subject in these tests (TopicNameStrategy),
	// and evolution is exercised without relying on compatibility checks:
	// turn them off.
	admin, err := sr.NewClient(sr.URLs(c.SchemaRegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	if res := admin.SetCompatibility(ctx(t), sr.SetCompatibility{Level: sr.CompatNone}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	ct := &countingTransport{}
	cl, err := sr.NewClient(sr.URLs(c.SchemaRegistryURL()), sr.HTTPClient(&http.Client{Transport: ct, Timeout: 10 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	return c, cl, ct
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// frameID returns the schema id of a framed record, checking the magic
// byte.
func frameID(t testing.TB, b []byte) int {
	t.Helper()
	if len(b) < 5 || b[0] != 0 {
		t.Fatalf("not in the wire format: %x", b)
	}
	return int(binary.BigEndian.Uint32(b[1:5]))
}

// wantDeserErr checks that err is a *DeserializationError matching each
// of sentinels.
func wantDeserErr(t testing.TB, what string, err error, sentinels ...error) {
	t.Helper()
	var de *serde.DeserializationError
	if !errors.As(err, &de) {
		t.Errorf("%s: want a DeserializationError, got %T %v", what, err, err)
		return
	}
	for _, s := range sentinels {
		if !errors.Is(err, s) {
			t.Errorf("%s: want %v in %v", what, s, err)
		}
	}
}

const (
	orderSchemaV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"string"},
		{"name":"qty","type":"int"},
		{"name":"tags","type":{"type":"array","items":"string"}},
		{"name":"note","type":["null","string"],"default":null}]}`
	orderSchemaV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"string"},
		{"name":"qty","type":"int"},
		{"name":"tags","type":{"type":"array","items":"string"}},
		{"name":"note","type":["null","string"],"default":null},
		{"name":"channel","type":"string","default":"web"}]}`
	refundSchema = `{"type":"record","name":"Refund","namespace":"shop","fields":[{"name":"order_id","type":"string"},{"name":"cents","type":"long"}]}`
)

type avroOrder struct {
	ID   string   `avro:"id" json:"id"`
	Qty  int      `avro:"qty" json:"qty"`
	Tags []string `avro:"tags" json:"tags"`
	Note *string  `avro:"note" json:"note"`
}

type avroOrderV2 struct {
	ID      string   `avro:"id"`
	Qty     int      `avro:"qty"`
	Tags    []string `avro:"tags"`
	Note    *string  `avro:"note"`
	Channel string   `avro:"channel"`
}

type avroRefund struct {
	OrderID string `avro:"order_id" json:"order_id"`
	Cents   int64  `avro:"cents" json:"cents"`
}

// shopEvent is implemented by avroOrder and *avroRefund.
type shopEvent interface{ Shop() string }

func (avroOrder) Shop() string   { return "order" }
func (*avroRefund) Shop() string { return "refund" }

func newAvro(t testing.TB, cl *sr.Client, opts ...serde.SROption) *serde.SRAvro {
	t.Helper()
	a := serde.NewSRAvro(cl, opts...)
	if err := a.Register(avroOrder{}, orderSchemaV1); err != nil {
		t.Fatal(err)
	}
	if err := a.Register(&avroRefund{}, refundSchema); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestSRAvroRoundTrip: struct, pointer, generic and interface targets
// under each subject name strategy, for values and keys; the record is
// in Confluent's wire format with the id the registry gave the subject.
func TestSRAvroRoundTrip(t *testing.T) {
	_, cl, _ := registry(t)
	order := avroOrder{ID: "o-1", Qty: 3, Tags: []string{"a", "b"}, Note: ptr("gift")}
	for _, tc := range []struct {
		name     string
		opts     []serde.SROption
		order    string // subject of Order
		refund   string // subject of Refund
		topic    string
		keySerde bool
	}{
		{"topic", nil, "avro-t-value", "avro-t-value", "avro-t", false},
		{"topic-key", []serde.SROption{serde.ForKeys()}, "avro-k-key", "avro-k-key", "avro-k", true},
		{"record", []serde.SROption{serde.WithSubjectNameStrategy(serde.RecordNameStrategy{})}, "shop.Order", "shop.Refund", "avro-r", false},
		{"topic-record", []serde.SROption{serde.WithSubjectNameStrategy(serde.TopicRecordNameStrategy{})}, "avro-tr-shop.Order", "avro-tr-shop.Refund", "avro-tr", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAvro(t, cl, tc.opts...)
			b, err := a.Serialize(tc.topic, nil, order)
			if err != nil {
				t.Fatal(err)
			}
			bp, err := a.Serialize(tc.topic, nil, &order)
			if err != nil || string(bp) != string(b) {
				t.Fatalf("pointer: %x %v, want %x", bp, err, b)
			}
			latest, err := cl.SchemaByVersion(ctx(t), tc.order, -1)
			if err != nil {
				t.Fatalf("subject %s: %v", tc.order, err)
			}
			if id := frameID(t, b); id != latest.ID {
				t.Fatalf("id %d, subject %s has %d", id, tc.order, latest.ID)
			}

			for _, target := range []reflect.Type{typeOf[avroOrder](), typeOf[*avroOrder](), typeOf[shopEvent]()} {
				got, err := a.Deserialize(tc.topic, nil, b, target)
				if err != nil {
					t.Fatalf("%s: %v", target, err)
				}
				if o, ok := got.(*avroOrder); ok {
					got = *o
				}
				if !reflect.DeepEqual(got, order) {
					t.Fatalf("%s: got %#v", target, got)
				}
			}
			for _, target := range []reflect.Type{typeOf[any](), typeOf[map[string]any]()} {
				got, err := a.Deserialize(tc.topic, nil, b, target)
				if err != nil {
					t.Fatalf("%s: %v", target, err)
				}
				m, ok := got.(map[string]any)
				if !ok || m["id"] != "o-1" || m["qty"] != 3 {
					t.Fatalf("%s: got %#v", target, got)
				}
			}

			// A second type on the same topic: its own subject with the
			// record strategies, the topic's subject otherwise.
			rb, err := a.Serialize(tc.topic, nil, &avroRefund{OrderID: "o-1", Cents: 250})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := a.Deserialize(tc.topic, nil, rb, typeOf[shopEvent]()); err != nil || !reflect.DeepEqual(got, &avroRefund{OrderID: "o-1", Cents: 250}) {
				t.Fatalf("refund as shopEvent: %#v, %v", got, err)
			}
			versions, err := cl.SubjectVersions(ctx(t), tc.refund)
			if err != nil {
				t.Fatal(err)
			}
			if tc.order == tc.refund && len(versions) != 2 || tc.order != tc.refund && len(versions) != 1 {
				t.Fatalf("subject %s has versions %v", tc.refund, versions)
			}

			// Tombstones both ways.
			if b, err := a.Serialize(tc.topic, nil, (*avroOrder)(nil)); b != nil || err != nil {
				t.Fatalf("nil: %x %v", b, err)
			}
			if v, err := a.Deserialize(tc.topic, nil, nil, typeOf[*avroOrder]()); err != nil || v.(*avroOrder) != nil {
				t.Fatalf("tombstone: %#v %v", v, err)
			}
		})
	}
	subjects, err := cl.Subjects(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("subjects: %v", subjects)
}

// TestSRAvroCodecThroughBroker produces and consumes Avro records through
// the embedded broker with a Codec.
func TestSRAvroCodecThroughBroker(t *testing.T) {
	c, cl, _ := registry(t, embeddedbroker.Topics(1, "avro-orders"))
	codec, err := serde.SRAvroFor[avroOrder](cl, orderSchemaV1)
	if err != nil {
		t.Fatal(err)
	}
	kcl := kafkaClient(t, c, "avro-orders")
	for i := range 5 {
		r, err := codec.Record("avro-orders", avroOrder{ID: string(rune('a' + i)), Qty: i, Tags: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		if err := kcl.ProduceSync(ctx(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	got := consume(t, kcl, 5)
	for i, r := range got {
		o, err := codec.DecodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		if o.ID != string(rune('a'+i)) || o.Qty != i {
			t.Fatalf("record %d: %+v", i, o)
		}
	}
}

// TestSRAvroSchemaEvolution: a reader with a newer schema gets the
// defaults of fields the writer lacks; a reader with an older struct
// skips fields it lacks.
func TestSRAvroSchemaEvolution(t *testing.T) {
	_, cl, _ := registry(t)
	v1 := newAvro(t, cl)
	v2 := serde.NewSRAvro(cl)
	if err := serde.RegisterAvro[avroOrderV2](v2, orderSchemaV2); err != nil {
		t.Fatal(err)
	}
	b1, err := v1.Serialize("evo", nil, avroOrder{ID: "x", Qty: 1, Tags: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v2.Deserialize("evo", nil, b1, typeOf[avroOrderV2]())
	if err != nil || got.(avroOrderV2).Channel != "web" || got.(avroOrderV2).ID != "x" {
		t.Fatalf("v1 record read as v2: %#v, %v", got, err)
	}
	var into avroOrderV2
	if err := v2.DeserializeInto("evo", nil, b1, &into); err != nil || into.Channel != "web" {
		t.Fatalf("DeserializeInto: %#v, %v", into, err)
	}
	b2, err := v2.Serialize("evo", nil, avroOrderV2{ID: "y", Qty: 2, Tags: []string{}, Channel: "store"})
	if err != nil {
		t.Fatal(err)
	}
	if frameID(t, b2) == frameID(t, b1) {
		t.Fatal("v2 got v1's id")
	}
	got, err = v1.Deserialize("evo", nil, b2, typeOf[avroOrder]())
	if err != nil || got.(avroOrder).ID != "y" {
		t.Fatalf("v2 record read as v1: %#v, %v", got, err)
	}
	m, err := v1.Deserialize("evo", nil, b2, typeOf[any]())
	if err != nil || m.(map[string]any)["channel"] != "store" {
		t.Fatalf("v2 record read generically: %#v, %v", m, err)
	}
}

// TestSRLatestVersion: types without a schema, and UseLatestVersion with
// auto-registration off, write with the subject's latest version.
func TestSRLatestVersion(t *testing.T) {
	_, cl, _ := registry(t)
	// No version yet: a type without a schema cannot be written.
	generic := serde.NewSRAvro(cl)
	if _, err := generic.Serialize("latest", nil, map[string]any{"id": "g"}); !errors.Is(err, serde.ErrSchemaNotRegistered) {
		t.Fatalf("no version: %v", err)
	}
	ss1, err := cl.CreateSchema(ctx(t), "latest-value", sr.Schema{Schema: orderSchemaV1})
	if err != nil {
		t.Fatal(err)
	}
	ss2, err := cl.CreateSchema(ctx(t), "latest-value", sr.Schema{Schema: orderSchemaV2})
	if err != nil {
		t.Fatal(err)
	}
	// Generic values, new serde (the "no version" answer is not cached).
	generic = serde.NewSRAvro(cl)
	b, err := generic.Serialize("latest", nil, map[string]any{"id": "g", "qty": 1, "tags": []any{}, "note": nil, "channel": "app"})
	if err != nil {
		t.Fatal(err)
	}
	if frameID(t, b) != ss2.ID {
		t.Fatalf("id %d, want latest %d", frameID(t, b), ss2.ID)
	}
	if v, err := generic.Deserialize("latest", nil, b, typeOf[map[string]any]()); err != nil || v.(map[string]any)["channel"] != "app" {
		t.Fatalf("generic: %#v %v", v, err)
	}
	// The record strategies need a record name, which a type without a
	// schema does not have.
	byRecord := serde.NewSRAvro(cl, serde.WithSubjectNameStrategy(serde.RecordNameStrategy{}))
	if _, err := byRecord.Serialize("latest", nil, map[string]any{"id": "g"}); err == nil || !strings.Contains(err.Error(), "record name") {
		t.Fatalf("record strategy without a schema: %v", err)
	}
	// use-latest-version with auto-register off: the v1 struct is written
	// with v2 (its id), not its own schema.
	useLatest := newAvro(t, cl, serde.AutoRegister(false), serde.UseLatestVersion(true))
	b, err = useLatest.Serialize("latest", nil, avroOrderV2{ID: "l", Tags: []string{}, Channel: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if frameID(t, b) != ss2.ID {
		t.Fatalf("use-latest id %d, want %d (v1 is %d)", frameID(t, b), ss2.ID, ss1.ID)
	}
	// As Confluent: with auto-registration on, use-latest-version does
	// not apply.
	registering := newAvro(t, cl, serde.UseLatestVersion(true))
	b, err = registering.Serialize("latest", nil, avroOrder{ID: "r", Tags: []string{}})
	if err != nil || frameID(t, b) != ss1.ID {
		t.Fatalf("auto-register with use-latest: id %d (%v), want v1's %d", frameID(t, b), err, ss1.ID)
	}
}

// TestSRAutoRegisterOff: with auto-registration off, serializing fails
// with ErrSchemaNotRegistered until the schema is registered, then uses
// its id without registering anything, for each format.
func TestSRAutoRegisterOff(t *testing.T) {
	_, cl, ct := registry(t)
	off := serde.AutoRegister(false)

	a := newAvro(t, cl, off)
	j := serde.NewSRJSONSchema(cl, off)
	if err := j.Register(jsonOrder{}, jsonOrderSchema); err != nil {
		t.Fatal(err)
	}
	p := serde.NewSRProtobuf(cl, off)
	for _, tc := range []struct {
		name   string
		s      serde.Serializer
		v      any
		schema func() sr.Schema
	}{
		{"avro", a, avroOrder{ID: "1", Tags: []string{}}, func() sr.Schema { return sr.Schema{Schema: orderSchemaV1} }},
		{"json", j, jsonOrder{ID: "1", Qty: 1}, func() sr.Schema { return sr.Schema{Schema: jsonOrderSchema, Type: sr.TypeJSON} }},
		{"protobuf", p, wrapperspb.String("x"), func() sr.Schema {
			text, err := p.SchemaText(wrapperspb.String(""))
			if err != nil {
				t.Fatal(err)
			}
			return sr.Schema{Schema: text, Type: sr.TypeProtobuf}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "off-" + tc.name
			_, err := tc.s.Serialize(topic, nil, tc.v)
			if !errors.Is(err, serde.ErrSchemaNotRegistered) {
				t.Fatalf("unregistered: %v", err)
			}
			// Failures are not cached: register the schema and retry.
			ss, err := cl.CreateSchema(ctx(t), topic+"-value", tc.schema())
			if err != nil {
				t.Fatal(err)
			}
			before := ct.snapshot()
			b, err := tc.s.Serialize(topic, nil, tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if frameID(t, b) != ss.ID {
				t.Fatalf("id %d, want %d", frameID(t, b), ss.ID)
			}
			after := ct.snapshot()
			if after["POST /subjects/"+topic+"-value/versions"] != before["POST /subjects/"+topic+"-value/versions"] {
				t.Fatal("auto-registration off registered a schema")
			}
			if after["POST /subjects/"+topic+"-value"] != before["POST /subjects/"+topic+"-value"]+1 {
				t.Fatalf("lookups: %v -> %v", before, after)
			}
			if versions, err := cl.SubjectVersions(ctx(t), topic+"-value"); err != nil || len(versions) != 1 {
				t.Fatalf("versions %v %v", versions, err)
			}
		})
	}
}

// TestSRCache: the registry is asked once per (subject, schema) when
// serializing and once per id when deserializing, also under concurrent
// first use; other subjects and ids are asked for once each.
func TestSRCache(t *testing.T) {
	_, cl, ct := registry(t)
	a := newAvro(t, cl)
	order := avroOrder{ID: "c", Tags: []string{}}

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if _, err := a.Serialize("cache", nil, order); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := ct.total(); n != 1 {
		t.Fatalf("800 serializations: %d requests %v, want 1", n, ct.snapshot())
	}
	b, _ := a.Serialize("cache", nil, &order)
	if n := ct.total(); n != 1 {
		t.Fatalf("pointer value: %d requests, want 1", n)
	}
	if _, err := a.Serialize("cache-2", nil, order); err != nil || ct.total() != 2 {
		t.Fatalf("second topic: %v, %d requests", err, ct.total())
	}

	// Decoding with a fresh serde: one GET /schemas/ids/{id}.
	d := newAvro(t, cl)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if _, err := d.Deserialize("cache", nil, b, typeOf[avroOrder]()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, target := range []reflect.Type{typeOf[*avroOrder](), typeOf[any](), typeOf[shopEvent]()} {
		if _, err := d.Deserialize("cache", nil, b, target); err != nil {
			t.Fatal(err)
		}
	}
	snap := ct.snapshot()
	if n := ct.total(); n != 3 || snap["GET /schemas/ids/1"] != 1 {
		t.Fatalf("800 deserializations: %d requests %v, want 3 with one GET /schemas/ids/1", n, snap)
	}

	// Protobuf and JSON Schema cache the same way.
	p := serde.NewSRProtobuf(cl)
	j := serde.NewSRJSONSchema(cl)
	if err := j.Register(jsonOrder{}, jsonOrderSchema); err != nil {
		t.Fatal(err)
	}
	before := ct.total()
	var pb, jb []byte
	for range 50 {
		var err error
		if pb, err = p.Serialize("cache-pb", nil, wrapperspb.String("x")); err != nil {
			t.Fatal(err)
		}
		if jb, err = j.Serialize("cache-json", nil, jsonOrder{ID: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := ct.total() - before; n != 2 {
		t.Fatalf("protobuf and JSON serializations: %d requests, want 2", n)
	}
	before = ct.total()
	pd, jd := serde.NewSRProtobuf(cl), serde.NewSRJSONSchema(cl)
	for range 50 {
		if _, err := pd.Deserialize("cache-pb", nil, pb, typeOf[*wrapperspb.StringValue]()); err != nil {
			t.Fatal(err)
		}
		if _, err := jd.Deserialize("cache-json", nil, jb, typeOf[jsonOrder]()); err != nil {
			t.Fatal(err)
		}
	}
	if n := ct.total() - before; n != 2 {
		t.Fatalf("protobuf and JSON deserializations: %d requests, want 2", n)
	}
	t.Logf("requests: %v", ct.snapshot())
}

// TestSRCacheCapacity: a bounded cache still serves every topic, asking
// the registry again for evicted entries.
func TestSRCacheCapacity(t *testing.T) {
	_, cl, ct := registry(t)
	a := serde.NewSRAvro(cl, serde.SRCacheCapacity(2))
	if err := a.Register(avroOrder{}, orderSchemaV1); err != nil {
		t.Fatal(err)
	}
	topics := []string{"cap-a", "cap-b", "cap-c", "cap-d"}
	for range 3 {
		for _, topic := range topics {
			b, err := a.Serialize(topic, nil, avroOrder{ID: topic, Tags: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			if v, err := a.Deserialize(topic, nil, b, typeOf[avroOrder]()); err != nil || v.(avroOrder).ID != topic {
				t.Fatalf("%s: %#v %v", topic, v, err)
			}
		}
	}
	if n := ct.total(); n < len(topics)+1 || n > 3*(2*len(topics)) {
		t.Fatalf("%d requests", n)
	}
	t.Logf("4 topics, 3 rounds, capacity 2: %d requests", ct.total())
}

// TestSRRegistryUnavailable: when the registry cannot be reached,
// serializing fails and deserializing fails with ErrRegistryUnavailable,
// not with a DeserializationError (the record is not at fault).
func TestSRRegistryUnavailable(t *testing.T) {
	cl, err := sr.NewClient(sr.URLs("http://127.0.0.1:1"), sr.HTTPClient(&http.Client{Timeout: 2 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	record := []byte{0, 0, 0, 0, 1, 2, 'x'}
	for name, s := range map[string]serde.Serde{
		"avro":     newAvro(t, cl),
		"protobuf": serde.NewSRProtobuf(cl),
		"json":     serde.NewSRJSONSchema(cl),
	} {
		v := any(avroOrder{ID: "u"})
		if name == "protobuf" {
			v = wrapperspb.String("u")
		}
		if _, err := s.Serialize("down", nil, v); !errors.Is(err, serde.ErrRegistryUnavailable) {
			t.Errorf("%s: serialize: %v", name, err)
		}
		target := typeOf[any]()
		_, err := s.Deserialize("down", nil, record, target)
		var de *serde.DeserializationError
		if !errors.Is(err, serde.ErrRegistryUnavailable) || errors.As(err, &de) {
			t.Errorf("%s: deserialize: %T %v", name, err, err)
		}
	}
}

// TestSubjectNameStrategies checks the three strategies and their names.
func TestSubjectNameStrategies(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		topicV, topicK, rec  string
		wantV, wantK, wantRN string
	}{
		{"topic", "orders", "orders", "shop.Order", "orders-value", "orders-key", "orders-value"},
		{"record", "orders", "orders", "shop.Order", "shop.Order", "shop.Order", "shop.Order"},
		{"topic-record", "orders", "orders", "shop.Order", "orders-shop.Order", "orders-shop.Order", "orders-shop.Order"},
		{"io.confluent.kafka.serializers.subject.TopicRecordNameStrategy", "orders", "orders", "shop.Order", "orders-shop.Order", "orders-shop.Order", "orders-shop.Order"},
		{"", "orders", "orders", "shop.Order", "orders-value", "orders-key", "orders-value"},
	} {
		s, err := serde.ParseSubjectNameStrategy(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		v, err1 := s.Subject(tc.topicV, false, tc.rec)
		k, err2 := s.Subject(tc.topicK, true, tc.rec)
		if v != tc.wantV || k != tc.wantK || err1 != nil || err2 != nil {
			t.Errorf("%q: %q %q (%v %v)", tc.name, v, k, err1, err2)
		}
	}
	if _, err := serde.ParseSubjectNameStrategy("nope"); err == nil {
		t.Error("unknown strategy accepted")
	}
	for _, s := range []serde.SubjectNameStrategy{serde.RecordNameStrategy{}, serde.TopicRecordNameStrategy{}} {
		if _, err := s.Subject("orders", false, ""); err == nil {
			t.Errorf("%T without a record name: no error", s)
		}
	}
	custom := serde.SubjectNameStrategyFunc(func(topic string, isKey bool, record string) (string, error) {
		return "custom." + topic, nil
	})
	_, cl, _ := registry(t)
	a := newAvro(t, cl, serde.WithSubjectNameStrategy(custom))
	if _, err := a.Serialize("orders", nil, avroOrder{Tags: []string{}}); err != nil {
		t.Fatal(err)
	}
	if subjects, err := cl.Subjects(ctx(t)); err != nil || !slices.Equal(subjects, []string{"custom.orders"}) {
		t.Fatalf("subjects %v %v", subjects, err)
	}
}
