// Package schemaregistry is the embedded cluster's Confluent-compatible
// Schema Registry: the state of subjects, versions, schema ids and
// compatibility levels, kept in the compacted _schemas topic in
// Confluent's own record format (so that it replicates, fails over and
// survives restarts with the cluster, and so that Confluent's registry
// could read it), and the REST API clients use (server.go).
package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topic is the topic the registry keeps its state in, Confluent's default
// kafkastore.topic.
const Topic = "_schemas"

// maxRecordBytes bounds a record of the _schemas topic: a schema as large
// as a request may be, with room for its key and JSON escaping.
const maxRecordBytes = 2*MaxRequestBytes + 1<<20

// Reference is a schema's reference to a schema of another subject
// (Avro named types, Protobuf imports, JSON Schema $refs).
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Records of the _schemas topic, as Confluent writes them: JSON keys
// distinguished by keytype, JSON values; a tombstone deletes.
type storeKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Version int     `json:"version,omitempty"`
	Magic   int     `json:"magic"`
}

type schemaValue struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted"`
}

type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

// version is one version of a subject.
type version struct {
	subject string
	version int
	id      int
	deleted bool
}

// schema is one schema, by id.
type schema struct {
	id        int
	typ       string // AVRO, PROTOBUF, JSON
	text      string
	refs      []Reference
	canonical string
}

// state is the registry's state, built from the _schemas topic.
type state struct {
	ids      map[int]*schema
	byKey    map[string]int        // identity of a schema -> its id
	subjects map[string][]*version // by version number
	configs  map[string]string     // subject -> compatibility level
	global   string                // "" until set: BACKWARD
}

func newState() *state {
	return &state{ids: map[int]*schema{}, byKey: map[string]int{}, subjects: map[string][]*version{}, configs: map[string]string{}}
}

// schemaIdentity is what makes two registrations the same schema.
func schemaIdentity(typ, canonical string, refs []Reference) string {
	b, _ := json.Marshal(refs)
	return typ + "\x00" + canonical + "\x00" + string(b)
}

// apply applies one record of the _schemas topic.
func (st *state) apply(key, value []byte) {
	var k storeKey
	if json.Unmarshal(key, &k) != nil {
		return // not ours (Confluent's tools may write other key types)
	}
	switch k.KeyType {
	case "SCHEMA":
		if k.Subject == nil {
			return
		}
		subj := *k.Subject
		if value == nil { // permanent delete of a version
			vs := st.subjects[subj]
			vs = slices.DeleteFunc(vs, func(v *version) bool { return v.version == k.Version })
			if len(vs) == 0 {
				delete(st.subjects, subj)
			} else {
				st.subjects[subj] = vs
			}
			return
		}
		var v schemaValue
		if json.Unmarshal(value, &v) != nil {
			return
		}
		typ := v.SchemaType
		if typ == "" {
			typ = "AVRO"
		}
		if _, ok := st.ids[v.ID]; !ok {
			s := &schema{id: v.ID, typ: typ, text: v.Schema, refs: v.References}
			s.canonical = v.Schema
			if p, e := st.parse(subj, v.Version, typ, v.Schema, v.References); e == nil {
				s.canonical = p.Canonical()
			}
			st.ids[v.ID] = s
			st.byKey[schemaIdentity(typ, s.canonical, s.refs)] = v.ID
		}
		vs := st.subjects[subj]
		i := sort.Search(len(vs), func(i int) bool { return vs[i].version >= v.Version })
		if i < len(vs) && vs[i].version == v.Version {
			vs[i].id, vs[i].deleted = v.ID, v.Deleted
		} else {
			vs = slices.Insert(vs, i, &version{subject: subj, version: v.Version, id: v.ID, deleted: v.Deleted})
		}
		st.subjects[subj] = vs
	case "CONFIG":
		var c configValue
		if value != nil && json.Unmarshal(value, &c) != nil {
			return
		}
		if k.Subject == nil {
			st.global = c.CompatibilityLevel
			return
		}
		if value == nil {
			delete(st.configs, *k.Subject)
			return
		}
		st.configs[*k.Subject] = c.CompatibilityLevel
	}
}

// maxID is the highest schema id so far.
func (st *state) maxID() int {
	m := 0
	for id := range st.ids {
		m = max(m, id)
	}
	return m
}

// Store is the registry's state kept in the _schemas topic: one writer
// (this process), which applies what it reads back before answering.
type Store struct {
	cl  *kgo.Client
	log *slog.Logger

	mu      sync.RWMutex
	st      *state
	applied int64 // the next offset to apply
	changed *sync.Cond

	writeMu sync.Mutex // one write at a time: read state, decide, append
	ready   chan struct{}
	readErr error
	cancel  context.CancelFunc
	done    chan struct{}
}

