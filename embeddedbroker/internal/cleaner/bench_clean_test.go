package cleaner

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
)

// BenchmarkClean measures the cleaner's work on disk, as the broker does
// it: an offset map built over a 64 MiB log of 1 MiB segments (1 KB
// values of random letters, 100 records a batch, 10 000 keys, every key
// rewritten several times),
// then every sealed segment rewritten through Filter (logstore.Rewrite).
// MB/s is of the log cleaned.
//
//	go test -run '^$' -bench BenchmarkClean -benchtime 3x ./embeddedbroker/internal/cleaner/
func BenchmarkClean(b *testing.B) {
	for _, codec := range []batch.Codec{batch.CodecNone, batch.CodecSnappy} {
		b.Run(codec.String(), func(b *testing.B) {
			const (
				total   = 64 << 20
				keys    = 10_000
				perBtch = 100
			)
			// Random letters: snappy keeps about 3/4 of them, as it
			// would of typical text payloads.
			rng := rand.New(rand.NewPCG(1, 2))
			values := make([][]byte, 64)
			for v := range values {
				values[v] = make([]byte, 1000)
				for i := range values[v] {
					values[v][i] = byte('a' + rng.IntN(26))
				}
			}
			var size int64
			for b.Loop() {
				b.StopTimer()
				l, err := logstore.OpenDisk(b.TempDir(), logstore.Config{SegmentBytes: 1 << 20}, nil)
				if err != nil {
					b.Fatal(err)
				}
				off := int64(0)
				for l.Size() < total {
					var rs []batch.Record
					for i := range perBtch {
						rs = append(rs, batch.Record{Key: fmt.Appendf(nil, "key-%05d", (off+int64(i))%keys), Value: values[(off/perBtch+int64(i))%int64(len(values))]})
					}
					bb := batch.Build(batch.BuildOptions{Codec: codec, Timestamp: 1}, rs...)
					batch.SetBaseOffset(bb, off)
					if err := l.Append(bb); err != nil {
						b.Fatal(err)
					}
					off += perBtch
				}
				size = l.Size()
				segs := l.Segments()
				end := segs[len(segs)-1].Next
				b.StartTimer()

				m := NewOffsetMap(128 << 20)
				tx := NewTxnState(nil)
				if err := l.Scan(0, func(bb []byte) error {
					h, _ := batch.ParseHeader(bb)
					if h.BaseOffset >= end {
						return errStop
					}
					_, err := m.AddBatch(bb, tx)
					return err
				}); err != nil && err != errStop {
					b.Fatal(err)
				}
				m.UpdateLatestOffset(end - 1)
				o := FilterOptions{Map: m, Txn: NewTxnState(nil), Now: 0, DeleteRetentionMs: math.MaxInt32, FirstUncleanableOffset: end}
				st, err := l.Rewrite(0, end, func(bb []byte) ([]byte, error) {
					r, err := Filter(bb, o)
					return r.Batch, err
				})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64(st.BytesWritten)/float64(st.BytesRead), "kept/read")
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.SetBytes(size)
		})
	}
}

var errStop = errors.New("stop")
