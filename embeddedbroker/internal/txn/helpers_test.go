package txn

import (
	"context"
	"errors"
	"fmt"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordkey"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const testEpoch = 7 // coordinator epoch the tests load partitions at

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *clock) ms() int64 { return c.Now().UnixMilli() }

// memStore is an in-memory Store. Append fails while fail > 0 (with err,
// or a generic error), and blocks while gate is non-nil until it is
// closed.
type memStore struct {
	mu      sync.Mutex
	recs    []KV
	calls   int
	fail    int
	err     error
	gate    chan struct{}
	entered chan struct{} // if non-nil, receives on every Append call
}

func (s *memStore) Append(ctx context.Context, recs []KV) error {
	s.mu.Lock()
	s.calls++
	gate, entered := s.gate, s.entered
	s.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		if s.err != nil {
			return s.err
		}
		return errors.New("injected store failure")
	}
	s.recs = append(s.recs, recs...)
	return nil
}

func (s *memStore) setFail(n int, err error) {
	s.mu.Lock()
	s.fail, s.err = n, err
	s.mu.Unlock()
}

func (s *memStore) records() []KV {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]KV(nil), s.recs...)
}

// replay replays the stored records.
func (s *memStore) replay(fn func(key, value []byte) error) error {
	for _, kv := range s.records() {
		if err := fn(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	return nil
}

// decoded is one stored record, decoded.
type decoded struct {
	id    string
	value *kmsg.TxnMetadataValue // nil for a tombstone
}

func decodeAll(t *testing.T, recs []KV) []decoded {
	t.Helper()
	out := make([]decoded, 0, len(recs))
	for _, kv := range recs {
		var k kmsg.TxnMetadataKey
		if err := k.ReadFrom(kv.Key); err != nil {
			t.Fatalf("decoding key %x: %v", kv.Key, err)
		}
		if k.Version != 0 {
			t.Fatalf("key version %d, want 0", k.Version)
		}
		d := decoded{id: k.TransactionalID}
		if kv.Value != nil {
			v := new(kmsg.TxnMetadataValue)
			if err := v.ReadFrom(kv.Value); err != nil {
				t.Fatalf("decoding value: %v", err)
			}
			if v.Version != 0 {
				t.Fatalf("value version %d, want 0", v.Version)
			}
			d.value = v
		}
		out = append(out, d)
	}
	return out
}

// statesOf returns the states the store recorded for the ID, in order.
func statesOf(t *testing.T, s *memStore, id string) []string {
	t.Helper()
	var out []string
	for _, d := range decodeAll(t, s.records()) {
		if d.id != id {
			continue
		}
		if d.value == nil {
			out = append(out, "tombstone")
			continue
		}
		out = append(out, d.value.State.String())
	}
	return out
}

// fakeMarkers is a MarkerWriter recording its calls. It returns the errors
// of errs first, one per call, then fails while fail > 0, and blocks while
// gate is non-nil until it is closed.
type fakeMarkers struct {
	mu    sync.Mutex
	calls []Markers
	errs  []error
	fail  int
	gate  chan struct{}
}

func (m *fakeMarkers) WriteMarkers(ctx context.Context, mk Markers) error {
	m.mu.Lock()
	m.calls = append(m.calls, mk)
	gate := m.gate
	if len(m.errs) > 0 {
		err := m.errs[0]
		m.errs = m.errs[1:]
		m.mu.Unlock()
		return err
	}
	fail := m.fail > 0
	if fail {
		m.fail--
	}
	m.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail {
		return errors.New("injected marker failure")
	}
	return nil
}

func (m *fakeMarkers) Calls() []Markers {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Markers(nil), m.calls...)
}

// env is a coordinator with fakes.
type env struct {
	t       *testing.T
	c       *Coordinator
	clock   *clock
	markers *fakeMarkers
	stores  map[int32]*memStore
	mu      sync.Mutex
	nextPID int64
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, clock: newClock(), markers: &fakeMarkers{}, stores: make(map[int32]*memStore), nextPID: 1000}
	cfg := Config{
		NumPartitions: 4,
		AbortInterval: time.Hour, // tests drive abortTimedOut themselves
		AllocateProducerID: func(context.Context) (int64, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.nextPID++
			return e.nextPID, nil
		},
		Markers:      e.markers,
		RetryBackoff: time.Millisecond,
		Now:          e.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	e.c = New(cfg, slog.New(slog.DiscardHandler))
	t.Cleanup(e.c.Close)
	return e
}

// store returns the store of partition p, creating it.
func (e *env) store(p int32) *memStore {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stores[p]
	if s == nil {
		s = &memStore{}
		e.stores[p] = s
	}
	return s
}

// load loads partition p from its store.
func (e *env) load(p int32) {
	e.t.Helper()
	s := e.store(p)
	if err := e.c.Load(context.Background(), p, testEpoch, s, s.replay); err != nil {
		e.t.Fatalf("Load(%d): %v", p, err)
	}
}

// loadAll loads every partition.
func (e *env) loadAll() {
	e.t.Helper()
	for p := int32(0); p < e.c.cfg.NumPartitions; p++ {
		e.load(p)
	}
}

func (e *env) storeFor(id string) *memStore { return e.store(e.c.PartitionFor(id)) }

func (e *env) do(req kmsg.Request) kmsg.Response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := e.c.Handle(ctx, req)
	if resp == nil {
		e.t.Fatalf("Handle(%T) returned nil", req)
	}
	return resp
}

