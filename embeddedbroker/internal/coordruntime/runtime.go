// Package coordruntime is what the broker's coordinators share, in the
// spirit of Kafka's CoordinatorRuntime: the ownership of the partitions of
// an internal topic (__consumer_offsets, __transaction_state), loading a
// partition by replaying its log while requests for it answer
// COORDINATOR_LOAD_IN_PROGRESS, the partition's epoch, unloading it when
// leadership moves (cancelling the writes in flight), the state kept per
// key (a group, a transactional ID) with its own lock, background work
// that Close waits for, and appends that keep the order they were started
// in.
//
// A coordinator keeps its own state machine per key and its own records;
// the runtime knows neither. Locks: the runtime's lock is never held while
// an item's lock is taken, and an item's lock may be held while calling
// the runtime (Remove, Partition, Items).
package coordruntime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordkey"
)

// Errors of Load.
var (
	// ErrClosed is returned by Load after Close.
	ErrClosed = errors.New("coordinator closed")
	// ErrAlreadyLoaded is returned by Load for a partition that is
	// already loaded or loading; Unload it first.
	ErrAlreadyLoaded = errors.New("partition already loaded")
	// ErrUnloaded is returned by Load when the partition was unloaded (or
	// the runtime closed) while its records were being replayed.
	ErrUnloaded = errors.New("partition unloaded while loading")
)

// Partition is one loaded (or loading) partition of the coordinator's
// topic. X is the coordinator's own data for it.
type Partition[X any] struct {
	// ID is the partition.
	ID int32
	// Epoch is the partition's leader epoch when it was loaded (the
	// coordinator epoch transaction markers carry).
	Epoch int32
	// Ctx is cancelled when the partition is unloaded or the runtime
	// closed: writes for the partition use it.
	Ctx    context.Context
	cancel context.CancelFunc
	// loading is set until Load publishes the partition's items; guarded
	// by the runtime's lock.
	loading bool
	// Ext is the coordinator's data for the partition. What of it changes
	// after Load is guarded by the runtime's lock (see
	// Runtime.WithPartition) or by the coordinator's own locks.
	Ext X
}

// Item is the state a coordinator keeps for one key, with a lock of its
// own: a group, a transactional ID.
type Item[X any] interface {
	comparable
	// Lock and Unlock lock the item.
	Lock()
	Unlock()
	// Removed reports, with the item locked, whether the item was dropped
	// (its partition unloaded, or removed by the coordinator): a holder
	// of a stale pointer must look the key up again.
	Removed() bool
	// Partition is the partition the item belongs to.
	Partition() *Partition[X]
}

// Runtime owns the loaded partitions of one coordinator and its items.
// Create it with New; it is safe for concurrent use.
type Runtime[X any, T Item[X]] struct {
	name          string
	numPartitions int32
	log           *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex // guards closed, parts, items, Partition.loading
	closed bool
	parts  map[int32]*Partition[X]
	items  map[string]T
}

// New returns a runtime that owns no partition, for a coordinator named
// name (in errors: "groups", "txn") whose topic has numPartitions
// partitions. A nil logger discards.
func New[X any, T Item[X]](name string, numPartitions int32, logger *slog.Logger) *Runtime[X, T] {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runtime[X, T]{
		name: name, numPartitions: numPartitions, log: logger, ctx: ctx, cancel: cancel,
		parts: make(map[int32]*Partition[X]), items: make(map[string]T),
	}
}

// Logger is the runtime's logger (a discarding one if New was given nil).
func (r *Runtime[X, T]) Logger() *slog.Logger { return r.log }

// Context is cancelled by Close.
func (r *Runtime[X, T]) Context() context.Context { return r.ctx }

// Go runs f in a goroutine that Close waits for; f should return soon
// after Context (or its partition's Ctx) is done.
func (r *Runtime[X, T]) Go(f func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
}

