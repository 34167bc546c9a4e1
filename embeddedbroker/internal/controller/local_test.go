package controller

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newLocal starts a controller on dir ("" in memory) with brokers 0..n-1.
func newLocal(t testing.TB, dir string, n int, mod func(*LocalConfig)) *Local {
	t.Helper()
	cfg := LocalConfig{Dir: dir}
	if mod != nil {
		mod(&cfg)
	}
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.RegisterBroker(context.Background(), Broker{ID: int32(i), Host: "127.0.0.1", Port: int32(9000 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// state is what must survive a restart: everything but the brokers.
type state struct {
	ClusterID      string
	NextProducerID int64
	Topics         map[string]topicState
}

type topicState struct {
	ID         TopicID
	Internal   bool
	Configs    map[string]string
	Partitions []Partition
}

func stateOf(im *Image) state {
	s := state{ClusterID: im.ClusterID, NextProducerID: im.NextProducerID, Topics: map[string]topicState{}}
	for t := range im.Topics() {
		ts := topicState{ID: t.ID, Internal: t.Internal, Configs: t.Configs}
		for _, p := range t.Partitions() {
			ts.Partitions = append(ts.Partitions, p)
		}
		s.Topics[t.Name] = ts
	}
	return s
}

// someChanges makes one of every kind of change.
func someChanges(t testing.TB, l *Local) {
	t.Helper()
	ctx := context.Background()
	for _, spec := range []TopicSpec{
		{Name: "a", Partitions: 3, ReplicationFactor: 3},
		{Name: "b", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}},
		{Name: "gone", Partitions: 2, ReplicationFactor: 2},
		{Name: "__internal", Partitions: 2, ReplicationFactor: 3, Internal: true},
	} {
		if _, err := l.CreateTopic(ctx, spec, false); err != nil {
			t.Fatal(err)
		}
	}
	must2(t, l.CreatePartitions(ctx, "a", 5, nil, false))
	must2(t, l.AlterTopicConfigs(ctx, "a", map[string]string{"segment.bytes": "100000"}, false))
	must2(t, l.DeleteTopic(ctx, "gone"))
	if _, err := l.AllocateProducerIDs(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	must2(t, l.SetBrokerFenced(ctx, 2, true))
	img := l.Image()
	_, st, _ := img.Partition("a", 0)
	ta, _ := img.Topic("a")
	if errs, err := l.AlterPartitions(ctx, st.Leader, []ISRChange{{Topic: ta.ID, Partition: 0, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.Epoch, ISR: []int32{st.Leader}}}); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
}

func must2(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMetadataSurvivesRestart(t *testing.T) {
	for _, clean := range []bool{true, false} {
		dir := t.TempDir()
		l := newLocal(t, dir, 3, nil)
		someChanges(t, l)
		want := stateOf(l.Image())
		if clean {
			must2(t, l.Close())
		} // else: as a process crash, nothing more is written
		r := newLocal(t, dir, 0, nil)
		if got := stateOf(r.Image()); !reflect.DeepEqual(got, want) {
			t.Fatalf("clean=%v: after restart\n%+v\nwant\n%+v", clean, got, want)
		}
		if r.Image().Version < l.Image().Version {
			t.Fatalf("version went back from %d to %d", l.Image().Version, r.Image().Version)
		}
		// Changes continue after the restart and survive another.
		if _, err := r.CreateTopic(context.Background(), TopicSpec{Name: "later", Partitions: 1, ReplicationFactor: 1}, false); !errors.Is(err, ErrInvalidReplication) {
			t.Fatalf("no broker registered yet: %v", err)
		}
		must2(t, r.RegisterBroker(context.Background(), Broker{ID: 0, Host: "h", Port: 1}))
		if _, err := r.CreateTopic(context.Background(), TopicSpec{Name: "later", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
			t.Fatal(err)
		}
		want = stateOf(r.Image())
		must2(t, r.Close())
		r2 := newLocal(t, dir, 0, nil)
		if got := stateOf(r2.Image()); !reflect.DeepEqual(got, want) {
			t.Fatalf("second restart: %+v, want %+v", got, want)
		}
		r2.Close()
	}
}

func TestTornMetadataFrameIsCut(t *testing.T) {
	dir := t.TempDir()
	l := newLocal(t, dir, 3, nil)
	someChanges(t, l)
	want := stateOf(l.Image())
	// A crash in the middle of the next append: half a frame.
	logs, _, err := l.journal.list()
	if err != nil || len(logs) == 0 {
		t.Fatal(logs, err)
	}
	f, err := os.OpenFile(l.journal.logPath(logs[len(logs)-1]), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 1, 0, 1, 2, 3, 4, '{', '"'})
	f.Close()
	r := newLocal(t, dir, 0, nil)
	if got := stateOf(r.Image()); !reflect.DeepEqual(got, want) {
		t.Fatalf("after torn frame: %+v", got)
	}
	// And the log appends cleanly after the cut.
	must2(t, r.RegisterBroker(context.Background(), Broker{ID: 0}))
	if _, err := r.CreateTopic(context.Background(), TopicSpec{Name: "after", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	want = stateOf(r.Image())
	r2 := newLocal(t, dir, 0, nil)
	if got := stateOf(r2.Image()); !reflect.DeepEqual(got, want) {
		t.Fatalf("after append past the cut: %+v", got)
	}
}

func TestCheckpointsReplaceTheLog(t *testing.T) {
	dir := t.TempDir()
	l := newLocal(t, dir, 3, func(c *LocalConfig) { c.SnapshotBytes = 2000 })
	ctx := context.Background()
	for i := range 40 {
		if _, err := l.CreateTopic(ctx, TopicSpec{Name: "t" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Partitions: 4, ReplicationFactor: 3}, false); err != nil {
			t.Fatal(err)
		}
	}
	want := stateOf(l.Image())
	l.journal.snapWG.Wait()
	logs, ckpts, err := l.journal.list()
	if err != nil {
		t.Fatal(err)
	}
	if len(ckpts) == 0 || len(logs) > 2 {
		t.Fatalf("%d checkpoints, %d log files: the log is not replaced by checkpoints", len(ckpts), len(logs))
	}
	// A restart without Close reads a checkpoint and the tail after it.
	r := newLocal(t, dir, 0, func(c *LocalConfig) { c.SnapshotBytes = 2000 })
	if got := stateOf(r.Image()); !reflect.DeepEqual(got, want) {
		t.Fatal("state differs after a restart from a checkpoint")
	}
	must2(t, r.Close())
	_, ckpts, _ = r.journal.list()
	if len(ckpts) != 1 {
		t.Fatalf("%d checkpoints after a clean close, want the final one only", len(ckpts))
	}
}

func TestUnreadableCheckpointIsAnError(t *testing.T) {
	dir := t.TempDir()
	l := newLocal(t, dir, 3, nil)
	someChanges(t, l)
	must2(t, l.Close())
	_, ckpts, _ := l.journal.list()
	if err := os.WriteFile(l.journal.ckptPath(ckpts[len(ckpts)-1]), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewLocal(LocalConfig{Dir: dir}); !errors.Is(err, ErrCorruptMetadata) {
		t.Fatalf("corrupt checkpoint: %v", err)
	}
}

func TestLegacyMetadataIsMigrated(t *testing.T) {
	dir := t.TempDir()
	legacy := `{"cluster_id":"legacy-id","next_producer_id":42,"topics":[{"Name":"old","ID":"AAAAAAAAAAAAAAAAAAAAAQ","Internal":false,"Configs":{"retention.ms":"5"},"Partitions":[{"Replicas":[0,1],"ISR":[0,1],"Leader":0,"LeaderEpoch":3,"Epoch":7}]}]}`
	if err := os.WriteFile(filepath.Join(dir, legacyFile), []byte(legacy), 0o644); err != nil {
		t.Fatal(err)
	}
	l := newLocal(t, dir, 0, nil)
	img := l.Image()
	_, st, ok := img.Partition("old", 0)
	if img.ClusterID != "legacy-id" || img.NextProducerID != 42 || !ok || st.LeaderEpoch != 3 || st.Epoch != 7 {
		t.Fatalf("migrated: %+v %+v", img, st)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyFile)); !os.IsNotExist(err) {
		t.Fatalf("legacy file still there: %v", err)
	}
	must2(t, l.Close())
	r := newLocal(t, dir, 0, nil)
	if _, ok := r.Image().Topic("old"); !ok || r.Image().ClusterID != "legacy-id" {
		t.Fatal("migrated metadata lost on the next start")
	}
}

// TestHeartbeatsDoNotWaitForChanges holds a change in the middle of its
// publication (a subscriber that blocks) and checks that heartbeats are
// answered meanwhile: a slow change never fences a live broker.
func TestHeartbeatsDoNotWaitForChanges(t *testing.T) {
	l := newLocal(t, "", 3, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	var blocking atomic.Bool
	l.Subscribe(func(*Image, *Delta) {
		if blocking.Load() {
			entered <- struct{}{}
			<-release
		}
	})
	blocking.Store(true)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := l.CreateTopic(context.Background(), TopicSpec{Name: "slow", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
			t.Error(err)
		}
	}()
	<-entered
	blocking.Store(false)
	done := make(chan error, 1)
	go func() { done <- l.Heartbeat(context.Background(), 1) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("heartbeat waited for a change in progress")
	}
	close(release)
	wg.Wait()
}

func TestLivenessFencesSilentBrokers(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	l := newLocal(t, "", 3, func(c *LocalConfig) { c.Now = clock; c.SessionTimeout = time.Second })
	if _, err := l.CreateTopic(context.Background(), TopicSpec{Name: "t", Partitions: 3, ReplicationFactor: 3}, false); err != nil {
		t.Fatal(err)
	}
	now.Add(int64(800 * time.Millisecond))
	must2(t, l.Heartbeat(context.Background(), 0))
	must2(t, l.Heartbeat(context.Background(), 1))
	now.Add(int64(800 * time.Millisecond)) // broker 2 silent for 1.6 s
	l.checkLiveness()
	img := l.Image()
	if b, _ := img.Broker(2); !b.Fenced {
		t.Fatal("silent broker 2 not fenced")
	}
	if b, _ := img.Broker(0); b.Fenced {
		t.Fatal("live broker 0 fenced")
	}
	for _, p := range []int32{0, 1, 2} {
		if _, st, _ := img.Partition("t", p); st.Leader == 2 {
			t.Fatalf("t-%d still led by the fenced broker", p)
		}
	}
	// Its next heartbeat unfences it.
	must2(t, l.Heartbeat(context.Background(), 2))
	if b, _ := l.Image().Broker(2); b.Fenced {
		t.Fatal("heartbeating broker 2 still fenced")
	}
}

func TestSecondCreateOfCollidingName(t *testing.T) {
	l := newLocal(t, "", 1, nil)
	ctx := context.Background()
	if _, err := l.CreateTopic(ctx, TopicSpec{Name: "orders.v1", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	_, err := l.CreateTopic(ctx, TopicSpec{Name: "orders_v1", Partitions: 1, ReplicationFactor: 1}, false)
	if !errors.Is(err, ErrInvalidTopic) {
		t.Fatalf("colliding name: %v", err)
	}
}
