package groups

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// memStore is an in-memory partition of __consumer_offsets.
type memStore struct {
	mu      sync.Mutex
	log     []LogRecord
	txns    []txnAppend   // the AppendTxn calls that succeeded
	fail    error         // returned by Append and AppendTxn when set
	block   chan struct{} // when set, Append and AppendTxn wait for it to be closed
	appends atomic.Int32
}

// txnAppend is one AppendTxn call.
type txnAppend struct {
	producerID int64
	epoch      int16
	recs       int
}

func (s *memStore) Append(ctx context.Context, recs []KV) error {
	return s.append(ctx, -1, -1, false, recs)
}

func (s *memStore) AppendTxn(ctx context.Context, producerID int64, producerEpoch int16, recs []KV) error {
	return s.append(ctx, producerID, producerEpoch, true, recs)
}

func (s *memStore) append(ctx context.Context, producerID int64, epoch int16, txn bool, recs []KV) error {
	s.mu.Lock()
	block, fail := s.block, s.fail
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		lr := LogRecord{Key: slices.Clone(r.Key), ProducerID: producerID, Transactional: txn}
		if r.Value != nil {
			lr.Value = slices.Clone(r.Value)
		}
		s.log = append(s.log, lr)
	}
	if txn {
		s.txns = append(s.txns, txnAppend{producerID, epoch, len(recs)})
	}
	s.appends.Add(1)
	return nil
}

// marker appends a transaction marker of the producer, as the broker does
// for WriteTxnMarkers.
func (s *memStore) marker(producerID int64, commit bool) {
	typ := kmsg.ControlRecordKeyTypeAbort
	if commit {
		typ = kmsg.ControlRecordKeyTypeCommit
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, LogRecord{
		Key:           (&kmsg.ControlRecordKey{Type: typ}).AppendTo(nil),
		Value:         (&kmsg.EndTxnMarker{}).AppendTo(nil),
		ProducerID:    producerID,
		Transactional: true,
		Control:       true,
	})
}

func (s *memStore) txnAppends() []txnAppend {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.txns)
}

func (s *memStore) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func (s *memStore) setBlock(ch chan struct{}) {
	s.mu.Lock()
	s.block = ch
	s.mu.Unlock()
}

// records returns the data records of the log, markers left out.
func (s *memStore) records() []KV {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []KV
	for _, r := range s.log {
		if !r.Control {
			out = append(out, KV{Key: r.Key, Value: r.Value})
		}
	}
	return out
}

