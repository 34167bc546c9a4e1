package cleaner

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// codecs are the five codecs of message format v2.
var codecs = []batch.Codec{batch.CodecNone, batch.CodecGzip, batch.CodecSnappy, batch.CodecLZ4, batch.CodecZstd}

// r is a keyed record; v "" is an empty value, use tomb for a null one.
func r(k, v string) batch.Record { return batch.Record{Key: []byte(k), Value: []byte(v)} }

// tomb is a tombstone for k.
func tomb(k string) batch.Record { return batch.Record{Key: []byte(k)} }

// keyless is a record without a key.
func keyless(v string) batch.Record { return batch.Record{Value: []byte(v)} }

// withTs sets a record's timestamp delta.
func withTs(rec batch.Record, d int64) batch.Record { rec.TimestampDelta = d; return rec }

// mk builds a batch at base offset base with partition leader epoch 3.
func mk(base int64, o batch.BuildOptions, recs ...batch.Record) []byte {
	if o.Timestamp == 0 {
		o.Timestamp = 1_000_000 + base
	}
	b := batch.Build(o, recs...)
	batch.SetBaseOffset(b, base)
	batch.SetPartitionLeaderEpoch(b, 3)
	return b
}

// plain is an uncompressed, non-idempotent batch.
func plain(base int64, recs ...batch.Record) []byte { return mk(base, batch.BuildOptions{}, recs...) }

// txnData is a transactional batch of producer pid.
func txnData(base, pid int64, seq int32, recs ...batch.Record) []byte {
	return mk(base, batch.BuildOptions{Transactional: true, Producer: &batch.Producer{ID: pid, Epoch: 1, BaseSequence: seq}}, recs...)
}

// marker is a COMMIT (commit true) or ABORT marker of producer pid.
func marker(base, pid int64, commit bool) []byte {
	key := kmsg.ControlRecordKey{Version: 0, Type: kmsg.ControlRecordKeyTypeAbort}
	if commit {
		key.Type = kmsg.ControlRecordKeyTypeCommit
	}
	value := kmsg.EndTxnMarker{Version: 0, CoordinatorEpoch: 7}
	return mk(base, batch.BuildOptions{
		Transactional: true, Control: true,
		Producer: &batch.Producer{ID: pid, Epoch: 1, BaseSequence: -1},
	}, batch.Record{Key: key.AppendTo(nil), Value: value.AppendTo(nil)})
}

// header parses b's header or fails the test.
func header(t testing.TB, b []byte) batch.Header {
	t.Helper()
	h, err := batch.ParseHeader(b)
	if err != nil {
		t.Fatalf("ParseHeader: %v", err)
	}
	return h
}

// mapOf builds a map over batches (every one must fit).
func mapOf(t testing.TB, memory int, aborted []AbortedTxn, batches ...[]byte) *OffsetMap {
	t.Helper()
	m := NewOffsetMap(memory)
	tx := NewTxnState(aborted)
	for _, b := range batches {
		fit, err := m.AddBatch(b, tx)
		if err != nil || !fit {
			t.Fatalf("AddBatch at %d: fit %v, %v", header(t, b).BaseOffset, fit, err)
		}
	}
	return m
}

// run filters batches in order with opt (a fresh TxnState of aborted when
// opt.Txn is nil), checks each result against its input, and returns the
// results and the output log.
func run(t testing.TB, opt FilterOptions, aborted []AbortedTxn, batches ...[]byte) ([]Result, [][]byte) {
	t.Helper()
	if opt.Txn == nil {
		opt.Txn = NewTxnState(aborted)
	}
	var (
		results []Result
		out     [][]byte
	)
	for _, b := range batches {
		res, err := Filter(b, opt)
		if err != nil {
			t.Fatalf("Filter at %d: %v", header(t, b).BaseOffset, err)
		}
		checkResult(t, b, res)
		results = append(results, res)
		if res.Batch != nil {
			out = append(out, res.Batch)
		}
	}
	return results, out
}

// checkResult checks what Filter promises of every result: offsets, producer
// and framing intact, a valid CRC, records a strict subset in order, and
// the accounting.
func checkResult(t testing.TB, in []byte, res Result) {
	t.Helper()
	if res.BytesIn != len(in) || res.BytesOut != len(res.Batch) {
		t.Errorf("bytes in/out %d/%d, want %d/%d", res.BytesIn, res.BytesOut, len(in), len(res.Batch))
	}
	if res.Batch == nil {
		if res.RecordsKept != 0 {
			t.Errorf("dropped batch with RecordsKept %d", res.RecordsKept)
		}
		return
	}
	checkBatch(t, res.Batch)
	hi, ho := header(t, in), header(t, res.Batch)
	if hi.BaseOffset != ho.BaseOffset || hi.LastOffsetDelta != ho.LastOffsetDelta {
		t.Errorf("offsets moved: [%d,+%d] became [%d,+%d]", hi.BaseOffset, hi.LastOffsetDelta, ho.BaseOffset, ho.LastOffsetDelta)
	}
	if hi.ProducerID != ho.ProducerID || hi.ProducerEpoch != ho.ProducerEpoch || hi.BaseSequence != ho.BaseSequence ||
		hi.PartitionLeaderEpoch != ho.PartitionLeaderEpoch {
		t.Errorf("producer or epoch changed: %+v became %+v", hi, ho)
	}
	const kept = batch.AttrTimestampType | batch.AttrTransactional | batch.AttrControl
	if hi.Attributes&kept != ho.Attributes&kept {
		t.Errorf("attributes %#x became %#x", hi.Attributes, ho.Attributes)
	}
	if ho.NumRecords > 0 && hi.Codec() != ho.Codec() {
		t.Errorf("codec %v became %v", hi.Codec(), ho.Codec())
	}
	if int(ho.NumRecords) != res.RecordsKept {
		t.Errorf("RecordsKept %d, batch holds %d", res.RecordsKept, ho.NumRecords)
	}
	if res.RecordsKept == res.RecordsIn && !bytes.Equal(in, res.Batch) && hi.Attributes&batch.AttrDeleteHorizon != 0 {
		t.Errorf("a batch with a horizon that keeps all its records was rewritten")
	}
	// The kept records are input records, in order, with their offsets,
	// timestamps, keys, values and headers.
	inRecs := recordsOf(t, in)
	j := 0
	for _, o := range recordsOf(t, res.Batch) {
		for j < len(inRecs) && inRecs[j].off != o.off {
			j++
		}
		if j == len(inRecs) {
			t.Fatalf("output record at offset %d is not an input record", o.off)
		}
		if want := inRecs[j]; fmt.Sprint(want) != fmt.Sprint(o) {
			t.Errorf("record at %d: %v, want %v", o.off, o, want)
		}
	}
}

