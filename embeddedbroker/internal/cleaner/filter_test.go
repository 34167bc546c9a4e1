package cleaner

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

const (
	t0  = int64(1_700_000_000_000) // the first cleaning's Now
	ret = int64(86_400_000)        // delete.retention.ms
)

// outcome names what Filter did with in: "same" (the input slice itself),
// "new" (rewritten), "empty" (kept as an empty batch) or "drop".
func outcome(in []byte, res Result) string {
	switch {
	case res.Batch == nil:
		return "drop"
	case &res.Batch[0] == &in[0]:
		return "same"
	case res.RecordsKept == 0:
		return "empty"
	}
	return "new"
}

func outcomes(batches [][]byte, results []Result) []string {
	var out []string
	for i := range batches {
		out = append(out, outcome(batches[i], results[i]))
	}
	return out
}

func hdrs(kv ...string) []batch.RecordHeader {
	var hs []batch.RecordHeader
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, batch.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

// TestFilterRecords covers which records one cleaning keeps.
func TestFilterRecords(t *testing.T) {
	withHeaders := r("a", "1")
	withHeaders.Headers = hdrs("h1", "x", "h2", "")
	withHeaders.Headers = append(withHeaders.Headers, batch.RecordHeader{Key: "null"})
	withHeaders2 := withTs(r("b", "1"), 9)
	withHeaders2.Headers = hdrs("trace", "abc")

	for _, tc := range []struct {
		name     string
		log      [][]byte
		mapped   int // the dirty section starts at log[mapped]
		mapUpTo  int // and ends before log[mapUpTo] (0: the end)
		nilMap   bool
		outcomes []string
		view     []string
		invalid  int
	}{
		{
			name:     "the latest record of each key stays",
			log:      [][]byte{plain(0, r("a", "1"), r("b", "1")), plain(2, r("a", "2")), plain(3, r("c", "1"))},
			outcomes: []string{"new", "same", "same"},
			view:     []string{"1 b=1", "2 a=2", "3 c=1"},
		},
		{
			name:     "the last record of a batch goes, its last offset stays",
			log:      [][]byte{plain(0, r("a", "1"), r("b", "1")), plain(2, r("b", "2"))},
			outcomes: []string{"new", "same"},
			view:     []string{"0 a=1", "2 b=2"},
		},
		{
			name:     "a middle record goes",
			log:      [][]byte{plain(0, r("a", "1"), r("b", "1"), r("c", "1")), plain(3, r("b", "2"))},
			outcomes: []string{"new", "same"},
			view:     []string{"0 a=1", "2 c=1", "3 b=2"},
		},
		{
			name:     "a batch that loses every record goes",
			log:      [][]byte{plain(0, r("a", "1"), r("b", "1")), plain(2, r("b", "2"), r("a", "2"))},
			outcomes: []string{"drop", "same"},
			view:     []string{"2 b=2", "3 a=2"},
		},
		{
			name:     "duplicates inside one batch",
			log:      [][]byte{plain(0, r("a", "1"), r("a", "2"), r("a", "3"))},
			outcomes: []string{"new"},
			view:     []string{"2 a=3"},
		},
		{
			name:     "the clean section is compacted against the dirty one",
			log:      [][]byte{plain(0, r("a", "1"), r("b", "1")), plain(2, r("c", "1")), plain(3, r("a", "2"))},
			mapped:   2,
			outcomes: []string{"new", "same", "same"},
			view:     []string{"1 b=1", "2 c=1", "3 a=2"},
		},
		{
			name:     "records past the map's latest offset stay",
			log:      [][]byte{plain(0, r("a", "1")), plain(1, r("a", "2")), plain(2, r("a", "3"))},
			mapUpTo:  2,
			outcomes: []string{"drop", "same", "same"},
			view:     []string{"1 a=2", "2 a=3"},
		},
		{
			name:     "keyless records go before the map's latest offset, stay past it",
			log:      [][]byte{plain(0, keyless("x"), r("a", "1")), plain(2, keyless("y"))},
			mapUpTo:  1,
			outcomes: []string{"new", "same"},
			view:     []string{"1 a=1", "2 =y"},
			invalid:  1,
		},
		{
			name:     "no map keeps every record",
			log:      [][]byte{plain(0, r("a", "1")), plain(1, r("a", "2"))},
			nilMap:   true,
			outcomes: []string{"same", "same"},
			view:     []string{"0 a=1", "1 a=2"},
		},
		{
			name:     "headers and timestamps survive a rewrite",
			log:      [][]byte{plain(0, withTs(r("z", "1"), 3), withHeaders, withHeaders2), plain(3, r("z", "2"))},
			outcomes: []string{"new", "same"},
			view:     []string{"1 a=1", "2 b=1", "3 z=2"},
		},
		{
			name:     "empty keys and values are keys and values",
			log:      [][]byte{plain(0, r("", ""), r("", "x")), plain(2, r("k", ""))},
			outcomes: []string{"new", "same"},
			view:     []string{"1 =x", "2 k="},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upTo := len(tc.log)
			if tc.mapUpTo > 0 {
				upTo = tc.mapUpTo
			}
			var m *OffsetMap
			if !tc.nilMap {
				m = mapOf(t, 1<<12, nil, tc.log[tc.mapped:upTo]...)
			}
			results, out := run(t, FilterOptions{Map: m, Now: t0, DeleteRetentionMs: ret}, nil, tc.log...)
			if got := outcomes(tc.log, results); !slices.Equal(got, tc.outcomes) {
				t.Errorf("outcomes %v, want %v", got, tc.outcomes)
			}
			if got := view(t, out); !slices.Equal(got, tc.view) {
				t.Errorf("view %q, want %q", got, tc.view)
			}
			invalid := 0
			for _, res := range results {
				invalid += res.Invalid
				if res.KeptTombstones || res.DeleteHorizon != -1 {
					t.Errorf("no tombstones here, but %+v", res)
				}
			}
			if invalid != tc.invalid {
				t.Errorf("invalid %d, want %d", invalid, tc.invalid)
			}
		})
	}
}

