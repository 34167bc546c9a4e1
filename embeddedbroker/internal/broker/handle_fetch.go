package broker

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleFetch answers a fetch, with Kafka's fetch sessions (KIP-227; see
// fetchsession.go). The session bookkeeping (which session, which
// partitions it adds and forgets, its epoch) is done here, in request
// order; the reads and the long poll happen in the pending answer, so a
// waiting fetch holds only its own connection's later responses, as in
// Kafka.
//
// files says the connection can send records straight from segment files
// (wire.Conn.SendsFiles): a consumer's records read from disk are then
// left in the files and sent with sendfile (see fileFetch).
func (n *Node) handleFetch(ctx context.Context, req *kmsg.FetchRequest, files bool) wire.Pending {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	now := time.Now()
	replica := req.ReplicaID
	if req.Version >= 15 {
		replica = req.ReplicaState.ID
	}
	if replica >= 0 && !fromBroker(ctx) {
		// A replica fetch moves the follower's position and the high
		// watermark: only brokers may send one, on their own listener
		// (Kafka authorizes it as CLUSTER_ACTION and answers
		// TOPIC_AUTHORIZATION_FAILED otherwise).
		return done(refuseFetch(req, resp, kerr.TopicAuthorizationFailed.Code))
	}
	maxBytes := int(req.MaxBytes)
	if limit := int(n.cfg.Broker.Int("fetch.max.bytes")); req.Version < 3 || maxBytes <= 0 || maxBytes > limit {
		maxBytes = limit // Kafka: min(request's max bytes, fetch.max.bytes)
	}
	op := &fetchOp{
		n:        n,
		resp:     resp,
		replica:  replica,
		minBytes: int(req.MinBytes),
		maxBytes: maxBytes,
		// The wait counts from the request's arrival, as in Kafka, not
		// from when the answer's turn on the connection comes.
		deadline: now.Add(time.Duration(req.MaxWaitMillis) * time.Millisecond),
		// Only consumers read committed; followers read the whole log.
		readCommitted: req.IsolationLevel == 1 && replica < 0,
		// Followers read past the high watermark, where a truncation
		// rewrites the file in place: their records are copied.
		files: files && replica < 0 && !n.copyFetch.Load(),
	}
	op.order = op.orderBuf[:0]
	op.evaluated, op.results = op.evalBuf[:0], op.resBuf[:0]
	id, epoch := req.SessionID, req.SessionEpoch
	if req.Version < 7 {
		id, epoch = 0, finalEpoch // no sessions before v7
	}
	if epoch == initialEpoch || epoch == finalEpoch {
		n.fullFetch(op, req, id, epoch, now)
	} else if code := n.incrementalFetch(op, req, id, epoch, now); code != 0 {
		resp.ErrorCode = code
		return done(resp)
	}
	if replica >= 0 {
		op.s.seen.Store(n.cfg.Now().UnixNano())
	}
	return func() kmsg.Response { return op.run(ctx) }
}

// fetchSessions is the node's fetch session cache.
func (n *Node) fetchSessions() *sessionCache { return n.fetchers.sessions }

// fullFetch prepares a full fetch: it closes the session the request names
// (Kafka closes it whatever the epoch), and opens a new one for epoch 0 when
// the cache has room; otherwise the fetch is served by a session of its own
// that ends with it (session id 0 in the answer).
func (n *Node) fullFetch(op *fetchOp, req *kmsg.FetchRequest, id, epoch int32, now time.Time) {
	cache := n.fetchSessions()
	if id != 0 {
		cache.remove(id)
	}
	usesIDs := req.Version >= 13
	size := 0
	for i := range req.Topics {
		size += len(req.Topics[i].Partitions)
	}
	var s *fetchSession
	if epoch == initialEpoch && cache.reserve(size) {
		if s = cache.create(op.replica, usesIDs, size, now); s == nil {
			cache.parts.Add(-int64(size))
		}
	}
	if s == nil {
		s = newFetchSession(0, op.replica, usesIDs, now)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			key := requestKey(usesIDs, rt.Topic, rt.TopicID, rp.Partition)
			if s.cache == nil {
				// Without a session every entry is answered, as
				// named, even a partition named twice.
				op.order = append(op.order, s.newPart(key, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch))
				continue
			}
			// In a session a partition named twice is one
			// partition, with the last parameters, as in Kafka.
			if sp, added := s.add(key, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch); added {
				op.order = append(op.order, sp)
			}
		}
	}
	if s.cache != nil {
		// Partitions named twice were reserved twice.
		s.counted = len(s.parts)
		cache.parts.Add(int64(len(s.parts) - size))
		op.expect = s.epoch
	}
	op.s, op.full = s, true
	op.indexResults(len(op.order))
}

