package listener

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
)

// TagName is the struct tag key listeners are declared with.
const TagName = "kafka"

// Option configures how endpoints are compiled: placeholder resolution,
// validation, error handler names. Options given to [NewRegistry] apply to
// every registration; options given to a single call come after them.
type Option interface{ apply(*options) }

type options struct {
	resolver  Resolver
	validator *validator.Validate
	ehExists  func(string) bool
	// batchDefault: handlers of a batch form are batch listeners without
	// the batch attribute (kafka.listener.type=batch).
	batchDefault bool
}

type optFunc func(*options)

func (f optFunc) apply(o *options) { f(o) }

// WithBatchByDefault makes listeners whose handler has a batch form (a
// slice of values or of *Record[T] after the context, returning only an
// error) batch listeners without the batch attribute, as Spring Boot's
// spring.kafka.listener.type=batch makes every listener a batch listener;
// batch=false on a listener keeps a slice the value of one record (for
// example a JSON array).
func WithBatchByDefault() Option { return optFunc(func(o *options) { o.batchDefault = true }) }

// WithResolver sets the placeholder resolver (the root module passes the
// configuration's Resolve). Without one, only ${key:default} placeholders
// resolve (to their defaults).
func WithResolver(r Resolver) Option { return optFunc(func(o *options) { o.resolver = r }) }

// WithValidator sets the validator/v10 instance used for payload validation
// (custom validations, tag name). By default each registry creates one with
// validator.WithRequiredStructEnabled.
func WithValidator(v *validator.Validate) Option {
	return optFunc(func(o *options) { o.validator = v })
}

// WithErrorHandlerNames makes registration check that every errorhandler
// attribute names a known error handler (exists reports whether it does).
// Without it the name is checked only when the container is created.
func WithErrorHandlerNames(exists func(name string) bool) Option {
	return optFunc(func(o *options) { o.ehExists = exists })
}

func buildOptions(base options, opts []Option) options {
	for _, o := range opts {
		if o != nil {
			o.apply(&base)
		}
	}
	return base
}

// Registry holds the listener endpoints of an application, keyed by unique
// id. It is safe for concurrent use. The container package turns its
// endpoints into running containers.
type Registry struct {
	mu    sync.Mutex
	opts  options
	byID  map[string]*Endpoint
	order []*Endpoint
}

// NewRegistry returns an empty registry whose registrations use opts.
func NewRegistry(opts ...Option) *Registry {
	o := buildOptions(options{}, opts)
	if o.validator == nil {
		o.validator = validator.New(validator.WithRequiredStructEnabled())
	}
	return &Registry{opts: o, byID: make(map[string]*Endpoint)}
}

// Register scans target (a struct or pointer to struct) for func fields
// tagged `kafka:"..."`, compiles one endpoint per field and adds them all,
// or none: on any problem it returns every field's error joined (each a
// *DefinitionError, errors.Is ErrInvalidListener) and registers nothing.
func (r *Registry) Register(target any, opts ...Option) ([]*Endpoint, error) {
	r.mu.Lock()
	o := buildOptions(r.opts, opts)
	r.mu.Unlock()
	eps, err := scan(target, o)
	if err != nil {
		return nil, err
	}
	if err := r.add(eps); err != nil {
		return nil, err
	}
	return eps, nil
}

// RegisterFunc registers one handler with its tag, the listener declared
// once, without a struct: the tag is the same as a struct field's, and
// the listener id defaults to the handler's name ("pkg.Type.Method" for a
// method value, "pkg.Func" for a function).
//
//	reg.RegisterFunc("topics=orders,group=billing", billing.OnOrder)
//
// Errors are *DefinitionError naming the handler and the tag, as for
// Register.
func (r *Registry) RegisterFunc(tag string, handler any, opts ...Option) (*Endpoint, error) {
	r.mu.Lock()
	o := buildOptions(r.opts, opts)
	r.mu.Unlock()
	ep, err := funcEndpoint(tag, handler, o)
	if err != nil {
		return nil, err
	}
	if err := r.add([]*Endpoint{ep}); err != nil {
		return nil, err
	}
	return ep, nil
}