// PartitionFor returns the partition of the coordinator's topic that
// holds key (see coordkey.Partition).
func (r *Runtime[X, T]) PartitionFor(key string) int32 {
	return coordkey.Partition(key, r.numPartitions)
}

// Load makes the runtime own partition p at epoch, with the coordinator's
// data ext. While replay rebuilds the partition's items from its log,
// requests for its keys are told COORDINATOR_LOAD_IN_PROGRESS (Serving).
// Then, with the runtime's lock held, publish (if not nil) sees the
// partition and the items before anyone else can, and the items become
// visible; Load returns them, for what the coordinator does with each
// once loaded (restarting timers, completing transactions), under the
// items' own locks.
//
// Load fails with ErrClosed, ErrAlreadyLoaded, ErrUnloaded (p unloaded
// during the replay), replay's error or ctx's; p is then not loaded.
func (r *Runtime[X, T]) Load(ctx context.Context, p, epoch int32, ext X,
	replay func(part *Partition[X]) (map[string]T, error), publish func(part *Partition[X], items map[string]T)) (map[string]T, error) {
	pctx, pcancel := context.WithCancel(r.ctx)
	part := &Partition[X]{ID: p, Epoch: epoch, Ctx: pctx, cancel: pcancel, loading: true, Ext: ext}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		pcancel()
		return nil, ErrClosed
	}
	if r.parts[p] != nil {
		r.mu.Unlock()
		pcancel()
		return nil, fmt.Errorf("%s: load partition %d: %w", r.name, p, ErrAlreadyLoaded)
	}
	r.parts[p] = part
	r.mu.Unlock()

	items, err := replay(part)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		r.mu.Lock()
		if r.parts[p] == part {
			delete(r.parts, p)
		}
		r.mu.Unlock()
		pcancel()
		return nil, fmt.Errorf("%s: load partition %d: %w", r.name, p, err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.parts[p] != part {
		pcancel()
		return nil, fmt.Errorf("%s: load partition %d: %w", r.name, p, ErrUnloaded)
	}
	if publish != nil {
		publish(part, items)
	}
	for key, it := range items {
		r.items[key] = it
	}
	part.loading = false
	return items, nil
}

// Unload gives up partition p: it and its items are dropped (later
// requests for its keys answer NOT_COORDINATOR), its Ctx is cancelled, and
// drop is called with each of its items locked, for the coordinator to
// mark it removed and end what waits on it. It returns the number of items
// and false if p was not loaded.
func (r *Runtime[X, T]) Unload(p int32, drop func(T)) (int, bool) {
	r.mu.Lock()
	part := r.parts[p]
	if part == nil {
		r.mu.Unlock()
		return 0, false
	}
	delete(r.parts, p)
	var out []T
	for key, it := range r.items {
		if it.Partition() == part {
			out = append(out, it)
			delete(r.items, key)
		}
	}
	r.mu.Unlock()
	part.cancel()
	for _, it := range out {
		it.Lock()
		drop(it)
		it.Unlock()
	}
	return len(out), true
}

// Close marks the runtime closed (Load fails, Serving answers
// NOT_COORDINATOR), calls unload for every loaded partition (the
// coordinator's Unload, which calls Runtime.Unload), cancels Context and
// waits for the goroutines started with Go. Later calls do nothing.
func (r *Runtime[X, T]) Close(unload func(p int32)) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	ps := make([]int32, 0, len(r.parts))
	for p := range r.parts {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	for _, p := range ps {
		unload(p)
	}
	r.cancel()
	r.wg.Wait()
}

// Serving returns the partition that holds key when the runtime serves
// it, else a nil partition and the error code to answer:
// NOT_COORDINATOR (not loaded here, or closed) or
// COORDINATOR_LOAD_IN_PROGRESS.
func (r *Runtime[X, T]) Serving(key string) (*Partition[X], int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.servingLocked(key)
}

func (r *Runtime[X, T]) servingLocked(key string) (*Partition[X], int16) {
	part := r.parts[r.PartitionFor(key)]
	switch {
	case r.closed || part == nil:
		return nil, kerr.NotCoordinator.Code
	case part.loading:
		return nil, kerr.CoordinatorLoadInProgress.Code
	}
	return part, 0
}

