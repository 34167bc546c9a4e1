// Package broker is one node of the embedded Kafka cluster: it serves the
// Kafka protocol on its own listener, hosts the replicas the controller
// assigns to it in its own storage, and leads the partitions the controller
// says it leads.
package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/groups"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/txn"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config configures a node.
type Config struct {
	ID int32
	// Listeners are where the node serves clients, the first one the
	// node's main address.
	Listeners []Listener
	// Listener, without Listeners, is one PLAINTEXT listener.
	Listener net.Listener
	// PlainUsers are the users and passwords SASL/PLAIN accepts (Kafka's
	// user_<name>="<password>" options of PlainLoginModule).
	PlainUsers map[string]string
	// InterBroker, when set, makes one of the Listeners the nodes' own
	// (then InterBrokerListener is unused).
	InterBroker *InterBroker
	// InterBrokerListener is where the node serves the other nodes: their
	// replica fetches and the transaction coordinators' markers, which
	// client connections may not send (Kafka's inter-broker listener). It
	// is registered with the controller, never shown to clients. Nil opens
	// one on the client listener's host, on a port the system chooses.
	InterBrokerListener net.Listener
	// DataDir is the node's own storage directory; empty keeps logs in
	// Memory.
	DataDir string
	// Memory holds the logs of a node without DataDir, so that a node
	// stopped and started again finds them (a new store is an empty
	// disk). Nil means a fresh store.
	Memory *MemoryStore
	// Files bounds the segment files the node's disk logs keep open at
	// once; the nodes of an embedded cluster share one. Not a Kafka config
	// (Kafka keeps every segment open). Nil gives each log a pool of its
	// own, which bounds nothing across logs.
	Files      *logstore.FilePool
	Broker     *configs.Broker
	Controller controller.Controller
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AdminURL, when set, is the embedded cluster's admin API, shown to
	// DescribeConfigs of a broker as the read-only AdminURLConfig.
	AdminURL string
	// Peers, when set, are the nodes of this process: followers fetch
	// from a leader among them by calling it rather than over its
	// inter-broker listener, unless InterBroker is set (see Peers).
	Peers *Peers
}

// Node is one broker.
type Node struct {
	cfg     Config
	cleaner *logCleaner
	ctrl    controller.Controller
	log     *slog.Logger
	// listeners serve the clients; the first one's advertised address is
	// the node's Addr.
	listeners   []*clientListener
	credentials credentials
	quotas      *quotas
	authz       *authorizer
	// scramFakeKey makes the credential made up for an unknown SCRAM
	// user the same at every attempt, so that it cannot be told from a
	// real one.
	scramFakeKey []byte
	// ibServer serves the inter-broker listener at ibAddr.
	ibServer *wire.Server
	ibAddr   string

	mu    sync.RWMutex
	parts map[string][]*partition // by topic; nil entries are not hosted here
	byID  map[controller.TopicID]string

	groups       *groups.Coordinator
	coordinating map[int32]bool // __consumer_offsets partitions loaded into groups; under mu
	share        *shareNode     // share groups (KIP-932): handle_share.go

	// txns coordinates the transactions of the __transaction_state
	// partitions this node leads; txnCoordinating maps those partitions
	// to the leader epoch they were loaded at (under mu), and txnQueue
	// holds the loads and unloads txnLoader has yet to apply.
	txns            *txn.Coordinator
	txnCoordinating map[int32]int32
	txnMu           sync.Mutex
	txnQueue        []txnLoad
	txnWake         chan struct{}
	peers           peerConns // the coordinator's connections to leaders

	pidMu            sync.Mutex
	pidNext, pidStop int64

	// ISR changes waiting for isrSender.
	isrMu    sync.Mutex
	isrQueue []*partition
	isrWake  chan struct{}

	// hbMu is held while a heartbeat is sent; hbStopped ends them.
	hbMu      sync.Mutex
	hbStopped bool

	fetchers *fetchers
	// local serves the replica fetches of nodes in this process that
	// call this one (Peers).
	local    localServing
	isolated atomic.Bool
	srvMu    sync.Mutex // guards server and ibServer, replaced when an isolation heals

	// copyFetch makes fetches read records from disk into memory and
	// copy them into the answer, as before zero-copy reads: for the
	// benchmarks that compare the two paths (BenchmarkDiskFetch).
	// fileRanges counts the ranges of segment files answered for sending
	// with sendfile (fileFetch), for tests and benchmarks.
	copyFetch  atomic.Bool
	fileRanges atomic.Int64

	stop  chan struct{}
	wg    sync.WaitGroup
	unsub func()

	// txnMarkerHook, when set (before Start), is called after each
	// transaction marker WriteTxnMarkers appends on this node, with the
	// partition, the producer and whether it commits; nil by default.
	txnMarkerHook func(topic string, partition int32, producerID int64, commit bool)
}

