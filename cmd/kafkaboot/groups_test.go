package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
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
	want := []string{"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"}
	if !slices.Equal(header, want) {
		t.Fatalf("header %q", lines[0])
	}
	var rows [][]string
	for _, l := range lines[1:] {
		rows = append(rows, strings.Fields(l))
	}
	return rows
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
	if want := "GROUP  STATE  PROTOCOL-TYPE\ng1     Empty  consumer\n"; r.stdout != want {
		t.Fatalf("groups list printed\n%q\nwant\n%q", r.stdout, want)
	}

	r = kbc(t, c, "", "groups", "describe", "--group", "g1").ok(t)
	if rows := describeRows(t, r); !slices.Equal(rows[0], []string{"g1", "gt", "0", "3", "5", "2", "-", "-", "-"}) || len(rows) != 1 {
		t.Fatalf("describe printed\n%s", r.stdout)
	}
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
	if rows := describeRows(t, r); !slices.Equal(rows[0], []string{"g1", "gt", "0", "5", "5", "0", "-", "-", "-"}) {
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
	if rows := describeRows(t, r); len(rows) != 1 || rows[0][6] == "-" || rows[0][8] != "kafkaboot" {
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
	if rows := describeRows(t, r); !slices.Equal(rows[0][:6], []string{"g2", "gt", "0", "5", "5", "0"}) {
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
