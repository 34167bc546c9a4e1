package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// DefaultMaxUncompressedBytes bounds how many bytes one compressed batch may
// decompress to when the caller gives no bound of its own. A producer's
// batch is at most message.max.bytes compressed (1 MiB by default), so 64
// MiB leaves room for a 64:1 ratio while keeping a decompression bomb from
// costing more than that much memory per request in flight.
const DefaultMaxUncompressedBytes = 64 << 20

// String returns the codec's name as Kafka spells it in compression.type
// ("none", "gzip", "snappy", "lz4", "zstd"), or "codec(N)" for an unknown
// codec.
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return "codec(" + strconv.Itoa(int(c)) + ")"
}

// Known reports whether c is one of the five codecs of message format v2.
func (c Codec) Known() bool { return c >= CodecNone && c <= CodecZstd }

// xerialMagic starts a snappy payload framed the way snappy-java's
// SnappyOutputStream frames it (and so the Java producer): the magic, two
// big-endian int32s (version, minimum compatible version), then chunks of a
// big-endian int32 length followed by a raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// errTooLarge is wrapped (with ErrCorrupt) when a payload decompresses past
// the caller's bound.
var errTooLarge = errors.New("decompressed size exceeds the limit")

func tooLarge(c Codec, max int) error {
	return fmt.Errorf("%w: %s payload: %w (%d bytes)", ErrCorrupt, c, errTooLarge, max)
}

// Decompress appends the decompressed form of src, compressed with codec c,
// to dst and returns the extended slice. At most max bytes are appended; a
// payload that would decompress to more fails with an error wrapping
// ErrCorrupt, having allocated no more than about max bytes (twice that in
// the worst case of slice growth for gzip and lz4). max <= 0 means
// DefaultMaxUncompressedBytes.
//
// Snappy accepts both a raw snappy block and xerial framing (what the Java
// client writes), and decodes strictly: the s2 extensions that a lenient
// decoder would accept are rejected, as snappy-java on a consumer would
// reject them.
//
// Zstd decodes with one shared decoder (safe for concurrent use) whose hard
// memory bound is DefaultMaxUncompressedBytes: with a smaller max, a frame
// that does not declare its content size can make it allocate up to that
// hard bound before the result is rejected. Larger max values use a pooled
// streaming decoder that stops exactly at max, at some cost in speed.
//
// Errors wrap ErrCorrupt. On error the returned slice is unspecified and
// must not be used, but dst's original contents are left unchanged.
func Decompress(c Codec, dst, src []byte, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxUncompressedBytes
	}
	var err error
	switch c {
	case CodecNone:
		if len(src) > max {
			return dst, tooLarge(c, max)
		}
		return append(dst, src...), nil
	case CodecGzip:
		dst, err = decompressGzip(dst, src, max)
	case CodecSnappy:
		dst, err = decompressSnappy(dst, src, max)
	case CodecLZ4:
		dst, err = decompressLZ4(dst, src, max)
	case CodecZstd:
		dst, err = decompressZstd(dst, src, max)
	default:
		return dst, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, int8(c))
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return dst, err
		}
		return dst, fmt.Errorf("%w: %s payload: %w", ErrCorrupt, c, err)
	}
	return dst, nil
}

// readBounded appends everything r yields to dst, failing once more than max
// bytes were appended. The first growth is a guess from the compressed size;
// later growth is append's, so capacity stays within about twice max.
func readBounded(c Codec, dst []byte, r io.Reader, srcLen, max int) ([]byte, error) {
	start := len(dst)
	if cap(dst)-len(dst) < 512 {
		guess := min(srcLen*4+512, max+1)
		dst = slices.Grow(dst, guess)
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		limit := min(cap(dst), start+max+1)
		n, err := r.Read(dst[len(dst):limit])
		dst = dst[:len(dst)+n]
		if len(dst)-start > max {
			return dst, tooLarge(c, max)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// gzipReader pools a gzip reader with the bytes.Reader it reads from, so a
// decompression allocates neither.
type gzipReader struct {
	zr  gzip.Reader
	src bytes.Reader
}

var gzipReaders = sync.Pool{New: func() any { return new(gzipReader) }}

func decompressGzip(dst, src []byte, max int) ([]byte, error) {
	r := gzipReaders.Get().(*gzipReader)
	defer func() {
		r.src.Reset(nil) // drop the reference to src before pooling
		gzipReaders.Put(r)
	}()
	r.src.Reset(src)
	if err := r.zr.Reset(&r.src); err != nil {
		return dst, err
	}
	r.zr.Multistream(true) // Java's GZIPInputStream reads concatenated members
	return readBounded(CodecGzip, dst, &r.zr, len(src), max)
}

type lz4Reader struct {
	zr  *lz4.Reader
	src bytes.Reader
}

var lz4Readers = sync.Pool{New: func() any { return &lz4Reader{zr: lz4.NewReader(nil)} }}

func decompressLZ4(dst, src []byte, max int) ([]byte, error) {
	r := lz4Readers.Get().(*lz4Reader)
	defer func() {
		r.zr.Reset(nil)
		r.src.Reset(nil)
		lz4Readers.Put(r)
	}()
	r.src.Reset(src)
	r.zr.Reset(&r.src)
	return readBounded(CodecLZ4, dst, r.zr, len(src), max)
}

func decompressSnappy(dst, src []byte, max int) ([]byte, error) {
	if len(src) >= xerialHeaderSize && bytes.HasPrefix(src, xerialMagic) {
		return decompressXerial(dst, src[xerialHeaderSize:], max)
	}
	return appendSnappyBlock(dst, src, max)
}

// appendSnappyBlock decodes one raw snappy block onto dst, checking the
// block's announced length against max before allocating.
func appendSnappyBlock(dst, block []byte, max int) ([]byte, error) {
	l, err := snappy.DecodedLen(block)
	if err != nil {
		return dst, err
	}
	if l > max {
		return dst, tooLarge(CodecSnappy, max)
	}
	dst = slices.Grow(dst, l)
	n := len(dst)
	if _, err := snappy.DecodeStrict(dst[n:n+l:n+l], block); err != nil {
		return dst, err
	}
	return dst[:n+l], nil
}

// decompressXerial decodes xerial chunks (the header already stripped). It
// walks the chunk lengths first, summing the announced decoded sizes against
// max, so that it grows dst once and never past the bound.
func decompressXerial(dst, src []byte, max int) ([]byte, error) {
	total := 0
	for rem := src; len(rem) > 0; {
		if len(rem) < 4 {
			return dst, errors.New("xerial framing: truncated chunk length")
		}
		size := int64(int32(binary.BigEndian.Uint32(rem)))
		rem = rem[4:]
		if size < 0 || size > int64(len(rem)) {
			return dst, errors.New("xerial framing: chunk length out of range")
		}
		l, err := snappy.DecodedLen(rem[:size])
		if err != nil {
			return dst, err
		}
		total += l
		if total > max {
			return dst, tooLarge(CodecSnappy, max)
		}
		rem = rem[size:]
	}
	dst = slices.Grow(dst, total)
	for len(src) > 0 {
		size := int(binary.BigEndian.Uint32(src))
		src = src[4:]
		var err error
		if dst, err = appendSnappyBlock(dst, src[:size], max); err != nil {
			return dst, err
		}
		src = src[size:]
	}
	return dst, nil
}

// sharedZstdDecoder is used only through DecodeAll, which is safe for
// concurrent use; its concurrency is GOMAXPROCS decoders, and it refuses to
// produce more than DefaultMaxUncompressedBytes per call.
var sharedZstdDecoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(DefaultMaxUncompressedBytes),
	)
	if err != nil {
		panic("batch: building zstd decoder: " + err.Error())
	}
	return d
})

