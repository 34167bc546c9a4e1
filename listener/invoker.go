package listener

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/go-playground/validator/v10"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/serde"
)

var (
	ctxType    = reflect.TypeFor[context.Context]()
	errType    = reflect.TypeFor[error]()
	ackType    = reflect.TypeFor[Acknowledgment]()
	metaType   = reflect.TypeFor[Metadata]()
	fillerType = reflect.TypeFor[recordFiller]()
)

type form uint8

const (
	formValue        form = iota // func(ctx, T)
	formValueMeta                // func(ctx, T, Metadata)
	formRecord                   // func(ctx, *Record[T])
	formBatchValues              // func(ctx, []T)
	formBatchRecords             // func(ctx, []*Record[T])
)

// Invoker is a handler compiled once at registration: its signature was
// checked and everything reflection needs per call (parameter kinds,
// payload type, Record[T] type, validator) was computed up front, so a
// delivery costs one Deserialize, optionally one validation, and one
// reflect.Value.Call.
//
// Fast paths: with a deserializer implementing [serde.IntoDeserializer]
// (the serde package's JSON, String, Bytes and Auto do) the payload is
// decoded in place, straight into the handler's argument memory (for
// *Record[T] handlers into the Record), instead of being returned boxed in
// an interface and copied; and [Func], [RecordFunc] and [BatchFunc]
// handlers, and plain handlers of the forms
// func(context.Context, string) error,
// func(context.Context, []byte) error, func(context.Context, any) error and
// func(context.Context, map[string]any) error are called directly, without
// reflect.Value.Call (which costs a few hundred nanoseconds and three
// allocations per call).
//
// Containers use an Invoker in two steps: [Invoker.Decode] for each record
// (deserialization and validation errors surface before the handler runs,
// so they can be dead-lettered without calling it), then [Invoker.Invoke]
// or [Invoker.InvokeBatch]. An Invoker is safe for concurrent use.
type Invoker struct {
	fn        reflect.Value
	form      form
	payload   reflect.Type // T
	recType   reflect.Type // Record[T] for the record forms
	sliceType reflect.Type // parameter type of the batch forms
	hasAck    bool
	hasReply  bool
	validate  func(reflect.Value) error // nil: no validation
	into      bool                      // payload decodable in place (not an interface type)
	// direct calls Func and RecordFunc handlers, and formValue handlers of
	// a common signature, without reflection; nil for the others.
	direct func(ctx context.Context, r *kgo.Record, p Payload) error
	// directBatch calls BatchFunc handlers without reflection.
	directBatch func(ctx context.Context, ps []Payload) error
	// directAck and directAckBatch call the Ack*Func handlers.
	directAck      func(ctx context.Context, r *kgo.Record, p Payload, ack Acknowledgment) error
	directAckBatch func(ctx context.Context, ps []Payload, ack Acknowledgment) error
	// lastCtx caches the reflect.Value of the last context passed to
	// Invoke: a container passes the same context for every record, and
	// converting it costs an allocation. It keeps that context reachable
	// until another one replaces it.
	lastCtx atomic.Pointer[ctxArg]
}

type ctxArg struct {
	ctx context.Context
	v   reflect.Value
}

// ctxValue returns ctx as a reflect.Value of type context.Context.
func (inv *Invoker) ctxValue(ctx context.Context) reflect.Value {
	// Only pointer-typed contexts (all of package context's) are cached:
	// comparing interfaces panics for equal non-comparable dynamic types.
	if c := inv.lastCtx.Load(); c != nil && c.ctx == ctx {
		return c.v
	}
	c := &ctxArg{ctx: ctx}
	c.v = reflect.ValueOf(&c.ctx).Elem()
	if ctx != nil && reflect.TypeOf(ctx).Kind() == reflect.Pointer {
		inv.lastCtx.Store(c)
	}
	return c.v
}

// ackValue returns a as a reflect.Value of type Acknowledgment; a separate
// function so that Invoke's parameter does not escape when unused.
func ackValue(a Acknowledgment) reflect.Value { return reflect.ValueOf(&a).Elem() }

