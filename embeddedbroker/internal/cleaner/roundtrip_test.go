package cleaner

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// modelRec is a data record of a generated log.
type modelRec struct {
	off     int64
	key     *string // nil: keyless
	tomb    bool
	value   string
	aborted bool
	txn     int // the transaction it belongs to, -1 for none
}

// modelMarker is a transaction marker of a generated log.
type modelMarker struct {
	off    int64
	commit bool
	txn    int
}

// genLog is a random log and what is known of it.
type genLog struct {
	batches []([]byte)
	aborted []AbortedTxn
	recs    []modelRec
	markers []modelMarker
	// lastData is the last offset of the last data batch of each
	// idempotent, non-transactional producer (1 to 3).
	lastData map[int64]int64
}

// generate writes a random log of about n batches: plain batches,
// idempotent ones, and transactions of producers 10 and 11 that commit or
// abort, with every codec, tombstones, headers and a few keyless records.
func generate(rng *rand.Rand, n int) *genLog {
	g := &genLog{lastData: map[int64]int64{}}
	next := int64(0)
	seq := map[int64]int32{}
	type open struct {
		id    int
		first int64
	}
	txns := map[int64]*open{}
	txnID := 0
	records := func(base int64, txn int, aborted bool) []batch.Record {
		var recs []batch.Record
		for i := range 1 + rng.IntN(6) {
			var rc batch.Record
			mr := modelRec{off: base + int64(i), txn: txn, aborted: aborted}
			if rng.IntN(33) != 0 {
				k := fmt.Sprintf("k%d", rng.IntN(25))
				rc.Key, mr.key = []byte(k), &k
			}
			if rng.IntN(7) == 0 {
				mr.tomb = true
			} else {
				mr.value = fmt.Sprintf("v%d-%d", mr.off, rng.IntN(1000))
				rc.Value = []byte(mr.value)
			}
			if rng.IntN(4) == 0 {
				rc.Headers = hdrs("h", mr.value)
			}
			rc.TimestampDelta = int64(rng.IntN(100))
			recs = append(recs, rc)
			g.recs = append(g.recs, mr)
		}
		return recs
	}
	opts := func(pid int64, txn bool) batch.BuildOptions {
		o := batch.BuildOptions{Codec: codecs[rng.IntN(len(codecs))], Timestamp: 1_000_000 + next*10, Transactional: txn}
		if pid >= 0 {
			o.Producer = &batch.Producer{ID: pid, Epoch: 2, BaseSequence: seq[pid]}
		}
		return o
	}
	add := func(b []byte) {
		batch.SetBaseOffset(b, next)
		h, _ := batch.ParseHeader(b)
		if h.ProducerID >= 0 && !h.Control() {
			seq[h.ProducerID] += h.NumRecords
		}
		next = h.NextOffset()
		g.batches = append(g.batches, b)
	}
	end := func(pid int64) {
		o := txns[pid]
		delete(txns, pid)
		commit := rng.IntN(2) == 0
		for i := range g.recs {
			if g.recs[i].txn == o.id {
				g.recs[i].aborted = !commit
			}
		}
		if !commit {
			g.aborted = append(g.aborted, AbortedTxn{ProducerID: pid, FirstOffset: o.first, LastOffset: next})
		}
		g.markers = append(g.markers, modelMarker{off: next, commit: commit, txn: o.id})
		b := marker(0, pid, commit)
		add(b)
	}
	for range n {
		switch x := rng.IntN(10); {
		case x < 4:
			add(batch.Build(opts(-1, false), records(next, -1, false)...))
		case x < 6:
			pid := int64(1 + rng.IntN(3))
			b := batch.Build(opts(pid, false), records(next, -1, false)...)
			add(b)
			g.lastData[pid] = next - 1
		case x < 9:
			pid := int64(10 + rng.IntN(2))
			o := txns[pid]
			if o == nil {
				txnID++
				o = &open{id: txnID, first: next}
				txns[pid] = o
			}
			add(batch.Build(opts(pid, true), records(next, o.id, false)...))
		default:
			for pid := range txns {
				end(pid)
				break
			}
		}
	}
	for _, pid := range []int64{10, 11} {
		if txns[pid] != nil {
			end(pid)
		}
	}
	return g
}

