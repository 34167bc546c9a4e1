package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaboot/kafkaboot/internal/connwatch"
	"github.com/kafkaboot/kafkaboot/internal/telemetry"
	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/serde"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	// ErrNotRunning is returned by operations that need a running container.
	ErrNotRunning = errors.New("container: not running")
	// ErrNotAssigned is returned by seeks on partitions the container does
	// not currently own.
	ErrNotAssigned = errors.New("container: partition not assigned")
	// ErrInvalidContainer wraps configuration errors returned by New.
	ErrInvalidContainer = errors.New("container: invalid container")
)

type tp struct {
	topic     string
	partition int32
}

// Container runs one listener endpoint: Concurrency group members (one kgo
// client each, all in the listener's group, like Spring's
// ConcurrentMessageListenerContainer with N KafkaMessageListenerContainers),
// each with a poll loop and one worker goroutine per assigned partition.
// See the package documentation for the processing and commit guarantees.
//
// A Container may be started again after Stop. Its methods are safe for
// concurrent use.
type Container struct {
	ep     *listener.Endpoint
	inv    *listener.Invoker
	id     string
	group  string
	direct bool
	// gp is the protocol the members join the group with.
	gp groupProtocol
	// share is set for a share listener (see share.go); shareCur is its
	// running cycle.
	share    bool
	shareCur atomic.Pointer[shareRun]
	ackMode  listener.AckMode
	// ordering and lanes: records of a partition on lanes goroutines
	// (ordering=key or none), 1 with partition ordering.
	ordering  listener.Ordering
	lanes     int
	ackCount  int
	ackTime   time.Duration
	maxPoll   int
	members   int
	assign    [][]listener.TopicPartition // direct: partitions per member
	eh        *ErrorHandler
	recoverer Recoverer
	deser     listener.Deserializer
	ser       listener.Serializer
	pub       Publisher
	log       *slog.Logger
	o         options

	lifecycle sync.Mutex // serializes Start and Stop
	cur       atomic.Pointer[run]

	paused      atomic.Bool
	pmu         sync.Mutex
	pausedParts map[string]map[int32]bool

	lastRecord atomic.Int64 // unix nanos of the last non-empty poll

	state   atomic.Int32 // a State; StatePaused is derived from paused
	failure atomic.Pointer[error]
	// failing is set while the container stops on an error it cannot
	// recover from (failFatal).
	failing atomic.Bool

	tel *telemetry.Consumer // metrics and tracing; does nothing when off

	// retry: the listener's retry topics, nil without.
	retry *retryPlan
	// tx: the listener runs in transactions, each member with the
	// transactional id txPrefix+id+"-"+member.
	tx       bool
	txPrefix string
}

// run is the state of one Start..Stop cycle.
type run struct {
	members    []*member
	hardCtx    context.Context // handler context: cancelled on hard stop only
	hardCancel context.CancelFunc
	idleStop   chan struct{}
	idleDone   chan struct{}
	// watch follows the members' broker connections.
	watch *connwatch.Watcher
	// unobserve unregisters the lag gauges.
	unobserve func()
}