// Payload is a decoded record value, opaque to containers. A Payload of a
// func(ctx, *listener.Record[T]) handler carries the Record it was decoded
// into: pass it to one Invoke call only (decode again for a retry, as
// containers do).
type Payload struct {
	v   reflect.Value
	rec reflect.Value // formRecord, decoded in place: the *Record[T]
}

// Batch reports whether the handler takes a batch.
func (inv *Invoker) Batch() bool { return inv.form == formBatchValues || inv.form == formBatchRecords }

// PayloadType returns T, the type records are deserialized into.
func (inv *Invoker) PayloadType() reflect.Type { return inv.payload }

// Replies reports whether the handler returns a reply value, (R, error).
func (inv *Invoker) Replies() bool { return inv.hasReply }

// Acknowledges reports whether the handler takes an Acknowledgment.
func (inv *Invoker) Acknowledges() bool { return inv.hasAck }

// Validates reports whether payloads are validated.
func (inv *Invoker) Validates() bool { return inv.validate != nil }

const signatureHelp = "want func(context.Context, T) error, func(context.Context, T, listener.Metadata) error, " +
	"func(context.Context, *listener.Record[T]) error, or with batch=true func(context.Context, []T) error / " +
	"func(context.Context, []*listener.Record[T]) error; optionally a trailing listener.Acknowledgment " +
	"parameter, and (R, error) results for replies"

func newInvoker(handler any, batch bool, mode AckMode, validate Toggle, v *validator.Validate) (*Invoker, error) {
	if handler == nil {
		return nil, errors.New("nil handler")
	}
	fv := reflect.ValueOf(handler)
	ft := fv.Type()
	if ft.Kind() != reflect.Func {
		return nil, fmt.Errorf("handler is %v, not a func", ft)
	}
	if fv.IsNil() {
		return nil, errors.New("nil handler func")
	}
	if ft.IsVariadic() {
		return nil, fmt.Errorf("variadic handler %v: %s", ft, signatureHelp)
	}
	if ft.NumIn() < 2 || ft.In(0) != ctxType {
		return nil, fmt.Errorf("handler %v: first parameter must be context.Context followed by the payload: %s", ft, signatureHelp)
	}
	inv := &Invoker{fn: fv}
	params := make([]reflect.Type, 0, ft.NumIn()-1)
	for i := 1; i < ft.NumIn(); i++ {
		params = append(params, ft.In(i))
	}
	if params[len(params)-1] == ackType {
		inv.hasAck = true
		params = params[:len(params)-1]
	}
	for _, p := range params {
		if p == ackType {
			return nil, fmt.Errorf("handler %v: listener.Acknowledgment must be the last parameter", ft)
		}
	}
	switch ft.NumOut() {
	case 1:
		if ft.Out(0) != errType {
			return nil, fmt.Errorf("handler %v must return error or (R, error): %s", ft, signatureHelp)
		}
	case 2:
		if ft.Out(1) != errType {
			return nil, fmt.Errorf("handler %v must return error or (R, error): %s", ft, signatureHelp)
		}
		inv.hasReply = true
	default:
		return nil, fmt.Errorf("handler %v must return error or (R, error): %s", ft, signatureHelp)
	}

	if batch {
		if len(params) != 1 || params[0].Kind() != reflect.Slice {
			return nil, fmt.Errorf("batch handler %v must take a slice ([]T or []*listener.Record[T]) after the context: %s", ft, signatureHelp)
		}
		inv.sliceType = params[0]
		elem := params[0].Elem()
		if rt, ok := recordType(elem); ok {
			inv.form, inv.recType = formBatchRecords, rt
		} else if err := checkRecordByValue(elem); err != nil {
			return nil, err
		} else {
			inv.form, inv.payload = formBatchValues, elem
		}
		if inv.hasReply {
			return nil, fmt.Errorf("batch handler %v cannot return a reply; return only error", ft)
		}
	} else {
		switch {
		case len(params) == 1:
			if rt, ok := recordType(params[0]); ok {
				inv.form, inv.recType = formRecord, rt
			} else if err := checkRecordByValue(params[0]); err != nil {
				return nil, err
			} else {
				inv.form, inv.payload = formValue, params[0]
			}
		case len(params) == 2 && params[1] == metaType:
			if err := checkRecordByValue(params[0]); err != nil {
				return nil, err
			}
			if _, ok := recordType(params[0]); ok {
				return nil, fmt.Errorf("handler %v: *listener.Record[T] already carries the metadata; drop the listener.Metadata parameter", ft)
			}
			inv.form, inv.payload = formValueMeta, params[0]
		default:
			if len(params) > 0 && params[0].Kind() == reflect.Slice && params[0].Elem().Kind() != reflect.Uint8 {
				return nil, fmt.Errorf("handler %v: %s (slice payloads of several records need batch=true)", ft, signatureHelp)
			}
			return nil, fmt.Errorf("handler %v: %s", ft, signatureHelp)
		}
	}
	if inv.recType != nil {
		inv.payload = reflect.New(inv.recType).Interface().(recordFiller).valueType()
	}
	switch inv.payload.Kind() {
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return nil, fmt.Errorf("handler %v: payload type %v cannot be deserialized", ft, inv.payload)
	}
	if inv.payload == ctxType || inv.payload == metaType || inv.payload == ackType {
		return nil, fmt.Errorf("handler %v: %v is not a payload type: %s", ft, inv.payload, signatureHelp)
	}

	if inv.hasAck && !mode.Manual() {
		m := mode.String()
		if m == "" {
			m = "default"
		}
		return nil, fmt.Errorf("handler %v takes a listener.Acknowledgment but ack is %s: use ack=manual or ack=manual-immediate", ft, m)
	}
	if !inv.hasAck && mode.Manual() {
		return nil, fmt.Errorf("ack=%s requires a trailing listener.Acknowledgment parameter in handler %v", mode, ft)
	}
	inv.validate = validatorFor(inv.payload, validate, v)
	inv.into = inv.payload.Kind() != reflect.Interface
	if inv.hasAck && !inv.hasReply {
		switch h := handler.(type) {
		case directAckHandler:
			inv.directAck = h.callDirectAck
		case directAckBatchHandler:
			inv.directAckBatch = h.callBatchAck
		}
	}
	if !inv.hasAck && !inv.hasReply {
		switch h := handler.(type) {
		case directHandler:
			inv.direct = h.callDirect
		case directBatchHandler:
			inv.directBatch = h.callBatch
		default:
			if inv.form == formValue {
				inv.direct = directCall(handler, inv.payload)
			}
		}
	}
	return inv, nil
}

