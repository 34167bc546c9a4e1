package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// runTopics is `kafkaboot topics`.
func runTopics(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return dispatch(ctx, "topics", []action{
		{"create", "create a topic", topicsCreate},
		{"list", "list topic names", topicsList},
		{"describe", "describe topics: partitions, leaders, replicas, ISR, non-default configs", topicsDescribe},
		{"alter", "add partitions to a topic or change its configs", topicsAlter},
		{"delete", "delete a topic", topicsDelete},
	}, args, stdin, stdout, stderr)
}

func topicsCreate(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("topics create", "kafkaboot topics create --topic T [--partitions N] [--replication-factor R] [--config k=v]... [--if-not-exists]",
		"Creates a topic. Partitions and replication factor default to the broker's num.partitions and default.replication.factor.")
	var (
		cf          clientFlags
		topic       = fs.String("topic", "", "topic `name` (required)")
		partitions  = fs.Int("partitions", 0, "number of partitions (default: the broker's num.partitions)")
		rf          = fs.Int("replication-factor", 0, "replicas per partition (default: the broker's default.replication.factor)")
		ifNotExists = fs.Bool("if-not-exists", false, "succeed if the topic exists already")
		configs     keyValuesFlag
	)
	cf.register(fs)
	fs.Var(&configs, "config", "topic config `key=value`, e.g. cleanup.policy=compact (repeatable)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *topic == "" {
		return usageErrorf(fs.cmd, "--topic is required")
	}
	if *partitions < 0 || *partitions > 1<<31-1 || *rf < 0 || *rf > 1<<15-1 {
		return usageErrorf(fs.cmd, "--partitions and --replication-factor must be positive")
	}
	p, r := int32(*partitions), int16(*rf)
	if p == 0 {
		p = -1
	}
	if r == 0 {
		r = -1
	}
	var cfg map[string]*string
	if len(configs) > 0 {
		cfg = make(map[string]*string, len(configs))
		for _, kv := range configs {
			cfg[kv.key] = kadm.StringPtr(kv.value)
		}
	}

	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	resp, err := adm.CreateTopic(ctx, p, r, cfg, *topic)
	if err == nil {
		err = errMessage(resp.Err, resp.ErrMessage)
	}
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "Created topic %s.\n", *topic)
		return nil
	case *ifNotExists && errors.Is(err, kerr.TopicAlreadyExists):
		return nil
	}
	return cf.explain(fmt.Sprintf("creating topic %q", *topic), err)
}

