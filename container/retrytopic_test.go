package container

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestJavaBigInt(t *testing.T) {
	for _, tc := range []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0}}, {1, []byte{1}}, {127, []byte{0x7f}}, {128, []byte{0, 0x80}}, {255, []byte{0, 0xff}},
		{-1, []byte{0xff}}, {-128, []byte{0x80}}, {-129, []byte{0xff, 0x7f}},
		{1764849600000, []byte{0x01, 0x9a, 0xe9, 0x3b, 0xc6, 0x00}},
		{math.MaxInt64, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{math.MinInt64, []byte{0x80, 0, 0, 0, 0, 0, 0, 0}},
	} {
		got := javaBigInt(tc.v)
		if !slices.Equal(got, tc.want) {
			t.Errorf("javaBigInt(%d) = %x, want %x", tc.v, got, tc.want)
		}
		if back := javaBigIntToInt64(got); back != tc.v {
			t.Errorf("javaBigIntToInt64(%x) = %d, want %d", got, back, tc.v)
		}
	}
}

// TestRetryTopics: acceptance of non-blocking retries. One partition holds
// a record that fails 3 times and then succeeds, a record that always
// fails, one that fails with a not-retryable error, and 100 good records
// behind them. The good records finish long before the first back off
// ends; the failing records come back from orders-retry-0, -1 and -2
// after 500ms, 1s and 2s (never early, at most half a back off late); the one that never succeeds
// and the not-retryable one end in orders-dlt with Spring's headers; the
// retry topics and the DLT were created with the main topic's 3
// partitions.
func TestRetryTopics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]int32{"orders": 3})
	type call struct {
		topic string
		at    time.Time
	}
	var (
		mu     sync.Mutex
		calls  = map[string][]call{}
		goodAt []time.Time
	)
	errFatal := errors.New("invalid order")
	handler := listener.RecordFunc[string](func(ctx context.Context, r *listener.Record[string]) error {
		now := time.Now()
		mu.Lock()
		calls[r.Value] = append(calls[r.Value], call{r.Topic, now})
		n := len(calls[r.Value])
		if strings.HasPrefix(r.Value, "ok-") {
			goodAt = append(goodAt, now)
		}
		mu.Unlock()
		switch {
		case r.Value == "flaky" && n <= 3:
			return errors.New("flaky: downstream unavailable")
		case r.Value == "poison":
			return errors.New("poison: always fails")
		case r.Value == "fatal":
			return NotRetryable(errFatal)
		}
		return nil
	})
	ep := &listener.Endpoint{ID: "retrying", Group: "g-retry", Topics: []string{"orders"}, Handler: handler}
	var err error
	ep.Retry, err = listener.ParseRetryTopics("attempts:4,backoff:500ms,multiplier:2,max:30s")
	if err != nil {
		t.Fatal(err)
	}
	c := e.start(ep)
	values := []string{"flaky", "poison", "fatal"}
	for i := range 100 {
		values = append(values, sprintf("ok-%d", i))
	}
	e.produceValues("orders", 0, values...)

	waitFor(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls["flaky"]) == 4 && len(calls["poison"]) == 4
	}, "flaky and poison delivered 4 times each")

	mu.Lock()
	first := calls["flaky"][0].at
	lastGood := slices.MaxFunc(goodAt, time.Time.Compare)
	t.Logf("100 records behind the failing ones finished %v after the first failure (first back off: 500ms)", lastGood.Sub(first).Round(time.Millisecond))
	if len(goodAt) != 100 || lastGood.Sub(first) >= 500*time.Millisecond {
		t.Errorf("%d good records, the last %v after the first failure: they waited for the back off", len(goodAt), lastGood.Sub(first))
	}
	wantTopics := []string{"orders", "orders-retry-0", "orders-retry-1", "orders-retry-2"}
	wantGaps := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}
	for _, v := range []string{"flaky", "poison"} {
		cs := calls[v]
		var topics, gaps []string
		for i, cl := range cs {
			topics = append(topics, cl.topic)
			if i == 0 {
				continue
			}
			gap := cl.at.Sub(cs[i-1].at)
			gaps = append(gaps, gap.Round(time.Millisecond).String())
			want := wantGaps[i-1]
			// Never early (a tenth of tolerance for the millisecond
			// timestamps); late only by scheduling, which a loaded 2-core
			// machine stretches: up to half a back off, not a second one.
			if d := gap - want; d < -want/10 || d > want/2 {
				t.Errorf("%s: attempt %d came %v after attempt %d, want %v (-10%%, +50%%)", v, i+1, gap, i, want)
			}
		}
		if !slices.Equal(topics, wantTopics) {
			t.Errorf("%s delivered from %v, want %v", v, topics, wantTopics)
		}
		t.Logf("%s: delivered from %v, %v apart", v, topics, gaps)
	}
	if n := len(calls["fatal"]); n != 1 {
		t.Errorf("the not-retryable record was delivered %d times", n)
	}
	mu.Unlock()

	dlt := e.readAll("orders-dlt", 2)
	byValue := map[string]*kgo.Record{}
	for _, r := range dlt {
		byValue[string(r.Value)] = r
		if r.Partition != 0 {
			t.Errorf("%s in orders-dlt partition %d, want the original 0", r.Value, r.Partition)
		}
	}
	for v, want := range map[string]struct {
		attempts int
		msg      string
	}{"poison": {5, "poison: always fails"}, "fatal": {2, "invalid order"}} {
		r := byValue[v]
		if r == nil {
			t.Fatalf("%s not in orders-dlt (got %d records)", v, len(dlt))
		}
		h := func(k string) []byte { b, _ := header(r, k); return b }
		if got := string(h(HeaderOriginalTopic)); got != "orders" {
			t.Errorf("%s: %s = %q", v, HeaderOriginalTopic, got)
		}
		if got := h(HeaderOriginalPartition); len(got) != 4 || binary.BigEndian.Uint32(got) != 0 {
			t.Errorf("%s: %s = %x", v, HeaderOriginalPartition, got)
		}
		if got := h(HeaderOriginalOffset); len(got) != 8 {
			t.Errorf("%s: %s = %x", v, HeaderOriginalOffset, got)
		}
		if got := string(h(HeaderOriginalConsumerGroup)); got != "g-retry" {
			t.Errorf("%s: %s = %q", v, HeaderOriginalConsumerGroup, got)
		}
		if got := retryAttempt(r); got != want.attempts {
			t.Errorf("%s: %s = %d, want %d", v, HeaderRetryAttempts, got, want.attempts)
		}
		if got := string(h(HeaderExceptionMessage)); !strings.Contains(got, want.msg) {
			t.Errorf("%s: %s = %q", v, HeaderExceptionMessage, got)
		}
		if len(h(HeaderExceptionFQCN)) == 0 || len(h(HeaderRetryOriginalTimestamp)) == 0 {
			t.Errorf("%s: exception type or original timestamp header missing", v)
		}
		info, ok := ParseDeadLetter(r)
		if !ok || info.OriginalTopic != "orders" || !strings.Contains(info.ExceptionMessage, want.msg) {
			t.Errorf("%s: ParseDeadLetter = %+v, %v", v, info, ok)
		}
	}
	tds, err := e.adm.ListTopics(context.Background(), "orders-retry-0", "orders-retry-1", "orders-retry-2", "orders-dlt")
	if err != nil {
		t.Fatal(err)
	}
	for _, td := range tds.Sorted() {
		if td.Err != nil || len(td.Partitions) != 3 {
			t.Errorf("%s: %d partitions, err %v; want the main topic's 3", td.Topic, len(td.Partitions), td.Err)
		}
	}
	waitFor(t, 10*time.Second, func() bool {
		off := e.committed("g-retry")
		return off["orders"][0] == int64(len(values)) && off["orders-retry-2"][0] == 2
	}, "everything committed")
	_ = c
}
