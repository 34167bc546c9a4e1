package groups

import (
	"context"
	"errors"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordruntime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeTopics knows topic "t" (8 partitions, ID 1) and "u" (1 partition, ID 2).
type fakeTopics struct{}

func (fakeTopics) PartitionExists(topic string, p int32) bool {
	switch topic {
	case "t":
		return p >= 0 && p < 8
	case "u":
		return p == 0
	}
	return false
}

func (fakeTopics) TopicName(id [16]byte) (string, bool) {
	switch id {
	case [16]byte{1}:
		return "t", true
	case [16]byte{2}:
		return "u", true
	}
	return "", false
}

func (fakeTopics) Subscribable(context.Context) consumergroup.TopicMetadata {
	return consumergroup.TopicMetadata{
		"t": {ID: [16]byte{1}, Name: "t", Partitions: 8},
		"u": {ID: [16]byte{2}, Name: "u", Partitions: 1},
	}
}

func (fakeTopics) TopicID(name string) ([16]byte, bool) {
	switch name {
	case "t":
		return [16]byte{1}, true
	case "u":
		return [16]byte{2}, true
	}
	return [16]byte{}, false
}

func TestOffsetCommitValidation(t *testing.T) {
	cfg := testConfig()
	cfg.Topics = fakeTopics{}
	e := newEnv(t, cfg)
	ids, gen := e.joinStable("g", []string{"a", "b"}, joinOpts{})
	a := ids[0]
	t0 := tp{"t", 0}
	long := strings.Repeat("x", 4097)
	for _, tc := range []struct {
		name    string
		group   string
		o       commitOpts
		offsets map[tp]int64
		want    map[tp]int16
	}{
		{"member, current generation", "g", commitOpts{memberID: a, gen: gen, epoch: 3}, map[tp]int64{t0: 1}, map[tp]int16{t0: 0}},
		{"old generation", "g", commitOpts{memberID: a, gen: gen - 1}, map[tp]int64{t0: 1}, map[tp]int16{t0: kerr.IllegalGeneration.Code}},
		{"unknown member", "g", commitOpts{memberID: "x", gen: gen}, map[tp]int64{t0: 1}, map[tp]int16{t0: kerr.UnknownMemberID.Code}},
		{"simple commit to a group with members", "g", simple(), map[tp]int64{t0: 1}, map[tp]int16{t0: kerr.UnknownMemberID.Code}},
		{"unknown instance", "g", commitOpts{memberID: a, gen: gen, instance: kmsg.StringPtr("i")}, map[tp]int64{t0: 1}, map[tp]int16{t0: kerr.UnknownMemberID.Code}},
		{"unknown group v8", "nope", commitOpts{version: 8, memberID: "m", gen: 3}, map[tp]int64{t0: 1}, map[tp]int16{t0: kerr.IllegalGeneration.Code}},
		{"unknown group v9", "nope", commitOpts{version: 9, memberID: "m", gen: 3}, map[tp]int64{t0: 1}, map[tp]int16{t0: kerr.GroupIDNotFound.Code}},
		{"metadata too large", "s", commitOpts{gen: -1, meta: &long}, map[tp]int64{t0: 1}, map[tp]int16{t0: kerr.OffsetMetadataTooLarge.Code}},
		{"unknown partitions", "s", simple(), map[tp]int64{{"t", 8}: 1, {"zz", 0}: 1, {"u", 0}: 1},
			map[tp]int16{{"t", 8}: kerr.UnknownTopicOrPartition.Code, {"zz", 0}: kerr.UnknownTopicOrPartition.Code, {"u", 0}: 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.commit(tc.group, tc.o, tc.offsets)
			for k, want := range tc.want {
				wantCode(t, k.topic, got[k], want)
			}
		})
	}
	if _, ok := e.listGroups()["nope"]; ok {
		t.Fatal("rejected commit created a group")
	}
	_, f := e.fetch("g", false, map[string][]int32{"t": {0}})
	if f[t0].offset != 1 || f[t0].epoch != 3 {
		t.Fatalf("fetch: %+v", f[t0])
	}
}

func TestOffsetCommitV10TopicIDs(t *testing.T) {
	cfg := testConfig()
	cfg.Topics = fakeTopics{}
	e := newEnv(t, cfg)
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 10
	req.Group = "s"
	for _, id := range [][16]byte{{1}, {9}} {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.TopicID = id
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = 2, 42
		rt.Partitions = append(rt.Partitions, p)
		req.Topics = append(req.Topics, rt)
	}
	resp := e.c.Handle(context.Background(), req).(*kmsg.OffsetCommitResponse)
	wantCode(t, "known id", resp.Topics[0].Partitions[0].ErrorCode, 0)
	wantCode(t, "unknown id", resp.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicID.Code)
	if resp.Topics[0].TopicID != [16]byte{1} {
		t.Fatal("response lost the topic ID")
	}

	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 10
	f.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "s"}} // all topics
	fr := e.c.Handle(context.Background(), f).(*kmsg.OffsetFetchResponse)
	g := fr.Groups[0]
	if len(g.Topics) != 1 || g.Topics[0].TopicID != [16]byte{1} || g.Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("v10 fetch: %+v", g)
	}
}

