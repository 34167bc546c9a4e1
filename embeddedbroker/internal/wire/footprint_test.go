package wire

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type echoHandler struct{}

// echoHandler answers every request with an empty response of its kind,
// and acks=0 produce requests with nothing.
func (echoHandler) Handle(ctx context.Context, c *Conn, req *Request) Pending {
	if p, ok := req.Body.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		return nil
	}
	resp := req.Body.ResponseKind()
	return func() kmsg.Response { return resp }
}

// footprint returns the live heap plus stacks in use, after a GC.
func footprint() (bytes uint64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse, runtime.NumGoroutine()
}

// TestIdleConnectionFootprint measures what an idle connection that has
// been served costs the server: one goroutine (its reader) and a few KiB.
func TestIdleConnectionFootprint(t *testing.T) {
	const n = 1000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ln, echoHandler{}, ServerConfig{Versions: allVersions})
	go s.Serve()
	defer s.Close()

	// The client side of a connection costs too; measure it against a
	// listener that only accepts, and subtract it.
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var held []net.Conn
	go func() {
		for {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	dialN := func(addr string, used bool) []net.Conn {
		cs := make([]net.Conn, n)
		for i := range cs {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			cs[i] = c
			if used {
				b := kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)
				c.Write(b)
				var sz [4]byte
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Read(sz[:]); err != nil {
					t.Fatal(err)
				}
			}
		}
		return cs
	}
	b0, g0 := footprint()
	clients := dialN(plain.Addr().String(), false)
	b1, g1 := footprint()
	conns := dialN(ln.Addr().String(), true)
	// The writers end just after their responses are written.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine()-g1 > n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b2, g2 := footprint()
	perClient := float64(b1-b0) / n
	perServer := float64(int64(b2-b1))/n - perClient
	perGoroutines := float64(g2-g1) / n
	t.Logf("idle connection: %.0f bytes and %.2f goroutines on the server (the client side: %.0f bytes, %.2f goroutines)",
		perServer, perGoroutines, perClient, float64(g1-g0)/n)
	// Before: 140 KiB (a 64 KiB reader and writer each) and 2 goroutines.
	if perGoroutines > 1.05 || perServer > 16<<10 {
		t.Errorf("an idle connection costs %.0f bytes and %.2f goroutines, want under 16 KiB and 1", perServer, perGoroutines)
	}
	for _, c := range append(clients, conns...) {
		c.Close()
	}
}