func (s *memStore) replay(fn func(LogRecord) error) error {
	s.mu.Lock()
	log := slices.Clone(s.log)
	s.mu.Unlock()
	for _, r := range log {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// fakeClock is a settable clock for offset expiration.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// env is a coordinator with every partition loaded, each with its own
// store.
type env struct {
	t      *testing.T
	c      *Coordinator
	cfg    Config
	stores map[int32]*memStore
}

func testConfig() Config {
	return Config{
		NumPartitions:     4,
		MinSessionTimeout: time.Millisecond,
		MaxSessionTimeout: time.Minute,
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("GROUPS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	e := &env{t: t, cfg: cfg, stores: make(map[int32]*memStore)}
	for p := range cfg.withDefaults().NumPartitions {
		e.stores[p] = &memStore{}
	}
	e.start()
	return e
}

// start creates a coordinator and loads every partition from the stores.
func (e *env) start() {
	e.t.Helper()
	e.c = New(e.cfg, testLogger())
	c := e.c
	e.t.Cleanup(c.Close)
	for p, s := range e.stores {
		if err := c.Load(context.Background(), p, s, s.replay); err != nil {
			e.t.Fatalf("load %d: %v", p, err)
		}
	}
}

// restart closes the coordinator and loads a fresh one from the stores.
func (e *env) restart() {
	e.t.Helper()
	e.c.Close()
	e.start()
}

func (e *env) store(group string) *memStore { return e.stores[e.c.PartitionFor(group)] }

func ctxFor(clientID string) context.Context {
	return WithClient(context.Background(), clientID, "/127.0.0.1")
}

func timeoutCtx(t *testing.T, clientID string) context.Context {
	ctx, cancel := context.WithTimeout(ctxFor(clientID), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// proto is a protocol a member supports, with its consumer subscription.
type proto struct {
	name   string
	topics []string
}

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 0
	m.Topics = topics
	return m.AppendTo(nil)
}

func assignmentBytes(topic string, parts ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	if len(parts) > 0 {
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic = topic
		at.Partitions = parts
		a.Topics = append(a.Topics, at)
	}
	return a.AppendTo(nil)
}

type joinOpts struct {
	version   int16
	memberID  string
	instance  *string
	typ       string
	protos    []proto
	session   time.Duration
	rebalance time.Duration
	clientID  string
}

func joinRequest(group string, o joinOpts) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9 // o.version 0 means the latest, -1 means v0
	if o.version > 0 {
		req.Version = o.version
	} else if o.version < 0 {
		req.Version = 0
	}
	req.Group = group
	req.MemberID = o.memberID
	req.InstanceID = o.instance
	req.ProtocolType = o.typ
	if req.ProtocolType == "" {
		req.ProtocolType = "consumer"
	}
	if len(o.protos) == 0 {
		o.protos = []proto{{"range", []string{"t"}}}
	}
	for _, p := range o.protos {
		rp := kmsg.NewJoinGroupRequestProtocol()
		rp.Name = p.name
		rp.Metadata = consumerMeta(p.topics...)
		req.Protocols = append(req.Protocols, rp)
	}
	if o.session == 0 {
		o.session = 10 * time.Second
	}
	if o.rebalance == 0 {
		o.rebalance = 5 * time.Second
	}
	req.SessionTimeoutMillis = int32(o.session / time.Millisecond)
	req.RebalanceTimeoutMillis = int32(o.rebalance / time.Millisecond)
	return req
}

func (e *env) join(group string, o joinOpts) *kmsg.JoinGroupResponse {
	e.t.Helper()
	client := o.clientID
	if client == "" {
		client = "client"
	}
	return e.c.Handle(timeoutCtx(e.t, client), joinRequest(group, o)).(*kmsg.JoinGroupResponse)
}

// joinAsync runs a join in a goroutine.
func (e *env) joinAsync(group string, o joinOpts) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	client := o.clientID
	if client == "" {
		client = "client"
	}
	ctx := timeoutCtx(e.t, client)
	req := joinRequest(group, o)
	go func() { ch <- e.c.Handle(ctx, req).(*kmsg.JoinGroupResponse) }()
	return ch
}

func (e *env) sync(group, memberID string, gen int32, instance *string, assign map[string][]byte) *kmsg.SyncGroupResponse {
	e.t.Helper()
	return e.c.Handle(timeoutCtx(e.t, "client"), syncRequest(group, memberID, gen, instance, assign)).(*kmsg.SyncGroupResponse)
}

func syncRequest(group, memberID string, gen int32, instance *string, assign map[string][]byte) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group = group
	req.MemberID = memberID
	req.Generation = gen
	req.InstanceID = instance
	ids := make([]string, 0, len(assign))
	for id := range assign {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID = id
		a.MemberAssignment = assign[id]
		req.GroupAssignment = append(req.GroupAssignment, a)
	}
	return req
}

func (e *env) syncAsync(group, memberID string, gen int32, instance *string, assign map[string][]byte) <-chan *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	ctx := timeoutCtx(e.t, "client")
	req := syncRequest(group, memberID, gen, instance, assign)
	go func() { ch <- e.c.Handle(ctx, req).(*kmsg.SyncGroupResponse) }()
	return ch
}

func (e *env) heartbeat(group, memberID string, gen int32, instance *string) int16 {
	e.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group = group
	req.MemberID = memberID
	req.Generation = gen
	req.InstanceID = instance
	return e.c.Handle(context.Background(), req).(*kmsg.HeartbeatResponse).ErrorCode
}

type commitOpts struct {
	version  int16
	memberID string
	gen      int32
	instance *string
	meta     *string
	epoch    int32
}

func (e *env) commit(group string, o commitOpts, offsets map[tp]int64) map[tp]int16 {
	e.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = o.version
	if req.Version == 0 {
		req.Version = 9
	}
	req.Group = group
	req.MemberID = o.memberID
	req.Generation = o.gen
	req.InstanceID = o.instance
	byTopic := make(map[string][]kmsg.OffsetCommitRequestTopicPartition)
	for t, off := range offsets {
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition = t.partition
		p.Offset = off
		p.Metadata = o.meta
		p.LeaderEpoch = o.epoch
		byTopic[t.topic] = append(byTopic[t.topic], p)
	}
	for topic, ps := range byTopic {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rt.Partitions = ps
		req.Topics = append(req.Topics, rt)
	}
	resp := e.c.Handle(timeoutCtx(e.t, "client"), req).(*kmsg.OffsetCommitResponse)
	out := make(map[tp]int16)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[tp{t.Topic, p.Partition}] = p.ErrorCode
		}
	}
	return out
}

