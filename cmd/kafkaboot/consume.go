package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const consumeDoc = `
Prints the records of a topic on stdout, like kafka-console-consumer, until
--max-messages records were printed, no record came for --timeout, or
SIGINT/SIGTERM; each ends with exit code 0 and "Processed a total of N
messages" on stderr. The --timeout clock starts at once, so the time to
join a group counts. A topic or partition that does not exist is warned
about on stderr and waited for.

Without --group every partition of the topic (or only --partition) is read
directly, from its end, from its start with --from-beginning, or from
--offset with --partition. Nothing is committed.

With --group the records are read as a member of consumer group G, from
the group's committed offsets; --from-beginning only decides where a
partition without committed offset starts (auto.offset.reset=earliest).
Exactly the records printed are committed, synchronously, before exit
(and when partitions are revoked in a rebalance), so a consumer stopped
after --max-messages N leaves the next record for the next run. The group
is joined with the classic protocol, or with --group-protocol consumer
with KIP-848's, where the broker assigns the partitions (a broker without
it, older than Kafka 4.0, gets the classic protocol).

--format prints each record by a template (kcat style):
  %t topic   %p partition   %o offset   %k key   %v value
  %h headers as k=v,k=v   %T timestamp in Unix milliseconds   %% a '%'
  \n newline   \t tab   \r carriage return   \\ a backslash
A null key or value prints as nothing. The default, "%v\n", prints the
value alone, as kafka-console-consumer does.

Schemas: with --value-format avro, json-schema or protobuf (and
--key-format for %k) values in Confluent's schema registry wire format
are decoded with their writer's schema, fetched by the id in the record
from the registry at --schema-registry (or $KAFKABOOT_SCHEMA_REGISTRY_URL)
once per id, and %v prints them as one line of JSON, as
kafka-avro-console-consumer (and its siblings) does: Avro in Avro's JSON
encoding (unions as {"type": value}), Protobuf as protojson with default
values, JSON Schema values as stored. A record that does not decode (not
in the wire format, an unknown schema id, a schema of another format) is
reported on stderr with its topic, partition and offset and skipped; it
counts as processed (toward --max-messages and the total, and with
--group it is committed), so that it cannot stop the consumer. If the
registry itself fails, the consumer stops with exit code 1.`