// checkBatch checks that b is a well-formed batch: CRC, framing, decoding
// by kmsg and by kgo, and, when nothing rules it out, batch.Validate.
//
// batch.Validate is written for the produce path and rejects what
// compaction legitimately leaves (empty batches, offset delta gaps, a last
// offset delta past the last record), whatever its options; those batches
// get its other checks (CRC, framing, counts) through batch.CRC and
// batch.ForEachRecord.
func checkBatch(t testing.TB, b []byte) {
	t.Helper()
	h := header(t, b)
	if h.Size() != len(b) {
		t.Fatalf("length field %d for %d bytes", h.Size(), len(b))
	}
	if crc := batch.CRC(b); crc != h.CRC {
		t.Fatalf("CRC %#x, contents hash to %#x", h.CRC, crc)
	}
	contiguous := true
	n := int32(0)
	if err := batch.ForEachRecord(b, func(rec batch.Record) bool {
		contiguous = contiguous && rec.OffsetDelta == n
		n++
		return true
	}); err != nil {
		t.Fatalf("ForEachRecord: %v", err)
	}
	if contiguous && n > 0 && h.LastOffsetDelta == n-1 {
		if _, err := batch.Validate(b, batch.ValidateOptions{}); err != nil {
			t.Fatalf("Validate: %v", err)
		}
	}

	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(b); err != nil {
		t.Fatalf("kmsg.RecordBatch.ReadFrom: %v", err)
	}
	if kb.FirstOffset != h.BaseOffset || kb.LastOffsetDelta != h.LastOffsetDelta || kb.NumRecords != h.NumRecords ||
		kb.FirstTimestamp != h.FirstTimestamp || kb.MaxTimestamp != h.MaxTimestamp || kb.Attributes != h.Attributes {
		t.Fatalf("kmsg reads %+v, header is %+v", kb, h)
	}
	recs := consume(t, b)
	if len(recs) != int(h.NumRecords) {
		t.Fatalf("kgo decodes %d records, header says %d", len(recs), h.NumRecords)
	}
}

// rec is a record as a consumer sees it.
type rec struct {
	off     int64
	ts      int64
	key     string
	value   string // "<nil>" for null
	headers string
	ctrl    bool
}

func (r rec) String() string {
	return fmt.Sprintf("%d@%d %s=%s%s", r.off, r.ts, r.key, r.value, r.headers)
}

// consume decodes a run of batches the way a franz-go consumer does
// (kgo.ProcessFetchPartition, CRC checked, control records kept).
func consume(t testing.TB, batches ...[]byte) []rec {
	t.Helper()
	fp := kmsg.NewFetchResponseTopicPartition()
	fp.HighWatermark = 1 << 40
	fp.LastStableOffset = 1 << 40
	fp.RecordBatches = bytes.Join(batches, nil)
	got, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{KeepControlRecords: true, Topic: "t"},
		&fp, kgo.DefaultDecompressor(), nil)
	if got.Err != nil {
		t.Fatalf("kgo: %v", got.Err)
	}
	out := make([]rec, 0, len(got.Records))
	for _, kr := range got.Records {
		out = append(out, recOf(kr))
	}
	return out
}

func recOf(kr *kgo.Record) rec {
	v := "<nil>"
	if kr.Value != nil {
		v = string(kr.Value)
	}
	hs := ""
	for _, h := range kr.Headers {
		hs += fmt.Sprintf(" %s:%q", h.Key, h.Value)
	}
	return rec{off: kr.Offset, ts: kr.Timestamp.UnixMilli(), key: string(kr.Key), value: v, headers: hs, ctrl: kr.Attrs.IsControl()}
}

// recordsOf decodes one batch with kgo.
func recordsOf(t testing.TB, b []byte) []rec { t.Helper(); return consume(t, b) }

// view is what a consumer reads from a log: "off key=value" per record.
func view(t testing.TB, batches [][]byte) []string {
	t.Helper()
	var out []string
	for _, r := range consume(t, batches...) {
		out = append(out, fmt.Sprintf("%d %s=%s", r.off, r.key, r.value))
	}
	return out
}

// attrs reads the attributes of b.
func attrs(b []byte) int16 { return int16(binary.BigEndian.Uint16(b[batch.OffAttributes:])) }