func simple() commitOpts { return commitOpts{gen: -1, epoch: -1} }

// fetched is one partition of an OffsetFetch response.
type fetched struct {
	offset int64
	epoch  int32
	meta   string
	code   int16
}

// fetch fetches with v7 (nil topics fetch everything).
func (e *env) fetch(group string, requireStable bool, topics map[string][]int32) (int16, map[tp]fetched) {
	e.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = group
	req.RequireStable = requireStable
	if topics != nil {
		req.Topics = []kmsg.OffsetFetchRequestTopic{}
		for topic, ps := range topics {
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic = topic
			rt.Partitions = ps
			req.Topics = append(req.Topics, rt)
		}
	}
	resp := e.c.Handle(context.Background(), req).(*kmsg.OffsetFetchResponse)
	out := make(map[tp]fetched)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			f := fetched{offset: p.Offset, epoch: p.LeaderEpoch, code: p.ErrorCode}
			if p.Metadata != nil {
				f.meta = *p.Metadata
			}
			out[tp{t.Topic, p.Partition}] = f
		}
	}
	return resp.ErrorCode, out
}

func (e *env) describe(group string) kmsg.DescribeGroupsResponseGroup {
	e.t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = 5
	req.Groups = []string{group}
	return e.c.Handle(context.Background(), req).(*kmsg.DescribeGroupsResponse).Groups[0]
}

func (e *env) leave(group string, members ...kmsg.LeaveGroupRequestMember) *kmsg.LeaveGroupResponse {
	e.t.Helper()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 5
	req.Group = group
	req.Members = members
	return e.c.Handle(context.Background(), req).(*kmsg.LeaveGroupResponse)
}

func (e *env) listGroups(states ...string) map[string]string {
	e.t.Helper()
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 5
	req.StatesFilter = states
	resp := e.c.Handle(context.Background(), req).(*kmsg.ListGroupsResponse)
	out := make(map[string]string)
	for _, g := range resp.Groups {
		out[g.Group] = g.GroupState
	}
	return out
}

// joinStable makes a Stable group of dynamic members that all join with o
// (see joinStableOpts).
func (e *env) joinStable(group string, names []string, o joinOpts) ([]string, int32) {
	e.t.Helper()
	opts := make([]joinOpts, len(names))
	for i, n := range names {
		opts[i] = o
		opts[i].clientID = n
	}
	return e.joinStableOpts(group, opts)
}

