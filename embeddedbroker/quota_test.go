package embeddedbroker_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// throttleHook counts the throttles a client is told of.
type throttleHook struct {
	n     atomic.Int64
	total atomic.Int64 // milliseconds
}

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	h.n.Add(1)
	h.total.Add(d.Milliseconds())
}

// TestProduceQuota: a producer whose client id is limited to 1 MiB/s
// sends 10 MiB in about 10 s, is told of throttles, and loses nothing; a
// producer without a quota, on the same cluster at the same time, is not
// slowed; a consumer limited to 2 MiB/s reads the 10 MiB in about 4 s. The quota window is 2 samples of 1 s (quota.window.num,
// quota.window.size.seconds): with Kafka's default of 11, a fresh client
// may first burst 10 s worth of its quota at once.
func TestProduceQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 10 s")
	}
	c := embeddedbroker.StartForTest(t,
		embeddedbroker.Topics(1, "limited", "free"),
		embeddedbroker.BrokerConfig("quota.window.num", "2"),
		embeddedbroker.BrokerConfig("quota.window.size.seconds", "1"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(c.Addrs()...)))
	const rate = 1 << 20
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kmsg.StringPtr("limited")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: rate}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("AlterClientQuotas: %v %v", err, res)
	}
	described, err := adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchType: 2}})
	if err != nil || len(described) != 1 || described[0].Values[0].Value != rate {
		t.Fatalf("DescribeClientQuotas: %v %+v", err, described)
	}

	const total, size = 10 << 20, 64 << 10
	value := bytes.Repeat([]byte("q"), size)
	send := func(clientID, topic string, hook *throttleHook) (time.Duration, error) {
		// Uncompressed: Kafka counts a produce request's bytes as sent,
		// so the 10 MiB are 10 MiB on the wire.
		cl := mustClient(t, kgo.SeedBrokers(c.Addrs()...), kgo.ClientID(clientID), kgo.WithHooks(hook),
			kgo.ProducerLinger(0), kgo.ProducerBatchMaxBytes(256<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
		start := time.Now()
		var wg sync.WaitGroup
		var firstErr atomic.Value
		for range total / size {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
				wg.Done()
			})
		}
		wg.Wait()
		if err, _ := firstErr.Load().(error); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	var limitedHook, freeHook throttleHook
	var limited, free time.Duration
	var limErr, freeErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		limited, limErr = send("limited", "limited", &limitedHook)
	}()
	free, freeErr = send("free", "free", &freeHook)
	wg.Wait()
	if limErr != nil || freeErr != nil {
		t.Fatalf("produce: limited %v, free %v", limErr, freeErr)
	}
	t.Logf("limited to 1 MiB/s: 10 MiB in %v (%.2f MiB/s), %d throttles totalling %d ms; unlimited: 10 MiB in %v, %d throttles",
		limited.Round(time.Millisecond), float64(total)/(1<<20)/limited.Seconds(), limitedHook.n.Load(), limitedHook.total.Load(),
		free.Round(time.Millisecond), freeHook.n.Load())
	if limited < 8*time.Second || limited > 13*time.Second {
		t.Errorf("10 MiB at 1 MiB/s took %v, want about 9-10 s", limited)
	}
	if limitedHook.n.Load() == 0 {
		t.Error("the limited producer was told of no throttle")
	}
	if freeHook.n.Load() != 0 || free > limited/3 {
		t.Errorf("the unlimited producer took %v with %d throttles", free, freeHook.n.Load())
	}
	// Nothing lost: every record is in the log.
	offsets, err := adm.ListEndOffsets(ctx, "limited", "free")
	if err != nil {
		t.Fatal(err)
	}
	offsets.Each(func(o kadm.ListedOffset) {
		if o.Offset != total/size {
			t.Errorf("%s has %d records, want %d", o.Topic, o.Offset, total/size)
		}
	})

	// Fetching: a consumer limited to 2 MiB/s reads the 10 MiB back in
	// about 4 s (after a 2 MiB burst), told of throttles.
	res, err = adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kmsg.StringPtr("slow-reader")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 2 * rate}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("AlterClientQuotas: %v %v", err, res)
	}
	var readHook throttleHook
	reader := mustClient(t, kgo.SeedBrokers(c.Addrs()...), kgo.ClientID("slow-reader"), kgo.WithHooks(&readHook),
		kgo.ConsumeTopics("limited"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(1<<20), kgo.FetchMaxPartitionBytes(1<<20))
	start, got := time.Now(), 0
	for got < total/size {
		fs := reader.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	read := time.Since(start)
	t.Logf("limited to 2 MiB/s: read 10 MiB in %v, %d throttles", read.Round(time.Millisecond), readHook.n.Load())
	if read < 3*time.Second || readHook.n.Load() == 0 {
		t.Errorf("10 MiB at 2 MiB/s read in %v with %d throttles, want about 4 s and throttles", read, readHook.n.Load())
	}
}

// TestRequestQuota: a client id limited to a sliver of a request thread
// (request_percentage) is throttled on every kind of request, here
// Metadata, and gets far fewer answered in the same time than one
// without a quota.
func TestRequestQuota(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Topics(1, "orders"),
		embeddedbroker.BrokerConfig("quota.window.num", "2"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(c.Addrs()...)))
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kmsg.StringPtr("busy")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "request_percentage", Value: 0.01}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("AlterClientQuotas: %v %v", err, res)
	}
	count := func(clientID string, hook *throttleHook) int {
		cl := mustClient(t, kgo.SeedBrokers(c.Addrs()...), kgo.ClientID(clientID), kgo.WithHooks(hook))
		n := 0
		for end := time.Now().Add(time.Second); time.Now().Before(end); n++ {
			req := kmsg.NewPtrMetadataRequest()
			if _, err := req.RequestWith(ctx, cl); err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
	var busyHook, freeHook throttleHook
	busy, free := count("busy", &busyHook), count("free", &freeHook)
	t.Logf("in 1 s: %d Metadata requests limited to 0.01%% of a thread (%d throttles), %d without a quota", busy, busyHook.n.Load(), free)
	if busyHook.n.Load() == 0 || busy*5 > free {
		t.Errorf("limited %d (throttles %d), unlimited %d: want throttles and far fewer", busy, busyHook.n.Load(), free)
	}
}
