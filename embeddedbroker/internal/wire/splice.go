package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Responses with bytes left in files.
//
// A fetch answers with record batches that the broker's disk log holds in
// segment files. Rather than read them into memory and copy them into the
// response, the handler may answer with a Spliced response: a kmsg
// response whose records fields hold empty placeholders, plus, for each, a
// Section of a file to send in its place. The connection's writer encodes
// the response with kmsg, finds where each placeholder's bytes go (see
// AppendSpliced), fixes the length prefixes and the frame size, and writes
// the encoding up to each placeholder from memory and the section's bytes
// straight from the file with sendfile, so that they never pass through
// user space. On a connection that cannot (TLS, or a platform without
// sendfile) it reads the sections into its write buffer instead: the same
// bytes go out either way.

// Section is bytes left in files that a response sends in place of a bytes
// field (a logstore.FileRecords): byte ranges of open files, one after the
// other.
type Section interface {
	// Len is the number of bytes, in all the ranges.
	Len() int64
	// Parts is the number of ranges.
	Parts() int
	// Part returns range i: its open file, valid until Close, and the
	// range's position and length in it. The file's own position is not
	// used.
	Part(i int) (f *os.File, pos, n int64)
	// Check reports an error when the file no longer holds the bytes the
	// section was cut from (it was truncated since). The writer checks
	// before encoding the response, leaving the field empty if it fails,
	// and again once the bytes are read from the file, before anything
	// after them goes out, closing the connection with the response
	// incomplete if it fails then: what went out may be wrong.
	Check() error
	// Close releases the file.
	Close() error
}

// Splice is a bytes field of a response whose bytes are a Section's.
// Field holds an empty placeholder, which AppendSpliced changes while it
// encodes and puts back.
type Splice struct {
	Field   *[]byte
	Section Section

	placeholder []byte
}

// Spliced is a response some of whose bytes fields are sent from files.
// A Pending returning one hands its sections to the connection, which
// closes them once they are written, or dropped.
type Spliced interface {
	kmsg.Response
	// Splices appends the response's splices to dst, in the order kmsg
	// encodes their fields, and returns it. Every section of the response
	// passes to the caller: Splices closes those it leaves out (a field
	// that is no longer its placeholder).
	Splices(dst []Splice) []Splice
}

// spliceIDs marks the fields of the second encoding AppendSpliced makes:
// field k holds spliceIDs[k%256], one byte. Read-only.
var spliceIDs = func() (ids [256]byte) {
	for i := range ids {
		ids[i] = byte(i)
	}
	return ids
}()

// errSplice means an encoding did not show the splices where expected.
var errSplice = errors.New("wire: splice not found in the encoding")

// AppendSpliced appends the size-prefixed encoding of resp to dst, as
// AppendResponse does, but without the bytes of the splices' sections:
// the frame size and each field's length prefix count them, and cuts gets
// (appended) for each splice, in order, the position in the appended frame
// where its section's bytes go. Sending the frame's bytes up to the first
// cut, the first section, the bytes up to the next cut, and so on, sends
// exactly what AppendResponse would for resp with the sections' bytes in
// their fields. The splices must be given in encoding order and be plain
// bytes fields (not tagged fields).
//
// How it finds the fields: it encodes resp twice with kmsg, once with
// every spliced field empty and once with field k holding one byte, k%256.
// The two encodings differ only there: at the last byte of each field's
// length prefix (an int32 0 against 1, or for flexible versions a compact
// length's uvarint 1 against 2) and by the one byte inserted. Where they
// first differ is the first field; the next difference, one byte further
// on in the second encoding, the second; and so on. The length prefixes
// are then rewritten for the sections' lengths (for flexible versions the
// uvarint may grow) in a copy of the first encoding.
func AppendSpliced(dst []byte, corr int32, resp kmsg.Response, splices []Splice, cuts []int) ([]byte, []int, error) {
	start := len(dst)
	total := int64(0)
	for i := range splices {
		sp := &splices[i]
		total += sp.Section.Len()
		sp.placeholder = *sp.Field
		*sp.Field = []byte{}
	}
	dst = AppendResponse(dst, corr, resp)
	mid := len(dst)
	for i := range splices {
		id := i % len(spliceIDs)
		*splices[i].Field = spliceIDs[id : id+1 : id+1]
	}
	dst = AppendResponse(dst, corr, resp)
	for i := range splices {
		sp := &splices[i]
		*sp.Field, sp.placeholder = sp.placeholder, nil
	}
	a, b := dst[start:mid], dst[mid:]
	if len(b)-len(a) != len(splices) || int64(len(a))+total-4 > math.MaxInt32 {
		return dst[:start], cuts, fmt.Errorf("%w: encodings of %d and %d bytes for %d splices of %d bytes", errSplice, len(a), len(b), len(splices), total)
	}
	flexible := resp.IsFlexible()
	// The positions, in a, of the last byte of each field's length.
	first := len(cuts)
	i := 4 // past the frame sizes, which differ
	for k := range splices {
		for i < len(a) && a[i] == b[i+k] {
			i++
		}
		ok := i < len(a) && i+k+1 < len(b) && b[i+k+1] == spliceIDs[k%len(spliceIDs)]
		if flexible {
			ok = ok && a[i] == 1 && b[i+k] == 2
		} else {
			ok = ok && i >= 7 && bytes.Equal(a[i-3:i+1], []byte{0, 0, 0, 0}) && b[i+k] == 1
		}
		if !ok {
			return dst[:start], cuts[:first], fmt.Errorf("%w: field %d of %d", errSplice, k, len(splices))
		}
		cuts = append(cuts, i)
		i++
	}
	if !bytes.Equal(a[i:], b[i+len(splices):]) {
		return dst[:start], cuts[:first], fmt.Errorf("%w: the encodings differ past the last field", errSplice)
	}
	// The frame, built after the two encodings, then moved to start.
	out := len(dst)
	prev := 0
	for k := range splices {
		at, n := cuts[first+k], splices[k].Section.Len()
		if flexible {
			dst = append(dst, a[prev:at]...)
			dst = binary.AppendUvarint(dst, uint64(n)+1)
		} else {
			dst = append(dst, a[prev:at-3]...)
			dst = binary.BigEndian.AppendUint32(dst, uint32(n))
		}
		cuts[first+k] = len(dst) - out
		prev = at + 1
	}
	dst = append(dst, a[prev:]...)
	frame := dst[out:]
	binary.BigEndian.PutUint32(frame, uint32(int64(len(frame))-4+total))
	n := copy(dst[start:], frame)
	return dst[:start+n], cuts, nil
}