func TestSimpleConsumerCommitsAndFetch(t *testing.T) {
	e := newEnv(t, testConfig())
	meta := "m1"
	o := commitOpts{gen: -1, meta: &meta, epoch: 7}
	codes := e.commit("s", o, map[tp]int64{{"t", 0}: 10, {"t", 1}: 20, {"u", 0}: 5})
	for k, c := range codes {
		wantCode(t, k.topic, c, 0)
	}
	if got := e.listGroups()["s"]; got != "Empty" {
		t.Fatalf("simple group state %q", got)
	}
	if d := e.describe("s"); d.ProtocolType != "" || d.State != "Empty" {
		t.Fatalf("describe simple group: %+v", d)
	}
	code, all := e.fetch("s", true, nil)
	wantCode(t, "fetch all", code, 0)
	if len(all) != 3 || all[tp{"t", 1}] != (fetched{offset: 20, epoch: 7, meta: "m1"}) {
		t.Fatalf("fetch all: %+v", all)
	}
	_, some := e.fetch("s", false, map[string][]int32{"t": {0, 5}})
	if some[tp{"t", 0}].offset != 10 || some[tp{"t", 5}] != (fetched{offset: -1, epoch: -1}) {
		t.Fatalf("fetch some: %+v", some)
	}
	_, none := e.fetch("unknown", false, map[string][]int32{"t": {0}})
	if none[tp{"t", 0}].offset != -1 {
		t.Fatalf("fetch of unknown group: %+v", none)
	}
	// Later simple commits overwrite; the group stays Empty.
	e.commit("s", simple(), map[tp]int64{{"t", 0}: 11})
	_, again := e.fetch("s", false, map[string][]int32{"t": {0}})
	if again[tp{"t", 0}] != (fetched{offset: 11, epoch: -1}) {
		t.Fatalf("after overwrite: %+v", again[tp{"t", 0}])
	}

	// v8+: several groups in one request.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = "s"
	req.Groups = append(req.Groups, rg)
	rg2 := kmsg.NewOffsetFetchRequestGroup()
	rg2.Group = "other"
	rg2.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}
	req.Groups = append(req.Groups, rg2)
	resp := e.c.Handle(context.Background(), req).(*kmsg.OffsetFetchResponse)
	if len(resp.Groups) != 2 || len(resp.Groups[0].Topics) != 2 || resp.Groups[1].Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("v8 fetch: %+v", resp.Groups)
	}

	// The records are Kafka's: offset commit key v1, value v3.
	recs := e.store("s").records()
	var k kmsg.OffsetCommitKey
	var v kmsg.OffsetCommitValue
	if k.ReadFrom(recs[0].Key) != nil || v.ReadFrom(recs[0].Value) != nil || k.Version != 1 || v.Version != 3 || k.Group != "s" {
		t.Fatalf("record: %+v %+v", k, v)
	}
}

func TestOffsetCommitOldVersions(t *testing.T) {
	e := newEnv(t, testConfig())
	// v1 carries a commit timestamp per partition, v2-v4 a retention time
	// that becomes an explicit expiration (offset commit value v1).
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 2
	req.Group = "s"
	req.RetentionTimeMillis = 60_000
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Offset = 3
	rt.Partitions = append(rt.Partitions, p)
	req.Topics = append(req.Topics, rt)
	resp := e.c.Handle(context.Background(), req).(*kmsg.OffsetCommitResponse)
	wantCode(t, "v2 commit", resp.Topics[0].Partitions[0].ErrorCode, 0)
	recs := e.store("s").records()
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(recs[len(recs)-1].Value); err != nil || v.Version != 1 || v.ExpireTimestamp-v.CommitTimestamp != 60_000 {
		t.Fatalf("v2 commit record: %+v %v", v, err)
	}

	req.Version = 1
	req.Topics[0].Partitions[0].Timestamp = 1234
	e.c.Handle(context.Background(), req)
	recs = e.store("s").records()
	if err := v.ReadFrom(recs[len(recs)-1].Value); err != nil || v.CommitTimestamp != 1234 || v.Version != 3 {
		t.Fatalf("v1 commit record: %+v %v", v, err)
	}
}