// TestFilterRebuiltHeader checks a rewritten batch's header against the
// original's, field by field.
func TestFilterRebuiltHeader(t *testing.T) {
	in := mk(100, batch.BuildOptions{
		Codec: batch.CodecLZ4, Timestamp: 5_000, Transactional: true,
		Producer: &batch.Producer{ID: 42, Epoch: 7, BaseSequence: 1000},
	}, withTs(r("a", "1"), 0), withTs(r("b", "1"), 30), withTs(r("c", "1"), 10), withTs(r("d", "1"), 20))
	// Unknown attribute bits (here 8 and 15) are dropped by a rewrite, as Kafka's
	// builder computes the attributes afresh.
	binary.BigEndian.PutUint16(in[batch.OffAttributes:], uint16(attrs(in))|0x8100)
	batch.SetCRC(in)
	m := mapOf(t, 1<<10, nil, plain(200, r("a", "2"), r("b", "2"), r("d", "2")))
	m.UpdateLatestOffset(202)
	res, err := Filter(in, FilterOptions{Map: m, Txn: NewTxnState(nil), Now: t0, DeleteRetentionMs: ret})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, in, res)
	hi, ho := header(t, in), header(t, res.Batch)
	if ho.Codec() != batch.CodecLZ4 || ho.Attributes != batch.AttrTransactional|int16(batch.CodecLZ4) {
		t.Errorf("attributes %#x", ho.Attributes)
	}
	if ho.BaseOffset != 100 || ho.LastOffsetDelta != 3 || ho.NumRecords != 1 || ho.PartitionLeaderEpoch != 3 {
		t.Errorf("header %+v", ho)
	}
	if ho.ProducerID != 42 || ho.ProducerEpoch != 7 || ho.BaseSequence != 1000 || ho.LastSequence() != hi.LastSequence() {
		t.Errorf("producer %d/%d/%d", ho.ProducerID, ho.ProducerEpoch, ho.BaseSequence)
	}
	// c (delta 10) is the only record left: the base timestamp is its
	// timestamp, its delta 0, and the max timestamp its too.
	if ho.FirstTimestamp != 5_010 || ho.MaxTimestamp != 5_010 {
		t.Errorf("timestamps first %d max %d, want 5010 5010", ho.FirstTimestamp, ho.MaxTimestamp)
	}
	if res.MaxTimestamp != 5_010 || res.OffsetOfMaxTimestamp != 103 || res.MaxOffset != 102 {
		t.Errorf("result timestamps %+v", res)
	}
	if res.RecordsIn != 4 || res.RecordsKept != 1 {
		t.Errorf("records %d/%d", res.RecordsIn, res.RecordsKept)
	}
	recs, _ := batch.Records(res.Batch)
	if len(recs) != 1 || recs[0].OffsetDelta != 2 || recs[0].TimestampDelta != 0 {
		t.Errorf("records %+v", recs)
	}
}

