package kafkaboot_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/kafkatest"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
)

// TestGroupProtocols: kafka.consumer.group-protocol=consumer makes
// listeners join with KIP-848 (the broker assigns partitions), a
// listener's groupprotocol attribute overrides it, and both kinds of
// group consume the same topic side by side, as Kafka 4 allows.
func TestGroupProtocols(t *testing.T) {
	kit := kafkatest.New(t, kafkatest.Topic("orders", 4),
		kafkatest.Set("kafka.consumer.group-protocol", "consumer"),
		kafkatest.Set("kafka.consumer.auto-offset-reset", "earliest"))
	var mu sync.Mutex
	seen := map[string]map[string]bool{}
	handle := func(group string) func(context.Context, string) error {
		return func(_ context.Context, v string) error {
			mu.Lock()
			defer mu.Unlock()
			if seen[group] == nil {
				seen[group] = map[string]bool{}
			}
			seen[group][v] = true
			return nil
		}
	}
	app := kit.Start(
		kafkaboot.Listen("id=next,topics=orders,group=next,concurrency=2", func() listener.Func[string] { return handle("next") }),
		kafkaboot.Listen("id=old,topics=orders,group=old,concurrency=2,groupprotocol=classic", func() listener.Func[string] { return handle("old") }),
	)
	app.WaitAssigned("next")
	app.WaitAssigned("old")
	for i := range 40 {
		kit.Send("orders", fmt.Sprintf("o-%d", i), template.Key(fmt.Sprint(i)))
	}
	kit.Eventually("both groups to see 40 records", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen["next"]) != 40 || len(seen["old"]) != 40 {
			return fmt.Errorf("next %d, old %d", len(seen["next"]), len(seen["old"]))
		}
		return nil
	})
	listed, err := kit.Admin().ListGroups(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if typ := listed["next"].GroupType; typ != "consumer" {
		t.Errorf("group next is %q, want consumer", typ)
	}
	if typ := listed["old"].GroupType; typ != "classic" {
		t.Errorf("group old is %q, want classic", typ)
	}
	var d kadm.DescribedConsumerGroup
	total := 0
	kit.Eventually("group next Stable with 2 members holding the 4 partitions", func() error {
		dcs, err := kit.Admin().DescribeConsumerGroups(t.Context(), "next")
		if err != nil {
			return err
		}
		d, total = dcs["next"], 0
		for _, m := range d.Members {
			for _, ps := range m.Assignment {
				total += len(ps)
			}
		}
		if d.State != "Stable" || len(d.Members) != 2 || total != 4 || d.AssignorName != "uniform" {
			return fmt.Errorf("state %s, %d members, %d partitions assigned, assignor %q", d.State, len(d.Members), total, d.AssignorName)
		}
		return nil
	})
	t.Logf("group next: %s, epoch %d, %d members holding %d partitions, assignor %s; group old: classic", d.State, d.Epoch, len(d.Members), total, d.AssignorName)
}

// TestGroupProtocolRefused: settings Kafka's consumer refuses with the
// consumer protocol fail at startup, naming the key.
func TestGroupProtocolRefused(t *testing.T) {
	for _, tc := range []struct {
		name, tag string
		values    map[string]any
		want      string
	}{
		{"session timeout", "topics=orders,group=g", map[string]any{"kafka.consumer.group-protocol": "consumer", "kafka.consumer.session-timeout": "10s"},
			"kafka.consumer.session-timeout: not supported with group-protocol=consumer"},
		{"assignor property", "topics=orders,group=g,groupprotocol=consumer,properties=partition.assignment.strategy=range", nil,
			"partition.assignment.strategy is not supported with group.protocol=consumer"},
		{"session timeout under a listener's protocol", "topics=orders,group=g,groupprotocol=consumer", map[string]any{"kafka.consumer.session-timeout": "10s"},
			"kafka.consumer.session-timeout is not supported with group.protocol=consumer"},
		{"unknown protocol", "topics=orders,group=g,groupprotocol=eager", nil, `attribute "groupprotocol": want classic or consumer, got "eager"`},
		{"remote assignor without the protocol", "topics=orders,group=g", map[string]any{"kafka.consumer.group-remote-assignor": "range"},
			"kafka.consumer.group-remote-assignor: needs kafka.consumer.group-protocol=consumer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []kafkatest.Option{kafkatest.Topic("orders", 1)}
			for k, v := range tc.values {
				opts = append(opts, kafkatest.Set(k, v))
			}
			kit := kafkatest.New(t, opts...)
			app := fx.New(fx.NopLogger, kafkaboot.Module, kit.ConfigOptions(), kafkaboot.Listen(tc.tag, func() listener.Func[string] {
				return func(context.Context, string) error { return nil }
			}))
			err := app.Err()
			if err == nil {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				if err = app.Start(ctx); err == nil {
					app.Stop(ctx)
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("start: %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}
