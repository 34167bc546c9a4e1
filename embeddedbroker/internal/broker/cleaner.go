package broker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/cleaner"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
)

// CleanerCheckpointFile is the file in a node's data directory holding, per
// compacted partition, the offset up to which its log is clean (Kafka's
// cleaner-offset-checkpoint, in Kafka's format: a version line, a count
// line, then "topic partition offset" lines).
const CleanerCheckpointFile = "cleaner-offset-checkpoint"

// logCleaner is a node's log cleaner (Kafka's LogCleaner): a few
// goroutines (log.cleaner.threads) that, every log.cleaner.backoff.ms,
// take the dirtiest compacted log hosted here, leader or follower (each
// replica cleans its own log, as in Kafka), and compact its dirty part:
// the records of each key below the latest are removed, aborted
// transactions and, after delete.retention.ms, tombstones and finished
// transactions' markers too, and every record left keeps its offset.
//
// What is dirty: the offsets from the cleaner's checkpoint for the log (or
// its start) up to the first uncleanable offset, the smallest of the
// active segment's base, the base of the first segment holding records
// younger than min.cleaner.lag.ms, and the base of the segment holding
// the last stable offset (undecided transactions stay as they are). A log
// is cleaned when its dirty bytes are at least min.cleanable.dirty.ratio of
// its cleanable bytes, when its oldest dirty record is older than
// max.cleaner.lag.ms, or when tombstones it kept at its last cleaning
// have passed their delete horizon.
type logCleaner struct {
	n       *Node
	stop    chan struct{}
	wg      sync.WaitGroup
	path    string // the checkpoint file, "" in memory
	limiter *ioLimiter

	mu         sync.Mutex
	checkpoint map[partKey]int64 // clean up to, by topic and partition
	busy       map[*partition]bool
	// keptUntil is, per log whose last cleaning kept tombstones or
	// markers due to go, when they may go (unix ms): the log is cleaned
	// again then, dirty or not.
	keptUntil map[partKey]int64
	// lastRun is each log's last cleaning, for CleanerStates.
	lastRun map[partKey]CleanerRun
}

// CleanerRun is one cleaning of a log.
type CleanerRun struct {
	// Start is when it began, Duration how long it took.
	Start    time.Time
	Duration time.Duration
	// BytesRead and BytesWritten are the batch bytes of the segments
	// rewritten, before and after.
	BytesRead, BytesWritten int64
	// Err is why it failed, "" when it did not.
	Err string
}

// CleanerState is the log cleaner's view of one compacted log on a node:
// each replica cleans its own log, as in Kafka.
type CleanerState struct {
	Topic     string
	Partition int32
	// FirstDirtyOffset is where the next cleaning starts (the checkpoint),
	// FirstUncleanableOffset where cleaning stops now (the active
	// segment, the last stable offset, min.compaction.lag.ms).
	FirstDirtyOffset, FirstUncleanableOffset int64
	// CleanableBytes are the bytes below FirstUncleanableOffset, DirtyBytes
	// those of them not yet cleaned, and DirtyRatio the one over the other,
	// compared with min.cleanable.dirty.ratio.
	CleanableBytes, DirtyBytes int64
	DirtyRatio                 float64
	// LastRun is the last cleaning since the node started, nil before one.
	LastRun *CleanerRun
}