// TestFilterCodecs rewrites a batch of each codec.
func TestFilterCodecs(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			withHeaders := withTs(r("b", "1"), 7)
			withHeaders.Headers = hdrs("k", "v")
			log := [][]byte{
				mk(0, batch.BuildOptions{Codec: c}, r("a", "1"), withHeaders, r("c", "1"), tomb("d")),
				mk(4, batch.BuildOptions{Codec: c}, r("a", "2")),
			}
			m := mapOf(t, 1<<10, nil, log...)
			results, out := run(t, FilterOptions{Map: m, Now: t0, DeleteRetentionMs: ret}, nil, log...)
			if got := outcomes(log, results); !slices.Equal(got, []string{"new", "same"}) {
				t.Fatalf("outcomes %v", got)
			}
			if h := header(t, out[0]); h.Codec() != c || h.Attributes&batch.AttrDeleteHorizon == 0 {
				t.Errorf("rewritten batch: codec %v attributes %#x", h.Codec(), h.Attributes)
			}
			want := []string{"1 b=1", "2 c=1", "3 d=<nil>", "4 a=2"}
			if got := view(t, out); !slices.Equal(got, want) {
				t.Errorf("view %q, want %q", got, want)
			}
		})
	}
}

// TestFilterTombstones follows a tombstone through the cleanings of KIP-534:
// stamped, kept until the horizon, removed at it.
func TestFilterTombstones(t *testing.T) {
	log := [][]byte{
		plain(0, withTs(r("a", "1"), 0), r("b", "1")),
		plain(2, withTs(tomb("a"), 5), withTs(r("c", "1"), 9)),
		plain(4, tomb("z")),
	}
	horizon := t0 + ret

	// 1: the first cleaning that keeps the tombstones stamps their
	// batches' horizon, rewriting the record timestamps against it.
	m := mapOf(t, 1<<10, nil, log...)
	results, out := run(t, FilterOptions{Map: m, Now: t0, DeleteRetentionMs: ret}, nil, log...)
	if got := outcomes(log, results); !slices.Equal(got, []string{"new", "new", "new"}) {
		t.Fatalf("cleaning 1: outcomes %v", got)
	}
	if got, want := view(t, out), []string{"1 b=1", "2 a=<nil>", "3 c=1", "4 z=<nil>"}; !slices.Equal(got, want) {
		t.Fatalf("cleaning 1: view %q, want %q", got, want)
	}
	if results[0].KeptTombstones || results[0].DeleteHorizon != -1 || attrs(out[0])&batch.AttrDeleteHorizon != 0 {
		t.Errorf("cleaning 1: a batch without tombstones got a horizon: %+v", results[0])
	}
	for i, res := range results[1:] {
		h := header(t, res.Batch)
		if !res.KeptTombstones || res.DeleteHorizon != horizon || h.Attributes&batch.AttrDeleteHorizon == 0 || h.FirstTimestamp != horizon {
			t.Errorf("cleaning 1, batch %d: kept %v horizon %d, header %+v", i+1, res.KeptTombstones, res.DeleteHorizon, h)
		}
	}
	// The horizon is the base timestamp; the records' timestamps, as a
	// consumer computes them (base + delta), are those of the input.
	before, after := consume(t, log...), consume(t, out...)
	for _, a := range after {
		for _, b := range before {
			if a.off == b.off && a.ts != b.ts {
				t.Errorf("record %d: timestamp %d became %d", a.off, b.ts, a.ts)
			}
		}
	}
	if h := header(t, out[1]); h.MaxTimestamp != header(t, log[1]).MaxTimestamp {
		t.Errorf("max timestamp %d, want %d", h.MaxTimestamp, header(t, log[1]).MaxTimestamp)
	}
	if recs, _ := batch.Records(out[1]); recs[0].TimestampDelta != header(t, log[1]).FirstTimestamp+5-horizon {
		t.Errorf("timestamp delta %d against the horizon", recs[0].TimestampDelta)
	}

	// 2: before the horizon, the stamped batches are left as they are.
	log2 := append(slices.Clone(out), plain(5, r("d", "1")))
	m = mapOf(t, 1<<10, nil, log2[len(log2)-1])
	results, out2 := run(t, FilterOptions{Map: m, Now: horizon - 1, DeleteRetentionMs: ret}, nil, log2...)
	if got := outcomes(log2, results); !slices.Equal(got, []string{"same", "same", "same", "same"}) {
		t.Fatalf("cleaning 2: outcomes %v", got)
	}
	if !results[1].KeptTombstones || results[1].DeleteHorizon != horizon {
		t.Errorf("cleaning 2: %+v", results[1])
	}

	// 3: at the horizon, the tombstones go; a batch that keeps other
	// records keeps its horizon, as Kafka's builder does.
	log3 := append(slices.Clone(out2), plain(6, r("e", "1")))
	m = mapOf(t, 1<<10, nil, log3[len(log3)-1])
	results, out3 := run(t, FilterOptions{Map: m, Now: horizon, DeleteRetentionMs: ret}, nil, log3...)
	if got := outcomes(log3, results); !slices.Equal(got, []string{"same", "new", "drop", "same", "same"}) {
		t.Fatalf("cleaning 3: outcomes %v", got)
	}
	if got, want := view(t, out3), []string{"1 b=1", "3 c=1", "5 d=1", "6 e=1"}; !slices.Equal(got, want) {
		t.Fatalf("cleaning 3: view %q, want %q", got, want)
	}
	if h := header(t, out3[1]); results[1].KeptTombstones || results[1].DeleteHorizon != horizon ||
		h.Attributes&batch.AttrDeleteHorizon == 0 || h.FirstTimestamp != horizon {
		t.Errorf("cleaning 3: %+v, header %+v", results[1], h)
	}
}