func TestRequireStable(t *testing.T) {
	e := newEnv(t, testConfig())
	e.commit("s", simple(), map[tp]int64{{"t", 0}: 1})
	block := make(chan struct{})
	e.store("s").setBlock(block)
	done := make(chan map[tp]int16, 1)
	go func() { done <- e.commit("s", simple(), map[tp]int64{{"t", 0}: 2}) }()
	eventually(t, "the commit to be pending", 5*time.Second, func() bool {
		_, f := e.fetch("s", true, map[string][]int32{"t": {0}})
		return f[tp{"t", 0}].code == kerr.UnstableOffsetCommit.Code
	})
	_, f := e.fetch("s", false, map[string][]int32{"t": {0}})
	if f[tp{"t", 0}].offset != 1 || f[tp{"t", 0}].code != 0 {
		t.Fatalf("unstable offset visible before it is durable: %+v", f)
	}
	close(block)
	wantCode(t, "commit", recv(t, "commit", done)[tp{"t", 0}], 0)
	_, f = e.fetch("s", true, map[string][]int32{"t": {0}})
	if f[tp{"t", 0}].offset != 2 || f[tp{"t", 0}].code != 0 {
		t.Fatalf("after commit: %+v", f)
	}
}

func TestStoreFailures(t *testing.T) {
	e := newEnv(t, testConfig())
	for _, tc := range []struct {
		err  error
		want int16
	}{
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable.Code},
		{kerr.NotLeaderForPartition, kerr.NotCoordinator.Code},
		{kerr.MessageTooLarge, kerr.InvalidCommitOffsetSize.Code},
		{context.DeadlineExceeded, kerr.RequestTimedOut.Code},
		{errors.New("disk on fire"), kerr.CoordinatorNotAvailable.Code},
	} {
		e.store("s").setFail(tc.err)
		wantCode(t, tc.err.Error(), e.commit("s", simple(), map[tp]int64{{"t", 0}: 1})[tp{"t", 0}], tc.want)
	}
	e.store("s").setFail(nil)
	_, f := e.fetch("s", false, map[string][]int32{"t": {0}})
	if f[tp{"t", 0}].offset != -1 {
		t.Fatalf("failed commit applied: %+v", f)
	}

	// A failed write of the leader's assignment fails the sync and
	// restarts the rebalance.
	r1 := e.join("g", joinOpts{clientID: "a"})
	r := e.join("g", joinOpts{clientID: "a", memberID: r1.MemberID})
	e.store("g").setFail(kerr.NotEnoughReplicas)
	wantCode(t, "sync", e.sync("g", r.MemberID, r.Generation, nil, map[string][]byte{r.MemberID: assignmentBytes("t", 0)}).ErrorCode, kerr.CoordinatorNotAvailable.Code)
	if d := e.describe("g"); d.State != "PreparingRebalance" {
		t.Fatalf("after failed sync: %s", d.State)
	}
	e.store("g").setFail(nil)
	r = e.join("g", joinOpts{clientID: "a", memberID: r.MemberID})
	wantCode(t, "rejoin", r.ErrorCode, 0)
	wantCode(t, "sync", e.sync("g", r.MemberID, r.Generation, nil, map[string][]byte{r.MemberID: assignmentBytes("t", 0)}).ErrorCode, 0)
}

