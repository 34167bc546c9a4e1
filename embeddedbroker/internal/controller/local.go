package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
)

// LocalConfig configures a Local controller.
type LocalConfig struct {
	// Dir, when set, is where the metadata is persisted (one JSON file,
	// replaced atomically on every change); empty keeps it in memory.
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
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Local is the in-process controller: one mutex serializes every change, and
// every subscriber has applied a change before the call that made it returns,
// so a client that created a topic can produce to it at once.
type Local struct {
	cfg LocalConfig
	img atomic.Pointer[Image]

	mu       sync.Mutex // serializes changes and publication
	subs     map[int]func(*Image)
	nextID   int
	lastSeen map[int32]time.Time // brokers' last heartbeats; under mu

	stop chan struct{}
	done chan struct{}
}

var _ Controller = (*Local)(nil)

// persisted is the on-disk form of the metadata.
type persisted struct {
	ClusterID      string   `json:"cluster_id"`
	NextProducerID int64    `json:"next_producer_id"`
	Topics         []*Topic `json:"topics"`
}

// NewLocal returns a controller, loading persisted metadata from cfg.Dir.
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
	if cfg.Broker == nil {
		cfg.Broker, _ = configs.NewBroker(nil)
	}
	img := &Image{ClusterID: cfg.ClusterID, ControllerID: -1, Topics: map[string]*Topic{}, ByID: map[TopicID]*Topic{}}
	if cfg.Dir != "" {
		b, err := os.ReadFile(filepath.Join(cfg.Dir, metadataFile))
		switch {
		case err == nil:
			var p persisted
			if err := json.Unmarshal(b, &p); err != nil {
				return nil, fmt.Errorf("controller: reading %s: %w", metadataFile, err)
			}
			img.ClusterID = p.ClusterID
			img.NextProducerID = p.NextProducerID
			for _, t := range p.Topics {
				img.Topics[t.Name] = t
				img.ByID[t.ID] = t
			}
		case !os.IsNotExist(err):
			return nil, fmt.Errorf("controller: %w", err)
		}
	}
	if img.ClusterID == "" {
		id := NewTopicID()
		img.ClusterID = encodeClusterID(id)
	}
	l := &Local{cfg: cfg, subs: map[int]func(*Image){}, lastSeen: map[int32]time.Time{}}
	l.img.Store(img)
	return l, nil
}

const metadataFile = "cluster-metadata.json"

// Image returns the current metadata.
func (l *Local) Image() *Image { return l.img.Load() }

// Subscribe registers fn; it is called with the current image at once and
// with every later one before the change that made it returns.
func (l *Local) Subscribe(fn func(*Image)) func() {
	l.mu.Lock()
	id := l.nextID
	l.nextID++
	l.subs[id] = fn
	img := l.img.Load()
	fn(img)
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.subs, id)
		l.mu.Unlock()
	}
}

// commit persists and publishes a new image. l.mu must be held.
func (l *Local) commit(img *Image) error {
	if l.cfg.Dir != "" {
		if err := l.persist(img); err != nil {
			return err
		}
	}
	l.img.Store(img)
	ids := make([]int, 0, len(l.subs))
	for id := range l.subs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		l.subs[id](img)
	}
	return nil
}

