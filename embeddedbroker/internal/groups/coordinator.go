package groups

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/consumergroup"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordruntime"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sharegroup"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka's defaults for the settings a zero Config leaves unset.
const (
	DefaultNumPartitions                 = 50
	DefaultMinSessionTimeout             = 6 * time.Second
	DefaultMaxSessionTimeout             = 30 * time.Minute
	DefaultOffsetsRetention              = 7 * 24 * time.Hour
	DefaultOffsetsRetentionCheckInterval = 10 * time.Minute
	DefaultMaxMetadataSize               = 4096
)

// newMemberJoinTimeout bounds how long a brand new member may sit in a
// JoinGroup that never completes (Kafka's NewMemberJoinTimeoutMs). New
// members cannot heartbeat, so this is their only session timeout.
const newMemberJoinTimeout = 5 * time.Minute

// Config configures a Coordinator. The zero value of every field but
// InitialRebalanceDelay means Kafka's default.
type Config struct {
	// NumPartitions is the number of partitions of __consumer_offsets
	// (offsets.topic.num.partitions, default 50). It must be the value the
	// broker uses for FindCoordinator and must never change for a cluster:
	// it decides which partition holds which group.
	NumPartitions int32

	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: how long
	// the first rebalance of an empty group waits for more members (and
	// keeps waiting while new members keep arriving, up to the rebalance
	// timeout). Zero, the default here, completes the first rebalance as
	// soon as possible; Kafka's default is 3s. A zero delay makes quickly
	// starting consumers go through one extra rebalance each, which is what
	// Kafka's delay exists to avoid.
	InitialRebalanceDelay time.Duration

	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// member may ask for (group.min/max.session.timeout.ms, 6s and 30min);
	// joins outside answer INVALID_SESSION_TIMEOUT.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration

	// OffsetsRetention is offsets.retention.minutes (7 days, KIP-211):
	// committed offsets of an Empty group expire this long after the group
	// became Empty; offsets of groups that never used group management
	// expire this long after their commit; a Stable consumer group loses the
	// offsets of topics it no longer subscribes to this long after their
	// commit.
	OffsetsRetention time.Duration

	// OffsetsRetentionCheckInterval is how often expired offsets are looked
	// for (offsets.retention.check.interval.ms, 10 minutes).
	OffsetsRetentionCheckInterval time.Duration

	// MaxGroupSize is group.max.size (unlimited by default): joins past it
	// answer GROUP_MAX_SIZE_REACHED.
	MaxGroupSize int

	// MaxMetadataSize is offset.metadata.max.bytes (4096): commits with
	// longer metadata answer OFFSET_METADATA_TOO_LARGE.
	MaxMetadataSize int

	// Topics, if set, lets OffsetCommit answer UNKNOWN_TOPIC_OR_PARTITION
	// for partitions that do not exist (as Kafka does) and resolves topic
	// IDs for OffsetCommit/OffsetFetch v10. If nil every partition is taken
	// to exist and v10 requests answer UNKNOWN_TOPIC_ID.
	Topics Topics

	// Consumer configures the consumer groups of KIP-848 (session
	// timeout, heartbeat interval, maximum size, assignors); its zero
	// value is Kafka's defaults. Its Logger is the coordinator's.
	Consumer consumergroup.Config

	// Share configures the share groups of KIP-932 (session timeout,
	// heartbeat interval, maximum size); its zero value is Kafka's
	// defaults. Its Logger is the coordinator's.
	Share sharegroup.Config

	// ShareGroupConfig, if set, returns the configuration of one share
	// group (its dynamic group configs over Share), read when the group
	// is created or loaded. Its Logger is the coordinator's.
	ShareGroupConfig func(groupID string) sharegroup.Config

	// SharePersister is the share coordinator, for the share group
	// offset admin APIs (share_admin.go); without it they report no
	// state and refuse changes.
	SharePersister SharePersister

	// ShareMembersGone, if set, is called (on a goroutine of its own, with
	// no lock held) with the members a share group lost, by leaving or by
	// session expiry, once that is durable: the partition leaders release
	// the records these members hold.
	ShareMembersGone func(groupID string, memberIDs []string)

	// Now is the clock used for commit timestamps, group state timestamps
	// and offset expiration (time.Now by default). Timers (session and
	// rebalance timeouts) always use the real clock.
	Now func() time.Time
}