func TestLoadRoundTrip(t *testing.T) {
	e := newEnv(t, testConfig())
	inst := "inst"
	ids, gen := e.joinStableOpts("g", []joinOpts{
		{clientID: "a", instance: &inst, session: 300 * time.Millisecond},
		{clientID: "b", session: 300 * time.Millisecond},
	})
	e.commit("g", commitOpts{memberID: ids[0], gen: gen, instance: &inst, epoch: 4, meta: kmsg.StringPtr("hi")}, map[tp]int64{{"t", 0}: 100, {"t", 1}: 200})
	e.commit("s", simple(), map[tp]int64{{"u", 3}: 33})
	e.commit("d", simple(), map[tp]int64{{"u", 0}: 1})
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"d"}
	wantCode(t, "delete", e.c.Handle(context.Background(), del).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode, 0)
	// A long-lived group to check that loaded members can heartbeat.
	lids, lgen := e.joinStable("long", []string{"x"}, joinOpts{})
	before := e.describe("g")

	e.restart()

	after := e.describe("g")
	if after.State != "Stable" || after.Protocol != "range" || after.ProtocolType != "consumer" || len(after.Members) != 2 {
		t.Fatalf("reloaded group: %+v", after)
	}
	for i := range before.Members {
		bm, am := before.Members[i], after.Members[i]
		if bm.MemberID != am.MemberID || bm.ClientID != am.ClientID || bm.ClientHost != am.ClientHost ||
			string(bm.MemberAssignment) != string(am.MemberAssignment) || string(bm.ProtocolMetadata) != string(am.ProtocolMetadata) ||
			(bm.InstanceID == nil) != (am.InstanceID == nil) {
			t.Fatalf("member %d changed across reload:\n%+v\n%+v", i, bm, am)
		}
	}
	_, f := e.fetch("g", false, nil)
	if f[tp{"t", 0}] != (fetched{offset: 100, epoch: 4, meta: "hi"}) || f[tp{"t", 1}].offset != 200 {
		t.Fatalf("reloaded offsets: %+v", f)
	}
	_, f = e.fetch("s", false, nil)
	if f[tp{"u", 3}].offset != 33 {
		t.Fatalf("reloaded simple offsets: %+v", f)
	}
	groups := e.listGroups()
	if _, ok := groups["d"]; ok || groups["s"] != "Empty" || groups["g"] != "Stable" {
		t.Fatalf("reloaded groups: %v", groups)
	}
	wantCode(t, "loaded member heartbeat", e.heartbeat("long", lids[0], lgen, nil), 0)
	wantCode(t, "loaded member commit", e.commit("g", commitOpts{memberID: ids[1], gen: gen, epoch: -1}, map[tp]int64{{"t", 2}: 1})[tp{"t", 2}], 0)

	// Nobody heartbeats for g: its loaded members expire and it ends up
	// Empty in the next generation, which is persisted too.
	eventually(t, "loaded members to expire", 5*time.Second, func() bool {
		d := e.describe("g")
		return d.State == "Empty" && len(d.Members) == 0
	})
	eventually(t, "the empty group to be written", 5*time.Second, func() bool {
		return slices.ContainsFunc(e.store("g").records(), func(r KV) bool {
			var v kmsg.GroupMetadataValue
			return string(r.Key) == string(groupKey("g")) && v.ReadFrom(r.Value) == nil &&
				len(v.Members) == 0 && v.Generation == gen+1
		})
	})
	e.restart()
	d := e.describe("g")
	if d.State != "Empty" || d.ProtocolType != "consumer" {
		t.Fatalf("reloaded empty group: %+v", d)
	}
	if _, f := e.fetch("g", false, nil); f[tp{"t", 0}].offset != 100 {
		t.Fatalf("offsets of empty group lost: %+v", f)
	}
}

func TestDeleteGroups(t *testing.T) {
	e := newEnv(t, testConfig())
	ids, gen := e.joinStable("g", []string{"a"}, joinOpts{})
	e.commit("g", commitOpts{memberID: ids[0], gen: gen, epoch: -1}, map[tp]int64{{"t", 0}: 5})
	e.commit("s", simple(), map[tp]int64{{"t", 0}: 1, {"t", 1}: 2})

	del := func(groups ...string) []int16 {
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Version = 2
		req.Groups = groups
		var out []int16
		for _, g := range e.c.Handle(context.Background(), req).(*kmsg.DeleteGroupsResponse).Groups {
			out = append(out, g.ErrorCode)
		}
		return out
	}
	codes := del("g", "nope", "s")
	wantCode(t, "non-empty", codes[0], kerr.NonEmptyGroup.Code)
	wantCode(t, "unknown", codes[1], kerr.GroupIDNotFound.Code)
	wantCode(t, "simple", codes[2], 0)
	if _, f := e.fetch("s", false, nil); len(f) != 0 {
		t.Fatalf("offsets of deleted group: %+v", f)
	}
	recs := e.store("s").records()
	for _, r := range recs[len(recs)-2:] {
		if r.Value != nil {
			t.Fatal("no tombstones written for the deleted offsets")
		}
	}

	e.leave("g", kmsg.LeaveGroupRequestMember{MemberID: ids[0]})
	wantCode(t, "empty group", del("g")[0], 0)
	recs = e.store("g").records()
	var k kmsg.GroupMetadataKey
	if last := recs[len(recs)-1]; last.Value != nil || k.ReadFrom(last.Key) != nil || k.Version != 2 || k.Group != "g" {
		t.Fatal("no group tombstone")
	}
	if gs := e.listGroups(); len(gs) != 0 {
		t.Fatalf("groups left: %v", gs)
	}
	e.restart()
	if gs := e.listGroups(); len(gs) != 0 {
		t.Fatalf("deleted groups came back: %v", gs)
	}
	// The name can be used again.
	wantCode(t, "commit after delete", e.commit("g", simple(), map[tp]int64{{"t", 0}: 9})[tp{"t", 0}], 0)
}