func (e *env) initReq(id string, timeoutMs int32, version int16) *kmsg.InitProducerIDResponse {
	e.t.Helper()
	r := kmsg.NewPtrInitProducerIDRequest()
	r.Version = version
	r.TransactionalID = &id
	r.TransactionTimeoutMillis = timeoutMs
	return e.do(r).(*kmsg.InitProducerIDResponse)
}

// init initializes the ID and fails the test unless it succeeds.
func (e *env) init(id string) (int64, int16) {
	e.t.Helper()
	resp := e.initReq(id, 60_000, 4)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		e.t.Fatalf("InitProducerID(%s): %v", id, err)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func (e *env) add(version int16, id string, pid int64, epoch int16, parts map[string][]int32) *kmsg.AddPartitionsToTxnResponse {
	e.t.Helper()
	r := kmsg.NewPtrAddPartitionsToTxnRequest()
	r.Version = version
	r.TransactionalID = id
	r.ProducerID = pid
	r.ProducerEpoch = epoch
	for _, topic := range sortedKeys(parts) {
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic = topic
		rt.Partitions = parts[topic]
		r.Topics = append(r.Topics, rt)
	}
	return e.do(r).(*kmsg.AddPartitionsToTxnResponse)
}

// addCode adds the partitions (v3) and returns the code all partitions got,
// failing the test if they differ.
func (e *env) addCode(id string, pid int64, epoch int16, parts map[string][]int32) error {
	e.t.Helper()
	return e.addCodeV(3, id, pid, epoch, parts)
}

func (e *env) addCodeV(version int16, id string, pid int64, epoch int16, parts map[string][]int32) error {
	e.t.Helper()
	resp := e.add(version, id, pid, epoch, parts)
	code := int16(-2)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if code != -2 && rp.ErrorCode != code {
				e.t.Fatalf("AddPartitionsToTxn: mixed codes in %+v", resp.Topics)
			}
			code = rp.ErrorCode
		}
	}
	if code == -2 {
		e.t.Fatalf("AddPartitionsToTxn: no partitions in response")
	}
	return kerr.ErrorForCode(code)
}

func (e *env) addOffsets(version int16, id string, pid int64, epoch int16, group string) error {
	e.t.Helper()
	r := kmsg.NewPtrAddOffsetsToTxnRequest()
	r.Version = version
	r.TransactionalID = id
	r.ProducerID = pid
	r.ProducerEpoch = epoch
	r.Group = group
	return kerr.ErrorForCode(e.do(r).(*kmsg.AddOffsetsToTxnResponse).ErrorCode)
}

func (e *env) end(version int16, id string, pid int64, epoch int16, commit bool) error {
	e.t.Helper()
	r := kmsg.NewPtrEndTxnRequest()
	r.Version = version
	r.TransactionalID = id
	r.ProducerID = pid
	r.ProducerEpoch = epoch
	r.Commit = commit
	return kerr.ErrorForCode(e.do(r).(*kmsg.EndTxnResponse).ErrorCode)
}

func (e *env) describe(id string) kmsg.DescribeTransactionsResponseTransactionState {
	e.t.Helper()
	r := kmsg.NewPtrDescribeTransactionsRequest()
	r.TransactionalIDs = []string{id}
	resp := e.do(r).(*kmsg.DescribeTransactionsResponse)
	if len(resp.TransactionStates) != 1 {
		e.t.Fatalf("DescribeTransactions: %d states", len(resp.TransactionStates))
	}
	return resp.TransactionStates[0]
}

// waitState polls until the ID is in the state with nothing pending.
func (e *env) waitState(id, state string) kmsg.DescribeTransactionsResponseTransactionState {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := e.describe(id)
		if st.ErrorCode == 0 && st.State == state && !e.pending(id) {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: state %q (error %v), want %q", id, st.State, kerr.ErrorForCode(st.ErrorCode), state)
		}
		time.Sleep(time.Millisecond) // polling a condition, not waiting for state
	}
}

// pending reports whether the ID has a transition in flight.
func (e *env) pending(id string) bool {
	t, _ := e.c.acquire(id)
	if t == nil {
		return false
	}
	defer t.mu.Unlock()
	return t.pending != nil
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func wantErr(t *testing.T, what string, got error, want error) {
	t.Helper()
	if !errors.Is(got, want) && !(got == nil && want == nil) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// idsOnPartition returns n transactional IDs that hash to partition p.
func idsOnPartition(p, numPartitions int32, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		id := fmt.Sprintf("txn-%d", i)
		if coordkey.Partition(id, numPartitions) == p {
			out = append(out, id)
		}
	}
	return out
}
