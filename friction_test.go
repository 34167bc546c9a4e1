package kafkaboot_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/serde"
	"github.com/kafkaboot/kafkaboot/template"
)

type billing struct{ got chan int }

func (b *billing) OnEvent(_ context.Context, e event) error { b.got <- e.N; return nil }

type onceDeclared struct {
	Events func(context.Context, event) error `kafka:"topics=events,group=g-value"`
}

// produceHook counts records produced by the producer factory's client.
type produceHook struct{ n atomic.Int64 }

func (h *produceHook) OnProduceRecordBuffered(*kgo.Record) { h.n.Add(1) }

// fetchHook counts records fetched by the containers' clients.
type fetchHook struct{ n atomic.Int64 }

func (h *fetchHook) OnFetchRecordBuffered(*kgo.Record) { h.n.Add(1) }

// TestListenersDeclaredOnce: a handler registered with its tag in one
// line (a method value through a constructor, and a plain func), a
// listener struct given as a value, and the franz-go and template options
// under fx.
func TestListenersDeclaredOnce(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(1))
	var (
		plain     = make(chan int, 10)
		value     = make(chan int, 10)
		ph        produceHook
		fh        fetchHook
		stamped   atomic.Int64
		tmpl      *template.Template
		txTmpl    *template.Template
		registry  *kafkaboot.Containers
		onMethods = &billing{got: make(chan int, 10)}
	)
	app := fx.New(fx.NopLogger, kafkaboot.Module,
		appConfig(c.Addrs(), map[string]any{"kafka.producer.transactional-id-prefix": "tx-"}),
		fx.Supply(onMethods),
		kafkaboot.Listen("topics=events,group=g-method", func(b *billing) func(context.Context, event) error { return b.OnEvent }),
		kafkaboot.Listen("topics=events,group=g-plain,id=plain", func(_ context.Context, e event) error { plain <- e.N; return nil }),
		kafkaboot.Listeners(&onceDeclared{Events: func(_ context.Context, e event) error { value <- e.N; return nil }}),
		kafkaboot.ProducerOptions(kgo.WithHooks(&ph)),
		kafkaboot.ConsumerOptions(kgo.WithHooks(&fh)),
		kafkaboot.TemplateOptions(template.WithInterceptor(template.InterceptorFunc(func(_ context.Context, r *kgo.Record) error {
			stamped.Add(1)
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "stamped", Value: []byte("yes")})
			return nil
		}))),
		fx.Populate(&tmpl, &registry),
		fx.Invoke(fx.Annotate(func(t *template.Template) { txTmpl = t }, fx.ParamTags(`name:"transactional"`))))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(kafkaboot.Cause(err))
	}
	defer app.Stop(context.Background())

	ids := map[string]bool{}
	for _, ep := range registry.Listeners.Endpoints() {
		ids[ep.ID] = true
	}
	for _, id := range []string{"kafkaboot_test.billing.OnEvent", "plain", "kafkaboot_test.onceDeclared.Events"} {
		if !ids[id] {
			t.Errorf("no listener %q; have %v", id, ids)
		}
	}
	if _, err := tmpl.Send(ctx, "events", event{N: 1}); err != nil {
		t.Fatal(err)
	}
	if err := txTmpl.ExecuteInTransaction(ctx, func(ctx context.Context, tt *template.Template) error {
		_, err := tt.Send(ctx, "events", event{N: 2})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]chan int{"method": onMethods.got, "plain": plain, "value": value} {
		seen := map[int]bool{}
		for len(seen) < 2 {
			select {
			case n := <-ch:
				seen[n] = true
			case <-ctx.Done():
				t.Fatalf("%s listener got %v", name, seen)
			}
		}
	}
	if ph.n.Load() < 1 || fh.n.Load() < 6 || stamped.Load() != 2 {
		t.Errorf("hooks: %d produced, %d fetched; %d sends intercepted", ph.n.Load(), fh.n.Load(), stamped.Load())
	}
	t.Logf("3 listeners declared once; producer hook saw %d records, consumer hook %d, template interceptor %d; transactional template committed", ph.n.Load(), fh.n.Load(), stamped.Load())
}

type ackless struct {
	Events func(context.Context, event) error `kafka:"topics=events,group=g-ackless"`
}

// TestStartupErrorsOneLine: Cause gives the one line that matters, not
// fx's wrapping; a global manual ack mode names its configuration key.
func TestStartupErrorsOneLine(t *testing.T) {
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(1))
	for _, tc := range []struct {
		name string
		opts []fx.Option
		want string
	}{
		{"bad tag", []fx.Option{appConfig(c.Addrs(), nil), kafkaboot.Listeners(&bad{Events: func(context.Context, event) error { return nil }})},
			`listener: kafkaboot_test.bad.Events: tag "topics=events,grp=x": unknown attribute "grp"`},
		{"bad one-line tag", []fx.Option{appConfig(c.Addrs(), nil), kafkaboot.Listen("topics=events,concurrency=0", func(context.Context, event) error { return nil })},
			`listener: kafkaboot_test.TestStartupErrorsOneLine.func`},
		{"manual ack from config", []fx.Option{appConfig(c.Addrs(), map[string]any{"kafka.listener.ack-mode": "manual"}),
			kafkaboot.Listeners(&ackless{Events: func(context.Context, event) error { return nil }})},
			`container: invalid container: listener "kafkaboot_test.ackless.Events": ack mode manual (the container default: kafka.listener.ack-mode, or container.WithAckMode) needs a handler with a listener.Acknowledgment parameter; add one, or give the listener an automatic mode (ack=batch)`},
		{"transactional template without a prefix", []fx.Option{appConfig(c.Addrs(), nil),
			fx.Invoke(fx.Annotate(func(*template.Template) {}, fx.ParamTags(`name:"transactional"`)))},
			"kafkaboot: the transactional template needs kafka.producer.transactional-id-prefix"},
		{"registry serializer without a registry", []fx.Option{appConfig(c.Addrs(), nil), fx.Invoke(func(*serde.SRAvro) {})},
			"serde: kafka.schema-registry.url is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := fx.New(append([]fx.Option{fx.NopLogger, kafkaboot.Module}, tc.opts...)...)
			err := app.Err()
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err = app.Start(ctx)
				defer app.Stop(context.Background())
			}
			if err == nil {
				t.Fatal("no error")
			}
			got := kafkaboot.Cause(err).Error()
			if !strings.HasPrefix(got, tc.want) || strings.Contains(got, "could not build") {
				t.Fatalf("Cause:\n  %s\nwant it to start with\n  %s\n(fx said %d characters: %s)", got, tc.want, len(err.Error()), err)
			}
			var de *listener.DefinitionError
			if strings.HasPrefix(tc.want, "listener:") && !errors.As(err, &de) {
				t.Errorf("%v is not a *listener.DefinitionError", err)
			}
			t.Logf("fx: %d characters; Cause: %s", len(err.Error()), got)
		})
	}
}
