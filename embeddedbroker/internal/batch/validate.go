package batch

import (
	"errors"
	"fmt"
	"math"
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

	// Timestamps is the topic's rule on record timestamps; the zero rule
	// checks nothing.
	Timestamps TimestampRule
}

// TimestampRule is a topic's rule on the timestamps of produced records, as
// Kafka's LogValidator applies it (KIP-937): under CreateTime, every record
// timestamp other than -1 (none) must lie within [Now-BeforeMaxMs,
// Now+AfterMaxMs]; and a producer may not mark a batch LogAppendTime, unless,
// on a CreateTime topic, the batch's max timestamp (which is then every
// record's timestamp) passes that check. A breach is ErrInvalidTimestamp.
type TimestampRule struct {
	// Check turns the rule on.
	Check bool
	// LogAppendTime is message.timestamp.type=LogAppendTime: the broker
	// overwrites the timestamps, so they are not bounded.
	LogAppendTime bool
	// Now is the broker's time, in milliseconds since the epoch.
	Now int64
	// BeforeMaxMs and AfterMaxMs are message.timestamp.before.max.ms and
	// message.timestamp.after.max.ms; math.MaxInt64 means no bound.
	BeforeMaxMs, AfterMaxMs int64
}

// bounded reports whether the rule bounds CreateTime timestamps at all.
func (r *TimestampRule) bounded() bool {
	return r.Check && !r.LogAppendTime && (r.BeforeMaxMs != math.MaxInt64 || r.AfterMaxMs != math.MaxInt64)
}

// outOfRange reports whether ts breaks the bounds, without overflowing
// where Now-BeforeMaxMs or Now+AfterMaxMs would.
func (r *TimestampRule) outOfRange(ts int64) bool {
	if ts == -1 {
		return false
	}
	if ts < r.Now {
		d := r.Now - ts
		return r.BeforeMaxMs != math.MaxInt64 && (d < 0 || d > r.BeforeMaxMs)
	}
	d := ts - r.Now
	return r.AfterMaxMs != math.MaxInt64 && (d < 0 || d > r.AfterMaxMs)
}

// timestampError is the error for record i (at offset off in the
// producer's numbering) with timestamp ts, worded as Kafka's.
func (r *TimestampRule) timestampError(i int32, off, ts int64) error {
	lo, hi := satAdd(r.Now, -r.BeforeMaxMs), satAdd(r.Now, r.AfterMaxMs)
	return fmt.Errorf("%w: one or more records have been rejected due to invalid timestamp: record %d: "+
		"timestamp %d of message with offset %d is out of range; the timestamp should be within [%d, %d] "+
		"(message.timestamp.before.max.ms=%d, message.timestamp.after.max.ms=%d)",
		ErrInvalidTimestamp, i, ts, off, lo, hi, r.BeforeMaxMs, r.AfterMaxMs)
}

// satAdd is a+b, saturating at the int64 bounds.
func satAdd(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
}

// batchTimestampError applies the rule to what the header alone decides:
// a LogAppendTime batch from a producer.
func (r *TimestampRule) batchTimestampError(h *Header) error {
	if !r.Check || !h.LogAppendTime() {
		return nil
	}
	if r.LogAppendTime || h.MaxTimestamp == -1 {
		return fmt.Errorf("%w: one or more records have been rejected due to invalid timestamp: "+
			"the batch's timestamp type is LogAppendTime, which a producer must not set", ErrInvalidTimestamp)
	}
	if r.bounded() && r.outOfRange(h.MaxTimestamp) {
		return r.timestampError(0, h.BaseOffset, h.MaxTimestamp)
	}
	return nil
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
//   - under opts.Timestamps, every record timestamp is in range
//     (ErrInvalidTimestamp; see TimestampRule);
//   - with opts.RequireKeys, no record has a null key (ErrInvalidRecord).
//
// Validate is stricter than Kafka on a few framing details no client
// writes: key, value and header value lengths below -1 (Kafka reads them as
// null) and 5-byte varints with overflowing high bits are ErrCorrupt.
//
// Control batches are checked the same way. Errors wrap the sentinels
// (test with errors.Is) and say what was wrong; when a batch is both corrupt
// and breaks a topic rule, corruption is reported, and a bad timestamp
// before a null key (Kafka's precedence).
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
	w := walker{requireKeys: opts.RequireKeys}
	if opts.Timestamps.bounded() && !h.LogAppendTime() {
		w.checkTs, w.ts, w.base, w.first = true, opts.Timestamps, h.BaseOffset, h.FirstTimestamp
	}
	w.batchErr = opts.Timestamps.batchTimestampError(&h)
	if c == CodecNone {
		return h, w.walk(payload, h.NumRecords)
	}
	if !c.Known() {
		return h, corruptf("unknown compression codec %d", int8(c))
	}
	bp := scratch.Get().(*[]byte)
	out, err := Decompress(c, (*bp)[:0], payload, opts.MaxUncompressedBytes)
	if err == nil {
		err = w.walk(out, h.NumRecords)
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

// walker holds what walk checks besides framing.
type walker struct {
	requireKeys bool
	// With checkTs, ts bounds the CreateTime record timestamps: record
	// i's is first plus its delta, and its offset base+i.
	checkTs     bool
	ts          TimestampRule
	base, first int64
	// batchErr is the header's timestamp error, reported unless the
	// records are corrupt.
	batchErr error
}

// walk checks that p is exactly n well-framed records with offset deltas
// 0..n-1, with timestamps in range and, if requireKeys, non-null keys. It
// does not allocate unless it fails.
func (w *walker) walk(p []byte, n int32) error {
	if int64(n) > int64(len(p)/minRecordSize) {
		return corruptf("header announces %d records, more than the %d-byte payload can hold", n, len(p))
	}
	nullKey, badTs := int32(-1), int32(-1)
	var badTsValue int64
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
		if w.requireKeys && r.key == nil && nullKey < 0 {
			nullKey = i
		}
		if w.checkTs && badTs < 0 {
			if ts := w.first + r.timestampDelta; w.ts.outOfRange(ts) {
				badTs, badTsValue = i, ts
			}
		}
		p = rest
	}
	if len(p) != 0 {
		return corruptf("%d bytes trail the last of the %d records the header announces", len(p), n)
	}
	if w.batchErr != nil {
		return w.batchErr
	}
	if badTs >= 0 {
		return w.ts.timestampError(badTs, w.base+int64(badTs), badTsValue)
	}
	if nullKey >= 0 {
		return fmt.Errorf("%w: record %d has a null key, which a compacted topic does not accept", ErrInvalidRecord, nullKey)
	}
	return nil
}
