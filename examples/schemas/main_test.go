package main

import (
	"strings"
	"testing"
	"time"

	"github.com/kafkaboot/kafkaboot/kafkatest"
)

// TestRun runs the example as `go run ./examples/schemas` does.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatalf("%v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{"billing (v1) billed o-4: 3 x juice", "TYPE_MISMATCH", "billing (v2) billed o-1: 2 x coffee in EUR", "versions [1 2]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestEvolution tests the services with the test kit: billing on v1 reads
// v2's orders, v3 is refused, and a record that is not Avro is a dead
// letter.
func TestEvolution(t *testing.T) {
	kit := kafkatest.New(t, kafkatest.SchemaRegistry(), kafkatest.Topic("orders", 1),
		kafkatest.Set("kafka.producer.value-serializer", "avro"), kafkatest.Set("kafka.consumer.value-deserializer", "avro"))
	b := NewBilling[OrderV1]()
	kit.Start(BillingService(b, "billing", orderV1Schema)).WaitAssigned("billing")
	if _, err := kit.Start(OrdersService[OrderV2](orderV2Schema)).Template.Send(t.Context(), "orders", OrderV2{"o-1", "tea", 2, "USD", nil}); err != nil {
		t.Fatal(err)
	}
	if _, err := kit.Start(OrdersService[OrderV3](orderV3Schema)).Template.Send(t.Context(), "orders", OrderV3{ID: "o-2", Quantity: "two"}); err == nil || !strings.Contains(err.Error(), "TYPE_MISMATCH") {
		t.Fatalf("v3: %v", err)
	}
	kit.Send("orders", "not avro")
	if dl := kit.ExpectDLT("orders.DLT", 1)[0]; !strings.Contains(dl.ExceptionMessage, "magic byte") {
		t.Fatalf("dead letter: %s", dl.ExceptionMessage)
	}
	select {
	case o := <-b.orders:
		if o != (OrderV1{"o-1", "tea", 2}) {
			t.Fatalf("billed %+v", o)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the v2 order was not billed")
	}
}
