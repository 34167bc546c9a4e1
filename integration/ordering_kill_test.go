package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/listener"
)

// The child process of TestOrderingKeyKilled is this test binary run again
// with these variables set: the bootstrap addresses, the file it appends
// its progress to, and its ack mode.
const (
	envOrderKillChild = "KAFKABOOT_ORDERING_KILL_CHILD"
	envOrderKillFile  = "KAFKABOOT_ORDERING_KILL_FILE"
	envOrderKillAck   = "KAFKABOOT_ORDERING_KILL_ACK"
)

const (
	orderKillTopic = "ordering-kill"
	orderKillGroup = "g-kill"
	// orderKillKeys keys of orderKillPer records each, interleaved on one
	// partition: offset seq*orderKillKeys+key.
	orderKillKeys  = 100
	orderKillPer   = 100
	orderKillTotal = orderKillKeys * orderKillPer
	// orderKillAfter is how many records the child must have finished
	// before it is killed.
	orderKillAfter = 3000
)

// TestOrderingKeyKilled proves that with per-key ordered parallelism
// (ordering=key, workers=16) commits never go past an unfinished record,
// with a real kill in the middle.
//
// One partition holds 100 keys x 100 records, keys interleaved. A child
// process (this test binary again) consumes it in group g-kill with
// ordering=key, workers=16. Its handler sleeps 1-3 ms, varying per
// record so that lanes finish out of order. It checks each key's sequence
// and then appends the record's offset to a file, fsynced before it
// returns. Every commit the child makes is also appended, as "c <offset>",
// from the container's commit listener. The parent SIGKILLs the child
// once 3000 records are finished and something is committed, so no stop
// path commits anything: only the commits made while running count.
//
// Then every offset below the group's committed offset must be in the
// file. The file's order is also checked against each commit the child
// logged: every offset below that commit was finished before it. A second
// run in the same group then resumes at the committed offset. It handles
// every key in order, and together with the first run it covers all
// 10000 records (at least once).
//
// It runs with the default ack mode (ack=batch, chunks of 100 records
// committed asynchronously as each is finished, while the next one is
// under way) and with ack=time every 10 ms, which commits while the lanes
// are in the middle of a chunk.
func TestOrderingKeyKilled(t *testing.T) {
	if addrs := os.Getenv(envOrderKillChild); addrs != "" {
		orderKillChild(strings.Split(addrs, ","), os.Getenv(envOrderKillFile), os.Getenv(envOrderKillAck))
		return // not reached: the child runs until killed
	}
	for _, ack := range []string{"batch", "time"} {
		t.Run("ack="+ack, func(t *testing.T) { orderKillRun(t, ack) })
	}
}