// New creates a container for ep, compiling ep first if needed (without a
// resolver: use a listener.Registry to resolve placeholders). Errors wrap
// ErrInvalidContainer (or the endpoint's listener.ErrInvalidListener).
func New(ep *listener.Endpoint, opts ...Option) (*Container, error) {
	if ep == nil {
		return nil, fmt.Errorf("%w: nil endpoint", ErrInvalidContainer)
	}
	if ep.Invoker() == nil {
		if err := ep.Compile(); err != nil {
			return nil, err
		}
	}
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	c := &Container{ep: ep, inv: ep.Invoker(), id: ep.ID, o: o, pausedParts: map[string]map[int32]bool{}}
	fail := func(format string, args ...any) (*Container, error) {
		return nil, fmt.Errorf("%w: listener %q: %s", ErrInvalidContainer, ep.ID, fmt.Sprintf(format, args...))
	}
	base := o.log
	if base == nil {
		base = slog.Default()
	}
	c.log = base.With("listener", ep.ID)
	c.deser, c.ser, c.pub = o.deser, o.ser, o.pub
	var rt *listener.RetryTopics
	switch {
	case ep.Retry != nil && ep.Retry.Disabled:
	case ep.Retry != nil:
		m := ep.Retry.Merge(o.retryDefaults)
		rt = &m
	case o.retryAll:
		m := o.retryDefaults
		rt = &m
	}
	if ep.Share {
		// Container defaults for retry topics and transactions do not
		// apply to share listeners; asking for them on one is an error.
		if err := checkShare(ep); err != nil {
			return fail("%v", err)
		}
		c.share = true
		rt = nil
	}
	c.tx = !c.share && (ep.Transactional == listener.On || (ep.Transactional == listener.Auto && o.txPrefix != ""))
	if c.tx {
		if err := listener.CheckTransactional(ep, rt); err != nil {
			return fail("%v", err)
		}
		c.txPrefix = o.txPrefix
		if c.txPrefix == "" {
			c.txPrefix = DefaultTransactionalIDPrefix
		}
		// Dead letters and replies join the handler's transaction.
		c.pub = &txPublisher{base: c.pub}
	}
	if c.deser == nil || c.ser == nil {
		auto := serde.NewAuto()
		if c.deser == nil {
			c.deser = auto
		}
		if c.ser == nil {
			c.ser = auto
		}
	}
	c.ordering, c.lanes = ep.Ordering, ep.EffectiveWorkers()
	c.ackMode = ep.AckMode
	if c.share {
		// Each record is acknowledged: by the container, or by the
		// handler through its listener.Acknowledgment.
		c.ackMode = listener.AckRecord
		if c.inv.Acknowledges() {
			c.ackMode = listener.AckManual
		}
	}
	if c.ackMode == listener.AckDefault {
		c.ackMode = o.ackMode
	}
	if c.ackMode == listener.AckDefault {
		c.ackMode = listener.AckBatch
	}
	if c.ackMode.Manual() != c.inv.Acknowledges() {
		from := "the listener's ack attribute"
		if ep.AckMode == listener.AckDefault {
			from = "the container default: kafka.listener.ack-mode, or container.WithAckMode"
		}
		if c.ackMode.Manual() {
			return fail("ack mode %s (%s) needs a handler with a listener.Acknowledgment parameter; add one, or give the listener an automatic mode (ack=batch)", c.ackMode, from)
		}
		return fail("the handler takes a listener.Acknowledgment, which needs ack=manual or ack=manual-immediate, but the ack mode is %s (%s)", c.ackMode, from)
	}
	c.ackCount, c.ackTime = o.ackCount, o.ackTime
	if c.ackCount <= 0 {
		c.ackCount = 100
	}
	if c.ackTime <= 0 {
		c.ackTime = 5 * time.Second
	}
	c.maxPoll = o.maxPollRecords
	if c.maxPoll <= 0 {
		c.maxPoll = 500
	}
	if _, mp, err := propertyOpts(ep.Properties, 0); err != nil {
		return fail("%v", err)
	} else if mp > 0 {
		c.maxPoll = mp
	}
	gp, err := resolveGroupProtocol(o.groupProtocol, ep.Properties, ep.GroupProtocol)
	if err != nil {
		return fail("%v", err)
	}
	c.gp = gp
	c.eh = o.eh
	if ep.ErrorHandler != "" {
		eh, ok := o.ehs[ep.ErrorHandler]
		if !ok || eh == nil {
			return fail("unknown error handler %q (known: %v)", ep.ErrorHandler, slices.Sorted(maps.Keys(o.ehs)))
		}
		c.eh = eh
	}
	if c.eh == nil {
		c.eh = &ErrorHandler{}
	}
	c.recoverer = c.eh.Recoverer
	if c.recoverer == nil {
		if c.pub != nil {
			// The recoverers name the listener themselves (Failure.ListenerID).
			c.recoverer = &DeadLetterRecoverer{Publisher: c.pub, Logger: base}
		} else {
			c.recoverer = LoggingRecoverer{Logger: base}
		}
	}
	if rt != nil {
		if err := listener.CheckRetryTopics(ep, rt); err != nil {
			return fail("%v", err)
		}
		if c.pub == nil {
			return fail("retry topics need a publisher (WithPublisher) to forward records")
		}
		c.retry = newRetryPlan(ep, *rt)
		if ep.ErrorHandler == "" {
			// Retries go through the retry topics, not in place
			// (Spring's retry topic containers retry nothing in
			// place); a listener's own errorhandler adds blocking
			// retries before each forward.
			eh := *c.eh
			eh.BackOff = FixedBackOff{MaxRetries: 0}
			c.eh = &eh
		}
		c.recoverer = &retryForwarder{c: c, plan: c.retry}
	}
	if c.inv.Replies() && c.pub == nil {
		return fail("the handler returns replies but the container has no publisher (WithPublisher)")
	}
	c.group = ep.Group
	if c.group == "" {
		c.group = o.defaultGroup
	}
	if c.group == "" {
		c.group = ep.ID
	}
	tel, err := telemetry.NewConsumer(o.otel, ep.ID, c.group)
	if err != nil {
		return fail("telemetry: %v", err)
	}
	c.tel = tel
	c.members = ep.EffectiveConcurrency()
	if len(ep.Partitions) > 0 {
		c.direct = true
		c.members = min(c.members, len(ep.Partitions))
		c.assign = make([][]listener.TopicPartition, c.members)
		for i, p := range ep.Partitions {
			c.assign[i%c.members] = append(c.assign[i%c.members], p)
		}
	}
	return c, nil
}