// clean filters the whole log once, with a map of all of it, and checks the
// run's invariants.
func (g *genLog) clean(t *testing.T, log [][]byte, now int64) ([][]byte, []Result) {
	t.Helper()
	m := mapOf(t, 1<<16, g.aborted, log...)
	lh := header(t, log[len(log)-1])
	m.UpdateLatestOffset(lh.LastOffset())
	results, out := run(t, FilterOptions{
		Map: m, Now: now, DeleteRetentionMs: ret,
		IsLastBatchOfProducer: func(pid, last int64) bool {
			l, ok := g.lastData[pid]
			return ok && l == last
		},
	}, g.aborted, log...)
	checkLog(t, out)
	return out, results
}

// checkLog checks that batches are in offset order without overlaps.
func checkLog(t *testing.T, log [][]byte) {
	t.Helper()
	next := int64(-1)
	for _, b := range log {
		h := header(t, b)
		if h.BaseOffset < next {
			t.Fatalf("batch at %d overlaps the previous one, ending at %d", h.BaseOffset, next)
		}
		next = h.NextOffset()
	}
}

// consumerView lists what a consumer reads: "off key=value" for data,
// "off COMMIT"/"off ABORT" for markers.
func consumerView(t *testing.T, log [][]byte) []string {
	t.Helper()
	var out []string
	for _, rc := range consume(t, log...) {
		if rc.ctrl {
			typ := "ABORT"
			if rc.key == "\x00\x00\x00\x01" {
				typ = "COMMIT"
			}
			out = append(out, fmt.Sprintf("%d %s", rc.off, typ))
			continue
		}
		out = append(out, fmt.Sprintf("%d %s=%s", rc.off, rc.key, rc.value))
	}
	return out
}

// expected is the model's view: the latest record of each key among the
// data that was not aborted (with tombstones unless dropTombstones), and
// the markers keep says stay.
func (g *genLog) expected(dropTombstones bool, keep func(modelMarker) bool) []string {
	latest := map[string]int64{}
	for _, r := range g.recs {
		if !r.aborted && r.key != nil {
			latest[*r.key] = r.off
		}
	}
	type line struct {
		off int64
		s   string
	}
	var lines []line
	for _, r := range g.recs {
		if r.aborted || r.key == nil || latest[*r.key] != r.off || (r.tomb && dropTombstones) {
			continue
		}
		v := r.value
		if r.tomb {
			v = "<nil>"
		}
		lines = append(lines, line{r.off, fmt.Sprintf("%d %s=%s", r.off, *r.key, v)})
	}
	for _, mk := range g.markers {
		if keep(mk) {
			typ := "ABORT"
			if mk.commit {
				typ = "COMMIT"
			}
			lines = append(lines, line{mk.off, fmt.Sprintf("%d %s", mk.off, typ)})
		}
	}
	slices.SortFunc(lines, func(a, b line) int { return int(a.off - b.off) })
	var out []string
	for _, l := range lines {
		out = append(out, l.s)
	}
	return out
}

