package coordruntime

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordkey"
)

type item struct {
	key     string
	part    *Partition[string]
	mu      sync.Mutex
	removed bool
}

func (i *item) Lock()                         { i.mu.Lock() }
func (i *item) Unlock()                       { i.mu.Unlock() }
func (i *item) Removed() bool                 { return i.removed }
func (i *item) Partition() *Partition[string] { return i.part }

// keyIn returns a key that lives in partition p of n.
func keyIn(t *testing.T, p, n int32) string {
	for i := range 10000 {
		k := "k" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		if coordkey.Partition(k, n) == p {
			return k
		}
	}
	t.Fatalf("no key in partition %d", p)
	return ""
}

// TestLifecycle: a partition answers LOAD_IN_PROGRESS while it replays,
// serves its items once loaded, drops them on unload (NOT_COORDINATOR),
// and Close unloads what is left and fails later loads.
func TestLifecycle(t *testing.T) {
	r := New[string, *item]("test", 4, nil)
	k0, k1 := keyIn(t, 0, 4), keyIn(t, 1, 4)
	if _, code := r.Serving(k0); code != kerr.NotCoordinator.Code {
		t.Fatalf("before load: %d", code)
	}
	replaying := make(chan struct{})
	release := make(chan struct{})
	loaded := make(chan error, 1)
	go func() {
		items, err := r.Load(context.Background(), 0, 7, "ext", func(part *Partition[string]) (map[string]*item, error) {
			close(replaying)
			<-release
			return map[string]*item{k0: {key: k0, part: part}}, nil
		}, func(part *Partition[string], items map[string]*item) {
			if part.Epoch != 7 || part.Ext != "ext" || len(items) != 1 {
				t.Errorf("publish saw %+v, %d items", part, len(items))
			}
		})
		if err == nil && len(items) != 1 {
			t.Errorf("Load returned %d items", len(items))
		}
		loaded <- err
	}()
	<-replaying
	if _, code := r.Serving(k0); code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("while loading: %d", code)
	}
	if _, err := r.Load(context.Background(), 0, 7, "", nil, nil); !errors.Is(err, ErrAlreadyLoaded) {
		t.Fatalf("second load: %v", err)
	}
	close(release)
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	it, created, code := r.Acquire(k0, nil)
	if code != 0 || created || it == nil || it.key != k0 {
		t.Fatalf("acquire loaded item: %v %v %d", it, created, code)
	}
	it.Unlock()
	if _, _, code := r.Acquire(k1, nil); code != kerr.NotCoordinator.Code {
		t.Fatalf("acquire in a partition not loaded: %d", code)
	}

	// Load partition 1 and create an item there.
	if _, err := r.Load(context.Background(), 1, 1, "", func(*Partition[string]) (map[string]*item, error) { return nil, nil }, nil); err != nil {
		t.Fatal(err)
	}
	it1, created, code := r.Acquire(k1, func(part *Partition[string]) *item { return &item{key: k1, part: part} })
	if code != 0 || !created {
		t.Fatalf("create: %v %d", created, code)
	}
	it1.Unlock()
	if items, loading, closed := r.Items(nil); len(items) != 2 || loading || closed {
		t.Fatalf("items: %d %v %v", len(items), loading, closed)
	}

	n, ok := r.Unload(0, func(i *item) { i.removed = true })
	if !ok || n != 1 || !it.removed {
		t.Fatalf("unload: %d %v, removed %v", n, ok, it.removed)
	}
	if _, code := r.Serving(k0); code != kerr.NotCoordinator.Code {
		t.Fatalf("after unload: %d", code)
	}
	var unloaded []int32
	r.Close(func(p int32) {
		unloaded = append(unloaded, p)
		r.Unload(p, func(i *item) { i.removed = true })
	})
	if len(unloaded) != 1 || unloaded[0] != 1 || !it1.removed {
		t.Fatalf("close unloaded %v, removed %v", unloaded, it1.removed)
	}
	if _, err := r.Load(context.Background(), 2, 1, "", nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("load after close: %v", err)
	}
}

// TestUnloadWhileLoading: a partition unloaded during its replay does not
// come back when the replay ends.
func TestUnloadWhileLoading(t *testing.T) {
	r := New[string, *item]("test", 1, nil)
	defer r.Close(func(p int32) { r.Unload(p, func(*item) {}) })
	_, err := r.Load(context.Background(), 0, 1, "", func(part *Partition[string]) (map[string]*item, error) {
		r.Unload(0, func(*item) {})
		if part.Ctx.Err() == nil {
			t.Error("the partition's context is not cancelled by the unload")
		}
		return map[string]*item{"k": {part: part}}, nil
	}, nil)
	if !errors.Is(err, ErrUnloaded) {
		t.Fatalf("load: %v", err)
	}
	if items, _, _ := r.Items(nil); len(items) != 0 {
		t.Fatalf("%d items after the unloaded load", len(items))
	}
}