// ID returns the listener id.
func (c *Container) ID() string { return c.id }

// Group returns the consumer group.
func (c *Container) Group() string { return c.group }

// Endpoint returns the endpoint the container runs.
func (c *Container) Endpoint() *listener.Endpoint { return c.ep }

// AckMode returns the effective ack mode.
func (c *Container) AckMode() listener.AckMode { return c.ackMode }

// AutoStartup reports whether the container should start with the
// application (the endpoint's autostartup). [Registry.Start] skips
// containers without it; Start itself always starts.
func (c *Container) AutoStartup() bool { return c.ep.Started() }

// Running reports whether the container is started.
func (c *Container) Running() bool { return c.cur.Load() != nil || c.shareCur.Load() != nil }

// Start creates the clients and starts consuming. It returns once the
// clients exist (group joins proceed in the background); a failure
// creating any client (bad options, or, for explicit partitions, reading
// committed offsets) closes the others and is returned. ctx bounds only
// the start itself; it is not the handlers' context. Starting a running
// container is a no-op.
func (c *Container) Start(ctx context.Context) error {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	if c.cur.Load() != nil || c.shareCur.Load() != nil {
		return nil
	}
	if c.share {
		return c.startShare(ctx)
	}
	hardCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &run{hardCtx: hardCtx, hardCancel: cancel, idleStop: make(chan struct{}), idleDone: make(chan struct{}), watch: c.newWatch()}
	c.lastRecord.Store(time.Now().UnixNano())
	if c.retry != nil && c.retry.cfg.AutoCreate != listener.Off {
		if err := c.createRetryTopics(ctx); err != nil {
			cancel()
			err = fmt.Errorf("container: listener %q: retry topics: %w", c.id, err)
			c.failure.Store(&err)
			c.state.Store(int32(StateFailed))
			c.emit(FailedEvent{ListenerID: c.id, Err: err})
			return err
		}
	}
	for i := 0; i < c.members; i++ {
		m, err := newMember(ctx, c, r, i)
		if err != nil {
			for _, m := range r.members {
				m.client().Close()
			}
			cancel()
			err = fmt.Errorf("container: listener %q: starting member %d: %w", c.id, i, err)
			c.failure.Store(&err)
			c.state.Store(int32(StateFailed))
			c.emit(FailedEvent{ListenerID: c.id, Err: err})
			return err
		}
		r.members = append(r.members, m)
	}
	if c.direct {
		c.state.Store(int32(StateRunning))
	} else {
		c.state.Store(int32(StateStarting))
	}
	c.pmu.Lock()
	paused := c.pausedLocked()
	c.pmu.Unlock()
	for _, m := range r.members {
		if len(paused) > 0 {
			m.client().PauseFetchPartitions(paused)
		}
		m.start()
	}
	go c.monitor(r)
	unobserve, err := c.tel.ObserveLag(c.partitionLags, c.pausedCount)
	if err != nil {
		c.log.Warn("kafka listener: lag metrics not registered", "err", err)
		unobserve = func() {}
	}
	r.unobserve = unobserve
	c.cur.Store(r)
	c.log.Info("kafka listener container started", "group", c.group, "members", c.members, "ack", c.ackMode.String())
	c.emit(StartedEvent{ListenerID: c.id})
	return nil
}