// New creates a node; Start serves it.
func New(cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Broker == nil {
		cfg.Broker, _ = configs.NewBroker(nil)
	}
	var host string
	switch {
	case len(cfg.Listeners) > 0:
		host, _, _ = net.SplitHostPort(cfg.Listeners[0].Net.Addr().String())
	case cfg.Listener != nil:
		host, _, _ = net.SplitHostPort(cfg.Listener.Addr().String())
	default:
		return nil, fmt.Errorf("broker %d: %w", cfg.ID, errNoListener)
	}
	var err error
	if cfg.InterBroker != nil && cfg.InterBrokerListener != nil {
		cfg.InterBrokerListener.Close() // the nodes talk on a listener of the clients'
		cfg.InterBrokerListener = nil
	}
	if cfg.InterBrokerListener == nil && cfg.InterBroker == nil {
		if cfg.InterBrokerListener, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
			return nil, fmt.Errorf("broker %d: inter-broker listener: %w", cfg.ID, err)
		}
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("broker %d: %w", cfg.ID, err)
		}
	}
	n := &Node{
		cfg:   cfg,
		ctrl:  cfg.Controller,
		log:   cfg.Logger.With("node", cfg.ID),
		parts: map[string][]*partition{},
		byID:  map[controller.TopicID]string{},
		stop:  make(chan struct{}),

		coordinating:    map[int32]bool{},
		txnCoordinating: map[int32]int32{},
		txnWake:         make(chan struct{}, 1),
		isrWake:         make(chan struct{}, 1),
	}
	n.groups = n.newGroupCoordinator()
	n.txns = n.newTxnCoordinator()
	n.share = n.newShareNode()
	n.fetchers = newFetchers(n)
	if n.cleaner, err = newLogCleaner(n); err != nil {
		return nil, fmt.Errorf("broker %d: log cleaner: %w", cfg.ID, err)
	}
	if cfg.DataDir == "" && cfg.Memory == nil {
		n.cfg.Memory = NewMemoryStore()
	}
	n.credentials = credentials{n}
	n.quotas = newQuotas(n.cfg.Now, n.cfg.Broker)
	n.scramFakeKey = make([]byte, 32)
	rand.Read(n.scramFakeKey)
	if err := n.newListeners(); err != nil {
		return nil, fmt.Errorf("broker %d: %w", cfg.ID, err)
	}
	authenticates := false
	for _, l := range n.listeners {
		authenticates = authenticates || l.authenticates()
	}
	if n.authz, err = newAuthorizer(n.cfg.Broker, authenticates); err != nil {
		return nil, fmt.Errorf("broker %d: super.users: %w", cfg.ID, err)
	}
	if ib := cfg.InterBroker; ib != nil {
		addr, ok := n.ListenerAddr(ib.Listener)
		if !ok {
			return nil, fmt.Errorf("broker %d: inter.broker.listener.name %s is not a listener", cfg.ID, ib.Listener)
		}
		n.ibAddr = addr
		return n, nil
	}
	n.ibAddr = cfg.InterBrokerListener.Addr().String()
	n.ibServer = n.newInterBrokerServer(cfg.InterBrokerListener)
	return n, nil
}