// zstdStreams pools synchronous streaming decoders for bounds above
// DefaultMaxUncompressedBytes.
var zstdStreams = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1), // synchronous: no goroutines
		zstd.WithDecoderLowmem(true),
		// zstd-jni's default window limit; refuses windows that
		// would make the decoder allocate more up front.
		zstd.WithDecoderMaxWindow(128<<20),
	)
	if err != nil {
		panic("batch: building zstd decoder: " + err.Error())
	}
	return d
}}

func decompressZstd(dst, src []byte, max int) ([]byte, error) {
	if max > DefaultMaxUncompressedBytes {
		d := zstdStreams.Get().(*zstd.Decoder)
		defer func() {
			_ = d.Reset(nil)
			zstdStreams.Put(d)
		}()
		if err := d.Reset(bytes.NewReader(src)); err != nil {
			return dst, err
		}
		return readBounded(CodecZstd, dst, d, len(src), max)
	}
	// Refuse a first frame that announces too much before the decoder
	// allocates for it.
	var fh zstd.Header
	if err := fh.Decode(src); err == nil && fh.HasFCS && fh.FrameContentSize > uint64(max) {
		return dst, tooLarge(CodecZstd, max)
	}
	start := len(dst)
	out, err := sharedZstdDecoder().DecodeAll(src, dst)
	if err != nil {
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
			return dst, tooLarge(CodecZstd, max)
		}
		return dst, err
	}
	if len(out)-start > max {
		return dst, tooLarge(CodecZstd, max)
	}
	return out, nil
}

// Compress appends src compressed with codec c to dst and returns the
// extended slice. It panics if c is not a known codec (a programming error:
// the broker chooses the codec of the batches it writes).
//
// The formats are the ones the Java client writes: gzip, snappy in xerial
// framing with 32 KiB chunks, an LZ4 frame with independent 64 KiB blocks,
// and a zstd frame with a 64 KiB window (small windows keep consumers'
// decoding memory low, as franz-go does).
func Compress(c Codec, dst, src []byte) []byte {
	switch c {
	case CodecNone:
		return append(dst, src...)
	case CodecGzip:
		w := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(w)
		buf := bytes.NewBuffer(dst)
		w.Reset(buf)
		// Writes to a bytes.Buffer cannot fail.
		_, _ = w.Write(src)
		_ = w.Close()
		w.Reset(io.Discard) // drop the reference to buf before pooling
		return buf.Bytes()
	case CodecSnappy:
		if len(dst) == 0 {
			// xerial.Encode writes its header only into an empty dst.
			return xerial.Encode(dst, src)
		}
		return append(dst, xerial.Encode(nil, src)...)
	case CodecLZ4:
		w := lz4Writers.Get().(*lz4.Writer)
		defer lz4Writers.Put(w)
		buf := bytes.NewBuffer(dst)
		w.Reset(buf)
		_, _ = w.Write(src)
		_ = w.Close()
		w.Reset(nil)
		return buf.Bytes()
	case CodecZstd:
		return sharedZstdEncoder().EncodeAll(src, dst)
	}
	panic("batch: Compress with unknown codec " + c.String())
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

var lz4Writers = sync.Pool{New: func() any {
	w := lz4.NewWriter(nil)
	if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
		panic("batch: configuring lz4 writer: " + err.Error())
	}
	return w
}}

// sharedZstdEncoder is used only through EncodeAll, which is safe for
// concurrent use.
var sharedZstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil,
		zstd.WithWindowSize(64<<10),
		zstd.WithZeroFrames(true),
	)
	if err != nil {
		panic("batch: building zstd encoder: " + err.Error())
	}
	return e
})