// incrementalFetch prepares an incremental fetch of session id at epoch:
// it checks the session and applies the request's added, changed and
// forgotten partitions. It returns the session error to answer, or 0.
func (n *Node) incrementalFetch(op *fetchOp, req *kmsg.FetchRequest, id, epoch int32, now time.Time) int16 {
	cache := n.fetchSessions()
	s := cache.get(id)
	if s == nil {
		return kerr.FetchSessionIDNotFound.Code
	}
	s.mu.Lock()
	switch {
	case s.closed || s.replica != op.replica:
		s.mu.Unlock()
		return kerr.FetchSessionIDNotFound.Code
	case s.epoch != epoch:
		s.mu.Unlock()
		return kerr.InvalidFetchSessionEpoch.Code
	case s.usesIDs != (req.Version >= 13):
		s.mu.Unlock()
		return kerr.FetchSessionTopicIDError.Code
	}
	added := 0
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			if _, ok := s.parts[requestKey(s.usesIDs, rt.Topic, rt.TopicID, rt.Partitions[j].Partition)]; !ok {
				added++
			}
		}
	}
	if !s.count(added) {
		// Past maxSessionPartitions: the session ends, and the client
		// falls back to full fetches.
		s.mu.Unlock()
		cache.removeSession(s)
		return kerr.FetchSessionIDNotFound.Code
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp, isNew := s.add(requestKey(s.usesIDs, rt.Topic, rt.TopicID, rp.Partition), rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch)
			if isNew {
				added--
			}
			op.order = append(op.order, sp)
		}
	}
	if added > 0 { // partitions named twice were counted twice
		s.counted -= added
		cache.parts.Add(-int64(added))
	}
	// As in Kafka, the forgotten partitions go after the added ones: a
	// partition both named and forgotten is forgotten.
	for i := range req.ForgottenTopics {
		ft := &req.ForgottenTopics[i]
		for _, p := range ft.Partitions {
			s.forget(requestKey(s.usesIDs, ft.Topic, ft.TopicID, p))
		}
	}
	if len(s.parts) == 0 {
		// Nothing left: the session ends and the fetch is answered
		// at once, without a session, as Kafka does.
		s.mu.Unlock()
		cache.removeSession(s)
		op.s, op.full, op.order = newFetchSession(0, op.replica, s.usesIDs, now), true, nil
		return 0
	}
	s.epoch = nextEpoch(s.epoch)
	op.expect = s.epoch
	s.lastUsed.Store(now.UnixNano())
	s.mu.Unlock()
	op.s = s
	return 0
}

// requestKey is the session key of a partition named in a request.
func requestKey(usesIDs bool, topic string, id [16]byte, partition int32) partKey {
	if usesIDs {
		return partKey{id: id, partition: partition}
	}
	return partKey{topic: topic, partition: partition}
}