// newServer returns the server of a client listener, with the broker's
// connection configs.
func (n *Node) newServer(l *clientListener, ln net.Listener) *wire.Server {
	b := n.cfg.Broker
	// Kafka's 0 for a connection limit admits no connection; a
	// wire.ServerConfig says that with a negative limit (its 0 is none).
	limit := func(name string) int {
		if v := b.Int(name); v > 0 {
			return int(min(v, math.MaxInt32))
		}
		return -1
	}
	// connections.max.idle.ms: -1 never closes an idle connection (a
	// ServerConfig's 0); Kafka's 0 closes one as soon as it is idle.
	idle := time.Duration(b.Int("connections.max.idle.ms")) * time.Millisecond
	switch {
	case idle < 0:
		idle = 0
	case idle == 0:
		idle = time.Nanosecond
	}
	return wire.NewServer(ln, l, wire.ServerConfig{
		MaxRequestSize:      int32(b.Int("socket.request.max.bytes")),
		MaxConnections:      limit("max.connections"),
		MaxConnectionsPerIP: limit("max.connections.per.ip"),
		IdleTimeout:         idle,
		Versions:            versions,
		TLS:                 l.TLS,
		Logger:              n.log.With("listener", l.Name),
	})
}

// newInterBrokerServer serves the other nodes: no connection limits, and
// every request is marked as coming from a broker.
func (n *Node) newInterBrokerServer(ln net.Listener) *wire.Server {
	return wire.NewServer(ln, interBrokerHandler{n}, wire.ServerConfig{
		MaxRequestSize: int32(n.cfg.Broker.Int("socket.request.max.bytes")),
		Versions:       versions,
		Logger:         n.log.With("listener", "inter-broker"),
	})
}

// interBrokerHandler serves the inter-broker listener.
type interBrokerHandler struct{ n *Node }

type interBrokerKey struct{}

// Handle implements wire.Handler.
func (h interBrokerHandler) Handle(ctx context.Context, c *wire.Conn, req *wire.Request) wire.Pending {
	return h.n.Handle(context.WithValue(ctx, interBrokerKey{}, true), c, req)
}

// fromBroker reports whether a request came in on the inter-broker
// listener: only there are replica fetches and transaction markers
// accepted, as Kafka authorizes them as CLUSTER_ACTION.
func fromBroker(ctx context.Context) bool {
	v, _ := ctx.Value(interBrokerKey{}).(bool)
	return v
}

// serve runs a server until it closes.
func (n *Node) serve(s *wire.Server) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := s.Serve(); err != nil {
			n.log.Error("serving", "err", err)
		}
	}()
}

// ScanReplica calls fn with every batch of this node's replica of
// topic/partition, from its log start offset (tests and tools that compare
// replicas). fn must not keep or modify the bytes.
func (n *Node) ScanReplica(topic string, partition int32, fn func(b []byte) error) error {
	p := n.partition(topic, partition)
	if p == nil {
		return fmt.Errorf("broker %d: %w: %s-%d is not hosted here", n.cfg.ID, errUnknownPartition, topic, partition)
	}
	return p.log.Scan(0, fn)
}

// errUnknownPartition is ScanReplica's error for a partition not hosted.
var errUnknownPartition = errors.New("unknown partition")

// ID is the node's broker id.
func (n *Node) ID() int32 { return n.cfg.ID }

// Addr is the host:port the node's first listener advertises.
func (n *Node) Addr() string { return n.listeners[0].Advertised }

// ListenerAddr is the host:port the listener named name advertises; ok is
// false when the node has no such listener.
func (n *Node) ListenerAddr(name string) (addr string, ok bool) {
	for _, l := range n.listeners {
		if l.Name == name {
			return l.Advertised, true
		}
	}
	return "", false
}

// InterBrokerAddr is the host:port of the node's inter-broker listener.
func (n *Node) InterBrokerAddr() string { return n.ibAddr }

