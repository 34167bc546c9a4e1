package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// allVersions serves every key and version kmsg knows.
func allVersions(key int16) (int16, int16, bool) {
	r := kmsg.RequestForKey(key)
	if r == nil {
		return 0, 0, false
	}
	return 0, r.MaxVersion(), true
}

// frame encodes a request as a client would, without the size prefix.
func frame(req kmsg.Request, corr int32, clientID *string) []byte {
	f := kmsg.RequestFormatter{}
	if clientID != nil {
		f = *kmsg.NewRequestFormatter(kmsg.FormatterClientID(*clientID))
	} else {
		f = *kmsg.NewRequestFormatter()
	}
	b := f.AppendRequest(nil, req, corr)
	return b[4:]
}

func TestDecodeRoundTrip(t *testing.T) {
	id := "client-1"
	tests := []struct {
		name string
		req  kmsg.Request
	}{
		{"metadata v0", func() kmsg.Request { r := kmsg.NewPtrMetadataRequest(); r.SetVersion(0); return r }()},
		{"metadata v12 flexible", func() kmsg.Request {
			r := kmsg.NewPtrMetadataRequest()
			r.SetVersion(12)
			tn := "orders"
			r.Topics = []kmsg.MetadataRequestTopic{{Topic: &tn}}
			return r
		}()},
		{"produce v9", func() kmsg.Request {
			r := kmsg.NewPtrProduceRequest()
			r.SetVersion(9)
			r.Acks = -1
			r.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 2, Records: []byte{1, 2, 3}}}}}
			return r
		}()},
		{"api versions v3", func() kmsg.Request { r := kmsg.NewPtrApiVersionsRequest(); r.SetVersion(3); return r }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(frame(tt.req, 42, &id), allVersions)
			if err != nil {
				t.Fatal(err)
			}
			if got.Key != tt.req.Key() || got.Version != tt.req.GetVersion() || got.CorrelationID != 42 || got.ClientID != id {
				t.Fatalf("header: got key %d v%d corr %d client %q", got.Key, got.Version, got.CorrelationID, got.ClientID)
			}
			if !bytes.Equal(got.Body.AppendTo(nil), tt.req.AppendTo(nil)) {
				t.Fatal("body does not round trip")
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	meta := frame(kmsg.NewPtrMetadataRequest(), 1, nil)
	onlyMetaV1 := func(key int16) (int16, int16, bool) {
		if key == kmsg.Metadata.Int16() || key == kmsg.ApiVersions.Int16() {
			return 1, 1, true
		}
		return 0, 0, false
	}
	tests := []struct {
		name     string
		frame    []byte
		versions Versions
		want     error
	}{
		{"short", []byte{0, 3, 0}, allVersions, ErrMalformed},
		{"unknown key", append([]byte{0x7f, 0x00, 0, 0, 0, 0, 0, 1}, 0xff, 0xff), allVersions, ErrUnsupported},
		{"unsupported version", meta, onlyMetaV1, ErrUnsupported},
		{"truncated client id", []byte{0, 3, 0, 1, 0, 0, 0, 1, 0, 9, 'a'}, allVersions, ErrMalformed},
		{"bad client id length", []byte{0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xf0}, allVersions, ErrMalformed},
		{"truncated body", meta[:len(meta)-1], allVersions, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.frame, tt.versions)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeTooNewApiVersions(t *testing.T) {
	r := kmsg.NewPtrApiVersionsRequest()
	r.SetVersion(4)
	only := func(key int16) (int16, int16, bool) { return 0, 2, key == kmsg.ApiVersions.Int16() }
	got, err := Decode(frame(r, 7, nil), only)
	if err != nil {
		t.Fatal(err)
	}
	if !got.UnsupportedVersion || got.Version != 0 || got.CorrelationID != 7 {
		t.Fatalf("got %+v", got)
	}
}

func TestReadFrameRefusesOversize(t *testing.T) {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, int32(1<<30))
	if _, err := ReadFrame(&b, 1<<20); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v", err)
	}
	b.Reset()
	binary.Write(&b, binary.BigEndian, int32(-5))
	if _, err := ReadFrame(&b, 1<<20); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("negative size: got %v", err)
	}
}

func TestAppendResponseHeaders(t *testing.T) {
	av := kmsg.NewPtrApiVersionsResponse()
	av.SetVersion(3) // flexible, but ApiVersions answers with header v0
	md := kmsg.NewPtrMetadataResponse()
	md.SetVersion(12)
	for _, tt := range []struct {
		resp    kmsg.Response
		tagByte bool
	}{{av, false}, {md, true}} {
		b := AppendResponse(nil, 9, tt.resp)
		if int(binary.BigEndian.Uint32(b)) != len(b)-4 {
			t.Fatal("size prefix")
		}
		body := tt.resp.AppendTo(nil)
		hdr := len(b) - 4 - len(body)
		if want := map[bool]int{false: 4, true: 5}[tt.tagByte]; hdr != want {
			t.Fatalf("%T: header of %d bytes, want %d", tt.resp, hdr, want)
		}
	}
}

// FuzzDecode feeds arbitrary frames to the request decoder: it must never
// panic and never return a request without a body.
func FuzzDecode(f *testing.F) {
	id := "fuzz"
	for _, r := range []kmsg.Request{
		kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrMetadataRequest(), kmsg.NewPtrProduceRequest(),
		kmsg.NewPtrFetchRequest(), kmsg.NewPtrListOffsetsRequest(), kmsg.NewPtrCreateTopicsRequest(),
		kmsg.NewPtrJoinGroupRequest(), kmsg.NewPtrOffsetCommitRequest(), kmsg.NewPtrDescribeConfigsRequest(),
	} {
		for _, v := range []int16{0, r.MaxVersion() / 2, r.MaxVersion()} {
			r.SetVersion(v)
			f.Add(frame(r, 1, &id))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := Decode(b, allVersions)
		if err == nil && (req == nil || req.Body == nil) {
			t.Fatal("nil request without error")
		}
		if err == nil {
			req.Body.AppendTo(nil) // a decoded body must re-encode
		}
	})
}

// TestDecodeMutatedFrames is a bounded, deterministic fuzz run that is part
// of every `go test`: it flips, truncates and splices the bytes of valid
// requests of every API and checks that Decode never panics.
func TestDecodeMutatedFrames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var seeds [][]byte
	for key := int16(0); key <= kmsg.MaxKey; key++ {
		r := kmsg.RequestForKey(key)
		if r == nil {
			continue
		}
		r.SetVersion(r.MaxVersion())
		seeds = append(seeds, frame(r, 1, nil))
	}
	iters := 200000
	if testing.Short() {
		iters = 20000
	}
	for i := 0; i < iters; i++ {
		b := bytes.Clone(seeds[rng.IntN(len(seeds))])
		switch rng.IntN(4) {
		case 0:
			for j := rng.IntN(4) + 1; j > 0 && len(b) > 0; j-- {
				b[rng.IntN(len(b))] ^= byte(1 << rng.IntN(8))
			}
		case 1:
			b = b[:rng.IntN(len(b)+1)]
		case 2:
			b = append(b, seeds[rng.IntN(len(seeds))]...)
		case 3:
			if len(b) > 8 {
				binary.BigEndian.PutUint32(b[len(b)-4:], rng.Uint32())
			}
		}
		req, err := Decode(b, allVersions)
		if err == nil {
			req.Body.AppendTo(nil)
		}
	}
}
