package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
)

// runShareGroups is `kafkaboot share-groups`, like Kafka's
// kafka-share-groups.
func runShareGroups(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return dispatch(ctx, "share-groups", []action{
		{"list", "list share groups with their state", shareGroupsList},
		{"describe", "show a share group's start offsets and lag, its members (--members) or its state (--state)", shareGroupsDescribe},
		{"delete", "delete an empty share group and its share state", groupsDelete},
	}, args, stdin, stdout, stderr)
}

func shareGroupsList(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("share-groups list", "kafkaboot share-groups list", `Prints the cluster's share groups (KIP-932), sorted by name:

  GROUP  STATE

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
	groups, err := adm.ListGroupsByType(ctx, []string{"share"})
	if err != nil {
		return cf.explain("listing share groups", err)
	}
	if len(groups) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE")
	for _, g := range groups.Sorted() {
		fmt.Fprintf(tw, "%s\t%s\n", g.Group, dash(g.State))
	}
	return tw.Flush()
}

const shareGroupsDescribeDoc = `
Prints, like kafka-share-groups --describe, one row per partition the
share group has state for:

  GROUP  TOPIC  PARTITION  START-OFFSET  LAG

START-OFFSET is the share-partition start offset (every record before it
is acknowledged or archived), LAG the records after it not yet
acknowledged or archived ("-" where the broker does not know). With
--members, one row per member:

  GROUP  CONSUMER-ID  HOST  CLIENT-ID  MEMBER-EPOCH  #PARTITIONS  ASSIGNMENT

(in a share group a partition is assigned to several members), and with
--state one row per group:

  GROUP  STATE  ASSIGNOR  GROUP-EPOCH  ASSIGNMENT-EPOCH  #MEMBERS`

func shareGroupsDescribe(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("share-groups describe", "kafkaboot share-groups describe --group G [--group G]... [--members | --state]", shareGroupsDescribeDoc)
	var (
		cf      clientFlags
		groups  stringsFlag
		members = fs.Bool("members", false, "print the groups' members instead")
		state   = fs.Bool("state", false, "print the groups' state instead")
	)
	cf.register(fs)
	fs.Var(&groups, "group", "share group `id` to describe (required, repeatable)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	switch {
	case len(groups) == 0:
		return usageErrorf(fs.cmd, "--group is required")
	case *state && *members:
		return usageErrorf(fs.cmd, "--state and --members exclude each other")
	}
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	if *state || *members {
		ds, err := adm.DescribeShareGroups(ctx, groups...)
		if err != nil {
			return cf.explain("describing share groups", err)
		}
		described := make([]kadm.DescribedShareGroup, len(groups))
		for i, g := range groups {
			d, ok := ds[g]
			if !ok {
				return fmt.Errorf("describing share group %q: no answer", g)
			}
			if d.Err != nil {
				return fmt.Errorf("describing share group %q: %w", g, d.Err)
			}
			described[i] = d
		}
		if *state {
			fmt.Fprintln(tw, "GROUP\tSTATE\tASSIGNOR\tGROUP-EPOCH\tASSIGNMENT-EPOCH\t#MEMBERS")
			for _, d := range described {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\n", d.GroupID, d.GroupState, dash(d.Assignor), d.GroupEpoch, d.AssignmentEpoch, len(d.Members))
			}
			return tw.Flush()
		}
		fmt.Fprintln(tw, "GROUP\tCONSUMER-ID\tHOST\tCLIENT-ID\tMEMBER-EPOCH\t#PARTITIONS\tASSIGNMENT")
		for _, d := range described {
			for _, m := range d.Members {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", d.GroupID, m.MemberID, dash(m.ClientHost), dash(m.ClientID), m.MemberEpoch,
					partitionCount(m.Assignment), dash(formatTopicsSet(m.Assignment)))
			}
		}
		return tw.Flush()
	}
	offs, err := adm.DescribeShareGroupOffsets(ctx, groups...)
	if err != nil {
		return cf.explain("describing share group offsets", err)
	}
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tSTART-OFFSET\tLAG")
	for _, g := range groups {
		d, ok := offs[g]
		if !ok {
			return fmt.Errorf("describing share group %q: no answer", g)
		}
		if d.Err != nil {
			return fmt.Errorf("describing share group %q: %w", g, d.Err)
		}
		var rows []kadm.ShareOffset
		for _, ps := range d.Offsets {
			for _, o := range ps {
				rows = append(rows, o)
			}
		}
		slices.SortFunc(rows, func(a, b kadm.ShareOffset) int {
			return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
		})
		for _, o := range rows {
			start, lag := "-", "-"
			if o.Err == nil && o.StartOffset >= 0 {
				start = strconv.FormatInt(o.StartOffset, 10)
			}
			if o.Err == nil && o.Lag >= 0 {
				lag = strconv.FormatInt(o.Lag, 10)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", g, o.Topic, o.Partition, start, lag)
		}
	}
	return tw.Flush()
}