// OpenStore creates the _schemas topic if needed (compacted, one
// partition, replicated to replicas nodes) and starts reading it from the
// start; it returns once everything written so far is applied. clientOpts
// connect to the cluster.
func OpenStore(ctx context.Context, clientOpts []kgo.Opt, replicas int16, log *slog.Logger) (*Store, error) {
	cl, err := kgo.NewClient(append(clientOpts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{Topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.ProducerLinger(0),
		// After the _schemas leader fails, ask again for its new leader
		// within a fraction of a second: franz-go's default minimum age
		// of metadata (5 s) held a registration back for about 4 s after
		// the failover was over (TestSchemaRegistryDurable).
		kgo.MetadataMinAge(100*time.Millisecond),
		// Schemas of many megabytes (MaxRequestBytes) fit in one record.
		kgo.ProducerBatchMaxBytes(maxRecordBytes),
		kgo.FetchMaxPartitionBytes(maxRecordBytes),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(Topic))...)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, 1, replicas, map[string]*string{
		"cleanup.policy":    kadm.StringPtr("compact"),
		"max.message.bytes": kadm.StringPtr(fmt.Sprint(maxRecordBytes)),
	}, Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		cl.Close()
		return nil, fmt.Errorf("schema registry: creating %s: %w", Topic, err)
	}
	s := &Store{cl: cl, log: log, st: newState(), ready: make(chan struct{}), done: make(chan struct{})}
	s.changed = sync.NewCond(s.mu.RLocker())
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.read(rctx)
	end, err := s.endOffset(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	if err := s.waitApplied(ctx, end); err != nil {
		s.Close()
		return nil, fmt.Errorf("schema registry: reading %s: %w", Topic, err)
	}
	close(s.ready)
	return s, nil
}

// endOffset is the _schemas partition's end; a topic just created may
// take a moment to be listed.
func (s *Store) endOffset(ctx context.Context) (int64, error) {
	adm := kadm.NewClient(s.cl)
	for {
		ends, err := adm.ListEndOffsets(ctx, Topic)
		if err == nil {
			if o, ok := ends.Lookup(Topic, 0); ok && o.Err == nil {
				return o.Offset, nil
			} else if ok {
				err = o.Err
			}
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("schema registry: listing %s: %w (last error: %v)", Topic, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// read applies the _schemas topic as it grows.
func (s *Store) read(ctx context.Context) {
	defer close(s.done)
	for {
		fs := s.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			s.mu.Lock()
			s.readErr = errors.New("schema registry: closed")
			s.mu.Unlock()
			s.changed.Broadcast()
			return
		}
		fs.EachError(func(_ string, _ int32, err error) {
			s.log.Debug("schema registry: fetching _schemas", "err", err)
		})
		var last int64 = -1
		s.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			s.st.apply(r.Key, r.Value)
			last = r.Offset
		})
		if last >= 0 {
			s.applied = last + 1
		}
		s.mu.Unlock()
		s.changed.Broadcast()
	}
}

// waitApplied waits until the records below offset are applied.
func (s *Store) waitApplied(ctx context.Context, offset int64) error {
	stop := context.AfterFunc(ctx, func() { s.changed.Broadcast() })
	defer stop()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for s.applied < offset {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.readErr != nil {
			return s.readErr
		}
		s.changed.Wait()
	}
	return nil
}

// write appends records and waits until they are applied.
func (s *Store) write(ctx context.Context, rs ...*kgo.Record) error {
	for _, r := range rs {
		r.Topic, r.Partition = Topic, 0
	}
	res := s.cl.ProduceSync(ctx, rs...)
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	last := rs[len(rs)-1].Offset
	if err := s.waitApplied(ctx, last+1); err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	return nil
}

// ErrStore is a failure to write or read the _schemas topic (Confluent's
// 50001).
var ErrStore = errors.New("error in the backend data store")

// view runs fn with the state, read-locked.
func (s *Store) view(fn func(st *state)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(s.st)
}

// Close stops reading and closes the client.
func (s *Store) Close() {
	s.cancel()
	s.cl.Close()
	<-s.done
}

func schemaRecord(v schemaValue, tombstone bool) *kgo.Record {
	subj := v.Subject
	k, _ := json.Marshal(storeKey{KeyType: "SCHEMA", Subject: &subj, Version: v.Version, Magic: 1})
	if tombstone {
		return &kgo.Record{Key: k}
	}
	if v.SchemaType == "AVRO" {
		v.SchemaType = ""
	}
	val, _ := json.Marshal(v)
	return &kgo.Record{Key: k, Value: val}
}

func configRecord(subject *string, level string) *kgo.Record {
	k, _ := json.Marshal(storeKey{KeyType: "CONFIG", Subject: subject, Magic: 0})
	if level == "" {
		return &kgo.Record{Key: k}
	}
	val, _ := json.Marshal(configValue{CompatibilityLevel: level})
	return &kgo.Record{Key: k, Value: val}
}
