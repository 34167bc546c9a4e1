package main

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// skipWithoutGroups skips the test while the embedded broker has no group
// coordinator yet (FindCoordinator answers COORDINATOR_NOT_AVAILABLE). A
// broker with groups may answer COORDINATOR_NOT_AVAILABLE briefly while it
// creates __consumer_offsets, so the probe asks for a few seconds before
// giving up; any other answer means groups are there.
func skipWithoutGroups(t *testing.T, c *embeddedbroker.Cluster) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = "kafkaboot-probe"
		req.CoordinatorKeys = []string{"kafkaboot-probe"}
		resp, err := cl.Broker(0).RetriableRequest(ctx, req)
		cancel()
		code := int16(-1)
		if err == nil {
			r := resp.(*kmsg.FindCoordinatorResponse)
			code = r.ErrorCode
			if len(r.Coordinators) > 0 {
				code = r.Coordinators[0].ErrorCode
			}
		}
		if err == nil && !errors.Is(kerr.ErrorForCode(code), kerr.CoordinatorNotAvailable) {
			return
		}
		if time.Now().After(deadline) {
			t.Skip("consumer groups not available in the embedded broker yet")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// describeRows returns the whitespace-separated fields of the data rows of
// groups describe, after checking the header.
func describeRows(t *testing.T, r result) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	header := strings.Fields(lines[0])
	want := []string{"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "LAG-TIME", "CONSUMER-ID", "HOST", "CLIENT-ID"}
	if !slices.Equal(header, want) {
		t.Fatalf("header %q", lines[0])
	}
	var rows [][]string
	for _, l := range lines[1:] {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

// lagTimeCol is the index of LAG-TIME in a row of describeRows.
const lagTimeCol = 6

// checkRow checks a row of describeRows against want, whose LAG-TIME is
// either exact or a range "min..max" of durations that the row's LAG-TIME
// must parse into, since the age of a record depends on timing.
func checkRow(t *testing.T, row, want []string) {
	t.Helper()
	if len(row) != len(want) {
		t.Errorf("row %q, want %q", row, want)
		return
	}
	from, to, isRange := strings.Cut(want[lagTimeCol], "..")
	for i := range want {
		if i == lagTimeCol && isRange {
			continue
		}
		if row[i] != want[i] {
			t.Errorf("row %q, want %q", row, want)
			return
		}
	}
	if !isRange {
		return
	}
	got, err := time.ParseDuration(row[lagTimeCol])
	if err != nil {
		t.Errorf("row %q: LAG-TIME: %v", row, err)
		return
	}
	lo, err1 := time.ParseDuration(from)
	hi, err2 := time.ParseDuration(to)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("bad LAG-TIME range %q: %v", want[lagTimeCol], err)
	}
	if got < lo || got > hi {
		t.Errorf("row %q: LAG-TIME %v not within [%v, %v]", row, got, lo, hi)
	}
}

func TestGroups(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.Topics(1, "gt"))
	skipWithoutGroups(t, c)

	kbc(t, c, "v1\nv2\nv3\nv4\nv5\n", "produce", "--topic", "gt").ok(t)

	// A group consumer commits exactly what it printed.
	r := kbc(t, c, "", "consume", "--topic", "gt", "--group", "g1", "--from-beginning", "--max-messages", "3").ok(t)
	if r.stdout != "v1\nv2\nv3\n" {
		t.Fatalf("first group consume printed %q", r.stdout)
	}

	r = kbc(t, c, "", "groups", "list").ok(t)
	if want := "GROUP  TYPE     STATE  PROTOCOL-TYPE\ng1     classic  Empty  consumer\n"; r.stdout != want {
		t.Fatalf("groups list printed\n%q\nwant\n%q", r.stdout, want)
	}

	r = kbc(t, c, "", "groups", "describe", "--group", "g1").ok(t)
	// The records were produced moments ago: LAG-TIME is some positive
	// time.
	rows := describeRows(t, r)
	if len(rows) != 1 {
		t.Fatalf("describe printed\n%s", r.stdout)
	}
	checkRow(t, rows[0], []string{"g1", "gt", "0", "3", "5", "2", "1ns..1h", "-", "-", "-"})
	if !strings.Contains(r.stderr, "Consumer group 'g1' has no active members.") {
		t.Errorf("describe stderr %q", r.stderr)
	}

	// The next run resumes after the commit; --from-beginning does not
	// matter for a partition with a committed offset.
	r = kbc(t, c, "", "consume", "--topic", "gt", "--group", "g1", "--from-beginning", "--max-messages", "2").ok(t)
	if r.stdout != "v4\nv5\n" {
		t.Fatalf("second group consume printed %q", r.stdout)
	}
	r = kbc(t, c, "", "groups", "describe", "--group", "g1").ok(t)
	if rows := describeRows(t, r); !slices.Equal(rows[0], []string{"g1", "gt", "0", "5", "5", "0", "0s", "-", "-", "-"}) {
		t.Fatalf("describe after second consume printed\n%s", r.stdout)
	}

	// Interrupted, a group consumer commits what it printed.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"consume", "--topic", "gt", "--group", "g2", "--from-beginning", "--bootstrap-server", strings.Join(c.Addrs(), ",")},
			strings.NewReader(""), &out, &errb)
	}()
	waitFor(t, "five records", 15*time.Second, func() bool { return out.String() == "v1\nv2\nv3\nv4\nv5\n" })
	// While it runs, the group is Stable and the member shows up.
	r = kbc(t, c, "", "groups", "describe", "--group", "g2").ok(t)
	if rows := describeRows(t, r); len(rows) != 1 || rows[0][7] == "-" || rows[0][9] != "kafkaboot" {
		t.Fatalf("describe of active group printed\n%s", r.stdout)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("interrupted group consumer: exit %d, stderr %q", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("group consumer did not stop")
	}
	r = kbc(t, c, "", "groups", "describe", "--group", "g2").ok(t)
	if rows := describeRows(t, r); !slices.Equal(rows[0][:7], []string{"g2", "gt", "0", "5", "5", "0", "0s"}) {
		t.Fatalf("describe after interrupt printed\n%s", r.stdout)
	}

	r = kbc(t, c, "", "groups", "delete", "--group", "g1", "--group", "g2").ok(t)
	if want := "Deletion of requested consumer groups ('g1', 'g2') was successful.\n"; r.stdout != want {
		t.Fatalf("delete printed %q", r.stdout)
	}
	if r := kbc(t, c, "", "groups", "list").ok(t); r.stdout != "" {
		t.Fatalf("list after delete printed %q", r.stdout)
	}
	r = kbc(t, c, "", "groups", "describe", "--group", "nope")
	if r.code != 1 || !strings.Contains(r.stderr, `consumer group "nope" does not exist`) {
		t.Fatalf("describe of unknown group: exit %d, stderr %q", r.code, r.stderr)
	}
	r = kbc(t, c, "", "groups", "delete", "--group", "nope")
	if r.code != 1 || !strings.Contains(r.stderr, "GROUP_ID_NOT_FOUND") {
		t.Fatalf("delete of unknown group: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestGroupsLagTime: LAG-TIME dates the record at the committed offset by
// its timestamp, or the first record after it when retention deleted it;
// is 0s when only a transaction marker is left; and is found for two
// groups at different offsets of one partition in one describe.
func TestGroupsLagTime(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(4, "lt"))
	skipWithoutGroups(t, c)
	ctx := t.Context()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionalID("lt-tx"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	// One transaction writes records stamped 2h, 1h and 1h ago to
	// partition 0, two fresh ones to partition 1, ones stamped 3h, 2h and
	// 30m ago to partition 2 (retention then deletes the first two), and
	// one to partition 3; each partition ends with the commit marker.
	now := time.Now()
	var recs []*kgo.Record
	for _, r := range []struct {
		partition int32
		age       time.Duration
	}{{0, 2 * time.Hour}, {0, time.Hour}, {0, time.Hour}, {1, 0}, {1, 0}, {2, 3 * time.Hour}, {2, 2 * time.Hour}, {2, 30 * time.Minute}} {
		recs = append(recs, &kgo.Record{Topic: "lt", Partition: r.partition, Value: []byte("v"), Timestamp: now.Add(-r.age)})
	}
	recs = append(recs, &kgo.Record{Topic: "lt", Partition: 3, Value: []byte("v")})
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the transaction markers", 10*time.Second, func() bool {
		ends, err := adm.ListEndOffsets(ctx, "lt")
		if err != nil {
			return false
		}
		want := map[int32]int64{0: 4, 1: 3, 2: 4, 3: 2}
		for p, end := range want {
			if o, ok := ends.Lookup("lt", p); !ok || o.Err != nil || o.Offset != end {
				return false
			}
		}
		return true
	})
	before := make(kadm.Offsets)
	before.AddOffset("lt", 2, 2, -1)
	deleted, err := adm.DeleteRecords(ctx, before)
	if err == nil {
		err = deleted.Error()
	}
	if err != nil {
		t.Fatal(err)
	}

	commit := func(group string, offsets map[int32]int64) {
		t.Helper()
		offs := make(kadm.Offsets)
		for p, o := range offsets {
			offs.AddOffset("lt", p, o, -1)
		}
		resp, err := adm.CommitOffsets(ctx, group, offs)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("committing for %s: %v", group, err)
		}
	}
	commit("lt1", map[int32]int64{0: 1, 1: 3, 2: 0, 3: 1})
	commit("lt2", map[int32]int64{0: 0, 2: 0})

	r := kbc(t, c, "", "groups", "describe", "--group", "lt1", "--group", "lt2").ok(t)
	rows := describeRows(t, r)
	want := [][]string{
		{"lt1", "lt", "0", "1", "4", "3", "59m..61m", "-", "-", "-"},   // the record at 1, not the older one at 0
		{"lt1", "lt", "1", "3", "3", "0", "0s", "-", "-", "-"},         // caught up
		{"lt1", "lt", "2", "0", "4", "4", "29m..31m", "-", "-", "-"},   // the first record left, at 2
		{"lt1", "lt", "3", "1", "2", "1", "0s", "-", "-", "-"},         // only the marker is left
		{"lt2", "lt", "0", "0", "4", "4", "119m..121m", "-", "-", "-"}, // the record at 0, read beside lt1's at 1
		{"lt2", "lt", "1", "-", "3", "-", "-", "-", "-", "-"},          // nothing committed
		{"lt2", "lt", "2", "0", "4", "4", "29m..31m", "-", "-", "-"},
		{"lt2", "lt", "3", "-", "2", "-", "-", "-", "-", "-"},
	}
	if len(rows) != len(want) {
		t.Fatalf("describe printed\n%s", r.stdout)
	}
	for i := range want {
		checkRow(t, rows[i], want[i])
	}
	if t.Failed() {
		t.Logf("describe printed\n%s", r.stdout)
	}
}

