package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
)

// LocalConfig configures a Local controller.
type LocalConfig struct {
	// Dir, when set, is where the metadata log and its checkpoints are
	// kept (in Dir/__cluster_metadata-0); empty keeps the metadata in
	// memory.
	Dir       string
	ClusterID string
	Broker    *configs.Broker
	// MaxReplicationFactor caps replication factors (default: no cap but
	// the number of brokers).
	MaxReplicationFactor int16
	// SessionTimeout fences a broker whose last heartbeat is older
	// (broker.session.timeout.ms); HeartbeatInterval is how often the
	// controller checks (broker.heartbeat.interval.ms).
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	// SnapshotBytes is how many bytes of metadata records are written
	// between checkpoints (metadata.log.max.record.bytes.between.snapshots).
	SnapshotBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NewTopicID makes topic ids; nil means random UUIDs.
	NewTopicID func() TopicID
	Logger     *slog.Logger
}

// Local is the in-process controller. One mutex serializes changes; a
// change is decided on the current image, appended (and fsynced) to the
// metadata log, applied, and published to every subscriber before the call
// that made it returns, so a client that created a topic can produce to it
// at once. Each change costs what it touches: images share structure, and
// subscribers get a Delta. Heartbeats take no lock that a change holds, so
// a long change never fences a live broker.
type Local struct {
	cfg    LocalConfig
	dc     decider
	img    atomic.Pointer[Image]
	logger *slog.Logger

	mu      sync.Mutex // serializes changes and publication
	journal *journal   // nil in memory
	subs    map[int]func(*Image, *Delta)
	nextSub int
	closed  bool

	hbMu     sync.Mutex
	lastSeen map[int32]time.Time // brokers' last heartbeats

	stop chan struct{}
	done chan struct{}
}

var _ Controller = (*Local)(nil)

// NewLocal returns a controller, loading the metadata persisted in cfg.Dir.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxReplicationFactor <= 0 {
		cfg.MaxReplicationFactor = 1<<15 - 1
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 600 * time.Millisecond
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewTopicID == nil {
		cfg.NewTopicID = NewTopicID
	}
	if cfg.Broker == nil {
		cfg.Broker, _ = configs.NewBroker(nil)
	}
	if cfg.SnapshotBytes <= 0 {
		cfg.SnapshotBytes = cfg.Broker.Int("metadata.log.max.record.bytes.between.snapshots")
	}
	l := &Local{
		cfg:      cfg,
		dc:       decider{broker: cfg.Broker, maxRF: cfg.MaxReplicationFactor, newID: cfg.NewTopicID, logger: cfg.Logger},
		logger:   cfg.Logger,
		subs:     map[int]func(*Image, *Delta){},
		lastSeen: map[int32]time.Time{},
	}
	img := emptyImage(cfg.ClusterID)
	if cfg.Dir != "" {
		j, loaded, err := openJournal(cfg.Dir, cfg.SnapshotBytes, cfg.Logger)
		if err != nil {
			return nil, err
		}
		l.journal, img = j, loaded
	}
	l.img.Store(img)
	if img.ClusterID == "" {
		id := cfg.ClusterID
		if id == "" {
			id = encodeClusterID(NewTopicID())
		}
		if err := l.commit([]record{{Cluster: &clusterRecord{ID: id}}}); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// Image returns the current metadata.
func (l *Local) Image() *Image { return l.img.Load() }

// Subscribe registers fn; it is called with the current image and a full
// delta at once, and with every later change before the call that made it
// returns.
func (l *Local) Subscribe(fn func(*Image, *Delta)) func() {
	l.mu.Lock()
	id := l.nextSub
	l.nextSub++
	l.subs[id] = fn
	img := l.img.Load()
	fn(img, FullDelta(img))
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.subs, id)
		l.mu.Unlock()
	}
}

// commit appends a change to the metadata log, applies it and publishes
// it. l.mu must be held.
func (l *Local) commit(recs []record) error {
	if len(recs) == 0 {
		return nil
	}
	if l.closed {
		return ErrClosed
	}
	cur := l.img.Load()
	next, delta, err := cur.apply(recs)
	if err != nil {
		return err
	}
	if l.journal != nil {
		if err := l.journal.append(next.Version, recs); err != nil {
			return err
		}
	}
	l.img.Store(next)
	l.publish(next, delta)
	if l.journal != nil {
		l.journal.maybeSnapshot(next)
	}
	return nil
}

// publish hands a change to every subscriber and waits until all have
// applied it. Subscribers are nodes, independent of each other, so they
// apply it in parallel (opening thousands of logs for a new topic is real
// I/O); each one still gets its changes one at a time, in order.
func (l *Local) publish(img *Image, d *Delta) {
	switch len(l.subs) {
	case 0:
		return
	case 1:
		for _, fn := range l.subs {
			fn(img, d)
		}
		return
	}
	var wg sync.WaitGroup
	for _, fn := range l.subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(img, d)
		}()
	}
	wg.Wait()
}