// Start registers the node with the controller, opens the replicas it
// hosts and starts serving.
func (n *Node) Start(ctx context.Context) error {
	eps, err := n.endpoints()
	if err != nil {
		return fmt.Errorf("broker %d: %w", n.cfg.ID, err)
	}
	b := controller.Broker{ID: n.cfg.ID, Host: eps[0].Host, Port: eps[0].Port, Listeners: eps, InterBroker: n.ibAddr}
	if err := n.ctrl.RegisterBroker(ctx, b); err != nil {
		return fmt.Errorf("broker %d: %w", n.cfg.ID, err)
	}
	if err := n.subscribe(); err != nil {
		n.unsub()
		return fmt.Errorf("broker %d: %w", n.cfg.ID, err)
	}
	n.wg.Add(4)
	go n.heartbeats()
	go n.housekeeping()
	go n.txnLoader()
	go n.isrSender()
	n.cleaner.start()
	for _, l := range n.listeners {
		n.serve(l.server)
	}
	if n.ibServer != nil {
		n.serve(n.ibServer)
	}
	n.local.start()
	if n.cfg.Peers != nil {
		n.cfg.Peers.add(n)
	}
	return nil
}

// subscribe makes the node hear every metadata change from now on, starting
// with the whole current image, which it applies before subscribe returns
// (the error is that first application's).
func (n *Node) subscribe() error {
	var first error
	firstCall := true
	n.unsub = n.ctrl.Subscribe(func(img *controller.Image, d *controller.Delta) {
		err := n.apply(img, d)
		if err != nil {
			n.log.Error("applying metadata", "err", err)
		}
		if firstCall { // called under the controller's lock, like the rest
			first, firstCall = err, false
		}
	})
	return first
}

// Kill stops the node as a machine crash would: no leadership moves first,
// and every log loses what it had not fsynced under its fsync policy.
func (n *Node) Kill() error { return n.shutdown(true) }

// Close stops serving and closes the node's logs.
func (n *Node) Close() error { return n.shutdown(false) }

func (n *Node) shutdown(crash bool) error {
	select {
	case <-n.stop:
		return nil
	default:
	}
	close(n.stop)
	if n.unsub != nil {
		n.unsub()
	}
	if n.cfg.Peers != nil {
		n.cfg.Peers.remove(n)
	}
	n.local.stop()
	n.srvMu.Lock()
	var err error
	if n.ibServer != nil {
		err = n.ibServer.Close()
	}
	for _, l := range n.listeners {
		err = errors.Join(err, l.server.Close())
	}
	n.srvMu.Unlock()
	n.wg.Wait()
	n.cleaner.close()
	n.fetchers.stop()
	n.groups.Close()
	n.txns.Close()
	n.share.close()
	n.peers.close()
	n.mu.Lock()
	defer n.mu.Unlock()
	// Every goroutine that could append is stopped by now, so a crash
	// loses exactly what was not synced. A clean stop first snapshots the
	// producer state (snapshot.go).
	var hosted []*partition
	for _, ps := range n.parts {
		for _, p := range ps {
			if p != nil {
				hosted = append(hosted, p)
			}
		}
	}
	stopSnapshots(hosted, !crash)
	switch {
	case crash:
		for _, p := range hosted {
			err = errors.Join(err, p.log.Crash())
		}
	case n.cfg.DataDir != "": // memory logs stay open in their store
		err = errors.Join(err, closeLogs(hosted))
	}
	n.parts = map[string][]*partition{}
	return err
}

// closeParallelism is how many logs a stopping node closes at once. Each
// close fsyncs what the log has not synced yet; fsyncs issued together
// share the file system's journal commits, so 10 000 logs close in a
// fraction of the time one after the other takes (Kafka likewise shuts
// its logs down on a pool of threads).
const closeParallelism = 16