// TestLagAgesDeadline: a partition that gives no record by the deadline is
// left out of the ages (LAG-TIME "-") and does not hold up another read
// beside it.
func TestLagAgesDeadline(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(2, "ld"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ts := time.Now().Add(-time.Minute)
	if err := cl.ProduceSync(t.Context(),
		&kgo.Record{Topic: "ld", Partition: 0, Value: []byte("v"), Timestamp: ts},
		&kgo.Record{Topic: "ld", Partition: 1, Value: []byte("v"), Timestamp: ts},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	behind := func(p int32, at, end int64) kadm.GroupMemberLag {
		return kadm.GroupMemberLag{Topic: "ld", Partition: p, Commit: kadm.Offset{Topic: "ld", Partition: p, At: at},
			End: kadm.ListedOffset{Topic: "ld", Partition: p, Offset: end}, Lag: end - at}
	}
	// Partition 1 claims records behind offset 1, where its log ends.
	lag := kadm.GroupLag{"ld": {0: behind(0, 0, 1), 1: behind(1, 1, 3)}}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	ages, err := lagAges(ctx, []kgo.Opt{kgo.SeedBrokers(c.Addrs()...)}, lag)
	if err != nil {
		t.Fatal(err)
	}
	if age, ok := ages[partitionOffset{"ld", 0, 0}]; !ok || age < 59*time.Second || age > 61*time.Second {
		t.Errorf("age of ld[0] at 0: %v (found %v), want about 1m", age, ok)
	}
	if age, ok := ages[partitionOffset{"ld", 1, 1}]; ok {
		t.Errorf("ld[1] at 1, where nothing can be read, has age %v", age)
	}
}

func TestFormatLagTime(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-2 * time.Second, "0s"}, // a timestamp in the future
		{400 * time.Microsecond, "0s"},
		{850*time.Millisecond + 300*time.Microsecond, "850ms"},
		{999*time.Millisecond + 600*time.Microsecond, "1s"},
		{83*time.Second + 400*time.Millisecond, "1m23s"},
		{time.Hour + 600*time.Millisecond, "1h0m1s"},
	} {
		if got := formatLagTime(tt.d); got != tt.want {
			t.Errorf("formatLagTime(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestGroupsConsumerProtocol: a group of KIP-848's protocol (consume
// --group-protocol consumer) is listed with its type, described with its
// epochs (--state, --members) and its lag like a classic group.
func TestGroupsConsumerProtocol(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.Topics(2, "gc"))
	skipWithoutGroups(t, c)
	kbc(t, c, "v1\nv2\nv3\nv4\n", "produce", "--topic", "gc").ok(t)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"consume", "--topic", "gc", "--group", "g848", "--group-protocol", "consumer", "--from-beginning",
			"--bootstrap-server", strings.Join(c.Addrs(), ",")}, strings.NewReader(""), &out, &errb)
	}()
	waitFor(t, "four records", 15*time.Second, func() bool { return strings.Count(out.String(), "\n") == 4 })
	var state []string
	waitFor(t, "the group to be Stable", 15*time.Second, func() bool {
		r := kbc(t, c, "", "groups", "describe", "--group", "g848", "--state").ok(t)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		state = strings.Fields(lines[len(lines)-1])
		return len(lines) == 2 && state[2] == "Stable"
	})
	// GROUP TYPE STATE ASSIGNOR GROUP-EPOCH ASSIGNMENT-EPOCH #MEMBERS
	if state[0] != "g848" || state[1] != "consumer" || state[3] != "uniform" || state[4] == "-" || state[4] != state[5] || state[6] != "1" {
		t.Fatalf("describe --state printed %q", state)
	}
	r := kbc(t, c, "", "groups", "describe", "--group", "g848", "--members").ok(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	// GROUP CONSUMER-ID GROUP-INSTANCE-ID HOST CLIENT-ID #PARTITIONS MEMBER-EPOCH ASSIGNMENT
	if m := strings.Fields(lines[len(lines)-1]); len(lines) != 2 || m[4] != "kafkaboot" || m[5] != "2" || m[6] != state[4] || m[7] != "gc:0,1" {
		t.Fatalf("describe --members printed\n%s", r.stdout)
	}
	r = kbc(t, c, "", "groups", "list").ok(t)
	if !strings.Contains(r.stdout, "g848   consumer  Stable  consumer") {
		t.Fatalf("groups list printed\n%s", r.stdout)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("consumer: exit %d, stderr %q", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("consumer did not stop")
	}
	r = kbc(t, c, "", "groups", "describe", "--group", "g848").ok(t)
	rows := describeRows(t, r)
	if len(rows) == 0 || !strings.Contains(r.stderr, "has no active members") {
		t.Fatalf("describe after the consumer left printed\n%s\n%s", r.stdout, r.stderr)
	}
	committed := 0
	for _, row := range rows {
		if row[5] != "0" || row[7] != "-" {
			t.Fatalf("describe after the consumer left printed row %q of\n%s", row, r.stdout)
		}
		n, _ := strconv.Atoi(row[3])
		committed += n
	}
	if committed != 4 {
		t.Fatalf("committed %d records, want 4:\n%s", committed, r.stdout)
	}
	// The group, empty now, stays a consumer group with its epochs.
	r = kbc(t, c, "", "groups", "describe", "--group", "g848", "--state").ok(t)
	if f := strings.Fields(strings.Split(strings.TrimSpace(r.stdout), "\n")[1]); f[2] != "Empty" || f[6] != "0" {
		t.Fatalf("describe --state of the empty group printed\n%s", r.stdout)
	}
}