func TestFilterTombstoneRules(t *testing.T) {
	stamped := func(base int64, horizon int64, recs ...batch.Record) []byte {
		b := plain(base, recs...)
		res, err := Filter(b, FilterOptions{Txn: NewTxnState(nil), Map: NewOffsetMap(100), Now: horizon, DeleteRetentionMs: 0})
		if err != nil || header(t, res.Batch).FirstTimestamp != horizon {
			t.Fatalf("stamping: %v", err)
		}
		return res.Batch
	}
	for _, tc := range []struct {
		name     string
		log      [][]byte
		mapUpTo  int
		now      int64
		outcomes []string
		view     []string
	}{
		{
			name:     "a superseded tombstone goes at once",
			log:      [][]byte{plain(0, tomb("a")), plain(1, r("a", "1"))},
			now:      t0,
			outcomes: []string{"drop", "same"},
			view:     []string{"1 a=1"},
		},
		{
			name:     "a tombstone past its horizon but past the map's latest offset stays",
			log:      [][]byte{plain(0, r("b", "1")), stamped(1, t0-1, tomb("a"))},
			mapUpTo:  1,
			now:      t0,
			outcomes: []string{"same", "same"},
			view:     []string{"0 b=1", "1 a=<nil>"},
		},
		{
			name:     "a value in a batch past its horizon stays",
			log:      [][]byte{stamped(0, t0-1, r("a", "1"), tomb("b"))},
			now:      t0,
			outcomes: []string{"new"},
			view:     []string{"0 a=1"},
		},
		{
			name:     "a tombstone kept in a batch without horizon stamps it",
			log:      [][]byte{plain(0, r("x", "1"), tomb("y"), r("x", "2"))},
			now:      t0,
			outcomes: []string{"new"},
			view:     []string{"1 y=<nil>", "2 x=2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upTo := len(tc.log)
			if tc.mapUpTo > 0 {
				upTo = tc.mapUpTo
			}
			m := mapOf(t, 1<<10, nil, tc.log[:upTo]...)
			results, out := run(t, FilterOptions{Map: m, Now: tc.now, DeleteRetentionMs: ret}, nil, tc.log...)
			if got := outcomes(tc.log, results); !slices.Equal(got, tc.outcomes) {
				t.Errorf("outcomes %v, want %v", got, tc.outcomes)
			}
			if got := view(t, out); !slices.Equal(got, tc.view) {
				t.Errorf("view %q, want %q", got, tc.view)
			}
		})
	}
}

