package embeddedbroker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// sessionFetch is a consumer fetch (v12, by topic name) in session id at
// epoch, naming parts (partition -> fetch offset) of topic and forgetting
// forget. MaxWait is one minute and the raw connection's deadline 20 s: a
// fetch that parks when it should answer fails the test.
func sessionFetch(id, epoch int32, topic string, parts map[int32]int64, forget []int32, maxWait int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID = -1
	req.MaxWaitMillis = maxWait
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionID, req.SessionEpoch = id, epoch
	if len(parts) > 0 {
		t := kmsg.NewFetchRequestTopic()
		t.Topic = topic
		for p, off := range parts {
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = p, off, 1<<20
			t.Partitions = append(t.Partitions, fp)
		}
		req.Topics = append(req.Topics, t)
	}
	if len(forget) > 0 {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.Partitions = topic, forget
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	return req
}

// answered returns the partitions of a fetch answer, by partition, with
// their record bytes.
func answered(t *testing.T, resp *kmsg.FetchResponse) map[int32]kmsg.FetchResponseTopicPartition {
	t.Helper()
	out := map[int32]kmsg.FetchResponseTopicPartition{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out[rp.Partition] = rp
		}
	}
	return out
}

// produceTo writes one record to topic/partition and waits for its ack.
func produceTo(t *testing.T, c *embeddedbroker.Cluster, topic string, partition int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: partition, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestFetchSessionIncremental walks a consumer's fetch session (KIP-227)
// over a real socket: a full fetch opens it; an idle incremental fetch
// names no partition and is answered with none; a write makes the next one
// answer that partition alone; a partition whose position moved but which
// has nothing new is not answered; forgotten partitions are not answered;
// forgetting the last one ends the session; and a full fetch naming the
// session closes it.
func TestFetchSessionIncremental(t *testing.T) {
	const topic = "sessions"
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(4, topic))
	rc := dialRaw(t, c.Addrs()[0])

	full := rc.do(sessionFetch(0, 0, topic, map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0}, nil, 100)).(*kmsg.FetchResponse)
	if full.ErrorCode != 0 || full.SessionID == 0 {
		t.Fatalf("full fetch: error %v, session %d; want a session", kerr.ErrorForCode(full.ErrorCode), full.SessionID)
	}
	if got := answered(t, full); len(got) != 4 {
		t.Fatalf("full fetch answered %d partitions, want 4", len(got))
	}
	id := full.SessionID

	// Idle: nothing named, nothing answered (after the wait).
	idle := rc.do(sessionFetch(id, 1, topic, nil, nil, 100)).(*kmsg.FetchResponse)
	if idle.ErrorCode != 0 || idle.SessionID != id || len(idle.Topics) != 0 {
		t.Fatalf("idle incremental fetch: error %v, session %d, %d topics; want session %d and no topics", kerr.ErrorForCode(idle.ErrorCode), idle.SessionID, len(idle.Topics), id)
	}

	// A write to partition 2 is answered, alone, without being named;
	// and the long poll ends on it (MaxWait is a minute).
	done := make(chan *kmsg.FetchResponse, 1)
	go func() { done <- rc.do(sessionFetch(id, 2, topic, nil, nil, 60_000)).(*kmsg.FetchResponse) }()
	produceTo(t, c, topic, 2)
	resp := <-done
	got := answered(t, resp)
	if resp.ErrorCode != 0 || len(got) != 1 || len(got[2].RecordBatches) == 0 || got[2].HighWatermark != 1 {
		t.Fatalf("after a write to partition 2: error %v, partitions %v; want partition 2 alone, with records and high watermark 1", kerr.ErrorForCode(resp.ErrorCode), keys(got))
	}

	// The consumer moves on in partition 2: nothing new there.
	resp = rc.do(sessionFetch(id, 3, topic, map[int32]int64{2: 1}, nil, 100)).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Fatalf("after moving on: error %v, partitions %v; want none", kerr.ErrorForCode(resp.ErrorCode), keys(answered(t, resp)))
	}

	// Forget 0 and 1; a write to 0 is then not answered, one to 3 is.
	resp = rc.do(sessionFetch(id, 4, topic, nil, []int32{0, 1}, 0)).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || resp.SessionID != id || len(resp.Topics) != 0 {
		t.Fatalf("forgetting: error %v, session %d, partitions %v", kerr.ErrorForCode(resp.ErrorCode), resp.SessionID, keys(answered(t, resp)))
	}
	produceTo(t, c, topic, 0)
	produceTo(t, c, topic, 3)
	resp = rc.do(sessionFetch(id, 5, topic, nil, nil, 60_000)).(*kmsg.FetchResponse)
	if got := answered(t, resp); resp.ErrorCode != 0 || len(got) != 1 || len(got[3].RecordBatches) == 0 {
		t.Fatalf("after writes to 0 (forgotten) and 3: error %v, partitions %v; want 3 alone", kerr.ErrorForCode(resp.ErrorCode), keys(got))
	}

	// The session is the node's, not the connection's.
	other := dialRaw(t, c.Addrs()[0])
	resp = other.do(sessionFetch(id, 6, topic, map[int32]int64{3: 1}, nil, 0)).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || resp.SessionID != id {
		t.Fatalf("the session from another connection: error %v, session %d", kerr.ErrorForCode(resp.ErrorCode), resp.SessionID)
	}

	// Forgetting the last partitions ends the session: the answer has
	// no session, and the id is gone.
	resp = rc.do(sessionFetch(id, 7, topic, nil, []int32{2, 3}, 60_000)).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics) != 0 {
		t.Fatalf("forgetting all: error %v, session %d, %d topics; want no session, at once", kerr.ErrorForCode(resp.ErrorCode), resp.SessionID, len(resp.Topics))
	}
	resp = rc.do(sessionFetch(id, 8, topic, nil, nil, 0)).(*kmsg.FetchResponse)
	if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("the ended session: error %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(resp.ErrorCode))
	}

	// A full fetch naming a session closes it and opens another.
	first := rc.do(sessionFetch(0, 0, topic, map[int32]int64{0: 0}, nil, 0)).(*kmsg.FetchResponse)
	second := rc.do(sessionFetch(first.SessionID, 0, topic, map[int32]int64{0: 0}, nil, 0)).(*kmsg.FetchResponse)
	if first.SessionID == 0 || second.SessionID == 0 || second.SessionID == first.SessionID {
		t.Fatalf("sessions %d then %d; want two different sessions", first.SessionID, second.SessionID)
	}
	resp = rc.do(sessionFetch(first.SessionID, 1, topic, nil, nil, 0)).(*kmsg.FetchResponse)
	if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("the closed session: error %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(resp.ErrorCode))
	}

	// Epoch -1 fetches without a session, and closes the one named.
	resp = rc.do(sessionFetch(second.SessionID, -1, topic, map[int32]int64{0: 0}, nil, 0)).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || resp.SessionID != 0 || len(answered(t, resp)) != 1 {
		t.Fatalf("final epoch: error %v, session %d; want an answer without a session", kerr.ErrorForCode(resp.ErrorCode), resp.SessionID)
	}
	resp = rc.do(sessionFetch(second.SessionID, 1, topic, nil, nil, 0)).(*kmsg.FetchResponse)
	if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("the session closed by epoch -1: error %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(resp.ErrorCode))
	}
}

