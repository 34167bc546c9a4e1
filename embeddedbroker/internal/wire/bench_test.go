package wire

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceAnswerer answers every request with an empty produce response, as
// a broker answers a produce.
type produceAnswerer struct{}

func (produceAnswerer) Handle(ctx context.Context, c *Conn, req *Request) Pending {
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(req.Version)
	return func() kmsg.Response { return resp }
}

// BenchmarkServerProduce measures the server's request path alone: one
// client pipelines produce requests of a given size (up to 5 in flight, as
// a franz-go producer does) and reads the answers.
func BenchmarkServerProduce(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			s := NewServer(ln, produceAnswerer{}, ServerConfig{Versions: func(int16) (int16, int16, bool) { return 0, 9, true }})
			go s.Serve()
			defer s.Close()
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			p := kmsg.NewPtrProduceRequest()
			p.SetVersion(7)
			p.Acks = 1
			p.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: make([]byte, size)}}}}
			req := kmsg.NewRequestFormatter().AppendRequest(nil, p, 1)
			const inflight = 5
			sem := make(chan struct{}, inflight)
			done := make(chan error, 1)
			go func() {
				var sz [4]byte
				buf := make([]byte, 0, 256)
				for range b.N {
					if _, err := io.ReadFull(nc, sz[:]); err != nil {
						done <- err
						return
					}
					n := int(binary.BigEndian.Uint32(sz[:]))
					if _, err := io.ReadFull(nc, buf[:n]); err != nil {
						done <- err
						return
					}
					<-sem
				}
				done <- nil
			}()
			b.SetBytes(int64(len(req)))
			b.ResetTimer()
			for range b.N {
				sem <- struct{}{}
				if _, err := nc.Write(req); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
