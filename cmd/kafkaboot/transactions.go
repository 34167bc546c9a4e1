package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// runTransactions is `kafkaboot transactions`.
func runTransactions(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return dispatch(ctx, "transactions", []action{
		{"list", "list transactional ids with their coordinator, producer id and state", transactionsList},
		{"describe", "show a transactional id's producer, state, timeout and open partitions", transactionsDescribe},
		{"describe-producers", "show the producers a partition's leader knows, and their open transactions", transactionsDescribeProducers},
	}, args, stdin, stdout, stderr)
}

func transactionsList(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("transactions list", "kafkaboot transactions list", `Prints, like kafka-transactions --list, a table of the cluster's
transactional ids, sorted by id:

  TRANSACTIONAL-ID  COORDINATOR  PRODUCER-ID  STATE

and nothing when there are none.`)
	var cf clientFlags
	cf.register(fs)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	txns, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil {
		return cf.explain("listing transactions", err)
	}
	if len(txns) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TRANSACTIONAL-ID\tCOORDINATOR\tPRODUCER-ID\tSTATE")
	for _, t := range txns.Sorted() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", t.TxnID, t.Coordinator, t.ProducerID, t.State)
	}
	return tw.Flush()
}

const transactionsDescribeDoc = `
Prints, like kafka-transactions --describe, one row per transactional id:

  TRANSACTIONAL-ID  COORDINATOR  PRODUCER-ID  PRODUCER-EPOCH  STATE  TIMEOUT-MS  START-TIME  DURATION-MS  PARTITIONS

START-TIME and DURATION-MS describe the open transaction ("-" when none is
open); PARTITIONS lists its partitions as topic-partition. An unknown id is
an error.`

func transactionsDescribe(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("transactions describe", "kafkaboot transactions describe --transactional-id ID [--transactional-id ID]...", transactionsDescribeDoc)
	var (
		cf  clientFlags
		ids stringsFlag
	)
	cf.register(fs)
	fs.Var(&ids, "transactional-id", "transactional `id` to describe (required, repeatable)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if len(ids) == 0 {
		return usageErrorf(fs.cmd, "--transactional-id is required")
	}
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	described, err := adm.DescribeTransactions(ctx, ids...)
	if err != nil {
		return cf.explain("describing transactions", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TRANSACTIONAL-ID\tCOORDINATOR\tPRODUCER-ID\tPRODUCER-EPOCH\tSTATE\tTIMEOUT-MS\tSTART-TIME\tDURATION-MS\tPARTITIONS")
	for _, id := range ids {
		d, ok := described[id]
		if !ok {
			return fmt.Errorf("describing transactional id %q: no answer", id)
		}
		if d.Err != nil {
			return fmt.Errorf("describing transactional id %q: %w", id, d.Err)
		}
		start, dur := "-", "-"
		if d.StartTimestamp >= 0 && d.State == "Ongoing" {
			st := time.UnixMilli(d.StartTimestamp)
			start = st.UTC().Format(time.RFC3339Nano)
			dur = fmt.Sprint(time.Since(st).Milliseconds())
		}
		var parts []string
		for _, tp := range d.Topics.Sorted() {
			for _, p := range tp.Partitions {
				parts = append(parts, fmt.Sprintf("%s-%d", tp.Topic, p))
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\t%s\n", d.TxnID, d.Coordinator, d.ProducerID, d.ProducerEpoch,
			d.State, d.TimeoutMillis, start, dur, dash(strings.Join(parts, ",")))
	}
	return tw.Flush()
}

const describeProducersDoc = `
Prints, like kafka-transactions --describe-producers, one row per producer
the leader of each partition of the topic (or of --partition) remembers:

  TOPIC  PARTITION  PRODUCER-ID  PRODUCER-EPOCH  LAST-SEQUENCE  LAST-TIMESTAMP  COORDINATOR-EPOCH  TXN-START-OFFSET

TXN-START-OFFSET is the first offset of the producer's open transaction
there ("-" when none is open): a transaction open for long holds the last
stable offset, and so every read_committed consumer, back (a hanging
transaction).`

func transactionsDescribeProducers(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("transactions describe-producers", "kafkaboot transactions describe-producers --topic T [--partition N]", describeProducersDoc)
	var cf clientFlags
	cf.register(fs)
	topic := fs.String("topic", "", "topic `name` (required)")
	partition := fs.Int("partition", -1, "only partition `N` (default: all)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *topic == "" {
		return usageErrorf(fs.cmd, "--topic is required")
	}
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	set := kadm.TopicsSet{}
	if *partition >= 0 {
		set.Add(*topic, int32(*partition))
	} else {
		details, err := adm.ListTopics(ctx, *topic)
		if err != nil {
			return cf.explain("describing topic "+*topic, err)
		}
		d, ok := details[*topic]
		if !ok || d.Err != nil {
			return fmt.Errorf("topic %q: %v", *topic, d.Err)
		}
		for p := range d.Partitions {
			set.Add(*topic, p)
		}
	}
	described, err := adm.DescribeProducers(ctx, set)
	if err != nil {
		return cf.explain("describing producers", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tPRODUCER-ID\tPRODUCER-EPOCH\tLAST-SEQUENCE\tLAST-TIMESTAMP\tCOORDINATOR-EPOCH\tTXN-START-OFFSET")
	for _, dp := range described.SortedPartitions() {
		if dp.Err != nil {
			return fmt.Errorf("describing producers of %s[%d]: %w", dp.Topic, dp.Partition, dp.Err)
		}
		for _, pr := range dp.ActiveProducers.Sorted() {
			start := "-"
			if pr.CurrentTxnStartOffset >= 0 {
				start = fmt.Sprint(pr.CurrentTxnStartOffset)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", pr.Topic, pr.Partition, pr.ProducerID, pr.ProducerEpoch,
				pr.LastSequence, pr.LastTimestamp, pr.CoordinatorEpoch, start)
		}
	}
	return tw.Flush()
}
