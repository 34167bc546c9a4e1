package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestCodecString(t *testing.T) {
	for c, want := range map[Codec]string{
		CodecNone: "none", CodecGzip: "gzip", CodecSnappy: "snappy", CodecLZ4: "lz4", CodecZstd: "zstd", 5: "codec(5)", -1: "codec(-1)",
	} {
		if got := c.String(); got != want {
			t.Errorf("Codec(%d).String() = %q, want %q", int8(c), got, want)
		}
	}
}

// TestValidateReference validates batches written by the reference encoder
// (kmsg framing, franz-go's producer compressors) and decodes them back.
func TestValidateReference(t *testing.T) {
	for _, c := range allCodecs {
		for _, tc := range []struct {
			name  string
			spec  refSpec
			opts  ValidateOptions
			count int
		}{
			{"one", refSpec{records: refRecords(1)}, ValidateOptions{RequireKeys: true}, 1},
			{"hundred", refSpec{records: refRecords(100)}, ValidateOptions{RequireKeys: true}, 100},
			{"null-key-not-compacted", refSpec{records: []kmsg.Record{refRecord(0, nil, []byte("v")), refRecord(1, []byte("k"), nil)}}, ValidateOptions{}, 2},
			{"control-transactional", refSpec{attrs: AttrControl | AttrTransactional, producerID: 7,
				records: []kmsg.Record{refRecord(0, []byte{0, 0, 0, 1}, []byte{0, 0, 0, 0, 0, 3})}}, ValidateOptions{RequireKeys: true}, 1},
		} {
			t.Run(c.String()+"/"+tc.name, func(t *testing.T) {
				tc.spec.codec = c
				b := refBuild(t, tc.spec)
				h, err := Validate(b, tc.opts)
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if h.Codec() != c || int(h.NumRecords) != tc.count || h.Size() != len(b) {
					t.Fatalf("header %+v", h)
				}
				if h.Control() != (tc.spec.attrs&AttrControl != 0) || h.Transactional() != (tc.spec.attrs&AttrTransactional != 0) {
					t.Fatalf("attributes %#x", h.Attributes)
				}
				recs, err := Records(b)
				if err != nil {
					t.Fatalf("Records: %v", err)
				}
				for i, r := range recs {
					ref := tc.spec.records[i]
					if r.OffsetDelta != ref.OffsetDelta || r.TimestampDelta != ref.TimestampDelta64 ||
						!sameBytes(r.Key, ref.Key) || !sameBytes(r.Value, ref.Value) || len(r.Headers) != len(ref.Headers) {
						t.Fatalf("record %d = %+v, want %+v", i, r, ref)
					}
				}
			})
		}
	}
}

// TestBuildRoundTrip builds batches with Build and checks them three ways:
// Validate, this package's Records, and franz-go's decoder.
func TestBuildRoundTrip(t *testing.T) {
	recs := sampleRecords()
	for _, c := range allCodecs {
		for _, tc := range []struct {
			name string
			opts BuildOptions
		}{
			{"plain", BuildOptions{Timestamp: 1_700_000_000_000}},
			{"idempotent", BuildOptions{Timestamp: 1, Producer: &Producer{ID: 0, Epoch: 3, BaseSequence: 42}}},
			{"transactional", BuildOptions{Timestamp: 2, Transactional: true, Producer: &Producer{ID: 9, Epoch: 1, BaseSequence: 0}}},
			{"control", BuildOptions{Timestamp: 3, Control: true, Transactional: true, Producer: &Producer{ID: 9, Epoch: 1, BaseSequence: -1}}},
			{"log-append-time", BuildOptions{Timestamp: 4, LogAppendTime: true}},
		} {
			t.Run(c.String()+"/"+tc.name, func(t *testing.T) {
				tc.opts.Codec = c
				b := Build(tc.opts, recs...)
				h, err := Validate(b, ValidateOptions{})
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := Validate(b, ValidateOptions{RequireKeys: true}); !errors.Is(err, ErrInvalidRecord) {
					t.Fatalf("RequireKeys with a null key: %v, want ErrInvalidRecord", err)
				}
				wantPID, wantEpoch, wantSeq := int64(-1), int16(-1), int32(-1)
				if p := tc.opts.Producer; p != nil {
					wantPID, wantEpoch, wantSeq = p.ID, p.Epoch, p.BaseSequence
				}
				if h.BaseOffset != 0 || h.PartitionLeaderEpoch != -1 || h.ProducerID != wantPID || h.ProducerEpoch != wantEpoch ||
					h.BaseSequence != wantSeq || h.FirstTimestamp != tc.opts.Timestamp || h.MaxTimestamp != tc.opts.Timestamp+1<<40 ||
					h.NumRecords != int32(len(recs)) || h.LastOffsetDelta != int32(len(recs)-1) || h.Codec() != c ||
					h.Control() != tc.opts.Control || h.Transactional() != tc.opts.Transactional || h.LogAppendTime() != tc.opts.LogAppendTime {
					t.Fatalf("header %+v", h)
				}
				got, err := Records(b)
				if err != nil {
					t.Fatalf("Records: %v", err)
				}
				equalRecords(t, got, recs)

				// franz-go's consumer side decodes it the same.
				rb, krecs := parseWithKmsg(t, b)
				if rb.NumRecords != int32(len(krecs)) {
					t.Fatalf("kmsg: %d records, header says %d", len(krecs), rb.NumRecords)
				}
				conv := make([]Record, len(krecs))
				for i, kr := range krecs {
					conv[i] = Record{OffsetDelta: kr.OffsetDelta, TimestampDelta: kr.TimestampDelta64, Key: kr.Key, Value: kr.Value}
					for _, kh := range kr.Headers {
						conv[i].Headers = append(conv[i].Headers, RecordHeader{Key: kh.Key, Value: kh.Value})
					}
				}
				equalRecords(t, conv, recs)
			})
		}
	}
}