// TestFetchSessionErrors checks Kafka's session errors: an unknown id, an
// epoch other than the expected one (a replayed request), and a version on
// the other side of topic ids from the session's. Each is answered at once,
// with session id 0 and no partitions, and leaves the session usable at
// its expected epoch.
func TestFetchSessionErrors(t *testing.T) {
	const topic = "errors"
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(2, topic))
	rc := dialRaw(t, c.Addrs()[0])
	full := rc.do(sessionFetch(0, 0, topic, map[int32]int64{0: 0, 1: 0}, nil, 0)).(*kmsg.FetchResponse)
	id := full.SessionID
	if id == 0 {
		t.Fatal("no session")
	}
	if r := rc.do(sessionFetch(id, 1, topic, nil, nil, 0)).(*kmsg.FetchResponse); r.ErrorCode != 0 {
		t.Fatalf("epoch 1: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	v13 := sessionFetch(id, 2, topic, nil, nil, 60_000)
	v13.SetVersion(13)
	for _, tc := range []struct {
		name string
		req  *kmsg.FetchRequest
		want int16
	}{
		{"unknown id", sessionFetch(id+1, 1, topic, nil, nil, 60_000), kerr.FetchSessionIDNotFound.Code},
		{"replayed epoch", sessionFetch(id, 1, topic, nil, nil, 60_000), kerr.InvalidFetchSessionEpoch.Code},
		{"future epoch", sessionFetch(id, 3, topic, nil, nil, 60_000), kerr.InvalidFetchSessionEpoch.Code},
		{"topic ids", v13, kerr.FetchSessionTopicIDError.Code},
	} {
		r := rc.do(tc.req).(*kmsg.FetchResponse)
		if r.ErrorCode != tc.want || r.SessionID != 0 || len(r.Topics) != 0 {
			t.Errorf("%s: error %v, session %d, %d topics; want %v, session 0, none", tc.name, kerr.ErrorForCode(r.ErrorCode), r.SessionID, len(r.Topics), kerr.ErrorForCode(tc.want))
		}
	}
	if r := rc.do(sessionFetch(id, 2, topic, nil, nil, 0)).(*kmsg.FetchResponse); r.ErrorCode != 0 || r.SessionID != id {
		t.Fatalf("epoch 2 after the errors: error %v, session %d", kerr.ErrorForCode(r.ErrorCode), r.SessionID)
	}
}

// TestFetchSessionTopicIDs runs a session on fetch v13, where partitions
// are named and forgotten by topic id; a partition of an unknown topic id
// stays in the session and is answered UNKNOWN_TOPIC_ID.
func TestFetchSessionTopicIDs(t *testing.T) {
	const topic = "ids"
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(2, topic))
	rc := dialRaw(t, c.Addrs()[0])
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(12)
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	id := rc.do(meta).(*kmsg.MetadataResponse).Topics[0].TopicID
	unknown := [16]byte{1, 2, 3}

	req := func(session, epoch int32, ids map[[16]byte][]int32, forget []int32) *kmsg.FetchRequest {
		r := kmsg.NewPtrFetchRequest()
		r.SetVersion(13)
		r.ReplicaID, r.MaxWaitMillis, r.MinBytes, r.MaxBytes = -1, 60_000, 1, 1<<20
		r.SessionID, r.SessionEpoch = session, epoch
		for tid, ps := range ids {
			ft := kmsg.NewFetchRequestTopic()
			ft.TopicID = tid
			for _, p := range ps {
				fp := kmsg.NewFetchRequestTopicPartition()
				fp.Partition, fp.PartitionMaxBytes = p, 1<<20
				ft.Partitions = append(ft.Partitions, fp)
			}
			r.Topics = append(r.Topics, ft)
		}
		if len(forget) > 0 {
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.TopicID, ft.Partitions = id, forget
			r.ForgottenTopics = append(r.ForgottenTopics, ft)
		}
		return r
	}
	full := rc.do(req(0, 0, map[[16]byte][]int32{id: {0, 1}, unknown: {0}}, nil)).(*kmsg.FetchResponse)
	if full.SessionID == 0 || len(full.Topics) != 2 {
		t.Fatalf("full fetch: session %d, %d topics; want a session and 2 topics", full.SessionID, len(full.Topics))
	}
	for _, rt := range full.Topics {
		if want := int16(0); rt.TopicID == unknown {
			want = kerr.UnknownTopicID.Code
			if rt.Partitions[0].ErrorCode != want {
				t.Fatalf("unknown topic id: error %v", kerr.ErrorForCode(rt.Partitions[0].ErrorCode))
			}
		}
	}
	// Forget the unknown topic's partition... by its own id: it is the
	// error that made the full fetch answer at once.
	r := req(full.SessionID, 1, nil, []int32{1})
	ft := kmsg.NewFetchRequestForgottenTopic()
	ft.TopicID, ft.Partitions = unknown, []int32{0}
	r.ForgottenTopics = append(r.ForgottenTopics, ft)
	r.MaxWaitMillis = 0
	if resp := rc.do(r).(*kmsg.FetchResponse); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Fatalf("after forgetting: error %v, %d topics; want none", kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics))
	}
	produceTo(t, c, topic, 1) // forgotten
	produceTo(t, c, topic, 0)
	resp := rc.do(req(full.SessionID, 2, nil, nil)).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || resp.Topics[0].TopicID != id || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].Partition != 0 {
		t.Fatalf("after writes to 0 and 1 (forgotten): error %v, %+v; want partition 0 of the topic alone", kerr.ErrorForCode(resp.ErrorCode), resp.Topics)
	}
}