func funcEndpoint(tag string, handler any, o options) (*Endpoint, error) {
	source := FuncName(handler)
	fail := func(err error) (*Endpoint, error) {
		return nil, &DefinitionError{Source: source, Tag: tag, Err: err}
	}
	hv := reflect.ValueOf(handler)
	if !hv.IsValid() || hv.Kind() != reflect.Func || hv.IsNil() {
		return fail(fmt.Errorf("handler must be a non-nil func, got %T", handler))
	}
	if o.validator == nil {
		o.validator = validator.New(validator.WithRequiredStructEnabled())
	}
	ep, err := endpointFromTag(tag, o.resolver)
	if err != nil {
		return fail(err)
	}
	ep.source, ep.tag, ep.resolved = source, tag, true
	if ep.ID == "" {
		ep.ID = source
	}
	ep.Handler = handler
	if err := ep.compileWith(o); err != nil {
		return nil, err
	}
	return ep, nil
}

// FuncName is the name a handler func is known by: "pkg.Type.Method" for
// a method value, "pkg.Func" for a function, "pkg.Func.func1" for a
// closure (the package's last path element only).
func FuncName(fn any) string {
	v := reflect.ValueOf(fn)
	if !v.IsValid() || v.Kind() != reflect.Func || v.IsNil() {
		return fmt.Sprintf("%T", fn)
	}
	f := runtime.FuncForPC(v.Pointer())
	if f == nil {
		return fmt.Sprintf("%T", fn)
	}
	name := f.Name() // github.com/x/y/pkg.(*Type).Method-fm
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSuffix(name, "-fm")
	name = strings.NewReplacer("(*", "", "(", "", ")", "").Replace(name)
	return name
}

// Add compiles programmatic endpoints (see [Endpoint.Compile]) and adds
// them, all or none. Ids must be set and unique in the registry.
func (r *Registry) Add(eps []*Endpoint, opts ...Option) error {
	r.mu.Lock()
	o := buildOptions(r.opts, opts)
	r.mu.Unlock()
	var errs []error
	for _, ep := range eps {
		if ep == nil {
			errs = append(errs, &DefinitionError{Source: "endpoint", Err: errors.New("nil endpoint")})
			continue
		}
		if err := ep.compileWith(o); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return r.add(eps)
}

func (r *Registry) add(eps []*Endpoint) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]*Endpoint, len(eps))
	var errs []error
	for _, ep := range eps {
		prev := r.byID[ep.ID]
		if prev == nil {
			prev = seen[ep.ID]
		}
		if prev != nil {
			errs = append(errs, &DefinitionError{Source: ep.Source(), Tag: ep.tag,
				Err: fmt.Errorf("duplicate listener id %q (already used by %s)", ep.ID, prev.Source())})
			continue
		}
		seen[ep.ID] = ep
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, ep := range eps {
		r.byID[ep.ID] = ep
		r.order = append(r.order, ep)
	}
	return nil
}

// Endpoints returns the registered endpoints in registration order.
func (r *Registry) Endpoints() []*Endpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

// Endpoint returns the endpoint with the given id, or nil.
func (r *Registry) Endpoint(id string) *Endpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// Scan compiles the tagged func fields of target into endpoints without
// registering them (no cross-registration id check). See
// [Registry.Register].
func Scan(target any, opts ...Option) ([]*Endpoint, error) {
	return scan(target, buildOptions(options{}, opts))
}

func scan(target any, o options) ([]*Endpoint, error) {
	v := reflect.ValueOf(target)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, &DefinitionError{Source: fmt.Sprintf("%T", target), Err: errors.New("nil target")}
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, &DefinitionError{Source: fmt.Sprintf("%T", target), Err: errors.New("target must be a struct or a pointer to a struct with kafka-tagged func fields")}
	}
	t := v.Type()
	if o.validator == nil {
		o.validator = validator.New(validator.WithRequiredStructEnabled())
	}
	var (
		eps  []*Endpoint
		errs []error
		ids  = map[string]string{}
	)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup(TagName)
		if !ok {
			continue
		}
		source := t.String() + "." + f.Name
		fail := func(err error) { errs = append(errs, &DefinitionError{Source: source, Tag: tag, Err: err}) }
		if !f.IsExported() {
			fail(errors.New("field is unexported"))
			continue
		}
		if f.Type.Kind() != reflect.Func {
			fail(fmt.Errorf("field type %v is not a func", f.Type))
			continue
		}
		fv := v.Field(i)
		if fv.IsNil() {
			fail(errors.New("nil func field (assign the handler before registering)"))
			continue
		}
		ep, err := endpointFromTag(tag, o.resolver)
		if err != nil {
			fail(err)
			continue
		}
		ep.source, ep.tag, ep.resolved = source, tag, true
		if ep.ID == "" {
			ep.ID = source
		}
		ep.Handler = fv.Interface()
		if err := ep.compileWith(o); err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := ids[ep.ID]; dup {
			fail(fmt.Errorf("duplicate listener id %q (already used by %s)", ep.ID, prev))
			continue
		}
		ids[ep.ID] = source
		eps = append(eps, ep)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(eps) == 0 {
		return nil, &DefinitionError{Source: t.String(), Err: fmt.Errorf("no func fields tagged `%s:\"...\"`", TagName)}
	}
	return eps, nil
}

