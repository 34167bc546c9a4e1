package batch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file holds a reference encoder that shares no code with Build: it
// frames records with kmsg, compresses with franz-go's own producer
// compressor (kgo.DefaultCompressor), and computes the CRC with hash/crc32
// directly. Tests check that what it writes validates, and that what Build
// writes decodes with franz-go's consumer decompressor and kmsg.

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// refSpec describes a batch for refBuild, including ways to make it wrong.
type refSpec struct {
	codec      Codec
	attrs      int16 // extra attribute bits (transactional, control, ...)
	firstTS    int64
	maxTS      int64
	producerID int64
	records    []kmsg.Record // OffsetDelta and Length used as given, Length 0 meaning "compute"

	numRecords      *int32 // override the header's record count
	lastOffsetDelta *int32 // override the header's last offset delta
	trailing        []byte // appended to the uncompressed records payload
	rawPayload      []byte // replaces the (compressed) payload entirely
}

func i32(v int32) *int32 { return &v }

// refRecord returns a kmsg.Record with the given offset delta.
func refRecord(od int32, key, value []byte, hdrs ...kmsg.Header) kmsg.Record {
	return kmsg.Record{OffsetDelta: od, TimestampDelta64: int64(od) * 3, Key: key, Value: value, Headers: hdrs}
}

// refRecords returns n records with offset deltas 0..n-1.
func refRecords(n int) []kmsg.Record {
	rs := make([]kmsg.Record, n)
	for i := range rs {
		rs[i] = refRecord(int32(i), fmt.Appendf(nil, "key-%d", i), bytes.Repeat([]byte{'v', byte('a' + i%26)}, 20+i),
			kmsg.Header{Key: "h", Value: []byte{byte(i)}})
	}
	return rs
}

// encodeRefRecord encodes r, measuring its body by encoding it once with a
// zero length (whose varint is one byte) when r.Length is 0.
func encodeRefRecord(dst []byte, r kmsg.Record) []byte {
	if r.Length == 0 {
		r.Length = int32(len(r.AppendTo(nil)) - 1)
	}
	return r.AppendTo(dst)
}

func refCompress(t testing.TB, c Codec, src []byte) []byte {
	t.Helper()
	var kc kgo.CompressionCodec
	switch c {
	case CodecGzip:
		kc = kgo.GzipCompression()
	case CodecSnappy:
		kc = kgo.SnappyCompression()
	case CodecLZ4:
		kc = kgo.Lz4Compression()
	case CodecZstd:
		kc = kgo.ZstdCompression()
	default:
		return src
	}
	comp, err := kgo.DefaultCompressor(kc)
	if err != nil {
		t.Fatal(err)
	}
	out, used := comp.Compress(new(bytes.Buffer), src)
	if int8(used) != int8(c) {
		t.Fatalf("kgo compressed with %v, want %v", used, c)
	}
	return bytes.Clone(out)
}

func refCRC(b []byte) uint32 {
	return crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli))
}

// fixCRC recomputes the CRC of b (exactly one batch) independently of CRC.
func fixCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[17:], refCRC(b))
	return b
}