// fetchOp is one fetch being served.
type fetchOp struct {
	n    *Node
	resp *kmsg.FetchResponse
	s    *fetchSession
	// full: the answer carries every partition of the request, in order
	// (a full fetch); otherwise only those with something new.
	full bool
	// expect is the session epoch this fetch set; when the session's
	// epoch moves on, a newer fetch has superseded this one.
	expect        int32
	replica       int32
	readCommitted bool
	minBytes      int
	maxBytes      int
	deadline      time.Time

	order []*sessionPart // the partitions the request names
	// evaluated are the partitions read, in order, and results what was
	// read for each; resIndex finds a partition's result in a fetch of
	// many partitions (nil below smallFetch: a scan is cheaper).
	evaluated []*sessionPart
	results   []*partResult
	resIndex  map[*sessionPart]int
	slab      []partResult // for newResult
	slabNext  int          // the size of newResult's next slab
	total     int          // bytes read
	// stop: an answer must go out at once (an error, a divergence).
	stop bool
	// topicKeys are the answer's topics, by index; topics indexes them
	// once there are more than smallFetch.
	topicKeys []partKey
	topics    map[partKey]int
	// Room for the lists of a fetch of a partition or two (a follower's,
	// a consumer's of a topic or two), saving their allocations.
	orderBuf, evalBuf [2]*sessionPart
	resBuf            [2]*partResult
	topicBuf          [2]partKey
	// watching: the fetch registered its partitions as waiters itself,
	// for its wait only (a fetch without a live session).
	watching bool
	// files: records read from disk may be left in the segment files
	// (logstore.FileRecords); nfiles counts those the results hold.
	files  bool
	nfiles int
}

// Zero-copy reads. A range of a segment file shorter than minFileRecords
// (or a read with less room than that) is read into memory: below that,
// copying costs no more than the extra system calls (the batch headers
// read to find the range's end, a descriptor's dup and close, a write
// before the sendfile and one after; at 64 KiB BenchmarkDiskFetch gains
// about 1.5x on a 2-core VM). At most maxFileRecords ranges go into one answer, so
// that a fetch of thousands of partitions holds that many descriptors at
// most; the others are read into memory.
const (
	minFileRecords = 32 << 10
	maxFileRecords = 64
)

// smallFetch is the number of partitions or topics up to which a fetch
// finds them in its lists by scanning, without a map.
const smallFetch = 8

// result returns what the fetch read for sp, if it read it.
func (op *fetchOp) result(sp *sessionPart) (*partResult, bool) {
	if op.resIndex != nil {
		i, ok := op.resIndex[sp]
		if !ok {
			return nil, false
		}
		return op.results[i], true
	}
	for i, e := range op.evaluated {
		if e == sp {
			return op.results[i], true
		}
	}
	return nil, false
}

// addResult records r as what the fetch read for sp.
func (op *fetchOp) addResult(sp *sessionPart, r *partResult) {
	op.evaluated = append(op.evaluated, sp)
	op.results = append(op.results, r)
	if op.resIndex != nil {
		op.resIndex[sp] = len(op.results) - 1
	} else if len(op.results) > smallFetch {
		op.indexResults(len(op.results))
	}
}

// indexResults makes results findable by map, with room for n, when n is
// beyond smallFetch.
func (op *fetchOp) indexResults(n int) {
	if n <= smallFetch || op.resIndex != nil {
		return
	}
	op.resIndex = make(map[*sessionPart]int, n)
	for i, sp := range op.evaluated {
		op.resIndex[sp] = i
	}
}

// newResult returns a zero partResult, from a slab: a full fetch or a
// sweep reads thousands, a follower's incremental fetch one or two.
func (op *fetchOp) newResult() *partResult {
	if len(op.slab) == 0 {
		size := min(max(len(op.order), op.slabNext, 1), 1024)
		op.slabNext = 2 * size
		op.slab = make([]partResult, size)
	}
	r := &op.slab[0]
	op.slab = op.slab[1:]
	return r
}

// partResult is what a fetch read for one partition.
type partResult struct {
	resp  kmsg.FetchResponseTopicPartition
	bytes int
	// file holds the records when they were left on disk; resp's
	// RecordBatches is then empty.
	file *logstore.FileRecords
}

// dropFile closes the records r left on disk, if any.
func (op *fetchOp) dropFile(r *partResult) {
	if r.file != nil {
		_ = r.file.Close()
		r.file = nil
		op.nfiles--
	}
}

