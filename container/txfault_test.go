package container

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTransactionalListenerFenced: a transactional member whose producer
// is fenced in the middle of a transaction (another producer initializes
// its transactional id, as franz-go's own recovery from an EndTxn whose
// outcome it lost does against an open transaction) goes on with a new
// client: every input still gives exactly one committed output. With
// WithStopContainerWhenFenced, or when fenced again and again without committing,
// the container stops instead, with the fence as its error.
func TestTransactionalListenerFenced(t *testing.T) {
	t.Parallel()
	const n = 200
	// The input whose handler waits while the producer is fenced: the
	// first of the only partition, so that no transaction commits while
	// it has not.
	const gated = 0

	// run starts a transactional listener over n inputs whose handler
	// blocks on the gated input's attempts up to blockAttempts; each time,
	// the test fences the member's producer, then lets the handler go on.
	run := func(t *testing.T, blockAttempts int32, opts ...Option) (e *env, c *Container, logs *lockedBuffer, fences int, calls *sync.Map) {
		e = newEnv(t, map[string]int32{"fence-in": 1, "fence-out": 2})
		var in []*kgo.Record
		for i := range n {
			in = append(in, &kgo.Record{Topic: "fence-in", Value: []byte(strconv.Itoa(i))})
		}
		e.produce(in...)
		tmpl := template.New(e.cl)
		blocked := make(chan struct{})
		release := make(chan struct{})
		calls = &sync.Map{}
		handler := listener.RecordFunc[string](func(ctx context.Context, r *listener.Record[string]) error {
			i, _ := strconv.Atoi(r.Value)
			a, _ := calls.LoadOrStore(i, new(atomic.Int32))
			try := a.(*atomic.Int32).Add(1)
			if _, err := tmpl.Send(ctx, "fence-out", "out-"+r.Value, template.Key(r.Value)); err != nil {
				return err
			}
			if i == gated && try <= blockAttempts {
				select {
				case blocked <- struct{}{}:
					select {
					case <-release:
					case <-ctx.Done():
					}
				case <-ctx.Done():
				}
			}
			return nil
		})
		logs = &lockedBuffer{}
		ep := &listener.Endpoint{ID: "fence", Group: "g-fence", Topics: []string{"fence-in"}, Concurrency: 1,
			Transactional: listener.On, Handler: handler}
		c = e.start(ep, append([]Option{
			WithErrorHandler(&ErrorHandler{BackOff: FixedBackOff{Interval: 10 * time.Millisecond, MaxRetries: 10}}),
			WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))),
		}, opts...)...)
		for fences < int(blockAttempts) {
			select {
			case <-blocked:
			case <-time.After(30 * time.Second):
				if c.Status().State == StateFailed {
					return e, c, logs, fences, calls
				}
				t.Fatalf("the gated handler did not run (fences so far %d); container %v %v\n%s", fences, c.Status().State, c.Status().Err, logs.String())
			}
			fenceTransactionalID(t, e, "kafkaboot-fence-0")
			fences++
			release <- struct{}{}
		}
		return e, c, logs, fences, calls
	}

	t.Run("goes on with a new client", func(t *testing.T) {
		t.Parallel()
		e, c, logs, _, calls := run(t, 1)
		waitFor(t, 60*time.Second, func() bool { return committedSum(e, "g-fence") == n },
			"all %d inputs committed; container %v %v\n%s", n, c.Status().State, c.Status().Err, logs.String())
		if st := c.Status(); st.State != StateRunning {
			t.Fatalf("container %v (%v), want running", st.State, st.Err)
		}
		if !strings.Contains(logs.String(), "producer fenced; going on with a new client") {
			t.Fatalf("the member did not replace its client:\n%s", logs.String())
		}
		out := readCommitted(t, e.addrs, "fence-out", n)
		missing, dups := countOutputs(out, n)
		a, _ := calls.Load(gated)
		t.Logf("fenced once; %d distinct outputs, %d missing, %d duplicated; the gated input's handler ran %d times",
			len(out), missing, dups, a.(*atomic.Int32).Load())
		if missing > 0 || dups > 0 || len(out) != n {
			t.Fatalf("want every output exactly once")
		}
	})

	t.Run("stops when asked", func(t *testing.T) {
		t.Parallel()
		_, c, logs, _, _ := run(t, 1, WithStopContainerWhenFenced())
		waitFor(t, 30*time.Second, func() bool { return c.Status().State == StateFailed },
			"the container to stop; it is %v\n%s", c.Status().State, logs.String())
		if err := c.Status().Err; !isFenced(err) {
			t.Fatalf("container error %v, want the fence", err)
		}
		t.Logf("stopped: %v", c.Status().Err)
	})

	t.Run("stops when fenced again and again", func(t *testing.T) {
		t.Parallel()
		_, c, logs, fences, _ := run(t, maxFences+1)
		waitFor(t, 30*time.Second, func() bool { return c.Status().State == StateFailed },
			"the container to stop after %d fences; it is %v\n%s", fences, c.Status().State, logs.String())
		if err := c.Status().Err; !isFenced(err) {
			t.Fatalf("container error %v, want the fence", err)
		}
		if fences != maxFences+1 {
			t.Fatalf("stopped after %d fences, want %d", fences, maxFences+1)
		}
		t.Logf("stopped after %d fences: %v", fences, c.Status().Err)
	})
}

