package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

const produceDoc = `
Reads stdin and produces one record per line (the line ending, \n or \r\n,
is not part of the record; an empty line is a record with an empty value),
like kafka-console-producer. At end of input it waits until every record
is acknowledged (or failed) and exits; SIGINT does the same with what was
read so far. Records that fail are reported on stderr with their line
number, and the exit code is then 1.

Keys: with --key-separator SEP, the text before the first SEP is the key
and the rest the value (kafka-console-producer's parse.key=true and
key.separator). A line without SEP is an error.

Headers: every --header k=v is added to every record. With
--parse-headers, each line starts with its own headers (Kafka 3.7's
parse.headers=true):

  h1:v1,h2:v2<TAB>key<SEP>value

where TAB is --headers-delimiter, ',' --headers-separator and ':'
--headers-key-separator; a header without ':' has a null value and a line
without TAB is an error. Separators understand the escapes \t, \n, \r and
\\, so --key-separator '\t' is a tab.

A topic that does not exist is created by the broker, with its defaults,
when its auto.create.topics.enable allows (as with kafka-console-producer).

Partitioning: records go to --partition when given, else by key with
Kafka's murmur2 partitioner (the same partition as the Java client), and
records without key are spread over the partitions.

Schemas: with --value-format avro, json-schema or protobuf (and
--key-format, for the key part of each line) the value is JSON text,
written in Confluent's schema registry wire format with a schema of the
registry at --schema-registry (or $KAFKABOOT_SCHEMA_REGISTRY_URL), as
kafka-avro-console-producer (and its JSON Schema and Protobuf siblings)
does. The schema is --value-schema TEXT or --value-schema-file FILE,
registered under the subject (<topic>-value, or --value-subject) unless
it is there already; --value-schema-id N, a registered schema; or else
the subject's latest version. The key's flags are the same with key-.

  avro         Avro's JSON encoding: a union value is written {"type": value}
               ({"string": "x"}, {"ns.Record": {...}}, or null), bytes as a
               string of code points 0-255 ("\u00ff").
  json-schema  JSON validated against the schema and sent as is (compacted).
  protobuf     protojson text of the schema's first message (--value-message
               picks another), framed with its message indexes.

A schema's references (other subjects' types, imports, $refs) are fetched
and used. A line that does not match the schema fails like any other.`

