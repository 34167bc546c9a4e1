package logstore

import (
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// benchLogs opens each implementation with segments and retention small
// enough to keep a benchmark's disk and memory use bounded.
func benchLogs(b *testing.B, fn func(b *testing.B, l Log)) {
	cfg := Config{SegmentBytes: 16 << 20, RetentionBytes: 64 << 20, RetentionMs: -1}
	b.Run("memory", func(b *testing.B) {
		l := NewMemory(cfg)
		defer l.Close()
		fn(b, l)
	})
	b.Run("disk", func(b *testing.B) {
		l, err := OpenDisk(b.TempDir(), cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		fn(b, l)
	})
}

// BenchmarkAppend appends batches of one 1 KiB record.
func BenchmarkAppend(b *testing.B) {
	benchLogs(b, func(b *testing.B, l Log) {
		rec := encodeBatch(0, 1, time.Now().UnixMilli(), 1024)
		b.SetBytes(int64(len(rec)))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			batch.SetBaseOffset(rec, l.EndOffset())
			if err := l.Append(rec); err != nil {
				b.Fatal(err)
			}
			if i%10000 == 9999 {
				if _, err := l.ApplyRetention(time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkReadSequential reads a 32 MiB log front to back in 1 MiB fetches,
// as a consumer catching up does.
func BenchmarkReadSequential(b *testing.B) {
	benchLogs(b, func(b *testing.B, l Log) {
		rec := encodeBatch(0, 1, time.Now().UnixMilli(), 1024)
		for l.Size() < 32<<20 {
			batch.SetBaseOffset(rec, l.EndOffset())
			if err := l.Append(rec); err != nil {
				b.Fatal(err)
			}
		}
		end := l.EndOffset()
		b.ReportAllocs()
		var n int64
		off := l.StartOffset()
		for b.Loop() {
			got, err := l.Read(off, 1<<20, end)
			if err != nil {
				b.Fatal(err)
			}
			n += int64(len(got))
			off += int64(len(got) / len(rec))
			if off >= end {
				off = l.StartOffset()
			}
		}
		b.SetBytes(n / int64(b.N))
	})
}

// BenchmarkAppendManyLogs appends batches of one 1 KiB record round-robin
// to 32 disk logs sharing a FilePool: "fits" has room for every active
// segment, "churn" for a quarter of them, so that nearly every append
// closes the least recently used file and opens its own again.
func BenchmarkAppendManyLogs(b *testing.B) {
	const logs = 32
	for _, tc := range []struct {
		name  string
		limit int
	}{{"fits", 2 * logs}, {"churn", logs / 4}} {
		b.Run(tc.name, func(b *testing.B) {
			pool := NewFilePool(tc.limit)
			cfg := Config{SegmentBytes: 16 << 20, RetentionBytes: 16 << 20, RetentionMs: -1}
			ls := make([]Log, logs)
			for i := range ls {
				l, err := OpenDisk(b.TempDir(), cfg, nil, WithFilePool(pool))
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				ls[i] = l
			}
			rec := encodeBatch(0, 1, time.Now().UnixMilli(), 1024)
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				l := ls[i%logs]
				batch.SetBaseOffset(rec, l.EndOffset())
				if err := l.Append(rec); err != nil {
					b.Fatal(err)
				}
				if i%(logs*1000) == logs*1000-1 {
					for _, l := range ls {
						if _, err := l.ApplyRetention(time.Now()); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			st := pool.Stats()
			b.ReportMetric(float64(st.Opens)/float64(b.N), "opens/op")
		})
	}
}