// runConsume is `kafkaboot consume`.
func runConsume(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("consume", "kafkaboot consume --topic T [--from-beginning] [--group G | --partition N [--offset O]] [--max-messages N] [--timeout D] [--format FMT] [--schema-registry URL --value-format avro|json-schema|protobuf] [--key-format F]", consumeDoc)
	var (
		cf            clientFlags
		topic         = fs.String("topic", "", "topic `name` to consume (required)")
		fromBeginning = fs.Bool("from-beginning", false, "start at the earliest offset (with --group: where the group has no committed offset)")
		group         = fs.String("group", "", "consume as a member of consumer group `G` and commit what was printed")
		partition     = fs.Int("partition", -1, "consume only partition `N`, not with --group (default: all partitions)")
		offset        = fs.String("offset", "", "with --partition: start at `O`, a number, earliest or latest")
		maxMessages   = fs.Int("max-messages", 0, "exit after printing `N` records (default: no limit)")
		idle          = fs.Duration("timeout", 0, "exit when no record came for this long (default: no timeout)")
		format        = fs.String("format", `%v\n`, "print each record by this template (see above)")
		isolation     = fs.String("isolation-level", "read_uncommitted", "`L`: read_committed shows only committed transactions' records, read_uncommitted all")
		groupProtocol = fs.String("group-protocol", "classic", "with --group: join it with protocol `P`: classic, or consumer (KIP-848: the broker assigns partitions; Kafka's group.protocol)")
		schemas       schemaFlags
	)
	cf.register(fs)
	schemas.register(fs, false)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	switch {
	case *topic == "":
		return usageErrorf(fs.cmd, "--topic is required")
	case *group != "" && *partition >= 0:
		return usageErrorf(fs.cmd, "--partition cannot be used with --group")
	case *offset != "" && *partition < 0:
		return usageErrorf(fs.cmd, "--offset needs --partition")
	case *offset != "" && *fromBeginning:
		return usageErrorf(fs.cmd, "--offset and --from-beginning exclude each other")
	case *maxMessages < 0 || *idle < 0:
		return usageErrorf(fs.cmd, "--max-messages and --timeout must not be negative")
	case *groupProtocol != "classic" && *groupProtocol != "consumer":
		return usageErrorf(fs.cmd, "--group-protocol %q: want classic or consumer", *groupProtocol)
	case *groupProtocol == "consumer" && *group == "":
		return usageErrorf(fs.cmd, "--group-protocol needs --group")
	}
	tmpl, err := parseFormat(*format)
	if err != nil {
		return usageErrorf(fs.cmd, "--format: %v", err)
	}
	if err := schemas.check(fs, false, false); err != nil {
		return err
	}
	start := kgo.NewOffset().AtEnd()
	if *fromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	switch *offset {
	case "":
	case "earliest":
		start = kgo.NewOffset().AtStart()
	case "latest":
		start = kgo.NewOffset().AtEnd()
	default:
		o, err := strconv.ParseInt(*offset, 10, 64)
		if err != nil || o < 0 {
			return usageErrorf(fs.cmd, "--offset %q: want a non-negative number, earliest or latest", *offset)
		}
		start = kgo.NewOffset().At(o)
	}
	if len(cf.seeds()) == 0 {
		return errors.New("--bootstrap-server is empty")
	}

	opts, err := cf.opts()
	if err != nil {
		return err
	}
	dec, err := schemas.decoder(&cf, tmpl)
	if err != nil {
		return err
	}
	switch *isolation {
	case "read_committed":
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	case "read_uncommitted":
	default:
		return usageErrorf(fs.cmd, "--isolation-level %q: want read_committed or read_uncommitted", *isolation)
	}
	switch {
	case *group != "":
		opts = append(opts,
			kgo.ConsumerGroup(*group),
			kgo.ConsumeTopics(*topic),
			kgo.ConsumeResetOffset(start),
			// Only records marked after printing are committed, by the
			// autocommitter, on revoke, and synchronously at exit.
			kgo.AutoCommitMarks(),
		)
		if *groupProtocol == "consumer" {
			// With franz-go's default balancer (cooperative-sticky),
			// the broker's uniform assignor.
			opts = append(opts, kgo.ServerSideBalancer())
		}
	case *partition >= 0:
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{*topic: {int32(*partition): start}}))
	default:
		opts = append(opts, kgo.ConsumeTopics(*topic), kgo.ConsumeResetOffset(start))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	defer cl.Close()
	warnMissing(ctx, &cf, cl, *topic, *partition, stderr)

	out := bufio.NewWriterSize(stdout, 64<<10)
	printed := 0
	lastErr := ""
	last := time.Now()
	var (
		buf      []byte
		fatalErr error // the registry failed: stop
	)
	for *maxMessages == 0 || printed < *maxMessages {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if *idle > 0 {
			pctx, cancel = context.WithDeadline(ctx, last.Add(*idle))
		}
		n := -1
		if *maxMessages > 0 {
			n = *maxMessages - printed
		}
		fetches := cl.PollRecords(pctx, n)
		cancel()
		if fetches.IsClientClosed() {
			break
		}
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			if msg := err.Error(); msg != lastErr { // do not repeat a retrying error
				lastErr = msg
				fmt.Fprintf(stderr, "kafkaboot consume: %s[%d]: %v\n", t, p, err)
			}
		})
		got := 0
		fetches.EachRecord(func(r *kgo.Record) {
			if fatalErr != nil {
				return
			}
			// Not ctx: records polled before SIGINT are still printed.
			dr, err := dec.decode(context.WithoutCancel(ctx), r)
			var undecodable *undecodableError
			switch {
			case errors.As(err, &undecodable): // skipped, yet processed
				fmt.Fprintf(stderr, "kafkaboot consume: skipping the record at %s[%d] offset %d: %v\n", r.Topic, r.Partition, r.Offset, err)
			case err != nil:
				fatalErr = fmt.Errorf("decoding the record at %s[%d] offset %d: %w", r.Topic, r.Partition, r.Offset, err)
				return
			default:
				buf = tmpl.append(buf[:0], dr)
				out.Write(buf)
			}
			if *group != "" {
				cl.MarkCommitRecords(r)
			}
			got++
		})
		printed += got
		if err := out.Flush(); err != nil {
			return fmt.Errorf("writing records: %w", err)
		}
		if got > 0 {
			last = time.Now()
		}
		if fatalErr != nil || ctx.Err() != nil || (*idle > 0 && got == 0 && !time.Now().Before(last.Add(*idle))) {
			break
		}
	}

	var commitErr error
	if *group != "" {
		cctx, cancel := cf.withTimeout(context.WithoutCancel(ctx))
		commitErr = cl.CommitMarkedOffsets(cctx)
		cancel()
	}
	fmt.Fprintf(stderr, "Processed a total of %d messages\n", printed)
	if commitErr != nil {
		return cf.explain(fmt.Sprintf("committing offsets of group %q", *group), commitErr)
	}
	return fatalErr
}