// TestFilterLogAppendTime: under LogAppendTime every record's timestamp is
// the batch's max timestamp, which a rewrite keeps; Kafka's builder then
// writes deltas against the first record's timestamp (that same time) or
// the horizon.
func TestFilterLogAppendTime(t *testing.T) {
	in := plain(0, withTs(r("a", "1"), 3), withTs(r("b", "1"), 8), withTs(tomb("c"), 1))
	batch.SetLogAppendTime(in, 7_777)
	m := mapOf(t, 1<<10, nil, in, plain(3, r("a", "2")))
	res, err := Filter(in, FilterOptions{Map: m, Txn: NewTxnState(nil), Now: t0, DeleteRetentionMs: ret})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, in, res)
	h := header(t, res.Batch)
	if !h.LogAppendTime() || h.MaxTimestamp != 7_777 || h.FirstTimestamp != t0+ret {
		t.Fatalf("header %+v", h)
	}
	for _, rc := range consume(t, res.Batch) {
		if rc.ts != 7_777 {
			t.Errorf("record %d: timestamp %d", rc.off, rc.ts)
		}
	}
	recs, _ := batch.Records(res.Batch)
	for _, rc := range recs {
		if rc.TimestampDelta != 7_777-(t0+ret) {
			t.Errorf("delta %d", rc.TimestampDelta)
		}
	}
	if res.MaxTimestamp != 7_777 || res.OffsetOfMaxTimestamp != 2 {
		t.Errorf("result %+v", res)
	}

	// Without a horizon, the base timestamp is the append time.
	in = plain(0, withTs(r("a", "1"), 3), withTs(r("b", "1"), 8))
	batch.SetLogAppendTime(in, 7_777)
	m = mapOf(t, 1<<10, nil, in, plain(3, r("a", "2")))
	res, err = Filter(in, FilterOptions{Map: m, Txn: NewTxnState(nil), Now: t0, DeleteRetentionMs: ret})
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, res.Batch); h.FirstTimestamp != 7_777 || h.MaxTimestamp != 7_777 || h.Attributes&batch.AttrDeleteHorizon != 0 {
		t.Fatalf("header %+v", h)
	}
}

func TestFilterTimestamps(t *testing.T) {
	// Records without a timestamp (-1) are fine; the max timestamp stays
	// -1 and Kafka reports no offset for it.
	in := mk(0, batch.BuildOptions{Timestamp: -1}, r("a", "1"), r("b", "1"))
	m := mapOf(t, 1<<10, nil, in, plain(2, r("a", "2")))
	res, err := Filter(in, FilterOptions{Map: m, Txn: NewTxnState(nil)})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, in, res)
	if h := header(t, res.Batch); h.FirstTimestamp != -1 || h.MaxTimestamp != -1 || res.OffsetOfMaxTimestamp != -1 || res.MaxTimestamp != -1 {
		t.Fatalf("header %+v, result %+v", h, res)
	}

	// A record timestamp below -1 cannot be rewritten: Kafka's builder
	// throws and fails the cleaning.
	in = mk(0, batch.BuildOptions{Timestamp: -10}, r("a", "1"), r("b", "1"))
	m = mapOf(t, 1<<10, nil, in, plain(2, r("a", "2")))
	if _, err := Filter(in, FilterOptions{Map: m, Txn: NewTxnState(nil)}); !errors.Is(err, batch.ErrInvalidTimestamp) {
		t.Fatalf("err %v, want ErrInvalidTimestamp", err)
	}
	// Kept as is, it is not rewritten and so not refused.
	m = mapOf(t, 1<<10, nil, in)
	if res, err := Filter(in, FilterOptions{Map: m, Txn: NewTxnState(nil)}); err != nil || outcome(in, res) != "same" {
		t.Fatalf("kept as is: %v, %v", outcome(in, res), err)
	}
}

