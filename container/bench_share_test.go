package container

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/listener"
)

// BenchmarkShareVsClassic is issue 17's work-queue case: a slow handler
// (shareWork per record) on a 2-partition topic, handled by a classic
// listener with concurrency 2 (one member per partition: all a classic
// group can use) and by a share listener with 8 members (KIP-932: the
// partitions' records go to all of them, at most max.poll.records 5 at a
// time to a member). Each variant gets a fresh topic and group; once its
// members have their partitions, shareRecords records are produced (one
// per batch) and the time from the first send to the last record handled
// is timed, both variants every round, in alternating order.
// Reported: each variant's ns/record and ratio-share, the classic
// listener's time over the share listener's (throughput relative to
// classic; about 4 expected: 8 members against 2).
func BenchmarkShareVsClassic(b *testing.B) {
	shareVsClassic(b, newEnv(b, nil))
}

// BenchmarkShareVsClassicKfake is BenchmarkShareVsClassic against
// franz-go's kfake (3 brokers, in memory, share state not replicated) with
// the same container: what the workload gives on another broker.
func BenchmarkShareVsClassicKfake(b *testing.B) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3),
		// The embedded broker's share heartbeat interval (Kafka's is 5 s).
		kfake.BrokerConfigs(map[string]string{"group.share.heartbeat.interval.ms": "1000"}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	addrs := c.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...),
		kgo.RecordPartitioner(DeadLetterPartitioner(kgo.ManualPartitioner())),
		kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	shareVsClassic(b, &env{t: b, addrs: addrs, cl: cl, adm: kadm.NewClient(cl)})
}

func shareVsClassic(b *testing.B, e *env) {
	const (
		shareRecords = 400
		shareWork    = 5 * time.Millisecond
	)
	round := 0
	run := func(share bool) time.Duration {
		round++
		name := fmt.Sprintf("queue-%t-%d", share, round)
		if _, err := e.adm.CreateTopic(context.Background(), 2, 1, nil, name); err != nil {
			b.Fatal(err)
		}
		if share {
			e.shareEarliest(name)
		}
		var n atomic.Int64
		done := make(chan struct{})
		h := func(context.Context, Order) error {
			time.Sleep(shareWork)
			if n.Add(1) == shareRecords {
				close(done)
			}
			return nil
		}
		c, err := New(ep(name, h, func(ep *listener.Endpoint) {
			ep.Group, ep.Share, ep.Concurrency = name, share, 2
			if share {
				ep.Concurrency = 8
				ep.Properties = map[string]string{"max.poll.records": "5"}
			}
		}), e.opts()...)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		defer stop(b, c)
		waitFor(b, time.Minute, func() bool { return e.membersReady(name, share) }, "the members of %s to have their partitions", name)
		rs := make([]*kgo.Record, shareRecords)
		for i := range rs {
			rs[i] = &kgo.Record{Topic: name, Partition: int32(i % 2), Value: []byte(jsonValue(Order{ID: fmt.Sprint(i), Amount: i}))}
		}
		start := time.Now()
		for _, r := range rs { // one record per batch: records are acquired a batch at a time
			e.cl.Produce(context.Background(), r, nil)
		}
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			b.Fatalf("share=%t: %d of %d records handled", share, n.Load(), shareRecords)
		}
		return time.Since(start)
	}
	// The timed part is inside each run (the joins are not), so the
	// rounds are run here rather than with benchrun: both variants each
	// round, in alternating order.
	var classic, share []time.Duration
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			classic = append(classic, run(false))
			share = append(share, run(true))
		} else {
			share = append(share, run(true))
			classic = append(classic, run(false))
		}
	}
	var ct, st time.Duration
	ratios := make([]float64, len(classic))
	for i := range classic {
		ct, st = ct+classic[i], st+share[i]
		ratios[i] = float64(classic[i]) / float64(share[i])
	}
	slices.Sort(ratios)
	b.ReportMetric(float64(ct.Nanoseconds())/float64(len(classic)*shareRecords), "classic-2-ns/record")
	b.ReportMetric(float64(st.Nanoseconds())/float64(len(share)*shareRecords), "share-8-ns/record")
	b.ReportMetric(ratios[len(ratios)/2], "ratio-share")
}

// membersReady reports whether the group's members all have partitions:
// the share group with 8 members all at its assignment epoch (holding
// their target partitions), or the classic group Stable with both
// partitions assigned.
func (e *env) membersReady(group string, share bool) bool {
	ctx := context.Background()
	if share {
		ds, err := e.adm.DescribeShareGroups(ctx, group)
		if err != nil {
			return false
		}
		d := ds[group]
		if d.Err != nil || d.GroupState != "Stable" || len(d.Members) != 8 || d.AssignmentEpoch != d.GroupEpoch {
			return false
		}
		// A share group is Stable as soon as it has members, and a
		// member learns its new target only at its next heartbeat (a
		// second): until every member is at the assignment epoch, the
		// first members to join still hold both partitions, one
		// partition is shared by more members than the other and the
		// run measures the join, not the queue.
		for _, m := range d.Members {
			if len(m.Assignment) == 0 || m.MemberEpoch != d.AssignmentEpoch {
				return false
			}
		}
		return true
	}
	ds, err := e.adm.DescribeGroups(ctx, group)
	if err != nil {
		return false
	}
	d := ds[group]
	return d.Err == nil && d.State == "Stable" && len(d.AssignedPartitions()[group]) == 2
}
