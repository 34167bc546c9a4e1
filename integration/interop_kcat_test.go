package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kcatPath finds kcat (librdkafka's command line client), skipping the test
// where it is not installed; CI installs it.
func kcatPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Skipf("kcat not installed: %v (apt-get install kcat)", err)
	}
	return path
}

// kcatRecords builds text-only records for kcat: kcat sets the same headers
// (-H) on every record of one invocation, so the headers are per partition.
func kcatRecords(name string, n int) []rec {
	recs := makeRecords(name, n, true)
	for i := range recs {
		p := recs[i].Partition
		recs[i].Headers = []hdr{
			{"part", []byte(strconv.Itoa(int(p)))},
			{"src", []byte("kcat")},
			{"topic", []byte(name)},
		}
	}
	return recs
}

// runKcat runs kcat to completion, bounded by ctx and a timeout of its own:
// kcat must exit by itself (-P at the end of its input, -C with -e at the
// end of the partition). It may run outside the test's goroutine.
func runKcat(ctx context.Context, path string, stdin []byte, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.WaitDelay = time.Second
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kcat %s: %w\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	// kcat logs librdkafka's errors and failed deliveries on stderr; some
	// (a failed delivery report) do not change its exit status.
	if s := stderr.String(); strings.Contains(s, "ERROR") || strings.Contains(s, "failed") {
		return nil, fmt.Errorf("kcat %s reported errors:\n%s", strings.Join(args, " "), s)
	}
	return stdout.Bytes(), nil
}

// kcatProduce produces with kcat -P, one run per partition (-p), acks=all,
// idempotent, keys with -K: and the partition's headers with -H.
func kcatProduce(t *testing.T, ctx context.Context, addrs []string, topic, codec string, recs []rec) {
	t.Helper()
	path := kcatPath(t)
	eachPartition(t, counts(recs), func(p int32, _ int) ([]got, error) {
		var in bytes.Buffer
		var headers []hdr
		for _, r := range recs {
			if r.Partition != p {
				continue
			}
			if headers == nil {
				headers = r.Headers
			}
			if !headersEqual(headers, r.Headers) {
				return nil, fmt.Errorf("kcat sets the same headers on a partition's records: %q and %q", headers, r.Headers)
			}
			fmt.Fprintf(&in, "%s:%s\n", r.Key, r.Value)
		}
		args := []string{"-P", "-b", strings.Join(addrs, ","), "-t", topic, "-p", strconv.Itoa(int(p)),
			"-z", codec, "-K:", "-X", "acks=all", "-X", "enable.idempotence=true", "-X", "broker.address.family=v4"}
		for _, h := range headers {
			args = append(args, "-H", h.Key+"="+string(h.Value))
		}
		_, err := runKcat(ctx, path, in.Bytes(), args...)
		return nil, err
	})
}

// kcatConsume reads each partition with kcat -C -p N -o beginning -e and
// parses its formatted output.
func kcatConsume(t *testing.T, ctx context.Context, addrs []string, topic string, want map[int32]int) map[int32][]got {
	t.Helper()
	path := kcatPath(t)
	return eachPartition(t, want, func(p int32, _ int) ([]got, error) {
		b, err := runKcat(ctx, path, nil, "-C", "-q", "-b", strings.Join(addrs, ","), "-t", topic, "-p", strconv.Itoa(int(p)),
			"-o", "beginning", "-e", "-X", "broker.address.family=v4", "-X", "fetch.wait.max.ms=100",
			"-f", `%k|%s|%h|%p|%o\n`)
		if err != nil {
			return nil, err
		}
		var out []got
		for line := range strings.Lines(string(b)) {
			f := strings.Split(strings.TrimSuffix(line, "\n"), "|")
			if len(f) != 5 {
				return out, fmt.Errorf("kcat output line %q: %d fields, want 5", line, len(f))
			}
			part, err1 := strconv.Atoi(f[3])
			off, err2 := strconv.ParseInt(f[4], 10, 64)
			if err1 != nil || err2 != nil {
				return out, fmt.Errorf("kcat output line %q: bad partition or offset", line)
			}
			g := got{rec: rec{Partition: int32(part), Key: []byte(f[0]), Value: []byte(f[1])}, Offset: off}
			if f[2] != "" {
				for kv := range strings.SplitSeq(f[2], ",") {
					k, v, _ := strings.Cut(kv, "=")
					g.Headers = append(g.Headers, hdr{k, []byte(v)})
				}
			}
			out = append(out, g)
		}
		return out, nil
	})
}

