package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
)

// Producer state snapshots.
//
// A partition's producer state, transaction state and leader epoch cache
// are derived from its log. Rebuilding them from the whole log at every
// open made a restart read every byte of every partition, so, as Kafka
// does with its .snapshot files and leader-epoch-checkpoint, a partition
// stores snapshots of that state beside its log (logstore's state
// snapshots, which the log keeps consistent with truncations and crashes)
// and an open reads only the log after the newest one:
//
//   - at every segment roll, as of the new segment's base offset (the log's
//     roll hook: the state is copied inside the append, under the
//     partition's lock, and written by a goroutine, so an append waits for
//     the copy but not for the file and its fsyncs);
//   - at a clean stop (Node.Close), as of the log end offset, unless the
//     log after the newest snapshot holds less than snapshotMinTail bytes:
//     re-reading that little at the next open costs less than the file's
//     fsyncs cost at the stop, which matter with thousands of partitions.
//     A crash (Node.Kill) writes none.
//
// On open (and after a truncation) the partition loads the newest usable
// snapshot at or below the log end and scans the log from its offset;
// when the newest is unreadable it falls back to an older one, then to the
// whole log, each fallback logged by the log. Unlike Kafka, whose snapshot
// keeps each producer's last batch, a snapshot here keeps the last
// producerWindow batches, so retries of any of them are still recognized
// after a restart; and it also holds the transactions whose markers are not
// yet below the high watermark and the aborted transactions, which Kafka
// keeps in its transaction index files.
//
// The format (inside logstore's framing, which adds the offset, the length
// and a CRC-32C), big endian:
//
//	version int8 (1)
//	producers int32, each: id int64, epoch int16, coordinatorEpoch int32,
//	    lastTimestamp int64, batches int8, each batch: firstSeq int32,
//	    lastSeq int32, baseOffset int64, timestamp int64
//	open transactions int32, each: producer id int64, first offset int64,
//	    epoch int16
//	unstable transactions int32, each: producer id, first, last (int64)
//	aborted transactions int32, each: producer id, first, last (int64)
//	epochs int32, each: epoch int32, start offset int64
//
// Producers and open transactions are sorted by producer id, so that equal
// state encodes to equal bytes.

// snapshotMinTail is the least a clean stop leaves to re-read: with fewer
// bytes after the newest snapshot, it writes none.
const snapshotMinTail = 1 << 20

const snapshotFormat = 1

var errSnapshotFormat = errors.New("malformed producer state snapshot")

// stateSnapshot is a decoded snapshot.
type stateSnapshot struct {
	producers producers
	open      map[int64]openTxn
	unstable  []txnRange
	aborted   []txnRange
	epochs    []epochEntry
}

// encodeState encodes the partition's state. p.mu must be held.
func (p *partition) encodeState() []byte {
	aborted := *p.txns.aborted.Load()
	b := make([]byte, 0, 1+5*4+len(p.producers)*(31+producerWindow*24)+len(p.txns.open)*18+
		(len(p.txns.unstable)+len(aborted))*24+len(p.epochs)*12)
	b = append(b, snapshotFormat)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.producers)))
	for _, id := range slices.Sorted(maps.Keys(p.producers)) {
		st := p.producers[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(st.epoch))
		b = binary.BigEndian.AppendUint32(b, uint32(st.coordinatorEpoch))
		b = binary.BigEndian.AppendUint64(b, uint64(st.lastTimestamp))
		b = append(b, byte(len(st.batches)))
		for _, m := range st.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.baseOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.timestamp))
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.txns.open)))
	for _, id := range slices.Sorted(maps.Keys(p.txns.open)) {
		o := p.txns.open[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint64(b, uint64(o.first))
		b = binary.BigEndian.AppendUint16(b, uint16(o.epoch))
	}
	for _, list := range [][]txnRange{p.txns.unstable, aborted} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(list)))
		for _, r := range list {
			b = binary.BigEndian.AppendUint64(b, uint64(r.producerID))
			b = binary.BigEndian.AppendUint64(b, uint64(r.first))
			b = binary.BigEndian.AppendUint64(b, uint64(r.last))
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.epochs)))
	for _, e := range p.epochs {
		b = binary.BigEndian.AppendUint32(b, uint32(e.Epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.Start))
	}
	return b
}

// snapshotReader decodes big-endian fields, remembering the first error.
type snapshotReader struct {
	b   []byte
	err error
}

func (r *snapshotReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = fmt.Errorf("%w: cut short", errSnapshotFormat)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *snapshotReader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *snapshotReader) i16() int16 {
	if v := r.take(2); v != nil {
		return int16(binary.BigEndian.Uint16(v))
	}
	return 0
}

func (r *snapshotReader) i32() int32 {
	if v := r.take(4); v != nil {
		return int32(binary.BigEndian.Uint32(v))
	}
	return 0
}