// warnMissing warns on stderr when topic, or its partition if >= 0, does
// not exist: the consumer then waits for it silently, which looks like a
// hang. Other failures are left to the consumer to report.
func warnMissing(ctx context.Context, cf *clientFlags, cl *kgo.Client, topic string, partition int, stderr io.Writer) {
	ctx, cancel := cf.withTimeout(ctx)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx, topic) // no Close: it would close cl
	if err != nil {
		return
	}
	d, ok := details[topic]
	switch {
	case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
		fmt.Fprintf(stderr, "kafkaboot consume: topic %q does not exist; waiting for it\n", topic)
	case d.Err == nil && partition >= 0 && partition >= len(d.Partitions):
		fmt.Fprintf(stderr, "kafkaboot consume: topic %q has no partition %d (it has %d); waiting for it\n", topic, partition, len(d.Partitions))
	}
}

// formatPart is a literal (verb 0) or a placeholder.
type formatPart struct {
	verb byte
	lit  string
}

// recordFormat is a parsed --format template.
type recordFormat []formatPart

// parseFormat parses a kcat-style template; unknown placeholders are an
// error so that typos do not print garbage.
func parseFormat(s string) (recordFormat, error) {
	var (
		f   recordFormat
		lit strings.Builder
	)
	flush := func() {
		if lit.Len() > 0 {
			f = append(f, formatPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c != '%' && c != '\\') || i+1 == len(s) {
			lit.WriteByte(c)
			continue
		}
		i++
		n := s[i]
		switch {
		case c == '\\':
			switch n {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case 'r':
				lit.WriteByte('\r')
			case '\\':
				lit.WriteByte('\\')
			default:
				lit.WriteByte('\\')
				lit.WriteByte(n)
			}
		case n == '%':
			lit.WriteByte('%')
		case strings.IndexByte("tpokvhT", n) >= 0:
			flush()
			f = append(f, formatPart{verb: n})
		default:
			return nil, fmt.Errorf("unknown placeholder %%%c in %q", n, s)
		}
	}
	flush()
	return f, nil
}

// append appends r printed by f to b.
func (f recordFormat) append(b []byte, r *kgo.Record) []byte {
	for _, part := range f {
		switch part.verb {
		case 0:
			b = append(b, part.lit...)
		case 't':
			b = append(b, r.Topic...)
		case 'p':
			b = strconv.AppendInt(b, int64(r.Partition), 10)
		case 'o':
			b = strconv.AppendInt(b, r.Offset, 10)
		case 'k':
			b = append(b, r.Key...)
		case 'v':
			b = append(b, r.Value...)
		case 'T':
			b = strconv.AppendInt(b, r.Timestamp.UnixMilli(), 10)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, h.Key...)
				b = append(b, '=')
				b = append(b, h.Value...)
			}
		}
	}
	return b
}
