package sharegroup

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newPart(t *testing.T, cfg PartitionConfig, st PartitionState) *Partition {
	t.Helper()
	p, err := NewPartition(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func br(bs ...int64) []BatchRange {
	var out []BatchRange
	for i := 0; i+1 < len(bs); i += 2 {
		out = append(out, BatchRange{FirstOffset: bs[i], LastOffset: bs[i+1]})
	}
	return out
}

type acq struct {
	first, last int64
	count       int16
}

func acqs(rs []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord) []acq {
	var out []acq
	for _, r := range rs {
		out = append(out, acq{r.FirstOffset, r.LastOffset, r.DeliveryCount})
	}
	return out
}

func ack(first, last int64, types ...AckType) AckBatch {
	return AckBatch{FirstOffset: first, LastOffset: last, Types: types}
}

func TestAcquire(t *testing.T) {
	cases := []struct {
		name    string
		cfg     PartitionConfig
		st      PartitionState
		setup   func(p *Partition)
		batches []BatchRange
		max     int
		want    []acq
		fetch   int64 // NextFetchOffset after
		state   PartitionState
	}{
		{name: "new batches whole", batches: br(0, 4, 5, 9), max: 7,
			want: []acq{{0, 9, 1}}, fetch: 10,
			state: PartitionState{Batches: []StateBatch{{0, 9, Available, 1}}}},
		{name: "max records stops between batches", batches: br(0, 4, 5, 9), max: 5,
			want: []acq{{0, 4, 1}}, fetch: 5,
			state: PartitionState{Batches: []StateBatch{{0, 4, Available, 1}}}},
		{name: "gap before and between batches archived", st: PartitionState{StartOffset: 2}, batches: br(4, 5, 8, 9), max: 100,
			want: []acq{{4, 5, 1}, {8, 9, 1}}, fetch: 10,
			state: PartitionState{StartOffset: 4, Batches: []StateBatch{{4, 5, Available, 1}, {6, 7, Archived, 0}, {8, 9, Available, 1}}}},
		{name: "in-flight limit", cfg: PartitionConfig{MaxInFlightRecords: 3}, batches: br(0, 1, 2, 3, 4, 5), max: 100,
			want: []acq{{0, 3, 1}}, fetch: 4,
			state: PartitionState{Batches: []StateBatch{{0, 3, Available, 1}}}},
		{name: "redelivery first with bumped count", st: PartitionState{Batches: []StateBatch{{0, 2, Acknowledged, 1}, {3, 4, Available, 2}, {5, 5, Archived, 1}}},
			batches: br(3, 7), max: 100,
			want: []acq{{3, 4, 3}, {6, 7, 1}}, fetch: 8,
			state: PartitionState{StartOffset: 3, Batches: []StateBatch{{3, 4, Available, 3}, {5, 5, Archived, 1}, {6, 7, Available, 1}}}},
		{name: "acquired by another member skipped", setup: func(p *Partition) { p.Acquire(t0, "other", br(0, 2), 100) },
			batches: br(0, 4), max: 100, want: []acq{{3, 4, 1}}, fetch: 5,
			state: PartitionState{Batches: []StateBatch{{0, 4, Available, 1}}}},
		{name: "below start offset ignored", st: PartitionState{StartOffset: 10}, batches: br(5, 12), max: 100,
			want: []acq{{10, 12, 1}}, fetch: 13,
			state: PartitionState{StartOffset: 10, Batches: []StateBatch{{10, 12, Available, 1}}}},
		{name: "at the delivery limit persisted as archived", cfg: PartitionConfig{DeliveryCountLimit: 2}, st: PartitionState{Batches: []StateBatch{{0, 0, Available, 1}}},
			batches: br(0, 0), max: 1, want: []acq{{0, 0, 2}}, fetch: 1,
			state: PartitionState{StartOffset: 1}},
		{name: "nothing for max 0", batches: br(0, 4), max: 0, fetch: 0, state: PartitionState{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPart(t, c.cfg, c.st)
			if c.setup != nil {
				c.setup(p)
			}
			got := acqs(p.Acquire(t0, "m", c.batches, c.max))
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("acquired %v, want %v", got, c.want)
			}
			if f := p.NextFetchOffset(); f != c.fetch {
				t.Fatalf("next fetch offset %d, want %d", f, c.fetch)
			}
			if st := p.State(); !st.Equal(c.state) {
				t.Fatalf("state %+v, want %+v", st, c.state)
			}
		})
	}
}

func TestAcknowledge(t *testing.T) {
	cases := []struct {
		name    string
		cfg     PartitionConfig
		acks    []AckBatch
		member  string
		code    *kerr.Error
		failed  int
		state   PartitionState
		fetch   int64
		changed bool
	}{
		{name: "accept all moves the start", acks: []AckBatch{ack(0, 9, AckAccept)},
			state: PartitionState{StartOffset: 10}, fetch: 10, changed: true},
		{name: "per offset", acks: []AckBatch{ack(0, 3, AckAccept, AckRelease, AckReject, AckGap), ack(4, 9, AckRelease)},
			state: PartitionState{StartOffset: 1, Batches: []StateBatch{{1, 1, Available, 1}, {2, 3, Archived, 1}, {4, 9, Available, 1}}}, fetch: 1, changed: true},
		{name: "release at the limit archives", cfg: PartitionConfig{DeliveryCountLimit: 1}, acks: []AckBatch{ack(0, 9, AckRelease)},
			state: PartitionState{StartOffset: 10}, fetch: 10, changed: true},
		{name: "other member", member: "x", acks: []AckBatch{ack(0, 1, AckAccept)}, code: kerr.InvalidRecordState,
			state: PartitionState{Batches: []StateBatch{{0, 9, Available, 1}}}, fetch: 10},
		{name: "past in-flight", acks: []AckBatch{ack(5, 12, AckAccept)}, code: kerr.InvalidRequest,
			state: PartitionState{Batches: []StateBatch{{0, 9, Available, 1}}}, fetch: 10},
		{name: "all or nothing", acks: []AckBatch{ack(0, 1, AckAccept), ack(2, 3, AckAccept, AckAccept, AckAccept)}, code: kerr.InvalidRequest, failed: 1,
			state: PartitionState{Batches: []StateBatch{{0, 9, Available, 1}}}, fetch: 10},
		{name: "overlap", acks: []AckBatch{ack(0, 3, AckAccept), ack(3, 4, AckAccept)}, code: kerr.InvalidRequest, failed: 1,
			state: PartitionState{Batches: []StateBatch{{0, 9, Available, 1}}}, fetch: 10},
		{name: "bad type", acks: []AckBatch{ack(0, 3, 7)}, code: kerr.InvalidRequest,
			state: PartitionState{Batches: []StateBatch{{0, 9, Available, 1}}}, fetch: 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPart(t, c.cfg, PartitionState{})
			p.Acquire(t0, "m", br(0, 9), 10)
			member := c.member
			if member == "" {
				member = "m"
			}
			res := p.Acknowledge(t0.Add(time.Second), member, c.acks)
			if c.code == nil {
				if res.Err() != nil || res.FailedBatch != -1 {
					t.Fatalf("acknowledge: %+v", res)
				}
			} else if !errors.Is(res.Err(), c.code) || res.FailedBatch != c.failed {
				t.Fatalf("acknowledge: %+v, want %v at batch %d", res, c.code, c.failed)
			}
			if res.Changed != c.changed {
				t.Fatalf("changed %v", res.Changed)
			}
			if st := p.State(); !st.Equal(c.state) {
				t.Fatalf("state %+v, want %+v", st, c.state)
			}
			if f := p.NextFetchOffset(); f != c.fetch {
				t.Fatalf("next fetch offset %d, want %d", f, c.fetch)
			}
		})
	}
}

