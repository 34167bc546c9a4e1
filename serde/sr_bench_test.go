package serde_test

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/serde"
)

// benchOrder is serialized by both serdes compared.
type benchOrder struct {
	ID         string   `avro:"id" json:"id"`
	CustomerID string   `avro:"customer_id" json:"customerId"`
	Quantity   int      `avro:"quantity" json:"quantity"`
	PriceCents int64    `avro:"price_cents" json:"priceCents"`
	Discount   float64  `avro:"discount" json:"discount"`
	CreatedAt  int64    `avro:"created_at" json:"createdAt"`
	Express    bool     `avro:"express" json:"express"`
	Tags       []string `avro:"tags" json:"tags"`
	Note       *string  `avro:"note" json:"note"`
}

const benchOrderSchema = `{"type":"record","name":"BenchOrder","namespace":"shop","fields":[
	{"name":"id","type":"string"},
	{"name":"customer_id","type":"string"},
	{"name":"quantity","type":"int"},
	{"name":"price_cents","type":"long"},
	{"name":"discount","type":"double"},
	{"name":"created_at","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"express","type":"boolean"},
	{"name":"tags","type":{"type":"array","items":"string"}},
	{"name":"note","type":["null","string"],"default":null}]}`

var benchValue = benchOrder{
	ID: "order-000123456", CustomerID: "customer-98765", Quantity: 3, PriceCents: 129900, Discount: 0.15,
	CreatedAt: 1767225600000, Express: true, Tags: []string{"gift", "priority"}, Note: ptr("leave at the door"),
}

// BenchmarkSRAvroVsJSON compares, for the same struct, the registry Avro
// serde with the JSON serde: ns per record to encode and decode, and the
// bytes per record (B/record: value; hdrB/record: the type header JSON
// writes by default).
func BenchmarkSRAvroVsJSON(b *testing.B) {
	_, cl, _ := registry(b)
	avroSerde := serde.NewSRAvro(cl)
	if err := avroSerde.Register(benchOrder{}, benchOrderSchema); err != nil {
		b.Fatal(err)
	}
	for _, s := range []struct {
		name string
		s    serde.Serde
	}{
		{"avro-registry", avroSerde},
		{"json", serde.NewJSON()},
	} {
		var hs []kgo.RecordHeader
		data, err := s.s.Serialize("bench", &hs, benchValue)
		if err != nil {
			b.Fatal(err)
		}
		hdr := 0
		for _, h := range hs {
			hdr += len(h.Key) + len(h.Value)
		}
		got, err := s.s.Deserialize("bench", hs, data, typeOf[benchOrder]())
		if err != nil || !reflect.DeepEqual(got, benchValue) {
			b.Fatalf("%s: round trip %#v %v", s.name, got, err)
		}
		b.Run(s.name+"/encode", func(b *testing.B) {
			b.ReportAllocs()
			var hs []kgo.RecordHeader
			for b.Loop() {
				hs = hs[:0]
				if _, err := s.s.Serialize("bench", &hs, benchValue); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data)), "B/record")
			b.ReportMetric(float64(hdr), "hdrB/record")
		})
		b.Run(s.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			t := typeOf[benchOrder]()
			for b.Loop() {
				if _, err := s.s.Deserialize("bench", hs, data, t); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data)), "B/record")
		})
		b.Run(s.name+"/decode-into", func(b *testing.B) {
			b.ReportAllocs()
			into := s.s.(serde.IntoDeserializer)
			for b.Loop() {
				var v benchOrder
				if err := into.DeserializeInto("bench", hs, data, &v); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data)), "B/record")
		})
	}
}
