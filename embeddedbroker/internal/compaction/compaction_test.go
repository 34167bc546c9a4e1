package compaction

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// rec is a test record: key, value (nil: tombstone), timestamp delta.
type rec struct {
	key, value string
	tomb       bool
	tsDelta    int64
}

// build encodes a batch at base with the given records, codec and
// producer (pid < 0: none).
func build(base int64, codec batch.Codec, pid int64, txn bool, recs ...rec) []byte {
	var rs []batch.Record
	for _, r := range recs {
		br := batch.Record{Key: []byte(r.key), Value: []byte(r.value), TimestampDelta: r.tsDelta}
		if r.tomb {
			br.Value = nil
		}
		rs = append(rs, br)
	}
	opts := batch.BuildOptions{Codec: codec, Timestamp: 1_000_000, Transactional: txn}
	if pid >= 0 {
		opts.Producer = &batch.Producer{ID: pid, Epoch: 0, BaseSequence: int32(base)}
	}
	b := batch.Build(opts, rs...)
	batch.SetBaseOffset(b, base)
	return b
}

// marker encodes a transaction marker (abort or commit) at off.
func marker(off, pid int64, abort bool) []byte {
	typ := kmsg.ControlRecordKeyTypeCommit
	if abort {
		typ = kmsg.ControlRecordKeyTypeAbort
	}
	key := (&kmsg.ControlRecordKey{Version: 0, Type: typ}).AppendTo(nil)
	value := (&kmsg.EndTxnMarker{Version: 0}).AppendTo(nil)
	b := batch.Build(batch.BuildOptions{Timestamp: 1_000_000, Control: true, Transactional: true,
		Producer: &batch.Producer{ID: pid, BaseSequence: -1}}, batch.Record{Key: key, Value: value})
	batch.SetBaseOffset(b, off)
	return b
}

// records decodes a batch's records as (offset, key, value, timestamp).
func records(t *testing.T, b []byte) []string {
	t.Helper()
	h, err := batch.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	if err := batch.ForEachRecord(b, func(r batch.Record) bool {
		v := string(r.Value)
		if r.Value == nil {
			v = "<nil>"
		}
		out = append(out, fmt.Sprintf("%d:%s=%s@%d", h.BaseOffset+int64(r.OffsetDelta), r.Key, v, h.FirstTimestamp+r.TimestampDelta))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// pass runs a cleaning pass over batches (the map built from all of them)
// at time now and returns what is kept.
func pass(t *testing.T, now int64, lastOf func(pid, last int64) bool, aborted []AbortedTxn, batches ...[]byte) ([][]byte, []Result) {
	t.Helper()
	m := NewOffsetMap(1 << 20)
	mt := NewTxnState(aborted)
	for _, b := range batches {
		fit, err := m.AddBatch(b, mt)
		if err != nil || !fit {
			t.Fatalf("AddBatch: %v, fit %v", err, fit)
		}
	}
	o := FilterOptions{Map: m, Txn: NewTxnState(aborted), Now: now, DeleteRetentionMs: 1000, IsLastBatchOfProducer: lastOf}
	var out [][]byte
	var res []Result
	for _, b := range batches {
		r, err := Filter(b, o)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, r)
		if r.Batch != nil {
			h, err := batch.ParseHeader(r.Batch)
			if err != nil || h.Size() != len(r.Batch) || batch.CRC(r.Batch) != h.CRC {
				t.Fatalf("output batch does not frame or has a bad CRC: %v", err)
			}
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(r.Batch); err != nil {
				t.Fatalf("kmsg cannot read the output batch: %v", err)
			}
			out = append(out, r.Batch)
		}
	}
	return out, res
}

func TestLatestPerKey(t *testing.T) {
	for _, codec := range []batch.Codec{batch.CodecNone, batch.CodecSnappy, batch.CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			b0 := build(0, codec, -1, false, rec{key: "a", value: "1"}, rec{key: "b", value: "1", tsDelta: 5}, rec{key: "c", value: "1", tsDelta: 9})
			b1 := build(3, codec, -1, false, rec{key: "a", value: "2"}, rec{key: "d", value: "1"})
			out, _ := pass(t, 0, nil, nil, b0, b1)
			if len(out) != 2 {
				t.Fatalf("%d batches kept, want 2", len(out))
			}
			if got := fmt.Sprint(records(t, out[0])); got != "[1:b=1@1000005 2:c=1@1000009]" {
				t.Fatalf("first batch keeps %s", got)
			}
			if !bytes.Equal(out[1], b1) {
				t.Fatal("a batch that keeps every record must be kept byte for byte")
			}
			h0, _ := batch.ParseHeader(out[0])
			if h0.BaseOffset != 0 || h0.LastOffset() != 2 || h0.Codec() != codec {
				t.Fatalf("rebuilt batch spans [%d, %d] in %v, want [0, 2] in %v", h0.BaseOffset, h0.LastOffset(), h0.Codec(), codec)
			}
		})
	}
}

