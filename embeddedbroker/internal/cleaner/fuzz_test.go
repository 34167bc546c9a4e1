package cleaner

import (
	"bytes"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// FuzzFilter feeds arbitrary bytes, split into batches where they frame as
// batches, to AddBatch and Filter under varied options. Neither may panic,
// and whatever Filter writes anew must be a well-formed batch with the
// input's offsets.
func FuzzFilter(f *testing.F) {
	seeds := [][]byte{
		plain(0, r("a", "1"), tomb("b"), keyless("c")),
		marker(3, 1, false),
		marker(4, 2, true),
		txnData(5, 1, 0, r("a", "x")),
		mk(6, batch.BuildOptions{Producer: &batch.Producer{ID: 2, Epoch: 1}}),
	}
	for _, c := range codecs {
		seeds = append(seeds, mk(10, batch.BuildOptions{Codec: c}, r("a", "2"), withTs(tomb("c"), -3), r("a", "3")))
	}
	lat := plain(20, r("a", "4"), r("b", "4"))
	batch.SetLogAppendTime(lat, 99)
	seeds = append(seeds, lat)
	f.Add(bytes.Join(seeds, nil), t0, uint8(0))
	f.Add(bytes.Join(seeds, nil), t0+ret, uint8(0xff))
	for _, s := range seeds {
		f.Add(s, int64(0), uint8(5))
	}
	f.Add([]byte{}, int64(-1), uint8(1))

	f.Fuzz(func(t *testing.T, data []byte, now int64, flags uint8) {
		var batches [][]byte
		for rest := data; len(rest) > 0; {
			b, next, err := batch.Next(rest)
			if b == nil || err != nil {
				batches = append(batches, rest) // whatever is left, as one "batch"
				break
			}
			batches = append(batches, b)
			rest = next
		}
		var aborted []AbortedTxn
		if flags&4 != 0 {
			aborted = []AbortedTxn{{ProducerID: 1, FirstOffset: 0, LastOffset: 1 << 40}, {ProducerID: 2, FirstOffset: -5, LastOffset: 3}}
		}
		m := NewOffsetMap(24 * int(1+flags&0x30))
		mtx := NewTxnState(aborted)
		for _, b := range batches {
			if fit, err := m.AddBatch(b, mtx); err != nil || !fit {
				break
			}
		}
		opt := FilterOptions{
			Map: m, Txn: NewTxnState(aborted), Now: now, DeleteRetentionMs: int64(flags) * 1000,
			IsLastBatchOfProducer:  func(int64, int64) bool { return flags&1 != 0 },
			IsLastMarkerOfProducer: func(int64, int16) bool { return flags&2 != 0 },
		}
		if flags&8 != 0 {
			opt.FirstUncleanableOffset = 5
		}
		if flags&0x40 != 0 {
			opt.Map = nil
		}
		for _, b := range batches {
			res, err := Filter(b, opt)
			if err != nil || res.Batch == nil || (len(b) > 0 && &res.Batch[0] == &b[0]) {
				continue
			}
			hi, err := batch.ParseHeader(b)
			if err != nil {
				t.Fatalf("input accepted but its header does not parse: %v", err)
			}
			ho, err := batch.ParseHeader(res.Batch)
			if err != nil || ho.Size() != len(res.Batch) {
				t.Fatalf("output header: %v (size %d of %d)", err, ho.Size(), len(res.Batch))
			}
			if batch.CRC(res.Batch) != ho.CRC {
				t.Fatal("output CRC mismatch")
			}
			if ho.BaseOffset != hi.BaseOffset || ho.LastOffsetDelta != hi.LastOffsetDelta {
				t.Fatalf("offsets moved: %d+%d became %d+%d", hi.BaseOffset, hi.LastOffsetDelta, ho.BaseOffset, ho.LastOffsetDelta)
			}
			n := 0
			if err := batch.ForEachRecord(res.Batch, func(batch.Record) bool { n++; return true }); err != nil {
				t.Fatalf("output records: %v", err)
			}
			if n != res.RecordsKept {
				t.Fatalf("output holds %d records, result says %d", n, res.RecordsKept)
			}
		}
	})
}