func newLogCleaner(n *Node) (*logCleaner, error) {
	c := &logCleaner{n: n, stop: make(chan struct{}),
		checkpoint: map[partKey]int64{}, busy: map[*partition]bool{}, keptUntil: map[partKey]int64{},
		lastRun: map[partKey]CleanerRun{}}
	rate := n.cfg.Broker.Float("log.cleaner.io.max.bytes.per.second")
	c.limiter = newIOLimiter(rate)
	if n.cfg.DataDir != "" {
		c.path = filepath.Join(n.cfg.DataDir, CleanerCheckpointFile)
		if err := c.load(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// start runs the cleaner goroutines, when log.cleaner.enable.
func (c *logCleaner) start() {
	if !c.n.cfg.Broker.Bool("log.cleaner.enable") {
		return
	}
	for range int(c.n.cfg.Broker.Int("log.cleaner.threads")) { // 0: none, as in Kafka
		c.wg.Go(c.run)
	}
}

// close stops the goroutines, after the cleanings in progress end.
func (c *logCleaner) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
}

// errCleanerStopped ends a cleaning when the node stops: the rewrite is
// discarded, and the next start cleans again.
var errCleanerStopped = errors.New("log cleaner stopped")

// stopped returns errCleanerStopped once close began.
func (c *logCleaner) stopped() error {
	select {
	case <-c.stop:
		return errCleanerStopped
	default:
		return nil
	}
}

func (c *logCleaner) run() {
	backoff := c.n.cfg.Broker.Millis("log.cleaner.backoff.ms")
	t := time.NewTimer(backoff)
	defer t.Stop()
	for {
		for c.cleanOne() {
			select {
			case <-c.stop:
				return
			default:
			}
		}
		select {
		case <-c.stop:
			return
		case <-t.C:
			t.Reset(backoff)
		}
	}
}

// cleanOne cleans the dirtiest cleanable log, if any; it reports whether it
// found one.
func (c *logCleaner) cleanOne() bool {
	now := c.n.cfg.Now()
	var (
		best      *partition
		bestPlan  cleanPlan
		bestRatio = -1.0
	)
	for _, p := range c.n.allPartitions() {
		if !p.settings.Load().compact {
			continue
		}
		c.mu.Lock()
		busy := c.busy[p]
		c.mu.Unlock()
		if busy {
			continue
		}
		plan, ok := c.plan(p, now)
		if ok && plan.ratio > bestRatio {
			best, bestPlan, bestRatio = p, plan, plan.ratio
		}
	}
	if best == nil {
		return false
	}
	c.mu.Lock()
	if c.busy[best] {
		c.mu.Unlock()
		return true
	}
	c.busy[best] = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.busy, best)
		c.mu.Unlock()
	}()
	run := CleanerRun{Start: time.Now()}
	stats, err := c.clean(best, bestPlan, now)
	run.Duration = time.Since(run.Start)
	run.BytesRead, run.BytesWritten = stats.BytesRead, stats.BytesWritten
	if err != nil && !errors.Is(err, errCleanerStopped) {
		run.Err = err.Error()
	}
	if !errors.Is(err, errCleanerStopped) {
		c.mu.Lock()
		c.lastRun[partKey{topic: best.topic, partition: best.id}] = run
		c.mu.Unlock()
	}
	if err != nil && !errors.Is(err, logstore.ErrRewriteAborted) && !errors.Is(err, logstore.ErrClosed) && !errors.Is(err, errCleanerStopped) {
		c.n.log.Warn("log cleaner", "topic", best.topic, "partition", best.id, "err", err)
	}
	return true
}

// cleanPlan is what cleaning a log would cover.
type cleanPlan struct {
	firstDirty, uncleanable int64
	dirtyBytes, totalBytes  int64
	ratio                   float64
}

// plan works out a log's dirty section and whether it needs cleaning now.
func (c *logCleaner) plan(p *partition, now time.Time) (cleanPlan, bool) {
	set := p.settings.Load()
	segs := p.log.Segments()
	if len(segs) == 0 {
		return cleanPlan{}, false
	}
	key := partKey{topic: p.topic, partition: p.id}
	c.mu.Lock()
	done, hasDone := c.checkpoint[key]
	keptUntil := c.keptUntil[key]
	c.mu.Unlock()
	start := p.log.StartOffset()
	firstDirty := start
	if hasDone && done > start && done <= p.log.EndOffset() {
		firstDirty = done
	}
	// The first uncleanable offset: a segment base.
	uncleanable := segs[len(segs)-1].Next // the active segment's base
	lso, hwm := p.lastStable()
	stable := min(lso, hwm)
	nowMs := now.UnixMilli()
	for _, s := range segs {
		young := set.minCompactionLagMs > 0 && segmentTime(s) > nowMs-set.minCompactionLagMs
		if s.Next > stable || young {
			uncleanable = min(uncleanable, s.Base)
			break
		}
	}
	plan := cleanPlan{firstDirty: firstDirty, uncleanable: uncleanable}
	var oldestDirty int64 = math.MaxInt64
	for _, s := range segs {
		if s.Base >= uncleanable {
			break
		}
		plan.totalBytes += s.Size
		if s.Next > firstDirty {
			plan.dirtyBytes += s.Size
			oldestDirty = min(oldestDirty, segmentTime(s))
		}
	}
	if plan.totalBytes > 0 {
		plan.ratio = float64(plan.dirtyBytes) / float64(plan.totalBytes)
	}
	if firstDirty >= uncleanable || plan.dirtyBytes == 0 {
		// Nothing new, but tombstones kept at the last cleaning may be
		// past their horizon.
		if keptUntil > 0 && nowMs >= keptUntil && uncleanable > start {
			plan.firstDirty = min(firstDirty, uncleanable)
			return plan, true
		}
		return plan, false
	}
	due := set.maxCompactionLagMs < math.MaxInt64 && oldestDirty < nowMs-set.maxCompactionLagMs
	return plan, plan.ratio >= set.minCleanableRatio || due
}

