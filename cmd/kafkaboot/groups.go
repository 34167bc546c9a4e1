package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
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

  GROUP  TYPE  STATE  PROTOCOL-TYPE

and nothing when there are none. TYPE is the group protocol: classic
(JoinGroup/SyncGroup, assignment by the client), consumer (KIP-848,
assignment by the broker) or share (KIP-932).`)
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
	fmt.Fprintln(tw, "GROUP\tTYPE\tSTATE\tPROTOCOL-TYPE")
	for _, g := range groups.Sorted() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Group, dash(g.GroupType), dash(g.State), dash(g.ProtocolType))
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
	fs := newFlagSet("groups describe", "kafkaboot groups describe --group G [--group G]... [--state | --members]", groupsDescribeDoc)
	var (
		cf      clientFlags
		groups  stringsFlag
		state   = fs.Bool("state", false, "print each group's type, state, assignor, epochs and member count instead")
		members = fs.Bool("members", false, "print each group's members, with their epochs and assignments, instead")
	)
	cf.register(fs)
	fs.Var(&groups, "group", "group `id` to describe (required, repeatable)")
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
	descs, err := describeGroups(ctx, adm, groups)
	if err != nil {
		return cf.explain("describing groups", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	switch {
	case *state:
		fmt.Fprintln(tw, "GROUP\tTYPE\tSTATE\tASSIGNOR\tGROUP-EPOCH\tASSIGNMENT-EPOCH\t#MEMBERS")
		for _, d := range descs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", d.group, d.typ, d.state, dash(d.assignor),
				epoch(d.epoch), epoch(d.assignmentEpoch), len(d.members))
		}
		return tw.Flush()
	case *members:
		fmt.Fprintln(tw, "GROUP\tCONSUMER-ID\tGROUP-INSTANCE-ID\tHOST\tCLIENT-ID\t#PARTITIONS\tMEMBER-EPOCH\tASSIGNMENT")
		for _, d := range descs {
			for _, m := range d.members {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.group, m.id, dash(m.instance), dash(m.host), dash(m.client),
					m.partitions, epoch(m.epoch), dash(m.assignment))
			}
		}
		return tw.Flush()
	}
	for _, d := range descs {
		if len(d.members) == 0 {
			fmt.Fprintf(stderr, "Consumer group '%s' has no active members.\n", d.group)
		}
	}
	lags := make([]kadm.GroupLag, len(descs))
	for i, d := range descs {
		lags[i] = d.lag
	}
	copts, err := cf.opts()
	if err != nil {
		return err
	}
	ages, err := lagAges(ctx, copts, lags...)
	if err != nil {
		return fmt.Errorf("describing groups: %w", err)
	}
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tLAG-TIME\tCONSUMER-ID\tHOST\tCLIENT-ID")
	for _, d := range descs {
		writeGroupLag(tw, d.group, d.lag, ages)
	}
	return tw.Flush()
}

// groupDesc is what groups describe shows of a group of either protocol.
type groupDesc struct {
	group, typ, state, assignor string
	// epoch and assignmentEpoch are a consumer group's group epoch and
	// target assignment epoch, -1 for a classic group.
	epoch, assignmentEpoch int32
	members                []memberDesc
	lag                    kadm.GroupLag
}

// memberDesc is one member: epoch is a consumer group member's epoch, -1
// in a classic group.
type memberDesc struct {
	id, instance, host, client string
	epoch                      int32
	partitions                 int
	assignment                 string // topic:p,p;topic:p
}

// describeGroups describes groups in order: classic groups with
// DescribeGroups (kadm.Lag), consumer groups (KIP-848, told apart by
// ListGroups' group type) with ConsumerGroupDescribe, their committed
// offsets and the log end offsets.
func describeGroups(ctx context.Context, adm *kadm.Client, groups []string) ([]groupDesc, error) {
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	var classic, consumer []string
	for _, g := range groups {
		if listed[g].GroupType == "consumer" {
			consumer = append(consumer, g)
		} else {
			classic = append(classic, g)
		}
	}
	byGroup := make(map[string]groupDesc, len(groups))
	if len(classic) > 0 {
		lags, err := adm.Lag(ctx, classic...)
		if err != nil {
			return nil, err
		}
		for _, g := range classic {
			l, ok := lags[g]
			if !ok {
				return nil, fmt.Errorf("describing group %q: no answer", g)
			}
			if err := l.Error(); err != nil {
				return nil, fmt.Errorf("describing group %q: %w", g, err)
			}
			if l.State == "Dead" {
				return nil, fmt.Errorf("consumer group %q does not exist", g)
			}
			d := groupDesc{group: g, typ: "classic", state: l.State, assignor: l.Protocol, epoch: -1, assignmentEpoch: -1, lag: l.Lag}
			for _, m := range l.Members {
				md := memberDesc{id: m.MemberID, instance: deref(m.InstanceID), host: m.ClientHost, client: m.ClientID, epoch: -1}
				if a, ok := m.Assigned.AsConsumer(); ok {
					set := make(kadm.TopicsSet)
					for _, t := range a.Topics {
						set.Add(t.Topic, t.Partitions...)
					}
					md.partitions, md.assignment = partitionCount(set), formatTopicsSet(set)
				}
				d.members = append(d.members, md)
			}
			byGroup[g] = d
		}
	}
	if len(consumer) > 0 {
		dcs, err := adm.DescribeConsumerGroups(ctx, consumer...)
		if err != nil {
			return nil, err
		}
		for _, g := range consumer {
			dc, ok := dcs[g]
			if !ok {
				return nil, fmt.Errorf("describing group %q: no answer", g)
			}
			if dc.Err != nil {
				return nil, fmt.Errorf("describing group %q: %w", g, dc.Err)
			}
			commits, err := adm.FetchOffsets(ctx, g)
			if err != nil {
				return nil, fmt.Errorf("fetching the committed offsets of group %q: %w", g, err)
			}
			topics := make(map[string]bool)
			for t := range commits {
				topics[t] = true
			}
			d := groupDesc{group: g, typ: "consumer", state: dc.State, assignor: dc.AssignorName, epoch: dc.Epoch, assignmentEpoch: dc.AssignmentEpoch}
			for _, m := range dc.Members {
				for t := range m.Assignment {
					topics[t] = true
				}
				d.members = append(d.members, memberDesc{id: m.MemberID, instance: deref(m.InstanceID), host: m.ClientHost, client: m.ClientID,
					epoch: m.MemberEpoch, partitions: partitionCount(m.Assignment), assignment: formatTopicsSet(m.Assignment)})
			}
			var ends kadm.ListedOffsets
			if len(topics) > 0 {
				if ends, err = adm.ListEndOffsets(ctx, slices.Sorted(maps.Keys(topics))...); err != nil {
					return nil, fmt.Errorf("listing end offsets for group %q: %w", g, err)
				}
			}
			d.lag = consumerGroupLag(dc, commits, ends)
			byGroup[g] = d
		}
	}
	out := make([]groupDesc, len(groups))
	for i, g := range groups {
		out[i] = byGroup[g]
	}
	return out, nil
}

// consumerGroupLag is kadm.CalculateGroupLag for a consumer group
// (KIP-848): a row per partition a member has or the group committed.
func consumerGroupLag(dc kadm.DescribedConsumerGroup, commits kadm.OffsetResponses, ends kadm.ListedOffsets) kadm.GroupLag {
	lag := make(kadm.GroupLag)
	add := func(t string, p int32, m *kadm.DescribedGroupMember) {
		if lag[t] == nil {
			lag[t] = make(map[int32]kadm.GroupMemberLag)
		}
		ml := kadm.GroupMemberLag{Member: m, Topic: t, Partition: p, Commit: kadm.Offset{Topic: t, Partition: p, At: -1}, Lag: -1}
		if c, ok := commits.Lookup(t, p); ok {
			ml.Commit, ml.Err = c.Offset, c.Err
		}
		if e, ok := ends.Lookup(t, p); ok {
			ml.End = e
			if ml.Err == nil {
				ml.Err = e.Err
			}
		}
		if ml.Err == nil && ml.Commit.At >= 0 {
			ml.Lag = max(ml.End.Offset-ml.Commit.At, 0)
		}
		lag[t][p] = ml
	}
	for _, m := range dc.Members {
		dm := &kadm.DescribedGroupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost}
		for t, ps := range m.Assignment {
			for p := range ps {
				add(t, p, dm)
			}
		}
	}
	for t, ps := range commits {
		for p := range ps {
			if _, ok := lag[t][p]; !ok {
				add(t, p, nil)
			}
		}
	}
	return lag
}

// formatTopicsSet prints a set of partitions as topic:p,p;topic:p, sorted.
func formatTopicsSet(s kadm.TopicsSet) string {
	var parts []string
	for _, t := range s.Sorted() {
		ps := slices.Sorted(slices.Values(t.Partitions))
		strs := make([]string, len(ps))
		for i, p := range ps {
			strs[i] = strconv.Itoa(int(p))
		}
		parts = append(parts, t.Topic+":"+strings.Join(strs, ","))
	}
	return strings.Join(parts, ";")
}

func epoch(e int32) string {
	if e < 0 {
		return "-"
	}
	return strconv.Itoa(int(e))
}

// partitionCount is the number of partitions of s.
func partitionCount(s kadm.TopicsSet) int {
	n := 0
	for _, ps := range s {
		n += len(ps)
	}
	return n
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
