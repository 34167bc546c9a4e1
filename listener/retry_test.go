package listener

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRetryTopicNames checks the names against Spring's
// DestinationTopicPropertiesFactory for its default strategies (index
// suffixes, same-interval reuse) and the alternatives.
func TestRetryTopicNames(t *testing.T) {
	for _, tc := range []struct {
		tag  string
		want string // retry topics, then the DLT
		dlys string
	}{
		{"true", "orders-retry orders-retry orders-dlt", "1s 1s"},
		{"attempts:4,backoff:1s,multiplier:2,max:30s", "orders-retry-0 orders-retry-1 orders-retry-2 orders-dlt", "1s 2s 4s"},
		{"attempts:6,backoff:1s,multiplier:2,max:4s", "orders-retry-0 orders-retry-1 orders-retry-2 orders-retry-2 orders-retry-2 orders-dlt", "1s 2s 4s 4s 4s"},
		{"attempts:6,backoff:1s,multiplier:2,max:4s,reuse:multiple", "orders-retry-0 orders-retry-1 orders-retry-2 orders-retry-3 orders-retry-4 orders-dlt", "1s 2s 4s 4s 4s"},
		{"attempts:4,backoff:1000,multiplier:2,suffixing:delay", "orders-retry-1000 orders-retry-2000 orders-retry-4000 orders-dlt", "1s 2s 4s"},
		{"attempts:5,backoff:1s,multiplier:2,max:2s,suffixing:delay,reuse:multiple", "orders-retry-1000 orders-retry-2000-0 orders-retry-2000-1 orders-retry-2000-2 orders-dlt", "1s 2s 2s 2s"},
		{"attempts:4,backoff:500ms,reuse:multiple", "orders-retry-0 orders-retry-1 orders-retry-2 orders-dlt", "500ms 500ms 500ms"},
		{"attempts:2,backoff:250ms", "orders-retry orders-dlt", "250ms"},
		{"attempts:3;retry-suffix:.r;dlt-suffix:.DLT", "orders.r orders.r orders.DLT", "1s 1s"},
	} {
		rt, err := ParseRetryTopics(tc.tag)
		if err != nil {
			t.Fatalf("%s: %v", tc.tag, err)
		}
		retries, dlt := rt.Topics("orders")
		var names, delays []string
		for _, r := range retries {
			names = append(names, r.Name)
			delays = append(delays, r.Delay.String())
		}
		if got := strings.Join(append(names, dlt), " "); got != tc.want {
			t.Errorf("%s: topics %q, want %q", tc.tag, got, tc.want)
		}
		if got := strings.Join(delays, " "); got != tc.dlys {
			t.Errorf("%s: delays %q, want %q", tc.tag, got, tc.dlys)
		}
	}
}

func TestRetryTag(t *testing.T) {
	ep, err := endpointFromTag("topics=orders,retry=attempts:4,backoff:1s,multiplier:2,max:30s,group=g", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := RetryTopics{Attempts: 4, Delay: time.Second, Multiplier: 2, MaxDelay: 30 * time.Second}
	if ep.Retry == nil || *ep.Retry != want || ep.Group != "g" {
		t.Fatalf("got %+v, group %q", ep.Retry, ep.Group)
	}
	for _, tag := range []string{"topics=orders,retry", "topics=orders,retry=true", "topics=orders,retry=(attempts:3;backoff:2s)"} {
		ep, err := endpointFromTag(tag, nil)
		if err != nil || ep.Retry == nil || ep.Retry.Disabled {
			t.Fatalf("%s: %+v %v", tag, ep, err)
		}
	}
	if ep, err := endpointFromTag("topics=orders,retry=false", nil); err != nil || !ep.Retry.Disabled {
		t.Fatalf("retry=false: %+v %v", ep, err)
	}
	for tag, msg := range map[string]string{
		"topics=orders,retry=attempts:1":            "at least 2",
		"topics=orders,retry=attempts:3,bogus:1":    `unknown retry item "bogus"`,
		"topics=orders,retry=backoff:-1s":           "must be positive",
		"topics=orders,retry=suffixing:weird":       "want index or delay",
		"topics=orders,retry=attempts:3,attempts:4": "duplicate retry item",
	} {
		if _, err := endpointFromTag(tag, nil); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: err %v, want %q", tag, err, msg)
		}
	}
	ep = &Endpoint{ID: "b", Topics: []string{"orders"}, Batch: true, Retry: &RetryTopics{}}
	if err := CheckRetryTopics(ep, ep.Retry); err == nil || !strings.Contains(err.Error(), "batch") {
		t.Fatalf("batch: %v", err)
	}
}

func TestBatchByDefault(t *testing.T) {
	type L struct {
		Values  func(context.Context, []string) error                 `kafka:"id=values,topics=a"`
		Records func(context.Context, []*Record[string]) error        `kafka:"id=records,topics=a"`
		Array   func(context.Context, []string) error                 `kafka:"id=array,topics=a,batch=false"`
		One     func(context.Context, string) error                   `kafka:"id=one,topics=a"`
		Bytes   func(context.Context, []byte) error                   `kafka:"id=bytes,topics=a"`
		Acked   func(context.Context, []string, Acknowledgment) error `kafka:"id=acked,topics=a,ack=manual"`
	}
	noop := func(context.Context, []string) error { return nil }
	l := &L{Values: noop, Records: func(context.Context, []*Record[string]) error { return nil }, Array: noop,
		One: func(context.Context, string) error { return nil }, Bytes: func(context.Context, []byte) error { return nil },
		Acked: func(context.Context, []string, Acknowledgment) error { return nil }}
	eps, err := NewRegistry(WithBatchByDefault()).Register(l)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"values": true, "records": true, "array": false, "one": false, "bytes": false, "acked": true}
	for _, ep := range eps {
		if ep.Batch != want[ep.ID] {
			t.Errorf("%s: batch %v, want %v", ep.ID, ep.Batch, want[ep.ID])
		}
	}
}