// run reads, waits and answers. A partition error answers at once, as in
// Kafka (whose delayed fetch completes on any partition error): the
// client, or a follower whose leader has not yet applied the metadata that
// makes it leader, must learn it now, not after the long poll. A follower
// parked for the whole wait would hold the partition's high watermark, and
// with it every acks=all write and group write, for that long.
func (op *fetchOp) run(ctx context.Context) kmsg.Response {
	s := op.s
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for pass := 0; ; pass++ {
		s.mu.Lock()
		if !op.full && (s.closed || s.epoch != op.expect) {
			resp := op.lost()
			s.mu.Unlock()
			return resp
		}
		if pass == 0 {
			op.readFirst()
		} else {
			op.readPending()
		}
		if op.ready(ctx) {
			resp := op.finish()
			s.mu.Unlock()
			return resp
		}
		if !s.live() && !op.watching {
			// A sessionless fetch (or a full fetch whose new session was
			// evicted meanwhile) registers its partitions only now that
			// it waits, and reads them all again, so that no change
			// between the read and the registration is missed.
			op.watching = true
			for _, sp := range op.order {
				sp.watch()
			}
			for _, sp := range op.order {
				op.read(sp)
			}
			if op.ready(ctx) {
				resp := op.finish()
				s.mu.Unlock()
				return resp
			}
		}
		s.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(time.Until(op.deadline))
		}
		select {
		case <-s.wakeCh:
		case <-timer.C:
		case <-ctx.Done():
		}
	}
}

// ready reports whether the answer goes out now: an error or divergence,
// enough bytes, nothing to fetch, the wait over or the connection gone.
func (op *fetchOp) ready(ctx context.Context) bool {
	empty := len(op.order) == 0
	if !op.full {
		empty = len(op.s.parts) == 0
	}
	return op.stop || op.total >= op.minBytes || empty || !time.Now().Before(op.deadline) || ctx.Err() != nil
}

// readFirst is the first read of a fetch: every partition of a full fetch;
// for an incremental one, the partitions the request names, those that
// changed since the last fetch and the sticky ones, or, once per sweep
// interval, all of them. op.s.mu must be held.
func (op *fetchOp) readFirst() {
	s := op.s
	for _, sp := range op.order {
		if _, seen := op.result(sp); !seen && (op.full || !sp.removed) {
			op.read(sp)
		}
	}
	if op.full {
		return
	}
	op.readPending()
	now := time.Now()
	var rest []*sessionPart
	if now.Sub(s.lastSweep) >= sessionSweepEvery {
		// Every partition, now and then, as a safety net: every change
		// a fetch answers wakes the partition's waiters, and an idle
		// follower counts as caught up through its session's fetches
		// (caughtUp), so a sweep should find nothing new.
		s.lastSweep = now
		rest = make([]*sessionPart, 0, len(s.parts))
		for _, sp := range s.parts {
			rest = append(rest, sp)
		}
		op.indexResults(len(s.parts))
	} else {
		for sp := range s.sticky {
			rest = append(rest, sp)
		}
	}
	for _, sp := range rest {
		if _, seen := op.result(sp); !seen && !sp.removed {
			op.read(sp)
		}
	}
}

// readPending reads the partitions that changed since they were last read.
// op.s.mu must be held.
func (op *fetchOp) readPending() {
	for _, sp := range op.s.takePending() {
		if op.full || !sp.removed {
			op.readMarked(sp)
		}
	}
}

// read reads one partition of the session into the fetch's answer,
// replacing what an earlier read in the same fetch found. op.s.mu must be
// held.
func (op *fetchOp) read(sp *sessionPart) {
	sp.clean()
	op.readMarked(sp)
}