// fenceTransactionalID initializes id with a producer of its own, which
// fences the producer that had it (and aborts its open transaction), as a
// second instance with the same transactional id would.
func fenceTransactionalID(t *testing.T, e *env, id string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addrs...), kgo.TransactionalID(id),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The first produce initializes the transactional id.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "fence-out", Value: []byte("rogue")}).FirstErr(); err != nil {
		t.Fatalf("the fencing producer: %v", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatalf("the fencing producer's abort: %v", err)
	}
}

// committedSum is the sum of group's committed offsets, -1 on error.
func committedSum(e *env, group string) int64 {
	offs, err := e.adm.FetchOffsets(context.Background(), group)
	if err != nil {
		return -1
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	return sum
}

// readCommitted counts the values a read_committed consumer of topic
// sees, reading until want records came, then a little longer for
// duplicates.
func readCommitted(t *testing.T, addrs []string, topic string, want int) map[string]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.MetadataMinAge(50*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[string]int{}
	total := 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for total < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[string(r.Value)]++; total++ })
	}
	// Anything beyond want would be a duplicate: look a little longer.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	cl.PollFetches(ctx2).EachRecord(func(r *kgo.Record) { got[string(r.Value)]++; total++ })
	return got
}

// countOutputs counts, of the outputs "out-0" to "out-<n-1>", those out
// lacks and those it has more than once.
func countOutputs(out map[string]int, n int) (missing, dups int) {
	for i := range n {
		switch out["out-"+strconv.Itoa(i)] {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
	}
	return missing, dups
}

// TestTransactionalListenerLostEndTxn: the answers to a member's EndTxn
// are lost (the connection breaks after the coordinator committed) until
// franz-go gives up on the request; the transaction is committed, but the
// client does not know it, and franz-go rewinds the member to the offsets
// it last knew to be committed. The member must learn the outcome from
// the coordinator rather than process the transaction's records again:
// every input gives exactly one committed output.
func TestTransactionalListenerLostEndTxn(t *testing.T) {
	t.Parallel()
	const (
		n       = 300
		retries = 2 // the member's request retries: franz-go gives up on the 3rd lost answer
	)
	e := newEnv(t, map[string]int32{"lost-in": 1, "lost-out": 1})
	var in []*kgo.Record
	for i := range n {
		in = append(in, &kgo.Record{Topic: "lost-in", Value: []byte(strconv.Itoa(i))})
	}
	e.produce(in...)
	tmpl := template.New(e.cl)
	handler := listener.RecordFunc[string](func(ctx context.Context, r *listener.Record[string]) error {
		_, err := tmpl.Send(ctx, "lost-out", "out-"+r.Value)
		return err
	})
	drop := &endTxnDropper{}
	logs := &lockedBuffer{}
	ep := &listener.Endpoint{ID: "lost", Group: "g-lost", Topics: []string{"lost-in"}, Concurrency: 1,
		Transactional: listener.On, Handler: handler}
	c := e.start(ep,
		WithMaxPollRecords(50),
		WithClientOpts(kgo.Dialer(drop.dial), kgo.RequestRetries(retries),
			kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond })),
		WithClientLogLevel(kgo.LogLevelInfo),
		WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	waitFor(t, 30*time.Second, func() bool { return committedSum(e, "g-lost") >= 50 }, "a first transaction committed")
	drop.arm(retries + 1)
	waitFor(t, 60*time.Second, func() bool { return committedSum(e, "g-lost") == n },
		"all %d inputs committed; container %v %v\n%s", n, c.Status().State, c.Status().Err, logs.String())
	if d := drop.dropped.Load(); d != retries+1 {
		t.Fatalf("%d EndTxn answers dropped, want %d", d, retries+1)
	}
	if !strings.Contains(logs.String(), "ending the transaction failed") {
		t.Fatalf("the member did not see its EndTxn fail:\n%s", logs.String())
	}
	out := readCommitted(t, e.addrs, "lost-out", n)
	missing, dups := countOutputs(out, n)
	t.Logf("%d EndTxn answers lost; %d distinct outputs, %d missing, %d duplicated", drop.dropped.Load(), len(out), missing, dups)
	if missing > 0 || dups > 0 || len(out) != n {
		t.Fatalf("want every output exactly once\n%s", logs.String())
	}
}

