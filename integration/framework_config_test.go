package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/template"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Listener structs with one defect each, for TestFrameworkStartupErrors.
type (
	fwUnknownAttr struct {
		Orders func(context.Context, fwOrder) error `kafka:"topics=orders,grp=billing"`
	}
	fwWrongSignature struct {
		Orders func(context.Context, fwOrder, int) error `kafka:"topics=orders"`
	}
	fwNoError struct {
		Orders func(context.Context, fwOrder) `kafka:"topics=orders"`
	}
	fwUnresolved struct {
		Orders func(context.Context, fwOrder) error `kafka:"topics=${app.topics.missing}"`
	}
	fwDuplicateID struct {
		Orders  func(context.Context, fwOrder) error `kafka:"id=dup,topics=orders"`
		Refunds func(context.Context, fwOrder) error `kafka:"id=dup,topics=refunds"`
	}
	fwDuplicateOne struct {
		Orders func(context.Context, fwOrder) error `kafka:"id=dup,topics=orders"`
	}
	fwDuplicateOther struct {
		Payments func(context.Context, fwOrder) error `kafka:"id=dup,topics=payments"`
	}
	fwAckWithoutManual struct {
		Orders func(context.Context, fwOrder, listener.Acknowledgment) error `kafka:"topics=orders"`
	}
	fwBadAckMode struct {
		Orders func(context.Context, fwOrder) error `kafka:"topics=orders,ack=sometimes"`
	}
)

// TestFrameworkStartupErrors: configuration errors (unknown key, invalid
// value) and listener definition errors (unknown attribute, wrong
// signature, unresolvable placeholder, duplicate id, ...) fail the fx app
// before anything starts, naming the key or the struct, field and tag;
// the errors match config.ErrInvalid / listener.ErrInvalidListener
// through fx's wrapping.
func TestFrameworkStartupErrors(t *testing.T) {
	c := fwCluster(t)
	good := fwValues(c.Addrs(), nil)
	with := func(kv ...any) map[string]any {
		v := maps.Clone(good)
		for i := 0; i+1 < len(kv); i += 2 {
			v[kv[i].(string)] = kv[i+1]
		}
		return v
	}
	orders := func(context.Context, fwOrder) error { return nil }
	for _, tc := range []struct {
		name   string
		values map[string]any
		opts   []fx.Option
		is     error
		wants  []string
	}{
		{name: "unknown key", values: with("kafka.consumer.gruop-id", "billing"), is: config.ErrUnknownKey,
			wants: []string{"kafka.consumer.gruop-id", "unknown key"}},
		{name: "unknown nested key", values: with("kafka.listener.ack-mood", "record"), is: config.ErrUnknownKey,
			wants: []string{"kafka.listener.ack-mood"}},
		{name: "invalid enum", values: with("kafka.listener.ack-mode", "sometimes"), is: config.ErrInvalid,
			wants: []string{"kafka.listener.ack-mode", "sometimes"}},
		{name: "invalid number", values: with("kafka.consumer.max-poll-records", "many"), is: config.ErrInvalid,
			wants: []string{"kafka.consumer.max-poll-records", "many"}},
		{name: "invalid duration", values: with("kafka.consumer.session-timeout", "soon"), is: config.ErrInvalid,
			wants: []string{"kafka.consumer.session-timeout", "soon"}},
		{name: "out of range", values: with("kafka.listener.concurrency", 0), is: config.ErrInvalid,
			wants: []string{"kafka.listener.concurrency"}},
		{name: "invalid server", values: with("kafka.bootstrap-servers", "no-port"), is: config.ErrInvalid,
			wants: []string{"kafka.bootstrap-servers", "no-port"}},
		{name: "unknown attribute", opts: []fx.Option{kafkaboot.Listeners(func() *fwUnknownAttr { return &fwUnknownAttr{Orders: orders} })},
			is: listener.ErrInvalidListener, wants: []string{"integration.fwUnknownAttr.Orders", `topics=orders,grp=billing`, `"grp"`}},
		{name: "wrong signature", opts: []fx.Option{kafkaboot.Listeners(func() *fwWrongSignature {
			return &fwWrongSignature{Orders: func(context.Context, fwOrder, int) error { return nil }}
		})}, is: listener.ErrInvalidListener, wants: []string{"integration.fwWrongSignature.Orders", `"topics=orders"`}},
		{name: "no error result", opts: []fx.Option{kafkaboot.Listeners(func() *fwNoError {
			return &fwNoError{Orders: func(context.Context, fwOrder) {}}
		})}, is: listener.ErrInvalidListener, wants: []string{"integration.fwNoError.Orders", `"topics=orders"`}},
		{name: "unresolvable placeholder", opts: []fx.Option{kafkaboot.Listeners(func() *fwUnresolved { return &fwUnresolved{Orders: orders} })},
			is: listener.ErrInvalidListener, wants: []string{"integration.fwUnresolved.Orders", "${app.topics.missing}", "app.topics.missing"}},
		{name: "duplicate id in one struct", opts: []fx.Option{kafkaboot.Listeners(func() *fwDuplicateID {
			return &fwDuplicateID{Orders: orders, Refunds: orders}
		})}, is: listener.ErrInvalidListener, wants: []string{"integration.fwDuplicateID.Refunds", `id=dup,topics=refunds`, `duplicate listener id "dup"`}},
		{name: "duplicate id across structs", opts: []fx.Option{
			kafkaboot.Listeners(func() *fwDuplicateOne { return &fwDuplicateOne{Orders: orders} }),
			kafkaboot.Listeners(func() *fwDuplicateOther { return &fwDuplicateOther{Payments: orders} }),
		}, is: listener.ErrInvalidListener, wants: []string{`duplicate listener id "dup"`}},
		{name: "acknowledgment without manual ack", opts: []fx.Option{kafkaboot.Listeners(func() *fwAckWithoutManual {
			return &fwAckWithoutManual{Orders: func(context.Context, fwOrder, listener.Acknowledgment) error { return nil }}
		})}, is: listener.ErrInvalidListener, wants: []string{"integration.fwAckWithoutManual.Orders", `"topics=orders"`}},
		{name: "bad ack mode", opts: []fx.Option{kafkaboot.Listeners(func() *fwBadAckMode { return &fwBadAckMode{Orders: orders} })},
			is: listener.ErrInvalidListener, wants: []string{"integration.fwBadAckMode.Orders", `ack=sometimes`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			values := tc.values
			if values == nil {
				values = good
			}
			a, app := fwNewApp(values, tc.opts...)
			err := app.Err()
			if err == nil {
				a.stop(context.Background())
				t.Fatal("the app was built")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q:\n%v", w, err)
				}
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error does not match %v: %v", tc.is, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := app.Start(ctx); err == nil {
				t.Error("the app started")
				app.Stop(ctx)
			}
		})
	}
}