// readMarked is read for a partition whose pending mark is already clear.
func (op *fetchOp) readMarked(sp *sessionPart) {
	s := op.s
	r, seen := op.result(sp)
	if !seen {
		r = op.newResult()
		op.addResult(sp, r)
	} else {
		op.total -= r.bytes
		r.bytes = 0
		op.dropFile(r)
	}
	out := &r.resp
	*out = kmsg.NewFetchResponseTopicPartition()
	out.Partition = sp.key.partition
	out.HighWatermark, out.LastStableOffset, out.LogStartOffset = -1, -1, -1
	out.RecordBatches = noRecords()
	sticky := op.readPartition(sp, r, !seen)
	if s.cache != nil && !s.closed {
		if sticky {
			if s.sticky == nil {
				s.sticky = map[*sessionPart]struct{}{}
			}
			s.sticky[sp] = struct{}{}
		} else {
			delete(s.sticky, sp)
		}
	}
}

// readPartition fills r for sp; it reports whether the partition must be
// read again at the session's next fetch even if nothing changes (sticky):
// after an error, while records are left at the cached position, and while
// a follower is out of the ISR (so that its fetches keep asking for the
// ISR to grow). A consumer reading committed reads up to the last stable
// offset and learns the aborted transactions among what it read; other
// consumers read up to the high watermark, followers up to the log end.
// A follower's first read of a partition in a fetch records its position
// (followerFetched).
func (op *fetchOp) readPartition(sp *sessionPart, r *partResult, first bool) (sticky bool) {
	n, s, out := op.n, op.s, &r.resp
	topic := sp.key.topic
	if s.usesIDs {
		name, ok := n.topicName(sp.key.id)
		if !ok {
			op.resolve(sp, nil)
			out.ErrorCode = kerr.UnknownTopicID.Code
			op.stop = true
			return true
		}
		topic = name
	}
	sp.topic = topic
	p := n.partition(topic, sp.key.partition)
	op.resolve(sp, p)
	if p == nil {
		out.ErrorCode = n.missingPartitionCode(topic, sp.key.partition)
		op.stop = true
		return true
	}
	if code := p.checkLeader(sp.leaderEpoch); code != 0 {
		out.ErrorCode = code
		if _, st, ok := n.ctrl.Image().Partition(topic, sp.key.partition); ok {
			out.CurrentLeader.LeaderID, out.CurrentLeader.LeaderEpoch = st.Leader, st.LeaderEpoch
		}
		op.stop = true
		return true
	}
	// A follower whose log diverged from this leader's has not fetched
	// anything yet: it truncates first (Kafka updates follower state only
	// for fetches without a diverging epoch). Counting it would let a
	// replica holding different records at the same offsets join the ISR,
	// and be elected.
	divEpoch, divEnd, diverged := p.divergence(sp.lastFetchedEpoch, sp.fetchOffset)
	var inSession *sessionPart
	if s.live() {
		inSession = sp
	}
	if op.replica >= 0 && first && !diverged && p.followerFetched(op.replica, sp.fetchOffset, n.cfg.Now(), inSession) {
		n.changeISR(p)
	}
	lso, hwm := p.lastStable()
	out.HighWatermark = hwm
	out.LastStableOffset = lso
	out.LogStartOffset = p.log.StartOffset()
	end := p.log.EndOffset()
	upTo := hwm
	switch {
	case op.replica >= 0:
		upTo = end
	case op.readCommitted:
		upTo = lso
	}
	if diverged {
		out.DivergingEpoch.Epoch, out.DivergingEpoch.EndOffset = divEpoch, divEnd
		op.stop = true
		return true
	}
	if sp.fetchOffset >= upTo && sp.fetchOffset <= end {
		// Nothing new yet.
		return op.replica >= 0 && s.live() && !p.inISR(op.replica)
	}
	limit := int(sp.maxBytes)
	if rem := op.maxBytes - op.total; rem < limit {
		limit = rem
	}
	if limit <= 0 && op.total > 0 {
		return true // no room left in this answer
	}
	var (
		data []byte
		file *logstore.FileRecords
		err  error
	)
	if op.replica >= 0 {
		data = p.recentAt(sp.fetchOffset, upTo)
	}
	switch {
	case data != nil:
	case op.files && op.nfiles < maxFileRecords:
		data, file, err = p.log.ReadFile(sp.fetchOffset, max(limit, 1), upTo, minFileRecords)
	default:
		data, err = p.log.Read(sp.fetchOffset, max(limit, 1), upTo)
	}
	if err != nil {
		out.ErrorCode = errCode(err)
		if !errors.Is(err, logstore.ErrOffsetOutOfRange) {
			n.log.Warn("fetch read", "topic", p.topic, "partition", p.id, "err", err)
		}
		op.stop = true
		return true
	}
	if file != nil {
		r.file = file
		op.nfiles++
		if op.readCommitted {
			out.AbortedTransactions = p.txns.abortedIn(sp.fetchOffset, file.NextOffset())
		}
		r.bytes = int(file.Len())
		op.total += r.bytes
		return true
	}
	if data != nil {
		out.RecordBatches = data
	}
	if op.readCommitted && len(data) > 0 {
		out.AbortedTransactions = p.txns.abortedIn(sp.fetchOffset, fetchedUpTo(data))
	}
	r.bytes = len(data)
	op.total += len(data)
	return true
}

