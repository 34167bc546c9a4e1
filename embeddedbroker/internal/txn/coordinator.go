package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordruntime"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka's defaults for the settings a zero Config leaves unset.
const (
	DefaultNumPartitions     = 50
	DefaultMaxTimeout        = 15 * time.Minute
	DefaultAbortInterval     = time.Second
	DefaultIDExpiration      = 7 * 24 * time.Hour
	DefaultOffsetsPartitions = 50
	DefaultRetryBackoff      = 100 * time.Millisecond
)

// maxRetryBackoff caps the exponential backoff of marker and completion
// retries.
const maxRetryBackoff = 5 * time.Second

// consumerOffsetsTopic is the topic AddOffsetsToTxn adds a partition of.
const consumerOffsetsTopic = "__consumer_offsets"

// Config configures a Coordinator. The zero value of every field but
// AllocateProducerID and Markers means Kafka's default.
type Config struct {
	// NumPartitions is the number of partitions of __transaction_state
	// (transaction.state.log.num.partitions, default 50). It must be the
	// value the broker uses for FindCoordinator and must never change for a
	// cluster.
	NumPartitions int32

	// MaxTimeout is transaction.max.timeout.ms (15 minutes):
	// InitProducerID asking for a longer (or a non-positive) transaction
	// timeout answers INVALID_TRANSACTION_TIMEOUT.
	MaxTimeout time.Duration

	// AbortInterval is how often transactions that outlived their timeout
	// are looked for and aborted
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms; Kafka's
	// default is 10s, this package's 1s).
	AbortInterval time.Duration

	// IDExpiration is transactional.id.expiration.ms (7 days): a
	// transactional ID without a transaction in progress whose state has
	// not changed for this long is forgotten (a tombstone in
	// __transaction_state), so that applications that make up a new ID per
	// process do not grow the coordinator forever. Checked with the
	// timeouts, every AbortInterval.
	IDExpiration time.Duration

	// OffsetsPartitions is the number of partitions of __consumer_offsets,
	// which AddOffsetsToTxn needs to find the group's partition (default 50).
	OffsetsPartitions int32

	// AllocateProducerID returns a producer ID no other producer of the
	// cluster has. It is required.
	AllocateProducerID func(ctx context.Context) (int64, error)

	// Markers writes the transaction markers. It is required.
	Markers MarkerWriter

	// PartitionExists, if set, lets AddPartitionsToTxn answer
	// UNKNOWN_TOPIC_OR_PARTITION for partitions that do not exist (and
	// OPERATION_NOT_ATTEMPTED for the others of the request), as Kafka does.
	// If nil every partition is taken to exist. It is called without any
	// lock held.
	PartitionExists func(topic string, partition int32) bool

	// RetryBackoff is the first delay between retries of a failed marker
	// write or a failed completion record (retry.backoff.ms, 100ms); it
	// doubles up to 5s.
	RetryBackoff time.Duration

	// Now is the clock for the transactions' timestamps and timeouts
	// (time.Now if nil). The abort loop's ticker always uses the real clock.
	Now func() time.Time
}

