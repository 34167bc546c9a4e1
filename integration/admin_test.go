package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func ptr(s string) *string { return &s }

// configOf returns a topic's described config by name.
func configOf(t *testing.T, ctx context.Context, adm *kadm.Client, topic, name string) kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatalf("DescribeTopicConfigs: %v", err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatalf("DescribeTopicConfigs %s: %v", topic, err)
	}
	for _, c := range rc.Configs {
		if c.Key == name {
			return c
		}
	}
	t.Fatalf("DescribeTopicConfigs %s: no config %s", topic, name)
	return kadm.Config{}
}

// wantConfig checks a topic config's value and source.
func wantConfig(t *testing.T, ctx context.Context, adm *kadm.Client, topic, name, value string, src kmsg.ConfigSource) {
	t.Helper()
	c := configOf(t, ctx, adm, topic, name)
	if c.MaybeValue() != value || c.Source != src {
		t.Errorf("%s %s = %q (source %v), want %q (source %v)", topic, name, c.MaybeValue(), c.Source, value, src)
	}
}

// produceAt produces records with explicit partitions and timestamps with
// franz-go and returns them as the broker acknowledged them.
func produceAt(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, parts, n int32, ts func(p, i int32) time.Time) []*kgo.Record {
	t.Helper()
	var rs []*kgo.Record
	for p := range parts {
		for i := range n {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d-%d", p, i), Timestamp: ts(p, i)})
		}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	return rs
}

// adminClients returns a franz-go client that partitions manually and its
// kadm client.
func adminClients(t *testing.T, c *embeddedbroker.Cluster) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// TestAdmin exercises kadm's admin calls against a 3-node cluster.
func TestAdmin(t *testing.T) {
	c := startCluster(t)

	t.Run("CreateTopics", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		_, adm := adminClients(t, c)

		// Validate only: answers like a create, creates nothing.
		vr, err := adm.ValidateCreateTopics(ctx, 3, 1, map[string]*string{"retention.ms": ptr("3600000")}, "validated")
		if err != nil {
			t.Fatalf("ValidateCreateTopics: %v", err)
		}
		if r := vr["validated"]; r.Err != nil || r.NumPartitions != 3 {
			t.Errorf("ValidateCreateTopics: %+v", r)
		}

		cfg := map[string]*string{"retention.ms": ptr("3600000"), "cleanup.policy": ptr("compact"), "max.message.bytes": ptr("200000")}
		resp, err := adm.CreateTopic(ctx, 6, 1, cfg, "with-configs")
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("CreateTopic: %v", err)
		}
		if resp.NumPartitions != 6 || resp.ReplicationFactor != 1 || resp.ID == (kadm.TopicID{}) {
			t.Errorf("CreateTopic: %d partitions, replication factor %d, id %v", resp.NumPartitions, resp.ReplicationFactor, resp.ID)
		}
		if c := resp.Configs["retention.ms"]; c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("CreateTopic config retention.ms: %q (source %v)", c.MaybeValue(), c.Source)
		}

		// Defaults: -1 partitions and replication factor take the broker's.
		resp, err = adm.CreateTopic(ctx, -1, -1, nil, "defaults")
		if err == nil {
			err = resp.Err
		}
		if err != nil || resp.NumPartitions != 1 || resp.ReplicationFactor != 1 {
			t.Errorf("CreateTopic with defaults: %v, %d partitions, replication factor %d", err, resp.NumPartitions, resp.ReplicationFactor)
		}

		for _, tc := range []struct {
			name    string
			parts   int32
			rf      int16
			configs map[string]*string
			topic   string
			want    error
		}{
			{"duplicate", 3, 1, nil, "with-configs", kerr.TopicAlreadyExists},
			// More replicas than nodes; (replication factor 2 was refused
			// too while the broker had no replication.)
			{"replication factor above nodes", 3, 4, nil, "rf4", kerr.InvalidReplicationFactor},
			{"replication factor 0", 3, 0, nil, "rf0", kerr.InvalidReplicationFactor},
			{"zero partitions", 0, 1, nil, "zero", kerr.InvalidPartitions},
			{"bad name", 1, 1, nil, "bad/name", kerr.InvalidTopicException},
			{"bad config value", 1, 1, map[string]*string{"retention.ms": ptr("soon")}, "bad-value", kerr.InvalidConfig},
			{"unknown config", 1, 1, map[string]*string{"no.such.config": ptr("1")}, "bad-config", kerr.InvalidConfig},
		} {
			r, err := adm.CreateTopic(ctx, tc.parts, tc.rf, tc.configs, tc.topic)
			if err == nil {
				err = r.Err
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: CreateTopic %q: %v, want %v", tc.name, tc.topic, err, tc.want)
			}
		}

		tds, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatalf("ListTopics: %v", err)
		}
		for _, name := range []string{"validated", "rf4", "rf0", "zero", "bad-value", "bad-config"} {
			if tds.Has(name) {
				t.Errorf("ListTopics has %q, which was not to be created", name)
			}
		}
		td, ok := tds["with-configs"]
		if !ok || td.Err != nil || len(td.Partitions) != 6 {
			t.Fatalf("ListTopics with-configs: %+v", td)
		}
		leaders := map[int32]int{}
		for _, p := range td.Partitions {
			leaders[p.Leader]++
			if p.Err != nil || !slices.Equal(p.Replicas, []int32{p.Leader}) || !slices.Equal(p.ISR, []int32{p.Leader}) || p.LeaderEpoch < 0 {
				t.Errorf("partition %d: %+v", p.Partition, p)
			}
		}
		if len(leaders) != 3 {
			t.Errorf("leaders of 6 partitions on nodes %v, want all 3 nodes", leaders)
		}
	})

	t.Run("Metadata", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		cl, adm := adminClients(t, c)
		md, err := adm.BrokerMetadata(ctx)
		if err != nil {
			t.Fatalf("BrokerMetadata: %v", err)
		}
		if md.Cluster == "" || md.Controller < 0 || len(md.Brokers) != 3 {
			t.Fatalf("BrokerMetadata: cluster %q, controller %d, %d brokers", md.Cluster, md.Controller, len(md.Brokers))
		}
		for i, b := range md.Brokers {
			if b.NodeID != int32(i) || fmt.Sprintf("%s:%d", b.Host, b.Port) != c.Addrs()[i] {
				t.Errorf("broker %d: %+v, want node %d at %s", i, b, i, c.Addrs()[i])
			}
		}

		// DescribeCluster (KIP-700) agrees with Metadata.
		req := kmsg.NewPtrDescribeClusterRequest()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("DescribeCluster: %v", err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil || resp.ClusterID != md.Cluster || resp.ControllerID != md.Controller || len(resp.Brokers) != 3 {
			t.Errorf("DescribeCluster: %v, cluster %q, controller %d, %d brokers", err, resp.ClusterID, resp.ControllerID, len(resp.Brokers))
		}

		// An unknown topic is reported, not created (kadm does not allow
		// auto creation).
		md, err = adm.Metadata(ctx, "no-such-topic")
		if err != nil {
			t.Fatalf("Metadata: %v", err)
		}
		if td := md.Topics["no-such-topic"]; !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("Metadata of an unknown topic: %v, want %v", td.Err, kerr.UnknownTopicOrPartition)
		}

		bcs, err := adm.DescribeBrokerConfigs(ctx, 1)
		if err != nil {
			t.Fatalf("DescribeBrokerConfigs: %v", err)
		}
		rc, err := bcs.On("1", nil)
		if err != nil || rc.Err != nil || len(rc.Configs) == 0 {
			t.Errorf("DescribeBrokerConfigs: %v, %+v", err, rc)
		}

		vs, err := adm.ApiVersions(ctx)
		if err != nil {
			t.Fatalf("ApiVersions: %v", err)
		}
		if len(vs) != 3 {
			t.Errorf("ApiVersions from %d brokers, want 3", len(vs))
		}
	})

	t.Run("Configs", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		_, adm := adminClients(t, c)
		const topic = "configs"
		if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": ptr("3600000"), "max.message.bytes": ptr("200000")}, topic); err != nil {
			t.Fatal(err)
		}
		wantConfig(t, ctx, adm, topic, "retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
		wantConfig(t, ctx, adm, topic, "segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig)

		// IncrementalAlterConfigs: set, delete, append to a list.
		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("7200000")},
			{Op: kadm.DeleteConfig, Name: "max.message.bytes"},
			{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: ptr("compact")},
		}, topic)
		if err == nil {
			err = firstAlterErr(rs)
		}
		if err != nil {
			t.Fatalf("AlterTopicConfigs: %v", err)
		}
		wantConfig(t, ctx, adm, topic, "retention.ms", "7200000", kmsg.ConfigSourceDynamicTopicConfig)
		wantConfig(t, ctx, adm, topic, "max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, ctx, adm, topic, "cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicTopicConfig)

		// Validate only changes nothing; a bad value is refused.
		rs, err = adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("1")}}, topic)
		if err == nil {
			err = firstAlterErr(rs)
		}
		if err != nil {
			t.Fatalf("ValidateAlterTopicConfigs: %v", err)
		}
		wantConfig(t, ctx, adm, topic, "retention.ms", "7200000", kmsg.ConfigSourceDynamicTopicConfig)
		rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("soon")}}, topic)
		if err == nil {
			err = firstAlterErr(rs)
		}
		if !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("AlterTopicConfigs with a bad value: %v, want %v", err, kerr.InvalidConfig)
		}

		// AlterConfigs (the legacy, non-incremental request) replaces the
		// whole set: what it does not name goes back to its default.
		rs, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: ptr("600000")}}, topic)
		if err == nil {
			err = firstAlterErr(rs)
		}
		if err != nil {
			t.Fatalf("AlterTopicConfigsState: %v", err)
		}
		wantConfig(t, ctx, adm, topic, "segment.ms", "600000", kmsg.ConfigSourceDynamicTopicConfig)
		wantConfig(t, ctx, adm, topic, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, ctx, adm, topic, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)

		// Broker configs are static here.
		brs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "num.partitions", Value: ptr("3")}})
		if err == nil {
			err = firstAlterErr(brs)
		}
		if err == nil {
			t.Errorf("AlterBrokerConfigs succeeded; broker configs are static")
		}
	})

	t.Run("PartitionsAndOffsets", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		cl, adm := adminClients(t, c)
		const topic = "offsets"
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		rs, err := adm.CreatePartitions(ctx, 2, topic)
		if err == nil {
			err = rs[topic].Err
		}
		if err != nil {
			t.Fatalf("CreatePartitions: %v", err)
		}
		rs, err = adm.UpdatePartitions(ctx, 3, topic)
		if err == nil {
			err = rs[topic].Err
		}
		if !errors.Is(err, kerr.InvalidPartitions) {
			t.Errorf("UpdatePartitions to fewer: %v, want %v", err, kerr.InvalidPartitions)
		}
		tds, err := adm.ListTopics(ctx, topic)
		if err != nil || len(tds[topic].Partitions) != 4 {
			t.Fatalf("ListTopics after CreatePartitions: %v, %+v", err, tds[topic])
		}

		// Record i of each partition is stamped base + i s, except that in
		// partition 3 record 5 has the largest timestamp.
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		const n = 10
		produceAt(t, ctx, cl, topic, 4, n, func(p, i int32) time.Time {
			if p == 3 && i == 5 {
				return base.Add(time.Minute)
			}
			return base.Add(time.Duration(i) * time.Second)
		})

		listed := func(l kadm.ListedOffsets, err error) kadm.ListedOffsets {
			t.Helper()
			if err == nil {
				err = l.Error()
			}
			if err != nil {
				t.Fatalf("listing offsets: %v", err)
			}
			return l
		}
		ends := listed(adm.ListEndOffsets(ctx, topic))
		starts := listed(adm.ListStartOffsets(ctx, topic))
		for p := range int32(4) {
			e, _ := ends.Lookup(topic, p)
			s, _ := starts.Lookup(topic, p)
			if e.Offset != n || s.Offset != 0 {
				t.Errorf("partition %d: offsets [%d, %d), want [0, %d)", p, s.Offset, e.Offset, n)
			}
		}

		// DeleteRecords moves the log start offset.
		dr, err := adm.DeleteRecords(ctx, kadm.OffsetsFromRecords(kgo.Record{Topic: topic, Partition: 0, Offset: 3}))
		if err != nil {
			t.Fatalf("DeleteRecords: %v", err)
		}
		if r, _ := dr.Lookup(topic, 0); r.Err != nil || r.LowWatermark != 4 {
			t.Errorf("DeleteRecords: low watermark %d, %v; want 4", r.LowWatermark, r.Err)
		}
		dr, err = adm.DeleteRecords(ctx, kadm.OffsetsFromRecords(kgo.Record{Topic: topic, Partition: 1, Offset: n + 5}))
		if err != nil {
			t.Fatalf("DeleteRecords: %v", err)
		}
		if r, _ := dr.Lookup(topic, 1); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
			t.Errorf("DeleteRecords past the end: %v, want %v", r.Err, kerr.OffsetOutOfRange)
		}
		starts = listed(adm.ListStartOffsets(ctx, topic))
		if s, _ := starts.Lookup(topic, 0); s.Offset != 4 {
			t.Errorf("partition 0 starts at %d after DeleteRecords, want 4", s.Offset)
		}
		if s, _ := starts.Lookup(topic, 1); s.Offset != 0 {
			t.Errorf("partition 1 starts at %d, want 0", s.Offset)
		}
		// A consumer from the start begins at the new start.
		cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after DeleteRecords: %v", err)
		}
		if recs := fs.Records(); len(recs) == 0 || recs[0].Offset != 4 {
			t.Errorf("consume after DeleteRecords: first of %d records at %v, want offset 4", len(recs), recs)
		}

		// By timestamp.
		after := listed(adm.ListOffsetsAfterMilli(ctx, base.Add(5500*time.Millisecond).UnixMilli(), topic))
		for p := range int32(4) {
			o, _ := after.Lookup(topic, p)
			want := int64(6)
			if p == 3 {
				want = 5 // the record stamped a minute later
			}
			if o.Offset != want {
				t.Errorf("ListOffsetsAfterMilli partition %d: offset %d, want %d", p, o.Offset, want)
			}
		}
		early := listed(adm.ListOffsetsAfterMilli(ctx, base.Add(-time.Hour).UnixMilli(), topic))
		for p, want := range map[int32]int64{0: 4, 1: 0} {
			if o, _ := early.Lookup(topic, p); o.Offset != want || o.Timestamp != base.Add(time.Duration(want)*time.Second).UnixMilli() {
				t.Errorf("ListOffsetsAfterMilli before all, partition %d: offset %d at %d, want %d", p, o.Offset, o.Timestamp, want)
			}
		}
		late := listed(adm.ListOffsetsAfterMilli(ctx, base.Add(time.Hour).UnixMilli(), topic))
		if o, _ := late.Lookup(topic, 2); o.Offset != n {
			t.Errorf("ListOffsetsAfterMilli after all: offset %d, want the end %d", o.Offset, n)
		}
		maxTs := listed(adm.ListMaxTimestampOffsets(ctx, topic))
		for p, want := range map[int32]struct {
			off int64
			ts  time.Time
		}{1: {n - 1, base.Add((n - 1) * time.Second)}, 3: {5, base.Add(time.Minute)}} {
			if o, _ := maxTs.Lookup(topic, p); o.Offset != want.off || o.Timestamp != want.ts.UnixMilli() {
				t.Errorf("ListMaxTimestampOffsets partition %d: offset %d at %d, want %d at %d", p, o.Offset, o.Timestamp, want.off, want.ts.UnixMilli())
			}
		}

		// OffsetForLeaderEpoch: the current epoch ends at the log end.
		var req kadm.OffsetForLeaderEpochRequest
		for _, p := range tds[topic].Partitions {
			req.Add(topic, p.Partition, p.LeaderEpoch)
		}
		ofle, err := adm.OffsetForLeaderEpoch(ctx, req)
		if err != nil {
			t.Fatalf("OffsetForLeaderEpoch: %v", err)
		}
		for _, p := range tds[topic].Partitions {
			o := ofle[topic][p.Partition]
			if o.Err != nil || o.LeaderEpoch != p.LeaderEpoch || o.EndOffset != n || o.NodeID != p.Leader {
				t.Errorf("OffsetForLeaderEpoch partition %d: %+v, want epoch %d, end %d, node %d", p.Partition, o, p.LeaderEpoch, n, p.Leader)
			}
		}
	})

	t.Run("DeleteTopics", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		cl, adm := adminClients(t, c)
		const topic = "to-delete"
		first, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
		if err != nil {
			t.Fatal(err)
		}
		produceAt(t, ctx, cl, topic, 3, 5, func(p, i int32) time.Time { return time.Now() })
		dr, err := adm.DeleteTopic(ctx, topic)
		if err == nil {
			err = dr.Err
		}
		if err != nil {
			t.Fatalf("DeleteTopic: %v", err)
		}
		tds, err := adm.ListTopics(ctx)
		if err != nil || tds.Has(topic) {
			t.Fatalf("ListTopics after DeleteTopic: %v, has %q: %v", err, topic, tds.Has(topic))
		}
		dr, err = adm.DeleteTopic(ctx, topic)
		if err == nil {
			err = dr.Err
		}
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Errorf("DeleteTopic again: %v, want %v", err, kerr.UnknownTopicOrPartition)
		}
		// Created again, the topic is new and empty.
		again, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
		if err == nil {
			err = again.Err
		}
		if err != nil || again.ID == first.ID {
			t.Fatalf("CreateTopic after delete: %v, id %v (was %v)", err, again.ID, first.ID)
		}
		// A fresh client: franz-go caches topic metadata for a few seconds
		// (kgo.MetadataMinAge), and the re-created topic's leaders may
		// differ from the deleted one's; with the stale mapping a
		// ListOffsets sharded over several brokers gets
		// NOT_LEADER_FOR_PARTITION on every shard and kgo retries only the
		// first of them.
		ends, err := franzAdmin(t, c.Addrs()).ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			t.Fatalf("ListEndOffsets: %v", err)
		}
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset != 0 {
				t.Errorf("re-created topic partition %d ends at %d, want 0", o.Partition, o.Offset)
			}
		})
	})

	t.Run("LogAppendTime", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		cl, adm := adminClients(t, c)
		const topic = "log-append-time"
		if _, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"message.timestamp.type": ptr("LogAppendTime")}, topic); err != nil {
			t.Fatal(err)
		}
		old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
		before := time.Now().Truncate(time.Millisecond)
		produceAt(t, ctx, cl, topic, 3, 19, func(p, i int32) time.Time { return old })
		// sarama sets the produce response's log append time on the
		// messages it acknowledges.
		cfg := saramaConfig(saramaVersions[0])
		cfg.Producer.Return.Successes = true
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		sp, err := sarama.NewSyncProducer(c.Addrs(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		msgs := make([]*sarama.ProducerMessage, 3)
		for p := range msgs {
			msgs[p] = &sarama.ProducerMessage{Topic: topic, Partition: int32(p), Value: sarama.StringEncoder("sarama"), Timestamp: old}
		}
		err = sp.SendMessages(msgs)
		sp.Close()
		if err != nil {
			t.Fatalf("sarama SendMessages: %v", err)
		}
		after := time.Now()
		for _, m := range msgs {
			if m.Timestamp.Before(before) || m.Timestamp.After(after) || m.Offset != 19 {
				t.Errorf("sarama produced %d/%d at %v, want offset 19 at the broker's append time in [%v, %v]", m.Partition, m.Offset, m.Timestamp, before, after)
			}
		}
		want := map[int32]int{0: 20, 1: 20, 2: 20}
		cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {
			0: kgo.NewOffset().At(0), 1: kgo.NewOffset().At(0), 2: kgo.NewOffset().At(0),
		}}))
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		got := map[int32]int{}
		for got[0]+got[1]+got[2] < 60 {
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				got[r.Partition]++
				if r.Attrs.TimestampType() != 1 || r.Timestamp.Before(before) || r.Timestamp.After(after) {
					t.Errorf("consumed %d/%d: timestamp %v type %d, want a log append time (type 1) in [%v, %v]", r.Partition, r.Offset, r.Timestamp, r.Attrs.TimestampType(), before, after)
				}
			})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("consumed %v, want %v", got, want)
		}
		// Timestamp lookups see the append times, not the old ones.
		l, err := adm.ListOffsetsAfterMilli(ctx, old.Add(time.Hour).UnixMilli(), topic)
		if err == nil {
			err = l.Error()
		}
		if err != nil {
			t.Fatalf("ListOffsetsAfterMilli: %v", err)
		}
		l.Each(func(o kadm.ListedOffset) {
			if o.Offset != 0 || o.Timestamp < before.UnixMilli() {
				t.Errorf("ListOffsetsAfterMilli partition %d: offset %d at %d, want 0 at an append time", o.Partition, o.Offset, o.Timestamp)
			}
		})
	})
}

// firstAlterErr returns the first error of alter responses.
func firstAlterErr(rs kadm.AlterConfigsResponses) error {
	for _, r := range rs {
		if r.Err != nil {
			return fmt.Errorf("%s: %w (%s)", r.Name, r.Err, r.ErrMessage)
		}
	}
	return nil
}
