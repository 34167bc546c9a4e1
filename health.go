package kafkaboot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/fx"

	"github.com/kafkaboot/kafkaboot/config"
	"github.com/kafkaboot/kafkaboot/container"
	"github.com/kafkaboot/kafkaboot/template"
)

// Health tells whether the application's Kafka side is alive and ready:
// broker connectivity, each listener container's state and, per listener,
// lag against kafka.health.max-lag and kafka.health.max-lag-time. It is an
// http.Handler answering /readyz with readiness and anything else with
// liveness, 200 when UP and 503 when DOWN, with a JSON HealthReport:
//
//	mux.Handle("/healthz", health)
//	mux.Handle("/readyz", health)
//
// Live means no auto-startup container has failed. Ready means live, the
// brokers reachable, every auto-startup container running (or paused on
// purpose) and every listener within its lag thresholds. Spring Boot has
// no Kafka health indicator; this is one that knows consumer lag.
type Health struct {
	cfg        config.Health
	producer   *template.ProducerFactory
	containers *Containers
	now        func() time.Time

	mu       sync.Mutex
	probeAt  time.Time
	probeErr error
}

// NewHealth returns the health of an application with producer and
// containers (either may be nil).
func NewHealth(cfg *config.Config, producer *template.ProducerFactory, containers *Containers) *Health {
	return &Health{cfg: cfg.Kafka.Health, producer: producer, containers: containers, now: time.Now}
}

// HealthReport is what Health found.
type HealthReport struct {
	// Status is "UP" or "DOWN" for what was asked (liveness or
	// readiness), as Spring Boot's actuator says it.
	Status string `json:"status"`
	Live   bool   `json:"live"`
	Ready  bool   `json:"ready"`
	// Reasons say why the application is not ready (or not live).
	Reasons   []string         `json:"reasons,omitempty"`
	Brokers   BrokerHealth     `json:"brokers"`
	Listeners []ListenerHealth `json:"listeners"`
}

// BrokerHealth is the cluster's reachability.
type BrokerHealth struct {
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
}

// ListenerHealth is one listener container's health.
type ListenerHealth struct {
	ID    string `json:"id"`
	Group string `json:"group"`
	State string `json:"state"`
	// AutoStartup containers count for readiness; the others (started by
	// the application when it wants) only when running.
	AutoStartup bool `json:"autoStartup"`
	// Lag is the largest lag in records over the listener's partitions,
	// LagTime the age of its oldest record waiting (seconds in JSON).
	Lag     int64   `json:"lag"`
	LagTime float64 `json:"lagSeconds"`
	Ready   bool    `json:"ready"`
	Error   string  `json:"error,omitempty"`
	// Partitions are the owned partitions' lags.
	Partitions []PartitionHealth `json:"partitions,omitempty"`
}

// PartitionHealth is one owned partition's lag.
type PartitionHealth struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Lag       int64   `json:"lag"`
	LagTime   float64 `json:"lagSeconds"`
	Paused    bool    `json:"paused,omitempty"`
}

// probeEvery bounds how often Check asks the cluster when a client
// suspects an outage, probeIdle how often otherwise; probeTimeout is how
// long it waits for the answer.
const (
	probeEvery   = time.Second
	probeIdle    = 10 * time.Second
	probeTimeout = 2 * time.Second
)

