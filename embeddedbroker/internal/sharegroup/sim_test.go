package sharegroup

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// rec is the simulation's model of one offset.
type rec struct {
	gap        bool // no record at the offset
	deliveries int16
	holder     string
	deadline   time.Time
	done       string // "", "accepted", "rejected", "limit"
	accepts    int
}

// psim drives one share partition with random members fetching,
// acknowledging, crashing and leaving, locks expiring, the log growing and
// the leader failing over to the persisted state, and checks it against a
// model after every step.
type psim struct {
	t       *testing.T
	r       *rand.Rand
	seed    uint64
	step    int
	cfg     PartitionConfig
	p       *Partition
	store   StateStore
	key     ShareKey
	now     time.Time
	log     []BatchRange
	end     int64 // log end offset
	model   map[int64]*rec
	members []string
	gen     int
	stats   map[string]int
}

func (s *psim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d step %d: %s", s.seed, s.step, fmt.Sprintf(format, args...))
}

func (s *psim) grow(n int) {
	for range n {
		if s.r.IntN(6) == 0 { // a gap: offsets without records
			g := int64(1 + s.r.IntN(3))
			for o := s.end; o < s.end+g; o++ {
				s.model[o] = &rec{gap: true}
			}
			s.end += g
		}
		size := int64(1 + s.r.IntN(4))
		s.log = append(s.log, BatchRange{FirstOffset: s.end, LastOffset: s.end + size - 1})
		for o := s.end; o < s.end+size; o++ {
			s.model[o] = &rec{}
		}
		s.end += size
	}
}

// release is the model of a released acquisition.
func (s *psim) release(m *rec) {
	m.holder, m.deadline = "", time.Time{}
	if int(m.deliveries) >= s.cfg.DeliveryCountLimit {
		m.done = "limit"
	}
}

func (s *psim) expire() {
	for _, m := range s.model {
		if m.holder != "" && !s.now.Before(m.deadline) {
			s.release(m)
			s.stats["expired"]++
		}
	}
}

// persist writes the partition's state through the store, encoded and
// decoded, as the leader does after every change.
func (s *psim) persist() {
	rec, err := s.store.Write(s.key, 1, s.p.State())
	if err != nil {
		s.fatalf("write: %v", err)
	}
	b, err := rec.MarshalBinary()
	if err != nil {
		s.fatalf("marshal: %v", err)
	}
	var back ShareRecord
	if err := back.UnmarshalBinary(b); err != nil {
		s.fatalf("unmarshal: %v", err)
	}
	if err := s.store.Replay(back); err != nil {
		s.fatalf("replay: %v", err)
	}
	if got, _ := s.store.Read(s.key, 1); !got.Equal(s.p.State()) {
		s.fatalf("persisted %+v, live %+v", got, s.p.State())
	}
}

func (s *psim) fetch(member string, drain bool) {
	s.expire()
	from := s.p.NextFetchOffset()
	var bs []BatchRange
	for _, b := range s.log {
		if b.LastOffset >= from {
			bs = append(bs, b)
		}
	}
	if !drain && len(bs) > 0 {
		bs = bs[:1+s.r.IntN(len(bs))] // the fetch's max bytes
	}
	maxRecords := 1 + s.r.IntN(10)
	if drain {
		maxRecords = 1 << 20
	}
	got := s.p.Acquire(s.now, member, bs, maxRecords)
	for _, a := range got {
		for o := a.FirstOffset; o <= a.LastOffset; o++ {
			m := s.model[o]
			switch {
			case m == nil || m.gap:
				s.fatalf("acquired offset %d without a record", o)
			case m.holder != "":
				s.fatalf("offset %d acquired by %s while %s holds it", o, member, m.holder)
			case m.done != "":
				s.fatalf("offset %d delivered again after %s", o, m.done)
			case a.DeliveryCount != m.deliveries+1:
				s.fatalf("offset %d delivered with count %d after %d", o, a.DeliveryCount, m.deliveries)
			case int(a.DeliveryCount) > s.cfg.DeliveryCountLimit:
				s.fatalf("offset %d delivered %d times, limit %d", o, a.DeliveryCount, s.cfg.DeliveryCountLimit)
			}
			m.deliveries, m.holder, m.deadline = a.DeliveryCount, member, s.now.Add(s.cfg.RecordLockDuration)
			s.stats["delivered"]++
		}
	}
	s.persist()
}