// Compile resolves the endpoint's placeholders, checks its attributes and
// handler signature and compiles the handler into an [Invoker]. It is
// idempotent: once it succeeded, later calls return nil at once. Errors are
// *DefinitionError (errors.Is ErrInvalidListener). Compile updates string
// fields in place with their resolved values.
func (ep *Endpoint) Compile(opts ...Option) error {
	return ep.compileWith(buildOptions(options{}, opts))
}

var legalTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func (ep *Endpoint) compileWith(o options) error {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.invoker != nil {
		return nil
	}
	if err := ep.compileLocked(o); err != nil {
		return &DefinitionError{Source: ep.sourceLocked(), Tag: ep.tag, Err: err}
	}
	return nil
}

func (ep *Endpoint) sourceLocked() string {
	if ep.source != "" {
		return ep.source
	}
	return fmt.Sprintf("endpoint %q", ep.ID)
}

func (ep *Endpoint) compileLocked(o options) error {
	if o.batchDefault && !ep.Batch && !ep.batchSet && batchShaped(ep.Handler) {
		ep.Batch = true
	}
	if !ep.resolved {
		if err := ep.resolveLocked(o.resolver); err != nil {
			return err
		}
		ep.resolved = true
	}
	if ep.ID == "" {
		return errors.New("missing id")
	}
	if ep.Handler == nil {
		return errors.New("nil handler")
	}
	n := 0
	for _, set := range []bool{len(ep.Topics) > 0, ep.Pattern != "", len(ep.Partitions) > 0} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return errors.New("missing topics: set one of topics, pattern or partitions")
	case n > 1:
		return errors.New("topics, pattern and partitions are mutually exclusive")
	}
	seen := map[string]bool{}
	for _, t := range ep.Topics {
		if !legalTopic.MatchString(t) {
			return fmt.Errorf("invalid topic name %q", t)
		}
		if seen[t] {
			return fmt.Errorf("duplicate topic %q", t)
		}
		seen[t] = true
	}
	if ep.Pattern != "" {
		if _, err := regexp.Compile(ep.Pattern); err != nil {
			return fmt.Errorf("invalid pattern: %w", err)
		}
	}
	seenTP := map[TopicPartition]bool{}
	for _, tp := range ep.Partitions {
		if !legalTopic.MatchString(tp.Topic) {
			return fmt.Errorf("invalid topic name %q in partitions", tp.Topic)
		}
		if tp.Partition < 0 {
			return fmt.Errorf("invalid partition %d of topic %q", tp.Partition, tp.Topic)
		}
		if tp.Offset.Kind > OffsetFromEnd || (tp.Offset.Kind >= OffsetAt && tp.Offset.Value < 0) {
			return fmt.Errorf("invalid initial offset for %s:%d", tp.Topic, tp.Partition)
		}
		key := TopicPartition{Topic: tp.Topic, Partition: tp.Partition}
		if seenTP[key] {
			return fmt.Errorf("duplicate partition %s:%d", tp.Topic, tp.Partition)
		}
		seenTP[key] = true
	}
	if ep.Concurrency < 0 {
		return fmt.Errorf("concurrency must be at least 1, got %d", ep.Concurrency)
	}
	switch {
	case ep.Ordering > OrderNone:
		return fmt.Errorf("invalid ordering %d", ep.Ordering)
	case ep.Workers < 0:
		return fmt.Errorf("workers must be at least 1, got %d", ep.Workers)
	case ep.Workers > 0 && ep.Ordering == OrderPartition:
		return errors.New("workers needs ordering=key or ordering=none: with partition ordering a partition has one worker")
	case ep.Ordering != OrderPartition && ep.Batch:
		return fmt.Errorf("ordering=%s does not apply to batch listeners: a batch is one call", ep.Ordering)
	}
	if ep.AckMode > AckManualImmediate {
		return fmt.Errorf("invalid ack mode %d", ep.AckMode)
	}
	if err := ep.checkRetry(); err != nil {
		return err
	}
	if ep.Cluster != "" && !legalClusterName.MatchString(ep.Cluster) {
		return fmt.Errorf("invalid cluster name %q (letters, digits, '-' and '_')", ep.Cluster)
	}
	if ep.Transactional < Auto || ep.Transactional > Off {
		return errors.New("invalid toggle value")
	}
	if ep.Transactional == On {
		if err := CheckTransactional(ep, ep.Retry); err != nil {
			return err
		}
	}
	if ep.AutoStartup < Auto || ep.AutoStartup > Off || ep.Validate < Auto || ep.Validate > Off {
		return errors.New("invalid toggle value")
	}
	if ep.SendTo != "" && !legalTopic.MatchString(ep.SendTo) {
		return fmt.Errorf("invalid sendto topic %q", ep.SendTo)
	}
	if ep.DLT != "" && ep.DLT != DLTNone && !legalTopic.MatchString(ep.DLT) {
		return fmt.Errorf("invalid dlt topic %q", ep.DLT)
	}
	for k := range ep.Properties {
		if k == "" {
			return errors.New("empty property name")
		}
	}
	if ep.ErrorHandler != "" && o.ehExists != nil && !o.ehExists(ep.ErrorHandler) {
		return fmt.Errorf("unknown error handler %q", ep.ErrorHandler)
	}
	inv, err := newInvoker(ep.Handler, ep.Batch, ep.AckMode, ep.Validate, o.validator)
	if err != nil {
		return err
	}
	if ep.SendTo != "" && !inv.hasReply {
		return fmt.Errorf("sendto=%s needs a handler returning (R, error)", ep.SendTo)
	}
	ep.invoker = inv
	return nil
}