// closeLogs closes the logs of ps, closeParallelism at a time.
func closeLogs(ps []*partition) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range min(closeParallelism, len(ps)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(ps)); i = next.Add(1) - 1 {
				if err := ps[i].log.Close(); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("closing %s-%d: %w", ps[i].topic, ps[i].id, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// housekeeping applies retention, expires producer ids and shrinks
// lagging ISRs periodically.
func (n *Node) housekeeping() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Broker.Millis("log.retention.check.interval.ms"))
	defer t.Stop()
	pids := time.NewTicker(n.cfg.Broker.Millis("producer.id.expiration.check.interval.ms"))
	defer pids.Stop()
	n.expireProducers() // state loaded from snapshots may have expired while stopped
	// Every half lag, as Kafka's isr-expiration task.
	isr := time.NewTicker(max(n.cfg.Broker.Millis("replica.lag.time.max.ms")/2, 10*time.Millisecond))
	defer isr.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.applyRetention()
		case <-pids.C:
			n.expireProducers()
		case <-isr.C:
			if !n.isolated.Load() {
				n.checkISRs(ctx)
			}
		}
	}
}

// heartbeats tells the controller this node is alive, unless isolated.
func (n *Node) heartbeats() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Broker.Millis("broker.heartbeat.interval.ms"))
	defer t.Stop()
	ctx := context.Background()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.hbMu.Lock()
			if !n.isolated.Load() && !n.hbStopped {
				if err := n.ctrl.Heartbeat(ctx, n.cfg.ID); err != nil {
					n.log.Warn("heartbeat", "err", err)
				}
			}
			n.hbMu.Unlock()
		}
	}
}

// StopHeartbeats stops the node's heartbeats for good, waiting for one in
// flight: the first step of a controlled shutdown, so that the controller,
// which then fences the node, does not unfence it again on a heartbeat
// sent before the node closed (Kafka's broker asks to shut down in its
// heartbeats instead).
func (n *Node) StopHeartbeats() {
	n.hbMu.Lock()
	n.hbStopped = true
	n.hbMu.Unlock()
}

// Isolate cuts the node off from the cluster and from clients, as a
// network partition would: it stops listening (connections are refused)
// and closes its connections, its fetchers and heartbeats stop (so the
// controller fences it) and it hears no metadata. Heal undoes it.
func (n *Node) Isolate() {
	if n.isolated.Swap(true) {
		return
	}
	n.unsub() // partitioned away: the node learns nothing until healed
	n.local.stop()
	n.srvMu.Lock()
	defer n.srvMu.Unlock()
	for _, l := range n.listeners {
		l.server.Close()
	}
	if n.ibServer != nil {
		n.ibServer.Close()
	}
}

// Heal reconnects an isolated node: it hears the latest metadata,
// heartbeats again and listens on its address again.
func (n *Node) Heal() error {
	if !n.isolated.Load() {
		return nil
	}
	lns := make([]net.Listener, len(n.listeners))
	closeAll := func() {
		for _, ln := range lns {
			if ln != nil {
				ln.Close()
			}
		}
	}
	for i, l := range n.listeners {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("broker %d: listening again on %s: %w", n.cfg.ID, l.Name, err)
		}
		lns[i] = ln
	}
	var ib net.Listener
	if n.ibServer != nil {
		var err error
		if ib, err = net.Listen("tcp", n.ibAddr); err != nil {
			closeAll()
			return fmt.Errorf("broker %d: listening again on the inter-broker listener: %w", n.cfg.ID, err)
		}
	}
	n.srvMu.Lock()
	for i, l := range n.listeners {
		l.server = n.newServer(l, lns[i])
		n.serve(l.server)
	}
	if ib != nil {
		n.ibServer = n.newInterBrokerServer(ib)
		n.serve(n.ibServer)
	}
	n.srvMu.Unlock()
	n.local.start()
	// Subscribing again delivers the whole current image, atomically
	// with the subscription: no change falls between what the node
	// applies now and the first change it hears.
	if err := n.subscribe(); err != nil {
		n.log.Error("applying metadata after healing", "err", err)
	}
	n.isolated.Store(false)
	return nil
}

// applyRetention deletes segments past retention on every hosted replica.
func (n *Node) applyRetention() {
	now := n.cfg.Now()
	for _, p := range n.allPartitions() {
		deleted, err := p.log.ApplyRetention(now)
		if err != nil {
			n.log.Warn("retention", "topic", p.topic, "partition", p.id, "err", err)
		}
		if deleted > 0 {
			p.notify() // fetch sessions answer the new log start offset
		}
	}
}