func (cfg Config) withDefaults() Config {
	coordruntime.OrDefault(&cfg.NumPartitions, DefaultNumPartitions)
	coordruntime.OrDefault(&cfg.MaxTimeout, DefaultMaxTimeout)
	coordruntime.OrDefault(&cfg.AbortInterval, DefaultAbortInterval)
	coordruntime.OrDefault(&cfg.IDExpiration, DefaultIDExpiration)
	coordruntime.OrDefault(&cfg.OffsetsPartitions, DefaultOffsetsPartitions)
	coordruntime.OrDefault(&cfg.RetryBackoff, DefaultRetryBackoff)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// MarkerWriter writes transaction markers; the broker implements it by
// sending WriteTxnMarkers to each partition's leader.
type MarkerWriter interface {
	// WriteMarkers appends a commit or abort marker for the producer to
	// every partition of m and returns once all are written and
	// replicated, or an error: the coordinator then retries, with a
	// backoff, until it succeeds or the partition of __transaction_state
	// is unloaded or the coordinator closed (which cancel ctx). If the
	// error is (or wraps) a PartitionErrors, only its partitions are
	// retried, except those refused because the producer or the
	// coordinator epoch moved on (INVALID_PRODUCER_EPOCH,
	// TRANSACTION_COORDINATOR_FENCED), which are given up, as Kafka does;
	// any other error retries every partition. Like Kafka, an
	// implementation should treat partitions whose topic was deleted as
	// written; otherwise the transactional ID stays stuck retrying.
	WriteMarkers(ctx context.Context, m Markers) error
}

// PartitionErrors is the error of a MarkerWriter that wrote the markers of
// some partitions only: those failed, with the error of each.
type PartitionErrors map[string]map[int32]error

// Error lists the failed partitions.
func (e PartitionErrors) Error() string {
	var b strings.Builder
	b.WriteString("transaction markers failed:")
	topics := make([]string, 0, len(e))
	for t := range e {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	for _, t := range topics {
		ps := make([]int32, 0, len(e[t]))
		for p := range e[t] {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		for _, p := range ps {
			fmt.Fprintf(&b, " %s[%d]: %v;", t, p, e[t][p])
		}
	}
	return strings.TrimSuffix(b.String(), ";")
}

// retry returns the partitions of m to write again after err, nil when
// none is left.
func retryPartitions(m map[string][]int32, err error) map[string][]int32 {
	var pe PartitionErrors
	if !errors.As(err, &pe) {
		return m
	}
	out := map[string][]int32{}
	for t, ps := range pe {
		for p, perr := range ps {
			if errors.Is(perr, kerr.InvalidProducerEpoch) || errors.Is(perr, kerr.TransactionCoordinatorFenced) {
				continue // the transaction moved on without this coordinator
			}
			out[t] = append(out[t], p)
		}
	}
	for t := range out {
		slices.Sort(out[t])
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Markers is one WriteMarkers call.
type Markers struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	Partitions       map[string][]int32
}

// Store persists a __transaction_state partition's records, acknowledged
// like an acks=all produce: Append returns once the records are replicated
// to every in-sync replica. Append must honour ctx, which is cancelled when
// the partition is unloaded or the coordinator closed; Close waits for
// Appends in flight.
//
// Return a *kerr.Error where one fits: NOT_LEADER_OR_FOLLOWER and
// KAFKA_STORAGE_ERROR answer NOT_COORDINATOR (the client looks for the
// coordinator again), NOT_ENOUGH_REPLICAS, UNKNOWN_TOPIC_OR_PARTITION and
// REQUEST_TIMED_OUT answer COORDINATOR_NOT_AVAILABLE (retried), as in
// Kafka. Other errors answer COORDINATOR_NOT_AVAILABLE.
type Store interface {
	Append(ctx context.Context, recs []KV) error
}

// KV is one record: a key and a value (nil value: a tombstone).
type KV struct{ Key, Value []byte }

// Coordinator is the transaction coordinator of one broker. Create it with
// New; it is safe for concurrent use.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	// rt owns the loaded partitions of __transaction_state and their
	// transactional IDs; its goroutines are the writers, the marker
	// writers and the abort loop.
	rt *coordruntime.Runtime[partExt, *txn]
}

// partition is one loaded (or loading) partition of __transaction_state;
// its Epoch is the coordinator epoch (the partition's leader epoch).
type partition = coordruntime.Partition[partExt]

// partExt is what the coordinator keeps for a partition of
// __transaction_state.
type partExt struct {
	store Store

	wmu  *sync.Mutex   // guards tail; taken with a txn locked, never the other way round
	tail chan struct{} // closed once the last started Append returned
}

// New returns a coordinator that owns no partition yet. It starts the loop
// that aborts timed out transactions, which runs until Close. A nil logger
// discards.
func New(cfg Config, logger *slog.Logger) *Coordinator {
	cfg = cfg.withDefaults()
	rt := coordruntime.New[partExt, *txn]("txn", cfg.NumPartitions, logger)
	c := &Coordinator{cfg: cfg, log: rt.Logger(), rt: rt}
	c.rt.Every(cfg.AbortInterval, c.abortTimedOut)
	return c
}

// PartitionFor returns the partition of __transaction_state that holds the
// transactional ID under this coordinator's configured partition count.
func (c *Coordinator) PartitionFor(transactionalID string) int32 {
	return c.rt.PartitionFor(transactionalID)
}

// Load makes the coordinator own partition p of __transaction_state at
// coordinatorEpoch (the partition's leader epoch, sent with the markers).
// It replays the partition's records through replay, which must call fn
// for every record of the partition's log in offset order (a nil value is a
// tombstone), rebuilds the transactions' state (the last record of each
// transactional ID wins) and then serves them: transactions found in
// PrepareCommit or PrepareAbort are completed (their markers written, then
// CompleteCommit or CompleteAbort persisted) in the background, and Ongoing
// transactions time out from their recorded start. While it replays,
// requests for the partition's IDs answer COORDINATOR_LOAD_IN_PROGRESS.
//
// Load returns ErrAlreadyLoaded if p is loaded or loading, ErrUnloaded if p
// was unloaded during the replay, and replay's or ctx's error (after which p
// is not loaded).
func (c *Coordinator) Load(ctx context.Context, p int32, coordinatorEpoch int32, store Store, replay func(fn func(key, value []byte) error) error) error {
	if store == nil || replay == nil {
		return fmt.Errorf("txn: load partition %d: nil store or replay", p)
	}
	start := time.Now()
	var ld *loader
	txns, err := c.rt.Load(ctx, p, coordinatorEpoch, partExt{store: store, wmu: new(sync.Mutex)}, func(part *partition) (map[string]*txn, error) {
		ld = &loader{c: c, part: part, txns: make(map[string]*txn)}
		if err := replay(ld.apply); err != nil {
			return nil, err
		}
		return ld.txns, nil
	}, nil)
	if err != nil {
		return err
	}
	completing := 0
	for _, t := range txns {
		t.mu.Lock()
		if !t.removed && t.pending == nil && (t.state == statePrepareCommit || t.state == statePrepareAbort) {
			c.startCompleteLocked(t)
			completing++
		}
		t.mu.Unlock()
	}
	c.log.Info("loaded transaction coordinator partition", "partition", p, "epoch", coordinatorEpoch,
		"transactional_ids", len(txns), "completing", completing, "records", ld.records,
		"skipped", ld.skipped, "elapsed", time.Since(start))
	return nil
}

// Unload gives up partition p: its transactional IDs are dropped from
// memory and later requests for them answer NOT_COORDINATOR. Appends and
// marker writes in flight are cancelled through their context; the new
// coordinator completes whatever they left half-way when it loads the
// partition. Unloading a partition that is not loaded does nothing.
func (c *Coordinator) Unload(p int32) {
	if n, ok := c.rt.Unload(p, func(t *txn) { t.removed = true }); ok {
		c.log.Info("unloaded transaction coordinator partition", "partition", p, "transactional_ids", n)
	}
}

// Close unloads every partition, stops the abort loop and waits for the
// Appends and marker writes in flight (whose contexts it cancels).
// Requests handled after Close answer NOT_COORDINATOR.
func (c *Coordinator) Close() { c.rt.Close(c.Unload) }

// Handles reports whether Handle serves requests with the given API key:
// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, DescribeTransactions and
// ListTransactions. InitProducerID is not included: the broker handles
// InitProducerID without a transactional ID itself and passes Handle only
// those with one.
func Handles(key int16) bool {
	switch kmsg.Key(key) {
	case kmsg.AddPartitionsToTxn, kmsg.AddOffsetsToTxn, kmsg.EndTxn,
		kmsg.DescribeTransactions, kmsg.ListTransactions:
		return true
	}
	return false
}

// Handle serves one request and returns its response, of the request's
// version: InitProducerID with a non-nil TransactionalID,
// AddPartitionsToTxn (v0-v3 from clients, and the v4+ broker form),
// AddOffsetsToTxn, EndTxn, DescribeTransactions and ListTransactions. It
// returns nil for any other request, including InitProducerID without a
// transactional ID.
//
// Handle blocks until the state change it makes is durable (and, for
// InitProducerID, until a producer ID is allocated). If ctx ends first it
// answers COORDINATOR_NOT_AVAILABLE (retried by clients) without undoing
// anything: the state change still completes.
func (c *Coordinator) Handle(ctx context.Context, req kmsg.Request) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		if r.TransactionalID == nil {
			return nil
		}
		return c.handleInitProducerID(ctx, r)
	case *kmsg.AddPartitionsToTxnRequest:
		return c.handleAddPartitions(ctx, r)
	case *kmsg.AddOffsetsToTxnRequest:
		return c.handleAddOffsets(ctx, r)
	case *kmsg.EndTxnRequest:
		return c.handleEndTxn(ctx, r)
	case *kmsg.DescribeTransactionsRequest:
		return c.handleDescribe(r)
	case *kmsg.ListTransactionsRequest:
		return c.handleList(r)
	}
	return nil
}

// acquire returns the ID's state, locked, or nil if the ID is unknown. The
// code is non-zero (NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS) if the
// ID's partition is not served.
func (c *Coordinator) acquire(id string) (*txn, int16) {
	t, _, code := c.rt.Acquire(id, nil)
	return t, code
}

// acquireOrCreate is acquire, creating the ID's state (with producer ID
// pid, epoch -1, Empty, not yet persisted, as Kafka does) if it is unknown.
// created reports whether pid was used.
func (c *Coordinator) acquireOrCreate(id string, pid int64, timeoutMs int32) (t *txn, created bool, code int16) {
	return c.rt.Acquire(id, func(part *partition) *txn { return newTxn(id, part, pid, timeoutMs) })
}

func (c *Coordinator) nowMs() int64 { return c.cfg.Now().UnixMilli() }

// write appends recs to the partition's store after every Append started
// before it returned, so that one partition's records are appended in the
// order their writes were started. done is called with the Append's error
// once it returned. Call write with the transaction locked, at the moment
// of the state change, so that the order is the order of the changes.
func (c *Coordinator) write(part *partition, recs []KV, done func(err error)) {
	x := &part.Ext
	x.wmu.Lock()
	prev := x.tail
	tail := make(chan struct{})
	x.tail = tail
	x.wmu.Unlock()
	c.rt.Go(func() {
		if prev != nil {
			<-prev
		}
		err := x.store.Append(part.Ctx, recs)
		close(tail)
		done(err)
	})
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func nextBackoff(d time.Duration) time.Duration {
	d *= 2
	if d > maxRetryBackoff {
		d = maxRetryBackoff
	}
	return d
}

// storeErrCode maps an Append error to the error code Kafka's
// TransactionStateManager.appendTransactionToLog answers.
func storeErrCode(err error) int16 {
	return coordruntime.AppendErrorCode(err, func(ke *kerr.Error) (int16, bool) {
		switch ke {
		case kerr.RequestTimedOut:
			return kerr.CoordinatorNotAvailable.Code, true
		case kerr.MessageTooLarge, kerr.RecordListTooLarge:
			return kerr.UnknownServerError.Code, true
		}
		return 0, false
	})
}

// allocErrCode maps an AllocateProducerID error to a response code.
func allocErrCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}
