package sharecoord

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordruntime"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sharegroup"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultNumPartitions is share.coordinator.state.topic.num.partitions.
const DefaultNumPartitions = 50

// Config configures a Coordinator; the zero value is Kafka's defaults.
type Config struct {
	// NumPartitions is the number of partitions of __share_group_state
	// (share.coordinator.state.topic.num.partitions, default 50). It
	// decides which partition holds which share partition's state and
	// must not change for a cluster.
	NumPartitions int32
}

// KV is one record of __share_group_state: a key and a value, a nil
// Value being a tombstone.
type KV struct{ Key, Value []byte }

// Store persists one partition of __share_group_state; the broker
// implements it over the partition's log.
type Store interface {
	// Append appends the records as one batch and returns once they are
	// durable (replicated as an acks=all produce), or with the error
	// that kept them from being so. ctx is cancelled when the partition
	// is unloaded.
	Append(ctx context.Context, recs []KV) error
}

// Key returns the coordinator key of a share partition, as Kafka's
// SharePartitionKey.asCoordinatorKey: "group:topicId:partition" with the
// topic ID in Kafka's Uuid.toString form (URL-safe base64, no padding).
// FindCoordinator with key type SHARE takes it, and it hashes to the
// partition of __share_group_state that holds the state.
func Key(groupID string, topicID [16]byte, partition int32) string {
	return groupID + ":" + base64.RawURLEncoding.EncodeToString(topicID[:]) + ":" + strconv.Itoa(int(partition))
}

// Coordinator is the share coordinator of one broker. Create it with New;
// it is safe for concurrent use.
type Coordinator struct {
	cfg Config
	log *slog.Logger
	rt  *coordruntime.Runtime[partExt, *state]
}

type partExt struct{ store Store }

type partition = coordruntime.Partition[partExt]

// state is the state of one share partition: an item of the runtime. Its
// store holds this key only.
type state struct {
	mu      sync.Mutex
	key     sharegroup.ShareKey
	part    *partition
	store   sharegroup.StateStore
	exists  bool // the store has the key's state
	removed bool
}

// Lock, Unlock, Removed and Partition make a state a coordruntime.Item.
func (s *state) Lock()                 { s.mu.Lock() }
func (s *state) Unlock()               { s.mu.Unlock() }
func (s *state) Removed() bool         { return s.removed }
func (s *state) Partition() *partition { return s.part }

// New returns a coordinator that owns no partition yet. A nil logger
// discards.
func New(cfg Config, logger *slog.Logger) *Coordinator {
	coordruntime.OrDefault(&cfg.NumPartitions, DefaultNumPartitions)
	rt := coordruntime.New[partExt, *state]("sharecoord", cfg.NumPartitions, logger)
	return &Coordinator{cfg: cfg, log: rt.Logger(), rt: rt}
}

// PartitionFor returns the partition of __share_group_state that holds
// the share partition's state.
func (c *Coordinator) PartitionFor(groupID string, topicID [16]byte, partition int32) int32 {
	return c.rt.PartitionFor(Key(groupID, topicID, partition))
}

// Load makes the coordinator own partition p of __share_group_state, led
// at leader epoch epoch: replay must call fn with the key and value of
// every record of the partition's data batches in log order. While it
// replays, requests for the partition's keys answer
// COORDINATOR_LOAD_IN_PROGRESS. New writes go through store. Records that
// cannot be decoded are logged and skipped. Load returns
// coordruntime.ErrAlreadyLoaded if p is loaded or loading,
// coordruntime.ErrUnloaded if p was unloaded during the replay, and
// replay's error.
func (c *Coordinator) Load(ctx context.Context, p, epoch int32, store Store, replay func(fn func(key, value []byte) error) error) error {
	if store == nil || replay == nil {
		return fmt.Errorf("sharecoord: load partition %d: nil store or replay", p)
	}
	start := time.Now()
	records, skipped := 0, 0
	items, err := c.rt.Load(ctx, p, epoch, partExt{store: store}, func(part *partition) (map[string]*state, error) {
		items := make(map[string]*state)
		err := replay(func(key, value []byte) error {
			records++
			rec, err := decode(key, value)
			if err != nil {
				skipped++
				c.log.Warn("skipping undecodable record of __share_group_state", "partition", p, "key", fmt.Sprintf("%x", key), "err", err)
				return nil
			}
			k := Key(rec.Key.GroupID, rec.Key.TopicID, rec.Key.Partition)
			s := items[k]
			if s == nil {
				s = &state{key: rec.Key, part: part}
				items[k] = s
			}
			if err := s.store.Replay(rec); err != nil {
				skipped++
				c.log.Warn("skipping share state record that does not apply", "partition", p, "key", k, "err", err)
				return nil
			}
			s.exists = !rec.Tombstone
			return nil
		})
		for k, s := range items {
			if !s.exists {
				delete(items, k)
			}
		}
		return items, err
	}, nil)
	if err != nil {
		return err
	}
	c.log.Info("loaded share coordinator partition", "partition", p, "epoch", epoch, "states", len(items),
		"records", records, "skipped", skipped, "elapsed", time.Since(start))
	return nil
}