// change decides and commits one change under the lock.
func (l *Local) change(decide func(*Image) ([]record, error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	recs, err := decide(l.img.Load())
	if err != nil {
		return err
	}
	return l.commit(recs)
}

// RegisterBroker adds or updates a broker, unfenced.
func (l *Local) RegisterBroker(_ context.Context, b Broker) error {
	l.hbMu.Lock()
	l.lastSeen[b.ID] = l.cfg.Now()
	l.hbMu.Unlock()
	return l.change(func(im *Image) ([]record, error) { return l.dc.registerBroker(im, b), nil })
}

// SetBrokerFenced fences or unfences a broker and moves leadership.
func (l *Local) SetBrokerFenced(_ context.Context, id int32, fenced bool) error {
	if !fenced {
		l.hbMu.Lock()
		l.lastSeen[id] = l.cfg.Now()
		l.hbMu.Unlock()
	}
	return l.change(func(im *Image) ([]record, error) { return l.dc.setFenced(im, id, fenced) })
}

// CreateTopic creates a topic.
func (l *Local) CreateTopic(_ context.Context, spec TopicSpec, validateOnly bool) (*Topic, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, recs, err := l.dc.createTopic(l.img.Load(), spec)
	if err != nil || validateOnly {
		return t, err
	}
	if err := l.commit(recs); err != nil {
		return nil, err
	}
	published, _ := l.img.Load().TopicByID(t.ID)
	return published, nil
}

// DeleteTopic deletes a topic.
func (l *Local) DeleteTopic(_ context.Context, name string) error {
	return l.change(func(im *Image) ([]record, error) { return l.dc.deleteTopic(im, name) })
}

// CreatePartitions grows a topic.
func (l *Local) CreatePartitions(_ context.Context, name string, count int32, assignment [][]int32, validateOnly bool) error {
	return l.change(func(im *Image) ([]record, error) {
		recs, err := l.dc.createPartitions(im, name, count, assignment)
		if validateOnly {
			return nil, err
		}
		return recs, err
	})
}

// AlterTopicConfigs replaces a topic's dynamic configs.
func (l *Local) AlterTopicConfigs(_ context.Context, name string, cfg map[string]string, validateOnly bool) error {
	return l.change(func(im *Image) ([]record, error) {
		recs, err := l.dc.alterConfigs(im, name, cfg)
		if validateOnly {
			return nil, err
		}
		return recs, err
	})
}

// AllocateProducerIDs reserves n producer ids.
func (l *Local) AllocateProducerIDs(_ context.Context, n int64) (int64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("%w: %d producer ids", ErrInvalidConfig, n)
	}
	var first int64
	err := l.change(func(im *Image) ([]record, error) {
		first = im.NextProducerID
		return []record{{ProducerIDs: &producerIDsRecord{Next: first + n}}}, nil
	})
	return first, err
}

// AlterPartitions changes the ISRs of partitions leader leads, in one
// change.
func (l *Local) AlterPartitions(_ context.Context, leader int32, changes []ISRChange) ([]error, error) {
	var errs []error
	err := l.change(func(im *Image) ([]record, error) {
		var recs []record
		recs, errs = l.dc.alterPartitions(im, leader, changes)
		return recs, nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// ElectLeaders runs a preferred or unclean leader election on the given
// partitions (nil: every partition) and returns each one's outcome.
func (l *Local) ElectLeaders(_ context.Context, typ int8, parts []TopicPartition) (map[TopicPartition]error, error) {
	var out map[TopicPartition]error
	err := l.change(func(im *Image) ([]record, error) {
		recs, res, err := l.dc.electLeaders(im, typ, parts)
		out = res
		return recs, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Start starts the liveness loop that fences brokers whose heartbeats
// stopped. Close stops it.
func (l *Local) Start() {
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	go l.livenessLoop()
}

// StopLiveness stops the liveness loop, so that no broker is fenced for
// silence from now on: a cluster shutting down stops its nodes one by one
// without the controller moving their partitions to the others meanwhile.
// Start and StopLiveness are not safe for concurrent use.
func (l *Local) StopLiveness() {
	if l.stop != nil {
		close(l.stop)
		<-l.done
		l.stop = nil
	}
}

// Close stops the liveness loop and closes the metadata log, writing a
// final checkpoint. Later changes fail with ErrClosed.
func (l *Local) Close() error {
	l.StopLiveness()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.journal != nil {
		return l.journal.close(l.img.Load())
	}
	return nil
}

func (l *Local) livenessLoop() {
	defer close(l.done)
	t := time.NewTicker(l.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.checkLiveness()
		}
	}
}

// checkLiveness fences brokers whose session expired. It looks at the
// brokers only; a fence changes the partitions of the fenced broker.
func (l *Local) checkLiveness() {
	now := l.cfg.Now()
	var expired []int32
	l.hbMu.Lock()
	for _, b := range l.img.Load().Brokers {
		if !b.Fenced && now.Sub(l.lastSeen[b.ID]) > l.cfg.SessionTimeout {
			expired = append(expired, b.ID)
		}
	}
	l.hbMu.Unlock()
	for _, id := range expired {
		err := l.change(func(im *Image) ([]record, error) {
			// Checked again under the lock: a heartbeat may have come.
			l.hbMu.Lock()
			seen := l.lastSeen[id]
			l.hbMu.Unlock()
			if b, ok := im.Broker(id); !ok || b.Fenced || now.Sub(seen) <= l.cfg.SessionTimeout {
				return nil, nil
			}
			l.logger.Warn("fencing broker: session expired", "broker", id, "timeout", l.cfg.SessionTimeout)
			return l.dc.setFenced(im, id, true)
		})
		if err != nil && err != ErrClosed {
			l.logger.Error("fencing broker", "broker", id, "err", err)
		}
	}
}

// Heartbeat records that a broker is alive; a fenced broker that
// heartbeats again is unfenced (its replicas rejoin ISRs as they catch up).
func (l *Local) Heartbeat(_ context.Context, id int32) error {
	b, ok := l.img.Load().Broker(id)
	if !ok {
		return fmt.Errorf("%w: broker %d is not registered", ErrBrokerNotAvailable, id)
	}
	l.hbMu.Lock()
	l.lastSeen[id] = l.cfg.Now()
	l.hbMu.Unlock()
	if !b.Fenced {
		return nil
	}
	return l.change(func(im *Image) ([]record, error) { return l.dc.setFenced(im, id, false) })
}
