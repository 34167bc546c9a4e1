package batch

import (
	"errors"
	"fmt"
	"sync"
)

// ValidateOptions tunes Validate for the topic a batch is bound for.
type ValidateOptions struct {
	// RequireKeys rejects records with a null key with ErrInvalidRecord,
	// as Kafka does for compacted topics (cleanup.policy=compact).
	RequireKeys bool

	// MaxUncompressedBytes bounds how large a compressed batch may
	// decompress to; past it the batch is rejected with ErrCorrupt. Zero
	// means DefaultMaxUncompressedBytes. It does not apply to uncompressed
	// batches, which are bounded by their own size.
	MaxUncompressedBytes int
}

// Validate fully checks the one v2 record batch that occupies exactly b, as
// a broker must before appending a producer's batch to its log:
//
//   - the magic is 2 (ErrUnsupportedMagic for 0 and 1, ErrCorrupt otherwise);
//   - the length field matches len(b) (ErrShort if b is shorter, ErrCorrupt
//     if longer);
//   - the CRC-32C over attributes through the last byte matches;
//   - the batch holds at least one record and LastOffsetDelta is
//     NumRecords-1, as Kafka requires of produced batches;
//   - the codec is known and the payload decompresses within
//     opts.MaxUncompressedBytes;
//   - the records (decompressed) are exactly NumRecords well-framed records,
//     record i having offset delta i, with no bytes after the last;
//   - with opts.RequireKeys, no record has a null key (ErrInvalidRecord).
//
// Validate is stricter than Kafka on a few framing details no client
// writes: key, value and header value lengths below -1 (Kafka reads them as
// null) and 5-byte varints with overflowing high bits are ErrCorrupt.
//
// Control batches are checked the same way. Errors wrap the sentinels
// (test with errors.Is) and say what was wrong; when a batch is both corrupt
// and breaks a topic rule, corruption is reported.
//
// Validate is written for the produce path: on an uncompressed batch it does
// not allocate, walking the varints in place; a compressed batch is
// decompressed into a pooled buffer. It rejects batches that compaction
// legitimately produces (empty batches, gaps in offset deltas), so use
// ParseHeader and CRC, or ForEachRecord, for batches read back from a log.
//
// The returned Header is valid whenever ParseHeader could decode it, even if
// an error is returned.
func Validate(b []byte, opts ValidateOptions) (Header, error) {
	h, err := parseExact(b)
	if err != nil {
		return h, err
	}
	if crc := CRC(b); crc != h.CRC {
		return h, corruptf("CRC mismatch: header says %#08x, contents hash to %#08x", h.CRC, crc)
	}
	if h.NumRecords <= 0 {
		return h, corruptf("record count %d: a produced batch must hold at least one record", h.NumRecords)
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return h, corruptf("last offset delta %d inconsistent with record count %d", h.LastOffsetDelta, h.NumRecords)
	}
	payload := b[HeaderSize:]
	c := h.Codec()
	if c == CodecNone {
		return h, walkStrict(payload, h.NumRecords, opts.RequireKeys)
	}
	if !c.Known() {
		return h, corruptf("unknown compression codec %d", int8(c))
	}
	bp := scratch.Get().(*[]byte)
	out, err := Decompress(c, (*bp)[:0], payload, opts.MaxUncompressedBytes)
	if err == nil {
		err = walkStrict(out, h.NumRecords, opts.RequireKeys)
	}
	if cap(out) <= maxScratch {
		*bp = out[:0]
	}
	scratch.Put(bp)
	return h, err
}

// scratch pools decompression buffers for Validate. Buffers grown past
// maxScratch are left to the garbage collector so that one huge batch does
// not pin memory.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

const maxScratch = 8 << 20

// parseExact is ParseHeader plus the check that the batch is all of b.
func parseExact(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		if errors.Is(err, ErrShort) && len(b) >= LengthOverhead+5 {
			return h, fmt.Errorf("%w: have %d bytes, the batch's length field needs %d", err, len(b), max(h.Size(), HeaderSize))
		}
		return h, err
	}
	if len(b) != h.Size() {
		return h, corruptf("length field says the batch is %d bytes but it is given %d", h.Size(), len(b))
	}
	return h, nil
}

// walkStrict checks that p is exactly n well-framed records with offset
// deltas 0..n-1 and, if requireKeys, non-null keys. It does not allocate
// unless it fails.
func walkStrict(p []byte, n int32, requireKeys bool) error {
	if int64(n) > int64(len(p)/minRecordSize) {
		return corruptf("header announces %d records, more than the %d-byte payload can hold", n, len(p))
	}
	nullKey := int32(-1)
	for i := range n {
		if len(p) == 0 {
			return corruptf("header announces %d records but the payload holds only %d", n, i)
		}
		r, rest, err := scanRecord(p, int(i))
		if err != nil {
			return err
		}
		if r.offsetDelta != i {
			return corruptf("record %d has offset delta %d, want %d", i, r.offsetDelta, i)
		}
		if requireKeys && r.key == nil && nullKey < 0 {
			nullKey = i
		}
		p = rest
	}
	if len(p) != 0 {
		return corruptf("%d bytes trail the last of the %d records the header announces", len(p), n)
	}
	if nullKey >= 0 {
		return fmt.Errorf("%w: record %d has a null key, which a compacted topic does not accept", ErrInvalidRecord, nullKey)
	}
	return nil
}