// TestFilterTransactions follows aborted and committed transactions and
// their markers through successive cleanings.
func TestFilterTransactions(t *testing.T) {
	const (
		pa = int64(7) // aborts
		pc = int64(8) // commits
	)
	aborted := []AbortedTxn{{ProducerID: pa, FirstOffset: 1, LastOffset: 6}}
	log := [][]byte{
		plain(0, r("a", "1")),
		txnData(1, pa, 0, r("a", "aborted"), r("b", "aborted")),
		txnData(3, pc, 0, r("c", "1"), r("d", "1")),
		txnData(5, pa, 2, r("e", "aborted")),
		marker(6, pa, false),
		marker(7, pc, true),
		plain(8, r("c", "2"), r("d", "2")),
		txnData(10, pc, 2, r("f", "1")),
		marker(11, pc, true),
	}
	type cleaning struct {
		now      int64
		outcomes []string
		view     []string
		abortIdx bool // whether the ABORT marker keeps its index entry
	}
	horizon := t0 + 1 + ret
	steps := []cleaning{
		{
			// The aborted data goes; its ABORT marker stays, as the walk
			// met data of its transaction. The committed data is
			// compacted like any other, and its COMMIT marker stays
			// while the walk meets data of its transaction.
			now:      t0,
			outcomes: []string{"same", "drop", "drop", "drop", "same", "same", "same", "same", "same"},
			view:     []string{"0 a=1", "6 \x00\x00\x00\x00=\x00\x00\x00\x00\x00\a", "7 \x00\x00\x00\x01=\x00\x00\x00\x00\x00\a", "8 c=2", "9 d=2", "10 f=1", "11 \x00\x00\x00\x01=\x00\x00\x00\x00\x00\a"},
			abortIdx: true,
		},
		{
			// No data of either transaction is left before their
			// markers: the markers are removable, so they get a horizon.
			now:      t0 + 1,
			outcomes: []string{"same", "new", "new", "same", "same", "same"},
		},
		{
			// Before the horizon they stay as they are.
			now:      horizon - 1,
			outcomes: []string{"same", "same", "same", "same", "same", "same"},
		},
		{
			// At it, they go. The last COMMIT still has its data.
			now:      horizon,
			outcomes: []string{"same", "drop", "drop", "same", "same", "same"},
			view:     []string{"0 a=1", "8 c=2", "9 d=2", "10 f=1", "11 \x00\x00\x00\x01=\x00\x00\x00\x00\x00\a"},
		},
	}
	for i, st := range steps {
		m := mapOf(t, 1<<10, aborted, log...)
		results, out := run(t, FilterOptions{Map: m, Now: st.now, DeleteRetentionMs: ret}, aborted, log...)
		if got := outcomes(log, results); !slices.Equal(got, st.outcomes) {
			t.Fatalf("cleaning %d: outcomes %v, want %v", i+1, got, st.outcomes)
		}
		if st.view != nil {
			if got := view(t, out); !slices.Equal(got, st.view) {
				t.Fatalf("cleaning %d: view %q, want %q", i+1, got, st.view)
			}
		}
		for j, res := range results {
			h := header(t, log[j])
			isAbort := h.Control() && h.ProducerID == pa
			if isAbort && (res.AbortedTxn != nil) != st.abortIdx {
				t.Errorf("cleaning %d: ABORT marker's index entry %v, want %v", i+1, res.AbortedTxn, st.abortIdx)
			}
			if isAbort && res.AbortedTxn != nil && *res.AbortedTxn != aborted[0] {
				t.Errorf("cleaning %d: index entry %+v", i+1, *res.AbortedTxn)
			}
			if outcome(log[j], res) == "new" && h.Control() {
				if !res.KeptTombstones || res.DeleteHorizon != horizon || header(t, res.Batch).FirstTimestamp != horizon {
					t.Errorf("cleaning %d: marker at %d: %+v", i+1, h.BaseOffset, res)
				}
			}
		}
		log = out
	}
}

// TestFilterTxnStateSpansCleanedSection: the walk enters an aborted
// transaction at the first batch at or past its first offset, even when
// that batch is not its own, and a producer's later transactions are
// separate.
func TestFilterTxnStateSpansCleanedSection(t *testing.T) {
	const pid = int64(3)
	aborted := []AbortedTxn{
		{ProducerID: pid, FirstOffset: 2, LastOffset: 3},
		{ProducerID: pid, FirstOffset: 2, LastOffset: 3}, // listed twice: counts once
	}
	log := [][]byte{
		txnData(0, pid, 0, r("a", "committed")),
		marker(1, pid, true),
		txnData(2, pid, 1, r("b", "aborted")),
		marker(3, pid, false),
		txnData(4, pid, 2, r("c", "committed")),
		marker(5, pid, true),
	}
	results, out := run(t, FilterOptions{Map: mapOf(t, 1<<10, aborted, log...), Now: t0, DeleteRetentionMs: ret}, aborted, log...)
	if got, want := outcomes(log, results), []string{"same", "same", "drop", "same", "same", "same"}; !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	if got := view(t, out); len(got) != 5 {
		t.Fatalf("view %q", got)
	}
	if results[3].AbortedTxn == nil {
		t.Fatal("the ABORT marker lost its index entry")
	}
}

