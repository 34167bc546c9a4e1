package serde_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/serde"
)

// frame returns a record in the wire format with id and rest.
func frame(id int, rest ...byte) []byte {
	b := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	return append(b, rest...)
}

// avroOrderIDOnly lacks most fields of the Order schema: hamba skips them.
type avroOrderIDOnly struct {
	ID string `avro:"id"`
}

// TestSRPoisonPills: bad magic bytes, short and truncated frames, unknown
// schema ids, schemas of another type, bad message indexes and payloads
// that do not decode are *DeserializationErrors with the sentinel saying
// why, carrying the record's bytes, from Deserialize and DeserializeInto.
func TestSRPoisonPills(t *testing.T) {
	_, cl, _ := registry(t)
	a := newAvro(t, cl)
	p := serde.NewSRProtobuf(cl)
	j := serde.NewSRJSONSchema(cl, serde.ValidateJSONSchema(false, true))
	if err := j.Register(jsonOrder{}, jsonOrderSchema); err != nil {
		t.Fatal(err)
	}
	avroRec, err := a.Serialize("poison", nil, avroOrder{ID: "o", Qty: 1, Tags: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	pbRec, err := p.Serialize("poison-pb", nil, wrapperspb.String("x"))
	if err != nil {
		t.Fatal(err)
	}
	jsRec, err := j.Serialize("poison-js", nil, jsonOrder{ID: "o"})
	if err != nil {
		t.Fatal(err)
	}
	avroID, pbID, jsID := frameID(t, avroRec), frameID(t, pbRec), frameID(t, jsRec)
	avroPayload := avroRec[5:]

	type tc struct {
		name   string
		d      serde.Deserializer
		data   []byte
		target reflect.Type
		why    []error
	}
	var cases []tc
	for _, s := range []struct {
		name    string
		d       serde.Deserializer
		target  reflect.Type
		otherID int
	}{
		{"avro", a, typeOf[avroOrder](), pbID},
		{"protobuf", p, typeOf[*wrapperspb.StringValue](), avroID},
		{"json", j, typeOf[jsonOrder](), pbID},
	} {
		cases = append(cases,
			tc{s.name + ": empty", s.d, []byte{}, s.target, []error{serde.ErrBadFrame}},
			tc{s.name + ": shorter than the header", s.d, []byte{0, 0, 0, 1}, s.target, []error{serde.ErrBadFrame}},
			tc{s.name + ": bad magic byte", s.d, append([]byte{1}, avroRec[1:]...), s.target, []error{serde.ErrBadFrame}},
			tc{s.name + ": plain JSON", s.d, []byte(`{"id":"o","qty":1}`), s.target, []error{serde.ErrBadFrame}},
			tc{s.name + ": unknown schema id", s.d, frame(99999, 0, 2, 'o', 2), s.target, []error{serde.ErrUnknownSchema}},
			tc{s.name + ": schema id 0", s.d, frame(0, 0, 2, 'o', 2), s.target, []error{serde.ErrUnknownSchema}},
			tc{s.name + ": schema of another type", s.d, frame(s.otherID, 0, 2, 'o', 2), s.target, []error{serde.ErrUnknownSchema}},
		)
	}
	cases = append(cases,
		tc{"avro: truncated payload", a, avroRec[:len(avroRec)-2], typeOf[avroOrder](), nil},
		tc{"avro: header only", a, frame(avroID), typeOf[avroOrder](), nil},
		tc{"avro: trailing bytes", a, append(bytes.Clone(avroRec), 0), typeOf[avroOrder](), nil},
		tc{"avro: negative string length", a, frame(avroID, 1), typeOf[avroOrder](), nil},
		tc{"avro: huge array", a, frame(avroID, append([]byte{2, 'o', 2}, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)...), typeOf[avroOrder](), nil},
		tc{"avro: huge array, skipped field", a, frame(avroID, append([]byte{2, 'o', 2}, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)...), typeOf[avroOrderIDOnly](), nil},
		tc{"avro: huge sized block, skipped field", a, frame(avroID, append([]byte{2, 'o', 2}, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 2)...), typeOf[avroOrderIDOnly](), nil},
		tc{"avro: huge array, generic", a, frame(avroID, append([]byte{2, 'o', 2}, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)...), typeOf[any](), nil},
		tc{"avro: bad union index", a, frame(avroID, append(bytes.Clone(avroPayload[:len(avroPayload)-1]), 8)...), typeOf[avroOrder](), nil},
		tc{"avro: generic, truncated", a, avroRec[:len(avroRec)-2], typeOf[any](), nil},
		tc{"avro: unregistered record for an interface", serde.NewSRAvro(cl), avroRec, typeOf[shopEvent](), []error{serde.ErrUnknownType}},
		tc{"avro: not a record target", a, avroRec, typeOf[int](), nil},

		tc{"protobuf: no message indexes", p, frame(pbID), typeOf[*wrapperspb.StringValue](), []error{serde.ErrBadFrame}},
		tc{"protobuf: negative index count", p, frame(pbID, 3), typeOf[*wrapperspb.StringValue](), []error{serde.ErrBadFrame}},
		tc{"protobuf: huge index count", p, frame(pbID, 0xfe, 0xff, 0xff, 0xff, 0x0f), typeOf[*wrapperspb.StringValue](), []error{serde.ErrBadFrame}},
		tc{"protobuf: truncated indexes", p, frame(pbID, 4, 2), typeOf[*wrapperspb.StringValue](), []error{serde.ErrBadFrame}},
		tc{"protobuf: truncated varint", p, frame(pbID, 0xff), typeOf[*wrapperspb.StringValue](), []error{serde.ErrBadFrame}},
		tc{"protobuf: index not in the schema", p, frame(pbID, 2, 100), typeOf[*wrapperspb.StringValue](), []error{serde.ErrUnknownSchema}},
		tc{"protobuf: index not in the schema, interface", p, frame(pbID, 2, 100), typeOf[any](), []error{serde.ErrUnknownSchema}},
		tc{"protobuf: another message", p, pbRec, typeOf[*structpb.Struct](), []error{serde.ErrUnknownType}},
		tc{"protobuf: invalid wire type", p, frame(pbID, 2, 14, 0x0f, 0x01), typeOf[*wrapperspb.StringValue](), nil},
		tc{"protobuf: truncated field", p, frame(pbID, 2, 14, 0x0a, 0x05, 'a'), typeOf[*wrapperspb.StringValue](), nil},
		tc{"protobuf: dynamic message target", p, pbRec, typeOf[*dynamicpb.Message](), nil},
		tc{"protobuf: invalid UTF-8", p, frame(pbID, 2, 14, 0x0a, 0x02, 0xc3, 0x28), typeOf[proto.Message](), nil},

		tc{"json: empty payload", j, frame(jsID), typeOf[jsonOrder](), nil},
		tc{"json: invalid JSON", j, frame(jsID, '{'), typeOf[jsonOrder](), nil},
		tc{"json: trailing data", j, frame(jsID, []byte(`{"id":"o"}x`)...), typeOf[jsonOrder](), nil},
		tc{"json: wrong type", j, frame(jsID, []byte(`{"id":1}`)...), typeOf[jsonOrder](), []error{serde.ErrSchemaValidation}},
		tc{"json: fails the schema", j, frame(jsID, []byte(`{"qty":-1}`)...), typeOf[jsonOrder](), []error{serde.ErrSchemaValidation}},
		tc{"json: fails the schema, generic", j, frame(jsID, []byte(`{"qty":-1}`)...), typeOf[any](), []error{serde.ErrSchemaValidation}},
	)
	hs := []kgo.RecordHeader{{Key: "k", Value: []byte("v")}}
	for _, c := range cases {
		_, err := c.d.Deserialize("poison", hs, c.data, c.target)
		wantDeserErr(t, c.name, err, c.why...)
		var de *serde.DeserializationError
		if errors.As(err, &de) && (!bytes.Equal(de.Data, c.data) || de.Target != c.target || de.Topic != "poison" || len(de.Headers) != 1) {
			t.Errorf("%s: error fields %+v", c.name, de)
		}
		if id, ok := c.d.(serde.IntoDeserializer); ok {
			err := id.DeserializeInto("poison", hs, c.data, reflect.New(c.target).Interface())
			wantDeserErr(t, c.name+" (DeserializeInto)", err, c.why...)
		}
		if testing.Verbose() && err != nil {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

// TestSRPoisonPillToDeadLetterTopic: a consumer reading a topic with a
// poison pill among good records gets a DeserializationError for it
// carrying partition and offset (what the container's dead-letter
// recoverer publishes), and decodes the records around it.
func TestSRPoisonPillToDeadLetterTopic(t *testing.T) {
	c, cl, _ := registry(t, embeddedbroker.Topics(1, "poison-topic"))
	codec, err := serde.SRAvroFor[avroOrder](cl, orderSchemaV1)
	if err != nil {
		t.Fatal(err)
	}
	kcl := kafkaClient(t, c, "poison-topic")
	good, err := codec.Encode("poison-topic", nil, avroOrder{ID: "good", Tags: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]byte{good, frame(4242, 2, 'x'), []byte("not framed"), good} {
		if err := kcl.ProduceSync(ctx(t), &kgo.Record{Topic: "poison-topic", Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	recs := consume(t, kcl, 4)
	for i, r := range recs {
		o, err := codec.DecodeRecord(r)
		switch i {
		case 0, 3:
			if err != nil || o.ID != "good" {
				t.Fatalf("record %d: %v %v", i, o, err)
			}
		case 1, 2:
			var de *serde.DeserializationError
			if !errors.As(err, &de) || de.Offset != r.Offset || de.Partition != r.Partition {
				t.Fatalf("record %d: %v", i, err)
			}
			want := serde.ErrUnknownSchema
			if i == 2 {
				want = serde.ErrBadFrame
			}
			if !errors.Is(err, want) {
				t.Fatalf("record %d: %v, want %v", i, err, want)
			}
		}
	}
}

// TestSRGarbage feeds the garbage corpus, bare and behind valid and
// unknown schema ids, to the registry deserializers with every target:
// nothing panics, and every failure is a DeserializationError.
func TestSRGarbage(t *testing.T) {
	_, cl, _ := registry(t)
	a := newAvro(t, cl)
	p := serde.NewSRProtobuf(cl)
	j := serde.NewSRJSONSchema(cl, serde.ValidateJSONSchema(true, true))
	if err := j.Register(jsonOrder{}, jsonOrderSchema); err != nil {
		t.Fatal(err)
	}
	avroRec, _ := a.Serialize("g", nil, avroOrder{ID: "o", Tags: []string{}})
	pbRec, _ := p.Serialize("g-pb", nil, wrapperspb.String("x"))
	jsRec, _ := j.Serialize("g-js", nil, jsonOrder{ID: "o"})
	ids := []int{frameID(t, avroRec), frameID(t, pbRec), frameID(t, jsRec), 777}
	var inputs [][]byte
	for _, g := range garbage {
		inputs = append(inputs, g)
		for _, id := range ids {
			inputs = append(inputs, frame(id, g...), frame(id, append([]byte{0}, g...)...), frame(id, append([]byte{2, 14}, g...)...))
		}
	}
	n := 0
	for name, d := range map[string]serde.Deserializer{"avro": a, "protobuf": p, "json": j} {
		for _, data := range inputs {
			for _, target := range garbageTargets {
				n++
				v, err := d.Deserialize("t", nil, data, target)
				if err == nil {
					if target != nil && v != nil && target.Kind() != reflect.Interface && reflect.TypeOf(v) != target {
						t.Errorf("%s: %s: result type %T", name, target, v)
					}
					continue
				}
				var de *serde.DeserializationError
				if !errors.As(err, &de) {
					t.Errorf("%s: %s: %x: not a DeserializationError: %v", name, target, data, err)
				}
				if id, ok := d.(serde.IntoDeserializer); ok && target != nil {
					_ = id.DeserializeInto("t", nil, data, reflect.New(target).Interface())
				}
			}
		}
	}
	t.Logf("%d inputs x targets", n)
}

// TestSRDeserializeIntoMatchesDeserialize: for the registry serdes that
// implement IntoDeserializer, DeserializeInto produces what Deserialize
// produces.
func TestSRDeserializeIntoMatchesDeserialize(t *testing.T) {
	_, cl, _ := registry(t)
	a := newAvro(t, cl)
	j := serde.NewSRJSONSchema(cl)
	if err := j.Register(jsonOrder{}, jsonOrderSchema); err != nil {
		t.Fatal(err)
	}
	avroRec, _ := a.Serialize("i", nil, avroOrder{ID: "o", Tags: []string{"t"}, Note: ptr("n")})
	jsRec, _ := j.Serialize("i-js", nil, jsonOrder{ID: "o", Qty: 3})
	inputs := [][]byte{nil, avroRec, jsRec, avroRec[:len(avroRec)-1], frame(5555, 1, 2)}
	targets := []reflect.Type{typeOf[avroOrder](), typeOf[*avroOrder](), typeOf[jsonOrder](), typeOf[*jsonOrder](), typeOf[any](),
		typeOf[map[string]any](), typeOf[shopEvent](), typeOf[int](), typeOf[string]()}
	for name, d := range map[string]serde.IntoDeserializer{"avro": a, "json": j} {
		for _, data := range inputs {
			for _, target := range targets {
				want, werr := d.Deserialize("t", nil, data, target)
				ptr := reflect.New(target)
				gerr := d.DeserializeInto("t", nil, data, ptr.Interface())
				if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
					t.Errorf("%s %s %x: errors %v / %v", name, target, data, werr, gerr)
					continue
				}
				if werr == nil && !reflect.DeepEqual(serde.ReflectValue(want, target).Interface(), ptr.Elem().Interface()) {
					t.Errorf("%s %s %x: %#v / %#v", name, target, data, want, ptr.Elem().Interface())
				}
			}
		}
	}
}

// TestSRPoisonPillContainerDLT: a listener container with the Avro
// registry deserializer handles the good records and publishes the
// poison pills (unknown schema id, bad magic byte, truncated payload) to
// <topic>.DLT at once, with the reason in the kafka_dlt-* headers.
func TestSRPoisonPillContainerDLT(t *testing.T) {
	c, cl, _ := registry(t, embeddedbroker.Topics(1, "sr-dlt", "sr-dlt.DLT"))
	a := newAvro(t, cl)
	pub, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ProducerLinger(0),
		kgo.RecordPartitioner(container.DeadLetterPartitioner(kgo.ManualPartitioner())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	var (
		mu  sync.Mutex
		got []string
	)
	ep := &listener.Endpoint{ID: "sr-dlt", Topics: []string{"sr-dlt"}, Group: "sr-dlt", Handler: func(_ context.Context, o avroOrder) error {
		mu.Lock()
		got = append(got, o.ID)
		mu.Unlock()
		return nil
	}}
	ct, err := container.New(ep,
		container.WithClientOpts(kgo.SeedBrokers(c.Addrs()...), kgo.FetchMaxWait(50*time.Millisecond), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
		container.WithDeserializer(a), container.WithPublisher(pub), container.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		container.WithErrorHandler(&container.ErrorHandler{BackOff: container.FixedBackOff{Interval: time.Hour, MaxRetries: container.Unlimited}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := ct.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ct.Stop(ctx(t)) })

	good := func(id string) []byte {
		b, err := a.Serialize("sr-dlt", nil, avroOrder{ID: id, Tags: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	g1 := good("g1")
	for _, v := range [][]byte{g1, frame(31337, 2, 'x', 0, 0, 0), append([]byte{9}, g1[1:]...), g1[:len(g1)-1], good("g2")} {
		if err := pub.ProduceSync(ctx(t), &kgo.Record{Topic: "sr-dlt", Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	dead := consume(t, kafkaClient(t, c, "sr-dlt.DLT"), 3)
	for i, want := range []string{"unknown schema", "not in the schema registry wire format", "truncated payload"} {
		info, ok := container.ParseDeadLetter(dead[i])
		if !ok || info.OriginalTopic != "sr-dlt" || info.OriginalOffset != int64(i+1) || !strings.Contains(info.ExceptionMessage, want) {
			t.Errorf("dead letter %d: %+v, want a message with %q", i, info, want)
		}
		t.Logf("dead letter %d: %s: %s", i, info.ExceptionType, info.ExceptionMessage)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, []string{"g1", "g2"}) {
		t.Fatalf("handled %v", got)
	}
}

// TestSRRegistryDownWaits: a record whose schema the listener cannot
// fetch because the registry is down is not a poison pill: it waits,
// undead-lettered, and is handled once the registry answers again.
func TestSRRegistryDownWaits(t *testing.T) {
	c, cl, _ := registry(t, embeddedbroker.Topics(1, "sr-down", "sr-down.DLT"))
	producer := newAvro(t, cl)
	var down atomic.Bool
	down.Store(true)
	target, _ := url.Parse(c.SchemaRegistryURL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	consumerCl, err := sr.NewClient(sr.URLs(front.URL))
	if err != nil {
		t.Fatal(err)
	}
	consumer := serde.NewSRAvro(consumerCl)
	pub, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	handled := make(chan string, 1)
	ep := &listener.Endpoint{ID: "sr-down", Topics: []string{"sr-down"}, Group: "sr-down", Handler: func(_ context.Context, o avroOrder) error {
		handled <- o.ID
		return nil
	}}
	ct, err := container.New(ep,
		container.WithClientOpts(kgo.SeedBrokers(c.Addrs()...), kgo.FetchMaxWait(50*time.Millisecond), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
		container.WithDeserializer(consumer), container.WithPublisher(pub), container.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		container.WithErrorHandler(&container.ErrorHandler{BackOff: container.FixedBackOff{MaxRetries: 0}, RecoveryRetryInterval: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	if err := ct.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ct.Stop(ctx(t)) })
	b, err := producer.Serialize("sr-down", nil, avroOrder{ID: "waits", Tags: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.ProduceSync(ctx(t), &kgo.Record{Topic: "sr-down", Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-handled:
		t.Fatalf("%s handled while the registry was down", id)
	case <-time.After(500 * time.Millisecond): // ten retries' worth: the record must still be waiting
	}
	down.Store(false)
	select {
	case id := <-handled:
		if id != "waits" {
			t.Fatalf("handled %q", id)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("not handled after the registry came back")
	}
	if ends, err := kadm.NewClient(pub).ListEndOffsets(ctx(t), "sr-down.DLT"); err != nil || ends["sr-down.DLT"][0].Offset != 0 {
		t.Fatalf("the dead-letter topic got something: %v %v", ends, err)
	}
}