func TestOffsetDelete(t *testing.T) {
	e := newEnv(t, testConfig())
	ids, gen := e.joinStable("g", []string{"a"}, joinOpts{protos: []proto{{"range", []string{"t"}}}})
	e.commit("g", commitOpts{memberID: ids[0], gen: gen, epoch: -1}, map[tp]int64{{"t", 0}: 1, {"x", 0}: 2})
	cids, cgen := e.joinStable("c", []string{"a"}, joinOpts{typ: "connect"})
	e.commit("c", commitOpts{memberID: cids[0], gen: cgen, epoch: -1}, map[tp]int64{{"x", 0}: 2})
	e.commit("s", simple(), map[tp]int64{{"x", 0}: 3})

	del := func(group string, offsets ...tp) *kmsg.OffsetDeleteResponse {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = group
		for _, o := range offsets {
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = o.topic
			rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: o.partition}}
			req.Topics = append(req.Topics, rt)
		}
		return e.c.Handle(context.Background(), req).(*kmsg.OffsetDeleteResponse)
	}
	r := del("g", tp{"t", 0}, tp{"x", 0})
	wantCode(t, "top", r.ErrorCode, 0)
	wantCode(t, "subscribed topic", r.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic.Code)
	wantCode(t, "other topic", r.Topics[1].Partitions[0].ErrorCode, 0)
	_, f := e.fetch("g", false, nil)
	if len(f) != 1 || f[tp{"t", 0}].offset != 1 {
		t.Fatalf("after offset delete: %+v", f)
	}
	wantCode(t, "non-consumer group", del("c", tp{"x", 0}).ErrorCode, kerr.NonEmptyGroup.Code)
	wantCode(t, "unknown group", del("nope", tp{"x", 0}).ErrorCode, kerr.GroupIDNotFound.Code)
	// Deleting the last offset of a simple group removes the group.
	wantCode(t, "simple group", del("s", tp{"x", 0}).Topics[0].Partitions[0].ErrorCode, 0)
	if _, ok := e.listGroups()["s"]; ok {
		t.Fatal("empty simple group still listed")
	}
}

func TestOffsetRetention(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	cfg := testConfig()
	cfg.Now = clock.Now
	cfg.OffsetsRetention = time.Hour
	cfg.OffsetsRetentionCheckInterval = time.Hour // expiration is run by hand
	e := newEnv(t, cfg)

	// A simple group: retention counts from each commit.
	e.commit("s", simple(), map[tp]int64{{"t", 0}: 1})
	// An explicit expiration (v2-v4) wins over the retention.
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 2
	req.Group = "x"
	req.RetentionTimeMillis = (10 * time.Minute).Milliseconds()
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, Timestamp: -1}}}}
	e.c.Handle(context.Background(), req)
	// A consumer group: committed now, Empty in 50 minutes.
	ids, gen := e.joinStable("g", []string{"a"}, joinOpts{protos: []proto{{"range", []string{"t"}}}})
	e.commit("g", commitOpts{memberID: ids[0], gen: gen, epoch: -1}, map[tp]int64{{"t", 0}: 1})
	// A Stable consumer group with an offset of a topic it no longer
	// subscribes to.
	sids, sgen := e.joinStable("st", []string{"a"}, joinOpts{protos: []proto{{"range", []string{"t"}}}})
	e.commit("st", commitOpts{memberID: sids[0], gen: sgen, epoch: -1}, map[tp]int64{{"t", 0}: 1, {"old", 0}: 1})

	has := func(group string, t0 tp) bool {
		_, f := e.fetch(group, false, nil)
		_, ok := f[t0]
		return ok
	}
	expire := func(what string, cond func() bool) {
		t.Helper()
		e.c.expireOffsets()
		eventually(t, what, 5*time.Second, cond)
	}

	clock.Advance(10 * time.Minute)
	expire("explicit expiration", func() bool { return !has("x", tp{"t", 0}) })
	if !has("s", tp{"t", 0}) {
		t.Fatal("simple group offset expired early")
	}

	clock.Advance(40 * time.Minute) // T+50m: g becomes Empty
	e.leave("g", kmsg.LeaveGroupRequestMember{MemberID: ids[0]})
	// st's member must stay alive: heartbeat with the fake clock
	// irrelevant (sessions use the real clock, 10s).

	clock.Advance(10 * time.Minute) // T+60m
	expire("simple group offset to expire", func() bool {
		_, ok := e.listGroups()["s"]
		return !has("s", tp{"t", 0}) && !ok
	})
	expire("unsubscribed topic offset to expire", func() bool { return !has("st", tp{"old", 0}) })
	if !has("st", tp{"t", 0}) {
		t.Fatal("subscribed topic offset of a Stable group expired")
	}
	if !has("g", tp{"t", 0}) {
		t.Fatal("Empty group offset expired 10 minutes after the group became empty")
	}

	clock.Advance(50 * time.Minute) // T+110m: g Empty for 60m
	expire("empty group offsets and the group to expire", func() bool {
		_, ok := e.listGroups()["g"]
		return !has("g", tp{"t", 0}) && !ok
	})
	// (A dying group is hidden before its tombstones are durable.)
	eventually(t, "the group tombstone", 5*time.Second, func() bool {
		return slices.ContainsFunc(e.store("g").records(), func(r KV) bool {
			return r.Value == nil && string(r.Key) == string(groupKey("g"))
		})
	})
}

