package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/container"
)

// runDLT is `kafkaboot dlt`: dead-letter topics, listed and sent back.
func runDLT(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return dispatch(ctx, "dlt", []action{
		{"list", "list a dead-letter topic's records with where they came from and why", dltList},
		{"redrive", "send dead letters back to their original topics, each once", dltRedrive},
	}, args, stdin, stdout, stderr)
}

const dltHeader = "PARTITION\tOFFSET\tKEY\tORIGINAL\tTIME\tREASON"

// dltRow is one dead letter as dlt list and redrive print it.
func dltRow(r *kgo.Record, info container.DeadLetterInfo, ok bool) string {
	orig, when, reason := "-", r.Timestamp.UTC().Format(time.RFC3339), "-"
	if ok {
		orig = fmt.Sprintf("%s-%d@%d", info.OriginalTopic, info.OriginalPartition, info.OriginalOffset)
		reason = strings.ReplaceAll(info.ExceptionMessage, "\n", " ")
	}
	key := "-"
	if r.Key != nil {
		key = string(r.Key)
	}
	return fmt.Sprintf("%d\t%d\t%s\t%s\t%s\t%s", r.Partition, r.Offset, key, orig, when, reason)
}

func dltList(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("dlt list", "kafkaboot dlt list --topic DLT", `Prints every record of a dead-letter topic, from its beginning to its end
now, one row each:

  PARTITION  OFFSET  KEY  ORIGINAL  TIME  REASON

ORIGINAL is the topic-partition@offset the record failed at and REASON the
error (Spring's kafka_dlt-original-* and kafka_dlt-exception-message
headers, which kafkaboot's DeadLetterRecoverer writes too); TIME is when
it was dead-lettered. A record without those headers shows "-".`)
	var (
		cf    clientFlags
		topic = fs.String("topic", "", "the dead-letter `topic` (required)")
	)
	cf.register(fs)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *topic == "" {
		return usageErrorf(fs.cmd, "--topic is required")
	}
	opts, err := cf.opts()
	if err != nil {
		return err
	}
	ctx, cancel := cf.withTimeout(ctx)
	defer cancel()
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, dltHeader)
	if err := container.ListDeadLetters(ctx, *topic, opts, func(r *kgo.Record, info container.DeadLetterInfo, ok bool) {
		fmt.Fprintln(tw, dltRow(r, info, ok))
	}); err != nil {
		return cf.explain("listing "+*topic, err)
	}
	return tw.Flush()
}

func dltRedrive(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("dlt redrive", "kafkaboot dlt redrive --topic DLT [--to TOPIC] [--key K] [--original-topic T] [--reason-contains S] [--dry-run] [--group G]",
		`Sends the dead letters of a topic back to the topics they came from (or
--to), with their keys, values and headers plus kafkaboot_redrive-count,
and prints each one sent (the columns of dlt list, then TO).

Progress is committed in a consumer group (--group, default
kafkaboot-redrive.<topic>) in the same transactions as the records sent,
so a second run sends only dead letters that came since, and a run that
was interrupted, even killed, sends the rest when run again: each dead
letter once (for read_committed consumers). The filters choose what is
sent; the others are skipped for good in that group. --dry-run prints what
would be sent and changes nothing.`)
	var (
		cf       clientFlags
		topic    = fs.String("topic", "", "the dead-letter `topic` (required)")
		to       = fs.String("to", "", "send to `topic` instead of each record's original topic")
		group    = fs.String("group", "", "consumer `group` recording the progress")
		key      = fs.String("key", "", "only the dead letters with this `key`")
		origin   = fs.String("original-topic", "", "only the dead letters that failed on `topic`")
		contains = fs.String("reason-contains", "", "only the dead letters whose error contains `text`")
		dry      = fs.Bool("dry-run", false, "print what would be sent; send and commit nothing")
		batch    = fs.Int("batch-size", 500, "dead letters sent per transaction")
	)
	cf.register(fs)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *topic == "" {
		return usageErrorf(fs.cmd, "--topic is required")
	}
	opts, err := cf.opts()
	if err != nil {
		return err
	}
	ctx, cancel := cf.withTimeout(ctx)
	defer cancel()
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, dltHeader+"\tTO")
	ro := container.RedriveOptions{ClientOpts: opts, Group: *group, To: *to, DryRun: *dry, BatchSize: *batch,
		OnRecord: func(r *kgo.Record, info container.DeadLetterInfo, dest string) {
			if dest != "" {
				fmt.Fprintf(tw, "%s\t%s\n", dltRow(r, info, info.OriginalTopic != ""), dest)
			}
		}}
	if *key != "" || *origin != "" || *contains != "" {
		ro.Filter = func(r *kgo.Record, info container.DeadLetterInfo) bool {
			return (*key == "" || string(r.Key) == *key) && (*origin == "" || info.OriginalTopic == *origin) &&
				(*contains == "" || strings.Contains(info.ExceptionMessage, *contains))
		}
	}
	res, err := container.Redrive(ctx, *topic, ro)
	if ferr := tw.Flush(); ferr != nil && err == nil {
		err = ferr
	}
	if err != nil {
		return cf.explain("re-driving "+*topic, err)
	}
	verb := "Re-drove"
	if *dry {
		verb = "Would re-drive"
	}
	fmt.Fprintf(stdout, "%s %d of %d dead letters (%d skipped).\n", verb, res.Redriven, res.Examined, res.Skipped)
	return nil
}