func TestBuildEmpty(t *testing.T) {
	b := Build(BuildOptions{Timestamp: 5})
	h, err := ParseHeader(b)
	if err != nil || h.NumRecords != 0 || h.LastOffsetDelta != -1 || h.MaxTimestamp != 5 || CRC(b) != h.CRC {
		t.Fatalf("header %+v, err %v", h, err)
	}
	if _, err := Validate(b, ValidateOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Validate(empty) = %v, want ErrCorrupt", err)
	}
	if recs, err := Records(b); err != nil || len(recs) != 0 {
		t.Fatalf("Records(empty) = %v, %v", recs, err)
	}
}

// mutate returns a copy of b changed by fn, with the CRC recomputed if fix.
func mutate(b []byte, fix bool, fn func([]byte) []byte) []byte {
	c := fn(slices.Clone(b))
	if fix {
		fixCRC(c)
	}
	return c
}

func TestValidateRejects(t *testing.T) {
	good := refBuild(t, refSpec{records: refRecords(3)})
	goodZstd := refBuild(t, refSpec{codec: CodecZstd, records: refRecords(3)})
	if _, err := Validate(good, ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	put32 := func(off int, v int32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[off:], uint32(v)); return b }
	}
	badDeltas := []kmsg.Record{refRecord(0, []byte("a"), nil), refRecord(2, []byte("b"), nil), refRecord(4, []byte("c"), nil)}
	// A record whose length varint claims one byte more than its body:
	// it swallows the next record's first byte.
	long := refRecord(0, []byte("a"), []byte("v"))
	long.Length = int32(len(long.AppendTo(nil)) - 1 + 1)
	short := refRecord(0, []byte("a"), []byte("v"))
	short.Length = int32(len(short.AppendTo(nil)) - 1 - 1)
	// Hand-rolled record bodies: attributes, ts delta 0, offset delta 0,
	// then the given tail.
	rawRecord := func(tail ...byte) []byte {
		body := append([]byte{0, 0, 0}, tail...)
		return append(binary.AppendVarint(nil, int64(len(body))), body...)
	}
	v := func(i int64) byte { return binary.AppendVarint(nil, i)[0] }

	for _, tc := range []struct {
		name string
		b    []byte
		opts ValidateOptions
		want error
	}{
		{"flip-attributes", mutate(good, false, func(b []byte) []byte { b[22] ^= 0x10; return b }), ValidateOptions{}, ErrCorrupt},
		{"flip-record-byte", mutate(good, false, func(b []byte) []byte { b[len(b)-5] ^= 1; return b }), ValidateOptions{}, ErrCorrupt},
		{"flip-crc", mutate(good, false, func(b []byte) []byte { b[18] ^= 1; return b }), ValidateOptions{}, ErrCorrupt},
		{"flip-compressed-byte", mutate(goodZstd, false, func(b []byte) []byte { b[len(b)-3] ^= 1; return b }), ValidateOptions{}, ErrCorrupt},
		{"length-too-big", mutate(good, false, put32(8, int32(len(good)-12+1))), ValidateOptions{}, ErrShort},
		{"length-too-small", mutate(good, false, put32(8, int32(len(good)-12-1))), ValidateOptions{}, ErrCorrupt},
		{"length-below-header", mutate(good, false, put32(8, 10)), ValidateOptions{}, ErrCorrupt},
		{"length-negative", mutate(good, false, put32(8, -1)), ValidateOptions{}, ErrCorrupt},
		{"extra-byte-after-batch", append(slices.Clone(good), 0), ValidateOptions{}, ErrCorrupt},
		{"truncated-last-byte", good[:len(good)-1], ValidateOptions{}, ErrShort},
		{"truncated-in-header", good[:40], ValidateOptions{}, ErrShort},
		{"truncated-before-magic", good[:10], ValidateOptions{}, ErrShort},
		{"empty", nil, ValidateOptions{}, ErrShort},
		{"magic-1", mutate(good, false, func(b []byte) []byte { b[16] = 1; return b }), ValidateOptions{}, ErrUnsupportedMagic},
		{"magic-0", mutate(good, false, func(b []byte) []byte { b[16] = 0; return b }), ValidateOptions{}, ErrUnsupportedMagic},
		{"magic-3", mutate(good, false, func(b []byte) []byte { b[16] = 3; return b }), ValidateOptions{}, ErrCorrupt},
		{"count-too-high", refBuild(t, refSpec{records: refRecords(3), numRecords: i32(4), lastOffsetDelta: i32(3)}), ValidateOptions{}, ErrCorrupt},
		{"count-too-low", refBuild(t, refSpec{records: refRecords(3), numRecords: i32(2), lastOffsetDelta: i32(1)}), ValidateOptions{}, ErrCorrupt},
		{"count-too-low-zstd", refBuild(t, refSpec{codec: CodecZstd, records: refRecords(3), numRecords: i32(2), lastOffsetDelta: i32(1)}), ValidateOptions{}, ErrCorrupt},
		{"count-huge", refBuild(t, refSpec{records: refRecords(3), numRecords: i32(1 << 30), lastOffsetDelta: i32(1<<30 - 1)}), ValidateOptions{}, ErrCorrupt},
		{"count-zero", refBuild(t, refSpec{}), ValidateOptions{}, ErrCorrupt},
		{"count-negative", refBuild(t, refSpec{records: refRecords(1), numRecords: i32(-1), lastOffsetDelta: i32(-2)}), ValidateOptions{}, ErrCorrupt},
		{"last-offset-delta", refBuild(t, refSpec{records: refRecords(3), lastOffsetDelta: i32(5)}), ValidateOptions{}, ErrCorrupt},
		{"offset-deltas", refBuild(t, refSpec{records: badDeltas, lastOffsetDelta: i32(2)}), ValidateOptions{}, ErrCorrupt},
		{"offset-deltas-lz4", refBuild(t, refSpec{codec: CodecLZ4, records: badDeltas, lastOffsetDelta: i32(2)}), ValidateOptions{}, ErrCorrupt},
		{"trailing-bytes", refBuild(t, refSpec{records: refRecords(2), trailing: []byte{0}}), ValidateOptions{}, ErrCorrupt},
		{"trailing-bytes-gzip", refBuild(t, refSpec{codec: CodecGzip, records: refRecords(2), trailing: []byte{1, 2, 3}}), ValidateOptions{}, ErrCorrupt},
		{"record-length-too-long", refBuild(t, refSpec{records: []kmsg.Record{long, refRecord(1, []byte("b"), nil)}}), ValidateOptions{}, ErrCorrupt},
		{"record-length-too-long-last", refBuild(t, refSpec{records: []kmsg.Record{long}}), ValidateOptions{}, ErrCorrupt},
		{"record-length-too-short", refBuild(t, refSpec{records: []kmsg.Record{short, refRecord(1, []byte("b"), nil)}}), ValidateOptions{}, ErrCorrupt},
		{"key-length-below-null", refBuild(t, refSpec{rawPayload: rawRecord(v(-2), v(-1), 0), numRecords: i32(1), lastOffsetDelta: i32(0)}), ValidateOptions{}, ErrCorrupt},
		{"value-length-past-record", refBuild(t, refSpec{rawPayload: rawRecord(v(-1), v(5), 0), numRecords: i32(1), lastOffsetDelta: i32(0)}), ValidateOptions{}, ErrCorrupt},
		{"negative-header-count", refBuild(t, refSpec{rawPayload: rawRecord(v(-1), v(-1), v(-1)), numRecords: i32(1), lastOffsetDelta: i32(0)}), ValidateOptions{}, ErrCorrupt},
		{"null-header-key", refBuild(t, refSpec{rawPayload: rawRecord(v(-1), v(-1), v(1), v(-1), v(-1)), numRecords: i32(1), lastOffsetDelta: i32(0)}), ValidateOptions{}, ErrCorrupt},
		{"header-count-lies", refBuild(t, refSpec{rawPayload: rawRecord(v(-1), v(-1), v(1000), v(0), v(-1)), numRecords: i32(1), lastOffsetDelta: i32(0)}), ValidateOptions{}, ErrCorrupt},
		{"overlong-varint", refBuild(t, refSpec{rawPayload: append(rawRecord(v(-1), v(-1), 0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), numRecords: i32(2), lastOffsetDelta: i32(1)}), ValidateOptions{}, ErrCorrupt},
		{"null-key-compacted", refBuild(t, refSpec{records: []kmsg.Record{refRecord(0, []byte("k"), nil), refRecord(1, nil, []byte("v"))}}), ValidateOptions{RequireKeys: true}, ErrInvalidRecord},
		{"null-key-compacted-snappy", refBuild(t, refSpec{codec: CodecSnappy, records: []kmsg.Record{refRecord(0, nil, []byte("v"))}}), ValidateOptions{RequireKeys: true}, ErrInvalidRecord},
		// Corruption after a null key wins over the null key.
		{"null-key-then-corrupt", refBuild(t, refSpec{records: []kmsg.Record{refRecord(0, nil, nil), refRecord(5, []byte("k"), nil)}, lastOffsetDelta: i32(1)}), ValidateOptions{RequireKeys: true}, ErrCorrupt},
		{"unknown-codec", mutate(good, true, func(b []byte) []byte { b[22] |= 5; return b }), ValidateOptions{}, ErrCorrupt},
		{"codec-7", mutate(good, true, func(b []byte) []byte { b[22] |= 7; return b }), ValidateOptions{}, ErrCorrupt},
		// Uncompressed records labelled as compressed.
		{"not-gzip", mutate(good, true, func(b []byte) []byte { b[22] |= byte(CodecGzip); return b }), ValidateOptions{}, ErrCorrupt},
		{"not-snappy", mutate(good, true, func(b []byte) []byte { b[22] |= byte(CodecSnappy); return b }), ValidateOptions{}, ErrCorrupt},
		{"not-lz4", mutate(good, true, func(b []byte) []byte { b[22] |= byte(CodecLZ4); return b }), ValidateOptions{}, ErrCorrupt},
		{"not-zstd", mutate(good, true, func(b []byte) []byte { b[22] |= byte(CodecZstd); return b }), ValidateOptions{}, ErrCorrupt},
		{"truncated-compressed", refBuild(t, refSpec{codec: CodecGzip, records: refRecords(3), rawPayload: refCompress(t, CodecGzip, []byte("abcdefghijklmnop"))[:20]}), ValidateOptions{}, ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Validate(tc.b, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
			for _, other := range []error{ErrShort, ErrUnsupportedMagic, ErrCorrupt, ErrInvalidRecord} {
				if other != tc.want && errors.Is(err, other) {
					t.Fatalf("Validate = %v, which also matches %v", err, other)
				}
			}
			t.Logf("%v", err)
		})
	}
}

