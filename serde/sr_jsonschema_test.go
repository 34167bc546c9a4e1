package serde_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/serde"
)

const jsonOrderSchema = `{
	"$schema": "http://json-schema.org/draft-07/schema#",
	"title": "shop.JSONOrder",
	"type": "object",
	"properties": {
		"id": {"type": "string", "minLength": 1},
		"qty": {"type": "integer", "minimum": 0}
	},
	"required": ["id"]
}`

const jsonRefundSchema = `{"title":"shop.JSONRefund","type":"object","properties":{"cents":{"type":"integer"}}}`

type jsonOrder struct {
	ID  string `json:"id"`
	Qty int    `json:"qty"`
}

type jsonRefund struct {
	Cents int64 `json:"cents"`
}

func (jsonOrder) Shop() string   { return "order" }
func (*jsonRefund) Shop() string { return "refund" }

// TestSRJSONSchemaRoundTrip: struct, pointer, generic and interface
// targets under each strategy (the record name is the schema's title).
func TestSRJSONSchemaRoundTrip(t *testing.T) {
	_, cl, _ := registry(t)
	for _, tc := range []struct {
		name    string
		opts    []serde.SROption
		topic   string
		subject string
	}{
		{"topic", nil, "js-t", "js-t-value"},
		{"topic-key", []serde.SROption{serde.ForKeys()}, "js-k", "js-k-key"},
		{"record", []serde.SROption{serde.WithSubjectNameStrategy(serde.RecordNameStrategy{})}, "js-r", "shop.JSONOrder"},
		{"topic-record", []serde.SROption{serde.WithSubjectNameStrategy(serde.TopicRecordNameStrategy{})}, "js-tr", "js-tr-shop.JSONOrder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := serde.NewSRJSONSchema(cl, tc.opts...)
			if err := serde.RegisterJSONSchema[jsonOrder](j, jsonOrderSchema); err != nil {
				t.Fatal(err)
			}
			if err := j.Register(&jsonRefund{}, jsonRefundSchema); err != nil {
				t.Fatal(err)
			}
			b, err := j.Serialize(tc.topic, nil, &jsonOrder{ID: "o", Qty: 2})
			if err != nil {
				t.Fatal(err)
			}
			latest, err := cl.SchemaByVersion(ctx(t), tc.subject, -1)
			if err != nil || latest.ID != frameID(t, b) || latest.Type != sr.TypeJSON {
				t.Fatalf("subject %s: %+v %v", tc.subject, latest, err)
			}
			if string(b[5:]) != `{"id":"o","qty":2}` {
				t.Fatalf("payload %q", b[5:])
			}
			for _, target := range []reflect.Type{typeOf[jsonOrder](), typeOf[*jsonOrder](), typeOf[shopEvent]()} {
				got, err := j.Deserialize(tc.topic, nil, b, target)
				if err != nil {
					t.Fatalf("%s: %v", target, err)
				}
				if p, ok := got.(*jsonOrder); ok {
					got = *p
				}
				if got != (jsonOrder{ID: "o", Qty: 2}) {
					t.Fatalf("%s: %#v", target, got)
				}
			}
			if got, err := j.Deserialize(tc.topic, nil, b, typeOf[any]()); err != nil || got.(map[string]any)["id"] != "o" {
				t.Fatalf("any: %#v %v", got, err)
			}
			var into jsonOrder
			if err := j.DeserializeInto(tc.topic, nil, b, &into); err != nil || into.ID != "o" {
				t.Fatalf("into: %#v %v", into, err)
			}
			rb, err := j.Serialize(tc.topic, nil, &jsonRefund{Cents: 5})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := j.Deserialize(tc.topic, nil, rb, typeOf[shopEvent]()); err != nil || *got.(*jsonRefund) != (jsonRefund{Cents: 5}) {
				t.Fatalf("refund: %#v %v", got, err)
			}
		})
	}
}

// TestSRJSONSchemaValidation: with validation, invalid values are not
// written, and invalid records (written without validation) are poison
// pills carrying ErrSchemaValidation.
func TestSRJSONSchemaValidation(t *testing.T) {
	c, cl, _ := registry(t, embeddedbroker.Topics(1, "js-valid"))
	strict := serde.NewSRJSONSchema(cl, serde.ValidateJSONSchema(true, true))
	lax := serde.NewSRJSONSchema(cl)
	for _, j := range []*serde.SRJSONSchema{strict, lax} {
		if err := j.Register(jsonOrder{}, jsonOrderSchema); err != nil {
			t.Fatal(err)
		}
	}
	bad := jsonOrder{ID: "", Qty: -1}
	if _, err := strict.Serialize("js-valid", nil, bad); !errors.Is(err, serde.ErrSchemaValidation) {
		t.Fatalf("strict serialize: %v", err)
	}
	b, err := lax.Serialize("js-valid", nil, bad)
	if err != nil {
		t.Fatal(err)
	}
	// Through the broker: the record decodes with the lax serde and is a
	// poison pill for the strict one.
	kcl := kafkaClient(t, c, "js-valid")
	good, err := strict.Serialize("js-valid", nil, jsonOrder{ID: "ok", Qty: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]byte{b, good} {
		if err := kcl.ProduceSync(ctx(t), &kgo.Record{Topic: "js-valid", Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	recs := consume(t, kcl, 2)
	if _, err := serde.Value[jsonOrder](lax, recs[0]); err != nil {
		t.Fatalf("lax: %v", err)
	}
	_, err = serde.Value[jsonOrder](strict, recs[0])
	wantDeserErr(t, "invalid record, strict", err, serde.ErrSchemaValidation)
	var de *serde.DeserializationError
	if errors.As(err, &de) && (de.Offset != recs[0].Offset || de.Topic != "js-valid") {
		t.Fatalf("error position %+v", de)
	}
	if v, err := serde.Value[jsonOrder](strict, recs[1]); err != nil || v.ID != "ok" {
		t.Fatalf("valid record, strict: %v %v", v, err)
	}
	// An invalid schema is refused at registration.
	if err := strict.Register(jsonRefund{}, `{"type": 12}`); err == nil {
		t.Fatal("invalid schema registered")
	}
	if err := strict.Register(jsonRefund{}, `{"$ref": "file:///etc/passwd"}`); err == nil {
		t.Fatal("schema loading a file registered")
	}
}