// TestKcatInterop: kcat (librdkafka) produces with every codec, acks=all
// and idempotence, and reads back by partition.
func TestKcatInterop(t *testing.T) {
	kcatPath(t)
	c := startCluster(t)
	for _, codec := range codecs {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			topic := "kcat-" + codec
			franzCreate(t, ctx, c.Addrs(), topic)
			roundTrip(t, ctx, c.Addrs(), topic, codec, kcatRecords(topic, numRecords), kcatProduce, kcatConsume)
		})
	}
}

// TestKcatCross: kcat reads what franz-go wrote and franz-go what kcat
// wrote.
func TestKcatCross(t *testing.T) {
	kcatPath(t)
	c := startCluster(t)
	for _, codec := range codecs {
		t.Run("franz-to-kcat-"+codec, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			topic := "franz-to-kcat-" + codec
			franzCreate(t, ctx, c.Addrs(), topic)
			roundTrip(t, ctx, c.Addrs(), topic, codec, makeRecords(topic, numRecords/3, true), franzProduce, kcatConsume)
		})
		t.Run("kcat-to-franz-"+codec, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			topic := "kcat-to-franz-" + codec
			franzCreate(t, ctx, c.Addrs(), topic)
			roundTrip(t, ctx, c.Addrs(), topic, codec, kcatRecords(topic, numRecords/3), kcatProduce, franzConsume)
		})
	}
}

// TestKcatMetadata: librdkafka's view of the cluster (kcat -L) matches
// kadm's, and its offset queries by timestamp, end and start (kcat -Q,
// ListOffsets) find what franz-go wrote.
func TestKcatMetadata(t *testing.T) {
	path := kcatPath(t)
	c := startCluster(t)
	ctx := testCtx(t)
	cl, adm := adminClients(t, c)
	const topic = "kcat-meta"
	if _, err := adm.CreateTopic(ctx, numPartitions, replicationFactor, nil, topic); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	produceAt(t, ctx, cl, topic, numPartitions, 10, func(_, i int32) time.Time { return base.Add(time.Duration(i) * time.Second) })

	out, err := runKcat(ctx, path, nil, "-L", "-J", "-b", strings.Join(c.Addrs(), ","), "-t", topic)
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Leader    int32 `json:"leader"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(out, &md); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, out)
	}
	if len(md.Brokers) != 3 {
		t.Fatalf("kcat -L: %d brokers, want 3:\n%s", len(md.Brokers), out)
	}
	for _, b := range md.Brokers {
		if b.ID < 0 || int(b.ID) >= len(c.Addrs()) || b.Name != c.Addrs()[b.ID] {
			t.Errorf("kcat -L: broker %d at %s, want the nodes %v", b.ID, b.Name, c.Addrs())
		}
	}
	want, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Topic != topic || len(md.Topics[0].Partitions) != numPartitions {
		t.Fatalf("kcat -L: topics %+v", md.Topics)
	}
	for _, p := range md.Topics[0].Partitions {
		if l := want[topic].Partitions[p.Partition].Leader; p.Leader != l {
			t.Errorf("kcat -L: partition %d led by %d, kadm says %d", p.Partition, p.Leader, l)
		}
	}

	// -Q takes topic:partition:timestamp, -1 for the end, -2 the start.
	out, err = runKcat(ctx, path, nil, "-Q", "-b", strings.Join(c.Addrs(), ","),
		"-t", fmt.Sprintf("%s:0:%d", topic, base.Add(5500*time.Millisecond).UnixMilli()),
		"-t", topic+":1:-1", "-t", topic+":2:-2")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{topic + " [0] offset 6", topic + " [1] offset 10", topic + " [2] offset 0"} {
		if !strings.Contains(string(out), line+"\n") {
			t.Errorf("kcat -Q: no line %q in:\n%s", line, out)
		}
	}
}