// Topics answers the coordinator's questions about the cluster's topics.
// Its methods are called with a group's lock held and must not call back
// into the Coordinator.
type Topics interface {
	// PartitionExists reports whether the topic exists and has the partition.
	PartitionExists(topic string, partition int32) bool
	// TopicName returns the name of the topic with the given ID.
	TopicName(id [16]byte) (string, bool)
	// TopicID returns the ID of the named topic.
	TopicID(name string) ([16]byte, bool)
	// Subscribable returns the topics a consumer group member may
	// subscribe to (ConsumerGroupHeartbeat), for the request whose
	// context ctx is: every topic, internal ones included as in Kafka,
	// that the request's principal may describe.
	Subscribable(ctx context.Context) consumergroup.TopicMetadata
}

func (cfg Config) withDefaults() Config {
	coordruntime.OrDefault(&cfg.NumPartitions, DefaultNumPartitions)
	if cfg.InitialRebalanceDelay < 0 {
		cfg.InitialRebalanceDelay = 0
	}
	coordruntime.OrDefault(&cfg.MinSessionTimeout, DefaultMinSessionTimeout)
	coordruntime.OrDefault(&cfg.MaxSessionTimeout, DefaultMaxSessionTimeout)
	coordruntime.OrDefault(&cfg.OffsetsRetention, DefaultOffsetsRetention)
	coordruntime.OrDefault(&cfg.OffsetsRetentionCheckInterval, DefaultOffsetsRetentionCheckInterval)
	if cfg.MaxGroupSize <= 0 {
		cfg.MaxGroupSize = math.MaxInt32
	}
	coordruntime.OrDefault(&cfg.MaxMetadataSize, DefaultMaxMetadataSize)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// KV is one record of __consumer_offsets: a key and a value, a nil Value
// being a tombstone.
type KV struct{ Key, Value []byte }

// Store persists one partition of __consumer_offsets; the broker implements
// it.
//
// Append writes the records, in order, as one batch (Kafka writes each
// coordinator change as one batch, so that it is applied all or nothing) and
// returns once they are durable: replicated to every in-sync replica, as a
// produce with acks=all. Append must honour ctx: it is cancelled when the
// partition is unloaded or the coordinator closed, and Close waits for
// Appends in flight.
//
// An error tells the coordinator the records are not (known to be) written.
// Return a *kerr.Error where one fits: NOT_LEADER_OR_FOLLOWER and
// KAFKA_STORAGE_ERROR make clients look for the coordinator again
// (NOT_COORDINATOR), NOT_ENOUGH_REPLICAS and UNKNOWN_TOPIC_OR_PARTITION make
// them retry (COORDINATOR_NOT_AVAILABLE), REQUEST_TIMED_OUT and
// context.DeadlineExceeded are timeouts, MESSAGE_TOO_LARGE is a commit too
// large. Any other error answers COORDINATOR_NOT_AVAILABLE.
//
// AppendTxn is Append for the records of a transactional offset commit
// (TxnOffsetCommit): it writes them as one transactional batch stamped with
// the producer's ID and epoch (base sequence -1), so that they belong to the
// producer's open transaction, which a commit or abort marker later ends
// (see [Coordinator.CompleteTxn]). Errors are as for Append; the producer
// errors of a transactional produce (INVALID_PRODUCER_EPOCH,
// PRODUCER_FENCED, INVALID_TXN_STATE...) are answered to the client as is.
type Store interface {
	Append(ctx context.Context, recs []KV) error
	AppendTxn(ctx context.Context, producerID int64, producerEpoch int16, recs []KV) error
}

// LogRecord is one record of a partition of __consumer_offsets as the
// replay function of [Coordinator.Load] passes it: every record of the log,
// in offset order, with what the coordinator needs to know of its batch.
type LogRecord struct {
	// Key and Value are the record's; a nil Value is a tombstone.
	Key, Value []byte
	// ProducerID is the producer ID of the record's batch, -1 if none.
	ProducerID int64
	// Transactional is set for the records of transactional batches:
	// offsets a TxnOffsetCommit wrote, pending until a marker of the
	// producer follows, and the markers themselves.
	Transactional bool
	// Control is set for control records: Key is then a
	// kmsg.ControlRecordKey (type 0 aborts the producer's transaction, 1
	// commits it) and Value its kmsg.EndTxnMarker.
	Control bool
}

// Coordinator is the group coordinator of one broker. Create it with New;
// it is safe for concurrent use.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	// rt owns the loaded partitions of __consumer_offsets and their
	// groups; its goroutines are the writers and the expiration loop.
	rt *coordruntime.Runtime[partExt, *group]

	// pos orders the offset records of a group as the log does (see
	// offsetValue.pos): the writes of a group are appended one after the
	// other, and each takes the next value when it is done.
	pos atomic.Int64
}

