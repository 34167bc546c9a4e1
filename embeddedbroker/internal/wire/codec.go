// Package wire speaks the Kafka wire protocol on the server side: it frames
// requests, decodes request headers (v1, and v2 for flexible versions,
// KIP-482), decodes bodies with franz-go's kmsg, and encodes responses with
// header v0 or v1. Server runs one connection's requests through a Handler
// and writes the responses back in request order while the client pipelines;
// a response may carry byte ranges of files, which go to the socket with
// sendfile (see Spliced).
//
// Nothing here knows what a request means; the broker's handlers do. What
// wire guarantees is that bad bytes never reach them: a frame larger than the
// configured maximum is refused before any buffer is allocated, a frame's
// buffer grows with the bytes that arrive rather than from the size it
// announces, and a frame that does not decode closes that connection only.
//
// Server also keeps connections from taking a node down: it refuses
// connections beyond max.connections and max.connections.per.ip, closes
// the ones idle for connections.max.idle.ms, keeps a connection at rest to
// one goroutine and a few hundred bytes, and keeps accepting through
// failed accepts (out of file handles) with a back-off. See ServerConfig.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sentinel errors returned by ReadFrame and Decode. Any of them means the
// connection the bytes came from must be closed.
var (
	// ErrFrameTooLarge means a frame's size prefix exceeds the maximum.
	ErrFrameTooLarge = errors.New("wire: frame larger than the maximum request size")
	// ErrMalformed means a frame does not decode as a request.
	ErrMalformed = errors.New("wire: malformed request")
	// ErrUnsupported means a request's API key or version is not served.
	ErrUnsupported = errors.New("wire: unsupported API key or version")
)

// Versions reports the range of versions served for an API key; ok is false
// for keys that are not served at all.
type Versions func(key int16) (min, max int16, ok bool)

// Request is one decoded request.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	// ClientID is the request header's client id ("" when null).
	ClientID string
	// Body is the decoded request, its version set.
	Body kmsg.Request
	// Size is the frame's size in bytes.
	Size int
	// UnsupportedVersion is set on an ApiVersions request of a version
	// newer than the server serves. Kafka answers those (KIP-511) with an
	// ApiVersions v0 response carrying UNSUPPORTED_VERSION and the supported
	// ranges, so the client can retry with a version both sides know; Decode
	// hands such a request over as v0 with this flag set and its body empty.
	UnsupportedVersion bool
}

// ReadFrame reads one size-prefixed frame from r. The size is checked
// against max first, and the frame's buffer then grows with the bytes that
// arrive (doubling up to the announced size), so a client that announces a
// large frame and sends little makes the server hold little.
func ReadFrame(r io.Reader, max int32) ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(sz[:]))
	if err := checkSize(n, max); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, min(int(n), frameStart))
	for len(buf) < int(n) {
		if len(buf) == cap(buf) {
			buf = growFrame(buf, 1, int(n))
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil && len(buf) < int(n) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// Decode decodes a request frame (without its size prefix). Keys or versions
// that versions does not serve return an error wrapping ErrUnsupported, except
// for a too new ApiVersions (see Request.UnsupportedVersion). The body may
// alias frame.
func Decode(frame []byte, versions Versions) (req *Request, err error) {
	defer func() {
		// kmsg checks its bounds, but a decoder bug must cost one
		// connection, never the process.
		if r := recover(); r != nil {
			req, err = nil, fmt.Errorf("%w: decoder panic: %v", ErrMalformed, r)
		}
	}()
	if len(frame) < 8 {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a request header", ErrMalformed, len(frame))
	}
	key := int16(binary.BigEndian.Uint16(frame))
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	corr := int32(binary.BigEndian.Uint32(frame[4:]))
	min, max, ok := versions(key)
	if !ok {
		return nil, fmt.Errorf("%w: api key %d", ErrUnsupported, key)
	}
	if version < min || version > max {
		if key == kmsg.ApiVersions.Int16() && version > max {
			body := kmsg.NewPtrApiVersionsRequest()
			body.SetVersion(0)
			return &Request{Key: key, Version: 0, CorrelationID: corr, Body: body, Size: len(frame) + 4, UnsupportedVersion: true}, nil
		}
		return nil, fmt.Errorf("%w: %s v%d (served: v%d-v%d)", ErrUnsupported, kmsg.NameForKey(key), version, min, max)
	}
	body := kmsg.RequestForKey(key)
	if body == nil {
		return nil, fmt.Errorf("%w: api key %d", ErrUnsupported, key)
	}
	body.SetVersion(version)
	rest := frame[8:]
	// Client id: a nullable string with an int16 length, in every header version.
	if len(rest) < 2 {
		return nil, fmt.Errorf("%w: truncated client id", ErrMalformed)
	}
	var clientID string
	if l := int16(binary.BigEndian.Uint16(rest)); l >= 0 {
		if len(rest) < 2+int(l) {
			return nil, fmt.Errorf("%w: truncated client id", ErrMalformed)
		}
		clientID = string(rest[2 : 2+int(l)])
		rest = rest[2+int(l):]
	} else if l == -1 {
		rest = rest[2:]
	} else {
		return nil, fmt.Errorf("%w: client id length %d", ErrMalformed, l)
	}
	if body.IsFlexible() {
		if rest, err = skipTags(rest); err != nil {
			return nil, err
		}
	}
	if err := body.ReadFrom(rest); err != nil {
		return nil, fmt.Errorf("%w: %s v%d body: %v", ErrMalformed, kmsg.NameForKey(key), version, err)
	}
	return &Request{Key: key, Version: version, CorrelationID: corr, ClientID: clientID, Body: body, Size: len(frame) + 4}, nil
}

// skipTags skips a tagged-field section (KIP-482) and returns what follows.
func skipTags(b []byte) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: bad tagged fields", ErrMalformed)
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		_, k := binary.Uvarint(b) // tag
		if k <= 0 {
			return nil, fmt.Errorf("%w: bad tag", ErrMalformed)
		}
		b = b[k:]
		sz, k := binary.Uvarint(b)
		if k <= 0 || sz > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: bad tag size", ErrMalformed)
		}
		b = b[k+int(sz):]
	}
	return b, nil
}

// AppendResponse appends the size-prefixed encoding of resp, answering a
// request with the given key and correlation id, to dst. The response header
// is v1 (with an empty tagged-field section) for flexible versions, except
// for ApiVersions, whose response header is always v0 so that a client that
// does not yet know the server's versions can read it.
func AppendResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
