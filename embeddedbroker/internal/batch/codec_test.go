package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
)

func compressibleBytes(n int) []byte {
	rng := rand.New(rand.NewPCG(5, 6))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rng.IntN(4))
	}
	return b
}

// xerialFrame frames src the way snappy-java's SnappyOutputStream does,
// written out by hand: magic, version 1, compatible version 1, then chunks
// of (big-endian int32 length, raw snappy block).
func xerialFrame(src []byte, chunk int) []byte {
	out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
	for len(src) > 0 {
		n := min(chunk, len(src))
		block := snappy.Encode(nil, src[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		src = src[n:]
	}
	return out
}

func TestSnappyXerial(t *testing.T) {
	src := compressibleBytes(100 << 10)
	for _, tc := range []struct {
		name string
		in   []byte
		want []byte
		err  error
	}{
		{"xerial-32k-chunks", xerialFrame(src, 32<<10), src, nil},
		{"xerial-one-chunk", xerialFrame(src[:1000], 32<<10), src[:1000], nil},
		{"xerial-odd-chunks", xerialFrame(src, 777), src, nil},
		{"xerial-header-only", xerialFrame(nil, 1), []byte{}, nil},
		{"raw-block", snappy.Encode(nil, src), src, nil},
		{"raw-empty", snappy.Encode(nil, nil), []byte{}, nil},
		{"xerial-truncated-length", append(xerialFrame(src[:100], 32<<10), 0, 0), nil, ErrCorrupt},
		{"xerial-truncated-chunk", xerialFrame(src[:1000], 32<<10)[:40], nil, ErrCorrupt},
		{"xerial-negative-length", append(xerialFrame(nil, 1), 0xff, 0xff, 0xff, 0xff, 1), nil, ErrCorrupt},
		{"xerial-garbage-chunk", append(xerialFrame(nil, 1), 0, 0, 0, 3, 0xff, 0xff, 0xff), nil, ErrCorrupt},
		{"raw-garbage", []byte{0x05, 0xff, 0xff}, nil, ErrCorrupt},
		// 0x0c is a copy with offset 0, valid in s2 but not in snappy.
		{"raw-s2-repeat", []byte{0x08, 0x00, 'a', 0x01, 0x00}, nil, ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Decompress(CodecSnappy, nil, tc.in, 0)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && !bytes.Equal(out, tc.want) {
				t.Fatalf("decoded %d bytes, want %d", len(out), len(tc.want))
			}
		})
	}
}

// TestCompressInterop checks that Compress and Decompress append to dst and
// that franz-go's consumer decompressor reads what Compress writes, and vice
// versa with franz-go's producer compressor.
func TestCompressInterop(t *testing.T) {
	src := compressibleBytes(200 << 10)
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			prefix := []byte("prefix")
			out := Compress(c, bytes.Clone(prefix), src)
			if !bytes.HasPrefix(out, prefix) {
				t.Fatal("Compress lost dst's contents")
			}
			comp := out[len(prefix):]
			if c == CodecSnappy && !bytes.HasPrefix(comp, xerialMagic) {
				t.Fatal("snappy is not xerial framed")
			}
			got, err := Decompress(c, bytes.Clone(prefix), comp, 0)
			if err != nil || !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], src) {
				t.Fatalf("round trip: err %v", err)
			}
			got, err = kgo.DefaultDecompressor().Decompress(comp, kgo.CompressionCodecType(c))
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("kgo decompress: %v", err)
			}
			got, err = Decompress(c, nil, refCompress(t, c, src), 0)
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("decompress kgo's: %v", err)
			}
			// Empty input round trips too.
			if got, err := Decompress(c, nil, Compress(c, nil, nil), 0); err != nil || len(got) != 0 {
				t.Fatalf("empty: %v, %d bytes", err, len(got))
			}
		})
	}
	if _, err := Decompress(6, nil, src, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown codec: %v", err)
	}
}

// TestDecompressionBombs checks that every codec stops at the bound, both
// through Decompress and through Validate, and that announced sizes are
// refused before anything is allocated for them.
func TestDecompressionBombs(t *testing.T) {
	const limit = 1 << 20
	zeros := make([]byte, 2*limit)
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			comp := Compress(c, nil, zeros)
			if _, err := Decompress(c, nil, comp, limit); !errors.Is(err, ErrCorrupt) || !errors.Is(err, errTooLarge) {
				t.Fatalf("Decompress past the limit: %v", err)
			}
			if out, err := Decompress(c, nil, comp, 2*limit); err != nil || len(out) != 2*limit {
				t.Fatalf("Decompress at the limit: %v", err)
			}
			// Exactly at the limit is fine, one past is not.
			if _, err := Decompress(c, nil, Compress(c, nil, zeros[:limit]), limit); err != nil {
				t.Fatalf("exactly the limit: %v", err)
			}
			if _, err := Decompress(c, nil, Compress(c, nil, zeros[:limit+1]), limit); !errors.Is(err, errTooLarge) {
				t.Fatalf("one past the limit: %v", err)
			}
			b := Build(BuildOptions{Codec: c}, Record{Key: []byte("k"), Value: zeros})
			if _, err := Validate(b, ValidateOptions{MaxUncompressedBytes: limit}); c != CodecNone && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Validate past the limit: %v", err)
			}
			if _, err := Validate(b, ValidateOptions{}); err != nil {
				t.Fatalf("Validate under the default limit: %v", err)
			}
		})
	}

	// A zstd frame announcing 1 TiB: magic, descriptor (single segment,
	// 8-byte content size), the size, then a raw block header.
	zframe := binary.LittleEndian.AppendUint32(nil, 0xFD2FB528)
	zframe = append(zframe, 0xE0)
	zframe = binary.LittleEndian.AppendUint64(zframe, 1<<40)
	zframe = append(zframe, 0x01, 0x00, 0x00)
	var zh zstd.Header
	if err := zh.Decode(zframe); err != nil || !zh.HasFCS || zh.FrameContentSize != 1<<40 {
		t.Fatalf("hand-made zstd header: %v %+v", err, zh)
	}
	// A raw snappy block announcing 2 GiB, and a xerial chunk doing so.
	rawHuge := binary.AppendUvarint(nil, 1<<31-1)
	xHuge := append(xerialFrame(nil, 1), 0, 0, 0, byte(len(rawHuge)))
	xHuge = append(xHuge, rawHuge...)
	for _, tc := range []struct {
		name string
		c    Codec
		in   []byte
	}{{"zstd-fcs", CodecZstd, zframe}, {"snappy-raw", CodecSnappy, rawHuge}, {"snappy-xerial", CodecSnappy, xHuge}} {
		allocs := testing.AllocsPerRun(5, func() {
			if _, err := Decompress(tc.c, nil, tc.in, 0); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: %v", tc.name, err)
			}
		})
		if allocs > 10 {
			t.Errorf("%s: %v allocations to refuse", tc.name, allocs)
		}
	}

	// A zstd stream past DefaultMaxUncompressedBytes takes the streaming
	// path and still stops at its bound.
	big := Compress(CodecZstd, nil, make([]byte, DefaultMaxUncompressedBytes+2))
	if _, err := Decompress(CodecZstd, nil, big, DefaultMaxUncompressedBytes+1); !errors.Is(err, errTooLarge) {
		t.Fatalf("streaming zstd past the limit: %v", err)
	}
	if out, err := Decompress(CodecZstd, nil, big, DefaultMaxUncompressedBytes+2); err != nil || len(out) != DefaultMaxUncompressedBytes+2 {
		t.Fatalf("streaming zstd at the limit: %v", err)
	}
}