// Stop stops the container gracefully: polling stops, every partition
// worker finishes the record (or batch) it is processing — records
// waiting in retry back off or not yet started are abandoned and will be
// redelivered — the offsets of everything processed are committed, the
// members leave the group and the clients close.
//
// If ctx ends first, Stop turns hard: handler contexts are cancelled, Stop
// waits up to one more second for handlers to return, commits what is
// done (with a short detached deadline) and closes the clients; handlers
// still running then are abandoned, and their records will be
// redelivered. Stopping a stopped container is a no-op.
func (c *Container) Stop(ctx context.Context) error {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	if sr := c.shareCur.Load(); sr != nil {
		err := c.stopShare(ctx, sr)
		c.shareCur.Store(nil)
		c.state.Store(int32(StateStopped))
		c.log.Info("kafka share listener container stopped", "group", c.group, "err", err)
		c.emit(StoppedEvent{ListenerID: c.id, Err: err})
		return err
	}
	r := c.cur.Load()
	if r == nil {
		return nil
	}
	err := r.stop(ctx, c)
	r.unobserve()
	c.cur.Store(nil)
	c.state.Store(int32(StateStopped))
	c.log.Info("kafka listener container stopped", "group", c.group, "err", err)
	c.emit(StoppedEvent{ListenerID: c.id, Err: err})
	return err
}

func (r *run) stop(ctx context.Context, c *Container) error {
	close(r.idleStop)
	<-r.idleDone
	for _, m := range r.members {
		m.stopPolling()
	}
	// After a hard stop, handlers get one more second in total.
	graceCtx, graceCancel := context.WithCancel(context.Background())
	defer func() { graceCancel() }()
	hard := false
	waitAll := func(chs []<-chan struct{}) {
		for _, ch := range chs {
			if !hard {
				select {
				case <-ch:
					continue
				case <-ctx.Done():
					hard = true
					r.hardCancel()
					graceCancel()
					graceCtx, graceCancel = context.WithTimeout(context.Background(), time.Second)
				}
			}
			select {
			case <-ch:
			case <-graceCtx.Done():
				return
			}
		}
	}
	var polls []<-chan struct{}
	for _, m := range r.members {
		polls = append(polls, m.pollDone)
	}
	waitAll(polls)
	var workers []<-chan struct{}
	for _, m := range r.members {
		workers = append(workers, m.stopWorkers()...)
	}
	waitAll(workers)

	commitCtx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		commitCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
	}
	var errs []error
	for _, m := range r.members {
		m.stopCommitter()
		if err := m.commitAll(commitCtx); err != nil {
			errs = append(errs, fmt.Errorf("member %d: final commit: %w", m.idx, err))
		}
	}
	var wg sync.WaitGroup
	closed := make(chan struct{})
	for _, m := range r.members {
		wg.Go(m.client().Close)
	}
	go func() { wg.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("closing clients: %w", ctx.Err()))
	}
	r.hardCancel()
	if hard {
		errs = append(errs, fmt.Errorf("hard stop: %w", ctx.Err()))
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		if cause := r.watch.LastError(); cause != nil && ctx.Err() != nil && !errors.Is(err, cause) {
			// Why the stop took its whole deadline, most likely.
			err = fmt.Errorf("%w (last error: %w)", err, cause)
		}
		return fmt.Errorf("container: listener %q: stop: %w", c.id, err)
	}
	return nil
}