func TestLocksAndRelease(t *testing.T) {
	p := newPart(t, PartitionConfig{RecordLockDuration: 10 * time.Second, DeliveryCountLimit: 2}, PartitionState{})
	p.Acquire(t0, "a", br(0, 4), 100)
	p.Acquire(t0.Add(5*time.Second), "b", br(5, 9), 100)
	if at, _ := p.NextDeadline(); !at.Equal(t0.Add(10 * time.Second)) {
		t.Fatal(at)
	}
	if !p.ExpireLocks(t0.Add(10*time.Second)) || p.NextFetchOffset() != 0 {
		t.Fatalf("a's lock did not expire: fetch %d", p.NextFetchOffset())
	}
	// An acknowledgement after the lock expired fails.
	if res := p.Acknowledge(t0.Add(11*time.Second), "a", []AckBatch{ack(0, 4, AckAccept)}); !errors.Is(res.Err(), kerr.InvalidRecordState) {
		t.Fatalf("late ack: %+v", res)
	}
	got := acqs(p.Acquire(t0.Add(11*time.Second), "c", br(0, 9), 100))
	if !reflect.DeepEqual(got, []acq{{0, 4, 2}}) {
		t.Fatalf("redelivery %v", got)
	}
	if !reflect.DeepEqual(p.Acquired("c"), []OffsetRange{{0, 4}}) {
		t.Fatal(p.Acquired("c"))
	}
	// c leaves: its records were delivered twice, the limit: archived.
	if !p.ReleaseMember("c") || p.StartOffset() != 5 {
		t.Fatalf("after c left: start %d", p.StartOffset())
	}
	if p.ReleaseMember("c") {
		t.Fatal("second release changed something")
	}
	// Acknowledge expires b's lock first, as time has passed.
	if res := p.Acknowledge(t0.Add(15*time.Second), "b", []AckBatch{ack(5, 9, AckAccept)}); !errors.Is(res.Err(), kerr.InvalidRecordState) || !res.Changed {
		t.Fatalf("ack after b's lock expired: %+v", res)
	}
}