func (s *psim) acknowledge(member string, all bool) {
	held := s.p.Acquired(member)
	if len(held) == 0 {
		return
	}
	// Acknowledge a random part of what it holds, with random types, or
	// everything as accepted.
	var batches []AckBatch
	for _, h := range held {
		if !all && s.r.IntN(2) == 0 {
			continue
		}
		first, last := h.First, h.Last
		if !all {
			first += s.r.Int64N(last - first + 1)
			last = first + s.r.Int64N(last-first+1)
		}
		b := AckBatch{FirstOffset: first, LastOffset: last}
		if all || s.r.IntN(2) == 0 {
			t := AckAccept
			if !all {
				t = AckType(1 + s.r.IntN(3))
			}
			b.Types = []AckType{t}
		} else {
			for range last - first + 1 {
				b.Types = append(b.Types, AckType(1+s.r.IntN(3)))
			}
		}
		batches = append(batches, b)
	}
	res := s.p.Acknowledge(s.now, member, batches)
	s.expire()
	if res.ErrorCode != 0 {
		// Only expired locks fail an acknowledgement of held records.
		if !res.Changed {
			s.fatalf("acknowledgement of held records failed: %+v", res)
		}
		s.stats["late acks"]++
		s.persist()
		return
	}
	for _, b := range batches {
		for o := b.FirstOffset; o <= b.LastOffset; o++ {
			t := b.Types[0]
			if len(b.Types) > 1 {
				t = b.Types[o-b.FirstOffset]
			}
			m := s.model[o]
			switch t {
			case AckAccept:
				m.done = "accepted"
				m.accepts++
				s.stats["accepted"]++
			case AckRelease:
				s.release(m)
				s.stats["released"]++
			default:
				m.done = "rejected"
				s.stats["rejected"]++
			}
			m.holder, m.deadline = "", time.Time{}
		}
	}
	s.persist()
}

// check compares the partition with the model.
func (s *psim) check() {
	s.t.Helper()
	for o := int64(0); o < s.end; o++ {
		m := s.model[o]
		st, count, holder := s.p.RecordStateAt(o)
		if o < s.p.StartOffset() {
			if !m.gap && m.done == "" {
				s.fatalf("offset %d below the start offset %d but not done", o, s.p.StartOffset())
			}
			continue
		}
		var want RecordState
		switch {
		case m.gap:
			if o < s.p.next {
				want = Archived
			}
		case m.holder != "":
			want = Acquired
		case m.done == "accepted":
			want = Acknowledged
		case m.done != "":
			want = Archived
		}
		wantCount := m.deliveries
		if st != want || holder != m.holder || (!m.gap && count != wantCount) {
			s.fatalf("offset %d: %v count %d holder %q, model %+v", o, st, count, holder, *m)
		}
	}
	// The state a new leader rebuilds is the live one with every
	// acquisition released.
	rebuilt, err := NewPartition(s.cfg, s.p.State())
	if err != nil {
		s.fatalf("rebuild: %v", err)
	}
	released := &Partition{cfg: s.p.cfg, stateEpoch: s.p.stateEpoch, start: s.p.start, next: s.p.next, spans: append([]span(nil), s.p.spans...)}
	released.releaseIf(func(*span) bool { return true })
	if !reflect.DeepEqual(rebuilt.spans, released.spans) && !(len(rebuilt.spans) == 0 && len(released.spans) == 0) {
		s.fatalf("rebuilt %+v\nreleased %+v", rebuilt.spans, released.spans)
	}
}

