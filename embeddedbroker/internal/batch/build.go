package batch

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Producer identifies the idempotent or transactional producer of a batch.
type Producer struct {
	// ID and Epoch are the producer id and epoch from InitProducerID.
	ID    int64
	Epoch int16
	// BaseSequence is the sequence number of the batch's first record,
	// or -1 for none (as in transaction markers).
	BaseSequence int32
}

// BuildOptions describes the batch Build writes. The zero value is an
// uncompressed, non-transactional CreateTime batch with no producer and
// FirstTimestamp 0.
type BuildOptions struct {
	// Codec compresses the records. Build panics on an unknown codec.
	Codec Codec

	// Timestamp is the batch's FirstTimestamp in milliseconds; record i's
	// timestamp is Timestamp + records[i].TimestampDelta, and MaxTimestamp
	// is the largest of those.
	Timestamp int64

	// Producer, when set, stamps the producer id, epoch and base
	// sequence; nil writes -1 for all three, as a producer without
	// idempotence does.
	Producer *Producer

	// Transactional sets the transactional attribute bit.
	Transactional bool
	// Control sets the control attribute bit: the records are control
	// records (transaction markers, whose key and value the caller
	// encodes, e.g. with kmsg.EndTxnMarker).
	Control bool
	// LogAppendTime sets the timestamp-type attribute bit. Prefer
	// SetLogAppendTime on the finished batch, which also sets
	// MaxTimestamp to the append time.
	LogAppendTime bool
}

// Build encodes records as one message format v2 batch with base offset 0
// and partition leader epoch -1 (the broker stamps both with SetBaseOffset
// and SetPartitionLeaderEpoch, outside the CRC) and a correct CRC. The
// records' OffsetDelta fields are ignored: record i gets offset delta i, as
// Validate requires. Each record's attributes byte is 0.
//
// Build with no records writes an empty batch (LastOffsetDelta -1,
// MaxTimestamp = Timestamp), which Kafka keeps after compaction but
// Validate rejects.
//
// The encoding goes through kmsg.Record and kmsg.RecordBatch; Build is
// meant for the broker's own records (consumer offsets, transaction
// markers) and for tests, not for a hot path.
func Build(opts BuildOptions, records ...Record) []byte {
	if !opts.Codec.Known() {
		panic("batch: Build with unknown codec " + opts.Codec.String())
	}
	size := 0
	for i := range records {
		size += 16 + len(records[i].Key) + len(records[i].Value)
		for _, h := range records[i].Headers {
			size += 10 + len(h.Key) + len(h.Value)
		}
	}
	payload := make([]byte, 0, size)
	maxTS := opts.Timestamp
	var hdrs []kmsg.Header
	for i := range records {
		r := &records[i]
		hdrs = hdrs[:0]
		for _, h := range r.Headers {
			hdrs = append(hdrs, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		kr := kmsg.Record{
			TimestampDelta64: r.TimestampDelta,
			OffsetDelta:      int32(i),
			Key:              r.Key,
			Value:            r.Value,
			Headers:          hdrs,
		}
		kr.Length = int32(recordBodyLen(&kr))
		payload = kr.AppendTo(payload)
		if ts := opts.Timestamp + r.TimestampDelta; i == 0 || ts > maxTS {
			maxTS = ts
		}
	}

	attrs := int16(opts.Codec)
	if opts.LogAppendTime {
		attrs |= AttrTimestampType
	}
	if opts.Transactional {
		attrs |= AttrTransactional
	}
	if opts.Control {
		attrs |= AttrControl
	}
	if opts.Codec != CodecNone {
		payload = Compress(opts.Codec, nil, payload)
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          0,
		Length:               int32(HeaderSize - LengthOverhead + len(payload)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      int32(len(records) - 1),
		FirstTimestamp:       opts.Timestamp,
		MaxTimestamp:         maxTS,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(records)),
		Records:              payload,
	}
	if p := opts.Producer; p != nil {
		rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = p.ID, p.Epoch, p.BaseSequence
	}
	out := rb.AppendTo(make([]byte, 0, HeaderSize+len(payload)))
	binary.BigEndian.PutUint32(out[OffCRC:], CRC(out))
	return out
}

// recordBodyLen is the wire size of everything after a record's length
// varint, as kmsg.Record.AppendTo writes it.
func recordBodyLen(r *kmsg.Record) int {
	n := 1 + kbin.VarlongLen(r.TimestampDelta64) + kbin.VarintLen(r.OffsetDelta) +
		nullableBytesLen(r.Key) + nullableBytesLen(r.Value) + kbin.VarintLen(int32(len(r.Headers)))
	for _, h := range r.Headers {
		n += kbin.VarintLen(int32(len(h.Key))) + len(h.Key) + nullableBytesLen(h.Value)
	}
	return n
}

func nullableBytesLen(b []byte) int {
	if b == nil {
		return kbin.VarintLen(-1)
	}
	return kbin.VarintLen(int32(len(b))) + len(b)
}
