package batch

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const fuzzMaxUncompressed = 1 << 20

// FuzzValidate feeds arbitrary bytes to Validate, and the same bytes with
// their length, magic and CRC made consistent so that mutations reach the
// decompressors and the record walker. It checks that nothing panics, that
// errors are the package's sentinels, that decompression stays within its
// bound, and that a batch Validate accepts is one the rest of the package
// agrees with.
func FuzzValidate(f *testing.F) {
	for _, c := range allCodecs {
		f.Add(Build(BuildOptions{Codec: c, Timestamp: 1}, valueRecords(3, 20)...), false)
		f.Add(Build(BuildOptions{Codec: c, Control: true, Transactional: true, Producer: &Producer{ID: 1, BaseSequence: -1}},
			Record{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 1}}), true)
		f.Add(refBuild(f, refSpec{codec: c, records: []kmsg.Record{refRecord(0, nil, []byte("v"), kmsg.Header{Key: "h"})}}), true)
	}
	f.Add(Build(BuildOptions{Codec: CodecGzip}, Record{Key: []byte("k"), Value: make([]byte, 4*fuzzMaxUncompressed)}), false)
	f.Add(Build(BuildOptions{Codec: CodecZstd}, Record{Key: []byte("k"), Value: make([]byte, 4*fuzzMaxUncompressed)}), false)
	f.Add(refBuild(f, refSpec{codec: CodecSnappy, records: refRecords(2), rawPayload: xerialFrame(compressibleBytes(100), 30)}), false)

	f.Fuzz(func(t *testing.T, b []byte, requireKeys bool) {
		checkBatch(t, b, requireKeys)
		if len(b) >= HeaderSize {
			c := slices.Clone(b)
			binary.BigEndian.PutUint32(c[OffLength:], uint32(len(c)-LengthOverhead))
			c[OffMagic] = 2
			SetCRC(c)
			checkBatch(t, c, requireKeys)
		}
	})
}

func checkBatch(t *testing.T, b []byte, requireKeys bool) {
	opts := ValidateOptions{RequireKeys: requireKeys, MaxUncompressedBytes: fuzzMaxUncompressed}
	h, err := Validate(b, opts)

	// Iteration never panics and, on a compressed batch, respects the bound.
	var iterErr error
	if len(b) >= HeaderSize {
		iterErr = forEachRecord(b, fuzzMaxUncompressed, func(Record) bool { return true })
	}
	if c := h.Codec(); len(b) >= HeaderSize && c != CodecNone {
		out, derr := Decompress(c, nil, b[HeaderSize:min(len(b), max(h.Size(), HeaderSize))], fuzzMaxUncompressed)
		if derr == nil && len(out) > fuzzMaxUncompressed {
			t.Fatalf("%v decompressed to %d bytes, past the %d bound", c, len(out), fuzzMaxUncompressed)
		}
		if derr != nil && !errors.Is(derr, ErrCorrupt) {
			t.Fatalf("Decompress error %v is not ErrCorrupt", derr)
		}
	}

	if err != nil {
		if !errors.Is(err, ErrShort) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedMagic) && !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("Validate error %v wraps no sentinel", err)
		}
		return
	}
	if iterErr != nil {
		t.Fatalf("Validate accepted what ForEachRecord rejects: %v", iterErr)
	}
	if h.Size() != len(b) || h.NumRecords < 1 || h.CRC != CRC(b) {
		t.Fatalf("Validate accepted header %+v for %d bytes", h, len(b))
	}
	recs, err := Records(b)
	if err != nil || len(recs) != int(h.NumRecords) {
		t.Fatalf("Records after Validate: %d records, %v", len(recs), err)
	}
	for i, r := range recs {
		if r.OffsetDelta != int32(i) || (requireKeys && r.Key == nil) {
			t.Fatalf("record %d: offset delta %d, null key %v", i, r.OffsetDelta, r.Key == nil)
		}
	}
	batch, rest, err := Next(b)
	if err != nil || len(batch) != len(b) || len(rest) != 0 {
		t.Fatalf("Next on a valid batch: %d, %d, %v", len(batch), len(rest), err)
	}
	// A valid batch recompresses to one that validates and holds the same
	// records.
	to := Codec((int(h.Codec()) + 1) % 5)
	rc, err := Recompress(b, to, fuzzMaxUncompressed)
	if err != nil {
		t.Fatalf("Recompress of a valid batch to %v: %v", to, err)
	}
	if h2, err := Validate(rc, opts); err != nil || h2.Codec() != to || h2.NumRecords != h.NumRecords {
		t.Fatalf("after Recompress to %v: %+v, %v", to, h2, err)
	}
	if recs2, err := Records(rc); err != nil || len(recs2) != len(recs) {
		t.Fatalf("Records after Recompress: %d, %v", len(recs2), err)
	}
	c := slices.Clone(b)
	SetLogAppendTime(c, 42)
	if h2, err := Validate(c, opts); err != nil || !h2.LogAppendTime() || h2.MaxTimestamp != 42 {
		t.Fatalf("after SetLogAppendTime: %+v, %v", h2, err)
	}
}