// Check looks at everything and returns the report; Status is the
// readiness.
func (h *Health) Check(ctx context.Context) HealthReport {
	rep := HealthReport{Live: true, Ready: true, Brokers: BrokerHealth{Reachable: true}}
	notReady := func(format string, args ...any) {
		rep.Ready = false
		rep.Reasons = append(rep.Reasons, fmt.Sprintf(format, args...))
	}
	var statuses []container.Status
	var autos []bool
	suspect := false
	var lastErr error
	if h.containers != nil {
		for _, c := range h.containers.Registry.Containers() {
			st := c.Status()
			statuses = append(statuses, st)
			autos = append(autos, c.AutoStartup())
			if !st.BrokersReachable {
				suspect, lastErr = true, st.BrokerError
			}
		}
	}
	if h.producer != nil {
		if ok, err := h.producer.Connectivity(); !ok {
			suspect, lastErr = true, err
		}
	}
	if err := h.brokers(ctx, suspect, lastErr); err != nil {
		rep.Brokers = BrokerHealth{Reachable: false, Error: err.Error()}
		notReady("kafka brokers unreachable: %v", err)
	}
	for i, st := range statuses {
		lh := ListenerHealth{ID: st.ListenerID, Group: st.Group, State: st.State.String(), AutoStartup: autos[i], Ready: true}
		lag, age := st.MaxLag()
		lh.Lag, lh.LagTime = lag, age.Seconds()
		for _, p := range st.Partitions {
			lh.Partitions = append(lh.Partitions, PartitionHealth{Topic: p.Topic, Partition: p.Partition, Lag: p.Lag, LagTime: p.LagTime.Seconds(), Paused: p.Paused})
		}
		if st.Err != nil {
			lh.Error = st.Err.Error()
		}
		fail := func(format string, args ...any) {
			lh.Ready = false
			notReady("listener %q: "+format, append([]any{st.ListenerID}, args...)...)
		}
		switch st.State {
		case container.StateFailed:
			if lh.AutoStartup {
				rep.Live = false
				fail("failed: %v", st.Err)
			}
		case container.StateStopped:
			if lh.AutoStartup {
				fail("stopped")
			}
		case container.StateStarting:
			fail("starting (joining group %q)", st.Group)
		}
		if st.State == container.StateRunning || st.State == container.StatePaused {
			if h.cfg.MaxLag > 0 && lag > h.cfg.MaxLag {
				fail("lag %d records > kafka.health.max-lag %d", lag, h.cfg.MaxLag)
			}
			if h.cfg.MaxLagTime > 0 && age > h.cfg.MaxLagTime {
				fail("oldest waiting record %v old > kafka.health.max-lag-time %v", age.Round(time.Millisecond), h.cfg.MaxLagTime)
			}
		}
		rep.Listeners = append(rep.Listeners, lh)
	}
	if !rep.Live {
		rep.Ready = false
	}
	rep.Status = upDown(rep.Ready)
	return rep
}

// brokers returns nil when the cluster is reachable, asking it with a
// Metadata request through the producer's client: at most once per
// probeEvery while a client suspects an outage, and otherwise once per
// probeIdle (an idle application's clients would not notice one).
func (h *Health) brokers(ctx context.Context, suspect bool, lastErr error) error {
	if h.producer == nil {
		if suspect {
			return lastErr
		}
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	age := h.now().Sub(h.probeAt)
	if !h.probeAt.IsZero() && (age < probeEvery || !suspect && h.probeErr == nil && age < probeIdle) {
		return h.probeErr
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, err := h.producer.Client().Request(pctx, kmsg.NewPtrMetadataRequest())
	if err != nil && lastErr != nil && !errors.Is(err, lastErr) {
		err = fmt.Errorf("%w (last error: %w)", err, lastErr)
	}
	h.probeAt, h.probeErr = h.now(), err
	return err
}

// ServeHTTP answers /readyz (any path ending so) with readiness and every
// other path with liveness: 200 and status UP, or 503 and DOWN, with the
// whole HealthReport as JSON.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := h.Check(r.Context())
	up := rep.Ready
	if !strings.HasSuffix(r.URL.Path, "/readyz") {
		up = rep.Live
	}
	rep.Status = upDown(up)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !up {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(rep)
}

func upDown(up bool) string {
	if up {
		return "UP"
	}
	return "DOWN"
}

// HealthHandler is the fx name under which Module provides Health as an
// http.Handler: `name:"kafkaboot.health"`.
const HealthHandler = "kafkaboot.health"

// healthHandler exposes Health as a named http.Handler.
var healthHandler = fx.Provide(fx.Annotate(func(h *Health) http.Handler { return h }, fx.ResultTags(`name:"`+HealthHandler+`"`)))
