package listener_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/serde"
	"github.com/twmb/franz-go/pkg/kgo"
)

type Order struct {
	ID     string `json:"id" validate:"required"`
	Amount int    `json:"amount" validate:"gte=0"`
}

type Reply struct {
	OK bool `json:"ok"`
}

type plain struct{ N int }

func h(context.Context, Order) error { return nil }

func TestRegisterTagErrors(t *testing.T) {
	type Orders struct {
		Created func(context.Context, Order) error `kafka:"topics=orders,grp=x"`
	}
	_, err := listener.NewRegistry().Register(&Orders{Created: h})
	want := `listener: listener_test.Orders.Created: tag "topics=orders,grp=x": unknown attribute "grp"`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant  %s", err, want)
	}
	if !errors.Is(err, listener.ErrInvalidListener) {
		t.Fatal("not ErrInvalidListener")
	}
	var de *listener.DefinitionError
	if !errors.As(err, &de) || de.Source != "listener_test.Orders.Created" || de.Tag != "topics=orders,grp=x" {
		t.Fatalf("DefinitionError = %+v", de)
	}
}

type (
	NilField struct {
		F func(context.Context, Order) error `kafka:"topics=a"`
	}
	NotFunc struct {
		F string `kafka:"topics=a"`
	}
	Unexported struct {
		f func(context.Context, Order) error `kafka:"topics=a"`
	}
	NoTopics struct {
		F func(context.Context, Order) error `kafka:"group=g"`
	}
	TwoSources struct {
		F func(context.Context, Order) error `kafka:"topics=a,pattern=b.*"`
	}
	BadPattern struct {
		F func(context.Context, Order) error `kafka:"pattern=a(("`
	}
	BadTopic struct {
		F func(context.Context, Order) error `kafka:"topics=a b"`
	}
	Placeholder struct {
		F func(context.Context, Order) error `kafka:"topics=${app.nope}"`
	}
	DupID struct {
		A func(context.Context, Order) error `kafka:"topics=a,id=x"`
		B func(context.Context, Order) error `kafka:"topics=b,id=x"`
	}
	ManualNoAck struct {
		F func(context.Context, Order) error `kafka:"topics=a,ack=manual"`
	}
	AckNoManual struct {
		F func(context.Context, Order, listener.Acknowledgment) error `kafka:"topics=a,ack=batch"`
	}
	NoCtx struct {
		F func(Order) error `kafka:"topics=a"`
	}
	NoErr struct {
		F func(context.Context, Order) `kafka:"topics=a"`
	}
	RecordByValue struct {
		F func(context.Context, listener.Record[Order]) error `kafka:"topics=a"`
	}
	SliceNoBatch struct {
		F func(context.Context, []Order, int) error `kafka:"topics=a"`
	}
	BatchNotSlice struct {
		F func(context.Context, Order) error `kafka:"topics=a,batch"`
	}
	BatchReply struct {
		F func(context.Context, []Order) (Reply, error) `kafka:"topics=a,batch"`
	}
	SendToNoReply struct {
		F func(context.Context, Order) error `kafka:"topics=a,sendto=r"`
	}
	UnknownEH struct {
		F func(context.Context, Order) error `kafka:"topics=a,errorhandler=nope"`
	}
	NoTags struct {
		F func(context.Context, Order) error
	}
)