// orderKillRun is one kill and resume with the child's ack mode ack.
func orderKillRun(t *testing.T, ack string) {
	c := embeddedbroker.StartForTest(t,
		embeddedbroker.DataDir(t.TempDir()),
		embeddedbroker.Topics(1, orderKillTopic),
		// The killed member's session (1 s) must be allowed.
		embeddedbroker.BrokerConfig("group.min.session.timeout.ms", "100"),
	)
	ctx := fwCtx(t)
	addrs := c.Addrs()

	var rs []*kgo.Record
	for s := range orderKillPer {
		for k := range orderKillKeys {
			key := "key-" + strconv.Itoa(k)
			rs = append(rs, &kgo.Record{Topic: orderKillTopic, Partition: 0, Key: []byte(key), Value: []byte(key + "/" + strconv.Itoa(s))})
		}
	}
	fwProduceRaw(t, ctx, addrs, rs...)
	adm := fwAdmin(t, addrs)
	if ends := fwEnds(t, ctx, adm, orderKillTopic); ends[0] != orderKillTotal {
		t.Fatalf("end offsets %v, want partition 0 at %d", ends, orderKillTotal)
	}

	// The child.
	file := filepath.Join(t.TempDir(), "finished")
	var out bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrderingKeyKilled$")
	cmd.Env = append(os.Environ(),
		envOrderKillChild+"="+strings.Join(addrs, ","), envOrderKillFile+"="+file, envOrderKillAck+"="+ack)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the status is read from cmd.ProcessState
		close(exited)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("child output:\n%s", out.String())
		}
	})
	t.Cleanup(func() { // never leave the child behind
		_ = cmd.Process.Kill()
		<-exited
	})

	fwWait(t, ctx, fmt.Sprintf("the child to finish %d records and commit", orderKillAfter), func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("the child exited before it was killed: %v", cmd.ProcessState)
		default:
		}
		n := orderKillFinishedLines(file)
		at, err := fwCommitted(ctx, adm, orderKillGroup, orderKillTopic)
		if err != nil {
			return false, fmt.Sprintf("%d finished; fetching offsets: %v", n, err)
		}
		return n >= orderKillAfter && at[0] > 0, fmt.Sprintf("%d finished, committed %v", n, at)
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-exited
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child ended with %v, not by SIGKILL", cmd.ProcessState)
	}

	// The dead member's session expires; after that no commit of the
	// child can land, so the committed offset is final.
	fwWait(t, ctx, "the killed member to leave "+orderKillGroup, func() (bool, string) {
		gs, err := adm.DescribeGroups(ctx, orderKillGroup)
		if err != nil {
			return false, err.Error()
		}
		g := gs[orderKillGroup]
		return g.Err == nil && g.State == "Empty", fmt.Sprintf("state %q, %d members, err %v", g.State, len(g.Members), g.Err)
	})
	run1, err := orderKillParse(file)
	if err != nil {
		t.Fatal(err)
	}
	at, ok := fwMustCommitted(t, ctx, adm, orderKillGroup, orderKillTopic)[0]
	if !ok {
		t.Fatalf("nothing committed for %s[0]", orderKillTopic)
	}
	lowest := int64(orderKillTotal)
	for o := range int64(orderKillTotal) {
		if run1.finished[o] == 0 {
			lowest = o
			break
		}
	}
	t.Logf("ack=%s: killed the child with %d records finished (%d finished beyond the committed offset); committed offset %d; lowest unfinished offset %d",
		ack, len(run1.finished), run1.beyond(at), at, lowest)
	t.Logf("ack=%s: the child logged %d commits (last %d), %d of them with records past the commit point already finished (at most %d)",
		ack, run1.commits, run1.lastCommit, run1.heldBack, run1.maxAhead)
	for _, b := range run1.bad {
		t.Errorf("first run: %s", b)
	}
	for o, n := range run1.finished {
		if n > 1 {
			t.Errorf("first run: offset %d finished %d times", o, n)
		}
	}
	if at <= 0 || at >= orderKillTotal {
		t.Fatalf("committed offset %d: want 0 < C < %d (a run really interrupted)", at, orderKillTotal)
	}
	if lowest < at {
		t.Fatalf("committed offset %d is past the unfinished record at offset %d", at, lowest)
	}
	if run1.lastCommit > at {
		t.Errorf("the child logged a commit of %d, but the group's committed offset is %d", run1.lastCommit, at)
	}

	// The second run, in this process, from the commit to the end.
	var (
		mu      sync.Mutex
		last    = map[string]int{}
		handled = map[int64]int{}
		broken  []string
	)
	ep := &listener.Endpoint{ID: "ordering-kill-2", Group: orderKillGroup, Topics: []string{orderKillTopic},
		Ordering: listener.OrderKey, Workers: 16,
		Handler: listener.RecordFunc[string](func(_ context.Context, r *listener.Record[string]) error {
			mu.Lock()
			defer mu.Unlock()
			handled[r.Offset]++
			key, s, err := orderKillValue(r)
			if err != nil {
				broken = append(broken, err.Error())
				return nil
			}
			// The run starts anywhere in a key's sequence, then
			// goes on one by one.
			if prev, ok := last[key]; ok && s != prev+1 {
				broken = append(broken, fmt.Sprintf("offset %d: %s/%d after /%d", r.Offset, key, s, prev))
			}
			last[key] = s
			return nil
		})}
	ctr, err := container.New(ep,
		container.WithClientOpts(kgo.SeedBrokers(addrs...), kgo.FetchMaxWait(50*time.Millisecond),
			kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100*time.Millisecond),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
		container.WithLogger(fwLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := ctr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = ctr.Stop(context.Background())
		}
	})
	fwWait(t, ctx, "the second run to handle the records from the commit to the end", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		missing := 0
		for o := at; o < orderKillTotal; o++ {
			if handled[o] == 0 {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d handled, %d of [%d, %d) missing", len(handled), missing, at, orderKillTotal)
	})
	fwWaitCommitted(t, ctx, adm, orderKillGroup, orderKillTopic, map[int32]int64{0: orderKillTotal})
	stopped = true
	if err := ctr.Stop(ctx); err != nil {
		t.Errorf("stopping the second run: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, b := range broken[:min(len(broken), 10)] {
		t.Errorf("second run: %s", b)
	}
	if len(broken) > 10 {
		t.Errorf("second run: %d order errors in all", len(broken))
	}
	first, again, twice := int64(orderKillTotal), 0, 0
	for o, n := range handled {
		first = min(first, o)
		if run1.finished[o] > 0 {
			again++
		}
		if n > 1 {
			twice++
		}
	}
	if first != at {
		t.Errorf("the second run started at offset %d, want the committed %d", first, at)
	}
	if twice > 0 {
		t.Errorf("the second run handled %d records more than once", twice)
	}
	missing := 0
	for o := range int64(orderKillTotal) {
		if run1.finished[o] == 0 && handled[o] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d records handled by neither run", missing)
	}
	t.Logf("ack=%s: second run handled %d records from offset %d, each key in order; %d finished by the killed run came again; %d records lost",
		ack, len(handled), first, again, missing)
}

// orderKillValue reads a record's value "key-<k>/<seq>", which must name
// its key.
func orderKillValue(r *listener.Record[string]) (string, int, error) {
	key, seq, ok := strings.Cut(r.Value, "/")
	s, err := strconv.Atoi(seq)
	if !ok || err != nil || key != string(r.Key) {
		return "", 0, fmt.Errorf("offset %d: value %q with key %q", r.Offset, r.Value, r.Key)
	}
	return key, s, nil
}

// orderKillChild is the child process: it consumes the topic in the group
// until it is killed, appending to file "<offset>" for every record
// finished, "c <offset>" for every commit and "bad <what>" for every
// record out of its key's order.
func orderKillChild(addrs []string, file, ack string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "ordering-kill child:", err)
		os.Exit(2)
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fail(err)
	}
	// One write per line: O_APPEND keeps lines whole and in the order of
	// the writes.
	write := func(line string) {
		if _, err := f.WriteString(line); err != nil {
			fail(err)
		}
		if err := f.Sync(); err != nil {
			fail(err)
		}
	}
	var (
		mu   sync.Mutex
		last = map[string]int{}
	)
	ep := &listener.Endpoint{ID: "ordering-kill", Group: orderKillGroup, Topics: []string{orderKillTopic},
		Ordering: listener.OrderKey, Workers: 16,
		Handler: listener.RecordFunc[string](func(_ context.Context, r *listener.Record[string]) error {
			// The work: 1 to 3 ms, varying per record, so that lanes
			// finish out of order.
			time.Sleep(time.Millisecond + time.Duration(r.Offset*7919%2001)*time.Microsecond)
			key, s, err := orderKillValue(r)
			if err == nil {
				mu.Lock()
				prev, seen := last[key]
				last[key] = s
				mu.Unlock()
				// From the start of the partition: each key from 0, one
				// by one.
				want := 0
				if seen {
					want = prev + 1
				}
				if s != want {
					err = fmt.Errorf("offset %d: %s/%d, want /%d", r.Offset, key, s, want)
				}
			}
			if err != nil {
				write("bad " + err.Error() + "\n")
			}
			// Finished: on disk before the handler returns, so before
			// its offset can be committed.
			write(strconv.FormatInt(r.Offset, 10) + "\n")
			return nil
		})}
	opts := []container.Option{
		container.WithClientOpts(kgo.SeedBrokers(addrs...), kgo.FetchMaxWait(50*time.Millisecond),
			// A short session: the killed member leaves the group soon.
			kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100*time.Millisecond),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
		container.WithLogger(fwLogger()),
		container.WithCommitListener(func(e container.CommitEvent) {
			if o, ok := e.Offsets[orderKillTopic][0]; ok && e.Err == nil {
				write("c " + strconv.FormatInt(o, 10) + "\n")
			}
		}),
	}
	switch ack {
	case "batch":
		// The default ack mode; chunks of 100 records, so a commit
		// after every 100.
		opts = append(opts, container.WithMaxPollRecords(100))
	case "time":
		// Commits every 10 ms, while the lanes are in the middle of a
		// chunk (500 records).
		opts = append(opts, container.WithAckMode(listener.AckTime), container.WithAckTime(10*time.Millisecond))
	default:
		fail(fmt.Errorf("unknown ack mode %q", ack))
	}
	ctr, err := container.New(ep, opts...)
	if err != nil {
		fail(err)
	}
	if err := ctr.Start(context.Background()); err != nil {
		fail(err)
	}
	// Until killed; gone after the test's bound if the parent vanished.
	time.Sleep(2 * fwTimeout)
	fail(fmt.Errorf("not killed within %v", 2*fwTimeout))
}

