package container

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/listener"
)

// keyedRecords produces keys × per records on one partition of topic:
// value "<key>:<seq>", interleaved by key.
func keyedRecords(e *env, topic string, keys, per int) {
	var rs []*kgo.Record
	for s := range per {
		for k := range keys {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: 0, Key: []byte("k" + strconv.Itoa(k)), Value: []byte(fmt.Sprintf("k%d:%d", k, s))})
		}
	}
	e.produce(rs...)
}

// orderCheck records the handled values and the order per key.
type orderCheck struct {
	mu     sync.Mutex
	last   map[string]int
	n      int
	broken []string
}

func (o *orderCheck) handle(v string) {
	key, seq, _ := strings.Cut(v, ":")
	s, _ := strconv.Atoi(seq)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last == nil {
		o.last = map[string]int{}
	}
	if prev, ok := o.last[key]; ok && s != prev+1 || !ok && s != 0 {
		o.broken = append(o.broken, v)
	}
	o.last[key] = s
	o.n++
}

func (o *orderCheck) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// TestOrderingKey: ordering=key,workers=16 handles 100 keys × 20 records
// of one partition with a 1 ms handler several times faster than the
// default one-at-a-time order (4x asserted, to hold on a loaded machine;
// BenchmarkOrderingKey measures 100 × 100, see BENCHMARKS.md), each key's
// records in order.
func TestOrderingKey(t *testing.T) {
	t.Parallel()
	keyed, serial := compareOrderings(t, 100, 20)
	if serial < 4*keyed {
		t.Errorf("ordering=key only %.1fx faster, want at least 4x", float64(serial)/float64(keyed))
	}
}

// BenchmarkOrderingKey: 100 keys × 100 records of one partition, a 1 ms
// handler, ordering=key,workers=16 against the default partition order;
// reports the speed-up (speedup-key: partition order's time over
// ordering=key's).
//
//	go test -run '^$' -bench OrderingKey -benchtime 1x -count 3 ./container/
func BenchmarkOrderingKey(b *testing.B) {
	var keyed, serial time.Duration
	for b.Loop() {
		k, s := compareOrderings(b, 100, 100)
		keyed, serial = keyed+k, serial+s
	}
	b.ReportMetric(float64(serial)/float64(keyed), "speedup-key")
	b.ReportMetric(float64(keyed.Milliseconds())/float64(b.N), "key-ms")
	b.ReportMetric(float64(serial.Milliseconds())/float64(b.N), "partition-ms")
}

// compareOrderings handles keys × per records (1 ms each) with
// ordering=key,workers=16 and then in partition order, checking each
// key's order, and returns both times.
func compareOrderings(t testing.TB, keys, per int) (keyed, serial time.Duration) {
	t.Helper()
	topic := fmt.Sprintf("keyed-%d-%d", keys, per)
	e := newEnv(t, map[string]int32{topic: 1})
	keyedRecords(e, topic, keys, per)
	run := func(ordering string) (time.Duration, *orderCheck) {
		oc := &orderCheck{}
		all := make(chan struct{})
		var once sync.Once
		ep := &listener.Endpoint{ID: "k-" + ordering, Group: "g-" + ordering, Topics: []string{topic},
			Handler: listener.Func[string](func(_ context.Context, v string) error {
				time.Sleep(time.Millisecond) // the work
				oc.handle(v)
				if oc.count() == keys*per {
					once.Do(func() { close(all) })
				}
				return nil
			})}
		if ordering == "key" {
			ep.Ordering, ep.Workers = listener.OrderKey, 16
		}
		start := time.Now()
		c := e.start(ep)
		select {
		case <-all:
		case <-time.After(60 * time.Second):
			t.Fatalf("%s: %d of %d handled", ordering, oc.count(), keys*per)
		}
		took := time.Since(start)
		c.Stop(context.Background())
		return took, oc
	}
	keyed, oc := run("key")
	if len(oc.broken) > 0 {
		t.Fatalf("ordering=key broke a key's order at %v", oc.broken[:min(5, len(oc.broken))])
	}
	serial, _ = run("partition")
	t.Logf("%d records of %d keys, 1 ms each: ordering=key,workers=16 %v, partition order %v (%.1fx)", keys*per, keys,
		keyed.Round(time.Millisecond), serial.Round(time.Millisecond), float64(serial)/float64(keyed))
	return keyed, serial
}