func TestRegisterErrors(t *testing.T) {
	tests := []struct {
		target any
		want   string
	}{
		{&NilField{}, `listener: listener_test.NilField.F: tag "topics=a": nil func field`},
		{&NotFunc{F: "x"}, `listener: listener_test.NotFunc.F: tag "topics=a": field type string is not a func`},
		{&Unexported{f: h}, `listener: listener_test.Unexported.f: tag "topics=a": field is unexported`},
		{&NoTopics{F: h}, `listener: listener_test.NoTopics.F: tag "group=g": missing topics`},
		{&TwoSources{F: h}, `mutually exclusive`},
		{&BadPattern{F: h}, `invalid pattern`},
		{&BadTopic{F: h}, `invalid topic name "a b"`},
		{&Placeholder{F: h}, `listener: listener_test.Placeholder.F: tag "topics=${app.nope}": attribute "topics": unresolvable placeholder: ${app.nope}`},
		{&DupID{A: h, B: h}, `listener: listener_test.DupID.B: tag "topics=b,id=x": duplicate listener id "x" (already used by listener_test.DupID.A)`},
		{&ManualNoAck{F: h}, `ack=manual requires a trailing listener.Acknowledgment parameter`},
		{&AckNoManual{F: func(context.Context, Order, listener.Acknowledgment) error { return nil }}, `takes a listener.Acknowledgment but ack is batch`},
		{&NoCtx{F: func(Order) error { return nil }}, `first parameter must be context.Context`},
		{&NoErr{F: func(context.Context, Order) {}}, `must return error or (R, error)`},
		{&RecordByValue{F: func(context.Context, listener.Record[Order]) error { return nil }}, `take the record by pointer`},
		{&SliceNoBatch{F: func(context.Context, []Order, int) error { return nil }}, `slice payloads of several records need batch=true`},
		{&BatchNotSlice{F: h}, `batch handler func(context.Context, listener_test.Order) error must take a slice`},
		{&BatchReply{F: func(context.Context, []Order) (Reply, error) { return Reply{}, nil }}, `cannot return a reply`},
		{&SendToNoReply{F: h}, `sendto=r needs a handler returning (R, error)`},
		{&UnknownEH{F: h}, `unknown error handler "nope"`},
		{&NoTags{F: h}, `listener: listener_test.NoTags: no func fields tagged`},
		{42, `target must be a struct`},
	}
	for _, tt := range tests {
		t.Run(reflect.TypeOf(tt.target).String(), func(t *testing.T) {
			reg := listener.NewRegistry(listener.WithErrorHandlerNames(func(n string) bool { return n == "known" }))
			eps, err := reg.Register(tt.target)
			if err == nil {
				t.Fatalf("no error, endpoints %v", eps)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant containing %s", err, tt.want)
			}
			if !errors.Is(err, listener.ErrInvalidListener) {
				t.Fatalf("%v is not ErrInvalidListener", err)
			}
			if len(reg.Endpoints()) != 0 {
				t.Fatal("failed registration left endpoints behind")
			}
		})
	}
}

func TestRegisterAcrossCalls(t *testing.T) {
	type A struct {
		F func(context.Context, Order) error `kafka:"topics=a,id=same"`
	}
	reg := listener.NewRegistry()
	if _, err := reg.Register(&A{F: h}); err != nil {
		t.Fatal(err)
	}
	_, err := reg.Register(&A{F: h})
	if !errors.Is(err, listener.ErrInvalidListener) || !strings.Contains(err.Error(), `duplicate listener id "same"`) {
		t.Fatalf("err = %v", err)
	}
	err = reg.Add([]*listener.Endpoint{{ID: "same", Topics: []string{"b"}, Handler: h}})
	if !errors.Is(err, listener.ErrInvalidListener) || !strings.Contains(err.Error(), `listener: endpoint "same": duplicate listener id`) {
		t.Fatalf("err = %v", err)
	}
	if n := len(reg.Endpoints()); n != 1 {
		t.Fatalf("%d endpoints", n)
	}
}