func (r *snapshotReader) i64() int64 {
	if v := r.take(8); v != nil {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

// count reads an array length, refusing one the remaining bytes cannot
// hold at size bytes an entry (so that a bad length allocates nothing).
func (r *snapshotReader) count(size int) int {
	n := r.i32()
	if r.err == nil && (n < 0 || int64(n)*int64(size) > int64(len(r.b))) {
		r.err = fmt.Errorf("%w: %d entries of %d bytes in %d bytes", errSnapshotFormat, n, size, len(r.b))
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

// decodeStateSnapshot decodes and checks a snapshot.
func decodeStateSnapshot(data []byte) (*stateSnapshot, error) {
	r := &snapshotReader{b: data}
	if v := r.u8(); r.err == nil && v != snapshotFormat {
		return nil, fmt.Errorf("%w: format %d", errSnapshotFormat, v)
	}
	s := &stateSnapshot{producers: producers{}, open: map[int64]openTxn{}}
	n := r.count(31)
	for range n {
		id := r.i64()
		st := &producerState{epoch: r.i16(), coordinatorEpoch: r.i32(), lastTimestamp: r.i64()}
		nb := int(r.u8())
		if nb > producerWindow {
			return nil, fmt.Errorf("%w: %d batches for producer %d", errSnapshotFormat, nb, id)
		}
		for range nb {
			st.batches = append(st.batches, batchMeta{firstSeq: r.i32(), lastSeq: r.i32(), baseOffset: r.i64(), timestamp: r.i64()})
		}
		if _, dup := s.producers[id]; dup && r.err == nil {
			return nil, fmt.Errorf("%w: producer %d twice", errSnapshotFormat, id)
		}
		s.producers[id] = st
	}
	n = r.count(18)
	for range n {
		id := r.i64()
		s.open[id] = openTxn{first: r.i64(), epoch: r.i16()}
	}
	for _, list := range []*[]txnRange{&s.unstable, &s.aborted} {
		n = r.count(24)
		for range n {
			*list = append(*list, txnRange{producerID: r.i64(), first: r.i64(), last: r.i64()})
		}
	}
	n = r.count(12)
	for range n {
		s.epochs = append(s.epochs, epochEntry{Epoch: r.i32(), Start: r.i64()})
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the end", errSnapshotFormat, len(r.b))
	}
	if s.aborted == nil {
		s.aborted = []txnRange{}
	}
	return s, nil
}

// rolled is the log's roll hook. It runs inside an append, with p.mu held
// by the appender, when the log starts a new segment at at.Offset: the
// state then describes the log up to there. It copies the state for the
// writer goroutine to write.
func (p *partition) rolled(at logstore.SnapshotPoint) {
	p.snaps.submit(at, p.encodeState())
	p.tailBytes = 0
}

// stopSnapshots ends the partition's snapshot writes, when the node stops:
// on a clean stop it lets a pending snapshot be written, then writes one at
// the log end unless the log after the newest snapshot is smaller than
// snapshotMinTail; on a crash it drops the pending one. Nothing may append
// to the partition any more.
func (p *partition) stopSnapshots(clean bool) {
	p.snaps.stop(clean)
	if !clean {
		return
	}
	p.mu.Lock()
	if p.tailBytes < p.snapMinTail {
		p.mu.Unlock()
		return
	}
	at, data := p.log.SnapshotPoint(), p.encodeState()
	p.tailBytes = 0
	p.mu.Unlock()
	_ = p.log.WriteSnapshot(at, data) // the log logs a failure; the next open reads more
}

// stopSnapshots runs stopSnapshots on every partition, a few at a time so
// that their fsyncs overlap.
func stopSnapshots(ps []*partition, clean bool) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, p := range ps {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p.stopSnapshots(clean)
		})
	}
	wg.Wait()
}

// snapshotWriter writes a partition's roll snapshots from a goroutine of
// its own, started when there is one to write: only the newest waiting one
// is written (an older one would be pruned at once).
type snapshotWriter struct {
	log logstore.Log

	mu      sync.Mutex
	pending *pendingSnapshot
	running bool
	stopped bool
	drain   bool // on stop, write the pending one
	done    sync.WaitGroup
}

type pendingSnapshot struct {
	at   logstore.SnapshotPoint
	data []byte
}

// submit queues a snapshot, replacing one not yet written.
func (w *snapshotWriter) submit(at logstore.SnapshotPoint, data []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.pending = &pendingSnapshot{at: at, data: data}
	if !w.running {
		w.running = true
		w.done.Go(w.run)
	}
}

func (w *snapshotWriter) run() {
	for {
		w.mu.Lock()
		s := w.pending
		w.pending = nil
		if s == nil || (w.stopped && !w.drain) {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		// A failure is logged by the log; a stale point (a truncation
		// overtook it) is expected. The next roll writes another.
		_ = w.log.WriteSnapshot(s.at, s.data)
	}
}

// stop refuses further snapshots and waits for the writer; with drain a
// pending snapshot is written first, otherwise dropped.
func (w *snapshotWriter) stop(drain bool) {
	w.mu.Lock()
	w.stopped, w.drain = true, drain
	if !drain {
		w.pending = nil
	}
	w.mu.Unlock()
	w.done.Wait()
}

// expireProducers forgets the producers of the partition that
// producer.id.expiration.ms allows (see producers.expire), by the clock
// now in milliseconds.
func (p *partition) expireProducers(nowMs, expirationMs int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.producers.expire(nowMs, expirationMs, p.txns)
}

// expireProducers runs producer expiration on every hosted replica
// (Kafka's producer-expire-check, every
// producer.id.expiration.check.interval.ms).
func (n *Node) expireProducers() {
	now, exp := n.cfg.Now().UnixMilli(), n.cfg.Broker.Int("producer.id.expiration.ms")
	for _, p := range n.allPartitions() {
		if k := p.expireProducers(now, exp); k > 0 {
			n.log.Debug("expired producer ids", "topic", p.topic, "partition", p.id, "count", k)
		}
	}
}
