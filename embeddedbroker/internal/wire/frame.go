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

// Frame buffers. A frame's buffer starts at what has arrived (at least
// frameStart bytes) and doubles as more arrives, up to the size the frame
// announced, so a client that announces a large frame and goes quiet holds
// at most twice what it sent, never what it announced.
const (
	frameStart = 4 << 10
	// readBufSize is the size of the pooled buffer a connection reads
	// into while bytes arrive; a frame's remainder at least this large
	// is read straight into the frame.
	readBufSize = 64 << 10
)

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

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
// whenever a read would wait (on platforms where that can be known, see
// waitingRead), so an idle connection holds no buffer. Buffered bytes are
// always consumed into the frame being read, so when a read is needed the
// buffer is empty and can be given back.
type frameReader struct {
	nc  net.Conn
	raw syscall.RawConn // nil where waitingRead is not available
	max int32
	// onRead is called after every read that returned bytes.
	onRead func()

	buf  *[]byte // the pooled buffer, nil while none is held
	r, w int     // the unread bytes are (*buf)[r:w]

	hdr   [4]byte
	hdrN  int
	size  int    // the frame's announced size, once hdr is complete
	frame []byte // the frame being read; nil until its size is known
}

// next returns the next frame, without its size prefix.
func (fr *frameReader) next() ([]byte, error) {
	for {
		frame, err := fr.consume()
		if frame != nil || err != nil {
			return frame, err
		}
		if fr.frame != nil && fr.size-len(fr.frame) >= readBufSize {
			// A large remainder: read it straight into the frame.
			fr.release()
			if len(fr.frame) == cap(fr.frame) {
				fr.frame = growFrame(fr.frame, 1, fr.size)
			}
			n, err := fr.nc.Read(fr.frame[len(fr.frame):cap(fr.frame)])
			if n > 0 {
				fr.frame = fr.frame[:len(fr.frame)+n]
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

// readErr turns an end of stream inside a frame into io.ErrUnexpectedEOF.
func (fr *frameReader) readErr(err error) error {
	if errors.Is(err, io.EOF) && (fr.hdrN > 0 || fr.frame != nil) {
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
	// With nothing buffered, a frame read straight into may be complete.
	if fr.hdrN < 4 {
		n := copy(fr.hdr[fr.hdrN:], b)
		fr.hdrN += n
		fr.r += n
		b = b[n:]
		if fr.hdrN < 4 {
			return nil, nil
		}
	}
	if fr.frame == nil {
		size := int32(binary.BigEndian.Uint32(fr.hdr[:]))
		if err := checkSize(size, fr.max); err != nil {
			return nil, err
		}
		fr.size = int(size)
		fr.frame = make([]byte, 0, min(fr.size, max(frameStart, len(b))))
	}
	for len(b) > 0 && len(fr.frame) < fr.size {
		if len(fr.frame) == cap(fr.frame) {
			fr.frame = growFrame(fr.frame, len(b), fr.size)
		}
		n := min(len(b), cap(fr.frame)-len(fr.frame))
		fr.frame = append(fr.frame, b[:n]...)
		fr.r += n
		b = b[n:]
	}
	if len(fr.frame) < fr.size {
		return nil, nil
	}
	frame := fr.frame
	fr.hdrN, fr.size, fr.frame = 0, 0, nil
	return frame, nil
}

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
		fr.buf = readBufs.Get().(*[]byte)
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
		readBufs.Put(fr.buf)
		fr.buf, fr.r, fr.w = nil, 0, 0
	}
}

// close gives the pooled buffer back and drops the frame being read.
func (fr *frameReader) close() {
	if fr.buf != nil {
		readBufs.Put(fr.buf)
		fr.buf = nil
	}
	fr.frame = nil
}
