package txn

import (
	"context"
	"errors"
	"fmt"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordkey"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordruntime"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPartitionFor(t *testing.T) {
	// Expected values are Kafka's: abs(String.hashCode) % n, with Utils.abs.
	for _, tc := range []struct {
		id   string
		n    int32
		want int32
	}{
		{"hello", 50, 22}, // "hello".hashCode() = 99162322
		{"", 50, 0},
		{"polygenelubricants", 50, 0},   // hashCode = MinInt32: Kafka's Utils.abs gives 0
		{"🙂", 50, 15},                   // UTF-16 D83D DE42: 31*0xD83D + 0xDE42 = 1772965
		{"grp", 50, 29},                 // "grp".hashCode() = 102629
		{"my-transactional-id", 50, 46}, // hashCode = -959806496: abs, not & 0x7fffffff (which gives 2)
	} {
		if got := coordkey.Partition(tc.id, tc.n); got != tc.want {
			t.Errorf("PartitionFor(%q, %d) = %d, want %d", tc.id, tc.n, got, tc.want)
		}
	}
	c := New(Config{NumPartitions: 3}, nil)
	defer c.Close()
	if got, want := c.PartitionFor("hello"), coordkey.Partition("hello", 3); got != want {
		t.Errorf("c.PartitionFor = %d, want %d", got, want)
	}
}

func TestHandles(t *testing.T) {
	for _, k := range []kmsg.Key{kmsg.AddPartitionsToTxn, kmsg.AddOffsetsToTxn, kmsg.EndTxn, kmsg.DescribeTransactions, kmsg.ListTransactions} {
		if !Handles(int16(k)) {
			t.Errorf("Handles(%v) = false", k)
		}
	}
	for _, k := range []kmsg.Key{kmsg.InitProducerID, kmsg.Produce, kmsg.JoinGroup, kmsg.TxnOffsetCommit} {
		if Handles(int16(k)) {
			t.Errorf("Handles(%v) = true", k)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, m := range []meta{
		{producerID: 5, epoch: 3, timeoutMs: 60000, state: stateEmpty, parts: partSet{}, startMs: -1, lastUpdateMs: 100},
		{producerID: 5, epoch: 3, timeoutMs: 60000, state: stateOngoing, startMs: 90, lastUpdateMs: 100,
			parts: partSet{"b": {2: {}, 0: {}}, "a": {1: {}}}},
		{producerID: 6, epoch: 32767, timeoutMs: 1, state: statePrepareAbort, startMs: 1, lastUpdateMs: 2,
			parts: partSet{"__consumer_offsets": {49: {}}}},
		{producerID: 7, epoch: 0, timeoutMs: 900000, state: stateCompleteCommit, parts: partSet{}, startMs: 5, lastUpdateMs: 6},
	} {
		kv := m.record("my-txn")
		var k kmsg.TxnMetadataKey
		if err := k.ReadFrom(kv.Key); err != nil {
			t.Fatal(err)
		}
		if k.Version != 0 || k.TransactionalID != "my-txn" {
			t.Errorf("key %+v", k)
		}
		var v kmsg.TxnMetadataValue
		if err := v.ReadFrom(kv.Value); err != nil {
			t.Fatal(err)
		}
		if v.Version != 0 || v.ProducerID != m.producerID || v.ProducerEpoch != m.epoch || v.TimeoutMillis != m.timeoutMs ||
			v.State != m.state || v.StartTimestamp != m.startMs || v.LastUpdateTimestamp != m.lastUpdateMs {
			t.Errorf("value %+v for %+v", v, m)
		}
		if m.state == stateEmpty && v.Topics != nil {
			t.Errorf("Empty record has topics %v, want null", v.Topics)
		}
		if m.state != stateEmpty && v.Topics == nil {
			t.Errorf("%v record has null topics", m.state)
		}
		got := map[string][]int32{}
		for _, vt := range v.Topics {
			got[vt.Topic] = vt.Partitions
		}
		if want := m.parts.sorted(); !reflect.DeepEqual(got, want) {
			t.Errorf("topics %v, want %v", got, want)
		}
		// Replaying the record gives back the state.
		ld := &loader{c: New(Config{}, nil), part: &partition{}, txns: map[string]*txn{}}
		ld.c.Close()
		if err := ld.apply(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
		tx := ld.txns["my-txn"]
		if tx == nil || tx.producerID != m.producerID || tx.epoch != m.epoch || tx.state != m.state ||
			!reflect.DeepEqual(tx.parts.sorted(), m.parts.sorted()) || tx.startMs != m.startMs || tx.timeoutMs != m.timeoutMs {
			t.Errorf("replayed %+v, want %+v", tx, m)
		}
	}
}

func TestHappyPath(t *testing.T) {
	for _, commit := range []bool{true, false} {
		name := map[bool]string{true: "commit", false: "abort"}[commit]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.loadAll()
			const id = "happy"
			t0 := e.clock.ms()
			pid, epoch := e.init(id)
			if pid != 1001 || epoch != 0 {
				t.Fatalf("InitProducerID = %d/%d, want 1001/0", pid, epoch)
			}
			e.clock.advance(time.Second)
			t1 := e.clock.ms()
			wantErr(t, "add", e.addCode(id, pid, epoch, map[string][]int32{"t1": {0, 1}, "t2": {0}}), nil)
			wantErr(t, "add again (subset)", e.addCode(id, pid, epoch, map[string][]int32{"t1": {1}}), nil)
			e.clock.advance(time.Second)
			wantErr(t, "add offsets", e.addOffsets(3, id, pid, epoch, "grp"), nil)
			st := e.describe(id)
			offp := int32(29) // PartitionFor("grp", 50), see TestPartitionFor
			wantParts := map[string][]int32{"t1": {0, 1}, "t2": {0}, "__consumer_offsets": {offp}}
			if st.State != "Ongoing" || st.StartTimestamp != t1 || st.ProducerID != pid || st.TimeoutMillis != 60000 {
				t.Fatalf("describe: %+v", st)
			}
			got := map[string][]int32{}
			for _, dt := range st.Topics {
				got[dt.Topic] = dt.Partitions
			}
			if !reflect.DeepEqual(got, wantParts) {
				t.Fatalf("describe partitions %v, want %v", got, wantParts)
			}

			e.clock.advance(time.Second)
			wantErr(t, "end", e.end(3, id, pid, epoch, commit), nil)
			final := "CompleteAbort"
			prepare := "PrepareAbort"
			if commit {
				final, prepare = "CompleteCommit", "PrepareCommit"
			}
			st = e.waitState(id, final)
			if len(st.Topics) != 0 {
				t.Fatalf("completed transaction still has partitions %v", st.Topics)
			}
			calls := e.markers.Calls()
			want := Markers{ProducerID: pid, ProducerEpoch: epoch, Commit: commit, CoordinatorEpoch: testEpoch, Partitions: wantParts}
			if len(calls) != 1 || !reflect.DeepEqual(calls[0], want) {
				t.Fatalf("markers %+v, want [%+v]", calls, want)
			}

			// The persisted records: one per state change.
			states := statesOf(t, e.storeFor(id), id)
			wantStates := []string{"Empty", "Ongoing", "Ongoing", prepare, final}
			if !slices.Equal(states, wantStates) {
				t.Fatalf("records %v, want %v", states, wantStates)
			}
			recs := decodeAll(t, e.storeFor(id).records())
			if recs[0].value.Topics != nil || recs[0].value.StartTimestamp != -1 || recs[0].value.LastUpdateTimestamp != t0 {
				t.Errorf("Empty record %+v", recs[0].value)
			}
			for _, r := range recs[1:4] {
				if r.value.StartTimestamp != t1 || r.value.ProducerID != pid || r.value.ProducerEpoch != epoch || r.value.TimeoutMillis != 60000 {
					t.Errorf("record %+v", r.value)
				}
			}
			if n := len(recs[3].value.Topics); n != 3 {
				t.Errorf("prepare record has %d topics, want 3", n)
			}
			if n := len(recs[4].value.Topics); n != 0 || recs[4].value.Topics == nil {
				t.Errorf("complete record topics %v, want empty", recs[4].value.Topics)
			}

			// Next transaction on the same producer: starts anew.
			e.clock.advance(time.Second)
			wantErr(t, "add next", e.addCode(id, pid, epoch, map[string][]int32{"t3": {0}}), nil)
			st = e.describe(id)
			if st.State != "Ongoing" || st.StartTimestamp != e.clock.ms() || len(st.Topics) != 1 {
				t.Fatalf("next transaction: %+v", st)
			}
		})
	}
}

func TestFencing(t *testing.T) {
	e := newEnv(t, nil)
	e.loadAll()
	const id = "fence"
	pid, epoch := e.init(id)
	wantErr(t, "add", e.addCode(id, pid, epoch, map[string][]int32{"t": {0, 1}}), nil)

	// A second producer with the same ID: the ongoing transaction is
	// aborted with a bumped epoch and the client told to retry.
	resp := e.initReq(id, 60_000, 4)
	wantErr(t, "second init", kerr.ErrorForCode(resp.ErrorCode), kerr.ConcurrentTransactions)
	st := e.waitState(id, "CompleteAbort")
	if st.ProducerEpoch != epoch+1 {
		t.Fatalf("epoch after fence %d, want %d", st.ProducerEpoch, epoch+1)
	}
	calls := e.markers.Calls()
	if len(calls) != 1 || calls[0].Commit || calls[0].ProducerEpoch != epoch+1 || calls[0].ProducerID != pid {
		t.Fatalf("markers %+v", calls)
	}
	if got, want := statesOf(t, e.storeFor(id), id), []string{"Empty", "Ongoing", "PrepareAbort", "CompleteAbort"}; !slices.Equal(got, want) {
		t.Fatalf("records %v, want %v", got, want)
	}
	pid2, epoch2 := e.init(id)
	if pid2 != pid || epoch2 != epoch+2 {
		t.Fatalf("retried init = %d/%d, want %d/%d", pid2, epoch2, pid, epoch+2)
	}

	// The old producer is fenced everywhere.
	wantErr(t, "old add", e.addCode(id, pid, epoch, map[string][]int32{"t": {0}}), kerr.ProducerFenced)
	wantErr(t, "old add v1", e.addCodeV(1, id, pid, epoch, map[string][]int32{"t": {0}}), kerr.InvalidProducerEpoch)
	wantErr(t, "old add offsets", e.addOffsets(2, id, pid, epoch, "g"), kerr.ProducerFenced)
	wantErr(t, "old add offsets v1", e.addOffsets(1, id, pid, epoch, "g"), kerr.InvalidProducerEpoch)
	wantErr(t, "old end", e.end(3, id, pid, epoch, true), kerr.ProducerFenced)
	wantErr(t, "old end v1", e.end(1, id, pid, epoch, true), kerr.InvalidProducerEpoch)
	for _, tc := range []struct {
		version int16
		want    error
	}{{4, kerr.ProducerFenced}, {3, kerr.InvalidProducerEpoch}} {
		r := kmsg.NewPtrInitProducerIDRequest()
		r.Version = tc.version
		r.TransactionalID = kmsg.StringPtr(id)
		r.TransactionTimeoutMillis = 60_000
		r.ProducerID, r.ProducerEpoch = pid, epoch
		got := kerr.ErrorForCode(e.do(r).(*kmsg.InitProducerIDResponse).ErrorCode)
		wantErr(t, "old KIP-360 init", got, tc.want)
	}
	// The new producer works.
	wantErr(t, "new add", e.addCode(id, pid2, epoch2, map[string][]int32{"t": {0}}), nil)
	wantErr(t, "new end", e.end(3, id, pid2, epoch2, true), nil)
	e.waitState(id, "CompleteCommit")
}

func TestInitProducerIDValidation(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxTimeout = time.Minute })
	e.loadAll()
	for _, tc := range []struct {
		name    string
		id      string
		timeout int32
		version int16
		pid     int64
		epoch   int16
		want    error
	}{
		{"empty id", "", 1000, 4, -1, -1, kerr.InvalidRequest},
		{"zero timeout", "x", 0, 4, -1, -1, kerr.InvalidTransactionTimeout},
		{"too long timeout", "x", 60_001, 4, -1, -1, kerr.InvalidTransactionTimeout},
		{"pid without epoch", "x", 1000, 3, 5, -1, kerr.InvalidRequest},
		{"epoch without pid", "x", 1000, 3, -1, 5, kerr.InvalidRequest},
		{"max timeout", "x", 60_000, 4, -1, -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kmsg.NewPtrInitProducerIDRequest()
			r.Version = tc.version
			r.TransactionalID = kmsg.StringPtr(tc.id)
			r.TransactionTimeoutMillis = tc.timeout
			r.ProducerID, r.ProducerEpoch = tc.pid, tc.epoch
			resp := e.do(r).(*kmsg.InitProducerIDResponse)
			wantErr(t, "init", kerr.ErrorForCode(resp.ErrorCode), tc.want)
			if tc.want != nil && (resp.ProducerID != -1 || resp.ProducerEpoch != -1) {
				t.Errorf("error response with pid %d/%d", resp.ProducerID, resp.ProducerEpoch)
			}
		})
	}
	if e.c.Handle(context.Background(), kmsg.NewPtrInitProducerIDRequest()) != nil {
		t.Error("Handle served an InitProducerID without transactional ID")
	}
}