// monitor runs the idle events and the non-responsive handler check until
// the run stops.
func (c *Container) monitor(r *run) {
	defer close(r.idleDone)
	idle := c.o.idleInterval
	if c.o.onIdle == nil && len(c.o.onEvent) == 0 {
		idle = 0
	}
	check := c.o.monitorInterval
	if check == 0 {
		check = 30 * time.Second
	}
	var tick time.Duration
	if idle > 0 {
		tick = max(idle/4, 5*time.Millisecond)
	}
	if check > 0 && (tick == 0 || check < tick) {
		tick = check
	}
	if tick == 0 {
		<-r.idleStop
		return
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var lastFire, lastCheck time.Time
	busy := map[*worker]busyCall{}
	for {
		select {
		case <-r.idleStop:
			return
		case now := <-t.C:
			if idle > 0 {
				d := now.Sub(time.Unix(0, c.lastRecord.Load()))
				if d >= idle && now.Sub(lastFire) >= idle {
					lastFire = now
					e := IdleEvent{ListenerID: c.id, IdleFor: d, Paused: c.paused.Load()}
					if c.o.onIdle != nil {
						c.o.onIdle(e)
					}
					c.emit(e)
				}
			}
			if check > 0 && now.Sub(lastCheck) >= check {
				lastCheck = now
				c.checkResponsive(r, check, busy)
			}
		}
	}
}

// checkResponsive reports the handler calls seen running at this tick
// and the previous one (every limit): calls busy for at least limit,
// reported with the ticks they have been seen for. seen is the monitor's
// memory of the previous tick.
func (c *Container) checkResponsive(r *run, limit time.Duration, seen map[*worker]busyCall) {
	live := make(map[*worker]bool, len(seen))
	for _, m := range r.members {
		for _, w := range m.workerList() {
			call := w.calling.Load()
			if call == 0 {
				continue
			}
			live[w] = true
			prev, ok := seen[w]
			if !ok || prev.call != call {
				seen[w] = busyCall{call: call}
				continue
			}
			prev.ticks++
			seen[w] = prev
			busy := time.Duration(prev.ticks) * limit
			var off int64 = -1
			if rec := w.cur.Load(); rec != nil {
				off = rec.Offset
			}
			c.log.Warn("kafka listener: handler not responding", "topic", w.k.topic, "partition", w.k.partition,
				"offset", off, "busy_at_least", busy)
			c.emit(NonResponsiveEvent{ListenerID: c.id, Topic: w.k.topic, Partition: w.k.partition, Offset: off, Busy: busy})
		}
	}
	for w := range seen {
		if !live[w] {
			delete(seen, w)
		}
	}
}

// busyCall is a handler call the monitor saw running: its number, and at
// how many ticks since the first it was still running.
type busyCall struct {
	call  uint64
	ticks int
}

// Pause stops delivering records: the poll loops stop polling (records
// already handed to partition workers are still processed, as in Spring,
// where a pause takes effect before the next poll). Group membership,
// heartbeats and commits go on.
func (c *Container) Pause() {
	c.paused.Store(true)
	if r := c.cur.Load(); r != nil {
		for _, m := range r.members {
			m.wakePoll()
		}
	}
}

// Resume undoes Pause.
func (c *Container) Resume() {
	c.paused.Store(false)
	if r := c.cur.Load(); r != nil {
		for _, m := range r.members {
			m.signalReady()
		}
	}
}

// Paused reports whether the container is paused (Pause).
func (c *Container) Paused() bool { return c.paused.Load() }

// PausePartitions stops fetching the given partitions (kgo
// PauseFetchPartitions on every member, so the pause follows a partition
// across rebalances and restarts until ResumePartitions). Records already
// fetched are still processed.
func (c *Container) PausePartitions(partitions map[string][]int32) {
	c.pmu.Lock()
	for t, ps := range partitions {
		if c.pausedParts[t] == nil {
			c.pausedParts[t] = map[int32]bool{}
		}
		for _, p := range ps {
			c.pausedParts[t][p] = true
		}
	}
	// Under pmu: a member replacing its client applies the paused set
	// to the new one under it too.
	if r := c.cur.Load(); r != nil {
		for _, m := range r.members {
			m.client().PauseFetchPartitions(partitions)
		}
	}
	c.pmu.Unlock()
}

// ResumePartitions resumes partitions paused with PausePartitions.
func (c *Container) ResumePartitions(partitions map[string][]int32) {
	c.pmu.Lock()
	for t, ps := range partitions {
		for _, p := range ps {
			delete(c.pausedParts[t], p)
		}
		if len(c.pausedParts[t]) == 0 {
			delete(c.pausedParts, t)
		}
	}
	if r := c.cur.Load(); r != nil {
		for _, m := range r.members {
			m.client().ResumeFetchPartitions(partitions)
		}
	}
	c.pmu.Unlock()
}

// PausedPartitions returns the partitions paused with PausePartitions.
func (c *Container) PausedPartitions() map[string][]int32 {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.pausedLocked()
}

func (c *Container) pausedLocked() map[string][]int32 {
	out := make(map[string][]int32, len(c.pausedParts))
	for t, ps := range c.pausedParts {
		out[t] = slices.Sorted(maps.Keys(ps))
	}
	return out
}

// Assignment returns the partitions currently owned by the container's
// members.
func (c *Container) Assignment() map[string][]int32 {
	out := map[string][]int32{}
	r := c.cur.Load()
	if r == nil {
		return out
	}
	for _, m := range r.members {
		m.mu.Lock()
		for k := range m.workers {
			out[k.topic] = append(out[k.topic], k.partition)
		}
		m.mu.Unlock()
	}
	for t := range out {
		slices.Sort(out[t])
	}
	return out
}

type seekKind uint8

const (
	seekOffset seekKind = iota
	seekBeginning
	seekEnd
	seekTimestamp // offset holds unix milliseconds
)

type seekReq struct {
	// internal: a park's rewind, which clears the worker's seekPending
	// once applied and interrupts no waits.
	internal bool
	k        tp
	kind     seekKind
	offset   int64
	done     chan error
}

// Seek moves the position of an owned partition to offset (like Spring's
// ConsumerSeekCallback.seek). The member's poll loop applies the seek
// between polls (kgo SetOffsets, as kgo recommends) and Seek returns once
// it is applied: records of that partition fetched before and not yet
// started are dropped (the record in progress finishes, and retry back
// offs are cut short), progress made before the seek is committed, and the
// next record delivered is the one at offset. Seeking itself commits
// nothing at the new position. Seek may be called from a handler. It
// returns ErrNotAssigned if no member owns the partition.
func (c *Container) Seek(topic string, partition int32, offset int64) error {
	if offset < 0 {
		return fmt.Errorf("container: negative seek offset %d", offset)
	}
	return c.seek(topic, []int32{partition}, seekOffset, offset)
}

// SeekToBeginning seeks owned partitions of topic to their log start
// (all owned partitions of topic when none are given); see Seek.
func (c *Container) SeekToBeginning(topic string, partitions ...int32) error {
	return c.seek(topic, partitions, seekBeginning, 0)
}

// SeekToEnd seeks owned partitions of topic to their log end, as listed
// when the seek is applied (all owned partitions of topic when none are
// given); see Seek.
func (c *Container) SeekToEnd(topic string, partitions ...int32) error {
	return c.seek(topic, partitions, seekEnd, 0)
}

// SeekToTimestamp seeks owned partitions of topic (all of them when none
// are given) to the first record whose timestamp is at or after ts, or to
// the log end when there is none (Kafka's offsetsForTimes; Spring's
// seekToTimestamp); see Seek.
func (c *Container) SeekToTimestamp(topic string, ts time.Time, partitions ...int32) error {
	return c.seek(topic, partitions, seekTimestamp, ts.UnixMilli())
}

func (c *Container) seek(topic string, partitions []int32, kind seekKind, offset int64) error {
	r := c.cur.Load()
	if r == nil {
		return ErrNotRunning
	}
	if len(partitions) == 0 {
		partitions = c.Assignment()[topic]
		if len(partitions) == 0 {
			return fmt.Errorf("%w: no partition of %q", ErrNotAssigned, topic)
		}
	}
	var (
		errs  []error
		dones []<-chan error
	)
	for _, p := range partitions {
		k := tp{topic, p}
		found := false
		for _, m := range r.members {
			if done, ok := m.enqueueSeek(seekReq{k: k, kind: kind, offset: offset}); ok {
				dones = append(dones, done)
				found = true
				break
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("%w: %s[%d]", ErrNotAssigned, topic, p))
		}
	}
	for _, done := range dones {
		errs = append(errs, <-done)
	}
	return errors.Join(errs...)
}

// sendReply publishes a handler's reply.
func (c *Container) sendReply(ctx context.Context, req *kgo.Record, reply any) error {
	topic := c.ep.SendTo
	if topic == "" {
		if v, ok := header(req, HeaderReplyTopic); ok {
			topic = string(v)
		}
	}
	if topic == "" {
		c.log.Warn("kafka listener: reply dropped: no sendto and no "+HeaderReplyTopic+" header",
			"topic", req.Topic, "partition", req.Partition, "offset", req.Offset)
		return nil
	}
	var hs []kgo.RecordHeader
	if v, ok := header(req, HeaderCorrelationID); ok {
		hs = append(hs, kgo.RecordHeader{Key: HeaderCorrelationID, Value: v})
	}
	b, err := c.ser.Serialize(topic, &hs, reply)
	if err != nil {
		return NotRetryable(fmt.Errorf("container: serializing reply: %w", err))
	}
	if err := c.pub.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: b, Headers: hs}).FirstErr(); err != nil {
		return fmt.Errorf("container: sending reply to %s: %w", topic, err)
	}
	return nil
}

