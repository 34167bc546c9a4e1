package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
)

// Frame buffers. A frame gets a buffer of its announced size only once at
// least half of it has arrived; until then its bytes are gathered in pooled
// chunks of readBufSize. So a client that announces a large frame and goes
// quiet holds at most twice what it sent (plus a chunk), never what it
// announced, while a frame that arrives quickly is copied at most once and
// its second half read straight into its buffer.
const (
	// readBufSize is the size of the pooled buffers a connection reads
	// into while bytes arrive (see frameReader).
	readBufSize = 64 << 10
	// frameStart is the first buffer ReadFrame reads a frame into.
	frameStart = 4 << 10
)

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

func getChunk() *[]byte { return readBufs.Get().(*[]byte) }

func putChunk(p *[]byte) {
	*p = (*p)[:cap(*p)]
	readBufs.Put(p)
}

// growFrame returns frame with room for at least one more byte: twice its
// capacity, at least need bytes beyond its length, at most size.
func growFrame(frame []byte, need, size int) []byte {
	c := min(max(2*cap(frame), len(frame)+need, frameStart), size)
	grown := make([]byte, len(frame), c)
	copy(grown, frame)
	return grown
}

// checkSize checks a frame's announced size against the maximum.
func checkSize(n, max int32) error {
	if n < 0 || n > max {
		return fmt.Errorf("%w: %d bytes, maximum %d", ErrFrameTooLarge, n, max)
	}
	if n < 8 {
		return fmt.Errorf("%w: frame of %d bytes is shorter than a request header", ErrMalformed, n)
	}
	return nil
}

// frameReader reads a connection's request frames. It reads into a pooled
// buffer, so many pipelined frames cost one read, and gives the buffer back
// whenever a read would wait (where waitingRead is available), so an idle
// connection holds no buffer. Buffered bytes are always consumed into the
// frame being read, so when a read is needed the buffer is empty and can be
// given back. The part of a frame still to come, when at least a buffer's
// worth, is read straight into the frame's chunks or buffer.
type frameReader struct {
	nc  net.Conn
	raw syscall.RawConn // nil where waitingRead is not available
	max int32
	// onRead is called after every read that returned bytes.
	onRead func()

	buf  *[]byte // the pooled read buffer, nil while none is held
	r, w int     // the unread bytes are (*buf)[r:w]

	hdr  [4]byte
	hdrN int
	size int // the frame's announced size once hdr is complete, else 0
	got  int // the bytes of the frame so far
	// The frame's bytes are in parts (pooled chunks, all full but the
	// last) until half of it has arrived, then in frame (len got, cap
	// size).
	parts []*[]byte
	frame []byte
}

// next returns the next frame, without its size prefix.
func (fr *frameReader) next() ([]byte, error) {
	for {
		frame, err := fr.consume()
		if frame != nil || err != nil {
			return frame, err
		}
		if fr.size-fr.got >= readBufSize {
			// A large remainder: read it straight into the frame.
			fr.release()
			dst := fr.room()
			n, err := fr.nc.Read(dst)
			if n > 0 {
				fr.added(n)
				fr.onRead()
			}
			if err != nil {
				return nil, fr.readErr(err)
			}
			continue
		}
		if err := fr.fill(); err != nil {
			return nil, fr.readErr(err)
		}
	}
}

// room returns where the frame's next bytes go: the free part of its buffer
// or of its last chunk (a new one if that is full), at most what the frame
// still lacks.
func (fr *frameReader) room() []byte {
	if fr.frame != nil {
		return fr.frame[len(fr.frame):fr.size]
	}
	var p *[]byte
	if k := len(fr.parts); k > 0 && len(*fr.parts[k-1]) < cap(*fr.parts[k-1]) {
		p = fr.parts[k-1]
	} else {
		p = getChunk()
		*p = (*p)[:0]
		fr.parts = append(fr.parts, p)
	}
	c := *p
	return c[len(c):min(cap(c), len(c)+fr.size-fr.got)]
}

// added records n bytes written into room(), and gives the frame its buffer
// once half of it has arrived.
func (fr *frameReader) added(n int) {
	fr.got += n
	if fr.frame != nil {
		fr.frame = fr.frame[:fr.got]
		return
	}
	p := fr.parts[len(fr.parts)-1]
	*p = (*p)[:len(*p)+n]
	if 2*fr.got >= fr.size {
		fr.frame = make([]byte, 0, fr.size)
		for i, p := range fr.parts {
			fr.frame = append(fr.frame, *p...)
			putChunk(p)
			fr.parts[i] = nil
		}
		fr.parts = fr.parts[:0]
	}
}

// readErr turns an end of stream inside a frame into io.ErrUnexpectedEOF.
func (fr *frameReader) readErr(err error) error {
	if errors.Is(err, io.EOF) && fr.hdrN > 0 {
		return io.ErrUnexpectedEOF
	}
	return err
}

// consume moves buffered bytes into the header and the frame being read. It
// returns a frame once it is complete, leaving the bytes after it buffered;
// otherwise it leaves the buffer empty.
func (fr *frameReader) consume() ([]byte, error) {
	var b []byte
	if fr.buf != nil {
		b = (*fr.buf)[fr.r:fr.w]
	}
	if fr.hdrN < 4 {
		n := copy(fr.hdr[fr.hdrN:], b)
		fr.hdrN += n
		fr.r += n
		b = b[n:]
		if fr.hdrN < 4 {
			return nil, nil
		}
	}
	if fr.size == 0 {
		size := int32(binary.BigEndian.Uint32(fr.hdr[:]))
		if err := checkSize(size, fr.max); err != nil {
			return nil, err
		}
		fr.size = int(size)
		if 2*len(b) >= fr.size {
			fr.frame = make([]byte, 0, fr.size) // half of it here already
		}
	}
	for len(b) > 0 && fr.got < fr.size {
		n := copy(fr.room(), b)
		fr.added(n)
		fr.r += n
		b = b[n:]
	}
	// A frame read straight into, with nothing buffered after it, is
	// complete here too.
	if fr.got < fr.size {
		return nil, nil
	}
	frame := fr.frame
	fr.hdrN, fr.size, fr.got, fr.frame = 0, 0, 0, nil
	return frame, nil
}

// held is the memory the frame being read holds.
func (fr *frameReader) held() int { return len(fr.parts)*readBufSize + cap(fr.frame) }

// fill reads into the pooled buffer, which is empty.
func (fr *frameReader) fill() error {
	fr.r, fr.w = 0, 0
	if fr.raw != nil {
		n, err := waitingRead(fr.raw, &fr.buf)
		if n > 0 {
			fr.w = n
			fr.onRead()
		}
		return err
	}
	if fr.buf == nil {
		fr.buf = getChunk()
	}
	n, err := fr.nc.Read(*fr.buf)
	if n > 0 {
		fr.w = n
		fr.onRead()
	}
	return err
}

// release gives the pooled buffer back if it holds nothing unread.
func (fr *frameReader) release() {
	if fr.buf != nil && fr.r == fr.w {
		putChunk(fr.buf)
		fr.buf, fr.r, fr.w = nil, 0, 0
	}
}

// close gives the pooled buffers back and drops the frame being read.
func (fr *frameReader) close() {
	if fr.buf != nil {
		putChunk(fr.buf)
		fr.buf = nil
	}
	for _, p := range fr.parts {
		putChunk(p)
	}
	fr.parts, fr.frame = nil, nil
}
