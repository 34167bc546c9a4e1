package kafkaboot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/kafkatest"
	"github.com/kafkaboot/kafkaboot/serde"
	"github.com/kafkaboot/kafkaboot/template"
)

type avroReading struct {
	Sensor string `avro:"sensor"`
	Value  int    `avro:"value"`
}

const readingSchema = `{"type":"record","name":"Reading","fields":[{"name":"sensor","type":"string"},{"name":"value","type":"int"}]}`

// TestSchemaRegistryUnderFx: kafka.schema-registry.url configures the
// registry client and Avro serializer the module provides; a listener
// decodes with it what a template sent with it, registered under
// readings-value.
func TestSchemaRegistryUnderFx(t *testing.T) {
	kit := kafkatest.New(t, kafkatest.Topic("readings", 1), kafkatest.BrokerOptions(embeddedbroker.SchemaRegistry("127.0.0.1:0")))
	url := kit.Cluster().SchemaRegistryURL()
	got := make(chan avroReading, 1)
	var (
		avro *serde.SRAvro
		rcl  *sr.Client
	)
	app := kit.Start(
		kafkaboot.ConfigOptions(config.WithValues(map[string]any{"kafka.schema-registry.url": url})),
		fx.Provide(fx.Annotate(func(a *serde.SRAvro) ([]container.Option, error) {
			return []container.Option{container.WithDeserializer(a)}, serde.RegisterAvro[avroReading](a, readingSchema)
		}, fx.ResultTags(`group:"kafkaboot.container"`))),
		kafkaboot.Listen("id=readings,topics=readings,group=readings", func(_ context.Context, r avroReading) error {
			got <- r
			return nil
		}),
		fx.Populate(&avro, &rcl),
	)
	app.WaitAssigned("readings")
	kit.Send("readings", "warm-up") // JSON: a poison pill for an Avro listener, to the DLT
	tmpl := template.New(kit.Client(), template.WithSerializer(avro))
	if _, err := tmpl.Send(context.Background(), "readings", avroReading{Sensor: "s-1", Value: 21}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r != (avroReading{Sensor: "s-1", Value: 21}) {
			t.Fatalf("got %+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the Avro record was not handled")
	}
	if ss, err := rcl.SchemaByVersion(context.Background(), "readings-value", -1); err != nil || ss.ID != 1 {
		t.Fatalf("readings-value: %+v, %v", ss, err)
	}
	if dl := kit.ExpectDLT("readings.DLT", 1)[0]; dl.OriginalTopic != "readings" {
		t.Fatalf("the JSON record's dead letter: %+v", dl.DeadLetterInfo)
	}
}

// TestValueSerializerConfig: kafka.producer.value-serializer and
// kafka.consumer.value-deserializer need a registry and a known format,
// and say so naming the key.
func TestValueSerializerConfig(t *testing.T) {
	_, err := config.Load(config.WithEnviron(nil), config.WithValues(map[string]any{"kafka.producer.value-serializer": "io.confluent.kafka.serializers.KafkaAvroSerializer"}))
	if err == nil || !strings.Contains(err.Error(), "kafka.producer.value-serializer") {
		t.Fatalf("a class name: %v", err)
	}
	t.Log(err)
	for _, key := range []string{"kafka.producer.value-serializer", "kafka.consumer.value-deserializer"} {
		app := fx.New(fx.NopLogger, kafkaboot.Module,
			kafkaboot.ConfigOptions(config.WithEnviron(nil), config.WithValues(map[string]any{key: "avro"})),
			kafkaboot.Listen("topics=t,group=g", func(context.Context, avroReading) error { return nil }),
			fx.Invoke(func(*template.Template) {}))
		err := kafkaboot.Cause(app.Err())
		if err == nil || !strings.Contains(err.Error(), key+" avro: serde: kafka.schema-registry.url is not set") {
			t.Fatalf("%s without a registry: %v", key, err)
		}
		t.Log(err)
	}
}