func TestNewPartitionAndReset(t *testing.T) {
	for _, st := range []PartitionState{
		{StartOffset: -1},
		{StartOffset: 5, Batches: []StateBatch{{3, 6, Available, 1}}},
		{Batches: []StateBatch{{0, 3, Available, 1}, {3, 4, Available, 1}}},
		{Batches: []StateBatch{{0, 3, 9, 1}}},
	} {
		if _, err := NewPartition(PartitionConfig{}, st); err == nil {
			t.Fatalf("NewPartition(%+v) accepted", st)
		}
	}
	p := newPart(t, PartitionConfig{}, PartitionState{StateEpoch: 3, StartOffset: 10, Batches: []StateBatch{{12, 13, Acknowledged, 1}, {15, 15, Available, 9}}})
	// 10-11 and 14 were never delivered; 15 was delivered too often.
	want := PartitionState{StateEpoch: 3, StartOffset: 10, Batches: []StateBatch{{10, 11, Available, 0}, {12, 13, Acknowledged, 1}, {14, 14, Available, 0}, {15, 15, Archived, 9}}}
	if st := p.State(); !st.Equal(want) || p.EndOffset() != 15 || p.InFlight() != 6 {
		t.Fatalf("loaded %+v end %d", st, p.EndOffset())
	}
	p.Acquire(t0, "m", br(10, 11), 10)
	if err := p.Reset(0); err == nil {
		t.Fatal("reset with acquired records")
	}
	p.ReleaseMember("m")
	if !p.AdvanceLogStart(13) || p.StartOffset() != 14 {
		t.Fatalf("log start: %d", p.StartOffset())
	}
	if err := p.Reset(100); err != nil || !p.State().Equal(PartitionState{StateEpoch: 4, StartOffset: 100}) || p.NextFetchOffset() != 100 {
		t.Fatalf("reset: %v %+v", err, p.State())
	}
}

func TestLag(t *testing.T) {
	st := PartitionState{StartOffset: 10, Batches: []StateBatch{{10, 12, Available, 1}, {13, 14, Acknowledged, 1}, {15, 15, Archived, 2}}}
	if l := st.Lag(20); l != 7 || st.DeliveryCompleteCount() != 3 {
		t.Fatalf("lag %d, complete %d", l, st.DeliveryCompleteCount())
	}
	if l := (PartitionState{StartOffset: -1}).Lag(5); l != -1 {
		t.Fatal(l)
	}
}

