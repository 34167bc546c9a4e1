package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// deadLetters writes n dead letters of orders records (keys k-<i>) to
// orders.DLT, starting at i0.
func deadLetters(t *testing.T, cl *kgo.Client, i0, n int) {
	t.Helper()
	for i := i0; i < i0+n; i++ {
		orig := &kgo.Record{Topic: "orders", Partition: int32(i % 3), Offset: int64(100 + i), Key: []byte(fmt.Sprintf("k-%d", i)),
			Value: []byte(fmt.Sprintf(`{"n":%d}`, i)), Timestamp: time.Now()}
		dl := container.DeadLetter(orig, "orders.DLT", "billing", errors.New(fmt.Sprintf("boom %d", i)))
		if err := cl.ProduceSync(context.Background(), dl).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// readCommitted reads the records of topic (read_committed) until it has
// n, and then a little longer to see that no more come.
func readCommitted(t *testing.T, c *embeddedbroker.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(out), n, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// TestDLT: dlt list shows where each dead letter came from and why; dlt
// redrive sends each back once to its original topic (a second run sends
// nothing; later dead letters go in a later run); --dry-run and filters.
func TestDLT(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(3, "orders", "orders.DLT"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadLetters(t, cl, 0, 5)

	r := kbc(t, c, "", "dlt", "list", "--topic", "orders.DLT").ok(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "PARTITION  OFFSET  KEY  ORIGINAL") {
		t.Fatalf("dlt list printed\n%s", r.stdout)
	}
	for i := range 5 {
		want := fmt.Sprintf("k-%d  orders-%d@%d", i, i%3, 100+i)
		if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, fmt.Sprintf("boom %d", i)) {
			t.Errorf("dlt list lacks %q / boom %d:\n%s", want, i, r.stdout)
		}
	}

	r = kbc(t, c, "", "dlt", "redrive", "--topic", "orders.DLT", "--dry-run").ok(t)
	if !strings.Contains(r.stdout, "Would re-drive 5 of 5 dead letters (0 skipped).") {
		t.Fatalf("dry run printed\n%s", r.stdout)
	}
	r = kbc(t, c, "", "dlt", "redrive", "--topic", "orders.DLT", "--group", "only-k2", "--key", "k-2").ok(t)
	if !strings.Contains(r.stdout, "Re-drove 1 of 5 dead letters (4 skipped).") {
		t.Fatalf("filtered run printed\n%s", r.stdout)
	}
	if got := readCommitted(t, c, "orders", 1); string(got[0].Key) != "k-2" {
		t.Fatalf("the filtered run sent %q", got[0].Key)
	}

	r = kbc(t, c, "", "dlt", "redrive", "--topic", "orders.DLT").ok(t)
	if !strings.Contains(r.stdout, "Re-drove 5 of 5 dead letters (0 skipped).") {
		t.Fatalf("redrive printed\n%s", r.stdout)
	}
	r = kbc(t, c, "", "dlt", "redrive", "--topic", "orders.DLT").ok(t)
	if !strings.Contains(r.stdout, "Re-drove 0 of 0 dead letters") {
		t.Fatalf("a second run printed\n%s", r.stdout)
	}
	deadLetters(t, cl, 5, 2)
	r = kbc(t, c, "", "dlt", "redrive", "--topic", "orders.DLT").ok(t)
	if !strings.Contains(r.stdout, "Re-drove 2 of 2 dead letters (0 skipped).") {
		t.Fatalf("a run after two more dead letters printed\n%s", r.stdout)
	}

	// orders: k-2 from the filtered run, then k-0..k-6 once each.
	got := readCommitted(t, c, "orders", 8)
	count := map[string]int{}
	for _, rec := range got {
		count[string(rec.Key)]++
		var redrives string
		for _, h := range rec.Headers {
			if h.Key == container.HeaderRedriveCount {
				redrives = string(h.Value)
			}
		}
		if redrives != "1" {
			t.Errorf("%s has %s=%q, want 1", rec.Key, container.HeaderRedriveCount, redrives)
		}
	}
	for i := range 7 {
		want := 1
		if i == 2 {
			want = 2 // once by the filtered run's own group
		}
		if k := fmt.Sprintf("k-%d", i); count[k] != want {
			t.Errorf("%s sent %d times, want %d", k, count[k], want)
		}
	}
}

// TestDLTRedriveKilled: `kafkaboot dlt redrive` killed (SIGKILL) halfway
// and run again sends every dead letter exactly once, as read_committed
// consumers of the original topic see it. The run is slowed by a produce
// quota on the command's client id, so that the kill lands mid-run.
func TestDLTRedriveKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs for several seconds")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build kafkaboot with")
	}
	bin := filepath.Join(t.TempDir(), "kafkaboot")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(3, "orders", "orders.DLT"),
		embeddedbroker.BrokerConfig("quota.window.num", "2"))
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 1000
	pad := strings.Repeat("x", 1000)
	var rs []*kgo.Record
	for i := range n {
		orig := &kgo.Record{Topic: "orders", Partition: int32(i % 3), Offset: int64(i), Key: []byte(fmt.Sprintf("k-%d", i)),
			Value: []byte(pad), Timestamp: time.Now()}
		rs = append(rs, container.DeadLetter(orig, "orders.DLT", "billing", errors.New("boom")))
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kmsg.StringPtr("kafkaboot")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 150 << 10}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("AlterClientQuotas: %v %v", err, res)
	}
	written := func() int64 {
		ends, err := adm.ListEndOffsets(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
		return sum
	}
	args := []string{"dlt", "redrive", "--topic", "orders.DLT", "--batch-size", "50", "--bootstrap-server", strings.Join(c.Addrs(), ","), "--command-timeout", "60s"}
	first := exec.Command(bin, args...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for written() < n/2 {
		if time.Now().After(deadline) {
			first.Process.Kill()
			t.Fatalf("the first run wrote %d records in 30 s", written())
		}
		time.Sleep(5 * time.Millisecond) // watching the log grow, to kill mid-run
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	atKill := written()
	if atKill >= n {
		t.Fatalf("the first run had finished (%d records written) before the kill", atKill)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("the second run: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Logf("killed after %d records were written (committed or not); the second run: %s", atKill, lines[len(lines)-1])
	got := readCommitted(t, c, "orders", n)
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.Key)]++
	}
	for i := range n {
		if k := fmt.Sprintf("k-%d", i); seen[k] != 1 {
			t.Errorf("%s re-driven %d times, want once", k, seen[k])
		}
	}
	if len(got) != n {
		t.Errorf("read_committed sees %d records, want %d", len(got), n)
	}
}