// TestForEachRecordCompacted checks that iteration accepts what compaction
// leaves behind (offset delta gaps) although Validate does not.
func TestForEachRecordCompacted(t *testing.T) {
	b := refBuild(t, refSpec{codec: CodecLZ4, records: []kmsg.Record{
		refRecord(0, []byte("a"), nil), refRecord(2, []byte("b"), []byte("x")), refRecord(5, []byte("c"), nil),
	}, lastOffsetDelta: i32(5)})
	if _, err := Validate(b, ValidateOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Validate = %v", err)
	}
	var deltas []int32
	if err := ForEachRecord(b, func(r Record) bool { deltas = append(deltas, r.OffsetDelta); return true }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(deltas, []int32{0, 2, 5}) {
		t.Fatalf("deltas %v", deltas)
	}
	// Stopping early is not an error.
	n := 0
	if err := ForEachRecord(b, func(Record) bool { n++; return n < 2 }); err != nil || n != 2 {
		t.Fatalf("early stop: n=%d err=%v", n, err)
	}
	// Records reports the same framing errors as Validate.
	bad := refBuild(t, refSpec{records: refRecords(2), trailing: []byte{9}})
	if _, err := Records(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Records(trailing) = %v", err)
	}
	if err := ForEachRecord(bad, func(Record) bool { return true }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ForEachRecord(trailing) = %v", err)
	}
	if _, err := Records(refBuild(t, refSpec{records: refRecords(2), numRecords: i32(3)})); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Records(short count) = %v", err)
	}
}

