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
// Replication is Kafka's: every partition has replicas on distinct nodes, a
// leader and a leader epoch; followers fetch from the leader over the Kafka
// protocol into their own logs; the high watermark is the smallest log end
// offset over the in-sync replicas; acks=all waits for it and
// min.insync.replicas guards it. An in-process controller fences a node
// whose heartbeats stop (broker.session.timeout.ms, 600 ms here), elects
// new leaders from the ISR and publishes the change to every node.
//
// Consumer groups and transactions are Kafka's too: group coordinators
// keep their state in a replicated __consumer_offsets, transaction
// coordinators theirs in a replicated __transaction_state, both reloaded by
// the node that takes a partition over; commit and abort markers reach the
// partitions' leaders with WriteTxnMarkers, and read_committed consumers
// read up to the last stable offset and skip aborted transactions.
//
// Security is Kafka's too: listeners in Kafka's syntax (Listeners, the
// listeners and advertised.listeners configs), TLS from PEM files or a
// generated CA (GenerateTLS, TLS), SASL PLAIN, SCRAM-SHA-256/512 and
// unsecured OAUTHBEARER (SCRAMUser, PlainUser, the JAAS configs), ACLs
// with Kafka's authorizer (authorizer.class.name, super.users), client
// quotas, and an inter-broker listener of the user's choosing:
//
//	tlsb, _ := embeddedbroker.GenerateTLS()
//	c := embeddedbroker.StartForTest(t, embeddedbroker.Listeners("SASL_SSL://127.0.0.1:0"),
//		embeddedbroker.TLS(tlsb), embeddedbroker.SCRAMUser("SCRAM-SHA-256", "alice", "alice-secret"))
//
// Fault injection (StopNode, KillNode, RestartNode, IsolateNode, HealNode)
// lets tests and users see what their service does when a broker dies.
package embeddedbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/broker"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/dirlock"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
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
	lock   *dirlock.Lock // held on the data directory; nil in memory

	plan *listenerPlan // the client listeners

	mu    sync.Mutex
	nodes []*broker.Node // nil while a node is stopped
	// bound and advertised hold each node's client listeners' addresses,
	// in the order of plan: where it listens (kept across restarts) and
	// what it tells clients.
	bound      [][]string
	advertised [][]string
	ibAddr     []string              // the nodes' inter-broker listeners, kept across restarts
	memory     []*broker.MemoryStore // the nodes' "disks" without DataDir
	files      *logstore.FilePool    // the segment files open, shared by the nodes
	peers      *broker.Peers         // the nodes, for replica fetches in process; nil over sockets
	closed     bool
	admin      *adminServer    // nil without AdminAddr
	registry   *registryServer // nil without SchemaRegistry
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
	plan, err := s.planListeners(bcfg)
	if err != nil {
		return nil, fmt.Errorf("embeddedbroker: %w", err)
	}
	var lock *dirlock.Lock
	if s.dataDir != "" {
		if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("embeddedbroker: %w", err)
		}
		// One process per data directory, as Kafka's .lock: a second
		// broker on the same files would corrupt them.
		if lock, err = dirlock.Acquire(s.dataDir); err != nil {
			return nil, fmt.Errorf("embeddedbroker: %w", err)
		}
	}
	ctrl, err := controller.NewLocal(controller.LocalConfig{
		Dir: s.dataDir, Broker: bcfg, Logger: s.logger,
		SessionTimeout:    bcfg.Millis("broker.session.timeout.ms"),
		HeartbeatInterval: bcfg.Millis("broker.heartbeat.interval.ms"),
	})
	if err != nil {
		lock.Release()
		return nil, fmt.Errorf("embeddedbroker: %w", err)
	}
	ctrl.Start()
	c := &Cluster{s: s, bcfg: bcfg, ctrl: ctrl, logger: s.logger, lock: lock, plan: plan, nodes: make([]*broker.Node, s.nodes),
		bound: make([][]string, s.nodes), advertised: make([][]string, s.nodes), ibAddr: make([]string, s.nodes), memory: make([]*broker.MemoryStore, s.nodes)}
	if !s.socketReplication {
		c.peers = broker.NewPeers()
	}
	if err := c.addScramUsers(ctx); err != nil {
		c.Close()
		return nil, err
	}
	c.files = logstore.NewFilePool(s.maxOpenFiles)
	if s.adminAddr != "" {
		// Before the nodes, which advertise its address.
		if err := c.startAdmin(); err != nil {
			c.Close()
			return nil, err
		}
	}
	for i := range c.memory {
		c.memory[i] = broker.NewMemoryStore()
	}
	for i := range s.nodes {
		if err := c.startNode(ctx, int32(i)); err != nil {
			c.Close()
			return nil, err
		}
	}
	img := ctrl.Image()
	for _, t := range s.topics {
		if _, ok := img.Topic(t.Name); ok {
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
	if s.registryAddr != "" {
		if err := c.startRegistry(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) startNode(ctx context.Context, id int32) error {
	ls, err := c.listen(id)
	if err != nil {
		return err
	}
	closeAll := func() {
		for _, l := range ls {
			l.Net.Close()
		}
	}
	var ib net.Listener
	if c.plan.interBroker == nil {
		ibAddr := c.ibAddr[id]
		if ibAddr == "" {
			ibAddr = net.JoinHostPort(c.s.host, "0")
		}
		if ib, err = net.Listen("tcp", ibAddr); err != nil {
			closeAll()
			return fmt.Errorf("embeddedbroker: node %d: inter-broker listener: %w", id, err)
		}
		c.ibAddr[id] = ib.Addr().String()
	}
	dir := ""
	if c.s.dataDir != "" {
		dir = filepath.Join(c.s.dataDir, fmt.Sprintf("node-%d", id))
	}
	n, err := broker.New(broker.Config{ID: id, Listeners: ls, PlainUsers: c.plan.plain, InterBroker: c.plan.interBroker, InterBrokerListener: ib, DataDir: dir, Memory: c.memory[id], Files: c.files, Broker: c.bcfg, Controller: c.ctrl, Logger: c.logger, AdminURL: c.AdminURL(), Peers: c.peers})
	if err != nil {
		closeAll()
		if ib != nil {
			ib.Close()
		}
		return err
	}
	c.advertised[id] = make([]string, len(ls))
	for k, l := range ls {
		c.advertised[id][k] = l.Advertised
	}
	if err := n.Start(ctx); err != nil {
		n.Close()
		return err
	}
	c.nodes[id] = n
	return nil
}

// Addrs returns the nodes' host:port addresses on the first listener, as
// advertised, node 0 first: the bootstrap servers for clients.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.advertised))
	for i, a := range c.advertised {
		if len(a) > 0 {
			out[i] = a[0]
		}
	}
	return out
}

func (c *Cluster) node(id int32) (*broker.Node, error) {
	if c.closed {
		return nil, ErrClosed
	}
	if id < 0 || int(id) >= len(c.nodes) {
		return nil, fmt.Errorf("%w: %d", ErrUnknownNode, id)
	}
	return c.nodes[id], nil
}

// StopNode stops a node gracefully, as a controlled shutdown: the node
// stops heartbeating, the controller fences it, which moves the leadership
// of its partitions to other in-sync replicas, then the node closes its
// connections and its logs (writing their producer-state snapshots and
// clean-shutdown markers). Its data stays for RestartNode.
func (c *Cluster) StopNode(ctx context.Context, id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(id)
	if err != nil || n == nil {
		return err
	}
	n.StopHeartbeats()
	err = c.ctrl.SetBrokerFenced(ctx, id, true)
	c.nodes[id] = nil
	return errors.Join(err, n.Close())
}

// KillNode stops a node abruptly, as a machine crash: no leadership moves
// first; the controller notices when its heartbeats stop
// (broker.session.timeout.ms) and elects new leaders then. Every log of the
// node loses what it had not fsynced under its fsync policy
// (flush.messages, flush.ms; by default nothing is fsynced before a segment
// rolls, as in Kafka, which relies on replication instead), on disk and in
// memory alike. RestartNode brings it back on what survived.
func (c *Cluster) KillNode(_ context.Context, id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(id)
	if err != nil || n == nil {
		return err
	}
	c.nodes[id] = nil
	return n.Kill()
}

// RestartNode starts a stopped or killed node again on its address and its
// data; it rejoins the ISRs of its partitions as it catches up.
func (c *Cluster) RestartNode(ctx context.Context, id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(id)
	if err != nil || n != nil {
		return err
	}
	return c.startNode(ctx, id)
}

// IsolateNode cuts a running node off from the rest of the cluster and from
// clients, as a network partition: its connections are closed and new ones
// refused, it stops fetching and heartbeating (so the controller fences it
// and elects other leaders) and hears no metadata. A leader isolated this
// way cannot acknowledge an acks=all write: its followers no longer fetch,
// so its high watermark cannot advance, and only the controller could shrink
// its ISR.
func (c *Cluster) IsolateNode(_ context.Context, id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(id)
	if err != nil || n == nil {
		return err
	}
	n.Isolate()
	return nil
}

// HealNode ends a node's isolation.
func (c *Cluster) HealNode(_ context.Context, id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(id)
	if err != nil || n == nil {
		return err
	}
	return n.Heal()
}

// ISR returns a partition's in-sync replicas as the controller knows them.
func (c *Cluster) ISR(topic string, partition int32) []int32 {
	_, st, ok := c.ctrl.Image().Partition(topic, partition)
	if !ok {
		return nil
	}
	return append([]int32(nil), st.ISR...)
}

// Leader returns the node leading a partition, or -1.
func (c *Cluster) Leader(topic string, partition int32) int32 {
	_, st, ok := c.ctrl.Image().Partition(topic, partition)
	if !ok {
		return -1
	}
	return st.Leader
}

// Close stops every node. It is safe to call more than once.
func (c *Cluster) Close() error {
	// Before the lock, which the admin API's handlers take; the schema
	// registry first, while the nodes it writes to still run.
	if c.registry != nil {
		c.registry.close()
	}
	adminErr := c.admin.close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.ctrl.StopLiveness()
	var errs []error
	for i, n := range c.nodes {
		if n != nil {
			errs = append(errs, n.Close())
			c.nodes[i] = nil
		}
	}
	// The controller closes after the nodes, so that their last
	// changes (none on a clean stop, but ISR changes in flight) land
	// before its final checkpoint.
	errs = append(errs, adminErr, c.ctrl.Close(), c.lock.Release())
	return errors.Join(errs...)
}
