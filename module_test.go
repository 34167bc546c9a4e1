package kafkaboot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/kafkatest"
)

type event struct {
	N int `json:"n"`
}

type good struct {
	Events func(context.Context, event) error `kafka:"topics=${app.topic},group=g1"`
}

type bad struct {
	Events func(context.Context, event) error `kafka:"topics=events,grp=x"`
}

func appConfig(addrs []string, extra map[string]any) fx.Option {
	v := map[string]any{
		"kafka.bootstrap-servers":          strings.Join(addrs, ","),
		"kafka.consumer.auto-offset-reset": "earliest",
		"kafka.admin.topics.0.name":        "events",
		"kafka.admin.topics.0.partitions":  3,
		"app.topic":                        "events",
	}
	for k, x := range extra {
		v[k] = x
	}
	return kafkaboot.ConfigOptions(config.WithEnviron(nil), config.WithValues(v))
}

// TestModuleEndToEnd: the module creates the admin topics, runs the
// listener containers and the template; records sent are handled.
func TestModuleEndToEnd(t *testing.T) {
	kit := kafkatest.New(t, kafkatest.Nodes(3), kafkatest.Set("kafka.admin.topics.0.name", "events"),
		kafkatest.Set("kafka.admin.topics.0.partitions", 3), kafkatest.Set("app.topic", "events"))
	got := make(chan int, 10)
	app := kit.Start(kafkaboot.Listeners(&good{Events: func(_ context.Context, e event) error { got <- e.N; return nil }}))
	app.WaitAssigned("kafkaboot_test.good.Events")
	for i := range 5 {
		kit.Send("events", event{N: i})
	}
	seen := map[int]bool{}
	for len(seen) < 5 {
		select {
		case n := <-got:
			seen[n] = true
		case <-time.After(30 * time.Second):
			t.Fatalf("handled %d of 5", len(seen))
		}
	}
}

// TestModuleStartupErrors: a bad tag and a bad config key fail the
// application before it starts, naming the struct, field and tag, or the
// key.
func TestModuleStartupErrors(t *testing.T) {
	c := embeddedbroker.StartForTest(t)
	for _, tc := range []struct {
		name  string
		opts  []fx.Option
		wants []string
	}{
		{"bad tag", []fx.Option{appConfig(c.Addrs(), nil), kafkaboot.Listeners(func() *bad { return &bad{Events: func(context.Context, event) error { return nil }} })},
			[]string{"kafkaboot_test.bad.Events", `grp`}},
		{"bad config", []fx.Option{appConfig(c.Addrs(), map[string]any{"kafka.producer.acks": "2"})},
			[]string{"kafka.producer.acks"}},
		{"unknown key", []fx.Option{appConfig(c.Addrs(), map[string]any{"kafka.consumer.gruop-id": "x"})},
			[]string{"kafka.consumer.gruop-id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := fx.New(append([]fx.Option{fx.NopLogger, kafkaboot.Module}, tc.opts...)...)
			err := app.Err()
			if err == nil {
				t.Fatal("application built")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not name %q", err, w)
				}
			}
		})
	}
}