func TestSetLogAppendTime(t *testing.T) {
	for _, c := range allCodecs {
		for _, txn := range []bool{false, true} {
			b := Build(BuildOptions{Codec: c, Timestamp: 1000, Transactional: txn, Producer: &Producer{ID: 1, BaseSequence: 0}}, valueRecords(10, 100)...)
			before, _ := ParseHeader(b)
			SetLogAppendTime(b, 987654321)
			h, err := Validate(b, ValidateOptions{})
			if err != nil {
				t.Fatalf("%v txn=%v: Validate after SetLogAppendTime: %v", c, txn, err)
			}
			if refCRC(b) != h.CRC {
				t.Fatalf("%v: CRC not recomputed", c)
			}
			if !h.LogAppendTime() || h.MaxTimestamp != 987654321 || h.FirstTimestamp != before.FirstTimestamp ||
				h.Codec() != c || h.Transactional() != txn || h.Attributes&^AttrTimestampType != before.Attributes {
				t.Fatalf("%v: header after %+v, before %+v", c, h, before)
			}
			// Idempotent.
			again := slices.Clone(b)
			SetLogAppendTime(again, 987654321)
			if !bytes.Equal(again, b) {
				t.Fatalf("%v: second SetLogAppendTime changed the batch", c)
			}
		}
	}
	// b may extend past the batch: only the batch is rewritten and hashed.
	b := Build(BuildOptions{}, Record{Key: []byte("k")})
	n := len(b)
	b = append(b, 0xde, 0xad)
	SetLogAppendTime(b, 5)
	if _, err := Validate(b[:n], ValidateOptions{}); err != nil || b[n] != 0xde {
		t.Fatalf("with trailing data: %v", err)
	}
}