// segmentTime is a segment's age reference: its largest timestamp, or
// its last modification without one.
func segmentTime(s logstore.SegmentInfo) int64 {
	if s.MaxTimestamp >= 0 {
		return s.MaxTimestamp
	}
	return s.LastModified.UnixMilli()
}

// clean compacts p's log as plan says and moves the checkpoint.
func (c *logCleaner) clean(p *partition, plan cleanPlan, now time.Time) (logstore.RewriteStats, error) {
	set := p.settings.Load()

	// The offset map of the dirty section, as far as it fits: this
	// goroutine's share of log.cleaner.dedupe.buffer.size, but no more
	// than the dirty bytes can use (a record takes at least 7 bytes, a key
	// 24 in the map): a small log does not clear a 128 MiB table.
	share := c.n.cfg.Broker.Int("log.cleaner.dedupe.buffer.size") / max(1, c.n.cfg.Broker.Int("log.cleaner.threads"))
	m := cleaner.NewOffsetMap(int(min(share, 4*plan.dirtyBytes+4096)))
	mapTx := cleaner.NewTxnState(p.abortedTxns(plan.firstDirty, plan.uncleanable))
	end := plan.uncleanable
	errFull := errors.New("offset map full")
	err := p.log.Scan(plan.firstDirty, func(b []byte) error {
		if err := c.stopped(); err != nil {
			return err
		}
		if batchBase(b) >= plan.uncleanable {
			return errFull
		}
		c.limiter.wait(len(b))
		fit, err := m.AddBatch(b, mapTx)
		if err != nil {
			return err
		}
		if !fit {
			// As Kafka: the cleaning ends after the last key the map
			// took, inside this batch, so that it always progresses.
			end = m.LatestOffset() + 1
			return errFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		return logstore.RewriteStats{}, fmt.Errorf("building the offset map: %w", err)
	}
	if end == plan.uncleanable {
		// Everything up to the uncleanable offset is mapped: the
		// records between the last key and it are clean too (Kafka's
		// updateLatestOffset at each mapped segment's end).
		m.UpdateLatestOffset(end - 1)
	}
	if end <= p.log.StartOffset() {
		return logstore.RewriteStats{}, nil // the map could not take even the first batch's first key
	}

	lastData, epochs := p.producerEnds()
	opts := cleaner.FilterOptions{
		Map:               m,
		Txn:               cleaner.NewTxnState(p.abortedTxns(0, end)),
		Now:               now.UnixMilli(),
		DeleteRetentionMs: set.deleteRetentionMs,
		IsLastBatchOfProducer: func(pid, last int64) bool {
			off, ok := lastData[pid]
			return ok && off == last
		},
		IsLastMarkerOfProducer: func(pid int64, epoch int16) bool {
			e, ok := epochs[pid]
			_, hasData := lastData[pid]
			return ok && !hasData && e == epoch
		},
		FirstUncleanableOffset: end,
	}
	keptTombstones := false
	keptAborted := map[txnRange]bool{}
	stats, err := p.log.Rewrite(0, end, func(b []byte) ([]byte, error) {
		if err := c.stopped(); err != nil {
			return nil, err
		}
		c.limiter.wait(len(b))
		res, err := cleaner.Filter(b, opts)
		if err != nil {
			return nil, err
		}
		if res.KeptTombstones {
			keptTombstones = true
		}
		if a := res.AbortedTxn; a != nil {
			keptAborted[txnRange{producerID: a.ProducerID, first: a.FirstOffset, last: a.LastOffset}] = true
		}
		return res.Batch, nil
	})
	if err != nil {
		return stats, err
	}
	p.mu.Lock()
	p.txns.trimAborted(end, keptAborted)
	p.mu.Unlock()
	key := partKey{topic: p.topic, partition: p.id}
	c.mu.Lock()
	c.checkpoint[key] = end
	if keptTombstones {
		c.keptUntil[key] = now.UnixMilli() + set.deleteRetentionMs
	} else {
		delete(c.keptUntil, key)
	}
	c.mu.Unlock()
	return stats, c.save()
}

// states returns the state of every compacted log on the node, sorted by
// topic and partition.
func (c *logCleaner) states() []CleanerState {
	now := c.n.cfg.Now()
	var out []CleanerState
	for _, p := range c.n.allPartitions() {
		if !p.settings.Load().compact {
			continue
		}
		plan, _ := c.plan(p, now)
		st := CleanerState{Topic: p.topic, Partition: p.id,
			FirstDirtyOffset: plan.firstDirty, FirstUncleanableOffset: plan.uncleanable,
			CleanableBytes: plan.totalBytes, DirtyBytes: plan.dirtyBytes, DirtyRatio: plan.ratio}
		c.mu.Lock()
		if r, ok := c.lastRun[partKey{topic: p.topic, partition: p.id}]; ok {
			st.LastRun = &r
		}
		c.mu.Unlock()
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b CleanerState) int {
		if a.Topic != b.Topic {
			return strings.Compare(a.Topic, b.Topic)
		}
		return int(a.Partition) - int(b.Partition)
	})
	return out
}

// truncated clamps p's checkpoint to off after a truncation of its log:
// what is appended from there again is dirty.
func (c *logCleaner) truncated(p *partition, off int64) {
	key := partKey{topic: p.topic, partition: p.id}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.checkpoint[key]; ok && v > off {
		c.checkpoint[key] = off
	}
}

// forget drops a deleted partition's checkpoint.
func (c *logCleaner) forget(topic string, partition int32) {
	c.mu.Lock()
	delete(c.checkpoint, partKey{topic: topic, partition: partition})
	delete(c.keptUntil, partKey{topic: topic, partition: partition})
	delete(c.lastRun, partKey{topic: topic, partition: partition})
	c.mu.Unlock()
}

// save writes the checkpoint file (through a temporary file, an fsync and
// a rename).
func (c *logCleaner) save() error {
	if c.path == "" {
		return nil
	}
	c.mu.Lock()
	keys := make([]partKey, 0, len(c.checkpoint))
	for k := range c.checkpoint {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b partKey) int {
		if a.topic != b.topic {
			return strings.Compare(a.topic, b.topic)
		}
		return int(a.partition) - int(b.partition)
	})
	var sb strings.Builder
	fmt.Fprintf(&sb, "0\n%d\n", len(keys))
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s %d %d\n", k.topic, k.partition, c.checkpoint[k])
	}
	c.mu.Unlock()
	tmp := c.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.WriteString(sb.String())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, c.path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", c.path, err)
	}
	return nil
}