func header(r *kgo.Record, key string) ([]byte, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return r.Headers[i].Value, true
		}
	}
	return nil, false
}

// authorizationError reports whether err is a broker refusing the
// container's principal: retrying cannot help until someone changes the
// ACLs or the credentials.
func authorizationError(err error) bool {
	for _, e := range []error{kerr.GroupAuthorizationFailed, kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed,
		kerr.TransactionalIDAuthorizationFailed, kerr.SaslAuthenticationFailed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// failFatal stops the container on an error it cannot recover from (an
// authorization error; for a transactional listener, its producer fenced,
// or a transaction that can neither begin nor abort): it logs it once, stops the container as Stop does
// (records in flight finish and are committed where the broker allows)
// and leaves it in StateFailed with err, emitting a FailedEvent, as
// Spring's container stops on an AuthorizationException unless
// authExceptionRetryInterval is set. Start starts it again.
func (c *Container) failFatal(err error) {
	if !c.failing.CompareAndSwap(false, true) {
		return
	}
	c.log.Error("kafka listener container stopping: retrying cannot help", "group", c.group, "err", err)
	go func() {
		defer c.failing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if serr := c.Stop(ctx); serr != nil {
			c.log.Warn("kafka listener container: stopping after the fatal error", "group", c.group, "err", serr)
		}
		c.failure.Store(&err)
		c.state.Store(int32(StateFailed))
		c.emit(FailedEvent{ListenerID: c.id, Err: err})
	}()
}