func TestHeaderAccessors(t *testing.T) {
	b := Build(BuildOptions{Producer: &Producer{ID: 5, Epoch: 2, BaseSequence: 0x7fffffff - 1}}, valueRecords(4, 10)...)
	SetBaseOffset(b, 100)
	SetPartitionLeaderEpoch(b, 7)
	h, err := Validate(b, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 100 || h.PartitionLeaderEpoch != 7 || h.LastOffset() != 103 || h.NextOffset() != 104 ||
		!h.Idempotent() || h.LastSequence() != 1 {
		t.Fatalf("header %+v last seq %d", h, h.LastSequence())
	}
}

func TestValidateDoesNotAllocate(t *testing.T) {
	b := Build(BuildOptions{}, valueRecords(100, 1024)...)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := Validate(b, ValidateOptions{RequireKeys: true}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Validate of an uncompressed batch allocates %v times", allocs)
	}
	for _, c := range allCodecs[1:] {
		b := Build(BuildOptions{Codec: c}, valueRecords(100, 1024)...)
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := Validate(b, ValidateOptions{RequireKeys: true}); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%v: %v allocs per Validate", c, allocs)
	}
}

func BenchmarkValidate(b *testing.B) {
	recs := valueRecords(100, 1024)
	for _, c := range allCodecs {
		batch := Build(BuildOptions{Codec: c}, recs...)
		b.Run(c.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				if _, err := Validate(batch, ValidateOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestConcurrentUse runs Validate, Records and Build from several goroutines
// so that the race detector sees the pooled and shared codecs shared.
func TestConcurrentUse(t *testing.T) {
	recs := valueRecords(20, 200)
	var batches [][]byte
	for _, c := range allCodecs {
		batches = append(batches, Build(BuildOptions{Codec: c}, recs...))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				c := allCodecs[(g+i)%len(allCodecs)]
				b := batches[(g+i)%len(batches)]
				if _, err := Validate(b, ValidateOptions{RequireKeys: true}); err != nil {
					errs <- err
					return
				}
				got, err := Records(b)
				if err != nil || len(got) != len(recs) || !bytes.Equal(got[7].Value, recs[7].Value) {
					errs <- fmt.Errorf("Records: %d records, %v", len(got), err)
					return
				}
				if _, err := Validate(Build(BuildOptions{Codec: c}, recs[:i+1]...), ValidateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