func topicsList(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("topics list", "kafkaboot topics list [--exclude-internal]", "Prints the names of the cluster's topics, one a line, sorted.")
	var cf clientFlags
	cf.register(fs)
	excludeInternal := fs.Bool("exclude-internal", false, "leave out internal topics such as __consumer_offsets")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	details, err := listTopics(ctx, &cf, *excludeInternal)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, name := range details.Names() {
		b.WriteString(name)
		b.WriteByte('\n')
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

func listTopics(ctx context.Context, cf *clientFlags, excludeInternal bool, topics ...string) (kadm.TopicDetails, error) {
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	details, err := adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return nil, cf.explain("listing topics", err)
	}
	if excludeInternal {
		details.FilterInternal()
	}
	return details, nil
}

const describeDoc = `
Prints, like kafka-topics --describe, one line per topic:

  Topic: T<TAB>TopicId: ID<TAB>PartitionCount: N<TAB>ReplicationFactor: R<TAB>Configs: k=v,k=v

where Configs lists the configs not at their default (set on the topic or
in the broker's config), sorted by name, then one line per partition:

  <TAB>Topic: T<TAB>Partition: P<TAB>Leader: L<TAB>LeaderEpoch: E<TAB>Replicas: 0,1<TAB>Isr: 0,1

Leader is "none" when the partition has no leader; an "<TAB>Offline: ..."
column follows Isr when replicas are offline. On a kafkaboot embedded
cluster (which advertises its admin API as the broker config
kafkaboot.admin.url), the partitions of compacted topics also show their
leader's log cleaner:

  ...<TAB>DirtyRatio: 0.42<TAB>LastClean: 2026-12-04T10:18:57Z (208µs, 3.5 KiB -> 259 B)

(LastClean is "never" before the first cleaning since the node started).`

func topicsDescribe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("topics describe", "kafkaboot topics describe [--topic T]... [--exclude-internal]", describeDoc)
	var (
		cf              clientFlags
		topics          stringsFlag
		excludeInternal = fs.Bool("exclude-internal", false, "leave out internal topics such as __consumer_offsets")
	)
	cf.register(fs)
	fs.Var(&topics, "topic", "describe topic `name` (repeatable; default: all topics)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	details, err := adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return cf.explain("describing topics", err)
	}
	if *excludeInternal {
		details.FilterInternal()
	}
	for _, t := range topics {
		if d, ok := details[t]; !ok || d.Err != nil {
			if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
				return fmt.Errorf("topic %q does not exist", t)
			}
			return fmt.Errorf("describing topic %q: %w", t, d.Err)
		}
	}
	names := details.Names()
	if len(names) == 0 {
		return nil
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return cf.explain("describing topic configs", err)
	}
	configs := make(map[string][]kadm.Config, len(rcs))
	for _, rc := range rcs {
		if rc.Err != nil {
			return fmt.Errorf("describing configs of topic %q: %w", rc.Name, errMessage(rc.Err, rc.ErrMessage))
		}
		configs[rc.Name] = rc.Configs
	}
	cleaning, err := cleanerStates(ctx, adm, names, configs)
	if err != nil {
		// The description stands without the cleaner's columns.
		fmt.Fprintf(stderr, "warning: log cleaner state not shown: %v\n", err)
	}
	var b strings.Builder
	for _, name := range names {
		writeTopicDescription(&b, details[name], configs[name], cleaning)
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// writeTopicDescription writes one topic in kafka-topics --describe form.
// For compacted topics on an embedded cluster, each partition also shows
// its leader's log cleaner: DirtyRatio and LastClean.
func writeTopicDescription(b *strings.Builder, d kadm.TopicDetail, configs []kadm.Config, cleaning map[partitionKey]embeddedbroker.CleanerLog) {
	var cfgs []string
	for _, c := range configs {
		if c.Source == kmsg.ConfigSourceDefaultConfig || c.Source == kmsg.ConfigSourceUnknown {
			continue
		}
		v := c.MaybeValue()
		if c.Sensitive {
			v = "(sensitive)"
		}
		cfgs = append(cfgs, c.Key+"="+v)
	}
	slices.Sort(cfgs)
	parts := d.Partitions.Sorted()
	rf := 0
	if len(parts) > 0 {
		rf = len(parts[0].Replicas)
	}
	fmt.Fprintf(b, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
		d.Topic, base64.RawURLEncoding.EncodeToString(d.ID[:]), len(parts), rf, strings.Join(cfgs, ","))
	for _, p := range parts {
		leader := "none"
		if p.Leader >= 0 {
			leader = strconv.Itoa(int(p.Leader))
		}
		fmt.Fprintf(b, "\tTopic: %s\tPartition: %d\tLeader: %s\tLeaderEpoch: %d\tReplicas: %s\tIsr: %s",
			d.Topic, p.Partition, leader, p.LeaderEpoch, joinInt32s(p.Replicas), joinInt32s(p.ISR))
		if len(p.OfflineReplicas) > 0 {
			fmt.Fprintf(b, "\tOffline: %s", joinInt32s(p.OfflineReplicas))
		}
		if p.Err != nil {
			fmt.Fprintf(b, "\tError: %v", p.Err)
		}
		if l, ok := cleaning[partitionKey{d.Topic, p.Partition, p.Leader}]; ok {
			fmt.Fprintf(b, "\tDirtyRatio: %.2f\tLastClean: %s", l.DirtyRatio, describeRun(l.LastRun))
		}
		b.WriteByte('\n')
	}
}

func joinInt32s(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

func topicsAlter(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("topics alter", "kafkaboot topics alter --topic T [--partitions N] [--config k=v]... [--delete-config k]...",
		`Raises a topic's partition count to N (CreatePartitions; partitions are never removed)
and sets or removes topic configs (IncrementalAlterConfigs).`)
	var (
		cf         clientFlags
		topic      = fs.String("topic", "", "topic `name` (required)")
		partitions = fs.Int("partitions", 0, "new total number of partitions")
		set        keyValuesFlag
		del        stringsFlag
	)
	cf.register(fs)
	fs.Var(&set, "config", "set topic config `key=value` (repeatable)")
	fs.Var(&del, "delete-config", "reset topic config `key` to its default (repeatable)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *topic == "" {
		return usageErrorf(fs.cmd, "--topic is required")
	}
	if *partitions < 0 {
		return usageErrorf(fs.cmd, "--partitions must be positive")
	}
	if *partitions == 0 && len(set) == 0 && len(del) == 0 {
		return usageErrorf(fs.cmd, "nothing to alter: give --partitions, --config or --delete-config")
	}
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	if *partitions > 0 {
		rs, err := adm.UpdatePartitions(ctx, *partitions, *topic)
		if err == nil {
			r, ok := rs[*topic]
			switch {
			case !ok:
				err = fmt.Errorf("no answer for topic %q", *topic)
			default:
				err = errMessage(r.Err, r.ErrMessage)
			}
		}
		if err != nil {
			return cf.explain(fmt.Sprintf("setting partitions of topic %q to %d", *topic, *partitions), err)
		}
	}
	if len(set) > 0 || len(del) > 0 {
		var alters []kadm.AlterConfig
		for _, kv := range set {
			alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv.key, Value: kadm.StringPtr(kv.value)})
		}
		for _, k := range del {
			alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
		}
		rs, err := adm.AlterTopicConfigs(ctx, alters, *topic)
		if err == nil {
			for _, r := range rs {
				if r.Err != nil {
					err = errMessage(r.Err, r.ErrMessage)
					break
				}
			}
		}
		if err != nil {
			return cf.explain(fmt.Sprintf("altering configs of topic %q", *topic), err)
		}
	}
	fmt.Fprintf(stdout, "Altered topic %s.\n", *topic)
	return nil
}

func topicsDelete(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("topics delete", "kafkaboot topics delete --topic T [--if-exists]", "Deletes a topic and its data.")
	var (
		cf       clientFlags
		topic    = fs.String("topic", "", "topic `name` (required)")
		ifExists = fs.Bool("if-exists", false, "succeed if the topic does not exist")
	)
	cf.register(fs)
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
	resp, err := adm.DeleteTopic(ctx, *topic)
	if err == nil {
		err = errMessage(resp.Err, resp.ErrMessage)
	}
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "Deleted topic %s.\n", *topic)
		return nil
	case *ifExists && errors.Is(err, kerr.UnknownTopicOrPartition):
		return nil
	}
	return cf.explain(fmt.Sprintf("deleting topic %q", *topic), err)
}