// directCall returns a reflection-free caller for plain func handlers of
// the common formValue signatures, or nil.
func directCall(handler any, t reflect.Type) func(ctx context.Context, r *kgo.Record, p Payload) error {
	switch h := handler.(type) {
	case func(context.Context, string) error:
		return func(ctx context.Context, _ *kgo.Record, p Payload) error { return h(ctx, p.value(t).String()) }
	case func(context.Context, []byte) error:
		return func(ctx context.Context, _ *kgo.Record, p Payload) error { return h(ctx, p.value(t).Bytes()) }
	case func(context.Context, any) error:
		// The value holds the concrete value (or is the zero any).
		return func(ctx context.Context, _ *kgo.Record, p Payload) error { return h(ctx, p.value(t).Interface()) }
	case func(context.Context, map[string]any) error:
		return func(ctx context.Context, _ *kgo.Record, p Payload) error {
			m, _ := p.value(t).Interface().(map[string]any)
			return h(ctx, m)
		}
	}
	return nil
}

// recordType reports whether t is *Record[X] and returns Record[X].
func recordType(t reflect.Type) (reflect.Type, bool) {
	if t.Kind() == reflect.Pointer && t.Implements(fillerType) && t.Elem().Kind() == reflect.Struct {
		return t.Elem(), true
	}
	return nil, false
}

func checkRecordByValue(t reflect.Type) error {
	if t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(fillerType) {
		return fmt.Errorf("parameter %v: take the record by pointer, *%v", t, t)
	}
	return nil
}