func TestNotCoordinatorAndLoading(t *testing.T) {
	cfg := testConfig()
	c := New(cfg, testLogger())
	t.Cleanup(c.Close)
	group, other := "g", ""
	for i := 0; other == ""; i++ {
		if n := "h" + strings.Repeat("x", i); c.PartitionFor(n) != c.PartitionFor(group) {
			other = n
		}
	}
	store := &memStore{}
	if err := c.Load(context.Background(), c.PartitionFor(group), store, store.replay); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c, cfg: cfg, stores: map[int32]*memStore{c.PartitionFor(group): store}}

	checkAll := func(g string, want int16) {
		t.Helper()
		wantCode(t, "join", e.join(g, joinOpts{}).ErrorCode, want)
		wantCode(t, "leave", e.leave(g, kmsg.LeaveGroupRequestMember{MemberID: "m"}).ErrorCode, want)
		wantCode(t, "commit", e.commit(g, simple(), map[tp]int64{{"t", 0}: 1})[tp{"t", 0}], want)
		code, _ := e.fetch(g, false, nil)
		wantCode(t, "fetch", code, want)
		wantCode(t, "describe", e.describe(g).ErrorCode, want)
		del := kmsg.NewPtrDeleteGroupsRequest()
		del.Groups = []string{g}
		wantCode(t, "delete", c.Handle(context.Background(), del).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode, want)
		od := kmsg.NewPtrOffsetDeleteRequest()
		od.Group = g
		wantCode(t, "offset delete", c.Handle(context.Background(), od).(*kmsg.OffsetDeleteResponse).ErrorCode, want)
	}
	checkAll(other, kerr.NotCoordinator.Code)
	wantCode(t, "heartbeat", e.heartbeat(other, "m", 1, nil), kerr.NotCoordinator.Code)
	wantCode(t, "sync", e.sync(other, "m", 1, nil, nil).ErrorCode, kerr.NotCoordinator.Code)

	// While the other partition loads.
	release := make(chan struct{})
	loadErr := make(chan error, 1)
	otherStore := &memStore{}
	go func() {
		loadErr <- c.Load(context.Background(), c.PartitionFor(other), otherStore, func(fn func(LogRecord) error) error {
			<-release
			return otherStore.replay(fn)
		})
	}()
	eventually(t, "loading", 5*time.Second, func() bool {
		return e.join(other, joinOpts{}).ErrorCode == kerr.CoordinatorLoadInProgress.Code
	})
	checkAll(other, kerr.CoordinatorLoadInProgress.Code)
	wantCode(t, "heartbeat while loading", e.heartbeat(other, "m", 1, nil), 0)
	wantCode(t, "sync while loading", e.sync(other, "m", 1, nil, nil).ErrorCode, kerr.RebalanceInProgress.Code)
	lreq := kmsg.NewPtrListGroupsRequest()
	wantCode(t, "list while loading", c.Handle(context.Background(), lreq).(*kmsg.ListGroupsResponse).ErrorCode, kerr.CoordinatorLoadInProgress.Code)
	if err := c.Load(context.Background(), c.PartitionFor(other), otherStore, otherStore.replay); !errors.Is(err, coordruntime.ErrAlreadyLoaded) {
		t.Fatalf("second load: %v", err)
	}
	close(release)
	if err := recv(t, "load", loadErr); err != nil {
		t.Fatal(err)
	}
	e.stores[c.PartitionFor(other)] = otherStore
	wantCode(t, "join after load", e.join(other, joinOpts{}).ErrorCode, kerr.MemberIDRequired.Code)

	// Unload while a member waits in JoinGroup: it is answered
	// NOT_COORDINATOR, and so is everything after.
	ids, gen := e.joinStable(group, []string{"a"}, joinOpts{})
	e.commit(group, commitOpts{memberID: ids[0], gen: gen, epoch: -1}, map[tp]int64{{"t", 0}: 7})
	r := e.join(group, joinOpts{clientID: "b"})
	bCh := e.joinAsync(group, joinOpts{clientID: "b", memberID: r.MemberID})
	eventually(t, "rebalance", 5*time.Second, func() bool {
		return e.heartbeat(group, ids[0], gen, nil) == kerr.RebalanceInProgress.Code
	})
	c.Unload(c.PartitionFor(group))
	wantCode(t, "waiting join", recv(t, "join", bCh).ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "heartbeat after unload", e.heartbeat(group, ids[0], gen, nil), kerr.NotCoordinator.Code)
	checkAll(group, kerr.NotCoordinator.Code)

	// Loading it again brings the group back from its records.
	if err := c.Load(context.Background(), c.PartitionFor(group), store, store.replay); err != nil {
		t.Fatal(err)
	}
	if d := e.describe(group); d.State != "Stable" || len(d.Members) != 1 {
		t.Fatalf("reloaded: %+v", d)
	}
	if _, f := e.fetch(group, false, nil); f[tp{"t", 0}].offset != 7 {
		t.Fatalf("reloaded offsets: %+v", f)
	}

	// A failing replay leaves the partition unloaded.
	c.Unload(c.PartitionFor(group))
	boom := errors.New("boom")
	if err := c.Load(context.Background(), c.PartitionFor(group), store, func(func(LogRecord) error) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing load: %v", err)
	}
	wantCode(t, "after failed load", e.heartbeat(group, ids[0], gen, nil), kerr.NotCoordinator.Code)

	c.Close()
	if err := c.Load(context.Background(), 0, store, store.replay); !errors.Is(err, coordruntime.ErrClosed) {
		t.Fatalf("load after close: %v", err)
	}
}