func TestInitProducerIDKIP360(t *testing.T) {
	e := newEnv(t, nil)
	e.loadAll()
	const id = "kip360"
	pid, epoch := e.init(id)
	bump := func(p int64, ep int16) (*kmsg.InitProducerIDResponse, error) {
		r := kmsg.NewPtrInitProducerIDRequest()
		r.Version = 4
		r.TransactionalID = kmsg.StringPtr(id)
		r.TransactionTimeoutMillis = 60_000
		r.ProducerID, r.ProducerEpoch = p, ep
		resp := e.do(r).(*kmsg.InitProducerIDResponse)
		return resp, kerr.ErrorForCode(resp.ErrorCode)
	}
	resp, err := bump(pid, epoch)
	wantErr(t, "bump", err, nil)
	if resp.ProducerID != pid || resp.ProducerEpoch != epoch+1 {
		t.Fatalf("bump = %d/%d", resp.ProducerID, resp.ProducerEpoch)
	}
	// A retry of the same bump (the answer was lost) gets the same epoch.
	resp, err = bump(pid, epoch)
	wantErr(t, "retried bump", err, nil)
	if resp.ProducerID != pid || resp.ProducerEpoch != epoch+1 {
		t.Fatalf("retried bump = %d/%d", resp.ProducerID, resp.ProducerEpoch)
	}
	// Another producer ID: fenced.
	_, err = bump(pid+100, 0)
	wantErr(t, "other pid", err, kerr.ProducerFenced)
	// An unknown ID with a producer ID (the coordinator lost it): new state.
	r := kmsg.NewPtrInitProducerIDRequest()
	r.Version = 4
	r.TransactionalID = kmsg.StringPtr("fresh")
	r.TransactionTimeoutMillis = 60_000
	r.ProducerID, r.ProducerEpoch = 77, 3
	ir := e.do(r).(*kmsg.InitProducerIDResponse)
	if ir.ErrorCode != 0 || ir.ProducerEpoch != 0 {
		t.Fatalf("fresh KIP-360 init: %+v", ir)
	}
}

