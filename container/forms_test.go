package container

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/twmb/franz-go/pkg/kgo"
)

type Reply struct {
	ID  string `json:"id"`
	Sum int    `json:"sum"`
}

// TestHandlerForms runs every supported handler form through a container.
func TestHandlerForms(t *testing.T) {
	t.Parallel()
	topics := map[string]int32{"value": 1, "pointer": 1, "meta": 1, "record": 1, "str": 1, "bytes": 1, "iface": 1,
		"batchvals": 1, "batchrecs": 1, "request": 1, "replies": 1}
	e := newEnv(t, topics)
	orders := []Order{{ID: "a", Amount: 1}, {ID: "b", Amount: 2}, {ID: "c", Amount: 3}}
	var vals []string
	for _, o := range orders {
		vals = append(vals, jsonValue(o))
	}
	for topic := range topics {
		if topic == "replies" || topic == "request" {
			continue
		}
		e.produceValues(topic, 0, vals...)
	}
	var (
		byValue, byPointer, batchVals seen[Order]
		byMeta                        seen[string]
		byRecord, batchRecs           seen[string]
		strs, bytesSeen, ifaces       seen[string]
	)
	e.start(ep("value", func(_ context.Context, o Order) error { byValue.add(o); return nil }))
	e.start(ep("pointer", func(_ context.Context, o *Order) error { byPointer.add(*o); return nil }))
	e.start(ep("meta", func(_ context.Context, o Order, m listener.Metadata) error {
		byMeta.add(o.ID + "@" + m.Topic + "/" + itoa(m.Offset))
		return nil
	}))
	e.start(ep("record", func(_ context.Context, r *listener.Record[Order]) error {
		byRecord.add(r.Value.ID + "@" + itoa(r.Offset))
		return nil
	}))
	e.start(ep("str", func(_ context.Context, s string) error { strs.add(s); return nil }))
	e.start(ep("bytes", func(_ context.Context, b []byte) error { bytesSeen.add(string(b)); return nil }))
	e.start(ep("iface", func(_ context.Context, v any) error {
		ifaces.add(v.(map[string]any)["id"].(string))
		return nil
	}))
	e.start(ep("batchvals", func(_ context.Context, os []Order) error {
		for _, o := range os {
			batchVals.add(o)
		}
		return nil
	}, func(e *listener.Endpoint) { e.Batch = true }))
	e.start(ep("batchrecs", func(_ context.Context, rs []*listener.Record[Order]) error {
		for _, r := range rs {
			batchRecs.add(r.Value.ID + "@" + itoa(r.Offset))
		}
		return nil
	}, func(e *listener.Endpoint) { e.Batch = true }))
	e.start(ep("request", func(_ context.Context, o Order) (Reply, error) {
		return Reply{ID: o.ID, Sum: o.Amount * 10}, nil
	}, func(e *listener.Endpoint) { e.SendTo = "replies" }))
	e.produce(&kgo.Record{Topic: "request", Value: []byte(vals[1]),
		Headers: []kgo.RecordHeader{{Key: HeaderCorrelationID, Value: []byte("corr-1")}}})

	defer func() {
		t.Logf("seen: %d %d %d %d %d %d %d %d %d", byValue.len(), byPointer.len(), byMeta.len(), byRecord.len(),
			strs.len(), bytesSeen.len(), ifaces.len(), batchVals.len(), batchRecs.len())
	}()
	waitFor(t, 10*time.Second, func() bool {
		return byValue.len() == 3 && byPointer.len() == 3 && byMeta.len() == 3 && byRecord.len() == 3 &&
			strs.len() == 3 && bytesSeen.len() == 3 && ifaces.len() == 3 && batchVals.len() == 3 && batchRecs.len() == 3
	}, "all handler forms")
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	check("value", byValue.all(), orders)
	check("pointer", byPointer.all(), orders)
	check("batch values", batchVals.all(), orders)
	check("meta", byMeta.all(), []string{"a@meta/0", "b@meta/1", "c@meta/2"})
	check("record", byRecord.all(), []string{"a@0", "b@1", "c@2"})
	check("batch records", batchRecs.all(), []string{"a@0", "b@1", "c@2"})
	check("string", strs.all(), vals)
	check("bytes", bytesSeen.all(), vals)
	check("interface", ifaces.all(), []string{"a", "b", "c"})

	reply := e.readAll("replies", 1)[0]
	check("reply value", string(reply.Value), `{"id":"b","sum":20}`)
	if v, _ := header(reply, HeaderCorrelationID); string(v) != "corr-1" {
		t.Errorf("reply correlation header = %q", v)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