// joinStableOpts makes a Stable group the way clients do, deterministically:
// the first member joins alone (with the MEMBER_ID_REQUIRED round trip for
// dynamic members) and syncs; the others get their member IDs, then
// everyone (re)joins concurrently, which completes once all have joined,
// and syncs with partition i of topic "t" assigned to member i. It returns
// the member IDs and the generation.
func (e *env) joinStableOpts(group string, opts []joinOpts) ([]string, int32) {
	e.t.Helper()
	ids := make([]string, len(opts))
	var first *kmsg.JoinGroupResponse
	for i, o := range opts {
		if o.instance == nil {
			r := e.join(group, o)
			wantCode(e.t, "first join of "+o.clientID, r.ErrorCode, kerr.MemberIDRequired.Code)
			ids[i] = r.MemberID
		}
		if i > 0 {
			continue
		}
		o.memberID = ids[0]
		first = e.join(group, o)
		wantCode(e.t, "join of "+o.clientID, first.ErrorCode, 0)
		ids[0] = first.MemberID
		e.syncAll(group, ids[:1], []*kmsg.JoinGroupResponse{first})
	}
	if len(opts) == 1 {
		return ids, first.Generation
	}
	// Everyone but the first member joins; the rebalance cannot complete
	// before the first member rejoins, which it does once all others are
	// in the group.
	chs := make([]<-chan *kmsg.JoinGroupResponse, len(opts))
	for i, o := range opts[1:] {
		o.memberID = ids[i+1]
		chs[i+1] = e.joinAsync(group, o)
	}
	eventually(e.t, "members to join", 5*time.Second, func() bool {
		return len(e.describe(group).Members) == len(opts)
	})
	o := opts[0]
	o.memberID = ids[0]
	chs[0] = e.joinAsync(group, o)
	resps := make([]*kmsg.JoinGroupResponse, len(opts))
	for i := range chs {
		resps[i] = recv(e.t, "join of "+opts[i].clientID, chs[i])
		wantCode(e.t, "join of "+opts[i].clientID, resps[i].ErrorCode, 0)
		ids[i] = resps[i].MemberID
	}
	gen := resps[0].Generation
	for _, r := range resps {
		if r.Generation != gen {
			e.t.Fatalf("members joined different generations: %d and %d", gen, r.Generation)
		}
	}
	e.syncAll(group, ids, resps)
	return ids, gen
}

// describeGen returns the generation the leader would see: from a
// heartbeat-free source, the group's record in the coordinator.
func (e *env) describeGen(group string) int32 {
	e.t.Helper()
	g, code := e.c.acquire(group, false)
	if code != 0 || g == nil {
		e.t.Fatalf("group %s not found", group)
	}
	defer g.mu.Unlock()
	return g.generation
}

// syncAll syncs every member; the leader assigns partition i to member i
// of topic "t".
func (e *env) syncAll(group string, ids []string, resps []*kmsg.JoinGroupResponse) {
	e.t.Helper()
	leader := resps[0].LeaderID
	assign := make(map[string][]byte)
	for i, id := range ids {
		assign[id] = assignmentBytes("t", int32(i))
	}
	chs := make([]<-chan *kmsg.SyncGroupResponse, len(ids))
	for i, id := range ids {
		var a map[string][]byte
		if id == leader {
			a = assign
		}
		req := syncRequest(group, id, resps[i].Generation, nil, a)
		req.ProtocolType, req.Protocol = resps[i].ProtocolType, resps[i].Protocol
		ch := make(chan *kmsg.SyncGroupResponse, 1)
		ctx := timeoutCtx(e.t, "client")
		go func() { ch <- e.c.Handle(ctx, req).(*kmsg.SyncGroupResponse) }()
		chs[i] = ch
	}
	for i, ch := range chs {
		r := <-ch
		if r.ErrorCode != 0 {
			e.t.Fatalf("sync %s: %v", ids[i], kerr.ErrorForCode(r.ErrorCode))
		}
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if e := kerr.ErrorForCode(code); e != nil {
		var ke *kerr.Error
		if errors.As(e, &ke) {
			return ke.Message
		}
	}
	return fmt.Sprint(code)
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %s, want %s", what, errName(got), errName(want))
	}
}

func recv[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// blocked reports whether nothing arrives on ch for a short while: used
// to check that a request is still waiting (not to wait for state).
func blocked[T any](ch <-chan T) bool {
	select {
	case <-ch:
		return false
	case <-time.After(50 * time.Millisecond):
		return true
	}
}