func TestConcurrentTransactions(t *testing.T) {
	e := newEnv(t, nil)
	e.loadAll()
	gate := make(chan struct{})
	e.markers.gate = gate
	const id = "conc"
	pid, epoch := e.init(id)
	wantErr(t, "add", e.addCode(id, pid, epoch, map[string][]int32{"t": {0}}), nil)
	wantErr(t, "commit", e.end(3, id, pid, epoch, true), nil)
	waitFor(t, "marker write", func() bool { return len(e.markers.Calls()) == 1 })

	if st := e.describe(id); st.State != "PrepareCommit" {
		t.Fatalf("state %s while markers are written", st.State)
	}
	for _, tc := range []struct {
		name string
		do   func() error
		want error
	}{
		{"add", func() error { return e.addCode(id, pid, epoch, map[string][]int32{"t": {1}}) }, kerr.ConcurrentTransactions},
		{"add offsets", func() error { return e.addOffsets(3, id, pid, epoch, "g") }, kerr.ConcurrentTransactions},
		{"commit again", func() error { return e.end(3, id, pid, epoch, true) }, kerr.ConcurrentTransactions},
		{"abort", func() error { return e.end(3, id, pid, epoch, false) }, kerr.ConcurrentTransactions},
		{"init", func() error { return kerr.ErrorForCode(e.initReq(id, 60_000, 4).ErrorCode) }, kerr.ConcurrentTransactions},
	} {
		wantErr(t, tc.name, tc.do(), tc.want)
	}
	close(gate)
	e.waitState(id, "CompleteCommit")
	wantErr(t, "add after completion", e.addCode(id, pid, epoch, map[string][]int32{"t": {1}}), nil)
}

func TestConcurrentTransactionsWhilePrepareAbort(t *testing.T) {
	// Without a pending transition (as after a load), PrepareAbort answers
	// INVALID_TXN_STATE to a commit and CONCURRENT_TRANSACTIONS to an abort.
	e := newEnv(t, nil)
	e.loadAll()
	const id = "pa"
	pid, epoch := e.init(id)
	tx, _ := e.c.acquire(id)
	tx.state = statePrepareAbort
	tx.mu.Unlock()
	wantErr(t, "commit", e.end(3, id, pid, epoch, true), kerr.InvalidTxnState)
	wantErr(t, "abort", e.end(3, id, pid, epoch, false), kerr.ConcurrentTransactions)
	wantErr(t, "add", e.addCode(id, pid, epoch, map[string][]int32{"t": {0}}), kerr.ConcurrentTransactions)
	wantErr(t, "init", kerr.ErrorForCode(e.initReq(id, 1000, 4).ErrorCode), kerr.ConcurrentTransactions)
}

func TestEndTxnStates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(e *env, id string, pid int64, epoch int16) // after init
		pid    int64                                           // 0: the producer's
		commit bool
		want   error
	}{
		{"empty commit", nil, 0, true, kerr.InvalidTxnState},
		{"empty abort", nil, 0, false, kerr.InvalidTxnState},
		{"retried commit", committed(true), 0, true, nil},
		{"abort after commit", committed(true), 0, false, kerr.InvalidTxnState},
		{"retried abort", committed(false), 0, false, nil},
		{"commit after abort", committed(false), 0, true, kerr.InvalidTxnState},
		{"wrong producer id", nil, 999, true, kerr.InvalidProducerIDMapping},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.loadAll()
			const id = "end"
			pid, epoch := e.init(id)
			if tc.setup != nil {
				tc.setup(e, id, pid, epoch)
			}
			if tc.pid != 0 {
				pid = tc.pid
			}
			n := len(e.storeFor(id).records())
			wantErr(t, "end", e.end(3, id, pid, epoch, tc.commit), tc.want)
			if got := len(e.storeFor(id).records()); got != n {
				t.Errorf("EndTxn wrote %d records", got-n)
			}
		})
	}
	e := newEnv(t, nil)
	e.loadAll()
	wantErr(t, "unknown id", e.end(3, "nope", 1, 0, true), kerr.InvalidProducerIDMapping)
	wantErr(t, "empty id", e.end(3, "", 1, 0, true), kerr.InvalidRequest)
	wantErr(t, "unknown id add", e.addCode("nope", 1, 0, map[string][]int32{"t": {0}}), kerr.InvalidProducerIDMapping)
}

