package cleaner

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

// LoadFactor is the share of an OffsetMap's slots that cleaning fills before
// it stops adding keys: Kafka's log.cleaner.io.buffer.load.factor at its
// default, 0.9. Open addressing slows down sharply as a table nears full.
const LoadFactor = 0.9

const (
	hashSize      = md5.Size     // 16: Kafka's default digest, MD5
	bytesPerEntry = hashSize + 8 // the hash and an int64 offset, as in Kafka
	minSlots      = 2            // the least for which slots*LoadFactor > 1
)

// entry is one slot: the MD5 of a key and the offset of its latest record.
// An all-zero entry is an empty slot, as in Kafka.
type entry struct {
	hash [hashSize]byte
	off  int64
}

// OffsetMap maps record keys to the offset of their latest record in the
// dirty section of a log: Kafka's SkimpyOffsetMap. It takes a fixed amount
// of memory, fixed at construction, and stores a key as its 16-byte MD5 hash
// next to an 8-byte offset, in an open-addressing table probed exactly as
// Kafka probes it (successive 4-byte words of the hash, then linearly).
//
// Storing hashes instead of keys makes the map small and its size
// independent of key length, at the cost that two distinct keys with the
// same MD5 are taken for one: the older key's records would then be removed
// as superseded by the other key's. Kafka accepts this: for keys that are
// not crafted to collide, the chance over a map of n keys is about n²/2¹²⁹,
// far below that of an undetected disk error. A key chosen by an attacker
// to collide with another's (MD5 collisions are cheap to make) could have
// that key compacted away; the same holds for Kafka.
//
// The map has no deletion. It is not safe for concurrent use; Kafka gives
// each cleaner thread its own, and so should the caller.
type OffsetMap struct {
	entries  []entry
	capacity int   // slots * LoadFactor: the most keys cleaning puts
	size     int   // keys put
	latest   int64 // Kafka's lastOffset: the latest offset put, or moved to
}

// NewOffsetMap returns an empty map that uses about memoryBytes bytes: that
// is a cleaner thread's share of log.cleaner.dedupe.buffer.size (the buffer
// size divided by log.cleaner.threads). The map has memoryBytes/24 slots
// (Kafka's bytes per entry with MD5) and holds up to LoadFactor of them.
//
// Kafka refuses to start when a thread's share cannot hold two slots (its
// check that slots × load factor > 1, so that cleaning makes progress); here
// such a small memoryBytes gets the two slots, one key, instead.
//
// The memory is allocated here, once: reuse the map across cleanings with
// Clear, as Kafka does, rather than making a new one each time.
func NewOffsetMap(memoryBytes int) *OffsetMap {
	slots := max(memoryBytes/bytesPerEntry, minSlots)
	return &OffsetMap{
		entries:  make([]entry, slots),
		capacity: int(float64(slots) * LoadFactor),
		latest:   -1,
	}
}

// Get returns the offset of the latest record put for key, and whether
// there is one. A key of another with the same MD5 is found too (see
// OffsetMap).
func (m *OffsetMap) Get(key []byte) (offset int64, ok bool) {
	h := md5.Sum(key)
	slots := len(m.entries)
	// Kafka bounds the probes so that a full map cannot loop forever.
	maxAttempts := slots + hashSize - 4
	for attempt := 0; attempt < maxAttempts; attempt++ {
		e := &m.entries[m.slot(&h, attempt)]
		if e.empty() {
			return -1, false
		}
		if e.hash == h {
			return e.off, true
		}
	}
	return -1, false
}

// put maps key to offset, replacing the offset of a key already there (the
// caller puts records in offset order, so the later one wins), and moves
// LatestOffset to offset, as Kafka's put does. It fails only when every
// slot is taken, which AddBatch never lets happen.
func (m *OffsetMap) put(key []byte, offset int64) error {
	if m.size >= len(m.entries) {
		return fmt.Errorf("cleaner: adding a key to a full offset map (%d slots)", len(m.entries))
	}
	h := md5.Sum(key)
	for attempt := 0; ; attempt++ {
		e := &m.entries[m.slot(&h, attempt)]
		if e.empty() {
			e.hash, e.off = h, offset
			m.size++
			m.latest = offset
			return nil
		}
		if e.hash == h {
			e.off = offset
			m.latest = offset
			return nil
		}
	}
}

// slot is the index of the attempt-th probe for hash h: Kafka's positionOf,
// in Java's 32-bit arithmetic. The first probes read successive big-endian
// int32s of the hash; past the last of them, probing goes on linearly.
func (m *OffsetMap) slot(h *[hashSize]byte, attempt int) int {
	probe := int32(binary.BigEndian.Uint32(h[min(attempt, hashSize-4):]))
	probe += int32(max(0, attempt-hashSize+4))
	// Kafka's Utils.abs maps MinInt32 to 0.
	if probe == -1<<31 {
		probe = 0
	} else if probe < 0 {
		probe = -probe
	}
	return int(probe) % len(m.entries)
}

