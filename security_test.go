package kafkaboot_test

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/embeddedbroker"
	"github.com/kafkaboot/kafkaboot/template"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestSecurityEndToEnd: kafka.security.* against the embedded broker, over
// TLS, SASL_SSL with SCRAM and with PLAIN: the module starts, creates its
// topics, sends and handles records; a wrong password fails the start
// with the broker's reason.
func TestSecurityEndToEnd(t *testing.T) {
	bundle, err := embeddedbroker.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	ca, _, err := bundle.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := embeddedbroker.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	otherCA, _, err := other.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := embeddedbroker.StartForTest(t,
		embeddedbroker.Nodes(3),
		embeddedbroker.Listeners("SSL://127.0.0.1:0", "SASL_SSL://127.0.0.1:0"),
		embeddedbroker.TLS(bundle),
		embeddedbroker.SCRAMUser("SCRAM-SHA-256", "alice", "alice-secret"),
		embeddedbroker.PlainUser("bob", "bob-secret"))
	for _, tc := range []struct {
		name, listener string
		security       map[string]any
		wantErr        error
	}{
		{"SSL", "SSL", map[string]any{"kafka.security.protocol": "SSL"}, nil},
		{"SASL_SSL SCRAM-SHA-256", "SASL_SSL", map[string]any{"kafka.security.protocol": "SASL_SSL",
			"kafka.security.sasl.mechanism": "SCRAM-SHA-256", "kafka.security.sasl.username": "alice", "kafka.security.sasl.password": "alice-secret"}, nil},
		{"SASL_SSL PLAIN", "SASL_SSL", map[string]any{"kafka.security.protocol": "SASL_SSL",
			"kafka.security.sasl.mechanism": "PLAIN", "kafka.security.sasl.username": "bob", "kafka.security.sasl.password": "bob-secret"}, nil},
		{"SASL_SSL wrong password", "SASL_SSL", map[string]any{"kafka.security.protocol": "SASL_SSL",
			"kafka.security.sasl.mechanism": "SCRAM-SHA-256", "kafka.security.sasl.username": "alice", "kafka.security.sasl.password": "nope"}, kerr.SaslAuthenticationFailed},
		{"SSL trusting another CA", "SSL", map[string]any{"kafka.security.protocol": "SSL", "kafka.security.tls.ca-file": otherCA}, errUntrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "events-" + tc.listener
			cfg := map[string]any{"kafka.security.tls.ca-file": ca, "app.topic": topic, "kafka.admin.topics.0.name": topic}
			for k, v := range tc.security {
				cfg[k] = v
			}
			got := make(chan int, 10)
			var tmpl *template.Template
			app := fx.New(fx.NopLogger, kafkaboot.Module, appConfig(c.ListenerAddrs(tc.listener), cfg),
				kafkaboot.Listeners(func() *good {
					return &good{Events: func(_ context.Context, e event) error { got <- e.N; return nil }}
				}),
				fx.Populate(&tmpl))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			err := errors.Join(app.Err(), app.Start(ctx))
			if tc.wantErr != nil {
				if err == nil {
					app.Stop(context.Background())
					t.Fatal("the application started")
				}
				var unknownCA x509.UnknownAuthorityError
				switch {
				case !errors.Is(err, template.ErrAuthentication):
					t.Fatalf("start error %v, want template.ErrAuthentication", err)
				case tc.wantErr == errUntrusted && !errors.As(err, &unknownCA):
					t.Fatalf("start error %v, want an unknown authority", err)
				case tc.wantErr != errUntrusted && !errors.Is(err, tc.wantErr):
					t.Fatalf("start error %v, want %v", err, tc.wantErr)
				}
				t.Logf("start failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer app.Stop(context.Background())
			for i := range 5 {
				if _, err := tmpl.Send(ctx, topic, event{N: i}); err != nil {
					t.Fatal(err)
				}
			}
			for seen := 0; seen < 5; seen++ {
				select {
				case <-got:
				case <-ctx.Done():
					t.Fatalf("handled %d of 5", seen)
				}
			}
		})
	}
}

// errUntrusted stands for a server certificate the client does not trust.
var errUntrusted = errors.New("untrusted certificate")
