package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// legacyMessage encodes a magic 1 message set entry.
func legacyMessage(value []byte) []byte {
	msg := []byte{0, 0, 0, 0, 1, 0} // crc (not checked here), magic 1, attributes
	msg = binary.BigEndian.AppendUint64(msg, 1234)
	msg = binary.BigEndian.AppendUint32(msg, 0xffffffff) // null key
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(value)))
	msg = append(msg, value...)
	out := binary.BigEndian.AppendUint64(nil, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(len(msg)))
	return append(out, msg...)
}

func TestNext(t *testing.T) {
	b1 := Build(BuildOptions{}, valueRecords(3, 10)...)
	b2 := Build(BuildOptions{Codec: CodecGzip}, valueRecords(2, 10)...)
	b3 := Build(BuildOptions{Codec: CodecZstd}, valueRecords(5, 10)...)
	all := slices.Concat(b1, b2, b3, b1[:30])

	rest := all
	for i, want := range [][]byte{b1, b2, b3} {
		var batch []byte
		var err error
		batch, rest, err = Next(rest)
		if err != nil || !bytes.Equal(batch, want) || cap(batch) != len(batch) {
			t.Fatalf("batch %d: err %v, %d bytes (cap %d), want %d", i, err, len(batch), cap(batch), len(want))
		}
		if _, err := Validate(batch, ValidateOptions{}); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if batch, r, err := Next(rest); !errors.Is(err, ErrShort) || batch != nil || len(r) != 30 {
		t.Fatalf("partial tail: %v", err)
	}

	legacy := legacyMessage([]byte("old"))
	for _, tc := range []struct {
		name     string
		in       []byte
		want     error
		batchLen int
		restLen  int
	}{
		{"empty", nil, ErrShort, 0, 0},
		{"before-magic", b1[:16], ErrShort, 0, 16},
		{"header-only", b1[:HeaderSize], ErrShort, 0, HeaderSize},
		{"legacy-complete", slices.Concat(legacy, b1), ErrUnsupportedMagic, len(legacy), len(b1)},
		{"legacy-partial", legacy[:20], ErrUnsupportedMagic, 0, 20},
		{"legacy-magic-0", mutate(legacy, false, func(b []byte) []byte { b[16] = 0; return b }), ErrUnsupportedMagic, len(legacy), 0},
		{"legacy-bad-size", mutate(legacy, false, func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 3); return b }), ErrUnsupportedMagic, 0, len(legacy)},
		{"unknown-magic", mutate(b1, false, func(b []byte) []byte { b[16] = 9; return b }), ErrCorrupt, 0, len(b1)},
		{"length-too-small", mutate(b1, false, func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 48); return b }), ErrCorrupt, 0, len(b1)},
		{"length-negative", mutate(b1, false, func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 0x80000000); return b }), ErrCorrupt, 0, len(b1)},
		{"exact", b1, nil, len(b1), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			batch, rest, err := Next(tc.in)
			if !errors.Is(err, tc.want) || len(batch) != tc.batchLen || len(rest) != tc.restLen {
				t.Fatalf("Next = %d, %d, %v; want %d, %d, %v", len(batch), len(rest), err, tc.batchLen, tc.restLen, tc.want)
			}
		})
	}
}