func TestFilterProducerRetention(t *testing.T) {
	const pid = int64(5)
	idem := func(base int64, c batch.Codec, recs ...batch.Record) []byte {
		return mk(base, batch.BuildOptions{Codec: c, Producer: &batch.Producer{ID: pid, Epoch: 4, BaseSequence: 10}}, recs...)
	}
	superseding := plain(50, r("a", "2"), r("b", "2"))
	for _, tc := range []struct {
		name    string
		in      []byte
		aborted []AbortedTxn
		opt     FilterOptions
		want    string
	}{
		{
			name: "last batch of its producer, emptied, stays",
			in:   idem(20, batch.CodecZstd, r("a", "1"), r("b", "1")),
			opt:  FilterOptions{IsLastBatchOfProducer: func(p, last int64) bool { return p == pid && last == 21 }},
			want: "empty",
		},
		{
			name: "not the last batch: goes",
			in:   idem(20, batch.CodecZstd, r("a", "1"), r("b", "1")),
			opt:  FilterOptions{IsLastBatchOfProducer: func(p, last int64) bool { return p == pid && last == 99 }},
			want: "drop",
		},
		{
			name: "last batch keeps the records it keeps",
			in:   idem(20, batch.CodecNone, r("a", "1"), r("c", "1")),
			opt:  FilterOptions{IsLastBatchOfProducer: func(int64, int64) bool { return true }},
			want: "new",
		},
		{
			name: "a batch without producer is never a producer's last",
			in:   plain(20, r("a", "1")),
			opt:  FilterOptions{IsLastBatchOfProducer: func(int64, int64) bool { return true }},
			want: "drop",
		},
		{
			name:    "aborted data that is the producer's last stays empty",
			in:      txnData(20, pid, 10, r("x", "1"), r("y", "1")),
			aborted: []AbortedTxn{{ProducerID: pid, FirstOffset: 20, LastOffset: 30}},
			opt:     FilterOptions{IsLastBatchOfProducer: func(p, last int64) bool { return last == 21 }},
			want:    "empty",
		},
		{
			name: "the batch ending at the first uncleanable offset stays empty",
			in:   idem(20, batch.CodecGzip, r("a", "1"), r("b", "1")),
			opt:  FilterOptions{FirstUncleanableOffset: 22},
			want: "empty",
		},
		{
			name: "a batch ending elsewhere goes",
			in:   idem(20, batch.CodecGzip, r("a", "1"), r("b", "1")),
			opt:  FilterOptions{FirstUncleanableOffset: 23},
			want: "drop",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Map = mapOf(t, 1<<10, nil, superseding)
			tc.opt.Txn = NewTxnState(tc.aborted)
			tc.opt.Now, tc.opt.DeleteRetentionMs = t0, ret
			res, err := Filter(tc.in, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, tc.in, res)
			if got := outcome(tc.in, res); got != tc.want {
				t.Fatalf("outcome %s, want %s", got, tc.want)
			}
			if tc.want != "empty" {
				return
			}
			hi, ho := header(t, tc.in), header(t, res.Batch)
			want := hi
			want.Length = batch.HeaderSize - batch.LengthOverhead
			want.CRC = ho.CRC
			want.Attributes = hi.Attributes &^ batch.AttrCompressionMask
			want.FirstTimestamp = -1
			want.NumRecords = 0
			if ho != want {
				t.Errorf("empty batch header\n got %+v\nwant %+v", ho, want)
			}
			if len(res.Batch) != batch.HeaderSize || res.MaxTimestamp != hi.MaxTimestamp || res.OffsetOfMaxTimestamp != hi.LastOffset() ||
				res.MaxOffset != hi.LastOffset() || res.BytesOut != batch.HeaderSize {
				t.Errorf("result %+v", res)
			}
			// Filtering an empty batch again leaves it as it is.
			tc.opt.Txn = NewTxnState(tc.aborted)
			again, err := Filter(res.Batch, tc.opt)
			if err != nil || outcome(res.Batch, again) != "same" {
				t.Errorf("again: %s, %v", outcome(res.Batch, again), err)
			}
		})
	}
}

