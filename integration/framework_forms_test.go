package integration

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fwOrder is the JSON payload of the handler form tests.
type fwOrder struct {
	ID  string `json:"id"`
	Qty int    `json:"qty"`
}

// fwQuote is a request of the reply listeners; fwPrice their reply.
type fwQuote struct {
	ID  string `json:"id"`
	Qty int    `json:"qty"`
}

type fwPrice struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

// fwFormListeners has one listener per handler form.
type fwFormListeners struct {
	Value      func(context.Context, fwOrder) error                                            `kafka:"id=form-value,topics=form-value"`
	Meta       func(context.Context, fwOrder, listener.Metadata) error                         `kafka:"id=form-meta,topics=form-meta"`
	Record     func(context.Context, *listener.Record[fwOrder]) error                          `kafka:"id=form-record,topics=form-record"`
	Batch      func(context.Context, []fwOrder) error                                          `kafka:"id=form-batch,topics=form-batch,batch"`
	BatchRecs  func(context.Context, []*listener.Record[fwOrder]) error                        `kafka:"id=form-batchrecs,topics=form-batchrecs,batch=true"`
	Manual     func(context.Context, *listener.Record[fwOrder], listener.Acknowledgment) error `kafka:"id=form-manual,topics=form-manual,ack=manual"`
	Reply      func(context.Context, fwQuote) (fwPrice, error)                                 `kafka:"id=form-reply,topics=form-quotes,sendto=form-prices"`
	ReplyToHdr func(context.Context, fwQuote) (fwPrice, error)                                 `kafka:"id=form-reply-hdr,topics=form-quotes-hdr"`
	Prices     func(context.Context, *listener.Record[fwPrice]) error                          `kafka:"id=form-prices,topics=form-prices"`
	// The generic types of the value, record and batch forms, which the
	// invoker calls without reflection.
	Func       listener.Func[fwOrder]       `kafka:"id=form-func,topics=form-func"`
	RecordFunc listener.RecordFunc[fwOrder] `kafka:"id=form-recordfunc,topics=form-recordfunc"`
	BatchFunc  listener.BatchFunc[fwOrder]  `kafka:"id=form-batchfunc,topics=form-batchfunc,batch"`
}

// fwObs is what a handler saw of one record; fields a form does not get
// stay zero (Offset -1).
type fwObs struct {
	Topic     string
	Key       string
	Value     fwOrder
	Headers   []kgo.RecordHeader
	Partition int32
	Offset    int64
	Timestamp time.Time
	Call      int // batch forms: the number of the call
}

func fwObsOf[T any](r *listener.Record[T], v fwOrder) fwObs {
	return fwObs{Topic: r.Topic, Key: string(r.Key), Value: v, Headers: fwHeaders(r.Headers),
		Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}
}

// fwSent is what the template sent.
type fwSent struct {
	Key     string
	Value   fwOrder
	Headers []kgo.RecordHeader
	Res     template.Result
}

