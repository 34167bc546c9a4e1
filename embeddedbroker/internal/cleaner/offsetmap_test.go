package cleaner

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
)

func TestNewOffsetMapCapacity(t *testing.T) {
	for _, tc := range []struct {
		memory, slots, capacity int
	}{
		{memory: 0, slots: 2, capacity: 1},        // Kafka refuses; here the least useful map
		{memory: 47, slots: 2, capacity: 1},       // one slot's worth rounds up to two
		{memory: 24 * 10, slots: 10, capacity: 9}, // 24 bytes an entry: 16 of MD5, 8 of offset
		{memory: 24*10 + 23, slots: 10, capacity: 9},
		{memory: 24 * 11, slots: 11, capacity: 9}, // 9.9 truncated, as Kafka's toInt
		// log.cleaner.dedupe.buffer.size's default, one thread.
		{memory: 128 << 20, slots: 5592405, capacity: 5033164},
	} {
		t.Run(fmt.Sprint(tc.memory), func(t *testing.T) {
			m := NewOffsetMap(tc.memory)
			if len(m.entries) != tc.slots || m.capacity != tc.capacity {
				t.Fatalf("slots %d capacity %d, want %d %d", len(m.entries), m.capacity, tc.slots, tc.capacity)
			}
			if m.Len() != 0 || m.Full() || m.LatestOffset() != -1 {
				t.Fatalf("new map: len %d full %v latest %d", m.Len(), m.Full(), m.LatestOffset())
			}
		})
	}
}

func TestOffsetMapPutGet(t *testing.T) {
	type step struct {
		put    string
		offset int64
	}
	for _, tc := range []struct {
		name    string
		memory  int
		puts    []step
		want    map[string]int64 // absent: not found
		len     int
		latest  int64
		full    bool
		missing []string
	}{
		{name: "empty", memory: 24 * 100, latest: -1, missing: []string{"a", ""}},
		{
			name: "distinct keys", memory: 24 * 100,
			puts: []step{{"a", 0}, {"b", 1}, {"c", 2}},
			want: map[string]int64{"a": 0, "b": 1, "c": 2}, len: 3, latest: 2, missing: []string{"d"},
		},
		{
			name: "later offset wins and size stays", memory: 24 * 100,
			puts: []step{{"a", 0}, {"b", 1}, {"a", 7}},
			want: map[string]int64{"a": 7, "b": 1}, len: 2, latest: 7,
		},
		{
			name: "empty key is a key", memory: 24 * 100,
			puts: []step{{"", 4}},
			want: map[string]int64{"": 4}, len: 1, latest: 4,
		},
		{
			// Every slot but one taken: probing (hash words, then
			// linear) must still find each key and the free slot.
			name: "nearly full table", memory: 24 * 8,
			puts: []step{{"k0", 0}, {"k1", 1}, {"k2", 2}, {"k3", 3}, {"k4", 4}, {"k5", 5}, {"k6", 6}},
			want: map[string]int64{"k0": 0, "k1": 1, "k2": 2, "k3": 3, "k4": 4, "k5": 5, "k6": 6},
			len:  7, latest: 6, full: true, missing: []string{"k7", "k8", "zz"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewOffsetMap(tc.memory)
			for _, p := range tc.puts {
				if err := m.put([]byte(p.put), p.offset); err != nil {
					t.Fatal(err)
				}
			}
			for k, off := range tc.want {
				if got, ok := m.Get([]byte(k)); !ok || got != off {
					t.Errorf("Get(%q) = %d, %v, want %d", k, got, ok, off)
				}
			}
			for _, k := range tc.missing {
				if got, ok := m.Get([]byte(k)); ok || got != -1 {
					t.Errorf("Get(%q) = %d, %v, want -1, false", k, got, ok)
				}
			}
			if m.Len() != tc.len || m.LatestOffset() != tc.latest || m.Full() != tc.full {
				t.Errorf("len %d latest %d full %v, want %d %d %v", m.Len(), m.LatestOffset(), m.Full(), tc.len, tc.latest, tc.full)
			}
			m.Clear()
			if m.Len() != 0 || m.LatestOffset() != -1 || m.Full() {
				t.Errorf("after Clear: len %d latest %d full %v", m.Len(), m.LatestOffset(), m.Full())
			}
			for k := range tc.want {
				if _, ok := m.Get([]byte(k)); ok {
					t.Errorf("after Clear, %q still found", k)
				}
			}
		})
	}
}

