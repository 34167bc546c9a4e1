// Package batch reads, validates and rewrites Kafka record batches (message
// format v2, magic 2) as they travel on the wire and sit on disk.
//
// The broker never re-encodes records: it validates the bytes a producer
// sent, then rewrites the few header fields it owns (base offset, partition
// leader epoch, and for LogAppendTime topics the timestamp type and max
// timestamp) in place. Base offset, length, partition leader epoch and magic
// lie outside the CRC, so assigning offsets costs no checksum work. Only a
// topic whose compression.type names another codec than the batch's costs
// more: Recompress rewraps the same records in that codec.
package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Byte offsets of the fields of a v2 record batch header.
const (
	OffBaseOffset      = 0
	OffLength          = 8
	OffLeaderEpoch     = 12
	OffMagic           = 16
	OffCRC             = 17
	OffAttributes      = 21
	OffLastOffsetDelta = 23
	OffFirstTimestamp  = 27
	OffMaxTimestamp    = 35
	OffProducerID      = 43
	OffProducerEpoch   = 51
	OffBaseSequence    = 53
	OffNumRecords      = 57

	// HeaderSize is the size of a v2 record batch header: everything up to
	// and including the record count.
	HeaderSize = 61

	// LengthOverhead is the number of bytes before the length field's
	// coverage begins: a batch occupies Length+LengthOverhead bytes.
	LengthOverhead = 12
)

// Attribute bits of a v2 batch.
const (
	AttrCompressionMask = 0x07
	AttrTimestampType   = 0x08
	AttrTransactional   = 0x10
	AttrControl         = 0x20
)

// Codec is a batch's compression codec.
type Codec int8

// Compression codecs, as numbered in the attributes.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// Sentinel errors. Callers map them to Kafka error codes.
var (
	// ErrShort means the bytes end before the batch does.
	ErrShort = errors.New("batch: truncated record batch")
	// ErrUnsupportedMagic means a message format older than v2 (magic 0 or
	// 1), which this broker refuses (UNSUPPORTED_FOR_MESSAGE_FORMAT).
	ErrUnsupportedMagic = errors.New("batch: message format older than v2 (magic < 2) is not supported")
	// ErrCorrupt means a batch failed its CRC or its framing is inconsistent
	// (CORRUPT_MESSAGE).
	ErrCorrupt = errors.New("batch: corrupt record batch")
	// ErrInvalidRecord means the batch is well formed but its records break a
	// rule of the topic, such as a null key on a compacted topic (INVALID_RECORD).
	ErrInvalidRecord = errors.New("batch: invalid record")
	// ErrInvalidTimestamp means a record's timestamp breaks the topic's
	// bounds (message.timestamp.before.max.ms, message.timestamp.after.max.ms)
	// or a producer marked a batch LogAppendTime (INVALID_TIMESTAMP).
	ErrInvalidTimestamp = errors.New("batch: invalid timestamp")
)

// Header is the decoded fixed-size header of a v2 record batch.
type Header struct {
	BaseOffset           int64
	Length               int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the number of bytes the whole batch occupies.
func (h *Header) Size() int { return int(h.Length) + LengthOverhead }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset just past the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec is the batch's compression codec.
func (h *Header) Codec() Codec { return Codec(h.Attributes & AttrCompressionMask) }

// LogAppendTime reports whether the batch's timestamps are the broker's
// append time rather than the producer's create time.
func (h *Header) LogAppendTime() bool { return h.Attributes&AttrTimestampType != 0 }

// Transactional reports whether the batch is part of a transaction.
func (h *Header) Transactional() bool { return h.Attributes&AttrTransactional != 0 }

// Control reports whether the batch is a control batch (transaction markers).
func (h *Header) Control() bool { return h.Attributes&AttrControl != 0 }

// Idempotent reports whether the batch carries a producer id.
func (h *Header) Idempotent() bool { return h.ProducerID >= 0 }

// LastSequence is the sequence number of the batch's last record, wrapping
// at MaxInt32 as Kafka does.
func (h *Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > 0x7fffffff {
		s -= 0x80000000
	}
	return int32(s)
}

// ParseHeader decodes the header at the start of b. It checks that b holds
// at least the header and the whole batch the length field announces, and
// that the magic is 2; it does not check the CRC (see Validate).
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < LengthOverhead+5 {
		return h, ErrShort
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[OffBaseOffset:]))
	h.Length = int32(binary.BigEndian.Uint32(b[OffLength:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[OffLeaderEpoch:]))
	h.Magic = int8(b[OffMagic])
	if h.Magic != 2 {
		if h.Magic == 0 || h.Magic == 1 {
			return h, ErrUnsupportedMagic
		}
		return h, fmt.Errorf("%w: unknown magic %d", ErrCorrupt, h.Magic)
	}
	if h.Length < HeaderSize-LengthOverhead {
		return h, fmt.Errorf("%w: length %d shorter than a batch header", ErrCorrupt, h.Length)
	}
	if len(b) < HeaderSize {
		return h, ErrShort
	}
	h.CRC = binary.BigEndian.Uint32(b[OffCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[OffAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[OffLastOffsetDelta:]))
	h.FirstTimestamp = int64(binary.BigEndian.Uint64(b[OffFirstTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[OffMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[OffProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[OffProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[OffBaseSequence:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[OffNumRecords:]))
	if len(b) < h.Size() {
		return h, ErrShort
	}
	return h, nil
}

// SetBaseOffset rewrites the base offset of the batch at the start of b.
// The base offset lies outside the CRC.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[OffBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch rewrites the partition leader epoch of the batch at
// the start of b. The epoch lies outside the CRC.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[OffLeaderEpoch:], uint32(epoch))
}
