// Package embeddedbroker runs a Kafka-wire-protocol cluster inside the Go
// process: N broker nodes, each on its own 127.0.0.1 port with its own
// storage, that real Kafka clients (franz-go, sarama, kafka-go,
// librdkafka) use unchanged. It is the broker of kafkaboot's tests and
// local runs, in the spirit of Spring's @EmbeddedKafka, without a JVM and
// ready in milliseconds.
//
//	c, err := embeddedbroker.Start(ctx, embeddedbroker.Nodes(3), embeddedbroker.Topics(6, "orders"))
//	...
//	defer c.Close()
//	client, _ := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
//
// In tests, StartForTest starts a cluster and closes it when the test ends.
//
// Every partition has a replica set, a leader and a leader epoch. Until
// replication between nodes lands, a topic's replication factor is at most
// 1 (CreateTopics answers INVALID_REPLICATION_FACTOR above it) and
// partition leaders are spread over the nodes.
package embeddedbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/broker"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
)

// ErrClosed is returned by operations on a closed cluster.
var ErrClosed = errors.New("embeddedbroker: cluster closed")

// ErrUnknownNode is returned for a node id the cluster does not have.
var ErrUnknownNode = errors.New("embeddedbroker: unknown node")

// Cluster is a running embedded cluster.
type Cluster struct {
	s      settings
	bcfg   *configs.Broker
	ctrl   *controller.Local
	logger *slog.Logger

	mu     sync.Mutex
	nodes  []*broker.Node // nil while a node is stopped
	addrs  []string
	closed bool
}

// Start starts a cluster and returns once every node accepts connections
// and the topics asked for exist.
func Start(ctx context.Context, opts ...Option) (*Cluster, error) {
	s := defaults()
	for _, o := range opts {
		o.apply(&s)
	}
	if s.nodes < 1 {
		return nil, fmt.Errorf("embeddedbroker: %d nodes; at least 1 is needed", s.nodes)
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	bcfg, err := configs.NewBroker(s.broker)
	if err != nil {
		return nil, fmt.Errorf("embeddedbroker: %w", err)
	}
	if s.dataDir != "" {
		if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("embeddedbroker: %w", err)
		}
	}
	ctrl, err := controller.NewLocal(controller.LocalConfig{Dir: s.dataDir, Broker: bcfg, Logger: s.logger})
	if err != nil {
		return nil, fmt.Errorf("embeddedbroker: %w", err)
	}
	c := &Cluster{s: s, bcfg: bcfg, ctrl: ctrl, logger: s.logger, nodes: make([]*broker.Node, s.nodes), addrs: make([]string, s.nodes)}
	for i := range s.nodes {
		port := 0
		if s.firstPort > 0 {
			port = s.firstPort + i
		}
		c.addrs[i] = net.JoinHostPort(s.host, strconv.Itoa(port))
		if err := c.startNode(ctx, int32(i)); err != nil {
			c.Close()
			return nil, err
		}
	}
	img := ctrl.Image()
	for _, t := range s.topics {
		if _, ok := img.Topics[t.Name]; ok {
			continue
		}
		spec := controller.TopicSpec{Name: t.Name, Partitions: t.Partitions, ReplicationFactor: t.ReplicationFactor, Configs: t.Configs}
		if spec.Partitions == 0 {
			spec.Partitions = -1
		}
		if spec.ReplicationFactor == 0 {
			spec.ReplicationFactor = -1
		}
		if _, err := ctrl.CreateTopic(ctx, spec, false); err != nil {
			c.Close()
			return nil, fmt.Errorf("embeddedbroker: creating topic %q: %w", t.Name, err)
		}
	}
	return c, nil
}

func (c *Cluster) startNode(ctx context.Context, id int32) error {
	ln, err := net.Listen("tcp", c.addrs[id])
	if err != nil {
		return fmt.Errorf("embeddedbroker: node %d: %w", id, err)
	}
	c.addrs[id] = ln.Addr().String() // keep the port for restarts
	dir := ""
	if c.s.dataDir != "" {
		dir = filepath.Join(c.s.dataDir, fmt.Sprintf("node-%d", id))
	}
	n, err := broker.New(broker.Config{ID: id, Listener: ln, DataDir: dir, Broker: c.bcfg, Controller: c.ctrl, Logger: c.logger})
	if err != nil {
		ln.Close()
		return err
	}
	if err := n.Start(ctx); err != nil {
		n.Close()
		return err
	}
	c.nodes[id] = n
	return nil
}

// Addrs returns the nodes' host:port addresses, node 0 first: the
// bootstrap servers for clients.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.addrs...)
}

// StopNode stops a node gracefully: it closes its connections and logs.
// The controller fences it, so the partitions it led have no leader until
// it is back (replication, which will move leadership, is not there yet).
func (c *Cluster) StopNode(ctx context.Context, id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if id < 0 || int(id) >= len(c.nodes) {
		return fmt.Errorf("%w: %d", ErrUnknownNode, id)
	}
	n := c.nodes[id]
	if n == nil {
		return nil
	}
	c.nodes[id] = nil
	err := n.Close()
	return errors.Join(err, c.ctrl.SetBrokerFenced(ctx, id, true))
}

// RestartNode starts a stopped node again on its address and its data.
func (c *Cluster) RestartNode(ctx context.Context, id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if id < 0 || int(id) >= len(c.nodes) {
		return fmt.Errorf("%w: %d", ErrUnknownNode, id)
	}
	if c.nodes[id] != nil {
		return nil
	}
	return c.startNode(ctx, id)
}

// Close stops every node. It is safe to call more than once.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for i, n := range c.nodes {
		if n != nil {
			errs = append(errs, n.Close())
			c.nodes[i] = nil
		}
	}
	return errors.Join(errs...)
}