// fwPlaceholderListeners: a listener whose topic comes from
// app.topics.x.
type fwPlaceholderListeners struct {
	Orders func(context.Context, *listener.Record[fwOrder]) error `kafka:"id=placeholders,topics=${app.topics.x},group=g-${app.topics.x}"`
}

// TestFrameworkPlaceholders: topics=${app.topics.x} resolves from a YAML
// file (config.WithFile, which also holds the bootstrap servers), from
// the environment (APP_TOPICS_X), and from the environment over the file;
// records sent to the resolved topic are handled.
func TestFrameworkPlaceholders(t *testing.T) {
	c := fwCluster(t, fwTopics(2, "yaml-orders", "env-orders")...)
	dir := t.TempDir()
	file := filepath.Join(dir, "application.yaml")
	yaml := fmt.Sprintf("kafka:\n  bootstrap-servers: %s\n  consumer:\n    auto-offset-reset: earliest\n"+
		"    heartbeat-interval: 100ms\napp:\n  topics:\n    x: yaml-orders\n", strings.Join(c.Addrs(), ","))
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	servers := map[string]any{"kafka.bootstrap-servers": strings.Join(c.Addrs(), ","), "kafka.consumer.auto-offset-reset": "earliest"}

	for _, tc := range []struct {
		name  string
		opts  []config.Option
		topic string
	}{
		{"file", []config.Option{config.WithEnviron(nil), config.WithFile(file)}, "yaml-orders"},
		{"environment", []config.Option{config.WithEnviron([]string{"APP_TOPICS_X=env-orders"}), config.WithValues(servers)}, "env-orders"},
		{"environment over file", []config.Option{config.WithEnviron([]string{"APP_TOPICS_X=env-orders", "UNRELATED=1"}), config.WithFile(file)}, "env-orders"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := fwCtx(t)
			got := make(chan *listener.Record[fwOrder], 10)
			var tmpl *template.Template
			app := fx.New(fx.NopLogger, kafkaboot.Module, fx.Supply(fwLogger()),
				kafkaboot.ConfigOptions(tc.opts...),
				kafkaboot.Listeners(func() *fwPlaceholderListeners {
					return &fwPlaceholderListeners{Orders: func(_ context.Context, r *listener.Record[fwOrder]) error {
						got <- r
						return nil
					}}
				}),
				fx.Populate(&tmpl))
			if err := app.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer app.Stop(context.Background())
			id := "order-" + strings.ReplaceAll(tc.name, " ", "-")
			if _, err := tmpl.Send(ctx, tc.topic, fwOrder{ID: id}); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-got:
				if r.Topic != tc.topic || r.Value.ID != id {
					t.Fatalf("got %s from %s, want %s from %s", r.Value.ID, r.Topic, id, tc.topic)
				}
			case <-ctx.Done():
				t.Fatalf("nothing received from %s", tc.topic)
			}
		})
	}
}