// partition is one loaded (or loading) partition of __consumer_offsets.
type partition = coordruntime.Partition[partExt]

// partExt is what the coordinator keeps for a partition of
// __consumer_offsets.
type partExt struct {
	store Store
	// replay reads the partition's log again (see Load): a consumer
	// group whose write failed is rebuilt from it.
	replay func(fn func(LogRecord) error) error
	// deferred holds the transaction completions heard while the
	// partition loads (guarded by the runtime's lock); Load applies them.
	deferred []txnCompletion
}

// txnCompletion is a transaction marker of a producer.
type txnCompletion struct {
	producerID int64
	commit     bool
}

// New returns a coordinator that owns no partition yet. It starts the
// offset expiration loop, which runs until Close. A nil logger discards.
func New(cfg Config, logger *slog.Logger) *Coordinator {
	cfg = cfg.withDefaults()
	rt := coordruntime.New[partExt, *group]("groups", cfg.NumPartitions, logger)
	c := &Coordinator{cfg: cfg, log: rt.Logger(), rt: rt}
	c.rt.Every(cfg.OffsetsRetentionCheckInterval, c.expireOffsets)
	return c
}

// PartitionFor returns the partition of __consumer_offsets that holds the
// group under this coordinator's configured partition count.
func (c *Coordinator) PartitionFor(groupID string) int32 {
	return c.rt.PartitionFor(groupID)
}

// Load makes the coordinator own partition p of __consumer_offsets. It
// replays the partition's records through replay, which must call fn for
// every record of the partition's log in offset order, control records
// (transaction markers) and records of aborted transactions included (see
// [LogRecord]), rebuilds the groups and their committed offsets and then
// serves them. While it replays, requests for the partition's groups
// answer COORDINATOR_LOAD_IN_PROGRESS.
//
// As Kafka's GroupMetadataManager does, offsets of transactional batches
// are kept pending for their producer until a marker of that producer
// follows: a commit marker makes them committed (unless a later commit of
// the partition is already there), an abort marker drops them. Offsets whose
// marker is not in the log yet stay pending after the load, until
// [Coordinator.CompleteTxn] hears of it.
//
// New writes for the partition go through store. Loaded groups that have
// members come back Stable, with fresh session timers: members that are
// gone are expired after their session timeout, as in Kafka.
//
// Load returns ErrAlreadyLoaded if p is loaded or loading, ErrUnloaded if p
// was unloaded during the replay, and replay's error (after which p is not
// loaded).
func (c *Coordinator) Load(ctx context.Context, p int32, store Store, replay func(fn func(LogRecord) error) error) error {
	if store == nil || replay == nil {
		return fmt.Errorf("groups: load partition %d: nil store or replay", p)
	}
	start := time.Now()
	var ld *loader
	groups, err := c.rt.Load(ctx, p, 0, partExt{store: store, replay: replay}, func(part *partition) (map[string]*group, error) {
		ld = newLoader(c, part)
		if err := replay(ld.apply); err != nil {
			return nil, err
		}
		return ld.build(), nil
	}, func(part *partition, groups map[string]*group) {
		// Markers appended while the partition loaded: the replay may or
		// may not have seen them, and applying one twice does nothing.
		// The groups are not reachable by anyone else yet, so their locks
		// are not needed.
		for _, d := range part.Ext.deferred {
			for _, g := range groups {
				g.completeTxn(d.producerID, d.commit)
			}
		}
		part.Ext.deferred = nil
	})
	if err != nil {
		return err
	}
	for _, g := range groups {
		g.mu.Lock()
		if !g.removed {
			g.onLoaded()
		}
		g.mu.Unlock()
	}
	c.log.Info("loaded group coordinator partition", "partition", p, "groups", len(groups),
		"records", ld.records, "skipped", ld.skipped, "elapsed", time.Since(start))
	return nil
}

