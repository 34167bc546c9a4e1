package serde

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"sync/atomic"
)

// TypeRegistry maps type names (the values of type headers) to Go types and
// back. It is what lets a deserializer with an interface target choose the
// concrete type of a record, and what lets producers write names that
// other systems understand (for example a Java class name expected by a
// Spring consumer).
//
// A type T and *T share one name. Registering *T means "decode into *T"
// when the name is chosen for an interface target; registering T means
// "decode into T" (falling back to *T if only the pointer implements the
// interface).
//
// Names of types that are not registered default to [DefaultTypeName]
// ("pkg.Type") when writing; such names cannot be resolved when reading,
// because Go cannot look types up by name: consumers must register every
// type they expect through an interface target.
//
// A nil *TypeRegistry is valid and empty. Methods are safe for concurrent
// use.
type TypeRegistry struct {
	mu     sync.RWMutex
	byName map[string]reflect.Type
	byType map[reflect.Type]string // keyed by the pointer-stripped type

	// names caches NameOf results (registered or default names) for
	// serializers, which ask for every record: a copy-on-write map that
	// registration replaces, tagged with the registration generation so
	// that a name computed before a registration is never stored after it.
	names atomic.Pointer[nameCache]
	gen   uint64 // registration generation, guarded by mu
}

type nameCache struct {
	gen   uint64
	names map[reflect.Type]string
}

// NewTypeRegistry returns an empty registry.
func NewTypeRegistry() *TypeRegistry {
	return &TypeRegistry{byName: map[string]reflect.Type{}, byType: map[reflect.Type]string{}}
}

// ErrTypeConflict is returned by registration when a name or a type is
// already registered differently.
var ErrTypeConflict = errors.New("type registration conflict")

// Register maps name to the type of sample (a value or a pointer; see
// [TypeRegistry]). An empty name means [DefaultTypeName]. Registering the
// same pair again is a no-op; registering a name for a different type, or
// a type under a different name, fails with [ErrTypeConflict].
func (r *TypeRegistry) Register(name string, sample any) error {
	if sample == nil {
		return fmt.Errorf("serde: register %q: nil sample", name)
	}
	return r.RegisterType(name, reflect.TypeOf(sample))
}

// RegisterType is [TypeRegistry.Register] with a reflect.Type.
func (r *TypeRegistry) RegisterType(name string, t reflect.Type) error {
	if r == nil {
		return errors.New("serde: register on a nil *TypeRegistry")
	}
	if t == nil {
		return fmt.Errorf("serde: register %q: nil type", name)
	}
	if name == "" {
		name = DefaultTypeName(t)
		if name == "" {
			return fmt.Errorf("serde: register %s: unnamed types need an explicit name", t)
		}
	}
	base := baseType(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.byName[name]; ok && old != t {
		return fmt.Errorf("serde: register %q as %s: already registered as %s: %w", name, t, old, ErrTypeConflict)
	}
	if old, ok := r.byType[base]; ok && old != name {
		return fmt.Errorf("serde: register %s as %q: already registered as %q: %w", t, name, old, ErrTypeConflict)
	}
	r.byName[name] = t
	r.byType[base] = name
	r.gen++
	r.names.Store(&nameCache{gen: r.gen})
	return nil
}

// Register registers T under name in r (an empty name means
// [DefaultTypeName]).
func Register[T any](r *TypeRegistry, name string) error {
	return r.RegisterType(name, reflect.TypeFor[T]())
}

// NameOf returns the registered name of t (or of the type t points to),
// falling back to [DefaultTypeName].
func (r *TypeRegistry) NameOf(t reflect.Type) string {
	if r == nil || t == nil {
		return DefaultTypeName(t)
	}
	cur := r.names.Load()
	if cur != nil {
		if name, ok := cur.names[t]; ok {
			return name
		}
	}
	r.mu.RLock()
	name, ok := r.byType[baseType(t)]
	gen := r.gen
	r.mu.RUnlock()
	if !ok {
		name = DefaultTypeName(t)
	}
	// Cache unless a registration happened meanwhile (a newer generation)
	// or the cache is large (types are normally few; this bounds memory
	// for programs that serialize many unnamed or generated types).
	if (cur == nil && gen == 0 || cur != nil && cur.gen == gen) && (cur == nil || len(cur.names) < 1024) {
		next := &nameCache{gen: gen, names: make(map[reflect.Type]string, 1)}
		if cur != nil {
			maps.Copy(next.names, cur.names)
		}
		next.names[t] = name
		r.names.CompareAndSwap(cur, next)
	}
	return name
}

// registered returns the explicitly registered name of t.
func (r *TypeRegistry) registered(t reflect.Type) (string, bool) {
	if r == nil || t == nil {
		return "", false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	name, ok := r.byType[baseType(t)]
	return name, ok
}

// Lookup returns the type registered under name.
func (r *TypeRegistry) Lookup(name string) (reflect.Type, bool) {
	if r == nil {
		return nil, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.byName[name]
	return t, ok
}

// DefaultTypeName is the name written for unregistered types: the
// pointer-stripped type's reflect string, "pkg.Type" (package name, not
// import path, so two packages with the same name can collide: register
// explicit names for anything crossing service boundaries). Unnamed types
// (maps, slices, anonymous structs) have no default name and get no type
// header.
func DefaultTypeName(t reflect.Type) string {
	if t == nil {
		return ""
	}
	b := baseType(t)
	if b.Name() == "" {
		return ""
	}
	return b.String()
}

func baseType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// implementer returns the variant of registered type rt (rt itself, its
// pointer, or its element) that implements interface target, preferring
// rt itself.
func implementer(rt, target reflect.Type) (reflect.Type, bool) {
	cands := []reflect.Type{rt}
	if rt.Kind() == reflect.Pointer {
		cands = append(cands, rt.Elem())
	} else {
		cands = append(cands, reflect.PointerTo(rt))
	}
	for _, c := range cands {
		if c.Implements(target) {
			return c, true
		}
	}
	return nil, false
}