// TestFetchSessionCacheSlots checks max.incremental.fetch.session.cache.
// slots: with one slot, a second consumer's full fetch is answered without
// a session (a consumer's session younger than two minutes cannot be
// evicted by another consumer's), and the first session still works.
func TestFetchSessionCacheSlots(t *testing.T) {
	const topic = "slots"
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, topic),
		embeddedbroker.BrokerConfig("max.incremental.fetch.session.cache.slots", "1"))
	a, b := dialRaw(t, c.Addrs()[0]), dialRaw(t, c.Addrs()[0])
	first := a.do(sessionFetch(0, 0, topic, map[int32]int64{0: 0}, nil, 0)).(*kmsg.FetchResponse)
	second := b.do(sessionFetch(0, 0, topic, map[int32]int64{0: 0}, nil, 0)).(*kmsg.FetchResponse)
	if first.SessionID == 0 || second.SessionID != 0 || second.ErrorCode != 0 || len(second.Topics) != 1 {
		t.Fatalf("sessions %d and %d (error %v); want the first only", first.SessionID, second.SessionID, kerr.ErrorForCode(second.ErrorCode))
	}
	if r := a.do(sessionFetch(first.SessionID, 1, topic, nil, nil, 0)).(*kmsg.FetchResponse); r.ErrorCode != 0 {
		t.Fatalf("first session: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	none := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, topic),
		embeddedbroker.BrokerConfig("max.incremental.fetch.session.cache.slots", "0"))
	r := dialRaw(t, none.Addrs()[0]).do(sessionFetch(0, 0, topic, map[int32]int64{0: 0}, nil, 0)).(*kmsg.FetchResponse)
	if r.SessionID != 0 || r.ErrorCode != 0 || len(r.Topics) != 1 {
		t.Fatalf("no slots: session %d, error %v; want an answer without a session", r.SessionID, kerr.ErrorForCode(r.ErrorCode))
	}
}

