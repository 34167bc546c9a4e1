package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

// partitionKey names one replica of a partition: its topic, partition and
// node.
type partitionKey struct {
	topic     string
	partition int32
	node      int32
}

// cleanerStates returns the log cleaner's state of every replica of the
// compacted topics among names, when the cluster is an embedded one with
// an admin API (Kafka has no request for it; its brokers show it only as
// JMX metrics): none, without an error, from other clusters. An error
// says why an admin API that exists could not be read.
func cleanerStates(ctx context.Context, adm *kadm.Client, names []string, configs map[string][]kadm.Config) (map[partitionKey]embeddedbroker.CleanerLog, error) {
	var compacted []string
	for _, name := range names {
		for _, c := range configs[name] {
			if c.Key == "cleanup.policy" && slices.Contains(strings.Split(c.MaybeValue(), ","), "compact") {
				compacted = append(compacted, name)
			}
		}
	}
	if len(compacted) == 0 {
		return nil, nil
	}
	base := adminURL(ctx, adm)
	if base == "" {
		return nil, nil
	}
	out := map[partitionKey]embeddedbroker.CleanerLog{}
	for _, topic := range compacted {
		rep, err := fetchCleaner(ctx, base, topic)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", base, err)
		}
		for _, n := range rep.Nodes {
			for _, l := range n.Logs {
				out[partitionKey{l.Topic, l.Partition, n.Node}] = l
			}
		}
	}
	return out, nil
}

// adminURL returns the embedded cluster's admin API from the brokers'
// read-only config, or "".
func adminURL(ctx context.Context, adm *kadm.Client) string {
	rcs, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil {
		return ""
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == embeddedbroker.AdminURLConfig {
				return c.MaybeValue()
			}
		}
	}
	return ""
}

func fetchCleaner(ctx context.Context, base, topic string) (embeddedbroker.CleanerReport, error) {
	var rep embeddedbroker.CleanerReport
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/cleaner?topic="+url.QueryEscape(topic), nil)
	if err != nil {
		return rep, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rep, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return rep, fmt.Errorf("admin API: %s", resp.Status)
	}
	return rep, json.NewDecoder(resp.Body).Decode(&rep)
}

// describeRun shows a cleaning in one field: when, how long, and the
// bytes before and after.
func describeRun(r *embeddedbroker.CleanerRun) string {
	if r == nil {
		return "never"
	}
	s := fmt.Sprintf("%s (%s, %s -> %s)", r.Start.UTC().Format(time.RFC3339), r.Duration.Round(time.Microsecond), sizeOf(r.BytesRead), sizeOf(r.BytesWritten))
	if r.Error != "" {
		s += " failed: " + r.Error
	}
	return s
}

// sizeOf shows a byte count in B, KiB, MiB or GiB.
func sizeOf(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 2 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, []string{"KiB", "MiB", "GiB"}[i])
}