// finish builds the answer: every partition of a full fetch, or the
// partitions of an incremental one with something new; a live session
// remembers what each answered partition said. A fetch without a live
// session drops its waiters. Records left on disk make the answer a
// fileFetch. op.s.mu must be held.
func (op *fetchOp) finish() kmsg.Response {
	s := op.s
	live := s.cache != nil && !s.closed
	if live {
		op.resp.SessionID = s.id
	}
	var ff *fileFetch
	if op.nfiles > 0 {
		ff = &fileFetch{FetchResponse: op.resp, marks: make([]byte, op.nfiles), files: make([]fileSplice, 0, op.nfiles)}
	}
	if op.full {
		for _, sp := range op.order {
			r, _ := op.result(sp)
			op.emitResult(sp, r, ff)
			if live {
				sp.remember(&r.resp)
			}
		}
	} else {
		for i, sp := range op.evaluated {
			if r := op.results[i]; !sp.removed && (r.file != nil || sp.changed(&r.resp)) {
				op.emitResult(sp, r, ff)
				sp.remember(&r.resp)
			}
		}
	}
	if op.watching {
		for _, sp := range op.order {
			sp.unwatch()
		}
	}
	if op.nfiles > 0 {
		// Left out of the answer (a partition forgotten meanwhile).
		for _, r := range op.results {
			op.dropFile(r)
		}
	}
	if ff == nil || len(ff.files) == 0 {
		return op.resp
	}
	ff.sort()
	op.n.fileRanges.Add(int64(len(ff.files)))
	return ff
}

// emitResult adds a partition's result to the answer; records it left on
// disk go to ff, with a placeholder in the answer.
func (op *fetchOp) emitResult(sp *sessionPart, r *partResult, ff *fileFetch) {
	if r.file == nil {
		op.emit(sp, &r.resp)
		return
	}
	out := r.resp
	out.RecordBatches = ff.placeholder()
	ti, pi := op.emit(sp, &out)
	ff.add(ti, pi, r.file)
	r.file = nil
	op.nfiles--
}

// resolve points sp at replica p (nil: none here), moving its waiter
// registration: a part of a live session is watched for the session's
// life, the parts of a fetch without one while it waits. op.s.mu must be
// held.
func (op *fetchOp) resolve(sp *sessionPart, p *partition) {
	if sp.p == p {
		return
	}
	sp.unwatch()
	sp.p = p
	if op.watching || (op.s.live() && !sp.removed) {
		sp.watch()
	}
}

// lost answers an incremental fetch whose session closed (evicted, or
// closed by a full fetch) or was taken over by a newer fetch while it
// waited; what it read is marked pending again for that newer fetch.
// op.s.mu must be held.
func (op *fetchOp) lost() kmsg.Response {
	s := op.s
	if op.nfiles > 0 {
		for _, r := range op.results {
			op.dropFile(r)
		}
	}
	if s.closed {
		op.resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return op.resp
	}
	for _, sp := range op.evaluated {
		if !sp.removed {
			sp.wake()
		}
	}
	op.resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
	op.resp.SessionID = s.id
	return op.resp
}