// load reads the checkpoint file, if any.
func (c *logCleaner) load() error {
	f, err := os.Open(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		if line <= 2 {
			continue // version, count
		}
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			return fmt.Errorf("%s line %d: %q", c.path, line, sc.Text())
		}
		part, err1 := strconv.ParseInt(fields[1], 10, 32)
		off, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("%s line %d: %q", c.path, line, sc.Text())
		}
		c.checkpoint[partKey{topic: fields[0], partition: int32(part)}] = off
	}
	return sc.Err()
}

// ioLimiter paces the cleaner's reads to a byte rate
// (log.cleaner.io.max.bytes.per.second), shared by its goroutines.
type ioLimiter struct {
	rate float64 // bytes per second; +Inf or <= 0: no limit
	mu   sync.Mutex
	next time.Time // when the bytes granted so far are paid for
}

func newIOLimiter(rate float64) *ioLimiter { return &ioLimiter{rate: rate} }

// wait blocks until n more bytes fit the rate.
func (l *ioLimiter) wait(n int) {
	if l.rate <= 0 || math.IsInf(l.rate, 1) || l.rate >= math.MaxFloat64 {
		return
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	until := l.next
	l.mu.Unlock()
	if d := time.Until(until); d > 0 {
		time.Sleep(d) // pacing I/O to a rate, not waiting for state
	}
}

// abortedTxns lists the aborted transactions whose data lies in [from,
// upTo), for the cleaner.
func (p *partition) abortedTxns(from, upTo int64) []cleaner.AbortedTxn {
	var out []cleaner.AbortedTxn
	for _, r := range p.txns.abortedRanges(from, upTo) {
		out = append(out, cleaner.AbortedTxn{ProducerID: r.producerID, FirstOffset: r.first, LastOffset: r.last})
	}
	return out
}

// producerEnds maps each producer with state here to the last offset of
// its last data batch (when it has one), which the cleaner keeps, and to
// its epoch (Kafka keeps a producer's last batch, or its last marker when
// it has no data left, so that its sequence numbers and epoch survive
// cleaning).
func (p *partition) producerEnds() (lastData map[int64]int64, epochs map[int64]int16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lastData = make(map[int64]int64, len(p.producers))
	epochs = make(map[int64]int16, len(p.producers))
	for pid, st := range p.producers {
		epochs[pid] = st.epoch
		if n := len(st.batches); n > 0 {
			b := st.batches[n-1]
			lastData[pid] = b.baseOffset + int64(b.lastSeq-b.firstSeq)
		}
	}
	return lastData, epochs
}

// batchBase is a batch's base offset.
func batchBase(b []byte) int64 {
	if len(b) < 8 {
		return -1
	}
	return int64(binary.BigEndian.Uint64(b))
}

// CleanerStates returns the log cleaner's state of every compacted log on
// this node, sorted by topic and partition.
func (n *Node) CleanerStates() []CleanerState { return n.cleaner.states() }
