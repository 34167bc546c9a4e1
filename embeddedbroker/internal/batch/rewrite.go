package batch

import (
	"encoding/binary"
	"hash/crc32"
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
	return crc32.Checksum(b[offAttributes:], castagnoli)
}

// SetCRC recomputes and stores the CRC of the batch at the start of b,
// whose length field must be right; b may extend past the batch. Call it
// after rewriting any field the CRC covers.
func SetCRC(b []byte) {
	end := int(int32(binary.BigEndian.Uint32(b[offLength:]))) + LengthOverhead
	binary.BigEndian.PutUint32(b[offCRC:], CRC(b[:end]))
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
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	if attrs&AttrTimestampType != 0 && int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])) == ts {
		return
	}
	binary.BigEndian.PutUint16(b[offAttributes:], attrs|AttrTimestampType)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	SetCRC(b)
}