func TestTombstones(t *testing.T) {
	b0 := build(0, batch.CodecNone, -1, false, rec{key: "a", value: "1"}, rec{key: "b", value: "1"})
	b1 := build(2, batch.CodecNone, -1, false, rec{key: "a", tomb: true, tsDelta: 7})
	out, res := pass(t, 5000, nil, nil, b0, b1)
	if len(out) != 2 || !res[1].KeptTombstones {
		t.Fatalf("first cleaning: %d batches, kept tombstones %v; want the tombstone kept", len(out), res[1].KeptTombstones)
	}
	h, _ := batch.ParseHeader(out[1])
	if h.Attributes&AttrDeleteHorizon == 0 || h.FirstTimestamp != 6000 {
		t.Fatalf("tombstone batch: attributes %#x, base timestamp %d; want the delete horizon 6000 stamped", h.Attributes, h.FirstTimestamp)
	}
	if got := fmt.Sprint(records(t, out[1])); got != "[2:a=<nil>@1000007]" {
		t.Fatalf("stamped batch holds %s; the record's timestamp must not change", got)
	}
	// Before the horizon the tombstone stays; after it, it goes.
	out2, _ := pass(t, 5999, nil, nil, out...)
	if len(out2) != 2 || !bytes.Equal(out2[1], out[1]) {
		t.Fatal("the tombstone went before its horizon")
	}
	out3, _ := pass(t, 6000, nil, nil, out...)
	if len(out3) != 1 || fmt.Sprint(records(t, out3[0])) != "[1:b=1@1000000]" {
		t.Fatalf("after the horizon: %d batches", len(out3))
	}
}

func TestTransactions(t *testing.T) {
	const pid = 7
	data := build(0, batch.CodecNone, pid, true, rec{key: "a", value: "aborted"})
	abort := marker(1, pid, true)
	committed := build(2, batch.CodecNone, pid, true, rec{key: "b", value: "committed"})
	commit := marker(3, pid, false)
	aborted := []AbortedTxn{{ProducerID: pid, FirstOffset: 0, LastOffset: 1}}
	out, res := pass(t, 0, nil, aborted, data, abort, committed, commit)
	// The aborted data goes; its marker stays this pass (data was seen),
	// and so does the commit marker (its transaction has data).
	if len(out) != 3 || res[0].Batch != nil {
		t.Fatalf("first pass kept %d batches (aborted data kept: %v), want abort marker, committed data, commit marker", len(out), res[0].Batch != nil)
	}
	// Next pass: the abort marker has no data left: stamped, then removed
	// after its horizon. The commit marker stays while its data does.
	out2, res2 := pass(t, 10, nil, aborted, out...)
	if len(out2) != 3 || !res2[0].KeptTombstones {
		t.Fatal("second pass: the abort marker must be kept, stamped")
	}
	out3, _ := pass(t, 2000, nil, aborted, out2...)
	if len(out3) != 2 {
		t.Fatalf("after the horizon: %d batches, want the committed data and its marker", len(out3))
	}
	if got := fmt.Sprint(records(t, out3[0])); got != "[2:b=committed@1000000]" {
		t.Fatalf("committed data: %s", got)
	}
}

func TestProducerLastBatchKept(t *testing.T) {
	const pid = 3
	b0 := build(0, batch.CodecNone, pid, false, rec{key: "a", value: "1"}, rec{key: "b", value: "1"})
	b1 := build(2, batch.CodecNone, -1, false, rec{key: "a", value: "2"}, rec{key: "b", value: "2"})
	lastOf := func(p, last int64) bool { return p == pid && last == 1 }
	out, res := pass(t, 0, lastOf, nil, b0, b1)
	if len(out) != 2 || res[0].RecordsKept != 0 {
		t.Fatalf("%d batches, %d records kept of the producer's last batch; want it kept, empty", len(out), res[0].RecordsKept)
	}
	h, _ := batch.ParseHeader(out[0])
	if h.NumRecords != 0 || h.BaseOffset != 0 || h.LastOffset() != 1 || h.ProducerID != pid || h.BaseSequence != 0 {
		t.Fatalf("empty batch: %+v; want offsets [0, 1], producer %d, base sequence 0", h, pid)
	}
	// Without it being the last, the batch goes.
	if out, _ := pass(t, 0, nil, nil, b0, b1); len(out) != 1 {
		t.Fatalf("%d batches, want 1", len(out))
	}
}

func TestOffsetMapFull(t *testing.T) {
	m := NewOffsetMap(3 * entrySize * 10 / 9) // 2 keys (90% of 3 slots, rounded down... at least 2)
	tx := NewTxnState(nil)
	b0 := build(0, batch.CodecNone, -1, false, rec{key: "a", value: "1"}, rec{key: "b", value: "1"})
	b1 := build(2, batch.CodecNone, -1, false, rec{key: "c", value: "1"}, rec{key: "a", value: "2"})
	if fit, err := m.AddBatch(b0, tx); !fit || err != nil {
		t.Fatalf("first batch: %v %v", fit, err)
	}
	slots := m.slots
	if fit, err := m.AddBatch(b1, tx); err != nil || (fit && slots < 3) {
		t.Fatalf("second batch: fit %v (slots %d), err %v", fit, slots, err)
	}
	if off, _ := m.Get([]byte("a")); slots < 3 && off != 0 {
		t.Fatalf("a batch that did not fit changed the map: a at %d", off)
	}
}

func FuzzFilter(f *testing.F) {
	f.Add(build(0, batch.CodecNone, -1, false, rec{key: "a", value: "1"}))
	f.Add(marker(5, 1, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := NewOffsetMap(1 << 12)
		_, _ = m.AddBatch(b, NewTxnState(nil))
		_, _ = Filter(b, FilterOptions{Map: m, Txn: NewTxnState(nil)})
	})
}