// TestFrameworkHandlerForms: every handler form gets exactly what the
// template sent (values, keys, headers, partitions, offsets,
// timestamps), each record once, in the plain func forms and in the
// generic listener.Func, RecordFunc and BatchFunc; batch forms get the
// records of one partition in order per call; manual acks commit; reply
// listeners send their returned values to the sendto topic (or the
// kafka_replyTopic header's) with the request's correlation id.
func TestFrameworkHandlerForms(t *testing.T) {
	topics := []string{"form-value", "form-meta", "form-record", "form-batch", "form-batchrecs", "form-manual",
		"form-func", "form-recordfunc", "form-batchfunc"}
	c := fwCluster(t, fwTopics(3, append(slices.Clone(topics), "form-quotes", "form-quotes-hdr", "form-prices")...)...)
	ctx := fwCtx(t)
	adm := fwAdmin(t, c.Addrs())

	var (
		mu     sync.Mutex
		obs    = map[string][]fwObs{}
		calls  = map[string]int{}
		prices []*listener.Record[fwPrice]
	)
	add := func(topic string, o ...fwObs) {
		mu.Lock()
		defer mu.Unlock()
		calls[topic]++
		for i := range o {
			o[i].Call = calls[topic]
		}
		obs[topic] = append(obs[topic], o...)
	}
	noMeta := func(topic string, v fwOrder) fwObs { return fwObs{Topic: topic, Value: v, Offset: -1} }
	price := func(q fwQuote) fwPrice { return fwPrice{ID: q.ID, Total: 10 * q.Qty} }
	ls := &fwFormListeners{
		Value: func(_ context.Context, v fwOrder) error { add("form-value", noMeta("form-value", v)); return nil },
		Meta: func(_ context.Context, v fwOrder, md listener.Metadata) error {
			add("form-meta", fwObs{Topic: md.Topic, Key: string(md.Key), Value: v, Headers: fwHeaders(md.Headers),
				Partition: md.Partition, Offset: md.Offset, Timestamp: md.Timestamp})
			return nil
		},
		Record: func(_ context.Context, r *listener.Record[fwOrder]) error {
			add("form-record", fwObsOf(r, r.Value))
			return nil
		},
		Batch: func(_ context.Context, vs []fwOrder) error {
			var o []fwObs
			for _, v := range vs {
				o = append(o, noMeta("form-batch", v))
			}
			add("form-batch", o...)
			return nil
		},
		BatchRecs: func(_ context.Context, rs []*listener.Record[fwOrder]) error {
			var o []fwObs
			for _, r := range rs {
				o = append(o, fwObsOf(r, r.Value))
			}
			add("form-batchrecs", o...)
			return nil
		},
		Manual: func(_ context.Context, r *listener.Record[fwOrder], ack listener.Acknowledgment) error {
			add("form-manual", fwObsOf(r, r.Value))
			ack.Acknowledge()
			return nil
		},
		Reply:      func(_ context.Context, q fwQuote) (fwPrice, error) { return price(q), nil },
		ReplyToHdr: func(_ context.Context, q fwQuote) (fwPrice, error) { return price(q), nil },
		Func:       func(_ context.Context, v fwOrder) error { add("form-func", noMeta("form-func", v)); return nil },
		RecordFunc: func(_ context.Context, r *listener.Record[fwOrder]) error {
			add("form-recordfunc", fwObsOf(r, r.Value))
			return nil
		},
		BatchFunc: func(_ context.Context, vs []fwOrder) error {
			var o []fwObs
			for _, v := range vs {
				o = append(o, noMeta("form-batchfunc", v))
			}
			add("form-batchfunc", o...)
			return nil
		},
		Prices: func(_ context.Context, r *listener.Record[fwPrice]) error {
			cp := *r
			cp.Key, cp.Headers = slices.Clone(r.Key), fwHeaders(r.Headers)
			mu.Lock()
			prices = append(prices, &cp)
			mu.Unlock()
			return nil
		},
	}
	app := fwStartApp(t, ctx, fwValues(c.Addrs(), nil),
		kafkaboot.Listeners(func() *fwFormListeners { return ls }))

	// Send 9 orders to every topic: explicit partitions, keys (but one),
	// repeated and binary headers, explicit timestamps.
	const n = 9
	base := time.UnixMilli(time.Now().UnixMilli()).Add(-time.Hour)
	sent := map[string]map[string]fwSent{} // topic -> order id -> sent
	for _, topic := range topics {
		sent[topic] = map[string]fwSent{}
		for i := range n {
			v := fwOrder{ID: fmt.Sprintf("%s-%d", topic, i), Qty: i}
			hs := []kgo.RecordHeader{
				{Key: "trace", Value: fmt.Appendf(nil, "t-%d", i)},
				{Key: "bin", Value: []byte{0, 0xff, byte(i)}},
				{Key: "trace", Value: []byte("second")},
			}
			opts := []template.SendOption{template.Partition(int32(i % 3)), template.Headers(hs...),
				template.Timestamp(base.Add(time.Duration(i) * time.Millisecond))}
			key := ""
			if i != 0 {
				key = fmt.Sprintf("key-%d", i)
				opts = append(opts, template.Key(key))
			}
			res, err := app.tmpl.Send(ctx, topic, v, opts...)
			if err != nil {
				t.Fatalf("send to %s: %v", topic, err)
			}
			if res.Partition != int32(i%3) {
				t.Fatalf("send to %s went to partition %d, want %d", topic, res.Partition, i%3)
			}
			sent[topic][v.ID] = fwSent{Key: key, Value: v, Headers: hs, Res: res}
		}
	}
	for i := range n {
		q := fwQuote{ID: fmt.Sprintf("q-%d", i), Qty: i}
		if _, err := app.tmpl.Send(ctx, "form-quotes", q, template.Header(container.HeaderCorrelationID, "corr-"+q.ID)); err != nil {
			t.Fatal(err)
		}
		q.ID = fmt.Sprintf("qh-%d", i)
		if _, err := app.tmpl.Send(ctx, "form-quotes-hdr", q, template.Header(container.HeaderCorrelationID, "corr-"+q.ID),
			template.Header(container.HeaderReplyTopic, "form-prices")); err != nil {
			t.Fatal(err)
		}
	}

	// Wait until every listener's group committed everything: then every
	// delivery has happened, and a redelivery would show as an extra one.
	ends := map[int32]int64{0: 3, 1: 3, 2: 3}
	for _, topic := range topics {
		fwWaitCommitted(t, ctx, adm, topic, topic, ends)
	}
	fwWaitCommitted(t, ctx, adm, "form-reply", "form-quotes", fwNonEmpty(fwEnds(t, ctx, adm, "form-quotes")))
	fwWaitCommitted(t, ctx, adm, "form-reply-hdr", "form-quotes-hdr", fwNonEmpty(fwEnds(t, ctx, adm, "form-quotes-hdr")))
	fwWaitCommitted(t, ctx, adm, "form-prices", "form-prices", fwNonEmpty(fwEnds(t, ctx, adm, "form-prices")))
	if err := app.stop(ctx); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, topic := range topics {
		t.Run(topic, func(t *testing.T) {
			got := obs[topic]
			if len(got) != n {
				t.Fatalf("%d deliveries, want %d: %+v", len(got), n, got)
			}
			ids := map[string]bool{}
			for _, o := range got {
				s, ok := sent[topic][o.Value.ID]
				if !ok || ids[o.Value.ID] {
					t.Fatalf("unexpected or repeated delivery %+v", o)
				}
				ids[o.Value.ID] = true
				if o.Value != s.Value || o.Topic != topic {
					t.Errorf("got value %+v on %s, sent %+v", o.Value, o.Topic, s.Value)
				}
				if o.Offset == -1 { // value-only forms
					continue
				}
				if o.Key != s.Key || o.Partition != s.Res.Partition || o.Offset != s.Res.Offset || !o.Timestamp.Equal(s.Res.Timestamp) {
					t.Errorf("%s: got key %q at %d/%d time %v; sent key %q, produced at %d/%d time %v", o.Value.ID,
						o.Key, o.Partition, o.Offset, o.Timestamp, s.Key, s.Res.Partition, s.Res.Offset, s.Res.Timestamp)
				}
				if !fwHeadersEqual(o.Headers, s.Headers) {
					t.Errorf("%s: got headers %v, sent %v", o.Value.ID, o.Headers, s.Headers)
				}
			}
			// Per partition, deliveries are in offset order; a batch call
			// holds records of one partition only.
			last := map[int32]int64{}
			callPart := map[int]int32{}
			for _, o := range got {
				res := sent[topic][o.Value.ID].Res
				if prev, ok := last[res.Partition]; ok && res.Offset <= prev {
					t.Errorf("partition %d: offset %d delivered after %d", res.Partition, res.Offset, prev)
				}
				last[res.Partition] = res.Offset
				if p, ok := callPart[o.Call]; ok && p != res.Partition {
					t.Errorf("call %d mixed partitions %d and %d", o.Call, p, res.Partition)
				}
				callPart[o.Call] = res.Partition
			}
		})
	}

	t.Run("replies", func(t *testing.T) {
		if len(prices) != 2*n {
			t.Fatalf("%d replies, want %d", len(prices), 2*n)
		}
		seen := map[string]bool{}
		for _, r := range prices {
			var qty int
			if _, err := fmt.Sscanf(r.Value.ID[len(r.Value.ID)-1:], "%d", &qty); err != nil || seen[r.Value.ID] {
				t.Fatalf("unexpected reply %+v", r.Value)
			}
			seen[r.Value.ID] = true
			if r.Value.Total != 10*qty {
				t.Errorf("reply %+v: total, want %d", r.Value, 10*qty)
			}
			if corr, _ := r.Header(container.HeaderCorrelationID); string(corr) != "corr-"+r.Value.ID {
				t.Errorf("reply %s carries correlation id %q", r.Value.ID, corr)
			}
		}
		for i := range n {
			for _, id := range []string{fmt.Sprintf("q-%d", i), fmt.Sprintf("qh-%d", i)} {
				if !seen[id] {
					t.Errorf("no reply to %s (replies: %v)", id, slices.Sorted(maps.Keys(seen)))
				}
			}
		}
	})
}