func committed(commit bool) func(e *env, id string, pid int64, epoch int16) {
	return func(e *env, id string, pid int64, epoch int16) {
		e.t.Helper()
		wantErr(e.t, "add", e.addCode(id, pid, epoch, map[string][]int32{"t": {0}}), nil)
		wantErr(e.t, "end", e.end(3, id, pid, epoch, commit), nil)
		if commit {
			e.waitState(id, "CompleteCommit")
		} else {
			e.waitState(id, "CompleteAbort")
		}
	}
}

func TestTimeoutAbort(t *testing.T) {
	e := newEnv(t, nil)
	e.loadAll()
	const id = "slow"
	resp := e.initReq(id, 10_000, 4)
	pid, epoch := resp.ProducerID, resp.ProducerEpoch
	wantErr(t, "add", e.addCode(id, pid, epoch, map[string][]int32{"t": {3}}), nil)

	e.clock.advance(10 * time.Second) // exactly the timeout: not yet expired
	e.c.abortTimedOut()
	if st := e.describe(id); st.State != "Ongoing" || e.pending(id) {
		t.Fatalf("aborted at the timeout: %+v", st)
	}
	e.clock.advance(time.Millisecond)
	e.c.abortTimedOut()
	st := e.waitState(id, "CompleteAbort")
	if st.ProducerEpoch != epoch+1 {
		t.Fatalf("epoch %d after timeout abort, want %d", st.ProducerEpoch, epoch+1)
	}
	calls := e.markers.Calls()
	want := Markers{ProducerID: pid, ProducerEpoch: epoch + 1, CoordinatorEpoch: testEpoch, Partitions: map[string][]int32{"t": {3}}}
	if len(calls) != 1 || !reflect.DeepEqual(calls[0], want) {
		t.Fatalf("markers %+v, want %+v", calls, want)
	}
	if got, want := statesOf(t, e.storeFor(id), id), []string{"Empty", "Ongoing", "PrepareAbort", "CompleteAbort"}; !slices.Equal(got, want) {
		t.Fatalf("records %v, want %v", got, want)
	}
	wantErr(t, "commit after timeout", e.end(3, id, pid, epoch, true), kerr.ProducerFenced)
	wantErr(t, "add after timeout", e.addCode(id, pid, epoch, map[string][]int32{"t": {3}}), kerr.ProducerFenced)
	e.c.abortTimedOut() // nothing more to abort
	if n := len(e.markers.Calls()); n != 1 {
		t.Fatalf("%d marker calls", n)
	}
}

func TestAbortLoopRuns(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AbortInterval = time.Millisecond })
	e.loadAll()
	resp := e.initReq("loop", 1000, 4)
	wantErr(t, "add", e.addCode("loop", resp.ProducerID, resp.ProducerEpoch, map[string][]int32{"t": {0}}), nil)
	e.clock.advance(2 * time.Second)
	e.waitState("loop", "CompleteAbort")
}

func TestMarkerRetry(t *testing.T) {
	e := newEnv(t, nil)
	e.loadAll()
	e.markers.fail = 3
	const id = "retry"
	pid, epoch := e.init(id)
	wantErr(t, "add", e.addCode(id, pid, epoch, map[string][]int32{"t": {0}}), nil)
	wantErr(t, "commit", e.end(3, id, pid, epoch, true), nil)
	e.waitState(id, "CompleteCommit")
	calls := e.markers.Calls()
	if len(calls) != 4 {
		t.Fatalf("%d marker calls, want 4", len(calls))
	}
	for _, c := range calls {
		if !reflect.DeepEqual(c, calls[0]) || !c.Commit {
			t.Fatalf("marker calls differ: %+v", calls)
		}
	}
}

// TestMarkerPartialRetry: after a marker write that failed on some
// partitions only, just those are retried, and those refused as fenced
// (the producer or coordinator epoch moved on) are given up.
func TestMarkerPartialRetry(t *testing.T) {
	e := newEnv(t, nil)
	e.loadAll()
	e.markers.errs = []error{PartitionErrors{
		"t": {1: kerr.NotLeaderForPartition},
		"u": {0: fmt.Errorf("on node 2: %w", kerr.InvalidProducerEpoch)},
	}}
	const id = "partial"
	pid, epoch := e.init(id)
	wantErr(t, "add", e.addCode(id, pid, epoch, map[string][]int32{"t": {0, 1}, "u": {0}}), nil)
	wantErr(t, "commit", e.end(3, id, pid, epoch, true), nil)
	e.waitState(id, "CompleteCommit")
	calls := e.markers.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d marker calls, want 2: %+v", len(calls), calls)
	}
	if want := map[string][]int32{"t": {0, 1}, "u": {0}}; !reflect.DeepEqual(calls[0].Partitions, want) {
		t.Fatalf("first call %v, want %v", calls[0].Partitions, want)
	}
	if want := map[string][]int32{"t": {1}}; !reflect.DeepEqual(calls[1].Partitions, want) {
		t.Fatalf("retry %v, want %v", calls[1].Partitions, want)
	}
	if s := (PartitionErrors{"t": {1: kerr.NotLeaderForPartition}}).Error(); !strings.Contains(s, "t[1]") {
		t.Fatalf("PartitionErrors.Error() = %q", s)
	}
}

// TestIDExpiration: a transactional ID without a transaction in progress
// is forgotten after IDExpiration without a change (a tombstone is written
// and survives a reload), a more recently used one is not, and an expired
// ID starts afresh with a new producer ID.
func TestIDExpiration(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.IDExpiration = time.Hour })
	e.loadAll()
	pid, epoch := e.init("idle")
	wantErr(t, "add", e.addCode("idle", pid, epoch, map[string][]int32{"t": {0}}), nil)
	wantErr(t, "commit", e.end(3, "idle", pid, epoch, true), nil)
	e.waitState("idle", "CompleteCommit")
	e.clock.advance(45 * time.Minute)
	e.init("fresh")
	e.clock.advance(20 * time.Minute)
	e.c.abortTimedOut()
	deadline := time.Now().Add(5 * time.Second)
	for e.describe("idle").ErrorCode != kerr.TransactionalIDNotFound.Code {
		if time.Now().After(deadline) {
			t.Fatalf("idle ID not expired: %+v", e.describe("idle"))
		}
		time.Sleep(time.Millisecond) // polling a condition
	}
	if st := e.describe("fresh"); st.ErrorCode != 0 || st.State != "Empty" {
		t.Fatalf("fresh ID: %+v", st)
	}
	if got := statesOf(t, e.storeFor("idle"), "idle"); got[len(got)-1] != "tombstone" {
		t.Fatalf("idle records %v, want a final tombstone", got)
	}
	p := e.c.PartitionFor("idle")
	e.c.Unload(p)
	if err := e.c.Load(context.Background(), p, testEpoch+1, e.store(p), e.store(p).replay); err != nil {
		t.Fatal(err)
	}
	if st := e.describe("idle"); st.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("idle after reload: %+v", st)
	}
	if p2, e2 := e.init("idle"); p2 == pid || e2 != 0 {
		t.Fatalf("expired ID restarted with producer %d epoch %d, want a new producer at epoch 0 (was %d)", p2, e2, pid)
	}
}

func TestStoreFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"generic", errors.New("disk on fire"), kerr.CoordinatorNotAvailable},
		{"not leader", kerr.NotLeaderForPartition, kerr.NotCoordinator},
		{"not enough replicas", kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable},
		{"timeout", kerr.RequestTimedOut, kerr.CoordinatorNotAvailable},
		{"too large", kerr.MessageTooLarge, kerr.UnknownServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.loadAll()
			const id = "sf"
			pid, epoch := e.init(id)
			s := e.storeFor(id)
			s.setFail(1, tc.err)
			wantErr(t, "add", e.addCode(id, pid, epoch, map[string][]int32{"t": {0}}), tc.want)
			if st := e.describe(id); st.State != "Empty" || len(st.Topics) != 0 || e.pending(id) {
				t.Fatalf("state after failed write: %+v", st)
			}
			wantErr(t, "retried add", e.addCode(id, pid, epoch, map[string][]int32{"t": {0}}), nil)
		})
	}

	t.Run("init", func(t *testing.T) {
		e := newEnv(t, nil)
		e.loadAll()
		e.storeFor("i").setFail(1, nil)
		wantErr(t, "init", kerr.ErrorForCode(e.initReq("i", 1000, 4).ErrorCode), kerr.CoordinatorNotAvailable)
		pid, epoch := e.init("i")
		if pid != 1001 || epoch != 0 {
			t.Fatalf("init after failure = %d/%d, want 1001/0", pid, epoch)
		}
	})

	t.Run("prepare and complete", func(t *testing.T) {
		e := newEnv(t, nil)
		e.loadAll()
		const id = "pc"
		pid, epoch := e.init(id)
		wantErr(t, "add", e.addCode(id, pid, epoch, map[string][]int32{"t": {0}}), nil)
		s := e.storeFor(id)
		s.setFail(1, nil)
		wantErr(t, "commit", e.end(3, id, pid, epoch, true), kerr.CoordinatorNotAvailable)
		if st := e.describe(id); st.State != "Ongoing" || len(e.markers.Calls()) != 0 {
			t.Fatalf("after failed prepare: %+v", st)
		}
		// The completion record is retried until written.
		gate := make(chan struct{})
		e.markers.gate = gate
		wantErr(t, "commit", e.end(3, id, pid, epoch, true), nil)
		s.setFail(3, nil)
		close(gate)
		e.waitState(id, "CompleteCommit")
		if got, want := statesOf(t, s, id), []string{"Empty", "Ongoing", "PrepareCommit", "CompleteCommit"}; !slices.Equal(got, want) {
			t.Fatalf("records %v, want %v", got, want)
		}
	})
}

func TestAllocateFailure(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.AllocateProducerID = func(context.Context) (int64, error) { return 0, kerr.CoordinatorLoadInProgress }
	})
	e.loadAll()
	wantErr(t, "init", kerr.ErrorForCode(e.initReq("a", 1000, 4).ErrorCode), kerr.CoordinatorLoadInProgress)
	if st := e.describe("a"); st.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("describe after failed allocation: %+v", st)
	}
}

func TestAddPartitionsUnknownPartition(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.PartitionExists = func(topic string, p int32) bool { return topic == "t" && p < 2 }
	})
	e.loadAll()
	const id = "unk"
	pid, epoch := e.init(id)
	resp := e.add(3, id, pid, epoch, map[string][]int32{"t": {0, 5}, "u": {0}})
	got := map[string]map[int32]int16{}
	for _, rt := range resp.Topics {
		got[rt.Topic] = map[int32]int16{}
		for _, rp := range rt.Partitions {
			got[rt.Topic][rp.Partition] = rp.ErrorCode
		}
	}
	want := map[string]map[int32]int16{
		"t": {0: kerr.OperationNotAttempted.Code, 5: kerr.UnknownTopicOrPartition.Code},
		"u": {0: kerr.UnknownTopicOrPartition.Code},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	if st := e.describe(id); st.State != "Empty" {
		t.Fatalf("state %s", st.State)
	}
	wantErr(t, "existing", e.addCode(id, pid, epoch, map[string][]int32{"t": {0, 1}}), nil)
}

