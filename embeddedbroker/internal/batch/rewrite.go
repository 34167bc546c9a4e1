package batch

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// AttrDeleteHorizon marks a batch whose FirstTimestamp is the delete horizon
// set by the log cleaner (KIP-534). Rewrites here preserve it.
const AttrDeleteHorizon = 0x40

// castagnoli is the CRC-32C table; crc32 uses the CPU's instruction for it
// where there is one.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC computes the CRC-32C that a v2 batch's header must carry: over the
// bytes from the attributes (offset 21) to the end of b. b must be exactly
// one batch, from its base offset through its last byte; CRC panics if b is
// shorter than the attributes offset.
func CRC(b []byte) uint32 {
	return crc32.Checksum(b[OffAttributes:], castagnoli)
}

// SetCRC recomputes and stores the CRC of the batch at the start of b,
// whose length field must be right; b may extend past the batch. Call it
// after rewriting any field the CRC covers.
func SetCRC(b []byte) {
	end := int(int32(binary.BigEndian.Uint32(b[OffLength:]))) + LengthOverhead
	binary.BigEndian.PutUint32(b[OffCRC:], CRC(b[:end]))
}

// SetLogAppendTime marks the batch at the start of b as carrying the
// broker's append time ts (milliseconds since the epoch), as Kafka does for
// topics with message.timestamp.type=LogAppendTime: it sets the timestamp
// type attribute bit, sets MaxTimestamp to ts, and recomputes the CRC,
// leaving FirstTimestamp, the record timestamp deltas and the other
// attributes (codec, transactional, control, delete horizon) alone.
// Consumers take MaxTimestamp as every record's timestamp in such a batch.
//
// The batch's length field must be right (as after Validate); b may extend
// past the batch. When the batch already says LogAppendTime with that
// timestamp, nothing is written, sparing the CRC pass as Kafka does.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[OffAttributes:])
	if attrs&AttrTimestampType != 0 && int64(binary.BigEndian.Uint64(b[OffMaxTimestamp:])) == ts {
		return
	}
	binary.BigEndian.PutUint16(b[OffAttributes:], attrs|AttrTimestampType)
	binary.BigEndian.PutUint64(b[OffMaxTimestamp:], uint64(ts))
	SetCRC(b)
}

// Recompress returns the one batch that occupies exactly b with its records
// compressed with codec c: every header field but the length, the codec bits
// of the attributes and the CRC stays as it was (offsets, timestamps,
// producer id, epoch and base sequence, the transactional and timestamp-type
// bits), and so do the records, byte for byte: in message format v2 the
// records payload is the same whatever the codec, which only wraps it. This
// is what Kafka's broker does when a topic's compression.type names a codec
// other than the batch's, except that Kafka re-encodes the records (the
// result is the same but for FirstTimestamp, which Kafka takes from the
// first record and which producers set to it anyway).
//
// b must have passed Validate (Recompress does not check the records or the
// CRC) and c must be known. When b already uses c, b itself is returned.
// Otherwise the result is a new slice with a correct CRC; decompression is
// bounded by maxUncompressed as in Decompress. Control batches should not be
// recompressed (Kafka leaves uncompressed ones alone): the caller decides.
func Recompress(b []byte, c Codec, maxUncompressed int) ([]byte, error) {
	h, err := parseExact(b)
	if err != nil {
		return nil, err
	}
	from := h.Codec()
	if from == c {
		return b, nil
	}
	if !c.Known() {
		return nil, fmt.Errorf("batch: recompressing to unknown codec %d", int8(c))
	}
	payload := b[HeaderSize:]
	if from != CodecNone {
		bp := scratch.Get().(*[]byte)
		defer func() {
			if cap(payload) <= maxScratch {
				*bp = payload[:0]
			}
			scratch.Put(bp)
		}()
		if payload, err = Decompress(from, (*bp)[:0], payload, maxUncompressed); err != nil {
			return nil, err
		}
	}
	size := len(payload) // uncompressed, exactly; a codec's output is a guess
	if c != CodecNone {
		size = size/2 + 64
	}
	out := make([]byte, HeaderSize, HeaderSize+size)
	copy(out, b[:HeaderSize])
	out = Compress(c, out, payload)
	if len(out)-LengthOverhead > math.MaxInt32 {
		return nil, fmt.Errorf("%w: batch of %d bytes after recompression", ErrCorrupt, len(out))
	}
	binary.BigEndian.PutUint32(out[OffLength:], uint32(len(out)-LengthOverhead))
	attrs := binary.BigEndian.Uint16(out[OffAttributes:])
	binary.BigEndian.PutUint16(out[OffAttributes:], attrs&^AttrCompressionMask|uint16(c))
	SetCRC(out)
	return out, nil
}