// Unload gives up partition p; later requests for its keys answer
// NOT_COORDINATOR, and appends in flight are cancelled. Unloading a
// partition that is not loaded does nothing.
func (c *Coordinator) Unload(p int32) {
	if n, ok := c.rt.Unload(p, func(s *state) { s.removed = true }); ok {
		c.log.Info("unloaded share coordinator partition", "partition", p, "states", n)
	}
}

// Close unloads every partition and waits for what runs in the
// background. Requests handled after Close answer NOT_COORDINATOR.
func (c *Coordinator) Close() { c.rt.Close(c.Unload) }

// Handles reports whether Handle serves requests with the given API key.
func Handles(key int16) bool {
	switch kmsg.Key(key) {
	case kmsg.InitializeShareGroupState, kmsg.ReadShareGroupState, kmsg.WriteShareGroupState,
		kmsg.DeleteShareGroupState, kmsg.ReadShareGroupStateSummary:
		return true
	}
	return false
}

// Handle serves one request of the share coordinator and returns its
// response, of the request's version, or nil for another request (see
// Handles). Writes block until their records are durable or ctx ends
// (then REQUEST_TIMED_OUT, the write may still land). Share partitions
// whose partition of __share_group_state is not loaded here answer
// NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS while it loads.
func (c *Coordinator) Handle(ctx context.Context, req kmsg.Request) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.InitializeShareGroupStateRequest:
		resp := r.ResponseKind().(*kmsg.InitializeShareGroupStateResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewInitializeShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewInitializeShareGroupStateResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode, rp.ErrorMessage = c.initialize(ctx, r.GroupID, t.TopicID, p)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.ReadShareGroupStateRequest:
		resp := r.ResponseKind().(*kmsg.ReadShareGroupStateResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewReadShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewReadShareGroupStateResponseTopicPartition()
				rp.Partition = p.Partition
				st, _, code, msg := c.read(r.GroupID, t.TopicID, p.Partition, p.LeaderEpoch, true)
				rp.ErrorCode, rp.ErrorMessage = code, msg
				if code == 0 {
					rp.StateEpoch, rp.StartOffset = st.StateEpoch, st.StartOffset
					rp.StateBatches = make([]kmsg.ReadShareGroupStateResponseTopicPartitionStateBatch, 0, len(st.Batches))
					for _, b := range st.Batches {
						rb := kmsg.NewReadShareGroupStateResponseTopicPartitionStateBatch()
						rb.FirstOffset, rb.LastOffset = b.FirstOffset, b.LastOffset
						rb.DeliveryState, rb.DeliveryCount = int8(b.DeliveryState), b.DeliveryCount
						rp.StateBatches = append(rp.StateBatches, rb)
					}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.ReadShareGroupStateSummaryRequest:
		resp := r.ResponseKind().(*kmsg.ReadShareGroupStateSummaryResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewReadShareGroupStateSummaryResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewReadShareGroupStateSummaryResponseTopicPartition()
				rp.Partition = p.Partition
				st, leaderEpoch, code, msg := c.read(r.GroupID, t.TopicID, p.Partition, p.LeaderEpoch, false)
				rp.ErrorCode, rp.ErrorMessage = code, msg
				if code == 0 {
					rp.StateEpoch, rp.LeaderEpoch, rp.StartOffset = st.StateEpoch, leaderEpoch, st.StartOffset
					if st.StartOffset >= 0 {
						rp.DeliveryCompleteCount = int32(min(st.DeliveryCompleteCount(), 1<<31-1))
					}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.WriteShareGroupStateRequest:
		resp := r.ResponseKind().(*kmsg.WriteShareGroupStateResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewWriteShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteShareGroupStateResponseTopicPartition()
				rp.Partition = p.Partition
				st := sharegroup.PartitionState{StateEpoch: p.StateEpoch, StartOffset: p.StartOffset}
				for _, b := range p.StateBatches {
					st.Batches = append(st.Batches, sharegroup.StateBatch{FirstOffset: b.FirstOffset, LastOffset: b.LastOffset,
						DeliveryState: sharegroup.RecordState(b.DeliveryState), DeliveryCount: b.DeliveryCount})
				}
				rp.ErrorCode, rp.ErrorMessage = c.write(ctx, r.GroupID, t.TopicID, p.Partition, p.LeaderEpoch, st)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.DeleteShareGroupStateRequest:
		resp := r.ResponseKind().(*kmsg.DeleteShareGroupStateResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewDeleteShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteShareGroupStateResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode, rp.ErrorMessage = c.delete(ctx, r.GroupID, t.TopicID, p.Partition)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	return nil
}

// read returns a share partition's state (StartOffset -1 if none) and its
// recorded leader epoch. With record set the leader epoch is checked and
// recorded (ReadShareGroupState); without, it is not checked
// (ReadShareGroupStateSummary, which admin requests send with -1).
func (c *Coordinator) read(group string, topicID [16]byte, p, leaderEpoch int32, record bool) (sharegroup.PartitionState, int32, int16, *string) {
	if group == "" {
		return sharegroup.PartitionState{}, 0, kerr.InvalidGroupID.Code, nil
	}
	s, _, code := c.rt.Acquire(Key(group, topicID, p), nil)
	if code != 0 {
		return sharegroup.PartitionState{}, 0, code, nil
	}
	if s == nil {
		return sharegroup.PartitionState{StartOffset: -1}, -1, 0, nil
	}
	defer s.Unlock()
	if !record {
		snap := s.store.Snapshot()
		if len(snap) == 0 {
			return sharegroup.PartitionState{StartOffset: -1}, -1, 0, nil
		}
		return snap[0].State, snap[0].LeaderEpoch, 0, nil
	}
	st, err := s.store.Read(s.key, leaderEpoch)
	if err != nil {
		code, msg := errorOf(err)
		return sharegroup.PartitionState{}, 0, code, msg
	}
	return st, leaderEpoch, 0, nil
}

// initialize is InitializeShareGroupState: a state with the given state
// epoch and start offset and no in-flight records, unless the share
// partition has a state of that state epoch or a later one
// (FENCED_STATE_EPOCH).
func (c *Coordinator) initialize(ctx context.Context, group string, topicID [16]byte, p kmsg.InitializeShareGroupStateRequestTopicPartition) (int16, *string) {
	return c.update(ctx, group, topicID, p.Partition, func(s *state) (sharegroup.ShareRecord, error) {
		leaderEpoch := int32(-1)
		if s.exists {
			cur := s.store.Snapshot()[0]
			leaderEpoch = cur.LeaderEpoch
			if p.StateEpoch <= cur.State.StateEpoch {
				return sharegroup.ShareRecord{}, &sharegroup.Error{Code: kerr.FencedStateEpoch,
					Message: fmt.Sprintf("Initialize state epoch %d is not above the current %d.", p.StateEpoch, cur.State.StateEpoch)}
			}
		}
		if p.StartOffset < 0 {
			return sharegroup.ShareRecord{}, &sharegroup.Error{Code: kerr.InvalidRequest, Message: "Initialize without a start offset."}
		}
		return c.snapshot(s, leaderEpoch, sharegroup.PartitionState{StateEpoch: p.StateEpoch, StartOffset: p.StartOffset})
	})
}

// write is WriteShareGroupState.
func (c *Coordinator) write(ctx context.Context, group string, topicID [16]byte, p, leaderEpoch int32, st sharegroup.PartitionState) (int16, *string) {
	return c.update(ctx, group, topicID, p, func(s *state) (sharegroup.ShareRecord, error) {
		return c.snapshot(s, leaderEpoch, st)
	})
}

// snapshot returns the record that writes st for s: the store decides and
// fences, and the record is made a full snapshot (see the package doc).
func (c *Coordinator) snapshot(s *state, leaderEpoch int32, st sharegroup.PartitionState) (sharegroup.ShareRecord, error) {
	rec, err := s.store.Write(s.key, leaderEpoch, st)
	if err != nil {
		return rec, err
	}
	if rec.Kind == sharegroup.ShareUpdate {
		rec.Kind, rec.SnapshotEpoch, rec.State = sharegroup.ShareSnapshot, rec.SnapshotEpoch+1, st.Clone()
	}
	if s.exists {
		// Keep the highest leader epoch seen (Read records it).
		if cur := s.store.Snapshot(); len(cur) > 0 {
			rec.LeaderEpoch = max(rec.LeaderEpoch, cur[0].LeaderEpoch)
		}
	}
	return rec, nil
}

// delete is DeleteShareGroupState: the state's tombstone. Deleting a
// state that does not exist succeeds.
func (c *Coordinator) delete(ctx context.Context, group string, topicID [16]byte, p int32) (int16, *string) {
	key := Key(group, topicID, p)
	s, _, code := c.rt.Acquire(key, nil)
	switch {
	case group == "":
		if s != nil {
			s.Unlock()
		}
		return kerr.InvalidGroupID.Code, nil
	case code != 0:
		return code, nil
	case s == nil:
		return 0, nil
	}
	defer s.Unlock()
	rec := s.store.Delete(s.key)
	if code, msg := c.append(ctx, s, rec); code != 0 {
		return code, msg
	}
	s.removed = true
	c.rt.Remove(key, s)
	return 0, nil
}

// update decides a record for the share partition's state with decide,
// the state locked, appends it and applies it once durable.
func (c *Coordinator) update(ctx context.Context, group string, topicID [16]byte, p int32, decide func(*state) (sharegroup.ShareRecord, error)) (int16, *string) {
	if group == "" {
		return kerr.InvalidGroupID.Code, nil
	}
	key := Key(group, topicID, p)
	s, created, code := c.rt.Acquire(key, func(part *partition) *state {
		return &state{key: sharegroup.ShareKey{GroupID: group, TopicID: topicID, Partition: p}, part: part}
	})
	if code != 0 {
		return code, nil
	}
	defer s.Unlock()
	drop := func() {
		if created || !s.exists {
			s.removed = true
			c.rt.Remove(key, s)
		}
	}
	rec, err := decide(s)
	if err != nil {
		drop()
		return errorOf(err)
	}
	if code, msg := c.append(ctx, s, rec); code != 0 {
		drop()
		return code, msg
	}
	return 0, nil
}

// append writes rec to the state's partition and applies it once durable.
// The state must be locked: the writes of a share partition are
// serialized.
func (c *Coordinator) append(ctx context.Context, s *state, rec sharegroup.ShareRecord) (int16, *string) {
	kv, err := encode(rec)
	if err != nil {
		return kerr.UnknownServerError.Code, kmsg.StringPtr(err.Error())
	}
	// The partition's context ends the write when the partition is
	// unloaded; the request's when the caller gives up.
	actx, cancel := context.WithCancel(s.part.Ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	if err := s.part.Ext.store.Append(actx, []KV{kv}); err != nil {
		if s.part.Ctx.Err() != nil {
			return kerr.NotCoordinator.Code, nil
		}
		if ctx.Err() != nil {
			return kerr.RequestTimedOut.Code, nil
		}
		c.log.Warn("failed to write share state", "group", s.key.GroupID, "partition", s.key.Partition, "err", err)
		return coordruntime.AppendErrorCode(err, func(*kerr.Error) (int16, bool) { return 0, false }), nil
	}
	if err := s.store.Replay(rec); err != nil {
		// Write decided it: it applies.
		c.log.Error("share state record written but not applied", "group", s.key.GroupID, "err", err)
		return kerr.UnknownServerError.Code, kmsg.StringPtr(err.Error())
	}
	s.exists = !rec.Tombstone
	return 0, nil
}

func errorOf(err error) (int16, *string) {
	if e, ok := errors.AsType[*sharegroup.Error](err); ok {
		return e.Code.Code, kmsg.StringPtr(e.Message)
	}
	if ke, ok := errors.AsType[*kerr.Error](err); ok {
		return ke.Code, nil
	}
	return kerr.UnknownServerError.Code, kmsg.StringPtr(err.Error())
}

// shareSnapshotKeyVersion is the key version of Kafka's ShareSnapshotKey.
const shareSnapshotKeyVersion = 0

// recordKey is Kafka's ShareSnapshotKey: the version, the group ID as an
// int16-length string, the topic ID and the partition.
func recordKey(k sharegroup.ShareKey) []byte {
	b := binary.BigEndian.AppendUint16(nil, shareSnapshotKeyVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(k.GroupID)))
	b = append(b, k.GroupID...)
	b = append(b, k.TopicID[:]...)
	return binary.BigEndian.AppendUint32(b, uint32(k.Partition))
}

func parseKey(b []byte) (sharegroup.ShareKey, error) {
	var k sharegroup.ShareKey
	if len(b) < 4 {
		return k, fmt.Errorf("short key: %d bytes", len(b))
	}
	if v := int16(binary.BigEndian.Uint16(b)); v != shareSnapshotKeyVersion && v != 1 {
		return k, fmt.Errorf("key version %d", v)
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if len(b) != 4+n+16+4 {
		return k, fmt.Errorf("key of %d bytes for a group ID of %d", len(b), n)
	}
	k.GroupID = string(b[4 : 4+n])
	copy(k.TopicID[:], b[4+n:])
	k.Partition = int32(binary.BigEndian.Uint32(b[4+n+16:]))
	return k, nil
}

func encode(rec sharegroup.ShareRecord) (KV, error) {
	kv := KV{Key: recordKey(rec.Key)}
	if rec.Tombstone {
		return kv, nil
	}
	v, err := rec.MarshalBinary()
	if err != nil {
		return KV{}, fmt.Errorf("sharecoord: encode share state: %w", err)
	}
	kv.Value = v
	return kv, nil
}

func decode(key, value []byte) (sharegroup.ShareRecord, error) {
	k, err := parseKey(key)
	if err != nil {
		return sharegroup.ShareRecord{}, err
	}
	if value == nil {
		return sharegroup.ShareRecord{Key: k, Tombstone: true}, nil
	}
	var rec sharegroup.ShareRecord
	if err := rec.UnmarshalBinary(value); err != nil {
		return rec, err
	}
	if rec.Key != k {
		return rec, fmt.Errorf("value of %v under the key of %v", rec.Key, k)
	}
	return rec, nil
}

// ErrorResponse returns the response to a request of the share
// coordinator (see Handles) with code for every partition it names, or
// nil for another request: what a broker answers when it refuses the
// request (CLUSTER_AUTHORIZATION_FAILED).
func ErrorResponse(req kmsg.Request, code int16) kmsg.Response {
	fail := func(string) (int16, *string) { return code, nil }
	switch r := req.(type) {
	case *kmsg.InitializeShareGroupStateRequest:
		resp := r.ResponseKind().(*kmsg.InitializeShareGroupStateResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewInitializeShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewInitializeShareGroupStateResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode, rp.ErrorMessage = fail(r.GroupID)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.ReadShareGroupStateRequest:
		resp := r.ResponseKind().(*kmsg.ReadShareGroupStateResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewReadShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewReadShareGroupStateResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode, rp.ErrorMessage = fail(r.GroupID)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.ReadShareGroupStateSummaryRequest:
		resp := r.ResponseKind().(*kmsg.ReadShareGroupStateSummaryResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewReadShareGroupStateSummaryResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewReadShareGroupStateSummaryResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode, rp.ErrorMessage = fail(r.GroupID)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.WriteShareGroupStateRequest:
		resp := r.ResponseKind().(*kmsg.WriteShareGroupStateResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewWriteShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteShareGroupStateResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode, rp.ErrorMessage = fail(r.GroupID)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.DeleteShareGroupStateRequest:
		resp := r.ResponseKind().(*kmsg.DeleteShareGroupStateResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewDeleteShareGroupStateResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteShareGroupStateResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode, rp.ErrorMessage = fail(r.GroupID)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	return nil
}