func TestAddPartitionsV4(t *testing.T) {
	e := newEnv(t, nil)
	e.loadAll()
	pa, ea := e.init("a")
	pb, eb := e.init("b")
	wantErr(t, "add a", e.addCode("a", pa, ea, map[string][]int32{"t": {0}}), nil)

	r := kmsg.NewPtrAddPartitionsToTxnRequest()
	r.Version = 4
	mk := func(id string, pid int64, epoch int16, verify bool, parts ...int32) kmsg.AddPartitionsToTxnRequestTransaction {
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = id, pid, epoch, verify
		rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		rt.Topic, rt.Partitions = "t", parts
		tx.Topics = append(tx.Topics, rt)
		return tx
	}
	r.Transactions = append(r.Transactions,
		mk("a", pa, ea, true, 0, 1), // verify: 0 is in, 1 is not
		mk("b", pb, eb, false, 2),   // add
		mk("b", pb, eb+1, true, 2),  // fenced
		mk("nope", 1, 0, false, 0))  // unknown
	resp := e.do(r).(*kmsg.AddPartitionsToTxnResponse)
	got := map[string][]int16{}
	for i, tx := range resp.Transactions {
		key := tx.TransactionalID + string(rune('0'+i))
		for _, rt := range tx.Topics {
			for _, rp := range rt.Partitions {
				got[key] = append(got[key], rp.ErrorCode)
			}
		}
	}
	want := map[string][]int16{
		"a0":    {0, kerr.InvalidTxnState.Code},
		"b1":    {0},
		"b2":    {kerr.ProducerFenced.Code},
		"nope3": {kerr.InvalidProducerIDMapping.Code},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	if st := e.describe("b"); st.State != "Ongoing" {
		t.Fatalf("b: %+v", st)
	}
}

func TestLoadReplay(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.NumPartitions = 1 })
	s := e.store(0)
	now := e.clock.ms()
	rec := func(id string, m meta) {
		s.recs = append(s.recs, m.record(id))
	}
	parts := func(ps ...int32) partSet {
		out := partSet{}
		for _, p := range ps {
			out.add("t", p)
		}
		return out
	}
	rec("ongoing", meta{producerID: 1, epoch: 0, timeoutMs: 1000, state: stateEmpty, parts: partSet{}, startMs: -1, lastUpdateMs: now})
	rec("ongoing", meta{producerID: 1, epoch: 0, timeoutMs: 1000, state: stateOngoing, parts: parts(0, 1), startMs: now, lastUpdateMs: now})
	rec("committing", meta{producerID: 2, epoch: 5, timeoutMs: 60000, state: statePrepareCommit, parts: parts(2), startMs: now, lastUpdateMs: now})
	rec("aborting", meta{producerID: 3, epoch: 9, timeoutMs: 60000, state: statePrepareAbort, parts: parts(4), startMs: now, lastUpdateMs: now})
	rec("done", meta{producerID: 4, epoch: 1, timeoutMs: 60000, state: stateCompleteAbort, parts: partSet{}, startMs: now, lastUpdateMs: now})
	rec("deleted", meta{producerID: 5, epoch: 1, timeoutMs: 60000, state: stateEmpty, parts: partSet{}, startMs: -1, lastUpdateMs: now})
	s.recs = append(s.recs, KV{Key: txnKey("deleted")})
	s.recs = append(s.recs, KV{Key: []byte{0, 9, 1}, Value: []byte{1}}) // undecodable: skipped
	s.recs = append(s.recs, KV{Key: txnKey("garbage"), Value: []byte{0, 0, 1}})
	n := len(s.recs)

	if err := e.c.Load(context.Background(), 0, 3, s, s.replay); err != nil {
		t.Fatal(err)
	}
	e.waitState("committing", "CompleteCommit")
	e.waitState("aborting", "CompleteAbort")
	for _, tc := range []struct {
		id    string
		state string
		pid   int64
		epoch int16
	}{{"ongoing", "Ongoing", 1, 0}, {"done", "CompleteAbort", 4, 1}, {"committing", "CompleteCommit", 2, 5}, {"aborting", "CompleteAbort", 3, 9}} {
		st := e.describe(tc.id)
		if st.ErrorCode != 0 || st.State != tc.state || st.ProducerID != tc.pid || st.ProducerEpoch != tc.epoch {
			t.Errorf("%s: %+v", tc.id, st)
		}
	}
	for _, id := range []string{"deleted", "garbage"} {
		if st := e.describe(id); st.ErrorCode != kerr.TransactionalIDNotFound.Code {
			t.Errorf("%s: %+v", id, st)
		}
	}
	calls := e.markers.Calls()
	slices.SortFunc(calls, func(a, b Markers) int { return int(a.ProducerID - b.ProducerID) })
	want := []Markers{
		{ProducerID: 2, ProducerEpoch: 5, Commit: true, CoordinatorEpoch: 3, Partitions: map[string][]int32{"t": {2}}},
		{ProducerID: 3, ProducerEpoch: 9, Commit: false, CoordinatorEpoch: 3, Partitions: map[string][]int32{"t": {4}}},
	}
	if !reflect.DeepEqual(calls, want) {
		t.Fatalf("markers %+v, want %+v", calls, want)
	}
	var added []string
	for _, d := range decodeAll(t, s.records()[n:]) {
		added = append(added, d.id+":"+d.value.State.String())
	}
	slices.Sort(added)
	if w := []string{"aborting:CompleteAbort", "committing:CompleteCommit"}; !slices.Equal(added, w) {
		t.Fatalf("records written after load %v, want %v", added, w)
	}

	// The ongoing transaction's timeout resumes from its recorded start.
	e.clock.advance(1001 * time.Millisecond)
	e.c.abortTimedOut()
	if st := e.waitState("ongoing", "CompleteAbort"); st.ProducerEpoch != 1 {
		t.Fatalf("ongoing after timeout: %+v", st)
	}

	// Unload and load again: the state comes back from the records.
	e.c.Unload(0)
	if st := e.describe("ongoing"); st.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("after unload: %+v", st)
	}
	before := len(e.markers.Calls())
	if err := e.c.Load(context.Background(), 0, 4, s, s.replay); err != nil {
		t.Fatal(err)
	}
	for id, state := range map[string]string{"ongoing": "CompleteAbort", "committing": "CompleteCommit", "aborting": "CompleteAbort", "done": "CompleteAbort"} {
		if st := e.describe(id); st.State != state {
			t.Errorf("reloaded %s: %+v", id, st)
		}
	}
	if n := len(e.markers.Calls()); n != before {
		t.Errorf("reload wrote %d marker calls", n-before)
	}
}