// TestOrderingKeyHardStop: a hard stop while lanes are mid-chunk commits
// only the contiguous prefix of handled records.
func TestOrderingKeyHardStop(t *testing.T) {
	t.Parallel()
	const keys, per = 50, 40
	e := newEnv(t, map[string]int32{"keyed-stop": 1})
	keyedRecords(e, "keyed-stop", keys, per)
	var mu sync.Mutex
	handled := map[int64]bool{}
	half := make(chan struct{})
	var once sync.Once
	ep := &listener.Endpoint{ID: "stop", Group: "g-stop", Topics: []string{"keyed-stop"}, Ordering: listener.OrderKey, Workers: 8,
		Handler: listener.RecordFunc[string](func(ctx context.Context, r *listener.Record[string]) error {
			select {
			case <-time.After(2 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
			mu.Lock()
			handled[r.Offset] = true
			n := len(handled)
			mu.Unlock()
			if n == keys*per/2 {
				once.Do(func() { close(half) })
			}
			return nil
		})}
	c := e.start(ep, WithMaxPollRecords(2000))
	select {
	case <-half:
	case <-time.After(30 * time.Second):
		t.Fatal("half never handled")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // hard stop at once
	c.Stop(ctx)
	offs, err := e.adm.FetchOffsets(context.Background(), "g-stop")
	if err != nil {
		t.Fatal(err)
	}
	committed, _ := offs.Lookup("keyed-stop", 0)
	mu.Lock()
	defer mu.Unlock()
	for o := int64(0); o < committed.At; o++ {
		if !handled[o] {
			t.Fatalf("committed %d, but the record at offset %d was not handled", committed.At, o)
		}
	}
	t.Logf("hard stop after %d of %d handled: committed up to %d, all handled below it", len(handled), keys*per, committed.At)
}

// TestOrderingKeyManualAck: ordering=key with ack=manual; the handler
// acknowledges every record at once except one, which it holds: the
// committed offset stops at the held record while the other lanes finish
// everything behind it, and moves to the end once it is acknowledged.
func TestOrderingKeyManualAck(t *testing.T) {
	t.Parallel()
	const keys, per = 20, 10
	e := newEnv(t, map[string]int32{"keyed-ack": 1})
	keyedRecords(e, "keyed-ack", keys, per)
	var (
		oc   orderCheck
		held = make(chan listener.Acknowledgment, 1)
	)
	const heldValue = "k3:2" // offset 2*20+3 = 43
	ep := &listener.Endpoint{ID: "ack", Group: "g-keyed-ack", Topics: []string{"keyed-ack"}, Ordering: listener.OrderKey, Workers: 8,
		AckMode: listener.AckManual,
		Handler: listener.AckRecordFunc[string](func(_ context.Context, r *listener.Record[string], ack listener.Acknowledgment) error {
			oc.handle(r.Value)
			if r.Value == heldValue {
				held <- ack
				return nil
			}
			ack.Acknowledge()
			return nil
		})}
	e.start(ep)
	var ack listener.Acknowledgment
	select {
	case ack = <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the held record never came")
	}
	// Every key but k3 finishes; k3's lane goes on too (its later
	// records are handled, the held one is not acknowledged).
	waitFor(t, 20*time.Second, func() bool { return oc.count() == keys*per }, "all records handled")
	waitFor(t, 10*time.Second, func() bool { return e.committed("g-keyed-ack")["keyed-ack"][0] == 43 }, "commit up to the held record")
	// The commit stays there while the record is held.
	for range 5 {
		if got := e.committed("g-keyed-ack")["keyed-ack"][0]; got != 43 {
			t.Fatalf("committed %d while offset 43 is not acknowledged", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ack.Acknowledge()
	waitFor(t, 10*time.Second, func() bool { return e.committed("g-keyed-ack")["keyed-ack"][0] == keys*per }, "commit to the end after the ack")
	if len(oc.broken) > 0 {
		t.Fatalf("out of order: %v", oc.broken)
	}
}