// TestFrameworkAdminTopics: kafka.admin.topics are created at startup
// with their partitions and configs; a topic that exists already is left
// as it is; a topic the cluster cannot create (replication factor above
// the node count) fails the start, naming it.
func TestFrameworkAdminTopics(t *testing.T) {
	c := fwCluster(t, fwTopics(2, "admin-existing")...)
	ctx := fwCtx(t)
	adm := fwAdmin(t, c.Addrs())

	fwStartApp(t, ctx, fwValues(c.Addrs(), map[string]any{
		"kafka.admin.topics": []any{
			map[string]any{"name": "admin-orders", "partitions": 5, "configs": map[string]any{
				"retention.ms": "3600000", "cleanup.policy": "delete", "max.message.bytes": "2097152"}},
			map[string]any{"name": "admin-defaults"},
			map[string]any{"name": "admin-existing", "partitions": 7},
		},
	}))
	details, err := adm.ListTopics(ctx, "admin-orders", "admin-defaults", "admin-existing")
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]int{"admin-orders": 5, "admin-defaults": 1, "admin-existing": 2} {
		d, ok := details[topic]
		if !ok || d.Err != nil {
			t.Errorf("topic %s not created: %v", topic, d.Err)
			continue
		}
		if len(d.Partitions) != want {
			t.Errorf("topic %s has %d partitions, want %d", topic, len(d.Partitions), want)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "admin-orders")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("admin-orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]kadm.Config{}
	for _, cfg := range rc.Configs {
		got[cfg.Key] = cfg
	}
	for k, v := range map[string]string{"retention.ms": "3600000", "cleanup.policy": "delete", "max.message.bytes": "2097152"} {
		cfg, ok := got[k]
		if !ok || cfg.Value == nil || *cfg.Value != v {
			t.Errorf("admin-orders config %s = %v, want %s", k, cfg.Value, v)
			continue
		}
		if cfg.Source.String() != "DYNAMIC_TOPIC_CONFIG" {
			t.Errorf("admin-orders config %s has source %v, want a topic config", k, cfg.Source)
		}
	}

	t.Run("refused", func(t *testing.T) {
		_, app := fwNewApp(fwValues(c.Addrs(), map[string]any{
			"kafka.admin.topics.0.name":               "admin-replicated",
			"kafka.admin.topics.0.replication-factor": 4, // more than the 3 nodes
		}))
		if err := app.Err(); err != nil {
			t.Fatal(err)
		}
		err := app.Start(ctx)
		if err == nil {
			app.Stop(ctx)
			t.Fatal("the app started with a topic the cluster refuses")
		}
		if !strings.Contains(err.Error(), "admin-replicated") || !strings.Contains(err.Error(), "kafka.admin.topics") {
			t.Errorf("error does not name the topic: %v", err)
		}
	})
}

// fwMissingTopicListeners consumes a topic that exists, one that does
// not, one created by kafka.admin.topics, and a pattern (never missing).
type fwMissingTopicListeners struct {
	Orders  func(context.Context, fwOrder) error `kafka:"id=mt-orders,topics=mt-orders;mt-absent"`
	Created func(context.Context, fwOrder) error `kafka:"id=mt-created,topics=mt-created"`
	Any     func(context.Context, fwOrder) error `kafka:"id=mt-any,pattern=mt-nothing-.*"`
}

// TestFrameworkMissingTopicsFatal: with kafka.listener.missing-topics-fatal
// an app whose listener names a topic that does not exist fails to start,
// naming the topic and listener, without creating it (even though the
// broker auto-creates topics); topics of kafka.admin.topics count as
// existing. Without the setting the app starts.
func TestFrameworkMissingTopicsFatal(t *testing.T) {
	c := fwCluster(t, fwTopics(1, "mt-orders")...)
	ctx := fwCtx(t)
	adm := fwAdmin(t, c.Addrs())
	nop := func(context.Context, fwOrder) error { return nil }
	ls := kafkaboot.Listeners(func() *fwMissingTopicListeners {
		return &fwMissingTopicListeners{Orders: nop, Created: nop, Any: nop}
	})
	values := fwValues(c.Addrs(), map[string]any{
		"kafka.listener.missing-topics-fatal": true,
		"kafka.admin.topics.0.name":           "mt-created",
	})

	_, app := fwNewApp(values, ls)
	err := app.Start(ctx)
	if err == nil {
		app.Stop(ctx)
		t.Fatal("the app started with a missing topic")
	}
	t.Logf("start failed: %v", err)
	if !errors.Is(err, kafkaboot.ErrMissingTopics) || !strings.Contains(err.Error(), `"mt-absent"`) ||
		!strings.Contains(err.Error(), "mt-orders") || strings.Contains(err.Error(), `"mt-created"`) {
		t.Errorf("error does not name only the missing topic and its listener: %v", err)
	}
	details, lerr := adm.ListTopics(ctx, "mt-absent", "mt-created")
	if lerr != nil {
		t.Fatal(lerr)
	}
	if d := details["mt-absent"]; d.Err == nil {
		t.Errorf("the check created the missing topic")
	}
	if d := details["mt-created"]; d.Err != nil {
		t.Errorf("the admin did not create mt-created: %v", d.Err)
	}

	values["kafka.listener.missing-topics-fatal"] = false
	fwStartApp(t, ctx, values, ls)
}