func refBuild(t testing.TB, s refSpec) []byte {
	t.Helper()
	var payload []byte
	for _, r := range s.records {
		payload = encodeRefRecord(payload, r)
	}
	payload = append(payload, s.trailing...)
	payload = refCompress(t, s.codec, payload)
	if s.rawPayload != nil {
		payload = s.rawPayload
	}
	n := int32(len(s.records))
	rb := kmsg.RecordBatch{
		Length:               int32(49 + len(payload)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           int16(s.codec) | s.attrs,
		LastOffsetDelta:      n - 1,
		FirstTimestamp:       s.firstTS,
		MaxTimestamp:         s.maxTS,
		ProducerID:           s.producerID,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           n,
		Records:              payload,
	}
	if s.numRecords != nil {
		rb.NumRecords = *s.numRecords
	}
	if s.lastOffsetDelta != nil {
		rb.LastOffsetDelta = *s.lastOffsetDelta
	}
	return fixCRC(rb.AppendTo(nil))
}

// parseWithKmsg decodes b with kmsg and franz-go's consumer decompressor,
// independently of this package.
func parseWithKmsg(t testing.TB, b []byte) (kmsg.RecordBatch, []kmsg.Record) {
	t.Helper()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatalf("kmsg: %v", err)
	}
	if got := refCRC(b); uint32(rb.CRC) != got {
		t.Fatalf("CRC %#x, contents hash to %#x", uint32(rb.CRC), got)
	}
	payload, err := kgo.DefaultDecompressor().Decompress(rb.Records, kgo.CompressionCodecType(rb.Attributes&7))
	if err != nil {
		t.Fatalf("kgo decompress: %v", err)
	}
	var recs []kmsg.Record
	for len(payload) > 0 {
		l, n := binary.Varint(payload)
		if n <= 0 || int(l)+n > len(payload) {
			t.Fatalf("bad record length at %d", len(recs))
		}
		var r kmsg.Record
		if err := r.ReadFrom(payload[:n+int(l)]); err != nil {
			t.Fatalf("kmsg record %d: %v", len(recs), err)
		}
		recs = append(recs, r)
		payload = payload[n+int(l):]
	}
	return rb, recs
}

// sampleRecords exercises the corners of the record format: null and empty
// keys and values, headers with null values and empty keys, negative
// timestamp deltas, and a value large enough to span several xerial chunks
// and lz4 blocks.
func sampleRecords() []Record {
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 150<<10)
	for i := range big {
		big[i] = byte('a' + rng.IntN(8))
	}
	return []Record{
		{Key: []byte("k0"), Value: []byte("v0")},
		{Key: nil, Value: []byte("null key"), TimestampDelta: 5},
		{Key: []byte{}, Value: nil, TimestampDelta: -7},
		{Key: []byte("k3"), Value: []byte{}, Headers: []RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "", Value: nil}, {Key: "c", Value: []byte{}}}},
		{Key: []byte("big"), Value: big, TimestampDelta: 1 << 40},
	}
}

// equalRecords compares records including the distinction between null and
// empty, with OffsetDelta expected to be the index.
func equalRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.OffsetDelta != int32(i) || g.TimestampDelta != w.TimestampDelta {
			t.Errorf("record %d: offset delta %d ts delta %d, want %d %d", i, g.OffsetDelta, g.TimestampDelta, i, w.TimestampDelta)
		}
		if !sameBytes(g.Key, w.Key) || !sameBytes(g.Value, w.Value) {
			t.Errorf("record %d: key/value differ (nil key %v/%v, nil value %v/%v)", i, g.Key == nil, w.Key == nil, g.Value == nil, w.Value == nil)
		}
		if len(g.Headers) != len(w.Headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(g.Headers), len(w.Headers))
		}
		for j := range w.Headers {
			if g.Headers[j].Key != w.Headers[j].Key || !sameBytes(g.Headers[j].Value, w.Headers[j].Value) {
				t.Errorf("record %d header %d: %q=%q, want %q=%q", i, j, g.Headers[j].Key, g.Headers[j].Value, w.Headers[j].Key, w.Headers[j].Value)
			}
		}
	}
}

func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// valueRecords returns n records of size-byte compressible values.
func valueRecords(n, size int) []Record {
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"kafka ", "broker ", "record ", "batch ", "offset ", "topic ", "partition "}
	rs := make([]Record, n)
	for i := range rs {
		v := make([]byte, 0, size+16)
		for len(v) < size {
			v = append(v, words[rng.IntN(len(words))]...)
		}
		rs[i] = Record{Key: fmt.Appendf(nil, "key-%06d", i), Value: v[:size], TimestampDelta: int64(i),
			Headers: []RecordHeader{{Key: "trace", Value: []byte("abc")}}}
	}
	return rs
}
