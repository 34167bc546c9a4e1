package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
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

// The child process of TestOrderingKeyProcessKilled reads these.
const (
	envKilledBrokers = "KAFKABOOT_KEYED_KILL_BROKERS"
	envKilledFile    = "KAFKABOOT_KEYED_KILL_FILE"
)

// TestOrderingKeyProcessKilled: a listener with ordering=key,workers=16
// runs in a child process, handling 100 keys x 100 records of one
// partition with handlers of 1-3 ms that finish out of order, and writing
// each finished offset to a file (fsynced before the handler returns).
// The child commits every 20 ms (ack=time), while its lanes are in the
// middle of a chunk, and is killed with SIGKILL mid-run: only the commits
// it made while running count. Every offset below the group's committed offset must be
// in the file: commits never pass a record not finished. A second run in
// the same group then handles the rest, each key in order, nothing lost.
func TestOrderingKeyProcessKilled(t *testing.T) {
	if brokers := os.Getenv(envKilledBrokers); brokers != "" {
		keyedKillChild(strings.Split(brokers, ","), os.Getenv(envKilledFile))
		return
	}
	const keys, per = 100, 100
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "keyed-kill"))
	ctx := fwCtx(t)
	var rs []*kgo.Record
	for s := range per {
		for k := range keys {
			rs = append(rs, &kgo.Record{Topic: "keyed-kill", Key: []byte("k" + strconv.Itoa(k)), Value: []byte(strconv.Itoa(s))})
		}
	}
	fwProduceRaw(t, ctx, c.Addrs(), rs...)
	adm := fwAdmin(t, c.Addrs())

	file := t.TempDir() + "/finished"
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrderingKeyProcessKilled$")
	cmd.Env = append(os.Environ(), envKilledBrokers+"="+strings.Join(c.Addrs(), ","), envKilledFile+"="+file)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	finished := func() map[int64]bool {
		f, err := os.Open(file)
		if err != nil {
			return nil
		}
		defer f.Close()
		out := map[int64]bool{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if o, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
				out[o] = true
			}
		}
		return out
	}
	committed := func() int64 {
		offs, err := adm.FetchOffsets(ctx, "g-keyed-kill")
		if err != nil {
			return -1
		}
		o, _ := offs.Lookup("keyed-kill", 0)
		return o.At
	}
	fwWait(t, ctx, "3000 records finished and a commit made in the child", func() (bool, string) {
		n, at := len(finished()), committed()
		return n >= 3000 && at > 0, fmt.Sprintf("%d finished, committed %d", n, at)
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	done := finished()
	at := committed()
	lowest := int64(-1)
	for o := int64(0); o < keys*per; o++ {
		if !done[o] {
			lowest = o
			break
		}
	}
	t.Logf("killed the child after %d records finished; committed offset %d; lowest unfinished offset %d", len(done), at, lowest)
	if at <= 0 || at >= keys*per {
		t.Fatalf("committed %d: the kill did not interrupt the run", at)
	}
	for o := int64(0); o < at; o++ {
		if !done[o] {
			t.Fatalf("committed %d, but the record at offset %d was never finished", at, o)
		}
	}

	// The second run resumes from the commit: every key's records come in
	// order, and with the first run's everything is handled.
	var (
		mu      sync.Mutex
		last    = map[string]int{}
		handled = map[int64]bool{}
		broken  []string
	)
	ep := &listener.Endpoint{ID: "keyed-kill-2", Group: "g-keyed-kill", Topics: []string{"keyed-kill"},
		Ordering: listener.OrderKey, Workers: 16,
		Handler: listener.RecordFunc[string](func(_ context.Context, r *listener.Record[string]) error {
			s, _ := strconv.Atoi(r.Value)
			mu.Lock()
			defer mu.Unlock()
			if prev, ok := last[string(r.Key)]; ok && s != prev+1 {
				broken = append(broken, fmt.Sprintf("%s:%d after %d", r.Key, s, prev))
			}
			last[string(r.Key)] = s
			handled[r.Offset] = true
			return nil
		})}
	ctr, err := container.New(ep, container.WithClientOpts(kgo.SeedBrokers(c.Addrs()...), kgo.FetchMaxWait(50*time.Millisecond),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(200*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), container.WithLogger(fwLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := ctr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer ctr.Stop(context.Background())
	fwWait(t, ctx, "the second run to reach the end", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return handled[keys*per-1] && len(handled) >= int(keys*per-at), fmt.Sprintf("%d handled", len(handled))
	})
	mu.Lock()
	defer mu.Unlock()
	if len(broken) > 0 {
		t.Fatalf("out of order in the second run: %v", broken[:min(5, len(broken))])
	}
	missing := 0
	for o := int64(0); o < keys*per; o++ {
		if !done[o] && !handled[o] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d records handled by neither run", missing)
	}
	again := 0
	for o := range handled {
		if done[o] {
			again++
		}
	}
	t.Logf("second run: %d records from offset %d, each key in order; %d finished by the killed run came again (at least once), none lost", len(handled), at, again)
}

// keyedKillChild is the child process: it runs the listener until killed.
func keyedKillChild(brokers []string, file string) {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	ep := &listener.Endpoint{ID: "keyed-kill", Group: "g-keyed-kill", Topics: []string{"keyed-kill"},
		Ordering: listener.OrderKey, Workers: 16,
		Handler: listener.RecordFunc[string](func(_ context.Context, r *listener.Record[string]) error {
			time.Sleep(time.Duration(1+r.Offset%3) * time.Millisecond) // lanes finish out of order
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(f, "%d\n", r.Offset)
			return f.Sync()
		})}
	ctr, err := container.New(ep, container.WithClientOpts(kgo.SeedBrokers(brokers...), kgo.FetchMaxWait(50*time.Millisecond),
		// A short session: the killed member leaves the group soon.
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(200*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), container.WithLogger(fwLogger()), container.WithMaxPollRecords(200),
		// Commits every 20 ms, while the lanes are mid-chunk: the
		// commit must stop at the first record not finished.
		container.WithAckMode(listener.AckTime), container.WithAckTime(20*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := ctr.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	select {} // until killed
}