// endTxnDropper makes connections that, while armed, lose the answers to
// EndTxn requests: the request reaches the broker, and the connection
// breaks when its answer comes back.
type endTxnDropper struct {
	left    atomic.Int32 // answers still to drop
	dropped atomic.Int32
}

func (d *endTxnDropper) arm(n int32) { d.left.Store(n) }

func (d *endTxnDropper) dial(ctx context.Context, network, host string) (net.Conn, error) {
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	return &dropConn{Conn: conn, d: d, drop: map[int32]bool{}}, nil
}

// dropConn is a connection of an endTxnDropper. franz-go writes each
// request with one Write (size, API key, version, correlation id, ...);
// Read hands out whole answers, read frame by frame.
type dropConn struct {
	net.Conn
	d       *endTxnDropper
	mu      sync.Mutex
	drop    map[int32]bool // correlation ids whose answers are lost
	pending []byte
}

func (c *dropConn) Write(p []byte) (int, error) {
	if len(p) >= 12 && binary.BigEndian.Uint16(p[4:]) == 26 /* EndTxn */ {
		if c.d.left.Add(-1) >= 0 {
			c.mu.Lock()
			c.drop[int32(binary.BigEndian.Uint32(p[8:]))] = true
			c.mu.Unlock()
		}
	}
	return c.Conn.Write(p)
}

func (c *dropConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		var size [4]byte
		if _, err := io.ReadFull(c.Conn, size[:]); err != nil {
			return 0, err
		}
		frame := make([]byte, 4+binary.BigEndian.Uint32(size[:]))
		copy(frame, size[:])
		if _, err := io.ReadFull(c.Conn, frame[4:]); err != nil {
			return 0, err
		}
		if len(frame) >= 8 {
			c.mu.Lock()
			lost := c.drop[int32(binary.BigEndian.Uint32(frame[4:]))]
			c.mu.Unlock()
			if lost {
				c.d.dropped.Add(1)
				c.Conn.Close()
				return 0, errors.New("test: EndTxn answer lost")
			}
		}
		c.pending = frame
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}