func (l *Local) persist(img *Image) error {
	p := persisted{ClusterID: img.ClusterID, NextProducerID: img.NextProducerID}
	for _, t := range img.Topics {
		p.Topics = append(p.Topics, t)
	}
	slices.SortFunc(p.Topics, func(a, b *Topic) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	return writeFileAtomic(filepath.Join(l.cfg.Dir, metadataFile), b)
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("controller: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("controller: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	return nil
}

// RegisterBroker adds or updates a broker, unfenced.
func (l *Local) RegisterBroker(_ context.Context, b Broker) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	img := l.img.Load().clone()
	b.Fenced = false
	i, found := slices.BinarySearchFunc(img.Brokers, b.ID, func(x Broker, id int32) int { return int(x.ID - id) })
	if found {
		// A new incarnation of a known broker: whatever it had may be
		// gone (a crash loses what was not fsynced), so first take it
		// out of every ISR and leadership, as if fenced, even when it
		// came back before its session expired. It rejoins ISRs by
		// catching up.
		img.Brokers[i].Fenced = true
		l.reconcile(img)
		img.Brokers[i] = b
	} else {
		img.Brokers = slices.Insert(img.Brokers, i, b)
	}
	if img.ControllerID < 0 || !found && b.ID < img.ControllerID {
		img.ControllerID = img.Brokers[0].ID
	}
	l.lastSeen[b.ID] = l.cfg.Now()
	l.reconcile(img)
	return l.commit(img)
}

// SetBrokerFenced fences or unfences a broker and moves leadership.
func (l *Local) SetBrokerFenced(_ context.Context, id int32, fenced bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	img := l.img.Load().clone()
	i, found := slices.BinarySearchFunc(img.Brokers, id, func(x Broker, id int32) int { return int(x.ID - id) })
	if !found {
		return fmt.Errorf("%w: broker %d is not registered", ErrBrokerNotAvailable, id)
	}
	if img.Brokers[i].Fenced == fenced {
		return nil
	}
	img.Brokers[i].Fenced = fenced
	if fenced && img.ControllerID == id {
		img.ControllerID = -1
		for _, b := range img.Brokers {
			if !b.Fenced {
				img.ControllerID = b.ID
				break
			}
		}
	} else if !fenced && img.ControllerID < 0 {
		img.ControllerID = id
	}
	if !fenced {
		l.lastSeen[id] = l.cfg.Now()
	}
	l.reconcile(img)
	return l.commit(img)
}

func (t *Topic) clone() *Topic {
	n := *t
	n.Partitions = slices.Clone(t.Partitions)
	return &n
}

// CreateTopic creates a topic.
func (l *Local) CreateTopic(_ context.Context, spec TopicSpec, validateOnly bool) (*Topic, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.img.Load()
	if err := ValidateTopicName(spec.Name); err != nil {
		return nil, err
	}
	if _, ok := cur.Topics[spec.Name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrTopicExists, spec.Name)
	}
	if err := configs.ValidateTopic(spec.Configs); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	var parts []Partition
	if len(spec.Assignment) > 0 {
		if spec.Partitions > 0 || spec.ReplicationFactor > 0 {
			return nil, fmt.Errorf("%w: both a replica assignment and partitions or replication factor", ErrInvalidReplicaAssign)
		}
		var err error
		if parts, err = l.assigned(cur, spec.Assignment, 0); err != nil {
			return nil, err
		}
	} else {
		n := spec.Partitions
		if n == -1 {
			n = int32(l.cfg.Broker.Int("num.partitions"))
		}
		if n <= 0 {
			return nil, fmt.Errorf("%w: %d", ErrInvalidPartitions, n)
		}
		rf := spec.ReplicationFactor
		if rf == -1 {
			rf = int16(l.cfg.Broker.Int("default.replication.factor"))
		}
		if spec.Internal {
			// Internal topics take what the cluster can give, as Kafka
			// caps offsets.topic.replication.factor at the live brokers.
			rf = max(1, min(rf, int16(len(cur.Brokers)), l.cfg.MaxReplicationFactor))
		}
		var err error
		if parts, err = l.place(cur, n, rf, 0, len(cur.Topics)); err != nil {
			return nil, err
		}
	}
	t := &Topic{Name: spec.Name, ID: NewTopicID(), Internal: spec.Internal, Configs: spec.Configs, Partitions: parts}
	if t.Configs == nil {
		t.Configs = map[string]string{}
	}
	if validateOnly {
		return t, nil
	}
	img := cur.clone()
	img.Topics[t.Name] = t
	img.ByID[t.ID] = t
	if err := l.commit(img); err != nil {
		return nil, err
	}
	return t, nil
}

// place assigns replicas for n partitions starting at partition index first,
// spreading leaders round robin over the unfenced brokers from start.
func (l *Local) place(img *Image, n int32, rf int16, first int32, start int) ([]Partition, error) {
	var live []int32
	for _, b := range img.Brokers {
		if !b.Fenced {
			live = append(live, b.ID)
		}
	}
	if rf <= 0 {
		return nil, fmt.Errorf("%w: %d", ErrInvalidReplication, rf)
	}
	if rf > l.cfg.MaxReplicationFactor {
		return nil, fmt.Errorf("%w: %d; this cluster supports at most %d", ErrInvalidReplication, rf, l.cfg.MaxReplicationFactor)
	}
	if int(rf) > len(live) {
		return nil, fmt.Errorf("%w: %d is larger than the %d available brokers", ErrInvalidReplication, rf, len(live))
	}
	parts := make([]Partition, n)
	for i := range parts {
		reps := make([]int32, rf)
		for j := range reps {
			reps[j] = live[(start+int(first)+i+j)%len(live)]
		}
		parts[i] = Partition{Replicas: reps, ISR: slices.Clone(reps), Leader: reps[0]}
	}
	return parts, nil
}

