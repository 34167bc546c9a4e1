package cleaner

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// BenchmarkFilter filters a batch of 16 records of 1 KiB (text-like values,
// so that codecs compress them as they would real data). "keep" keeps every
// record (the batch is returned as is, after decoding it); "half" removes
// every other record, so the batch is rebuilt and, for a codec,
// recompressed. MB/s counts the batch's uncompressed size, the record data
// the cleaner goes through whatever the codec.
func BenchmarkFilter(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"order", "customer", "shipped", "pending", "amount", "currency", "EUR", "USD", "warehouse", "item"}
	value := func() []byte {
		var v []byte
		for len(v) < 1024 {
			v = fmt.Appendf(v, "%s=%d;", words[rng.IntN(len(words))], rng.IntN(100000))
		}
		return v[:1024]
	}
	var recs []batch.Record
	for i := range 16 {
		recs = append(recs, batch.Record{Key: fmt.Appendf(nil, "key-%04d", i), Value: value(), TimestampDelta: int64(i)})
	}
	var later []batch.Record
	for i := 0; i < 16; i += 2 {
		later = append(later, batch.Record{Key: recs[i].Key, Value: []byte("newer")})
	}
	uncompressed := len(mk(0, batch.BuildOptions{}, recs...))

	for _, c := range []batch.Codec{batch.CodecNone, batch.CodecLZ4, batch.CodecZstd, batch.CodecSnappy, batch.CodecGzip} {
		in := mk(0, batch.BuildOptions{Codec: c}, recs...)
		for _, mode := range []string{"keep", "half"} {
			b.Run(c.String()+"/"+mode, func(b *testing.B) {
				m := mapOf(b, 1<<16, nil, in)
				if mode == "half" {
					m = mapOf(b, 1<<16, nil, in, plain(16, later...))
				}
				opt := FilterOptions{Map: m, Txn: NewTxnState(nil), Now: t0, DeleteRetentionMs: ret}
				res, err := Filter(in, opt)
				if err != nil || (mode == "half") != (res.RecordsKept == 8) {
					b.Fatalf("kept %d: %v", res.RecordsKept, err)
				}
				b.SetBytes(int64(uncompressed))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Filter(in, opt); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