// emit adds a partition's answer to the response, under its topic, and
// returns where it went: the indexes of its topic and of its partition
// there.
func (op *fetchOp) emit(sp *sessionPart, out *kmsg.FetchResponseTopicPartition) (ti, pi int) {
	tk := sp.key
	tk.partition = 0
	i, ok := -1, false
	if op.topics != nil {
		i, ok = op.topics[tk]
	} else {
		for j, k := range op.topicKeys {
			if k == tk {
				i, ok = j, true
				break
			}
		}
	}
	if !ok {
		i = len(op.resp.Topics)
		if op.topicKeys == nil {
			op.topicKeys = op.topicBuf[:0]
		}
		op.topicKeys = append(op.topicKeys, tk)
		if op.topics != nil {
			op.topics[tk] = i
		} else if len(op.topicKeys) > smallFetch {
			op.topics = make(map[partKey]int, 2*len(op.topicKeys))
			for j, k := range op.topicKeys {
				op.topics[k] = j
			}
		}
		t := kmsg.NewFetchResponseTopic()
		t.Topic, t.TopicID = sp.topic, sp.key.id
		op.resp.Topics = append(op.resp.Topics, t)
	}
	t := &op.resp.Topics[i]
	t.Partitions = append(t.Partitions, *out)
	return i, len(t.Partitions) - 1
}

// changed reports whether an incremental fetch answers the partition, as
// Kafka's CachedPartition.maybeUpdateResponseData decides, with the last
// stable offset too: records, an error, a divergence, or a high watermark,
// last stable offset or log start offset other than the last answer said.
func (sp *sessionPart) changed(out *kmsg.FetchResponseTopicPartition) bool {
	return len(out.RecordBatches) > 0 || out.ErrorCode != 0 ||
		out.DivergingEpoch.Epoch >= 0 || out.DivergingEpoch.EndOffset >= 0 ||
		out.HighWatermark != sp.hwm || out.LastStableOffset != sp.lso || out.LogStartOffset != sp.logStart
}

// remember records what an answer said of the partition.
func (sp *sessionPart) remember(out *kmsg.FetchResponseTopicPartition) {
	sp.hwm, sp.lso, sp.logStart = out.HighWatermark, out.LastStableOffset, out.LogStartOffset
	if out.ErrorCode != 0 {
		sp.hwm = -1
	}
}

// inISR reports whether replica is in the partition's ISR.
func (p *partition) inISR(replica int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.isr, replica)
}

// checkLeader validates that this replica leads at the client's epoch
// (-1: the client does not check).
func (p *partition) checkLeader(clientEpoch int32) int16 {
	epoch := p.leaderEpoch.Load()
	switch {
	case !p.leader.Load():
		return kerr.NotLeaderForPartition.Code
	case clientEpoch >= 0 && clientEpoch < epoch:
		return kerr.FencedLeaderEpoch.Code
	case clientEpoch > epoch:
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}

// noRecords is the records field of a partition answer without data: empty,
// never null. Kafka always sends empty records there, and clients on the
// non-flexible fetch versions (kafka-go, sarama) reject a null one as a
// size mismatch.
func noRecords() []byte { return []byte{} }

// refuseFetch answers every partition of a fetch with code.
func refuseFetch(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, code int16) *kmsg.FetchResponse {
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		t := &resp.Topics[i]
		*t = kmsg.NewFetchResponseTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			out := kmsg.NewFetchResponseTopicPartition()
			out.Partition = rp.Partition
			out.HighWatermark, out.LastStableOffset, out.LogStartOffset = -1, -1, -1
			out.RecordBatches = noRecords()
			out.ErrorCode = code
			t.Partitions = append(t.Partitions, out)
		}
	}
	return resp
}
