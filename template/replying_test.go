package template

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/listener"
)

type quoteReq struct {
	N int `json:"n"`
}

type quote struct {
	N     int    `json:"n"`
	Price string `json:"price"`
}

// TestRequestReply: 1000 concurrent requests over a topic of 3 partitions,
// answered by a listener container that returns its reply (the sendto
// form), all get their own reply; a request nobody answers fails with
// ErrReplyTimeout and leaves nothing pending.
func TestRequestReply(t *testing.T) {
	addrs := startBroker(t, "quotes", "quotes.replies", "silence")
	f := newFactory(t, addrs, nil)
	ctx := context.Background()
	responder, err := container.New(&listener.Endpoint{ID: "quoter", Group: "quoter", Topics: []string{"quotes"},
		Handler: func(_ context.Context, q quoteReq) (quote, error) {
			return quote{N: q.N, Price: fmt.Sprintf("%d.00", q.N*3)}, nil
		}},
		container.WithClientOpts(kgo.SeedBrokers(addrs...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond)),
		container.WithPublisher(f.Client()))
	if err != nil {
		t.Fatal(err)
	}
	if err := responder.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer responder.Stop(ctx)

	rt, err := NewReplyingTemplate(ctx, f.Template(), "quotes.replies", []kgo.Opt{kgo.SeedBrokers(addrs...)}, WithReplyTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var q quote
			if err := rt.Request(ctx, "quotes", quoteReq{N: i}, &q); err != nil {
				errs <- err
				return
			}
			if q.N != i || q.Price != fmt.Sprintf("%d.00", i*3) {
				errs <- fmt.Errorf("request %d got reply %+v", i, q)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d concurrent requests answered in %v", n, time.Since(start).Round(time.Millisecond))
	if p := rt.Pending(); p != 0 {
		t.Errorf("%d requests still pending", p)
	}

	// Nobody listens on silence.
	short, err := NewReplyingTemplate(ctx, f.Template(), "quotes.replies", []kgo.Opt{kgo.SeedBrokers(addrs...)}, WithReplyTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	began := time.Now()
	var q quote
	err = short.Request(ctx, "silence", quoteReq{N: 1}, &q)
	if !errors.Is(err, ErrReplyTimeout) {
		t.Fatalf("unanswered request: %v, want ErrReplyTimeout", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("the timeout of 200ms took %v", took)
	}
	if p := short.Pending(); p != 0 {
		t.Errorf("%d requests pending after the timeout", p)
	}
	t.Logf("unanswered: %v", err)
}
