package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// runGroups is `kafkaboot groups`.
func runGroups(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return dispatch(ctx, "groups", []action{
		{"list", "list consumer groups with their state and protocol type", groupsList},
		{"describe", "show a group's committed offsets, log end offsets, lag in records and in time, and members", groupsDescribe},
		{"delete", "delete an empty group and its committed offsets", groupsDelete},
	}, args, stdin, stdout, stderr)
}

func groupsList(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("groups list", "kafkaboot groups list", `Prints a table of the cluster's groups, sorted by name:

  GROUP  STATE  PROTOCOL-TYPE

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
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return cf.explain("listing groups", err)
	}
	if len(groups) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE")
	for _, g := range groups.Sorted() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Group, dash(g.State), dash(g.ProtocolType))
	}
	return tw.Flush()
}

const groupsDescribeDoc = `
Prints, like kafka-consumer-groups --describe, one row per partition the
group has an offset for or a member consumes:

  GROUP  TOPIC  PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  LAG-TIME  CONSUMER-ID  HOST  CLIENT-ID

sorted by topic and partition. CURRENT-OFFSET is the committed offset, LAG
the log end offset minus it; both are "-" where nothing is committed, and
the member columns are "-" where no member has the partition. A group
without members is noted on stderr; a group that does not exist is an
error.

LAG-TIME is lag in time: how long the oldest record the group has not
consumed has been waiting, the time since the timestamp of the record at
CURRENT-OFFSET (or of the first record after it, where retention deleted
it), to the second from 1s up ("1m23s") and to the millisecond below
("850ms"). It is "0s" where LAG is 0, or where only transaction markers,
which no consumer receives, are left before the log end. The timestamps
are the producers' unless the topic uses LogAppendTime, so clocks that
disagree skew it; one in the future counts as now. To date the records,
describe reads the first record at each lagging partition's committed
offset, all partitions at once, and waits at most 5s (and
--command-timeout) for them: LAG-TIME is "-" where no record came by then,
and wherever LAG is "-".`

func groupsDescribe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("groups describe", "kafkaboot groups describe --group G [--group G]...", groupsDescribeDoc)
	var (
		cf     clientFlags
		groups stringsFlag
	)
	cf.register(fs)
	fs.Var(&groups, "group", "group `id` to describe (required, repeatable)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if len(groups) == 0 {
		return usageErrorf(fs.cmd, "--group is required")
	}
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return cf.explain("describing groups", err)
	}
	groupLags := make([]kadm.GroupLag, len(groups))
	for i, g := range groups {
		l, ok := lags[g]
		if !ok {
			return fmt.Errorf("describing group %q: no answer", g)
		}
		if err := l.Error(); err != nil {
			return fmt.Errorf("describing group %q: %w", g, err)
		}
		if l.State == "Dead" {
			return fmt.Errorf("consumer group %q does not exist", g)
		}
		if len(l.Members) == 0 {
			fmt.Fprintf(stderr, "Consumer group '%s' has no active members.\n", g)
		}
		groupLags[i] = l.Lag
	}
	copts, err := cf.opts()
	if err != nil {
		return err
	}
	ages, err := lagAges(ctx, copts, groupLags...)
	if err != nil {
		return fmt.Errorf("describing groups: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tLAG-TIME\tCONSUMER-ID\tHOST\tCLIENT-ID")
	for i, g := range groups {
		writeGroupLag(tw, g, groupLags[i], ages)
	}
	return tw.Flush()
}

// writeGroupLag writes the rows of groups describe for group, taking
// LAG-TIME from ages (see lagAges).
func writeGroupLag(w io.Writer, group string, lag kadm.GroupLag, ages map[partitionOffset]time.Duration) {
	for _, ml := range lag.Sorted() {
		cur, end, lg, lagTime := "-", "-", "-", "-"
		if ml.Commit.At >= 0 {
			cur = strconv.FormatInt(ml.Commit.At, 10)
		}
		if ml.End.Err == nil {
			end = strconv.FormatInt(ml.End.Offset, 10)
		}
		if ml.Commit.At >= 0 && ml.Err == nil {
			lg = strconv.FormatInt(ml.Lag, 10)
			if ml.Lag <= 0 {
				lagTime = "0s"
			} else if age, ok := ages[partitionOffset{ml.Topic, ml.Partition, ml.Commit.At}]; ok {
				lagTime = formatLagTime(age)
			}
		}
		member, host, client := "-", "-", "-"
		if !ml.IsEmpty() {
			member, host, client = dash(ml.Member.MemberID), dash(ml.Member.ClientHost), dash(ml.Member.ClientID)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", group, ml.Topic, ml.Partition, cur, end, lg, lagTime, member, host, client)
	}
}

func groupsDelete(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("groups delete", "kafkaboot groups delete --group G [--group G]...",
		"Deletes groups and their committed offsets. A group with active members cannot be deleted.")
	var (
		cf     clientFlags
		groups stringsFlag
	)
	cf.register(fs)
	fs.Var(&groups, "group", "group `id` to delete (required, repeatable)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if len(groups) == 0 {
		return usageErrorf(fs.cmd, "--group is required")
	}
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	rs, err := adm.DeleteGroups(ctx, groups...)
	if err != nil {
		return cf.explain("deleting groups", err)
	}
	for _, g := range groups {
		r, ok := rs[g]
		if !ok {
			return fmt.Errorf("deleting group %q: no answer", g)
		}
		if r.Err != nil {
			return fmt.Errorf("deleting group %q: %w", g, errMessage(r.Err, r.ErrMessage))
		}
	}
	fmt.Fprintf(stdout, "Deletion of requested consumer groups ('%s') was successful.\n", strings.Join(groups, "', '"))
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
