package batch

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
)

// RecordHeader is one header of a record. A nil Value is a null header
// value, which Kafka allows (header keys cannot be null).
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one record of a v2 batch, relative to its batch: the record's
// offset is the batch's base offset plus OffsetDelta and its timestamp is the
// batch's FirstTimestamp plus TimestampDelta (unless the batch uses
// LogAppendTime, in which case every record's timestamp is the batch's
// MaxTimestamp).
//
// Key and Value are nil when null, and non-nil (possibly empty) otherwise.
// Records decoded by ForEachRecord and Records alias the batch (or, for a
// compressed batch, the buffer it was decompressed into): copy them to keep
// them past a rewrite of the batch.
type Record struct {
	OffsetDelta    int32
	TimestampDelta int64
	Key, Value     []byte
	Headers        []RecordHeader
}

// minRecordSize is the smallest a record can be on the wire: one byte each
// for the length, attributes, timestamp delta, offset delta, key length,
// value length and header count.
const minRecordSize = 7

// rawRecord is one record's fields as views into the records payload; it
// is what scanRecord yields without allocating.
type rawRecord struct {
	timestampDelta int64
	offsetDelta    int32
	numHeaders     int32
	key, value     []byte // nil when null
	headers        []byte // the numHeaders encoded headers
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// scanRecord reads the record at the start of p (i is its index, for error
// messages) and returns it and the bytes after it. It checks the record's
// framing completely: the length varint must cover exactly the fields that
// follow, every varint must be well formed and every length in range. It
// does not allocate unless it fails.
func scanRecord(p []byte, i int) (r rawRecord, rest []byte, err error) {
	length, n := kbin.Varint(p)
	if n <= 0 {
		return r, p, corruptf("record %d: malformed length varint", i)
	}
	p = p[n:]
	if length < 0 || int(length) > len(p) {
		return r, p, corruptf("record %d: length %d exceeds the %d bytes left", i, length, len(p))
	}
	rec, rest := p[:length], p[length:]
	if len(rec) < 1 {
		return r, rest, corruptf("record %d: empty record body", i)
	}
	rec = rec[1:] // attributes: unused in v2
	if r.timestampDelta, n = kbin.Varlong(rec); n <= 0 {
		return r, rest, corruptf("record %d: malformed timestamp delta", i)
	}
	rec = rec[n:]
	if r.offsetDelta, n = kbin.Varint(rec); n <= 0 {
		return r, rest, corruptf("record %d: malformed offset delta", i)
	}
	rec = rec[n:]
	if r.key, rec, err = scanNullableBytes(rec, i, "key"); err != nil {
		return r, rest, err
	}
	if r.value, rec, err = scanNullableBytes(rec, i, "value"); err != nil {
		return r, rest, err
	}
	if r.numHeaders, n = kbin.Varint(rec); n <= 0 || r.numHeaders < 0 {
		return r, rest, corruptf("record %d: malformed header count", i)
	}
	rec = rec[n:]
	hdrs := rec
	// Each header takes at least two bytes, so a lying count runs out of
	// bytes long before it runs out of iterations.
	for h := int32(0); h < r.numHeaders; h++ {
		kl, n := kbin.Varint(rec)
		if n <= 0 || kl < 0 || int(kl) > len(rec)-n {
			return r, rest, corruptf("record %d: header %d: malformed or null key", i, h)
		}
		rec = rec[n+int(kl):]
		if _, rec, err = scanNullableBytes(rec, i, "header value"); err != nil {
			return r, rest, err
		}
	}
	r.headers = hdrs[:len(hdrs)-len(rec)]
	if len(rec) != 0 {
		return r, rest, corruptf("record %d: %d bytes left over inside the record after its last field", i, len(rec))
	}
	return r, rest, nil
}

// scanNullableBytes reads a varint-length-prefixed byte string, -1 meaning
// null (returned as nil).
func scanNullableBytes(p []byte, i int, what string) (b, rest []byte, err error) {
	l, n := kbin.Varint(p)
	if n <= 0 {
		return nil, p, corruptf("record %d: malformed %s length", i, what)
	}
	p = p[n:]
	if l == -1 {
		return nil, p, nil
	}
	if l < -1 || int(l) > len(p) {
		return nil, p, corruptf("record %d: %s length %d out of range (%d bytes left)", i, what, l, len(p))
	}
	return p[:l:l], p[l:], nil
}

// record converts r into a Record, allocating only its headers.
func (r *rawRecord) record() Record {
	rec := Record{
		OffsetDelta:    r.offsetDelta,
		TimestampDelta: r.timestampDelta,
		Key:            r.key,
		Value:          r.value,
	}
	if r.numHeaders == 0 {
		return rec
	}
	rec.Headers = make([]RecordHeader, 0, r.numHeaders)
	p := r.headers
	for range r.numHeaders {
		// scanRecord already checked the headers' framing.
		kl, n := kbin.Varint(p)
		p = p[n:]
		key := string(p[:kl])
		p = p[kl:]
		v, rest, _ := scanNullableBytes(p, 0, "")
		p = rest
		rec.Headers = append(rec.Headers, RecordHeader{Key: key, Value: v})
	}
	return rec
}

// ForEachRecord decodes the records of the one batch that occupies exactly b,
// decompressing it if need be, and calls fn on each in order until fn
// returns false.
//
// ForEachRecord checks the framing of every record it reaches, that the
// header's record count matches, and that no bytes trail the last record,
// but unlike Validate it does not check the CRC, and it accepts the gaps in
// offset deltas that log compaction leaves. fn may have been called on some
// records before an error is returned: call Validate first on untrusted
// bytes. Records passed to fn alias b or the decompression buffer (see
// Record). Decompression is bounded by DefaultMaxUncompressedBytes.
func ForEachRecord(b []byte, fn func(Record) bool) error {
	return forEachRecord(b, DefaultMaxUncompressedBytes, fn)
}

func forEachRecord(b []byte, maxUncompressed int, fn func(Record) bool) error {
	h, payload, err := recordsPayload(b, maxUncompressed)
	if err != nil {
		return err
	}
	var n int32
	for ; n < h.NumRecords && len(payload) > 0; n++ {
		r, rest, err := scanRecord(payload, int(n))
		if err != nil {
			return err
		}
		payload = rest
		if !fn(r.record()) {
			return nil
		}
	}
	return checkCount(h.NumRecords, n, payload)
}

// Records decodes all the records of the one batch that occupies exactly b;
// see ForEachRecord, whose checks it shares. The records alias b or the
// decompression buffer.
func Records(b []byte) ([]Record, error) {
	h, payload, err := recordsPayload(b, DefaultMaxUncompressedBytes)
	if err != nil {
		return nil, err
	}
	// The count is the sender's claim: bound the allocation by what the
	// payload could hold.
	recs := make([]Record, 0, min(int(max(h.NumRecords, 0)), len(payload)/minRecordSize))
	var n int32
	for ; n < h.NumRecords && len(payload) > 0; n++ {
		r, rest, err := scanRecord(payload, int(n))
		if err != nil {
			return nil, err
		}
		payload = rest
		recs = append(recs, r.record())
	}
	if err := checkCount(h.NumRecords, n, payload); err != nil {
		return nil, err
	}
	return recs, nil
}

// recordsPayload parses the header of the one batch in b and returns its
// (decompressed) records payload.
func recordsPayload(b []byte, maxUncompressed int) (Header, []byte, error) {
	h, err := parseExact(b)
	if err != nil {
		return h, nil, err
	}
	if h.NumRecords < 0 {
		return h, nil, corruptf("negative record count %d", h.NumRecords)
	}
	payload := b[HeaderSize:]
	if c := h.Codec(); c != CodecNone {
		// Sized by Decompress from the compressed size; not pooled,
		// since the records alias it.
		if payload, err = Decompress(c, nil, payload, maxUncompressed); err != nil {
			return h, nil, err
		}
	}
	return h, payload, nil
}

// checkCount reports a mismatch between the header's record count and the
// n records read, or bytes after the last record.
func checkCount(want, n int32, rest []byte) error {
	if n < want {
		return corruptf("header announces %d records but the payload holds only %d", want, n)
	}
	if len(rest) != 0 {
		return corruptf("%d bytes trail the last of the %d records the header announces", len(rest), want)
	}
	return nil
}
