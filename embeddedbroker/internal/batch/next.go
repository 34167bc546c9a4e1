package batch

import (
	"encoding/binary"
	"fmt"
)

// Minimum value of a legacy (magic 0) message's size field: CRC, magic,
// attributes, and the two int32 key and value lengths.
const minLegacyMessageSize = 4 + 1 + 1 + 4 + 4

// Next splits the first batch off b, a run of concatenated batches such as a
// Produce request's records or a chunk read from a log segment. It returns
// the batch (with its capacity capped to its length, so appending to it
// cannot clobber rest) and the bytes after it. It checks only the framing,
// not the batch's contents: pass the batch to Validate or ParseHeader.
//
// Next reads the magic byte (offset 16) before trusting the rest of the
// layout; the length field sits at offset 8 in every message format, so:
//
//   - a magic 0 or 1 message set entry returns ErrUnsupportedMagic, and, if
//     the entry is complete, also the entry as batch and what follows as
//     rest, so a caller reading old data can skip it;
//   - a batch that runs past the end of b, or a b too short to hold the
//     magic (including an empty b), returns ErrShort: for a fetch this is
//     the partial batch a broker may send at the end of a response, for a
//     produce request it is a malformed request;
//   - an unknown magic or a length too small for the format returns
//     ErrCorrupt.
//
// On ErrShort and ErrCorrupt, batch is nil and rest is b.
func Next(b []byte) (batch, rest []byte, err error) {
	if len(b) < OffMagic+1 {
		return nil, b, ErrShort
	}
	length := int32(binary.BigEndian.Uint32(b[OffLength:]))
	switch magic := int8(b[OffMagic]); magic {
	case 2:
		if length < HeaderSize-LengthOverhead {
			return nil, b, fmt.Errorf("%w: length %d shorter than a batch header", ErrCorrupt, length)
		}
	case 0, 1:
		if length < minLegacyMessageSize {
			return nil, b, fmt.Errorf("%w: magic %d message with impossible size %d", ErrUnsupportedMagic, magic, length)
		}
		err = fmt.Errorf("%w: found a magic %d message", ErrUnsupportedMagic, magic)
	default:
		return nil, b, fmt.Errorf("%w: unknown magic %d", ErrCorrupt, magic)
	}
	size := int(length) + LengthOverhead
	if len(b) < size {
		if err != nil {
			return nil, b, err
		}
		return nil, b, ErrShort
	}
	return b[:size:size], b[size:], err
}