func TestOffsetMapPutFullTable(t *testing.T) {
	m := NewOffsetMap(24 * 2)
	for i := range 2 {
		if err := m.put(fmt.Appendf(nil, "k%d", i), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Kafka throws here even for a key already present; AddBatch never
	// gets this far (it stops at the load factor).
	if err := m.put([]byte("k0"), 9); err == nil {
		t.Fatal("put into a full table succeeded")
	}
	if got, ok := m.Get([]byte("zz")); ok || got != -1 {
		t.Fatalf("Get on a full table without the key: %d, %v", got, ok)
	}
}

// TestOffsetMapSlot checks the probe sequence against Kafka's positionOf.
func TestOffsetMapSlot(t *testing.T) {
	m := NewOffsetMap(24 * 1000)
	h := [16]byte{0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 7, 0x7f, 0xff, 0xff, 0xff}
	for _, tc := range []struct{ attempt, slot int }{
		{0, 0},      // 0x80000000, Integer.MIN_VALUE: Utils.abs gives 0
		{1, 255},    // 0x000000ff
		{2, 535},    // 0x0000ffff % 1000
		{4, 2},      // 0xfffffffe, -2
		{8, 7},      // 0x00000007
		{12, 647},   // 0x7fffffff % 1000: the last word of the hash
		{13, 0},     // then linear: 0x7fffffff+1 wraps to MIN_VALUE
		{14, 647},   // MIN_VALUE+1: abs is 0x7fffffff
		{1012, 649}, // 0x7fffffff+1000 wraps to -2147482649
	} {
		if got := m.slot(&h, tc.attempt); got != tc.slot {
			t.Errorf("attempt %d: slot %d, want %d", tc.attempt, got, tc.slot)
		}
	}
}

// TestOffsetMapHashCollision shows the cost of storing hashes instead of keys,
// with a classic MD5 collision (Wang et al., 2004): two different keys are
// one to the map, so the older one's records would be cleaned away as if
// superseded. Kafka behaves the same; keys that are not crafted to collide
// practically never do (see OffsetMap).
func TestOffsetMapHashCollision(t *testing.T) {
	k1, _ := hex.DecodeString("d131dd02c5e6eec4693d9a0698aff95c2fcab58712467eab4004583eb8fb7f8955ad340609f4b30283e488832571415a085125e8f7cdc99fd91dbdf280373c5bd8823e3156348f5bae6dacd436c919c6dd53e2b487da03fd02396306d248cda0e99f33420f577ee8ce54b67080a80d1ec69821bcb6a8839396f9652b6ff72a70")
	k2, _ := hex.DecodeString("d131dd02c5e6eec4693d9a0698aff95c2fcab50712467eab4004583eb8fb7f8955ad340609f4b30283e4888325f1415a085125e8f7cdc99fd91dbd7280373c5bd8823e3156348f5bae6dacd436c919c6dd53e23487da03fd02396306d248cda0e99f33420f577ee8ce54b67080280d1ec69821bcb6a8839396f965ab6ff72a70")
	if string(k1) == string(k2) || md5.Sum(k1) != md5.Sum(k2) {
		t.Fatal("not an MD5 collision")
	}
	b0 := plain(0, batch.Record{Key: k1, Value: []byte("v1")})
	b1 := plain(1, batch.Record{Key: k2, Value: []byte("v2")})
	m := mapOf(t, 1<<10, nil, b0, b1)
	if m.Len() != 1 {
		t.Fatalf("Len %d, want 1: the keys share a hash", m.Len())
	}
	if off, _ := m.Get(k1); off != 1 {
		t.Fatalf("Get(k1) = %d, want 1 (k2's offset)", off)
	}
	res, err := Filter(b0, FilterOptions{Map: m, Txn: NewTxnState(nil)})
	if err != nil || res.Batch != nil {
		t.Fatalf("k1's only record: kept %v (err %v); the collision removes it", res.Batch != nil, err)
	}
}

func TestAddBatch(t *testing.T) {
	pid := int64(9)
	for _, tc := range []struct {
		name    string
		memory  int
		aborted []AbortedTxn
		batches [][]byte
		fits    []bool
		want    map[string]int64
		missing []string
		latest  int64
	}{
		{
			name:    "keyed records, later offsets win",
			memory:  1 << 10,
			batches: [][]byte{plain(0, r("a", "1"), r("b", "1")), plain(2, r("a", "2"), tomb("c"))},
			fits:    []bool{true, true},
			want:    map[string]int64{"a": 2, "b": 1, "c": 3},
			latest:  3,
		},
		{
			name:    "keyless records put nothing",
			memory:  1 << 10,
			batches: [][]byte{plain(5, keyless("x"), r("a", "1"), keyless("y"))},
			fits:    []bool{true},
			want:    map[string]int64{"a": 6},
			latest:  7, // the batch's last offset
		},
		{
			name:    "compressed batch",
			memory:  1 << 10,
			batches: [][]byte{mk(0, batch.BuildOptions{Codec: batch.CodecZstd}, r("a", "1"), r("b", "2"), r("a", "3"))},
			fits:    []bool{true},
			want:    map[string]int64{"a": 2, "b": 1},
			latest:  2,
		},
		{
			name:    "aborted transaction and markers put nothing, but move the latest offset",
			memory:  1 << 10,
			aborted: []AbortedTxn{{ProducerID: pid, FirstOffset: 1, LastOffset: 3}},
			batches: [][]byte{
				plain(0, r("a", "1")),
				txnData(1, pid, 0, r("a", "aborted"), r("z", "aborted")),
				marker(3, pid, false),
				txnData(4, pid, 2, r("b", "committed")),
				marker(5, pid, true),
			},
			fits:    []bool{true, true, true, true, true},
			want:    map[string]int64{"a": 0, "b": 4},
			missing: []string{"z"},
			latest:  5,
		},
		{
			name:    "the first batch that does not fit stops the map part-way",
			memory:  24 * 4, // 4 slots, 3 keys
			batches: [][]byte{plain(0, r("a", "1"), r("b", "1")), plain(2, r("a", "2"), r("c", "1"), r("d", "1"), r("e", "1"))},
			fits:    []bool{true, false},
			// As Kafka: a and c were put before the map filled, and
			// the latest offset is c's, not the batch's last.
			want:    map[string]int64{"a": 2, "b": 1, "c": 3},
			missing: []string{"d", "e"},
			latest:  3,
		},
		{
			name:    "a full map still takes batches without keys",
			memory:  24 * 2, // 1 key
			batches: [][]byte{plain(0, r("a", "1")), plain(1, keyless("x")), marker(2, pid, true), plain(3, r("a", "2"))},
			fits:    []bool{true, true, true, false},
			want:    map[string]int64{"a": 0},
			latest:  2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewOffsetMap(tc.memory)
			tx := NewTxnState(tc.aborted)
			for i, b := range tc.batches {
				fit, err := m.AddBatch(b, tx)
				if err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				if fit != tc.fits[i] {
					t.Fatalf("batch %d: fit %v, want %v", i, fit, tc.fits[i])
				}
				if !fit {
					break
				}
			}
			for k, off := range tc.want {
				if got, ok := m.Get([]byte(k)); !ok || got != off {
					t.Errorf("Get(%q) = %d, %v, want %d", k, got, ok, off)
				}
			}
			for _, k := range tc.missing {
				if _, ok := m.Get([]byte(k)); ok {
					t.Errorf("%q is in the map", k)
				}
			}
			if m.Len() != len(tc.want) || m.LatestOffset() != tc.latest {
				t.Errorf("len %d latest %d, want %d %d", m.Len(), m.LatestOffset(), len(tc.want), tc.latest)
			}
		})
	}
}

func TestAddBatchErrors(t *testing.T) {
	good := plain(0, r("a", "1"))
	badKey := mk(0, batch.BuildOptions{Control: true, Transactional: true, Producer: &batch.Producer{ID: 1, BaseSequence: -1}},
		batch.Record{Key: []byte{0, 0}, Value: []byte{0, 0, 0, 0, 0, 0}})
	negVersion := mk(0, batch.BuildOptions{Control: true, Transactional: true, Producer: &batch.Producer{ID: 1, BaseSequence: -1}},
		batch.Record{Key: []byte{0xff, 0xff, 0, 0}, Value: []byte{0, 0, 0, 0, 0, 0}})
	legacy := append([]byte(nil), good...)
	legacy[16] = 1
	for _, tc := range []struct {
		name string
		b    []byte
		tx   *TxnState
		want error
	}{
		{"nil TxnState", good, nil, ErrOptions},
		{"truncated", good[:len(good)-1], NewTxnState(nil), batch.ErrShort},
		{"trailing bytes", append(append([]byte(nil), good...), 0), NewTxnState(nil), batch.ErrCorrupt},
		{"magic 1", legacy, NewTxnState(nil), batch.ErrUnsupportedMagic},
		{"short control key", badKey, NewTxnState(nil), batch.ErrCorrupt},
		{"negative control key version", negVersion, NewTxnState(nil), batch.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewOffsetMap(1<<10).AddBatch(tc.b, tc.tx)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if _, err := Filter(tc.b, FilterOptions{Txn: tc.tx}); !errors.Is(err, tc.want) {
				t.Fatalf("Filter: err %v, want %v", err, tc.want)
			}
		})
	}
}