func (l *Local) assigned(img *Image, a [][]int32, first int32) ([]Partition, error) {
	parts := make([]Partition, len(a))
	for i, reps := range a {
		if len(reps) == 0 || (i > 0 && len(reps) != len(a[0])) {
			return nil, fmt.Errorf("%w: partition %d has %d replicas", ErrInvalidReplicaAssign, int(first)+i, len(reps))
		}
		if len(reps) > int(l.cfg.MaxReplicationFactor) {
			return nil, fmt.Errorf("%w: %d replicas; this cluster supports at most %d", ErrInvalidReplication, len(reps), l.cfg.MaxReplicationFactor)
		}
		seen := map[int32]bool{}
		for _, r := range reps {
			if _, ok := img.Broker(r); !ok || seen[r] {
				return nil, fmt.Errorf("%w: partition %d: broker %d unknown or repeated", ErrInvalidReplicaAssign, int(first)+i, r)
			}
			seen[r] = true
		}
		parts[i] = Partition{Replicas: slices.Clone(reps), ISR: slices.Clone(reps), Leader: -1}
	}
	tmp := &Image{Brokers: img.Brokers, Topics: map[string]*Topic{"": {Partitions: parts}}, ByID: map[TopicID]*Topic{}}
	for i := range parts {
		parts[i].LeaderEpoch = -1
		parts[i].Epoch = -1
	}
	l.reconcile(tmp)
	return tmp.Topics[""].Partitions, nil
}

// DeleteTopic deletes a topic.
func (l *Local) DeleteTopic(_ context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.img.Load()
	t, ok := cur.Topics[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	if t.Internal {
		return fmt.Errorf("%w: %q", ErrInternalTopicReadOnly, name)
	}
	img := cur.clone()
	delete(img.Topics, name)
	delete(img.ByID, t.ID)
	return l.commit(img)
}

// CreatePartitions grows a topic.
func (l *Local) CreatePartitions(_ context.Context, name string, count int32, assignment [][]int32, validateOnly bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.img.Load()
	t, ok := cur.Topics[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	have := int32(len(t.Partitions))
	if count <= have {
		return fmt.Errorf("%w: topic %q has %d partitions; the new count %d must be larger", ErrInvalidPartitions, name, have, count)
	}
	var add []Partition
	var err error
	if len(assignment) > 0 {
		if int32(len(assignment)) != count-have {
			return fmt.Errorf("%w: %d assignments for %d new partitions", ErrInvalidReplicaAssign, len(assignment), count-have)
		}
		add, err = l.assigned(cur, assignment, have)
	} else {
		add, err = l.place(cur, count-have, int16(len(t.Partitions[0].Replicas)), have, 0)
	}
	if err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	img := cur.clone()
	nt := t.clone()
	nt.Partitions = append(nt.Partitions, add...)
	img.Topics[name] = nt
	img.ByID[nt.ID] = nt
	return l.commit(img)
}

// AlterTopicConfigs replaces a topic's dynamic configs.
func (l *Local) AlterTopicConfigs(_ context.Context, name string, cfg map[string]string, validateOnly bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.img.Load()
	t, ok := cur.Topics[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	if err := configs.ValidateTopic(cfg); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if validateOnly {
		return nil
	}
	img := cur.clone()
	nt := t.clone()
	nt.Configs = cfg
	img.Topics[name] = nt
	img.ByID[nt.ID] = nt
	return l.commit(img)
}

// AllocateProducerIDs reserves n producer ids.
func (l *Local) AllocateProducerIDs(_ context.Context, n int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	img := l.img.Load().clone()
	first := img.NextProducerID
	img.NextProducerID += n
	return first, l.commit(img)
}

// ValidateTopicName checks a topic name the way Kafka does.
func ValidateTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q contains %q; legal characters are ASCII alphanumerics, '.', '_' and '-'", ErrInvalidTopic, name, c)
		}
	}
	return nil
}