func TestAutoOffsetReset(t *testing.T) {
	for in, want := range map[string]AutoOffsetReset{
		"latest":                  {},
		"EARLIEST":                {Strategy: ResetEarliest},
		"by_duration:PT1H30M":     {Strategy: ResetByDuration, Duration: 90 * time.Minute},
		"by_duration:P1DT0.5S":    {Strategy: ResetByDuration, Duration: 24*time.Hour + 500*time.Millisecond},
		"by_duration:P2D":         {Strategy: ResetByDuration, Duration: 48 * time.Hour},
		"by_duration:pt0.000001s": {Strategy: ResetByDuration, Duration: time.Microsecond},
	} {
		got, err := ParseAutoOffsetReset(in)
		if err != nil || got != want {
			t.Fatalf("%q: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"none", "by_duration:", "by_duration:P", "by_duration:PT", "by_duration:-PT1H", "by_duration:1H"} {
		if _, err := ParseAutoOffsetReset(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	r, _ := ParseAutoOffsetReset("by_duration:PT1M")
	if ts := r.ListOffsetsTimestamp(t0); ts != t0.Add(-time.Minute).UnixMilli() {
		t.Fatal(ts)
	}
	if (AutoOffsetReset{}).ListOffsetsTimestamp(t0) != -1 || (AutoOffsetReset{Strategy: ResetEarliest}).ListOffsetsTimestamp(t0) != -2 {
		t.Fatal("special timestamps")
	}
}

// TestAcquireAtMost: the record_limit acquire mode (KIP-1206) splits a log
// batch where the limit falls, for new records and for available ones
// acquired again, so that members of a work queue share a batch.
func TestAcquireAtMost(t *testing.T) {
	now := time.Unix(1000, 0)
	p := newPart(t, PartitionConfig{}, PartitionState{StartOffset: 0})
	batch := br(0, 99)
	if got := acqs(p.AcquireAtMost(now, "a", batch, 5)); !reflect.DeepEqual(got, []acq{{0, 4, 1}}) {
		t.Fatalf("a: %v", got)
	}
	if got := acqs(p.AcquireAtMost(now, "b", br(5, 99), 5)); !reflect.DeepEqual(got, []acq{{5, 9, 1}}) {
		t.Fatalf("b: %v", got)
	}
	// a releases 1 and 3: acquired again by c, at most 1, then the rest.
	if res := p.Acknowledge(now, "a", []AckBatch{ack(0, 4, AckAccept, AckRelease, AckAccept, AckRelease, AckAccept)}); res.ErrorCode != 0 {
		t.Fatalf("ack: %+v", res)
	}
	if got := acqs(p.AcquireAtMost(now, "c", batch, 1)); !reflect.DeepEqual(got, []acq{{1, 1, 2}}) {
		t.Fatalf("c, 1 record: %v", got)
	}
	if got := acqs(p.AcquireAtMost(now, "c", batch, 3)); !reflect.DeepEqual(got, []acq{{3, 3, 2}, {10, 11, 1}}) {
		t.Fatalf("c, 3 records: %v", got)
	}
	// The soft limit takes the rest of the batch.
	if got := acqs(p.Acquire(now, "d", br(12, 99), 1)); !reflect.DeepEqual(got, []acq{{12, 99, 1}}) {
		t.Fatalf("d: %v", got)
	}
}

// TestCloneRollsBack: a clone taken before acknowledgements is the
// partition as it was, the records acquired by the member again, and
// shares nothing with the partition it was taken from.
func TestCloneRollsBack(t *testing.T) {
	now := time.Unix(100, 0)
	p := newPart(t, PartitionConfig{}, PartitionState{})
	if got := p.Acquire(now, "m", br(0, 9), 100); len(got) != 1 {
		t.Fatalf("acquired %+v", got)
	}
	before := p.Clone()
	if res := p.Acknowledge(now, "m", []AckBatch{ack(0, 4, AckAccept), ack(5, 9, AckRelease)}); !res.Changed || res.ErrorCode != 0 {
		t.Fatalf("acknowledge: %+v", res)
	}
	if st := p.State(); st.StartOffset != 5 {
		t.Fatalf("state after the acknowledgements: %+v", st)
	}
	if st, _, m := before.RecordStateAt(7); st != Acquired || m != "m" || before.StartOffset() != 0 {
		t.Fatalf("clone: offset 7 %v by %q, start %d", st, m, before.StartOffset())
	}
	// The clone acknowledges again, as the member would after the
	// error.
	if res := before.Acknowledge(now, "m", []AckBatch{ack(0, 9, AckAccept)}); res.ErrorCode != 0 {
		t.Fatalf("acknowledging the clone: %+v", res)
	}
	if st, _, _ := p.RecordStateAt(7); st != Available {
		t.Fatalf("the partition changed with its clone: offset 7 %v", st)
	}
}
