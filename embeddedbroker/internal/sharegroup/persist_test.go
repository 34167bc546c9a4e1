package sharegroup

import (
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestShareRecordRoundTrip(t *testing.T) {
	key := ShareKey{GroupID: "grp", TopicID: tid(7), Partition: 3}
	for _, r := range []ShareRecord{
		{Kind: ShareSnapshot, Key: key, SnapshotEpoch: 2, LeaderEpoch: 5, State: PartitionState{StateEpoch: 1, StartOffset: 100, Batches: []StateBatch{{100, 104, Available, 2}, {105, 1 << 40, Archived, 5}}}},
		{Kind: ShareUpdate, Key: key, SnapshotEpoch: 2, LeaderEpoch: -1, State: PartitionState{StartOffset: -1}},
		{Kind: ShareSnapshot, Key: key, Tombstone: true},
	} {
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got ShareRecord
		if err := got.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip of %+v: %+v %v", r, got, err)
		}
		for n := range len(b) {
			if err := new(ShareRecord).UnmarshalBinary(b[:n]); !errors.Is(err, ErrBadShareRecord) {
				t.Fatalf("truncated at %d: %v", n, err)
			}
		}
		if err := new(ShareRecord).UnmarshalBinary(append(b, 0)); !errors.Is(err, ErrBadShareRecord) {
			t.Fatalf("trailing byte: %v", err)
		}
	}
}

func TestDeltaApply(t *testing.T) {
	old := PartitionState{StateEpoch: 1, StartOffset: 10, Batches: []StateBatch{{10, 19, Available, 1}, {20, 24, Acknowledged, 1}}}
	cur := PartitionState{StateEpoch: 1, StartOffset: 12, Batches: []StateBatch{{12, 14, Available, 2}, {15, 19, Available, 1}, {20, 24, Acknowledged, 1}, {25, 30, Available, 1}}}
	d, ok := Delta(old, cur)
	want := PartitionState{StateEpoch: 1, StartOffset: 12, Batches: []StateBatch{{12, 14, Available, 2}, {25, 30, Available, 1}}}
	if !ok || !d.Equal(want) {
		t.Fatalf("delta %+v %v", d, ok)
	}
	if got := old.Apply(ShareRecord{Kind: ShareUpdate, State: d}); !got.Equal(cur) {
		t.Fatalf("apply: %+v", got)
	}
	if _, ok := Delta(old, PartitionState{StateEpoch: 2, StartOffset: 0}); ok {
		t.Fatal("delta across state epochs")
	}
	if _, ok := Delta(cur, PartitionState{StateEpoch: 1, StartOffset: 12}); ok {
		t.Fatal("delta that drops records")
	}
}

func TestStateStore(t *testing.T) {
	var st StateStore
	st.UpdatesPerSnapshot = 2
	key := ShareKey{GroupID: "g", TopicID: tid(1)}
	write := func(leader int32, s PartitionState) (ShareRecord, error) {
		r, err := st.Write(key, leader, s)
		if err == nil {
			if err := st.Replay(r); err != nil {
				t.Fatal(err)
			}
		}
		return r, err
	}
	s := PartitionState{StartOffset: 0, Batches: []StateBatch{{0, 4, Available, 1}}}
	var log []ShareRecord
	for i := range 5 {
		s.Batches[0].DeliveryCount = int16(i + 1)
		r, err := write(1, s)
		if err != nil {
			t.Fatal(err)
		}
		if wantSnap := i%3 == 0; (r.Kind == ShareSnapshot) != wantSnap {
			t.Fatalf("write %d: kind %d", i, r.Kind)
		}
		log = append(log, r)
	}
	if got, _ := st.Read(key, 1); !got.Equal(s) {
		t.Fatalf("read %+v", got)
	}
	var again StateStore
	for _, r := range log {
		if err := again.Replay(r); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := again.Read(key, 1); !got.Equal(s) {
		t.Fatalf("replayed %+v", got)
	}
	if _, err := write(0, s); !errors.Is(err, kerr.FencedLeaderEpoch) {
		t.Fatal(err)
	}
	if _, err := st.Read(key, 0); !errors.Is(err, kerr.FencedLeaderEpoch) {
		t.Fatal(err)
	}
	s.StateEpoch = -1
	if _, err := write(2, s); !errors.Is(err, kerr.FencedStateEpoch) {
		t.Fatal(err)
	}
	if err := st.Replay(st.Delete(key)); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Read(key, 0); got.StartOffset != -1 {
		t.Fatal(got)
	}
}