func (n *Node) allPartitions() []*partition {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []*partition
	for _, ps := range n.parts {
		for _, p := range ps {
			if p != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// partition returns the replica of topic/p hosted here, or nil.
func (n *Node) partition(topic string, p int32) *partition {
	n.mu.RLock()
	defer n.mu.RUnlock()
	ps := n.parts[topic]
	if p < 0 || int(p) >= len(ps) {
		return nil
	}
	return ps[p]
}

// topicName resolves a topic id.
func (n *Node) topicName(id [16]byte) (string, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	name, ok := n.byID[controller.TopicID(id)]
	return name, ok
}

// settingsFor derives a partition's settings from its topic's configs (or
// the broker's synonyms where the topic sets none): every config the
// embedded broker accepts takes effect here or in the controller.
func (n *Node) settingsFor(t *controller.Topic) *partitionSettings {
	b := n.cfg.Broker
	c := t.Configs
	fsync := logstore.FsyncNever
	flushMessages := b.TopicInt(c, "flush.messages")
	if flushMessages == 1 {
		fsync = logstore.FsyncAlways
	} else if ms := b.TopicInt(c, "flush.ms"); ms < 1<<62 {
		fsync = logstore.FsyncInterval(configs.Millis(ms))
	}
	if flushMessages == 1 || flushMessages >= 1<<62 {
		flushMessages = 0 // FsyncAlways, or never by count
	}
	// Retention by time and size applies only with delete in
	// cleanup.policy: a compacted-only topic loses records only to the
	// log cleaner. Kafka's 0 is RetainNothing (a zero field is the default).
	retention := func(v int64) int64 {
		switch {
		case !b.Deletes(c), v < 0:
			return -1
		case v == 0:
			return logstore.RetainNothing
		}
		return v
	}
	retMs := retention(b.TopicInt(c, "retention.ms"))
	ret := time.Duration(retMs) // -1 and RetainNothing as they are
	if retMs > 0 {
		ret = configs.Millis(retMs)
	}
	codec, recompress := compressionCodec(b.TopicString(c, "compression.type"))
	return &partitionSettings{
		maxMessageBytes:      int(b.TopicInt(c, "max.message.bytes")),
		minInsync:            int32(b.TopicInt(c, "min.insync.replicas")),
		requireKeys:          b.Compacted(c),
		logAppendTime:        b.TopicString(c, "message.timestamp.type") == "LogAppendTime",
		recompress:           recompress,
		codec:                codec,
		timestampBeforeMaxMs: b.TopicInt(c, "message.timestamp.before.max.ms"),
		timestampAfterMaxMs:  b.TopicInt(c, "message.timestamp.after.max.ms"),
		deletable:            b.Deletes(c),
		compact:              b.Compacted(c),
		minCompactionLagMs:   b.TopicInt(c, "min.compaction.lag.ms"),
		maxCompactionLagMs:   b.TopicInt(c, "max.compaction.lag.ms"),
		deleteRetentionMs:    b.TopicInt(c, "delete.retention.ms"),
		minCleanableRatio:    b.TopicFloat(c, "min.cleanable.dirty.ratio"),
		log: logstore.Config{
			SegmentBytes:       b.TopicInt(c, "segment.bytes"),
			SegmentMs:          configs.Millis(b.TopicInt(c, "segment.ms")),
			SegmentJitter:      configs.Millis(b.TopicInt(c, "segment.jitter.ms")),
			IndexBytes:         int(b.TopicInt(c, "segment.index.bytes")),
			RetentionBytes:     retention(b.TopicInt(c, "retention.bytes")),
			RetentionMs:        ret,
			IndexIntervalBytes: int(b.TopicInt(c, "index.interval.bytes")),
			Fsync:              fsync,
			FlushMessages:      flushMessages,
			Clock:              n.cfg.Now,
		},
	}
}

// apply makes the node's replicas match a metadata change: it opens the
// replicas newly assigned here, deletes those of deleted topics, and
// updates leadership and configs, looking only at what the delta names (a
// full delta names everything).
func (n *Node) apply(img *controller.Image, d *controller.Delta) error {
	if d.Security {
		n.applyQuotas(img)
		n.applyACLs(img)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	if d.Full {
		// Topics deleted (or re-created) while this node was not
		// listening.
		for name, ps := range n.parts {
			if t, ok := img.Topic(name); ok && firstNonNil(ps) != nil && firstNonNil(ps).topicID == t.ID {
				continue
			}
			errs = append(errs, n.dropTopic(name))
		}
		for id, name := range n.byID {
			if t, ok := img.Topic(name); !ok || t.ID != id {
				delete(n.byID, id)
			}
		}
	}
	coordination := d.Full
	for _, td := range d.Topics {
		name := ""
		if td.Topic != nil {
			name = td.Topic.Name
		} else {
			name = td.Old.Name
		}
		coordination = coordination || name == OffsetsTopic || name == TxnStateTopic || name == ShareStateTopic
		if td.Old != nil && (td.Topic == nil || td.Topic.ID != td.Old.ID) {
			if p := firstNonNil(n.parts[td.Old.Name]); p != nil && p.topicID == td.Old.ID {
				errs = append(errs, n.dropTopic(td.Old.Name))
			}
			delete(n.byID, td.Old.ID)
		}
		if td.Topic != nil {
			errs = append(errs, n.applyTopic(td))
		}
	}
	if coordination {
		n.applyCoordination(img)
		n.applyTxnCoordination(img)
	}
	return errors.Join(errs...)
}

// applyTopic applies the change of one topic that exists after it. n.mu
// is held.
func (n *Node) applyTopic(td *controller.TopicDelta) error {
	t := td.Topic
	n.byID[t.ID] = t.Name
	ps := n.parts[t.Name]
	for int32(len(ps)) < t.NumPartitions() {
		ps = append(ps, nil)
	}
	n.parts[t.Name] = ps
	var errs []error
	var settings *partitionSettings
	settingsNow := func() *partitionSettings {
		if settings == nil {
			settings = n.settingsFor(t)
		}
		return settings
	}
	if td.Configs && !td.Created() {
		for _, p := range ps {
			if p != nil && !p.settings.Load().equal(settingsNow()) {
				p.reconfigure(settingsNow())
			}
		}
	}
	now := n.cfg.Now()
	for _, i := range td.Partitions {
		st, ok := t.Partition(i)
		if !ok || !st.Hosts(n.cfg.ID) {
			continue
		}
		p := ps[i]
		if p == nil {
			var err error
			if p, err = n.openPartition(t, i, settingsNow()); err != nil {
				errs = append(errs, err)
				continue
			}
			ps[i] = p
		} else if td.Configs && !p.settings.Load().equal(settingsNow()) {
			p.reconfigure(settingsNow())
		}
		p.setState(&st, now)
		n.fetchers.follow(p, st.Leader)
	}
	return errors.Join(errs...)
}

// dropTopic deletes the replicas of a topic held here. n.mu is held.
func (n *Node) dropTopic(name string) error {
	var errs []error
	for _, p := range n.parts[name] {
		if p == nil {
			continue
		}
		if n.cfg.DataDir == "" {
			n.cfg.Memory.remove(fmt.Sprintf("%s-%d", p.topic, p.id))
		} else if err := p.log.Delete(); err != nil {
			errs = append(errs, err)
		}
		p.setState(&controller.Partition{Leader: -1, LeaderEpoch: -1}, n.cfg.Now())
		n.fetchers.follow(p, -1)
		n.cleaner.forget(p.topic, p.id)
	}
	delete(n.parts, name)
	return errors.Join(errs...)
}

func firstNonNil(ps []*partition) *partition {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

func (n *Node) openPartition(t *controller.Topic, id int32, s *partitionSettings) (*partition, error) {
	var (
		l   logstore.Log
		err error
	)
	if n.cfg.DataDir == "" {
		l = n.cfg.Memory.open(fmt.Sprintf("%s-%d", t.Name, id), s.log)
	} else {
		dir := filepath.Join(n.cfg.DataDir, fmt.Sprintf("%s-%d", t.Name, id))
		if l, err = logstore.OpenDisk(dir, s.log, n.log, logstore.WithFilePool(n.cfg.Files)); err != nil {
			return nil, err
		}
	}
	p, err := newPartition(n.cfg.ID, t.Name, id, t.ID, l, s)
	if err != nil {
		l.Close()
		return nil, err
	}
	return p, nil
}

// Handle serves one request (wire.Handler).
func (n *Node) Handle(ctx context.Context, c *wire.Conn, req *wire.Request) wire.Pending {
	switch body := req.Body.(type) {
	case *kmsg.ApiVersionsRequest:
		return done(n.handleApiVersions(req, body))
	case *kmsg.MetadataRequest:
		return done(n.handleMetadata(ctx, body))
	case *kmsg.ProduceRequest:
		return n.limit(ctx, c, req, n.handleProduce(ctx, body))
	case *kmsg.FetchRequest:
		return n.limit(ctx, c, req, n.handleFetch(ctx, body, c != nil && c.SendsFiles()))
	case *kmsg.CreateACLsRequest:
		return done(n.handleCreateACLs(ctx, body))
	case *kmsg.DescribeACLsRequest:
		return done(n.handleDescribeACLs(body))
	case *kmsg.DeleteACLsRequest:
		return done(n.handleDeleteACLs(ctx, body))
	case *kmsg.DescribeClientQuotasRequest:
		return done(n.handleDescribeClientQuotas(body))
	case *kmsg.AlterClientQuotasRequest:
		return done(n.handleAlterClientQuotas(ctx, body))
	case *kmsg.ListOffsetsRequest:
		return done(n.handleListOffsets(body))
	case *kmsg.OffsetForLeaderEpochRequest:
		return done(n.handleOffsetForLeaderEpoch(body))
	case *kmsg.CreateTopicsRequest:
		return done(n.handleCreateTopics(ctx, body))
	case *kmsg.DeleteTopicsRequest:
		return done(n.handleDeleteTopics(ctx, body))
	case *kmsg.CreatePartitionsRequest:
		return done(n.handleCreatePartitions(ctx, body))
	case *kmsg.DeleteRecordsRequest:
		return done(n.handleDeleteRecords(body))
	case *kmsg.DescribeConfigsRequest:
		return done(n.handleDescribeConfigs(body))
	case *kmsg.AlterConfigsRequest:
		return done(n.handleAlterConfigs(ctx, body))
	case *kmsg.IncrementalAlterConfigsRequest:
		return done(n.handleIncrementalAlterConfigs(ctx, body))
	case *kmsg.DescribeClusterRequest:
		return done(n.handleDescribeCluster(ctx, body))
	case *kmsg.InitProducerIDRequest:
		if body.TransactionalID != nil {
			// The transaction coordinator's answer may wait for store
			// writes and markers: answered in the pending response.
			return func() kmsg.Response { return n.txns.Handle(ctx, body) }
		}
		return done(n.handleInitProducerID(ctx, body))
	case *kmsg.ElectLeadersRequest:
		return done(n.handleElectLeaders(ctx, body))
	case *kmsg.FindCoordinatorRequest:
		return done(n.handleFindCoordinator(ctx, body))
	case *kmsg.WriteTxnMarkersRequest:
		return n.handleWriteTxnMarkers(ctx, body)
	case *kmsg.DescribeUserSCRAMCredentialsRequest:
		return done(n.handleDescribeUserScramCredentials(body))
	case *kmsg.AlterUserSCRAMCredentialsRequest:
		return done(n.handleAlterUserScramCredentials(ctx, body))
	case *kmsg.DescribeProducersRequest:
		return done(n.handleDescribeProducers(body))
	}
	return n.handleGroupRequest(ctx, c, req)
}

func done(resp kmsg.Response) wire.Pending {
	return func() kmsg.Response { return resp }
}