// TestFilterLastMarkerOfProducer: a producer whose state has no data left
// keeps its last marker (its epoch), emptied once past the horizon.
func TestFilterLastMarkerOfProducer(t *testing.T) {
	const pid = int64(6)
	m := marker(10, pid, true)
	// Stamp it (no data of its transaction in the walk).
	res, err := Filter(m, FilterOptions{Txn: NewTxnState(nil), Now: t0, DeleteRetentionMs: ret})
	if err != nil || outcome(m, res) != "new" {
		t.Fatalf("stamping: %s, %v", outcome(m, res), err)
	}
	stamped := res.Batch
	for _, tc := range []struct {
		name string
		last func(int64, int16) bool
		want string
	}{
		{"not its last", nil, "drop"},
		{"its last, same epoch", func(p int64, e int16) bool { return p == pid && e == 1 }, "empty"},
		{"another epoch", func(p int64, e int16) bool { return p == pid && e == 2 }, "drop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Filter(stamped, FilterOptions{Txn: NewTxnState(nil), Now: t0 + ret, DeleteRetentionMs: ret, IsLastMarkerOfProducer: tc.last})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, stamped, res)
			if got := outcome(stamped, res); got != tc.want {
				t.Fatalf("outcome %s, want %s", got, tc.want)
			}
			if tc.want == "empty" {
				if h := header(t, res.Batch); !h.Control() || !h.Transactional() || h.Attributes&batch.AttrDeleteHorizon != 0 {
					t.Errorf("header %+v", h)
				}
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	good := plain(0, r("a", "1"), r("b", "1"))
	// A record whose length lies, with a correct CRC: Filter reads the
	// records (Kafka would throw reading them).
	corrupt := append([]byte(nil), good...)
	corrupt[batch.HeaderSize] = 0x7e
	batch.SetCRC(corrupt)
	m := mapOf(t, 1<<10, nil, plain(5, r("a", "2")))
	for _, tc := range []struct {
		name string
		b    []byte
		opt  FilterOptions
		want error
	}{
		{"nil TxnState", good, FilterOptions{Map: m}, ErrOptions},
		{"corrupt records", corrupt, FilterOptions{Map: m, Txn: NewTxnState(nil)}, batch.ErrCorrupt},
		{"empty input", nil, FilterOptions{Txn: NewTxnState(nil)}, batch.ErrShort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Filter(tc.b, tc.opt); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	// A batch Kafka deletes outright is not even read, corrupt or not.
	aborted := []AbortedTxn{{ProducerID: 1, FirstOffset: 0, LastOffset: 9}}
	bad := txnData(0, 1, 0, r("a", "1"))
	bad[batch.HeaderSize] = 0x7e
	if res, err := Filter(bad, FilterOptions{Txn: NewTxnState(aborted)}); err != nil || res.Batch != nil {
		t.Fatalf("aborted corrupt batch: %v, %v", res.Batch, err)
	}
}

// TestFilterZeroTxnState: the zero TxnState is one without aborted
// transactions.
func TestFilterZeroTxnState(t *testing.T) {
	var tx TxnState
	for _, b := range [][]byte{txnData(0, 1, 0, r("a", "1")), marker(1, 1, true)} {
		res, err := Filter(b, FilterOptions{Txn: &tx})
		if err != nil || outcome(b, res) != "same" {
			t.Fatalf("%s, %v", outcome(b, res), err)
		}
	}
}

func ExampleFilter() {
	log := [][]byte{
		plain(0, r("user-1", "alice"), r("user-2", "bob")),
		plain(2, r("user-1", "alice@example.com"), tomb("user-2")),
	}
	m := NewOffsetMap(1 << 20)
	tx := NewTxnState(nil)
	for _, b := range log {
		if _, err := m.AddBatch(b, tx); err != nil {
			panic(err)
		}
	}
	opt := FilterOptions{Map: m, Txn: NewTxnState(nil), Now: t0, DeleteRetentionMs: ret}
	for _, b := range log {
		res, err := Filter(b, opt)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%d records in, %d kept, tombstones until %d\n", res.RecordsIn, res.RecordsKept, res.DeleteHorizon)
	}
	// Output:
	// 2 records in, 0 kept, tombstones until -1
	// 2 records in, 2 kept, tombstones until 1700086400000
}

// TestTxnStateIgnoresEndedTransactions: an aborted transaction whose marker
// lies before the walk's first batch (which Kafka's lists never hold) does
// not make its producer's later data look aborted.
func TestTxnStateIgnoresEndedTransactions(t *testing.T) {
	const pid = int64(4)
	aborted := []AbortedTxn{{ProducerID: pid, FirstOffset: 0, LastOffset: 3}}
	log := [][]byte{txnData(10, pid, 5, r("a", "committed")), marker(11, pid, true)}
	m := mapOf(t, 1<<10, aborted, log...)
	if off, ok := m.Get([]byte("a")); !ok || off != 10 {
		t.Fatalf("committed data not mapped: %d, %v", off, ok)
	}
	results, _ := run(t, FilterOptions{Map: m, Now: t0, DeleteRetentionMs: ret}, aborted, log...)
	if got := outcomes(log, results); !slices.Equal(got, []string{"same", "same"}) {
		t.Fatalf("outcomes %v", got)
	}
}