// Decode deserializes r's value into the payload type and validates it.
// Deserializer failures are returned as *DecodeError and validation
// failures as *ValidationError; containers treat both as not retryable.
func (inv *Invoker) Decode(d Deserializer, r *kgo.Record) (Payload, error) {
	if inv.into {
		if id, ok := d.(serde.IntoDeserializer); ok {
			return inv.decodeInto(id, r)
		}
	}
	out, err := d.Deserialize(r.Topic, r.Headers, r.Value, inv.payload)
	if err != nil {
		return Payload{}, &DecodeError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Target: inv.payload, Err: err}
	}
	v, err := inv.coerce(out)
	if err != nil {
		return Payload{}, &DecodeError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Target: inv.payload, Err: err}
	}
	return inv.validated(Payload{v: v}, r)
}

// decodeInto is Decode's in-place path: the value is decoded into a new T,
// or for record handlers into the Value field of a new Record[T].
func (inv *Invoker) decodeInto(id serde.IntoDeserializer, r *kgo.Record) (Payload, error) {
	var (
		p   Payload
		ptr reflect.Value
	)
	if inv.form == formRecord {
		p.rec = reflect.New(inv.recType)
		ptr = p.rec.Elem().Field(0).Addr() // Record[T].Value
	} else {
		ptr = reflect.New(inv.payload)
	}
	if err := id.DeserializeInto(r.Topic, r.Headers, r.Value, ptr.Interface()); err != nil {
		return Payload{}, &DecodeError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Target: inv.payload, Err: err}
	}
	p.v = ptr.Elem()
	return inv.validated(p, r)
}

func (inv *Invoker) validated(p Payload, r *kgo.Record) (Payload, error) {
	if inv.validate != nil {
		if err := inv.validate(p.v); err != nil {
			return Payload{}, &ValidationError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Err: err}
		}
	}
	return p, nil
}

// coerce turns a deserializer result into a value assignable to T.
func (inv *Invoker) coerce(out any) (reflect.Value, error) {
	t := inv.payload
	if out == nil {
		return reflect.Zero(t), nil
	}
	rv := reflect.ValueOf(out)
	rt := rv.Type()
	switch {
	case rt.Kind() == reflect.Pointer && rt.Elem() == t:
		if rv.IsNil() {
			return reflect.Zero(t), nil
		}
		return rv.Elem(), nil
	case rt.AssignableTo(t):
		return rv, nil
	case rt.Kind() == t.Kind() && rt.ConvertibleTo(t):
		return rv.Convert(t), nil
	}
	return reflect.Value{}, fmt.Errorf("deserializer returned %v, want %v", rt, t)
}

func (p Payload) value(t reflect.Type) reflect.Value {
	if p.v.IsValid() {
		return p.v
	}
	return reflect.Zero(t)
}

// Invoke calls a record handler. ack is passed to handlers that take an
// Acknowledgment (it may be nil otherwise). A panic in the handler is
// recovered and returned as *PanicError. reply is the handler's first
// result for (R, error) handlers, nil when R is a nil pointer, map, slice or
// interface, and always nil when err is not nil.
func (inv *Invoker) Invoke(ctx context.Context, r *kgo.Record, p Payload, ack Acknowledgment) (reply any, err error) {
	if inv.Batch() {
		return nil, errors.New("listener: Invoke called on a batch handler")
	}
	defer recoverPanic(&err)
	if inv.direct != nil {
		return nil, inv.direct(ctx, r, p)
	}
	if inv.directAck != nil {
		return nil, inv.directAck(ctx, r, p, ack)
	}
	var buf [4]reflect.Value
	args := append(buf[:0], inv.ctxValue(ctx))
	switch inv.form {
	case formValue:
		args = append(args, p.value(inv.payload))
	case formValueMeta:
		args = append(args, p.value(inv.payload), reflect.ValueOf(MetadataOf(r)))
	case formRecord:
		rec := p.rec
		if rec.IsValid() {
			rec.Interface().(recordFiller).fillMeta(r)
		} else {
			rec = reflect.New(inv.recType)
			rec.Interface().(recordFiller).fill(r, p.value(inv.payload))
		}
		args = append(args, rec)
	}
	if inv.hasAck {
		args = append(args, ackValue(ack))
	}
	return inv.results(inv.fn.Call(args))
}