// Acquire returns key's item, locked. If there is none, create (when not
// nil) makes one in the key's partition, which is added and returned
// locked with created true; with a nil create the zero T is returned. The
// code is non-zero (see Serving) when the key's partition is not served.
// Items removed while Acquire waited for their lock are looked up again.
func (r *Runtime[X, T]) Acquire(key string, create func(part *Partition[X]) T) (it T, created bool, code int16) {
	var zero T
	for {
		r.mu.Lock()
		part, code := r.servingLocked(key)
		if code != 0 {
			r.mu.Unlock()
			return zero, false, code
		}
		it, ok := r.items[key]
		created = false
		if !ok {
			if create == nil {
				r.mu.Unlock()
				return zero, false, 0
			}
			it = create(part)
			r.items[key] = it
			created = true
		}
		r.mu.Unlock()
		it.Lock()
		if !it.Removed() {
			return it, created, 0
		}
		it.Unlock()
	}
}

// Remove drops key's item if it is it (a newer item of the key stays);
// the coordinator marks it removed itself.
func (r *Runtime[X, T]) Remove(key string, it T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.items[key]; ok && cur == it {
		delete(r.items, key)
	}
}

// Items returns the items of the loaded partitions (of part only, when it
// is not nil), unlocked, and whether a partition is still loading. closed
// reports whether the runtime is closed (no items then).
func (r *Runtime[X, T]) Items(part *Partition[X]) (items []T, loading, closed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, false, true
	}
	items = make([]T, 0, len(r.items))
	for _, it := range r.items {
		if part == nil || it.Partition() == part {
			items = append(items, it)
		}
	}
	for _, p := range r.parts {
		loading = loading || p.loading
	}
	return items, loading, false
}

// WithPartition calls f with partition p, under the runtime's lock (f
// must not lock an item or call the runtime), and reports whether p is
// loaded (or loading) and the runtime open; f is not called otherwise.
func (r *Runtime[X, T]) WithPartition(p int32, f func(part *Partition[X], loading bool)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	part := r.parts[p]
	if r.closed || part == nil {
		return false
	}
	f(part, part.loading)
	return true
}

// Every runs f every d, in a goroutine that Close stops and waits for.
func (r *Runtime[X, T]) Every(d time.Duration, f func()) {
	r.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-t.C:
				f()
			}
		}
	})
}

// AppendErrorCode maps the error of a failed append of the coordinator's
// records to the error code to answer, as Kafka's coordinators do: a
// cancelled context (the partition unloaded), NOT_LEADER_OR_FOLLOWER and
// KAFKA_STORAGE_ERROR answer NOT_COORDINATOR, so that the client looks for
// the coordinator again; UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS
// and errors that are no Kafka error answer COORDINATOR_NOT_AVAILABLE,
// which clients retry; a deadline is REQUEST_TIMED_OUT. special sees the
// Kafka error first, for what a coordinator answers its own way (a record
// too large, a timeout): it returns the code and true, or false to leave
// the error to the mapping above (other errors answer as they are).
func AppendErrorCode(err error, special func(ke *kerr.Error) (int16, bool)) int16 {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
	case errors.Is(err, context.DeadlineExceeded):
		ke = kerr.RequestTimedOut
	case errors.Is(err, context.Canceled):
		return kerr.NotCoordinator.Code
	default:
		return kerr.CoordinatorNotAvailable.Code
	}
	if code, ok := special(ke); ok {
		return code
	}
	switch ke {
	case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
		return kerr.NotCoordinator.Code
	}
	return ke.Code
}

// OrDefault sets *v to def when it is not positive: a zero setting of a
// coordinator's Config means Kafka's default.
func OrDefault[V int | int32 | int64 | time.Duration](v *V, def V) {
	if *v <= 0 {
		*v = def
	}
}