func TestNotCoordinatorAndLoading(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.NumPartitions = 2 })
	id := idsOnPartition(0, 2, 1)[0]
	other := idsOnPartition(1, 2, 1)[0]
	e.load(1)

	requests := func(id string) map[string]func() int16 {
		return map[string]func() int16{
			"init": func() int16 { return e.initReq(id, 1000, 4).ErrorCode },
			"add": func() int16 {
				return e.add(3, id, 1, 0, map[string][]int32{"t": {0}}).Topics[0].Partitions[0].ErrorCode
			},
			"add offsets": func() int16 {
				r := kmsg.NewPtrAddOffsetsToTxnRequest()
				r.TransactionalID, r.ProducerID, r.Group = id, 1, "g"
				return e.do(r).(*kmsg.AddOffsetsToTxnResponse).ErrorCode
			},
			"end": func() int16 {
				r := kmsg.NewPtrEndTxnRequest()
				r.TransactionalID, r.ProducerID = id, 1
				return e.do(r).(*kmsg.EndTxnResponse).ErrorCode
			},
			"describe": func() int16 { return e.describe(id).ErrorCode },
		}
	}
	check := func(stage string, id string, want error) {
		t.Helper()
		for name, do := range requests(id) {
			if got := kerr.ErrorForCode(do()); !errors.Is(got, want) {
				t.Errorf("%s: %s: got %v, want %v", stage, name, got, want)
			}
		}
	}
	check("not loaded", id, kerr.NotCoordinator)

	// While loading.
	release := make(chan struct{})
	entered := make(chan struct{})
	loadErr := make(chan error, 1)
	go func() {
		loadErr <- e.c.Load(context.Background(), 0, 1, e.store(0), func(fn func(k, v []byte) error) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	check("loading", id, kerr.CoordinatorLoadInProgress)
	lr := e.do(kmsg.NewPtrListTransactionsRequest()).(*kmsg.ListTransactionsResponse)
	wantErr(t, "list while loading", kerr.ErrorForCode(lr.ErrorCode), kerr.CoordinatorLoadInProgress)
	if err := e.c.Load(context.Background(), 0, 1, e.store(0), e.store(0).replay); !errors.Is(err, coordruntime.ErrAlreadyLoaded) {
		t.Errorf("second Load: %v", err)
	}
	// The other partition is served meanwhile.
	e.init(other)
	close(release)
	if err := <-loadErr; err != nil {
		t.Fatal(err)
	}
	e.init(id)

	// Unloaded while loading.
	e.c.Unload(0)
	check("unloaded", id, kerr.NotCoordinator)
	entered2 := make(chan struct{})
	release2 := make(chan struct{})
	go func() {
		loadErr <- e.c.Load(context.Background(), 0, 1, e.store(0), func(fn func(k, v []byte) error) error {
			close(entered2)
			<-release2
			return nil
		})
	}()
	<-entered2
	e.c.Unload(0)
	close(release2)
	if err := <-loadErr; !errors.Is(err, coordruntime.ErrUnloaded) {
		t.Fatalf("Load unloaded meanwhile: %v", err)
	}
	// A failing replay leaves the partition unloaded.
	boom := errors.New("boom")
	if err := e.c.Load(context.Background(), 0, 1, e.store(0), func(func(k, v []byte) error) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Load with failing replay: %v", err)
	}
	check("failed load", id, kerr.NotCoordinator)

	e.c.Close()
	check("closed", other, kerr.NotCoordinator)
	if err := e.c.Load(context.Background(), 0, 1, e.store(0), e.store(0).replay); !errors.Is(err, coordruntime.ErrClosed) {
		t.Fatalf("Load after Close: %v", err)
	}
}

func TestUnloadDuringMarkers(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.NumPartitions = 1 })
	e.load(0)
	e.markers.gate = make(chan struct{}) // never released: the unload cancels it
	pid, epoch := e.init("u")
	wantErr(t, "add", e.addCode("u", pid, epoch, map[string][]int32{"t": {0}}), nil)
	wantErr(t, "commit", e.end(3, "u", pid, epoch, true), nil)
	waitFor(t, "marker write", func() bool { return len(e.markers.Calls()) == 1 })
	e.c.Unload(0)
	// The new coordinator (here: the same one, loading again) completes it.
	e.markers.mu.Lock()
	e.markers.gate = nil
	e.markers.mu.Unlock()
	e.load(0)
	e.waitState("u", "CompleteCommit")
	if got, want := statesOf(t, e.store(0), "u"), []string{"Empty", "Ongoing", "PrepareCommit", "CompleteCommit"}; !slices.Equal(got, want) {
		t.Fatalf("records %v, want %v", got, want)
	}
}

func TestEpochExhaustion(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.NumPartitions = 1 })
	s := e.store(0)
	s.recs = append(s.recs, (&meta{producerID: 7, epoch: math.MaxInt16 - 2, timeoutMs: 1000, state: stateCompleteCommit,
		parts: partSet{}, startMs: 1, lastUpdateMs: 1}).record("ex"))
	e.load(0)

	pid, epoch := e.init("ex")
	if pid != 7 || epoch != math.MaxInt16-1 {
		t.Fatalf("init = %d/%d, want 7/%d", pid, epoch, math.MaxInt16-1)
	}
	pid2, epoch2 := e.init("ex")
	if pid2 != 1001 || epoch2 != 0 {
		t.Fatalf("init at exhausted epoch = %d/%d, want 1001/0", pid2, epoch2)
	}

	// KIP-360 variant: a producer at an exhausted epoch bumping (and
	// retrying the bump whose answer was lost) gets a new producer ID once.
	e.init("ex") // epoch 1
	tx, _ := e.c.acquire("ex")
	tx.epoch = math.MaxInt16 - 1
	tx.mu.Unlock()
	bump := func() *kmsg.InitProducerIDResponse {
		r := kmsg.NewPtrInitProducerIDRequest()
		r.Version = 4
		r.TransactionalID = kmsg.StringPtr("ex")
		r.TransactionTimeoutMillis = 1000
		r.ProducerID, r.ProducerEpoch = 1001, math.MaxInt16-1
		return e.do(r).(*kmsg.InitProducerIDResponse)
	}
	r1 := bump()
	r2 := bump()
	if r1.ErrorCode != 0 || r1.ProducerID != 1002 || r1.ProducerEpoch != 0 || !reflect.DeepEqual(r1, r2) {
		t.Fatalf("bump at exhausted epoch: %+v then %+v", r1, r2)
	}

	// Fencing an ongoing transaction at the last usable epoch, then
	// initializing, rotates the producer ID.
	tx, _ = e.c.acquire("ex")
	tx.epoch = math.MaxInt16 - 1
	tx.mu.Unlock()
	wantErr(t, "add", e.addCode("ex", 1002, math.MaxInt16-1, map[string][]int32{"t": {0}}), nil)
	wantErr(t, "fence", kerr.ErrorForCode(e.initReq("ex", 1000, 4).ErrorCode), kerr.ConcurrentTransactions)
	if st := e.waitState("ex", "CompleteAbort"); st.ProducerEpoch != math.MaxInt16 {
		t.Fatalf("fenced epoch %d", st.ProducerEpoch)
	}
	pid3, epoch3 := e.init("ex")
	if pid3 != 1003 || epoch3 != 0 {
		t.Fatalf("init after fence at exhausted epoch = %d/%d, want 1003/0", pid3, epoch3)
	}
}

func TestWriteOrder(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.NumPartitions = 2 })
	e.loadAll()
	ids := idsOnPartition(1, 2, 2)
	s := e.store(1)
	gate := make(chan struct{})
	s.mu.Lock()
	s.gate = gate
	s.mu.Unlock()

	done := make(chan struct{}, 2)
	go func() { e.init(ids[0]); done <- struct{}{} }()
	waitFor(t, "first append", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.calls == 1 })
	go func() { e.init(ids[1]); done <- struct{}{} }()
	waitFor(t, "second write started", func() bool { return e.pending(ids[1]) })
	s.mu.Lock()
	calls := s.calls
	s.gate = nil
	s.mu.Unlock()
	if calls != 1 {
		t.Fatalf("second Append called (%d calls) before the first returned", calls)
	}
	close(gate)
	<-done
	<-done
	var got []string
	for _, d := range decodeAll(t, s.records()) {
		got = append(got, d.id)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("record order %v, want %v", got, ids)
	}
}

