package template

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kafkaboot/kafkaboot/serde"
)

// TestSendValueTypes sends values of the kinds the default serializer
// (serde.Auto) tells apart, one after the other (so the template's cache
// of Auto's choice per type changes every send), synchronously and
// asynchronously, and with the JSON serde on go-json; each record must
// carry the bytes and headers the serializer writes for the value alone.
func TestSendValueTypes(t *testing.T) {
	ctx := testCtx(t)
	f := newFactory(t, startBroker(t, "values"), nil)
	str := "text"
	values := []any{Order{ID: 1, Item: "<book>"}, "plain", []byte{0, 1, 2}, wrapperspb.String("proto"),
		&Order{ID: 2}, &str, map[string]int{"b": 2, "a": 1}, nil, (*Order)(nil), Order{ID: 3}}
	for _, tc := range []struct {
		name string
		ser  serde.Serializer
		tmpl *Template
	}{
		{"auto", serde.NewAuto(), f.Template()},
		{"go-json", serde.NewJSON(serde.WithJSONCodec(serde.GoJSON())), f.Template(WithSerializer(serde.NewJSON(serde.WithJSONCodec(serde.GoJSON()))))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, async := range []bool{false, true} {
				for _, v := range values {
					if tc.name == "go-json" {
						if _, ok := v.(*wrapperspb.StringValue); ok {
							continue // JSON of a proto message: not compared here
						}
					}
					var want []kgo.RecordHeader
					wantValue, err := tc.ser.Serialize("values", &want, v)
					if err != nil {
						t.Fatal(err)
					}
					var res Result
					if async {
						res, err = tc.tmpl.SendAsync(ctx, "values", v).Get(ctx)
					} else {
						res, err = tc.tmpl.Send(ctx, "values", v)
					}
					if err != nil {
						t.Fatalf("%T: %v", v, err)
					}
					rec := fetchAt(t, f.Client(), res)
					if !bytes.Equal(rec.Value, wantValue) || (rec.Value == nil) != (wantValue == nil) ||
						!slices.EqualFunc(rec.Headers, want, func(a, b kgo.RecordHeader) bool { return a.Key == b.Key && bytes.Equal(a.Value, b.Value) }) {
						t.Errorf("async %v, %T: record %q %v, want %q %v", async, v, rec.Value, rec.Headers, wantValue, want)
					}
				}
			}
		})
	}
}

// fetchAt reads the record a send produced.
func fetchAt(t *testing.T, cl *kgo.Client, res Result) *kgo.Record {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{res.Topic: {res.Partition: kgo.NewOffset().At(res.Offset)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("record at %s/%d@%d not fetched", res.Topic, res.Partition, res.Offset)
		}
		for _, r := range fs.Records() {
			if r.Offset == res.Offset {
				return r
			}
		}
	}
}