func TestListAndDescribeGroups(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinStable("stable", []string{"a"}, joinOpts{})
	e.commit("simple", simple(), map[tp]int64{{"t", 0}: 1})
	r := e.join("preparing", joinOpts{clientID: "p"})
	e.join("preparing", joinOpts{clientID: "p", memberID: r.MemberID, version: 9}) // completes, CompletingRebalance

	if gs := e.listGroups(); len(gs) != 3 || gs["stable"] != "Stable" || gs["simple"] != "Empty" || gs["preparing"] != "CompletingRebalance" {
		t.Fatalf("list: %v", gs)
	}
	if gs := e.listGroups("stable", "EMPTY"); len(gs) != 2 || gs["preparing"] != "" {
		t.Fatalf("list with state filter: %v", gs)
	}
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 5
	req.TypesFilter = []string{"consumer"}
	if resp := e.c.Handle(context.Background(), req).(*kmsg.ListGroupsResponse); len(resp.Groups) != 0 {
		t.Fatalf("list of consumer-type groups: %+v", resp.Groups)
	}
	req.TypesFilter = []string{"Classic"}
	if resp := e.c.Handle(context.Background(), req).(*kmsg.ListGroupsResponse); len(resp.Groups) != 3 || resp.Groups[0].GroupType != "classic" {
		t.Fatalf("list of classic groups: %+v", resp.Groups)
	}

	dreq := kmsg.NewPtrDescribeGroupsRequest()
	dreq.Version = 6
	dreq.Groups = []string{"stable", "nope"}
	dreq.IncludeAuthorizedOperations = true
	resp := e.c.Handle(context.Background(), dreq).(*kmsg.DescribeGroupsResponse)
	s, n := resp.Groups[0], resp.Groups[1]
	if s.State != "Stable" || s.Protocol != "range" || s.AuthorizedOperations != allGroupOperations || s.Members[0].ClientID != "a" {
		t.Fatalf("describe stable: %+v", s)
	}
	if n.State != "Dead" || n.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe unknown v6: %+v", n)
	}
	dreq.Version = 5
	if n := e.c.Handle(context.Background(), dreq).(*kmsg.DescribeGroupsResponse).Groups[1]; n.State != "Dead" || n.ErrorCode != 0 {
		t.Fatalf("describe unknown v5: %+v", n)
	}
}

