package listener_test

import (
	"context"
	"fmt"

	"github.com/kafkaboot/kafkaboot/listener"
)

// Purchase is a record payload: JSON, validated by its tags.
type Purchase struct {
	ID  string `json:"id" validate:"required"`
	Qty int    `json:"qty" validate:"gt=0"`
}

// Billing is an application service whose methods handle records.
type Billing struct{}

func (Billing) OnPurchase(ctx context.Context, o Purchase) error                      { return nil }
func (Billing) OnPurchases(ctx context.Context, os []Purchase) error                  { return nil }
func (Billing) OnAudit(ctx context.Context, r *listener.Record[map[string]any]) error { return nil }

// Declare listeners as struct fields with a kafka tag. The generic types
// listener.Func, RecordFunc and BatchFunc take method values of the
// matching signature unchanged, and are called without reflection.
func ExampleFunc() {
	type Listeners struct {
		Created listener.Func[Purchase]             `kafka:"topics=orders,group=billing,concurrency=3"`
		Bulk    listener.BatchFunc[Purchase]        `kafka:"id=bulk,topics=orders-bulk,group=billing,batch"`
		Audit   listener.RecordFunc[map[string]any] `kafka:"id=audit,topics=${app.topics.audit:audit},group=audit,ack=record"`
	}
	var svc Billing
	eps, err := listener.NewRegistry().Register(&Listeners{Created: svc.OnPurchase, Bulk: svc.OnPurchases, Audit: svc.OnAudit})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ep := range eps {
		fmt.Printf("%s: topics %v, group %s, batch %v\n", ep.ID, ep.Topics, ep.Group, ep.Batch)
	}
	// Output:
	// listener_test.Listeners.Created: topics [orders], group billing, batch false
	// bulk: topics [orders-bulk], group billing, batch true
	// audit: topics [audit], group audit, batch false
}
