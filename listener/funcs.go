package listener

import (
	"context"
	"reflect"
)

// Typed is the handler form func(ctx, T) error as a named type, so that
// the invoker can call it without reflection. Use it as the field type of
// a tagged listener, or convert a func to it for Endpoint.Handler; a func
// literal of the matching signature is assignable to it:
//
//	type Listeners struct {
//		Created listener.Typed[Order] `kafka:"topics=orders,group=billing"`
//	}
//	l := &Listeners{Created: func(ctx context.Context, o Order) error { ... }}
//
// A Typed handler behaves exactly like the plain func of the same
// signature (deserialization, validation, errors, ack modes; it cannot
// take an Acknowledgment or return a reply): the only difference is the
// call, which for a plain func goes through reflect.Value.Call (a few
// hundred nanoseconds and three allocations per record) and for a Typed
// handler is a direct call with the payload decoded in place. For
// T = *listener.Record[X] or with batch=true the invoker uses its regular,
// reflective path.
type Typed[T any] func(ctx context.Context, value T) error

// directInvoker is implemented by Typed.
type directInvoker interface {
	invokeDirect(ctx context.Context, v reflect.Value) error
}

// invokeDirect calls f with the payload v (a T, or a value assignable to
// T).
func (f Typed[T]) invokeDirect(ctx context.Context, v reflect.Value) error {
	if v.CanAddr() {
		// Decoded in place: v is the T the deserializer wrote.
		if p, ok := v.Addr().Interface().(*T); ok {
			return f(ctx, *p)
		}
	}
	var t T
	if v.IsValid() {
		reflect.ValueOf(&t).Elem().Set(v)
	}
	return f(ctx, t)
}