// TestFetchSessionConsumer consumes with franz-go, which fetches in
// sessions, from a replicated cluster while a producer writes to several
// partitions, and checks every record arrives once.
func TestFetchSessionConsumer(t *testing.T) {
	const topic = "consumed"
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: topic, Partitions: 12, ReplicationFactor: 3}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	const total = 600
	go func() {
		for i := range total {
			producer.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte{byte(i % 12)}, Value: []byte{byte(i), byte(i >> 8)}}, nil)
			if i%50 == 0 {
				time.Sleep(20 * time.Millisecond) // leave idle gaps for incremental fetches
			}
		}
	}()
	seen := map[int]int{}
	for len(seen) < total {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d distinct records of %d", len(seen), total)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch error %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { seen[int(r.Value[0])|int(r.Value[1])<<8]++ })
	}
	for v, n := range seen {
		if n != 1 {
			t.Errorf("record %d consumed %d times", v, n)
		}
	}
}

func keys(m map[int32]kmsg.FetchResponseTopicPartition) []int32 {
	var out []int32
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestIdleFollowersStayInSync checks that followers fetching in sessions
// stay in the ISR of idle partitions for many lag periods, though their
// idle fetches name no partition and the leader re-reads none (the
// session's fetches count as caught up), and that a follower that stops
// fetching still leaves the ISR within the lag.
func TestIdleFollowersStayInSync(t *testing.T) {
	const (
		topic = "idle"
		parts = 20
		lag   = 300 * time.Millisecond
	)
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3),
		embeddedbroker.BrokerConfig("replica.lag.time.max.ms", "300"),
		embeddedbroker.Topic(embeddedbroker.TopicSpec{Name: topic, Partitions: parts, ReplicationFactor: 3}))
	for p := range int32(parts) {
		produceTo(t, c, topic, p)
	}
	full := func() bool {
		for p := range int32(parts) {
			if len(c.ISR(topic, p)) != 3 {
				return false
			}
		}
		return true
	}
	waitFor(t, "every ISR full", 15*time.Second, full)
	// Ten lag periods of idleness: any ISR that shrinks fails.
	for end := time.Now().Add(10 * lag); time.Now().Before(end); {
		if !full() {
			t.Fatal("an idle follower left an ISR")
		}
		time.Sleep(10 * time.Millisecond) // sampling an interval, not waiting for state
	}
	must(t, c.KillNode(context.Background(), 2))
	waitFor(t, "node 2 out of every ISR", 15*time.Second, func() bool {
		for p := range int32(parts) {
			for _, r := range c.ISR(topic, p) {
				if r == 2 {
					return false
				}
			}
		}
		return true
	})
}

// TestFetchSessionAnswersDeleteRecords checks that an incremental fetch
// answers a partition whose log start offset DeleteRecords moved, though
// it has no new records: the move marks the partition changed in every
// session, so the answer does not wait for the session's next full
// re-read. (As in Kafka, the move does not end a long poll early: it is
// no data.)
func TestFetchSessionAnswersDeleteRecords(t *testing.T) {
	const topic = "deleted"
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, topic))
	produceTo(t, c, topic, 0)
	produceTo(t, c, topic, 0)
	rc := dialRaw(t, c.Addrs()[0])
	full := rc.do(sessionFetch(0, 0, topic, map[int32]int64{0: 2}, nil, 100)).(*kmsg.FetchResponse)
	if full.ErrorCode != 0 || full.SessionID == 0 {
		t.Fatalf("full fetch: error %v, session %d", kerr.ErrorForCode(full.ErrorCode), full.SessionID)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Offset = 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10_000
	dr, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := dr.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("DeleteRecords: %v", kerr.ErrorForCode(code))
	}
	resp := rc.do(sessionFetch(full.SessionID, 1, topic, nil, nil, 100)).(*kmsg.FetchResponse)
	got := answered(t, resp)
	if resp.ErrorCode != 0 || len(got) != 1 || got[0].LogStartOffset != 1 {
		t.Fatalf("after DeleteRecords: error %v, partitions %v, log start %d; want partition 0 with log start 1", kerr.ErrorForCode(resp.ErrorCode), keys(got), got[0].LogStartOffset)
	}
}
