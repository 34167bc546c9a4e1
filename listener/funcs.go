package listener

import (
	"context"
	"reflect"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Func is the handler form func(ctx, T) error as a named generic type: the
// recommended field type of a tagged listener. A func value or method value
// of the matching signature is assignable to it, so declaring a field as
// Func[T] rather than func(context.Context, T) error changes nothing for
// the code that fills the struct:
//
//	type Listeners struct {
//		Created listener.Func[Order] `kafka:"topics=orders,group=billing"`
//	}
//	l := &Listeners{Created: svc.OnOrder} // func(context.Context, Order) error
//
// The difference is the call. Go cannot call a func whose parameter type is
// known only at run time without reflect.Value.Call, which costs a few
// hundred nanoseconds and three allocations per record (about as much as
// decoding a small JSON value, see BENCHMARKS.md). A Func[T] carries T in
// its type, so the invoker calls it directly, with the payload decoded in
// place. Deserialization, validation, error handling and ack modes are
// exactly those of the plain func.
//
// [RecordFunc] and [BatchFunc] do the same for the whole-record and the
// batch forms, and [AckFunc], [AckRecordFunc] and [AckBatchFunc] for the
// manual-ack forms (ack=manual, ack=manual-immediate). Handlers that take a
// [Metadata], or return a reply, keep the plain func form and its
// reflective call.
type Func[T any] func(ctx context.Context, value T) error

// RecordFunc is the handler form func(ctx, *listener.Record[T]) error as a
// named generic type, called without reflection; see [Func].
type RecordFunc[T any] func(ctx context.Context, r *Record[T]) error

// BatchFunc is the batch handler form func(ctx, []T) error (batch=true) as
// a named generic type: the slice is built without reflection and the
// handler called directly; see [Func].
type BatchFunc[T any] func(ctx context.Context, values []T) error

// AckFunc is the manual-ack handler form func(ctx, T, Acknowledgment)
// error as a named generic type, called without reflection; see [Func].
type AckFunc[T any] func(ctx context.Context, value T, ack Acknowledgment) error

// AckRecordFunc is func(ctx, *listener.Record[T], Acknowledgment) error as
// a named generic type, called without reflection; see [Func].
type AckRecordFunc[T any] func(ctx context.Context, r *Record[T], ack Acknowledgment) error

// AckBatchFunc is the manual-ack batch form func(ctx, []T, Acknowledgment)
// error as a named generic type, called without reflection; see [Func].
type AckBatchFunc[T any] func(ctx context.Context, values []T, ack Acknowledgment) error

// directAckHandler is implemented by AckFunc and AckRecordFunc.
type directAckHandler interface {
	callDirectAck(ctx context.Context, r *kgo.Record, p Payload, ack Acknowledgment) error
}

// directAckBatchHandler is implemented by AckBatchFunc.
type directAckBatchHandler interface {
	callBatchAck(ctx context.Context, ps []Payload, ack Acknowledgment) error
}

func (f AckFunc[T]) callDirectAck(ctx context.Context, r *kgo.Record, p Payload, ack Acknowledgment) error {
	return Func[T](func(ctx context.Context, v T) error { return f(ctx, v, ack) }).callDirect(ctx, r, p)
}

func (f AckRecordFunc[T]) callDirectAck(ctx context.Context, r *kgo.Record, p Payload, ack Acknowledgment) error {
	return RecordFunc[T](func(ctx context.Context, rec *Record[T]) error { return f(ctx, rec, ack) }).callDirect(ctx, r, p)
}

func (f AckBatchFunc[T]) callBatchAck(ctx context.Context, ps []Payload, ack Acknowledgment) error {
	return BatchFunc[T](func(ctx context.Context, vs []T) error { return f(ctx, vs, ack) }).callBatch(ctx, ps)
}

// directHandler is implemented by Func and RecordFunc: a record handler
// the invoker calls without reflection.
type directHandler interface {
	callDirect(ctx context.Context, r *kgo.Record, p Payload) error
}

// directBatchHandler is implemented by BatchFunc.
type directBatchHandler interface {
	callBatch(ctx context.Context, ps []Payload) error
}

func (f Func[T]) callDirect(ctx context.Context, _ *kgo.Record, p Payload) error {
	if p.v.CanAddr() {
		// Decoded in place: no copy through an interface.
		return f(ctx, *p.v.Addr().Interface().(*T))
	}
	return f(ctx, valueOf[T](p.v))
}

func (f RecordFunc[T]) callDirect(ctx context.Context, r *kgo.Record, p Payload) error {
	var rec *Record[T]
	if p.rec.IsValid() {
		rec = p.rec.Interface().(*Record[T]) // decoded in place into Value
	} else {
		rec = &Record[T]{Value: valueOf[T](p.v)}
	}
	rec.fillMeta(r)
	return f(ctx, rec)
}

func (f BatchFunc[T]) callBatch(ctx context.Context, ps []Payload) error {
	vs := make([]T, len(ps))
	for i, p := range ps {
		if p.v.CanAddr() {
			vs[i] = *p.v.Addr().Interface().(*T)
		} else {
			vs[i] = valueOf[T](p.v)
		}
	}
	return f(ctx, vs)
}

// valueOf returns v, a T or a value assignable to T (invalid: the zero T),
// as a T.
func valueOf[T any](v reflect.Value) T {
	var t T
	if v.IsValid() {
		reflect.ValueOf(&t).Elem().Set(v)
	}
	return t
}
