package kafkaboot_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/kafkatest"
	"github.com/kafkaboot/kafkaboot/template"
)

type pageView struct {
	Page string `json:"page"`
	User string `json:"user"`
}

// TestTwoClusters: one application, two embedded clusters: it consumes
// page views from the events cluster and produces them to the analytics
// cluster through the template named "analytics"; a listener with
// cluster=analytics consumes there, and its dead letters stay there.
func TestTwoClusters(t *testing.T) {
	analytics := kafkatest.New(t, kafkatest.Topic("views", 2), kafkatest.Topic("reports", 1))
	events := kafkatest.New(t, kafkatest.Topic("clicks", 2),
		kafkatest.Set("kafka.clusters.analytics.bootstrap-servers", strings.Join(analytics.Addrs(), ",")),
		kafkatest.Set("kafka.clusters.analytics.consumer.auto-offset-reset", "earliest"),
		kafkatest.Set("kafka.clusters.analytics.producer.compression", "zstd"))
	reports := make(chan string, 10)
	type forwarder struct {
		fx.In
		Analytics *template.Template `name:"analytics"`
	}
	app := events.Start(
		kafkaboot.Cluster("analytics"),
		kafkaboot.Listen("id=forward,topics=clicks,group=forward", func(f forwarder) func(context.Context, pageView) error {
			return func(ctx context.Context, v pageView) error {
				_, err := f.Analytics.Send(ctx, "views", v, template.Key(v.User))
				return err
			}
		}),
		kafkaboot.Listen("id=reports,topics=reports,group=reports,cluster=analytics", func(_ context.Context, s string) error {
			if s == "bad" {
				return container.NotRetryable(errors.New("unreadable report"))
			}
			reports <- s
			return nil
		}),
	)
	app.WaitAssigned("forward")
	app.WaitAssigned("reports")

	events.Send("clicks", pageView{Page: "/home", User: "ann"})
	events.Send("clicks", pageView{Page: "/cart", User: "bob"})
	views := kafkatest.Consume[pageView](analytics, "views", 2)
	if len(views) != 2 {
		t.Fatalf("views in the analytics cluster: %v", views)
	}
	analytics.Send("reports", "bad")
	analytics.Send("reports", "daily")
	select {
	case r := <-reports:
		if r != "daily" {
			t.Fatalf("report %q", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the report in the analytics cluster was not handled")
	}
	if dl := analytics.ExpectDLT("reports.DLT", 1)[0]; dl.OriginalTopic != "reports" || !strings.Contains(dl.ExceptionMessage, "unreadable") {
		t.Fatalf("dead letter in the analytics cluster: %+v", dl.DeadLetterInfo)
	}
	tds, err := events.Admin().ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tds.Has("views") || tds.Has("reports.DLT") {
		t.Fatalf("the events cluster got the analytics topics: %v", tds.Names())
	}
	t.Logf("clicks in the events cluster -> views in the analytics cluster (%v); a listener with cluster=analytics handled a report there, its dead letter in analytics' reports.DLT", views)
}

// TestUnknownCluster: a listener or a Cluster naming a cluster that is not
// configured fails the start, naming it.
func TestUnknownCluster(t *testing.T) {
	kit := kafkatest.New(t)
	for name, opt := range map[string]fx.Option{
		"listener": kafkaboot.Listen("id=r,topics=reports,cluster=analytcs", func(context.Context, string) error { return nil }),
		"template": kafkaboot.Cluster("analytcs"),
	} {
		app := fx.New(fx.NopLogger, kafkaboot.Module, kit.ConfigOptions(), opt)
		err := app.Err()
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = app.Start(ctx)
			cancel()
			app.Stop(context.Background())
		}
		if err == nil || !strings.Contains(kafkaboot.Cause(err).Error(), "kafka.clusters.analytcs: no such cluster (none configured)") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
