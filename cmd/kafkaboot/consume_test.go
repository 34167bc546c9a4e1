package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestProduceConsume(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3),
		embeddedbroker.Topics(1, "events", "codecs", "acks", "txn"), embeddedbroker.Topics(3, "keyed"))

	t.Run("isolation level", func(t *testing.T) {
		// An aborted transaction, then a committed one.
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID("cli"), kgo.DefaultProduceTopic("txn"))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for _, v := range []string{"aborted", "committed"} {
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			if err := cl.EndTransaction(t.Context(), kgo.TransactionEndTry(v == "committed")); err != nil {
				t.Fatal(err)
			}
		}
		r := kbc(t, c, "", "consume", "--topic", "txn", "--from-beginning", "--max-messages", "1", "--isolation-level", "read_committed").ok(t)
		if r.stdout != "committed\n" {
			t.Fatalf("read_committed printed %q", r.stdout)
		}
		r = kbc(t, c, "", "consume", "--topic", "txn", "--from-beginning", "--max-messages", "2").ok(t)
		if r.stdout != "aborted\ncommitted\n" {
			t.Fatalf("read_uncommitted printed %q", r.stdout)
		}
		r = kbc(t, c, "", "consume", "--topic", "txn", "--isolation-level", "sometimes")
		if r.code != 2 || !strings.Contains(r.stderr, `--isolation-level "sometimes"`) {
			t.Fatalf("bad isolation level: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("keys and headers", func(t *testing.T) {
		in := "k1:v1\nk2:v2 has : a colon\r\nk3:\n:v4\nk5:v5" // last line without newline
		r := kbc(t, c, in, "produce", "--topic", "events", "--key-separator", ":", "--header", "src=cli", "--header", "run=1").ok(t)
		if r.stdout != "" || r.stderr != "" {
			t.Fatalf("produce printed stdout %q stderr %q", r.stdout, r.stderr)
		}
		r = kbc(t, c, "", "consume", "--topic", "events", "--from-beginning", "--max-messages", "5",
			"--format", `%t/%p/%o %k=%v [%h]\n`).ok(t)
		want := "events/0/0 k1=v1 [src=cli,run=1]\n" +
			"events/0/1 k2=v2 has : a colon [src=cli,run=1]\n" +
			"events/0/2 k3= [src=cli,run=1]\n" +
			"events/0/3 =v4 [src=cli,run=1]\n" +
			"events/0/4 k5=v5 [src=cli,run=1]\n"
		if r.stdout != want {
			t.Fatalf("consume printed\n%q\nwant\n%q", r.stdout, want)
		}
		if !strings.Contains(r.stderr, "Processed a total of 5 messages") {
			t.Errorf("stderr %q", r.stderr)
		}
		// The default format is the value alone; --partition/--offset start in the middle.
		r = kbc(t, c, "", "consume", "--topic", "events", "--partition", "0", "--offset", "3", "--max-messages", "2").ok(t)
		if r.stdout != "v4\nv5\n" {
			t.Fatalf("consume --offset 3 printed %q", r.stdout)
		}
		r = kbc(t, c, "", "consume", "--topic", "events", "--partition", "0", "--offset", "earliest", "--max-messages", "1", "--format", `%o\t%T%%\n`).ok(t)
		if !strings.HasPrefix(r.stdout, "0\t") || !strings.HasSuffix(r.stdout, "%\n") {
			t.Fatalf("consume --format with timestamp printed %q", r.stdout)
		}
	})

	t.Run("parse headers", func(t *testing.T) {
		in := "h1:a,h2:b=c,h3\tkey\tvalue one\n\tk\tno headers\nbroken line\n"
		r := kbc(t, c, in, "produce", "--topic", "events", "--parse-headers", "--key-separator", `\t`)
		if r.code != 1 || !strings.Contains(r.stderr, `line 3: no headers delimiter "\t" in line`) ||
			!strings.Contains(r.stderr, "1 of 3 lines failed") {
			t.Fatalf("produce: exit %d, stderr %q", r.code, r.stderr)
		}
		r = kbc(t, c, "", "consume", "--topic", "events", "--partition", "0", "--offset", "5", "--max-messages", "2",
			"--format", `%o|%k|%v|%h\n`).ok(t)
		want := "5|key|value one|h1=a,h2=b=c,h3=\n6|k|no headers|\n"
		if r.stdout != want {
			t.Fatalf("consume printed %q, want %q", r.stdout, want)
		}
	})

	t.Run("keys pick partitions", func(t *testing.T) {
		in := "a=1\nb=1\nc=1\nd=1\na=2\nb=2\nc=2\nd=2\n"
		kbc(t, c, in, "produce", "--topic", "keyed", "--key-separator", "=").ok(t)
		r := kbc(t, c, "", "consume", "--topic", "keyed", "--from-beginning", "--max-messages", "8", "--format", `%k %p %v\n`).ok(t)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != 8 {
			t.Fatalf("consume printed %q", r.stdout)
		}
		partOf := map[string]string{}
		valuesOf := map[string][]string{} // the values of a key in consumed order
		for _, l := range lines {
			f := strings.Fields(l)
			if p, ok := partOf[f[0]]; ok && p != f[1] {
				t.Fatalf("key %s in partitions %s and %s", f[0], p, f[1])
			}
			partOf[f[0]] = f[1]
			valuesOf[f[0]] = append(valuesOf[f[0]], f[2])
		}
		for k, vs := range valuesOf {
			if !slices.Equal(vs, []string{"1", "2"}) {
				t.Errorf("key %s: values %v out of order", k, vs)
			}
		}
	})

	t.Run("partition flag and codecs", func(t *testing.T) {
		for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
			kbc(t, c, strings.Repeat(codec+"\n", 3), "produce", "--topic", "codecs", "--partition", "0", "--compression", codec).ok(t)
		}
		r := kbc(t, c, "", "consume", "--topic", "codecs", "--from-beginning", "--max-messages", "15", "--format", `%v `).ok(t)
		want := "none none none gzip gzip gzip snappy snappy snappy lz4 lz4 lz4 zstd zstd zstd "
		if r.stdout != want {
			t.Fatalf("consume printed %q, want %q", r.stdout, want)
		}
		r = kbc(t, c, "x\n", "produce", "--topic", "keyed", "--partition", "7", "--command-timeout", "2s")
		if r.code != 1 || !strings.Contains(r.stderr, "line 1:") {
			t.Fatalf("produce to missing partition: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("acks", func(t *testing.T) {
		kbc(t, c, "all\n", "produce", "--topic", "acks", "--acks", "all").ok(t)
		kbc(t, c, "one\n", "produce", "--topic", "acks", "--acks", "1").ok(t)
		kbc(t, c, "none\n", "produce", "--topic", "acks", "--acks", "0").ok(t)
		r := kbc(t, c, "", "consume", "--topic", "acks", "--from-beginning", "--max-messages", "3", "--timeout", "10s").ok(t)
		if r.stdout != "all\none\nnone\n" {
			t.Fatalf("consume printed %q", r.stdout)
		}
	})

	t.Run("idle timeout", func(t *testing.T) {
		start := time.Now()
		r := kbc(t, c, "", "consume", "--topic", "acks", "--from-beginning", "--timeout", "300ms").ok(t)
		if r.stdout != "all\none\nnone\n" || !strings.Contains(r.stderr, "Processed a total of 3 messages") {
			t.Fatalf("consume printed %q, stderr %q", r.stdout, r.stderr)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("idle timeout took %v", d)
		}
	})

	t.Run("missing topic", func(t *testing.T) {
		r := kbc(t, c, "", "consume", "--topic", "nope", "--timeout", "100ms").ok(t)
		if !strings.Contains(r.stderr, `topic "nope" does not exist; waiting for it`) {
			t.Fatalf("stderr %q", r.stderr)
		}
		r = kbc(t, c, "", "consume", "--topic", "acks", "--partition", "1", "--timeout", "100ms").ok(t)
		if !strings.Contains(r.stderr, `topic "acks" has no partition 1 (it has 1); waiting for it`) {
			t.Fatalf("stderr %q", r.stderr)
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		// Without --max-messages or --timeout the consumer runs until its
		// context ends (SIGINT in the binary), then exits 0.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var out, errb syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"consume", "--topic", "acks", "--from-beginning", "--bootstrap-server", strings.Join(c.Addrs(), ",")},
				strings.NewReader(""), &out, &errb)
		}()
		waitFor(t, "three records", 10*time.Second, func() bool { return out.String() == "all\none\nnone\n" })
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("exit code %d, stderr %q", code, errb.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("consume did not stop after cancel")
		}
	})
}