// resolveLocked resolves the placeholders of a programmatic endpoint.
func (ep *Endpoint) resolveLocked(r Resolver) error {
	for _, f := range []struct {
		name string
		p    *string
	}{{attrID, &ep.ID}, {attrPattern, &ep.Pattern}, {attrGroup, &ep.Group}, {attrErrorHandler, &ep.ErrorHandler},
		{attrDLT, &ep.DLT}, {attrSendTo, &ep.SendTo}, {attrClientIDPrefix, &ep.ClientIDPrefix}} {
		v, err := resolveValue(*f.p, r)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		*f.p = v
	}
	var topics []string
	for _, t := range ep.Topics {
		v, err := resolveValue(t, r)
		if err != nil {
			return fmt.Errorf("topics: %w", err)
		}
		if v == t {
			topics = append(topics, t)
			continue
		}
		items, err := splitList(v)
		if err != nil {
			return fmt.Errorf("topics: %w", err)
		}
		topics = append(topics, items...)
	}
	ep.Topics = topics
	for i, tp := range ep.Partitions {
		v, err := resolveValue(tp.Topic, r)
		if err != nil {
			return fmt.Errorf("partitions: %w", err)
		}
		ep.Partitions[i].Topic = v
	}
	if len(ep.Properties) > 0 {
		props := make(map[string]string, len(ep.Properties))
		for k, val := range ep.Properties {
			v, err := resolveValue(val, r)
			if err != nil {
				return fmt.Errorf("properties: %s: %w", k, err)
			}
			props[k] = v
		}
		ep.Properties = props
	}
	return nil
}

// legalClusterName: a cluster's name is one key of kafka.clusters.
var legalClusterName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// batchShaped reports whether handler has a batch listener's signature:
// func(ctx, []X[, Acknowledgment]) error.
func batchShaped(handler any) bool {
	t := reflect.TypeOf(handler)
	if t == nil || t.Kind() != reflect.Func || t.NumOut() != 1 || t.Out(0) != errType {
		return false
	}
	n := t.NumIn()
	if n > 0 && t.In(n-1) == ackType {
		n--
	}
	return n == 2 && t.In(0) == ctxType && t.In(1).Kind() == reflect.Slice && t.In(1).Elem().Kind() != reflect.Uint8
}