func TestRegisterDefaults(t *testing.T) {
	type Orders struct {
		Created func(context.Context, Order) error                                            `kafka:"topics=orders,group=billing,concurrency=3"`
		Batch   func(context.Context, []Order) error                                          `kafka:"topics=${app.topics.payments},group=billing,batch=true"`
		Audit   func(context.Context, *listener.Record[plain], listener.Acknowledgment) error `kafka:"topics=audit,group=audit,ack=manual,id=audit"`
		Price   func(context.Context, Order) (*Reply, error)                                  `kafka:"topics=quotes,sendto=prices"`
	}
	reg := listener.NewRegistry(listener.WithResolver(listener.MapResolver(map[string]string{"app.topics.payments": "payments"})))
	eps, err := reg.Register(&Orders{
		Created: h,
		Batch:   func(context.Context, []Order) error { return nil },
		Audit:   func(context.Context, *listener.Record[plain], listener.Acknowledgment) error { return nil },
		Price:   func(context.Context, Order) (*Reply, error) { return nil, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 4 {
		t.Fatalf("%d endpoints", len(eps))
	}
	c := eps[0]
	if c.ID != "listener_test.Orders.Created" || c.Source() != c.ID || c.EffectiveConcurrency() != 3 || !c.Started() {
		t.Fatalf("created = %+v", c)
	}
	if inv := c.Invoker(); inv == nil || inv.Batch() || !inv.Validates() || inv.PayloadType() != reflect.TypeFor[Order]() {
		t.Fatalf("invoker = %+v", inv)
	}
	if b := eps[1]; !b.Invoker().Batch() || b.Topics[0] != "payments" {
		t.Fatalf("batch = %+v", b)
	}
	if a := eps[2]; a.ID != "audit" || !a.Invoker().Acknowledges() || a.Invoker().Validates() || reg.Endpoint("audit") != a {
		t.Fatalf("audit = %+v", a)
	}
	if p := eps[3]; !p.Invoker().Replies() {
		t.Fatalf("price = %+v", p)
	}
}

func TestProgrammaticEndpoint(t *testing.T) {
	ep := &listener.Endpoint{
		ID:         "prog-${env:dev}",
		Topics:     []string{"${list}", "z"},
		Properties: map[string]string{"fetch.max.wait.ms": "${wait:50}"},
		Validate:   listener.Off,
		Handler:    h,
	}
	err := listener.NewRegistry(listener.WithResolver(listener.MapResolver(map[string]string{"list": "x;y"}))).Add([]*listener.Endpoint{ep})
	if err != nil {
		t.Fatal(err)
	}
	if ep.ID != "prog-dev" || !reflect.DeepEqual(ep.Topics, []string{"x", "y", "z"}) || ep.Properties["fetch.max.wait.ms"] != "50" {
		t.Fatalf("ep = %+v", ep)
	}
	if ep.Invoker().Validates() {
		t.Fatal("validate=off ignored")
	}
	bad := &listener.Endpoint{Topics: []string{"a"}, Handler: h}
	if err := bad.Compile(); err == nil || err.Error() != `listener: endpoint "": missing id` {
		t.Fatalf("err = %v", err)
	}
}

// jsonDeser is a minimal deserializer for tests.
type jsonDeser struct{}

func (jsonDeser) Deserialize(_ string, _ []kgo.RecordHeader, data []byte, t reflect.Type) (any, error) {
	switch t {
	case reflect.TypeFor[[]byte]():
		return data, nil
	case reflect.TypeFor[string]():
		return string(data), nil
	}
	if t.Kind() == reflect.Interface {
		var m map[string]any
		err := json.Unmarshal(data, &m)
		return m, err
	}
	p := reflect.New(t)
	if err := json.Unmarshal(data, p.Interface()); err != nil {
		return nil, err
	}
	return p.Interface(), nil
}

type ackRec struct{ acked, nacked int }

func (a *ackRec) Acknowledge()       { a.acked++ }
func (a *ackRec) Nack(time.Duration) { a.nacked++ }
func rec(v string, off int64) *kgo.Record {
	return &kgo.Record{Topic: "t", Partition: 2, Offset: off, Key: []byte("k"), Value: []byte(v),
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}, Timestamp: time.Unix(10, 0), LeaderEpoch: 3}
}

func compile(t *testing.T, ep *listener.Endpoint) *listener.Invoker {
	t.Helper()
	if ep.ID == "" {
		ep.ID = "x"
	}
	if len(ep.Topics) == 0 {
		ep.Topics = []string{"t"}
	}
	if err := ep.Compile(); err != nil {
		t.Fatal(err)
	}
	return ep.Invoker()
}

// TestInvokerForms runs every handler form through a plain deserializer
// (Deserialize) and through serde's Auto (decoded in place).
func TestInvokerForms(t *testing.T) {
	for _, dc := range []struct {
		name  string
		deser listener.Deserializer
	}{{"deserialize", jsonDeser{}}, {"in place", serde.NewAuto()}} {
		t.Run(dc.name, func(t *testing.T) { testInvokerForms(t, dc.deser) })
	}
}

func testInvokerForms(t *testing.T, deser listener.Deserializer) {
	ctx := context.Background()
	const js = `{"id":"o1","amount":5}`
	want := Order{ID: "o1", Amount: 5}
	var got []any
	check := func(t *testing.T, want ...any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %#v\nwant %#v", got, want)
		}
		got = nil
	}
	invoke := func(t *testing.T, inv *listener.Invoker, r *kgo.Record, ack listener.Acknowledgment) any {
		t.Helper()
		p, err := inv.Decode(deser, r)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := inv.Invoke(ctx, r, p, ack)
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}

	t.Run("value", func(t *testing.T) {
		inv := compile(t, &listener.Endpoint{Handler: func(_ context.Context, o Order) error { got = append(got, o); return nil }})
		invoke(t, inv, rec(js, 1), nil)
		check(t, want)
	})
	t.Run("pointer", func(t *testing.T) {
		inv := compile(t, &listener.Endpoint{Handler: func(_ context.Context, o *Order) error { got = append(got, *o); return nil }})
		invoke(t, inv, rec(js, 1), nil)
		check(t, want)
	})
	t.Run("string and bytes", func(t *testing.T) {
		inv := compile(t, &listener.Endpoint{Handler: func(_ context.Context, s string) error { got = append(got, s); return nil }})
		invoke(t, inv, rec("hi", 1), nil)
		inv = compile(t, &listener.Endpoint{Handler: func(_ context.Context, b []byte) error { got = append(got, string(b)); return nil }})
		invoke(t, inv, rec("yo", 1), nil)
		check(t, "hi", "yo")
	})
	t.Run("interface", func(t *testing.T) {
		inv := compile(t, &listener.Endpoint{Handler: func(_ context.Context, v any) error { got = append(got, v); return nil }})
		invoke(t, inv, rec(`{"a":1}`, 1), nil)
		check(t, map[string]any{"a": 1.0})
	})
	t.Run("metadata", func(t *testing.T) {
		inv := compile(t, &listener.Endpoint{Handler: func(_ context.Context, o Order, m listener.Metadata) error {
			got = append(got, o, m.Topic, m.Partition, m.Offset, string(m.Key), m.LeaderEpoch, m.Timestamp.Unix())
			if v, _ := m.Header("h"); string(v) != "v" {
				t.Error("header")
			}
			return nil
		}})
		invoke(t, inv, rec(js, 7), nil)
		check(t, want, "t", int32(2), int64(7), "k", int32(3), int64(10))
	})
	t.Run("record", func(t *testing.T) {
		inv := compile(t, &listener.Endpoint{Handler: func(_ context.Context, r *listener.Record[Order]) error {
			got = append(got, r.Value, r.Topic, r.Partition, r.Offset, string(r.Key))
			return nil
		}})
		invoke(t, inv, rec(js, 8), nil)
		check(t, want, "t", int32(2), int64(8), "k")
	})
	t.Run("ack", func(t *testing.T) {
		inv := compile(t, &listener.Endpoint{AckMode: listener.AckManual, Handler: func(_ context.Context, o Order, a listener.Acknowledgment) error {
			a.Acknowledge()
			return nil
		}})
		a := &ackRec{}
		invoke(t, inv, rec(js, 1), a)
		if a.acked != 1 {
			t.Fatal("not acked")
		}
	})
	t.Run("reply", func(t *testing.T) {
		inv := compile(t, &listener.Endpoint{SendTo: "r", Handler: func(_ context.Context, o Order) (Reply, error) { return Reply{OK: o.ID == "o1"}, nil }})
		if r := invoke(t, inv, rec(js, 1), nil); r != (Reply{OK: true}) {
			t.Fatalf("reply %v", r)
		}
		inv = compile(t, &listener.Endpoint{Handler: func(_ context.Context, o Order) (*Reply, error) { return nil, nil }})
		if r := invoke(t, inv, rec(js, 1), nil); r != nil {
			t.Fatalf("nil pointer reply = %#v", r)
		}
	})
	t.Run("batch values", func(t *testing.T) {
		inv := compile(t, &listener.Endpoint{Batch: true, Handler: func(_ context.Context, os []Order) error { got = append(got, os); return nil }})
		rs := []*kgo.Record{rec(js, 1), rec(`{"id":"o2"}`, 2)}
		ps := decodeAll(t, inv, deser, rs)
		if err := inv.InvokeBatch(ctx, rs, ps, nil); err != nil {
			t.Fatal(err)
		}
		check(t, []Order{want, {ID: "o2"}})
	})
	t.Run("batch records", func(t *testing.T) {
		inv := compile(t, &listener.Endpoint{Batch: true, AckMode: listener.AckManualImmediate,
			Handler: func(_ context.Context, rs []*listener.Record[Order], a listener.Acknowledgment) error {
				for _, r := range rs {
					got = append(got, r.Value.ID, r.Offset)
				}
				a.Acknowledge()
				return nil
			}})
		rs := []*kgo.Record{rec(js, 1), rec(`{"id":"o2"}`, 2)}
		a := &ackRec{}
		if err := inv.InvokeBatch(ctx, rs, decodeAll(t, inv, deser, rs), a); err != nil {
			t.Fatal(err)
		}
		check(t, "o1", int64(1), "o2", int64(2))
		if a.acked != 1 {
			t.Fatal("not acked")
		}
	})
	t.Run("typed", func(t *testing.T) {
		inv := compile(t, &listener.Endpoint{Handler: listener.Func[Order](func(_ context.Context, o Order) error { got = append(got, o); return nil })})
		invoke(t, inv, rec(js, 1), nil)
		inv = compile(t, &listener.Endpoint{Handler: listener.Func[*Order](func(_ context.Context, o *Order) error { got = append(got, o); return nil })})
		invoke(t, inv, rec(js, 1), nil)
		check(t, want, &want)
	})
	t.Run("map", func(t *testing.T) {
		inv := compile(t, &listener.Endpoint{Handler: func(_ context.Context, m map[string]any) error { got = append(got, m); return nil }})
		invoke(t, inv, rec(`{"a":1}`, 1), nil)
		check(t, map[string]any{"a": 1.0})
	})
	t.Run("record twice", func(t *testing.T) {
		// Each Decode builds its own Record.
		var recs []*listener.Record[Order]
		inv := compile(t, &listener.Endpoint{Handler: func(_ context.Context, r *listener.Record[Order]) error { recs = append(recs, r); return nil }})
		invoke(t, inv, rec(js, 1), nil)
		invoke(t, inv, rec(`{"id":"o2"}`, 2), nil)
		if len(recs) != 2 || recs[0] == recs[1] || recs[0].Value != want || recs[1].Value.ID != "o2" || recs[1].Offset != 2 {
			t.Fatalf("records %+v %+v", recs[0], recs[1])
		}
	})
}

func decodeAll(t *testing.T, inv *listener.Invoker, d listener.Deserializer, rs []*kgo.Record) []listener.Payload {
	var ps []listener.Payload
	for _, r := range rs {
		p, err := inv.Decode(d, r)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func TestInvokerErrors(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	inv := compile(t, &listener.Endpoint{Handler: func(_ context.Context, o Order) error {
		if o.ID == "panic" {
			panic("kaboom")
		}
		return boom
	}})
	// validation failure
	_, err := inv.Decode(jsonDeser{}, rec(`{"amount":1}`, 1))
	var ve *listener.ValidationError
	if !errors.As(err, &ve) || ve.Offset != 1 {
		t.Fatalf("validation err = %v", err)
	}
	// poison pill
	_, err = inv.Decode(jsonDeser{}, rec(`{not json`, 2))
	var de *listener.DecodeError
	if !errors.As(err, &de) || de.Target != reflect.TypeFor[Order]() {
		t.Fatalf("decode err = %v", err)
	}
	// handler error
	p, err := inv.Decode(jsonDeser{}, rec(`{"id":"x"}`, 3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Invoke(ctx, rec("", 3), p, nil); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	// panic
	p, _ = inv.Decode(jsonDeser{}, rec(`{"id":"panic"}`, 4))
	_, err = inv.Invoke(ctx, rec("", 4), p, nil)
	var pe *listener.PanicError
	if !errors.As(err, &pe) || pe.Value != "kaboom" || !strings.Contains(string(pe.Stack), "TestInvokerErrors") {
		t.Fatalf("panic err = %v", err)
	}
	// validate=off skips validation
	inv = compile(t, &listener.Endpoint{Validate: listener.Off, Handler: h})
	if _, err := inv.Decode(jsonDeser{}, rec(`{}`, 1)); err != nil {
		t.Fatal(err)
	}
}

// TestFunc covers Func handlers: tagged fields of type Func, tombstones,
// panics, and a deserializer that cannot decode in place.
func TestFunc(t *testing.T) {
	ctx := context.Background()
	var got []any
	type L struct {
		Orders listener.Func[*Order] `kafka:"topics=orders,id=orders"`
		Panics listener.Func[Order]  `kafka:"topics=p,id=panics"`
	}
	l := &L{
		Orders: func(_ context.Context, o *Order) error { got = append(got, o); return nil },
		Panics: func(context.Context, Order) error { panic("typed") },
	}
	eps, err := listener.NewRegistry().Register(l)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*listener.Invoker{}
	for _, ep := range eps {
		byID[ep.ID] = ep.Invoker()
	}
	auto := serde.NewAuto()
	tomb := rec("", 1)
	tomb.Value = nil
	for _, d := range []listener.Deserializer{auto, jsonDeser{}} {
		for _, r := range []*kgo.Record{rec(`{"id":"o1","amount":2}`, 1), tomb} {
			if d == (jsonDeser{}) && r.Value == nil {
				continue // jsonDeser has no tombstones
			}
			p, err := byID["orders"].Decode(d, r)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := byID["orders"].Invoke(ctx, r, p, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []any{&Order{ID: "o1", Amount: 2}, (*Order)(nil), &Order{ID: "o1", Amount: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	p, err := byID["panics"].Decode(auto, rec(`{"id":"x"}`, 1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = byID["panics"].Invoke(ctx, rec("", 1), p, nil)
	var pe *listener.PanicError
	if !errors.As(err, &pe) || pe.Value != "typed" {
		t.Fatalf("panic err = %v", err)
	}
	// Validation applies as for plain funcs.
	if _, err := byID["panics"].Decode(auto, rec(`{"amount":1}`, 1)); !errors.As(err, new(*listener.ValidationError)) {
		t.Fatalf("validation err = %v", err)
	}
}

// TestRecordAndBatchFunc covers RecordFunc and BatchFunc handlers: tagged
// fields, the in-place and the boxed decoding path, tombstones, metadata,
// panics and validation.
func TestRecordAndBatchFunc(t *testing.T) {
	ctx := context.Background()
	var recs []*listener.Record[Order]
	var batches [][]*Order
	type L struct {
		Recs  listener.RecordFunc[Order] `kafka:"topics=r,id=recs"`
		Batch listener.BatchFunc[*Order] `kafka:"topics=b,id=batch,batch"`
		Boom  listener.BatchFunc[Order]  `kafka:"topics=p,id=boom,batch"`
	}
	l := &L{
		Recs:  func(_ context.Context, r *listener.Record[Order]) error { recs = append(recs, r); return nil },
		Batch: func(_ context.Context, os []*Order) error { batches = append(batches, os); return nil },
		Boom:  func(context.Context, []Order) error { panic("batch") },
	}
	eps, err := listener.NewRegistry().Register(l)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*listener.Invoker{}
	for _, ep := range eps {
		byID[ep.ID] = ep.Invoker()
	}
	if !byID["batch"].Batch() || byID["recs"].Batch() {
		t.Fatal("batch flags")
	}
	o1 := rec(`{"id":"o1","amount":2}`, 7)
	tomb := rec("", 8)
	tomb.Value = nil
	for _, d := range []listener.Deserializer{serde.NewAuto(), jsonDeser{}} {
		p, err := byID["recs"].Decode(d, o1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := byID["recs"].Invoke(ctx, o1, p, nil); err != nil {
			t.Fatal(err)
		}
		ps := decodeAll(t, byID["batch"], d, []*kgo.Record{o1, o1})
		if err := byID["batch"].InvokeBatch(ctx, []*kgo.Record{o1, o1}, ps, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A tombstone is the zero value (Auto only: jsonDeser has none); a
	// zero Order fails validation, a nil *Order is not validated.
	auto := serde.NewAuto()
	if _, err := byID["recs"].Decode(auto, tomb); !errors.As(err, new(*listener.ValidationError)) {
		t.Fatalf("tombstone into Order: %v", err)
	}
	ps := decodeAll(t, byID["batch"], auto, []*kgo.Record{tomb})
	if err := byID["batch"].InvokeBatch(ctx, []*kgo.Record{tomb}, ps, nil); err != nil {
		t.Fatal(err)
	}

	want := Order{ID: "o1", Amount: 2}
	if len(recs) != 2 || recs[0] == recs[1] {
		t.Fatalf("records %v", recs)
	}
	for i, r := range recs {
		if r.Value != want || r.Offset != 7 || r.Partition != 2 || string(r.Key) != "k" || r.LeaderEpoch != 3 ||
			!r.Timestamp.Equal(time.Unix(10, 0)) {
			t.Fatalf("record %d = %+v", i, r)
		}
		if v, _ := r.Header("h"); string(v) != "v" {
			t.Fatalf("record %d header %q", i, v)
		}
	}
	wantBatches := [][]*Order{{&want, &want}, {&want, &want}, {nil}}
	if !reflect.DeepEqual(batches, wantBatches) {
		t.Fatalf("batches %v, want %v", batches, wantBatches)
	}
	if batches[0][0] == batches[0][1] {
		t.Fatal("batch elements share one value")
	}

	ps = decodeAll(t, byID["boom"], auto, []*kgo.Record{o1})
	err = byID["boom"].InvokeBatch(ctx, []*kgo.Record{o1}, ps, nil)
	var pe *listener.PanicError
	if !errors.As(err, &pe) || pe.Value != "batch" {
		t.Fatalf("panic err = %v", err)
	}
	if _, err := byID["recs"].Decode(auto, rec(`{"amount":1}`, 1)); !errors.As(err, new(*listener.ValidationError)) {
		t.Fatalf("validation err = %v", err)
	}
}

func BenchmarkInvoke(b *testing.B) {
	ep := &listener.Endpoint{ID: "b", Topics: []string{"t"}, Handler: h}
	if err := ep.Compile(); err != nil {
		b.Fatal(err)
	}
	inv := ep.Invoker()
	r := rec(`{"id":"o1","amount":5}`, 1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, err := inv.Decode(jsonDeser{}, r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := inv.Invoke(ctx, r, p, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAckFuncs: the manual-ack generic forms get the record's value (or
// record, or batch) and the Acknowledgment, called without reflection.
func TestAckFuncs(t *testing.T) {
	ctx := context.Background()
	var got []string
	type L struct {
		One   listener.AckFunc[Order]       `kafka:"topics=a,id=one,ack=manual"`
		Rec   listener.AckRecordFunc[Order] `kafka:"topics=b,id=rec,ack=manual-immediate"`
		Batch listener.AckBatchFunc[Order]  `kafka:"topics=c,id=batch,batch,ack=manual"`
	}
	l := &L{
		One: func(_ context.Context, o Order, a listener.Acknowledgment) error {
			got = append(got, "one:"+o.ID)
			a.Acknowledge()
			return nil
		},
		Rec: func(_ context.Context, r *listener.Record[Order], a listener.Acknowledgment) error {
			got = append(got, fmt.Sprintf("rec:%s@%d", r.Value.ID, r.Offset))
			a.Acknowledge()
			return nil
		},
		Batch: func(_ context.Context, os []Order, a listener.Acknowledgment) error {
			got = append(got, fmt.Sprintf("batch:%d", len(os)))
			a.Nack(time.Millisecond)
			return nil
		},
	}
	eps, err := listener.NewRegistry().Register(l)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*listener.Invoker{}
	for _, ep := range eps {
		byID[ep.ID] = ep.Invoker()
	}
	o1 := rec(`{"id":"o1","amount":2}`, 7)
	d := serde.NewAuto()
	a := &ackRec{}
	for _, id := range []string{"one", "rec"} {
		p, err := byID[id].Decode(d, o1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := byID[id].Invoke(ctx, o1, p, a); err != nil {
			t.Fatal(err)
		}
	}
	ps := decodeAll(t, byID["batch"], d, []*kgo.Record{o1, o1})
	if err := byID["batch"].InvokeBatch(ctx, []*kgo.Record{o1, o1}, ps, a); err != nil {
		t.Fatal(err)
	}
	if want := []string{"one:o1", "rec:o1@7", "batch:2"}; fmt.Sprint(got) != fmt.Sprint(want) || a.acked != 2 || a.nacked != 1 {
		t.Fatalf("calls %v, acks %d, nacks %d; want %v, 2, 1", got, a.acked, a.nacked, want)
	}
	p, _ := byID["one"].Decode(d, o1)
	allocs := testing.AllocsPerRun(100, func() { byID["one"].Invoke(ctx, o1, p, a) })
	if allocs > 1 {
		t.Errorf("an AckFunc call allocates %.0f times, want at most 1 (no reflect.Value.Call)", allocs)
	}
	// A manual-ack form with an automatic ack mode is refused at registration.
	type Bad struct {
		X listener.AckFunc[Order] `kafka:"topics=a,ack=record"`
	}
	if _, err := listener.NewRegistry().Register(&Bad{X: l.One}); err == nil || !strings.Contains(err.Error(), "Acknowledgment") {
		t.Fatalf("AckFunc with ack=record: %v", err)
	}
}