func (e *entry) empty() bool { return e.off == 0 && e.hash == [hashSize]byte{} }

// Len returns the number of distinct keys (hashes) put since the map was
// made or cleared.
func (m *OffsetMap) Len() int { return m.size }

// Full reports whether the map holds as many keys as cleaning lets it
// (LoadFactor of its slots): AddBatch then fits no more keyed records.
func (m *OffsetMap) Full() bool { return m.size >= m.capacity }

// LatestOffset returns the offset of the last record put, or the last
// offset of the last batch AddBatch went through, or what UpdateLatestOffset
// set, whichever came last; -1 when the map is empty. Filter keeps every
// record past it: the map says nothing about them.
func (m *OffsetMap) LatestOffset() int64 { return m.latest }

// UpdateLatestOffset sets LatestOffset, as Kafka's updateLatestOffset does.
// Kafka calls it after mapping each dirty segment in full with the offset
// just before the next segment (or before the first uncleanable offset, for
// the last), so that the map covers the offsets that earlier cleanings left
// without records at a segment's end. A caller that maps the whole dirty
// section should do likewise once, with the first uncleanable offset minus
// one, and not after AddBatch reported a batch that did not fit.
func (m *OffsetMap) UpdateLatestOffset(offset int64) { m.latest = offset }

// Clear empties the map for another cleaning, keeping its memory.
func (m *OffsetMap) Clear() {
	if m.size > 0 {
		clear(m.entries)
	}
	m.size = 0
	m.latest = -1
}

// AddBatch puts the key of every keyed record of the one batch that is b
// into m, as Kafka's buildOffsetMap does while it reads the dirty section
// in offset order, and reports whether the whole batch fit.
//
// tx follows the transactions across the batches (one TxnState for the
// whole map, made from the aborted transactions of the dirty section):
// control batches and the batches of aborted transactions put nothing,
// since the cleaning removes the latter and must not let them supersede
// anything. Keyless records put nothing either (Filter removes them).
//
// Every batch moves LatestOffset to its last offset, whatever it put. A
// batch with a keyed record that finds the map Full does not fit: AddBatch
// returns false, having put the keys of the batch's records before it, and
// leaves LatestOffset at the last of them (not the batch's last offset), as
// Kafka does. Kafka then cleans up to LatestOffset+1, in the middle of the
// batch; ending the cleaning before the batch instead, at its base offset,
// is as safe (the keys put from it only supersede older records, and the
// batch itself is not cleaned) and simply leaves it to the next cleaning.
// But it makes no progress when the first dirty batch itself does not fit
// (it holds more distinct keys than the map, which only a tiny
// log.cleaner.dedupe.buffer.size allows): Kafka's way, cleaning up to
// LatestOffset()+1 with that batch filtered too, always progresses, and
// Filter supports it (it keeps the records past LatestOffset).
//
// Kafka starts its map at the first dirty offset even inside a batch; here
// every record of b is mapped. Records before the first dirty offset can
// only supersede records before them, so this costs map space but changes
// nothing a cleaning keeps.
//
// An error (a malformed batch or control record, wrapping batch.ErrShort,
// batch.ErrCorrupt or batch.ErrUnsupportedMagic) leaves m and tx part-way
// through the batch: abandon the cleaning.
func (m *OffsetMap) AddBatch(b []byte, tx *TxnState) (fit bool, err error) {
	if tx == nil {
		return false, fmt.Errorf("%w: AddBatch with a nil TxnState", ErrOptions)
	}
	h, err := parseBatch(b)
	if err != nil {
		return false, err
	}
	if h.Control() {
		if _, _, err := tx.onControlBatch(&h, b); err != nil {
			return false, err
		}
	} else if !tx.onDataBatch(&h) {
		var perr error
		full := false
		err := batch.ForEachRecord(b, func(r batch.Record) bool {
			if r.Key == nil {
				return true
			}
			if m.size >= m.capacity {
				full = true
				return false
			}
			perr = m.put(r.Key, h.BaseOffset+int64(r.OffsetDelta))
			return perr == nil
		})
		if err != nil {
			return false, fmt.Errorf("cleaner: mapping the batch at offset %d: %w", h.BaseOffset, err)
		}
		if perr != nil {
			return false, perr
		}
		if full {
			return false, nil
		}
	}
	m.latest = h.LastOffset()
	return true, nil
}