// runProduce is `kafkaboot produce`.
func runProduce(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("produce", "kafkaboot produce --topic T [--key-separator SEP] [--header k=v]... [--parse-headers] [--partition N] [--acks all|1|0] [--compression none|gzip|snappy|lz4|zstd] [--schema-registry URL --value-format avro|json-schema|protobuf [--value-schema TEXT | --value-schema-file FILE | --value-schema-id N] [--value-subject S] [--key-format F ...]]", produceDoc)
	var (
		cf           clientFlags
		topic        = fs.String("topic", "", "topic `name` to produce to (required)")
		keySep       = fs.String("key-separator", "", "split each line into key and value at the first `SEP` (default: no key)")
		parseHeaders = fs.Bool("parse-headers", false, "read per-record headers at the start of each line")
		hdrDelim     = fs.String("headers-delimiter", `\t`, "with --parse-headers: what ends the headers of a line")
		hdrSep       = fs.String("headers-separator", ",", "with --parse-headers: what separates headers")
		hdrKeySep    = fs.String("headers-key-separator", ":", "with --parse-headers: what separates a header's key from its value")
		partition    = fs.Int("partition", -1, "produce every record to partition `N` (default: partition by key)")
		acks         = fs.String("acks", "all", "acknowledgements to wait for: all, 1 or 0")
		compression  = fs.String("compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
		headers      keyValuesFlag
		schemas      schemaFlags
	)
	cf.register(fs)
	schemas.register(fs, true)
	fs.Var(&headers, "header", "add header `key=value` to every record (repeatable)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *topic == "" {
		return usageErrorf(fs.cmd, "--topic is required")
	}
	if err := schemas.check(fs, true, *keySep != ""); err != nil {
		return err
	}
	// Like the Java producer (allow.auto.create.topics=true), ask the
	// broker to create a missing topic; it does when its
	// auto.create.topics.enable allows.
	opts, err := cf.opts(kgo.DefaultProduceTopic(*topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		return err
	}
	if cf.timeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(cf.timeout))
	}
	switch *acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return usageErrorf(fs.cmd, "--acks %q: want all, 1 or 0", *acks)
	}
	codec, err := compressionCodec(*compression)
	if err != nil {
		return usageErrorf(fs.cmd, "--compression: %v", err)
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	if *partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	p := lineParser{
		keySep:       unescape(*keySep),
		parseHeaders: *parseHeaders,
		hdrDelim:     unescape(*hdrDelim),
		hdrSep:       unescape(*hdrSep),
		hdrKeySep:    unescape(*hdrKeySep),
	}
	if p.parseHeaders && (p.hdrDelim == "" || p.hdrSep == "" || p.hdrKeySep == "") {
		return usageErrorf(fs.cmd, "header separators must not be empty")
	}
	for _, h := range headers {
		p.fixed = append(p.fixed, kgo.RecordHeader{Key: h.key, Value: []byte(h.value)})
	}
	if len(cf.seeds()) == 0 {
		return errors.New("--bootstrap-server is empty")
	}
	enc, err := schemas.encoder(ctx, &cf, *topic)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}

	var (
		errw   = &syncWriter{w: stderr}
		mu     sync.Mutex
		failed int
	)
	fail := func(line int, err error) {
		mu.Lock()
		failed++
		mu.Unlock()
		fmt.Fprintf(errw, "kafkaboot produce: line %d: %v\n", line, err)
	}

	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() { // stdin reads cannot be interrupted; this goroutine ends at EOF
		defer close(lines)
		br := bufio.NewReaderSize(stdin, 64<<10)
		for {
			s, err := br.ReadString('\n')
			if s != "" {
				select {
				case lines <- strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r"):
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr <- err
				}
				return
			}
		}
	}()

	n := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case line, ok := <-lines:
			if !ok {
				break loop
			}
			n++
			r, err := p.parse(line)
			if err == nil {
				err = enc.encode(r)
			}
			if err != nil {
				fail(n, err)
				continue
			}
			if *partition >= 0 {
				r.Partition = int32(*partition)
			}
			lineNo := n
			// Not ctx: records read before SIGINT are still delivered.
			cl.Produce(context.WithoutCancel(ctx), r, func(_ *kgo.Record, err error) {
				if err != nil {
					fail(lineNo, err)
				}
			})
		}
	}

	// Deliver what was read even when interrupted, within --command-timeout.
	fctx, cancel := cf.withTimeout(context.WithoutCancel(ctx))
	defer cancel()
	flushErr := cl.Flush(fctx)
	cl.Close() // fails (and reports) whatever Flush could not deliver
	var rerr error
	select {
	case rerr = <-readErr:
	default:
	}
	mu.Lock()
	defer mu.Unlock()
	switch {
	case rerr != nil:
		return fmt.Errorf("reading stdin: %w", rerr)
	case failed > 0:
		return fmt.Errorf("%d of %d lines failed", failed, n)
	case flushErr != nil:
		return cf.explain("flushing records", flushErr)
	}
	return nil
}

// lineParser turns a line into a record.
type lineParser struct {
	keySep       string
	parseHeaders bool
	hdrDelim     string
	hdrSep       string
	hdrKeySep    string
	fixed        []kgo.RecordHeader
}

func (p *lineParser) parse(line string) (*kgo.Record, error) {
	r := &kgo.Record{}
	r.Headers = append(r.Headers, p.fixed...)
	if p.parseHeaders {
		hs, rest, ok := strings.Cut(line, p.hdrDelim)
		if !ok {
			return nil, fmt.Errorf("no headers delimiter %q in line", p.hdrDelim)
		}
		line = rest
		if hs != "" {
			for h := range strings.SplitSeq(hs, p.hdrSep) {
				k, v, ok := strings.Cut(h, p.hdrKeySep)
				rh := kgo.RecordHeader{Key: k}
				if ok {
					rh.Value = []byte(v)
				}
				r.Headers = append(r.Headers, rh)
			}
		}
	}
	if p.keySep != "" {
		k, v, ok := strings.Cut(line, p.keySep)
		if !ok {
			return nil, fmt.Errorf("no key separator %q in line", p.keySep)
		}
		r.Key = []byte(k)
		line = v
	}
	r.Value = []byte(line)
	return r, nil
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("unknown codec %q, want none, gzip, snappy, lz4 or zstd", name)
}

// unescape interprets \t, \n, \r and \\ in s; other backslashes stay.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.NewReplacer(`\\`, `\`, `\t`, "\t", `\n`, "\n", `\r`, "\r").Replace(s)
}

// syncWriter serializes writes from the producer's promise goroutine and
// the main loop.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