func TestParseFormat(t *testing.T) {
	rec := &kgo.Record{
		Topic: "t", Partition: 2, Offset: 42, Key: []byte("k"), Value: []byte("v"),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b"}},
		Timestamp: time.UnixMilli(1700000000123),
	}
	tests := []struct {
		format, want string
		wantErr      bool
	}{
		{format: `%v\n`, want: "v\n"},
		{format: `%t %p %o %k %v %h %T`, want: "t 2 42 k v a=1,b= 1700000000123"},
		{format: `\t%%v\\n%`, want: "\t%v\\n%"},
		{format: `plain\q`, want: `plain\q`},
		{format: `100%%`, want: "100%"},
		{format: `%k\r\n`, want: "k\r\n"},
		{format: `%z`, wantErr: true},
	}
	for _, tt := range tests {
		f, err := parseFormat(tt.format)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFormat(%q) error %v", tt.format, err)
			continue
		}
		if err != nil {
			continue
		}
		if got := string(f.append(nil, rec)); got != tt.want {
			t.Errorf("format %q printed %q, want %q", tt.format, got, tt.want)
		}
	}
}

func TestLineParser(t *testing.T) {
	type hdr = kgo.RecordHeader
	tests := []struct {
		name    string
		p       lineParser
		line    string
		key     string
		value   string
		headers []hdr
		wantErr bool
	}{
		{name: "value only", line: "a:b", value: "a:b"},
		{name: "key", p: lineParser{keySep: ":"}, line: "a:b:c", key: "a", value: "b:c"},
		{name: "multi-byte separator", p: lineParser{keySep: "::"}, line: "a::b", key: "a", value: "b"},
		{name: "missing key separator", p: lineParser{keySep: ":"}, line: "ab", wantErr: true},
		{name: "fixed headers", p: lineParser{fixed: []hdr{{Key: "x", Value: []byte("1")}}}, line: "v", value: "v", headers: []hdr{{Key: "x", Value: []byte("1")}}},
		{
			name: "parsed headers", p: lineParser{parseHeaders: true, hdrDelim: "\t", hdrSep: ",", hdrKeySep: ":", keySep: "\t"},
			line: "h:1,n\tk\tv", key: "k", value: "v", headers: []hdr{{Key: "h", Value: []byte("1")}, {Key: "n"}},
		},
		{name: "empty headers", p: lineParser{parseHeaders: true, hdrDelim: "|", hdrSep: ",", hdrKeySep: ":"}, line: "|v", value: "v"},
		{name: "missing headers delimiter", p: lineParser{parseHeaders: true, hdrDelim: "|", hdrSep: ",", hdrKeySep: ":"}, line: "v", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.p.parse(tt.line)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if string(r.Key) != tt.key || string(r.Value) != tt.value {
				t.Errorf("key %q value %q, want %q %q", r.Key, r.Value, tt.key, tt.value)
			}
			if len(r.Headers) != len(tt.headers) {
				t.Fatalf("headers %v, want %v", r.Headers, tt.headers)
			}
			for i, h := range r.Headers {
				if h.Key != tt.headers[i].Key || string(h.Value) != string(tt.headers[i].Value) || (h.Value == nil) != (tt.headers[i].Value == nil) {
					t.Errorf("header %d: %v, want %v", i, h, tt.headers[i])
				}
			}
		})
	}
}

// TestProduceCreatesTopic: like kafka-console-producer, produce to a topic
// that does not exist has the broker create it.
func TestProduceCreatesTopic(t *testing.T) {
	c := embeddedbroker.StartForTest(t)
	kbc(t, c, "hello\n", "produce", "--topic", "fresh").ok(t)
	if r := kbc(t, c, "", "consume", "--topic", "fresh", "--from-beginning", "--max-messages", "1").ok(t); r.stdout != "hello\n" {
		t.Fatalf("consume printed %q", r.stdout)
	}
}