// CompleteTxn completes the transactional offset commits (TxnOffsetCommit)
// of a producer in partition p of __consumer_offsets. The broker calls it
// once the producer's transaction marker is appended to that partition, as
// Kafka's GroupCoordinator.onTransactionCompleted: on commit the offsets the
// producer committed in the transaction to any group of the partition
// become the groups' committed offsets (each unless the group committed the
// partition again later in the log, as Kafka keeps the commit with the
// larger log position); on abort they are dropped. That includes offsets
// whose write is still waiting for replication: their records precede the
// marker in the log (a well-behaved producer ends its transaction only
// after its TxnOffsetCommit was answered, so this happens only when the
// coordinator aborts or fences a transaction under it).
//
// For a partition that is not loaded it does nothing; for one that is
// loading, the completion is applied when the load completes.
func (c *Coordinator) CompleteTxn(p int32, producerID int64, commit bool) {
	var part *partition
	loaded := c.rt.WithPartition(p, func(pt *partition, loading bool) {
		if loading {
			pt.Ext.deferred = append(pt.Ext.deferred, txnCompletion{producerID, commit})
			return
		}
		part = pt
	})
	if !loaded || part == nil {
		return
	}
	gs, _, _ := c.rt.Items(part)
	for _, g := range gs {
		g.mu.Lock()
		if !g.removed && g.state != stateDead && g.completeTxn(producerID, commit) {
			g.maybeDropUnused()
		}
		g.mu.Unlock()
	}
}

// Unload gives up partition p: its groups are dropped from memory, members
// waiting in JoinGroup or SyncGroup are answered NOT_COORDINATOR, and later
// requests for them answer NOT_COORDINATOR so that clients look for the new
// coordinator. Appends in flight are cancelled through their context.
// Unloading a partition that is not loaded does nothing.
func (c *Coordinator) Unload(p int32) {
	if n, ok := c.rt.Unload(p, (*group).unload); ok {
		c.log.Info("unloaded group coordinator partition", "partition", p, "groups", n)
	}
}

// Close unloads every partition, stops the expiration loop and waits for
// Appends in flight (whose contexts it cancels). Requests handled after
// Close answer NOT_COORDINATOR.
func (c *Coordinator) Close() { c.rt.Close(c.Unload) }

// Handles reports whether Handle serves requests with the given API key.
func Handles(key int16) bool {
	switch kmsg.Key(key) {
	case kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.LeaveGroup,
		kmsg.OffsetCommit, kmsg.OffsetFetch, kmsg.ListGroups, kmsg.DescribeGroups,
		kmsg.DeleteGroups, kmsg.OffsetDelete, kmsg.TxnOffsetCommit,
		kmsg.ConsumerGroupHeartbeat, kmsg.ConsumerGroupDescribe,
		kmsg.ShareGroupHeartbeat, kmsg.ShareGroupDescribe,
		kmsg.DescribeShareGroupOffsets, kmsg.AlterShareGroupOffsets, kmsg.DeleteShareGroupOffsets:
		return true
	}
	return false
}

