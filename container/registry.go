package container

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/kafkaboot/kafkaboot/listener"
)

// Registry holds the containers of an application, like Spring's
// KafkaListenerEndpointRegistry: it starts the auto-startup ones together
// and stops them all. It is safe for concurrent use.
type Registry struct {
	mu    sync.Mutex
	byID  map[string]*Container
	order []*Container
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byID: map[string]*Container{}} }

// FromListeners creates a container with opts for every endpoint of lr.
func FromListeners(lr *listener.Registry, opts ...Option) (*Registry, error) {
	r := NewRegistry()
	for _, ep := range lr.Endpoints() {
		c, err := New(ep, opts...)
		if err != nil {
			return nil, err
		}
		if err := r.Add(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Add adds a container; its id must be unique in the registry.
func (r *Registry) Add(c *Container) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.byID[c.ID()]; dup {
		return fmt.Errorf("%w: duplicate listener id %q", ErrInvalidContainer, c.ID())
	}
	r.byID[c.ID()] = c
	r.order = append(r.order, c)
	return nil
}

// Container returns the container of listener id, or nil.
func (r *Registry) Container(id string) *Container {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// Containers returns all containers in the order they were added.
func (r *Registry) Containers() []*Container {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

// Start starts every container whose AutoStartup is true; if one fails,
// the ones already started are stopped and the error returned.
func (r *Registry) Start(ctx context.Context) error {
	var started []*Container
	for _, c := range r.Containers() {
		if !c.AutoStartup() {
			continue
		}
		if err := c.Start(ctx); err != nil {
			for _, s := range started {
				_ = s.Stop(ctx)
			}
			return err
		}
		started = append(started, c)
	}
	return nil
}

// Stop stops every running container concurrently (each gracefully, see
// Container.Stop) and returns their errors joined.
func (r *Registry) Stop(ctx context.Context) error {
	cs := r.Containers()
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { errs[i] = c.Stop(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
