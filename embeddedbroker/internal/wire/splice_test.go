package wire

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/tlsconf"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testSection is a Section over a test file, in one or two ranges; it
// counts its Close calls and can fail its checks.
type testSection struct {
	f      *os.File
	ranges [][2]int64 // position and length
	n      int64
	// checks counts Check calls; the call numbered failAt (1-based)
	// and later ones fail, none when failAt is 0.
	checks, failAt int
	closes         *atomic.Int32
}

func (s *testSection) Len() int64 { return s.n }
func (s *testSection) Parts() int { return len(s.ranges) }
func (s *testSection) Part(i int) (*os.File, int64, int64) {
	return s.f, s.ranges[i][0], s.ranges[i][1]
}
func (s *testSection) Close() error { s.closes.Add(1); return nil }
func (s *testSection) Check() error {
	s.checks++
	if s.failAt > 0 && s.checks >= s.failAt {
		return errors.New("truncated")
	}
	return nil
}

// sectionFile is a file of random bytes for sections to point into.
type sectionFile struct {
	f      *os.File
	data   []byte
	closes atomic.Int32
}

func newSectionFile(t *testing.T, size int) *sectionFile {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	name := filepath.Join(t.TempDir(), "segment.log")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &sectionFile{f: f, data: data}
}

// section returns a section of n bytes at a random position, in two
// ranges at random positions half the time.
func (sf *sectionFile) section(n int) *testSection {
	s := &testSection{f: sf.f, n: int64(n), closes: &sf.closes}
	first := n
	if n > 1 && rand.IntN(2) == 0 {
		first = 1 + rand.IntN(n-1)
	}
	for _, m := range []int{first, n - first} {
		if m > 0 || len(s.ranges) == 0 {
			s.ranges = append(s.ranges, [2]int64{int64(rand.IntN(len(sf.data) - m + 1)), int64(m)})
		}
	}
	return s
}

func (s *testSection) bytes(sf *sectionFile) []byte {
	b := []byte{} // empty, not null
	for _, r := range s.ranges {
		b = append(b, sf.data[r[0]:r[0]+r[1]]...)
	}
	return b
}

// splicedFetch is a Spliced fetch response for tests: splices lists its
// placeholders' fields, in encoding order.
type splicedFetch struct {
	*kmsg.FetchResponse
	splices []Splice
}

func (r *splicedFetch) Splices(dst []Splice) []Splice { return append(dst, r.splices...) }