// TestRoundTrip cleans random logs three times (at t0, just after, and past
// every horizon) and compares what a franz-go consumer reads with a model of
// compaction. Every output batch is checked by checkResult and checkBatch:
// CRC, framing, kmsg and kgo decoding, batch.Validate where it applies,
// offsets, producer fields and records.
func TestRoundTrip(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			g := generate(rand.New(rand.NewPCG(seed, 7)), 120)

			out1, res1 := g.clean(t, g.batches, t0)
			want := g.expected(false, func(modelMarker) bool { return true })
			if got := consumerView(t, out1); !slices.Equal(got, want) {
				t.Fatalf("cleaning 1:\n got %q\nwant %q", got, want)
			}
			// Each idempotent producer's last batch stays.
			for i, b := range g.batches {
				h := header(t, b)
				if l, ok := g.lastData[h.ProducerID]; ok && l == h.LastOffset() && res1[i].Batch == nil {
					t.Errorf("the last batch of producer %d, at %d, was dropped", h.ProducerID, h.BaseOffset)
				}
			}

			// A COMMIT marker stays for good while data of its
			// transaction is left after cleaning 1.
			survivors := map[int]bool{}
			kept := map[int64]bool{}
			for _, rc := range consume(t, out1...) {
				kept[rc.off] = true
			}
			for _, r := range g.recs {
				if kept[r.off] && r.txn >= 0 {
					survivors[r.txn] = true
				}
			}
			out2, _ := g.clean(t, out1, t0+1)
			if got := consumerView(t, out2); !slices.Equal(got, want) {
				t.Fatalf("cleaning 2 removed something:\n got %q\nwant %q", got, want)
			}
			out3, _ := g.clean(t, out2, t0+1+ret)
			want = g.expected(true, func(mk modelMarker) bool { return mk.commit && survivors[mk.txn] })
			if got := consumerView(t, out3); !slices.Equal(got, want) {
				t.Fatalf("cleaning 3:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestRoundTripSmallMap cleans a random log with a map that holds only a few
// keys, round after round as the broker's cleaner does (each round maps from
// where the last ended until the map fills, and cleans up to there), and
// checks that the result is that of one cleaning with a map large enough.
func TestRoundTripSmallMap(t *testing.T) {
	for seed := range uint64(10) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			g := generate(rand.New(rand.NewPCG(seed, 11)), 120)
			log := g.batches
			aborted := g.aborted
			m := NewOffsetMap(24 * 8) // 7 keys, more than a batch has
			firstDirty, rounds := int64(0), 0
			for {
				rounds++
				m.Clear()
				tx := NewTxnState(aborted)
				end := int64(-1)
				for _, b := range log {
					h := header(t, b)
					if h.NextOffset() <= firstDirty {
						continue
					}
					fit, err := m.AddBatch(b, tx)
					if err != nil {
						t.Fatal(err)
					}
					if !fit {
						end = h.BaseOffset
						break
					}
				}
				lh := header(t, log[len(log)-1])
				last := lh.NextOffset()
				if end < 0 {
					end = last
					m.UpdateLatestOffset(end - 1)
				}
				if end <= firstDirty {
					t.Fatalf("round %d made no progress at %d", rounds, firstDirty)
				}
				var in, rest [][]byte
				for _, b := range log {
					if header(t, b).BaseOffset < end {
						in = append(in, b)
					} else {
						rest = append(rest, b)
					}
				}
				results, out := run(t, FilterOptions{Map: m, Now: t0, DeleteRetentionMs: ret}, aborted, in...)
				// The index keeps the aborted transactions whose ABORT
				// marker the cleaning kept with data, and those past it.
				var next []AbortedTxn
				for _, res := range results {
					if res.AbortedTxn != nil {
						next = append(next, *res.AbortedTxn)
					}
				}
				for _, a := range aborted {
					if a.LastOffset >= end {
						next = append(next, a)
					}
				}
				aborted = next
				log = append(out, rest...)
				checkLog(t, log)
				firstDirty = end
				if end == last {
					break
				}
			}
			if rounds < 3 {
				t.Fatalf("only %d rounds: the map is not small enough to test anything", rounds)
			}
			want := g.expected(false, func(modelMarker) bool { return true })
			if got := consumerView(t, log); !slices.Equal(got, want) {
				t.Fatalf("after %d rounds:\n got %q\nwant %q", rounds, got, want)
			}
		})
	}
}