// orderKillFinishedLines counts the finished lines of the child's file
// (0 before it exists).
func orderKillFinishedLines(file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	n := 0
	for line := range bytes.Lines(b) {
		if len(line) > 1 && line[0] >= '0' && line[0] <= '9' {
			n++
		}
	}
	return n
}

// orderKillRun1 is what the child's file says of the first run.
type orderKillRun1 struct {
	finished   map[int64]int // times each offset was finished
	bad        []string      // order errors, and commits past an unfinished record
	commits    int           // commits logged
	lastCommit int64
	// heldBack counts the commits made while records after the commit
	// point were already finished (the commit stopped at an unfinished
	// record); maxAhead is the most such records at one commit.
	heldBack, maxAhead int
}

// beyond returns how many finished offsets are at or after at.
func (r *orderKillRun1) beyond(at int64) int {
	n := 0
	for o := range r.finished {
		if o >= at {
			n++
		}
	}
	return n
}

// orderKillParse reads the child's file in order. At every logged commit
// of offset c, each offset below c must have been finished before.
func orderKillParse(file string) (*orderKillRun1, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	r := &orderKillRun1{finished: map[int64]int{}}
	prefix := int64(0) // lowest offset not finished so far
	for line := range bytes.Lines(b) {
		if !bytes.HasSuffix(line, []byte("\n")) {
			break // a write cut by the kill (never seen: writes are whole)
		}
		s := string(bytes.TrimSuffix(line, []byte("\n")))
		switch {
		case strings.HasPrefix(s, "bad "):
			r.bad = append(r.bad, s[len("bad "):])
		case strings.HasPrefix(s, "c "):
			c, err := strconv.ParseInt(s[len("c "):], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", s, err)
			}
			r.commits++
			r.lastCommit = c
			if c > prefix {
				r.bad = append(r.bad, fmt.Sprintf("commit of %d while offset %d was not finished", c, prefix))
			}
			ahead := 0
			for o := range r.finished {
				if o >= c {
					ahead++
				}
			}
			if ahead > 0 {
				r.heldBack++
				r.maxAhead = max(r.maxAhead, ahead)
			}
		default:
			o, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", s, err)
			}
			r.finished[o]++
			for r.finished[prefix] > 0 {
				prefix++
			}
		}
	}
	return r, nil
}