func runPartitionSim(t *testing.T, seed uint64, stats map[string]int) {
	r := rand.New(rand.NewPCG(seed, 932))
	s := &psim{t: t, r: r, seed: seed, stats: stats, now: t0, model: map[int64]*rec{},
		key: ShareKey{GroupID: "g", TopicID: tid(1)},
		cfg: PartitionConfig{DeliveryCountLimit: 2 + r.IntN(4), RecordLockDuration: 10 * time.Second, MaxInFlightRecords: 5 + r.IntN(40)}}
	var err error
	if s.p, err = NewPartition(s.cfg, PartitionState{}); err != nil {
		t.Fatal(err)
	}
	s.persist()
	s.grow(10)
	for i := range 4 {
		s.members = append(s.members, fmt.Sprintf("m%d", i))
	}
	pick := func() string { return s.members[r.IntN(len(s.members))] }
	for s.step = 0; s.step < 300; s.step++ {
		switch n := r.IntN(100); {
		case n < 35:
			s.fetch(pick(), false)
		case n < 65:
			s.acknowledge(pick(), false)
		case n < 72: // a member leaves or crashes; a new one takes its place
			i := r.IntN(len(s.members))
			before := s.p.State()
			s.p.ReleaseMember(s.members[i])
			if !s.p.State().Equal(before) {
				s.fatalf("releasing a member changed the persisted state")
			}
			for _, m := range s.model {
				if m.holder == s.members[i] {
					s.release(m)
				}
			}
			s.gen++
			s.members[i] = fmt.Sprintf("m%d-%d", i, s.gen)
			s.stats["left"]++
		case n < 85:
			s.now = s.now.Add(time.Duration(r.IntN(12)) * time.Second)
			// Half the time the timers are late: Acquire and Acknowledge
			// expire the locks due themselves.
			if at, ok := s.p.NextDeadline(); ok && !s.now.Before(at) && r.IntN(2) == 0 {
				before := s.p.State()
				if !s.p.ExpireLocks(s.now) || !s.p.State().Equal(before) {
					s.fatalf("deadline %v passed: nothing expired, or the persisted state changed", at)
				}
				s.expire()
			}
		case n < 92:
			s.grow(1 + r.IntN(4))
		default: // the leader fails over: the new one loads the persisted state
			st, err := s.store.Read(s.key, 1)
			if err != nil {
				s.fatalf("read: %v", err)
			}
			if s.p, err = NewPartition(s.cfg, st); err != nil {
				s.fatalf("load: %v", err)
			}
			for _, m := range s.model {
				if m.holder != "" {
					s.release(m)
				}
			}
			s.stats["failovers"]++
		}
		s.check()
	}
	// Drain: members fetch and accept everything until all is done.
	for s.step = 300; s.p.StartOffset() < s.end; s.step++ {
		if s.step > 2000 {
			s.fatalf("not drained: start %d, end %d", s.p.StartOffset(), s.end)
		}
		s.now = s.now.Add(11 * time.Second) // locks of crashed members expire
		m := pick()
		s.fetch(m, true)
		s.acknowledge(m, true)
		s.check()
	}
	for o := int64(0); o < s.end; o++ {
		m := s.model[o]
		switch {
		case m.gap:
		case m.done == "accepted" && m.accepts == 1:
		case m.done == "rejected" && m.accepts == 0:
		case m.done == "limit" && m.accepts == 0 && int(m.deliveries) == s.cfg.DeliveryCountLimit:
		default:
			s.fatalf("offset %d ends as %+v", o, *m)
		}
		stats["offsets "+m.done]++
	}
}

func TestPartitionSimulation(t *testing.T) {
	stats := map[string]int{}
	for seed := range uint64(120) {
		runPartitionSim(t, seed, stats)
	}
	t.Logf("%v", stats)
	for _, k := range []string{"delivered", "accepted", "released", "rejected", "expired", "failovers", "left", "offsets limit", "late acks"} {
		if stats[k] == 0 {
			t.Errorf("the simulation never exercised %q", k)
		}
	}
}