func TestHandleContextDone(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.NumPartitions = 1 })
	e.load(0)
	pid, epoch := e.init("ctx")
	s := e.store(0)
	gate := make(chan struct{})
	s.mu.Lock()
	s.gate = gate
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := kmsg.NewPtrAddPartitionsToTxnRequest()
	r.TransactionalID, r.ProducerID, r.ProducerEpoch = "ctx", pid, epoch
	r.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	resp := e.c.Handle(ctx, r).(*kmsg.AddPartitionsToTxnResponse)
	wantErr(t, "add", kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode), kerr.CoordinatorNotAvailable)
	s.mu.Lock()
	s.gate = nil
	s.mu.Unlock()
	close(gate)
	e.waitState("ctx", "Ongoing") // the change completes regardless
}

func TestDescribeAndList(t *testing.T) {
	e := newEnv(t, nil)
	e.loadAll()
	pa, ea := e.init("a")
	e.clock.advance(time.Second)
	wantErr(t, "add", e.addCode("a", pa, ea, map[string][]int32{"x": {1, 0}, "w": {3}}), nil)
	pb, _ := e.init("b")
	e.clock.advance(5 * time.Second)

	r := kmsg.NewPtrDescribeTransactionsRequest()
	r.TransactionalIDs = []string{"a", "b", "zz", ""}
	resp := e.do(r).(*kmsg.DescribeTransactionsResponse)
	if len(resp.TransactionStates) != 4 {
		t.Fatalf("%d states", len(resp.TransactionStates))
	}
	a := resp.TransactionStates[0]
	wantTopics := []kmsg.DescribeTransactionsResponseTransactionStateTopic{{Topic: "w", Partitions: []int32{3}}, {Topic: "x", Partitions: []int32{0, 1}}}
	if a.ErrorCode != 0 || a.TransactionalID != "a" || a.State != "Ongoing" || a.ProducerID != pa || a.TimeoutMillis != 60000 ||
		!reflect.DeepEqual(a.Topics, wantTopics) || a.StartTimestamp != e.clock.ms()-5000 {
		t.Errorf("a: %+v", a)
	}
	if b := resp.TransactionStates[1]; b.State != "Empty" || b.ProducerID != pb || b.StartTimestamp != -1 {
		t.Errorf("b: %+v", b)
	}
	if zz := resp.TransactionStates[2]; zz.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Errorf("zz: %+v", zz)
	}
	if empty := resp.TransactionStates[3]; empty.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("empty: %+v", empty)
	}

	list := func(mod func(*kmsg.ListTransactionsRequest)) (*kmsg.ListTransactionsResponse, []string) {
		r := kmsg.NewPtrListTransactionsRequest()
		r.Version = 1
		if mod != nil {
			mod(r)
		}
		resp := e.do(r).(*kmsg.ListTransactionsResponse)
		var ids []string
		for _, s := range resp.TransactionStates {
			ids = append(ids, s.TransactionalID+":"+s.TransactionState)
		}
		return resp, ids
	}
	for _, tc := range []struct {
		name string
		mod  func(*kmsg.ListTransactionsRequest)
		want []string
	}{
		{"all", nil, []string{"a:Ongoing", "b:Empty"}},
		{"state", func(r *kmsg.ListTransactionsRequest) { r.StateFilters = []string{"Ongoing", "Bogus"} }, []string{"a:Ongoing"}},
		{"pid", func(r *kmsg.ListTransactionsRequest) { r.ProducerIDFilters = []int64{pb} }, []string{"b:Empty"}},
		{"duration", func(r *kmsg.ListTransactionsRequest) { r.DurationFilterMillis = 4000 }, []string{"a:Ongoing", "b:Empty"}},
		{"long duration", func(r *kmsg.ListTransactionsRequest) { r.DurationFilterMillis = 6000 }, []string{"b:Empty"}}, // b's start is -1
		{"pattern", func(r *kmsg.ListTransactionsRequest) { r.Version = 2; r.TransactionalIDPattern = kmsg.StringPtr("^b") }, []string{"b:Empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, ids := list(tc.mod)
			if resp.ErrorCode != 0 || !slices.Equal(ids, tc.want) {
				t.Fatalf("list: error %d, %v, want %v", resp.ErrorCode, ids, tc.want)
			}
		})
	}
	resp2, _ := list(func(r *kmsg.ListTransactionsRequest) { r.StateFilters = []string{"Bogus"} })
	if !slices.Equal(resp2.UnknownStateFilters, []string{"Bogus"}) || len(resp2.TransactionStates) != 0 {
		t.Errorf("unknown filter: %+v", resp2)
	}
}

func TestConcurrentIDs(t *testing.T) {
	// Many producers at once, -race exercising the locking.
	e := newEnv(t, nil)
	e.loadAll()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// retry calls fn until it answers something but CONCURRENT_TRANSACTIONS.
	retry := func(fn func() int16) error {
		for {
			code := fn()
			if code != kerr.ConcurrentTransactions.Code {
				return kerr.ErrorForCode(code)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(time.Millisecond) // a client's backoff
		}
	}
	run := func(id string) error {
		var pid int64
		var epoch int16
		err := retry(func() int16 {
			r := kmsg.NewPtrInitProducerIDRequest()
			r.Version = 4
			r.TransactionalID = kmsg.StringPtr(id)
			r.TransactionTimeoutMillis = 60_000
			resp := e.c.Handle(ctx, r).(*kmsg.InitProducerIDResponse)
			pid, epoch = resp.ProducerID, resp.ProducerEpoch
			return resp.ErrorCode
		})
		if err != nil {
			return fmt.Errorf("%s: init: %w", id, err)
		}
		for round := range 3 {
			err := retry(func() int16 {
				r := kmsg.NewPtrAddPartitionsToTxnRequest()
				r.Version = 3
				r.TransactionalID, r.ProducerID, r.ProducerEpoch = id, pid, epoch
				r.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{int32(round)}}}
				return e.c.Handle(ctx, r).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
			})
			if err != nil {
				return fmt.Errorf("%s: add: %w", id, err)
			}
			err = retry(func() int16 {
				r := kmsg.NewPtrEndTxnRequest()
				r.Version = 3
				r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit = id, pid, epoch, round%2 == 0
				return e.c.Handle(ctx, r).(*kmsg.EndTxnResponse).ErrorCode
			})
			if err != nil {
				return fmt.Errorf("%s: end: %w", id, err)
			}
		}
		return nil
	}
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		id := idsOnPartition(int32(i%4), 4, n/4)[i/4]
		go func() { errs <- run(id) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]bool{}
	for p := range int32(4) {
		for _, d := range decodeAll(t, e.store(p).records()) {
			ids[d.id] = true
		}
	}
	if len(ids) != n {
		t.Fatalf("%d ids in the log: %v", len(ids), slices.Collect(maps.Keys(ids)))
	}
}