// buildFetch returns a fetch response of the given version with sections
// of the given sizes among partitions holding records in memory, no
// records or null ones, and, for a flexible version with tags, tagged
// fields everywhere kmsg has them. It returns the spliced response and
// the same response with the sections' bytes in their fields.
func buildFetch(t *testing.T, sf *sectionFile, version int16, tags bool, sizes []int) (*splicedFetch, *kmsg.FetchResponse) {
	t.Helper()
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(version)
	resp.ThrottleMillis = 7
	resp.SessionID = 123456
	full := kmsg.NewPtrFetchResponse()
	full.SetVersion(version)
	var sections []*testSection
	for ti := 0; len(sections) < len(sizes) || ti < 2; ti++ {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = fmt.Sprintf("topic-%d", ti)
		rt.TopicID = [16]byte{byte(ti), 1, 2, 3}
		for pi := range 5 {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = int32(pi)
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = 1000+int64(pi), 990, 3
			switch pi {
			case 0, 2, 3:
				if len(sections) < len(sizes) {
					s := sf.section(sizes[len(sections)])
					sections = append(sections, s)
					rp.RecordBatches = []byte{}
					break
				}
				rp.RecordBatches = []byte("in memory")
			case 1:
				rp.RecordBatches = bytes.Repeat([]byte{0xab}, 300)
				a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
				a.ProducerID, a.FirstOffset = 9, 1001
				rp.AbortedTransactions = append(rp.AbortedTransactions, a)
			case 4:
				rp.RecordBatches = nil
				rp.ErrorCode = 6
			}
			if pi == 3 {
				rp.PreferredReadReplica = 2
			}
			if tags {
				rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 4, 900
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = 1, 5
				rp.SnapshotID.EndOffset, rp.SnapshotID.Epoch = 800, 3
				rp.UnknownTags.Set(99, []byte("partition tag"))
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		if tags {
			rt.UnknownTags.Set(77, []byte{1, 2, 3})
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if tags {
		b := kmsg.NewFetchResponseBroker()
		b.NodeID, b.Host, b.Port = 3, "broker-3", 9092
		resp.Brokers = append(resp.Brokers, b)
		resp.UnknownTags.Set(55, []byte("response tag"))
	}
	// The full response: a deep enough copy with the bytes in.
	*full = *resp
	full.Topics = nil
	k := 0
	sp := &splicedFetch{FetchResponse: resp}
	for ti := range resp.Topics {
		rt := resp.Topics[ti]
		rt.Partitions = append([]kmsg.FetchResponseTopicPartition(nil), rt.Partitions...)
		for pi := range rt.Partitions {
			p := &resp.Topics[ti].Partitions[pi]
			if p.RecordBatches != nil && len(p.RecordBatches) == 0 && k < len(sections) {
				rt.Partitions[pi].RecordBatches = sections[k].bytes(sf)
				sp.splices = append(sp.splices, Splice{Field: &p.RecordBatches, Section: sections[k]})
				k++
			}
		}
		full.Topics = append(full.Topics, rt)
	}
	if k != len(sizes) {
		t.Fatalf("placed %d sections of %d", k, len(sizes))
	}
	return sp, full
}

// singleFetch returns a fetch response of the given version with one
// partition, whose records are a section of size bytes, and the same
// response with the bytes in.
func singleFetch(sf *sectionFile, version int16, size int) (*splicedFetch, *kmsg.FetchResponse) {
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(version)
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = 10, 10, 0
	rp.RecordBatches = []byte{}
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	full := *resp
	full.Topics = []kmsg.FetchResponseTopic{rt}
	full.Topics[0].Partitions = []kmsg.FetchResponseTopicPartition{rp}
	s := sf.section(size)
	full.Topics[0].Partitions[0].RecordBatches = s.bytes(sf)
	sp := &splicedFetch{FetchResponse: resp, splices: []Splice{{Field: &resp.Topics[0].Partitions[0].RecordBatches, Section: s}}}
	return sp, &full
}

// assemble sends what the writer would: the frame up to each cut, then
// the section's bytes.
func assemble(sf *sectionFile, frame []byte, splices []Splice, cuts []int) []byte {
	var out []byte
	prev := 0
	for k, at := range cuts {
		out = append(out, frame[prev:at]...)
		out = append(out, splices[k].Section.(*testSection).bytes(sf)...)
		prev = at
	}
	return append(out, frame[prev:]...)
}

// TestAppendSplicedFetch checks AppendSpliced byte for byte against kmsg's
// encoding of the same response with the bytes in: every Fetch version
// kmsg knows (the broker serves v4-v16), with and without tagged fields,
// sections of sizes around the uvarint boundaries of compact lengths, more
// than 256 of them (the marks wrap), and none.
func TestAppendSplicedFetch(t *testing.T) {
	sf := newSectionFile(t, 1<<20)
	sizeSets := [][]int{
		nil,
		{1},
		{126, 127, 128, 16382, 16383, 16384, 100_000, 0},
		make([]int, 300), // filled below
	}
	for i := range sizeSets[3] {
		sizeSets[3][i] = 1 + i%50
	}
	for v := int16(0); v <= kmsg.NewPtrFetchResponse().MaxVersion(); v++ {
		for _, tags := range []bool{false, true} {
			if tags && v < 12 {
				continue // tagged fields came with the flexible versions
			}
			for _, sizes := range sizeSets {
				t.Run(fmt.Sprintf("v%d/tags=%v/%d", v, tags, len(sizes)), func(t *testing.T) {
					sp, full := buildFetch(t, sf, v, tags, sizes)
					const corr = 0x01020304
					want := AppendResponse(nil, corr, full)
					prefix := []byte("earlier responses")
					splices := sp.Splices(nil)
					got, cuts, err := AppendSpliced(append([]byte(nil), prefix...), corr, sp, splices, nil)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasPrefix(got, prefix) {
						t.Fatal("the bytes before the frame changed")
					}
					if len(cuts) != len(sizes) {
						t.Fatalf("%d cuts for %d sections", len(cuts), len(sizes))
					}
					if got := assemble(sf, got[len(prefix):], splices, cuts); !bytes.Equal(got, want) {
						t.Fatalf("spliced encoding differs from kmsg's: %d bytes, want %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
					}
					for i, s := range splices {
						if p := *s.Field; p == nil || len(p) != 0 {
							t.Fatalf("placeholder %d not put back: %v", i, p)
						}
					}
					// What a client decodes from it.
					dec := kmsg.NewPtrFetchResponse()
					dec.SetVersion(v)
					body := want[8:]
					if full.IsFlexible() {
						body = body[1:]
					}
					if err := dec.ReadFrom(body); err != nil {
						t.Fatalf("kmsg cannot decode it: %v", err)
					}
				})
			}
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// spliceHandler answers each Fetch request with a spliced fetch response
// of its version (with tagged fields when flexible) holding one section
// per partition the request names, of its PartitionMaxBytes, and other
// requests with their empty response; want records the bytes each answer
// must be, by correlation id.
type spliceHandler struct {
	t  *testing.T
	sf *sectionFile
	// failAt makes the sections' checks fail from that call on (see
	// testSection): 1 before the response is encoded (the fields go
	// empty), 2 after the section is sent (the connection closes).
	failAt int
	// single answers a fetch with one partition, whose records are one
	// section: a response that ends with the section's bytes in the
	// non-flexible versions.
	single bool

	mu   sync.Mutex
	want map[int32][]byte
}

func (h *spliceHandler) Handle(_ context.Context, _ *Conn, req *Request) Pending {
	var resp, full kmsg.Response
	switch r := req.Body.(type) {
	case *kmsg.FetchRequest:
		var sizes []int
		for _, rt := range r.Topics {
			for _, rp := range rt.Partitions {
				sizes = append(sizes, int(rp.PartitionMaxBytes))
			}
		}
		sp, f := buildFetch(h.t, h.sf, r.Version, r.Version >= 12, sizes)
		if h.single {
			sp, f = singleFetch(h.sf, r.Version, sizes[0])
		}
		for _, s := range sp.splices {
			s.Section.(*testSection).failAt = h.failAt
		}
		resp, full = sp, f
		if h.failAt == 1 {
			full = sp.FetchResponse // the placeholders: empty records
		}
	default:
		resp = req.Body.ResponseKind()
		resp.SetVersion(req.Version)
		full = resp
	}
	want := AppendResponse(nil, req.CorrelationID, full)
	h.mu.Lock()
	h.want[req.CorrelationID] = want
	h.mu.Unlock()
	return func() kmsg.Response { return resp }
}

// wrappedListener hides the connections' types, so that the server
// cannot use sendfile on them and copies instead.
type wrappedListener struct{ net.Listener }

type wrappedConn struct{ net.Conn }

func (l wrappedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrappedConn{c}, nil
}

// fetchRequest is a Fetch request of the given version naming partitions
// with the given max bytes.
func fetchRequest(version int16, sizes ...int) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(version)
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	for i, n := range sizes {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = int32(i), int32(n)
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// readFrame reads one size-prefixed frame, prefix included.
func readFrame(nc net.Conn) ([]byte, error) {
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	var sz [4]byte
	if _, err := io.ReadFull(nc, sz[:]); err != nil {
		return nil, err
	}
	b := make([]byte, 4+binary.BigEndian.Uint32(sz[:]))
	copy(b, sz[:])
	_, err := io.ReadFull(nc, b[4:])
	return b, err
}

// TestSplicedResponses sends pipelined requests whose answers mix spliced
// fetch responses (several sections each, some larger than the writer's
// buffer and its write chunk) with plain ones, and checks every answer
// byte for byte and in order: with sendfile on a TCP socket, with and
// without an idle timeout (which sends in chunks under a deadline), on a
// Unix socket, and through the copying path on a connection the server
// cannot send files on and on TLS. Every section is closed once.
func TestSplicedResponses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		idle  time.Duration
		unix  bool
		wrap  bool
		tls   bool
		files bool
	}{
		{name: "tcp", files: canSendFile},
		{name: "tcp-idle-timeout", idle: time.Minute, files: canSendFile},
		{name: "unix", unix: true, files: canSendFile},
		{name: "copy", wrap: true},
		{name: "tls", tls: true},
		{name: "tls-idle-timeout", tls: true, idle: time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sf := newSectionFile(t, 4<<20)
			h := &spliceHandler{t: t, sf: sf, want: map[int32][]byte{}}
			network, addr := "tcp", "127.0.0.1:0"
			if tc.unix {
				network, addr = "unix", filepath.Join(t.TempDir(), "s")
			}
			ln, err := net.Listen(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			var files atomic.Bool
			var sl net.Listener = ln
			if tc.wrap {
				sl = wrappedListener{ln}
			}
			hf := handlerFunc(func(ctx context.Context, c *Conn, req *Request) Pending {
				files.Store(c.SendsFiles())
				return h.Handle(ctx, c, req)
			})
			cfg := ServerConfig{IdleTimeout: tc.idle}
			var clientTLS *tls.Config
			if tc.tls {
				cfg.TLS, clientTLS = testTLS(t)
			}
			serveOn(t, sl, hf, cfg)
			nc, err := net.Dial(network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if tc.tls {
				nc = tls.Client(nc, clientTLS)
			}
			defer nc.Close()
			reqs := []kmsg.Request{
				fetchRequest(12, 100_000, 20, 700_000),
				kmsg.NewPtrApiVersionsRequest(),
				fetchRequest(4, 300_000),
				fetchRequest(16, 1, 2, 3, 70_000, 2<<20),
				kmsg.NewPtrMetadataRequest(),
				fetchRequest(11, 5000, 600_000),
			}
			var out []byte
			f := kmsg.NewRequestFormatter()
			for i, r := range reqs {
				out = append(out, f.AppendRequest(nil, r, int32(i+1))...) // (it puts the size at dst[0])
			}
			go nc.Write(out)
			for i := range reqs {
				got, err := readFrame(nc)
				if err != nil {
					t.Fatalf("answer %d: %v", i+1, err)
				}
				corr := int32(binary.BigEndian.Uint32(got[4:]))
				if corr != int32(i+1) {
					t.Fatalf("answer %d has correlation id %d", i+1, corr)
				}
				h.mu.Lock()
				want := h.want[corr]
				h.mu.Unlock()
				if !bytes.Equal(got, want) {
					t.Fatalf("answer %d: %d bytes differ from kmsg's %d (first difference at %d)", corr, len(got), len(want), firstDiff(got, want))
				}
			}
			if files.Load() != tc.files {
				t.Errorf("SendsFiles = %v, want %v", files.Load(), tc.files)
			}
			nc.Close()
			waitFor(t, "every section closed", func() bool { return sf.closes.Load() == 11 })
		})
	}
}

// TestSplicedTruncated checks what the writer does with sections whose
// files were truncated: checked before the response is encoded, they
// leave their fields empty (the client fetches again) and the connection
// serves on; found truncated only after their bytes were read for the
// send, they close the connection before the response is whole, since
// what went out may be wrong: also when the response ends with the
// section (a non-flexible version, whose last field is the last
// partition's records), with sendfile and with the copying path.
func TestSplicedTruncated(t *testing.T) {
	sf := newSectionFile(t, 1<<20)
	h := &spliceHandler{t: t, sf: sf, failAt: 1, want: map[int32][]byte{}}
	_, addr := startServer(t, h, ServerConfig{})
	c := dial(t, addr)
	for range 2 {
		corr := c.send(fetchRequest(12, 50_000, 60_000))
		got, err := readFrame(c.nc)
		if err != nil {
			t.Fatal(err)
		}
		h.mu.Lock()
		want := h.want[corr]
		h.mu.Unlock()
		if !bytes.Equal(got, want) {
			t.Fatalf("answer with truncated sections: %d bytes, want %d (the records left empty)", len(got), len(want))
		}
	}
	c.roundTrip()
	waitFor(t, "the sections closed", func() bool { return sf.closes.Load() == 4 })

	h.failAt, h.single = 2, true
	closes := int32(4)
	copyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, wrappedListener{copyLn}, h, ServerConfig{})
	for _, srv := range []struct {
		name, addr string
	}{{"sendfile", addr}, {"copy", copyLn.Addr().String()}} {
		for _, version := range []int16{4, 11, 12, 16} {
			expectCutShort(t, srv.addr, fetchRequest(version, 50_000), fmt.Sprintf("%s v%d: a section truncated during its send", srv.name, version))
			closes++
			waitFor(t, "the section closed", func() bool { return sf.closes.Load() == closes })
		}
	}
}

// testTLS returns a server and a client TLS configuration, with a
// generated certificate.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	b, err := tlsconf.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(b.ServerCert, b.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	client = b.ClientConfig()
	client.ServerName = "127.0.0.1"
	return &tls.Config{Certificates: []tls.Certificate{cert}}, client
}

// expectCutShort sends req on a new connection and fails the test unless
// the server closes the connection before the answer is whole (what names
// the case).
func expectCutShort(t *testing.T, addr string, req kmsg.Request, what string) {
	t.Helper()
	c := dial(t, addr)
	c.send(req)
	if _, err := readFrame(c.nc); err == nil {
		t.Fatalf("%s: a whole response went out", what)
	} else if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the connection stayed open", what)
	}
}

// shrinkingSection is a testSection whose file is cut short by its first
// Check, which passes: the file shrinks between the check and the send,
// behind the back of whatever tracks truncations.
type shrinkingSection struct {
	*testSection
	name string
	to   int64
}

func (s *shrinkingSection) Check() error {
	if s.checks == 0 {
		if err := os.Truncate(s.name, s.to); err != nil {
			return err
		}
	}
	s.checks++
	return nil
}

// TestSplicedFileShrinks checks that a section whose file ends before the
// section does, once sent, closes the connection before the response is
// whole, rather than send other bytes than its length promised: with
// sendfile (which finds the file's end) and with the copying path.
func TestSplicedFileShrinks(t *testing.T) {
	copyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var closes atomic.Int32
	var version atomic.Int32
	h := handlerFunc(func(_ context.Context, _ *Conn, req *Request) Pending {
		sf := newSectionFile(t, 200_000)
		name := sf.f.Name()
		sp, _ := singleFetch(sf, int16(version.Load()), 150_000)
		ts := sp.splices[0].Section.(*testSection)
		ts.closes = &closes
		sp.splices[0].Section = &shrinkingSection{testSection: ts, name: name, to: 20_000}
		return func() kmsg.Response { return sp }
	})
	_, addr := startServer(t, h, ServerConfig{})
	serveOn(t, wrappedListener{copyLn}, h, ServerConfig{})
	want := int32(0)
	for _, srv := range []struct {
		name, addr string
	}{{"sendfile", addr}, {"copy", copyLn.Addr().String()}} {
		for _, v := range []int16{4, 16} {
			version.Store(int32(v))
			expectCutShort(t, srv.addr, fetchRequest(v, 150_000), fmt.Sprintf("%s v%d: a file shorter than its section", srv.name, v))
			want++
			waitFor(t, "the section closed", func() bool { return closes.Load() == want })
		}
	}
}