// TestAllVersions drives every version of every API kmsg knows through a
// join/sync/heartbeat/commit/fetch/leave cycle and checks that the
// responses encode and decode at their version.
func TestAllVersions(t *testing.T) {
	cfg := testConfig()
	cfg.Topics = fakeTopics{}
	e := newEnv(t, cfg)
	roundTrip := func(resp kmsg.Response) {
		t.Helper()
		b := resp.AppendTo(nil)
		fresh := kmsg.ResponseForKey(resp.Key())
		fresh.SetVersion(resp.GetVersion())
		if err := fresh.ReadFrom(b); err != nil {
			t.Fatalf("%T v%d does not decode: %v", resp, resp.GetVersion(), err)
		}
	}
	ctx := ctxFor("v")
	for v := int16(0); v <= (&kmsg.JoinGroupRequest{}).MaxVersion(); v++ {
		group := "ver-" + string(rune('a'+v))
		jreq := joinRequest(group, joinOpts{})
		jreq.Version = v
		jr := e.c.Handle(ctx, jreq).(*kmsg.JoinGroupResponse)
		roundTrip(jr)
		if jr.ErrorCode == kerr.MemberIDRequired.Code {
			jreq.MemberID = jr.MemberID
			jr = e.c.Handle(ctx, jreq).(*kmsg.JoinGroupResponse)
			roundTrip(jr)
		}
		wantCode(t, "join", jr.ErrorCode, 0)

		sreq := syncRequest(group, jr.MemberID, jr.Generation, nil, map[string][]byte{jr.MemberID: assignmentBytes("t", 0)})
		sreq.Version = min(v, sreq.MaxVersion())
		sr := e.c.Handle(ctx, sreq).(*kmsg.SyncGroupResponse)
		roundTrip(sr)
		wantCode(t, "sync", sr.ErrorCode, 0)

		hreq := kmsg.NewPtrHeartbeatRequest()
		hreq.Version = min(v, hreq.MaxVersion())
		hreq.Group, hreq.MemberID, hreq.Generation = group, jr.MemberID, jr.Generation
		hr := e.c.Handle(ctx, hreq).(*kmsg.HeartbeatResponse)
		roundTrip(hr)
		wantCode(t, "heartbeat", hr.ErrorCode, 0)
	}
	for v := int16(0); v <= (&kmsg.OffsetCommitRequest{}).MaxVersion(); v++ {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = v
		req.Group = "commits"
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = "t", [16]byte{1}
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = 1, int64(v)
		rt.Partitions = append(rt.Partitions, p)
		req.Topics = append(req.Topics, rt)
		resp := e.c.Handle(ctx, req).(*kmsg.OffsetCommitResponse)
		roundTrip(resp)
		wantCode(t, "commit", resp.Topics[0].Partitions[0].ErrorCode, 0)
	}
	for v := int16(0); v <= (&kmsg.OffsetFetchRequest{}).MaxVersion(); v++ {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = v
		if v <= 7 {
			req.Group = "commits"
			req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{1}}}
		} else {
			req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "commits", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", TopicID: [16]byte{1}, Partitions: []int32{1}}}}}
		}
		resp := e.c.Handle(ctx, req).(*kmsg.OffsetFetchResponse)
		roundTrip(resp)
		var off int64
		if v <= 7 {
			off = resp.Topics[0].Partitions[0].Offset
		} else {
			off = resp.Groups[0].Topics[0].Partitions[0].Offset
		}
		if off != int64((&kmsg.OffsetCommitRequest{}).MaxVersion()) {
			t.Fatalf("fetch v%d: offset %d", v, off)
		}
	}
	for v := int16(0); v <= (&kmsg.LeaveGroupRequest{}).MaxVersion(); v++ {
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version = v
		req.Group = "ver-" + string(rune('a'+v))
		req.MemberID = "nope"
		req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "nope"}}
		roundTrip(e.c.Handle(ctx, req))
	}
	for v := int16(0); v <= (&kmsg.ListGroupsRequest{}).MaxVersion(); v++ {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = v
		roundTrip(e.c.Handle(ctx, req))
	}
	for v := int16(0); v <= (&kmsg.DescribeGroupsRequest{}).MaxVersion(); v++ {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Version = v
		req.Groups = []string{"ver-a", "commits", "nope"}
		roundTrip(e.c.Handle(ctx, req))
	}
	for v := int16(0); v <= (&kmsg.DeleteGroupsRequest{}).MaxVersion(); v++ {
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Version = v
		req.Groups = []string{"nope", "ver-b"}
		roundTrip(e.c.Handle(ctx, req))
	}
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "commits"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}}}
	roundTrip(e.c.Handle(ctx, od))
	if e.c.Handle(ctx, kmsg.NewPtrMetadataRequest()) != nil || Handles(kmsg.Metadata.Int16()) || !Handles(kmsg.OffsetDelete.Int16()) {
		t.Fatal("Handle/Handles for a request it does not serve")
	}
}