// Handle serves one request of the group protocols and returns its
// response, of the request's version: JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups,
// DeleteGroups, OffsetDelete and TxnOffsetCommit, every version kmsg knows,
// and the KIP-848 consumer group protocol's ConsumerGroupHeartbeat and
// ConsumerGroupDescribe, and KIP-932's ShareGroupHeartbeat,
// ShareGroupDescribe (share.go), DescribeShareGroupOffsets,
// AlterShareGroupOffsets and DeleteShareGroupOffsets (share_admin.go). It returns nil for any other request (see
// Handles).
//
// ConsumerGroupHeartbeat blocks until the records of the state change it
// made are durable. JoinGroup and SyncGroup block until the rebalance step they wait for
// completes, which may take up to the group's rebalance timeout; OffsetCommit,
// TxnOffsetCommit, DeleteGroups and OffsetDelete block until their records
// are durable. If
// ctx ends first, Handle returns an error response (COORDINATOR_NOT_AVAILABLE,
// or REQUEST_TIMED_OUT for commits) without undoing anything: like Kafka,
// a JoinGroup whose caller went away still counts as joined, and the member
// is expired if it does not come back. Cancel ctx when the client's
// connection closes so that no goroutine waits for nothing.
//
// The client's ID and host, which JoinGroup records for each member, are
// taken from ctx (see WithClient).
//
// Groups whose partition is not loaded answer NOT_COORDINATOR; while the
// partition loads, COORDINATOR_LOAD_IN_PROGRESS, except that Heartbeat then
// answers success and SyncGroup REBALANCE_IN_PROGRESS, as in Kafka (older
// clients do not expect the loading error there).
func (c *Coordinator) Handle(ctx context.Context, req kmsg.Request) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		return c.handleJoin(ctx, r)
	case *kmsg.SyncGroupRequest:
		return c.handleSync(ctx, r)
	case *kmsg.HeartbeatRequest:
		return c.handleHeartbeat(ctx, r)
	case *kmsg.LeaveGroupRequest:
		return c.handleLeave(r)
	case *kmsg.OffsetCommitRequest:
		return c.handleOffsetCommit(ctx, r)
	case *kmsg.OffsetFetchRequest:
		return c.handleOffsetFetch(r)
	case *kmsg.ListGroupsRequest:
		return c.handleListGroups(r)
	case *kmsg.DescribeGroupsRequest:
		return c.handleDescribeGroups(r)
	case *kmsg.DeleteGroupsRequest:
		return c.handleDeleteGroups(ctx, r)
	case *kmsg.OffsetDeleteRequest:
		return c.handleOffsetDelete(ctx, r)
	case *kmsg.TxnOffsetCommitRequest:
		return c.handleTxnOffsetCommit(ctx, r)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		if resp := c.refuseShareGroup(r); resp != nil {
			return resp
		}
		return c.handleConsumerGroupHeartbeat(ctx, r)
	case *kmsg.ConsumerGroupDescribeRequest:
		return c.handleConsumerGroupDescribe(ctx, r)
	case *kmsg.ShareGroupHeartbeatRequest:
		return c.handleShareGroupHeartbeat(ctx, r)
	case *kmsg.ShareGroupDescribeRequest:
		return c.handleShareGroupDescribe(ctx, r)
	case *kmsg.DescribeShareGroupOffsetsRequest:
		return c.handleDescribeShareGroupOffsets(ctx, r)
	case *kmsg.AlterShareGroupOffsetsRequest:
		return c.handleAlterShareGroupOffsets(ctx, r)
	case *kmsg.DeleteShareGroupOffsetsRequest:
		return c.handleDeleteShareGroupOffsets(ctx, r)
	}
	return nil
}

type clientKey struct{}

type clientInfo struct{ id, host string }

// WithClient returns a context carrying the identity of the connection a
// request came from: the client ID of the request header and the client's
// host. Kafka reports the host as Java's InetAddress.toString does, a slash
// and the IP address ("/127.0.0.1"); DescribeGroups shows it as is.
func WithClient(ctx context.Context, clientID, clientHost string) context.Context {
	return context.WithValue(ctx, clientKey{}, clientInfo{clientID, clientHost})
}

func clientFrom(ctx context.Context) clientInfo {
	ci, _ := ctx.Value(clientKey{}).(clientInfo)
	return ci
}

// status reports whether the coordinator serves the group's partition: 0,
// NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) status(groupID string) int16 {
	_, code := c.rt.Serving(groupID)
	return code
}

// acquire returns the group, locked, or a nil group if it does not exist
// and create is false. The code is non-zero (NOT_COORDINATOR or
// COORDINATOR_LOAD_IN_PROGRESS) if the group's partition is not served.
// Groups removed from the coordinator while acquire waited for their lock
// are looked up again.
func (c *Coordinator) acquire(groupID string, create bool) (*group, int16) {
	var mk func(*partition) *group
	if create {
		mk = func(part *partition) *group { return newGroup(c, groupID, part) }
	}
	g, _, code := c.rt.Acquire(groupID, mk)
	return g, code
}

// snapshot returns the groups of loaded partitions and whether any
// partition is still loading.
func (c *Coordinator) snapshot() ([]*group, bool) {
	gs, loading, _ := c.rt.Items(nil)
	return gs, loading
}

func (c *Coordinator) nowMs() int64 { return c.cfg.Now().UnixMilli() }

// storeErrCode maps an Append error to the error code Kafka answers for a
// failed write: commit is true for offset commits, false for group metadata.
func storeErrCode(err error, commit bool) int16 {
	return coordruntime.AppendErrorCode(err, func(ke *kerr.Error) (int16, bool) {
		switch ke {
		case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
			if commit {
				return kerr.InvalidCommitOffsetSize.Code, true
			}
			return kerr.UnknownServerError.Code, true
		case kerr.RequestTimedOut:
			if commit {
				return kerr.RequestTimedOut.Code, true
			}
			return kerr.RebalanceInProgress.Code, true
		}
		return 0, false
	})
}
