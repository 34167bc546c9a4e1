package embeddedbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/broker"
)

// AdminURLConfig is the read-only broker config by which a cluster started
// with AdminAddr tells clients where its admin API is: DescribeConfigs of
// any broker returns it. `kafkaboot topics describe` reads it to show the
// log cleaner's state, which Kafka has no request for.
const AdminURLConfig = broker.AdminURLConfig

// AdminAddr serves the cluster's admin API over HTTP on addr (host:port;
// port 0 picks a free one), bound to loopback unless addr says otherwise.
// It answers GET /v1/cleaner with CleanerReport as JSON (?topic=NAME
// narrows it to one topic). Not a Kafka interface: Kafka shows its
// cleaner only through JMX metrics, Redpanda has an admin API alike.
func AdminAddr(addr string) Option { return optionFunc(func(s *settings) { s.adminAddr = addr }) }

// CleanerReport is the log cleaner's state on every running node.
type CleanerReport struct {
	Nodes []NodeCleaner `json:"nodes"`
}

// NodeCleaner is one node's log cleaner: each replica cleans its own log.
type NodeCleaner struct {
	Node int32 `json:"node"`
	// Down is true while the node is stopped; Logs is empty then.
	Down bool         `json:"down,omitempty"`
	Logs []CleanerLog `json:"logs"`
}

// CleanerLog is the cleaner's view of one compacted partition's log.
type CleanerLog struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// FirstDirtyOffset is where the next cleaning starts (the cleaner's
	// checkpoint); FirstUncleanableOffset is where cleaning stops: the
	// active segment, the last stable offset or min.compaction.lag.ms.
	FirstDirtyOffset       int64 `json:"firstDirtyOffset"`
	FirstUncleanableOffset int64 `json:"firstUncleanableOffset"`
	// CleanableBytes are the log's bytes below FirstUncleanableOffset,
	// DirtyBytes those not yet cleaned; DirtyRatio, the one over the
	// other, is what min.cleanable.dirty.ratio is compared with.
	CleanableBytes int64   `json:"cleanableBytes"`
	DirtyBytes     int64   `json:"dirtyBytes"`
	DirtyRatio     float64 `json:"dirtyRatio"`
	// LastRun is the last cleaning since the node started; nil before.
	LastRun *CleanerRun `json:"lastRun,omitempty"`
}

// CleanerRun is one cleaning of a log.
type CleanerRun struct {
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"durationNs"`
	// BytesRead and BytesWritten are the bytes of the segments rewritten,
	// before and after.
	BytesRead    int64 `json:"bytesRead"`
	BytesWritten int64 `json:"bytesWritten"`
	// Error is why the cleaning failed; empty when it did not.
	Error string `json:"error,omitempty"`
}

// CleanerReport returns the log cleaner's state on every node, for the
// compacted partitions of topic, or of every topic when topic is "".
func (c *Cluster) CleanerReport(topic string) (CleanerReport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return CleanerReport{}, ErrClosed
	}
	var r CleanerReport
	for id, n := range c.nodes {
		nc := NodeCleaner{Node: int32(id), Down: n == nil, Logs: []CleanerLog{}}
		if n != nil {
			for _, st := range n.CleanerStates() {
				if topic != "" && st.Topic != topic {
					continue
				}
				l := CleanerLog{Topic: st.Topic, Partition: st.Partition,
					FirstDirtyOffset: st.FirstDirtyOffset, FirstUncleanableOffset: st.FirstUncleanableOffset,
					CleanableBytes: st.CleanableBytes, DirtyBytes: st.DirtyBytes, DirtyRatio: st.DirtyRatio}
				if lr := st.LastRun; lr != nil {
					l.LastRun = &CleanerRun{Start: lr.Start, Duration: lr.Duration, BytesRead: lr.BytesRead, BytesWritten: lr.BytesWritten, Error: lr.Err}
				}
				nc.Logs = append(nc.Logs, l)
			}
		}
		r.Nodes = append(r.Nodes, nc)
	}
	return r, nil
}

// AdminURL returns the admin API's base URL ("http://127.0.0.1:PORT"), or
// "" without AdminAddr.
func (c *Cluster) AdminURL() string {
	if c.admin == nil {
		return ""
	}
	return "http://" + c.admin.ln.Addr().String()
}

// adminServer serves the admin API.
type adminServer struct {
	ln  net.Listener
	srv *http.Server
}

func (c *Cluster) startAdmin() error {
	ln, err := net.Listen("tcp", c.s.adminAddr)
	if err != nil {
		return fmt.Errorf("embeddedbroker: admin API: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/cleaner", func(w http.ResponseWriter, r *http.Request) {
		rep, err := c.CleanerReport(r.URL.Query().Get("topic"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rep)
	})
	c.admin = &adminServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := c.admin.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			c.logger.Error("admin API stopped", "err", err)
		}
	}()
	return nil
}

func (a *adminServer) close() error {
	if a == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("embeddedbroker: admin API: %w", err)
	}
	return nil
}