// InvokeBatch calls a batch handler with records rs and their payloads ps
// (same length, same order). Panics are recovered as in Invoke.
func (inv *Invoker) InvokeBatch(ctx context.Context, rs []*kgo.Record, ps []Payload, ack Acknowledgment) (err error) {
	if !inv.Batch() {
		return errors.New("listener: InvokeBatch called on a record handler")
	}
	if len(rs) != len(ps) {
		return fmt.Errorf("listener: InvokeBatch with %d records and %d payloads", len(rs), len(ps))
	}
	defer recoverPanic(&err)
	if inv.directBatch != nil {
		return inv.directBatch(ctx, ps)
	}
	if inv.directAckBatch != nil {
		return inv.directAckBatch(ctx, ps, ack)
	}
	slice := reflect.MakeSlice(inv.sliceType, len(rs), len(rs))
	for i, r := range rs {
		if inv.form == formBatchRecords {
			rec := reflect.New(inv.recType)
			rec.Interface().(recordFiller).fill(r, ps[i].value(inv.payload))
			slice.Index(i).Set(rec)
		} else {
			slice.Index(i).Set(ps[i].value(inv.payload))
		}
	}
	var buf [3]reflect.Value
	args := append(buf[:0], inv.ctxValue(ctx), slice)
	if inv.hasAck {
		args = append(args, ackValue(ack))
	}
	_, err = inv.results(inv.fn.Call(args))
	return err
}

func (inv *Invoker) results(out []reflect.Value) (any, error) {
	if ev := out[len(out)-1]; !ev.IsNil() {
		return nil, ev.Interface().(error)
	}
	if !inv.hasReply {
		return nil, nil
	}
	rv := out[0]
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func, reflect.Chan:
		if rv.IsNil() {
			return nil, nil
		}
	}
	return rv.Interface(), nil
}

func recoverPanic(err *error) {
	if v := recover(); v != nil {
		*err = &PanicError{Value: v, Stack: debug.Stack()}
	}
}

// validatorFor returns the payload validation func, or nil when payloads of
// type t are not validated: validation is on for structs (and pointers to
// structs) with `validate` tags unless toggled Off; interface payloads are
// checked per dynamic type (cached).
func validatorFor(t reflect.Type, tog Toggle, v *validator.Validate) func(reflect.Value) error {
	if tog == Off {
		return nil
	}
	if v == nil {
		switch b := derefType(t); b.Kind() {
		case reflect.Struct, reflect.Interface:
			v = validator.New(validator.WithRequiredStructEnabled())
		}
	}
	base := t
	for base.Kind() == reflect.Pointer {
		base = base.Elem()
	}
	switch base.Kind() {
	case reflect.Struct:
		if tog != On && !hasValidateTags(base, map[reflect.Type]bool{}) {
			return nil
		}
		return func(rv reflect.Value) error { return validateValue(v, rv) }
	case reflect.Interface:
		var cache sync.Map // reflect.Type -> bool
		return func(rv reflect.Value) error {
			if rv.Kind() == reflect.Interface {
				rv = rv.Elem()
			}
			if !rv.IsValid() {
				return nil
			}
			dt := rv.Type()
			want, ok := cache.Load(dt)
			if !ok {
				b := dt
				for b.Kind() == reflect.Pointer {
					b = b.Elem()
				}
				want = b.Kind() == reflect.Struct && (tog == On || hasValidateTags(b, map[reflect.Type]bool{}))
				cache.Store(dt, want)
			}
			if !want.(bool) {
				return nil
			}
			return validateValue(v, rv)
		}
	}
	return nil
}

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func validateValue(v *validator.Validate, rv reflect.Value) error {
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	return v.Struct(rv.Interface())
}

// hasValidateTags reports whether struct type t (or a struct reachable
// through its fields) has a `validate` tag.
func hasValidateTags(t reflect.Type, seen map[reflect.Type]bool) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return false
	}
	seen[t] = true
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag := f.Tag.Get("validate"); tag != "" && tag != "-" {
			return true
		}
		if hasValidateTags(f.Type, seen) {
			return true
		}
	}
	return false
}
