package txn

import (
	"context"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordkey"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fencedCode returns the code to answer for code at a request version:
// clients older than the version that introduced PRODUCER_FENCED expect
// INVALID_PRODUCER_EPOCH instead, as Kafka's KafkaApis converts it.
func fencedCode(code int16, version, fencedSince int16) int16 {
	if code == kerr.ProducerFenced.Code && version < fencedSince {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

// wait returns the code sent on res, or COORDINATOR_NOT_AVAILABLE (which
// clients retry) if ctx ends first; the state change goes on regardless.
func wait(ctx context.Context, res <-chan int16) int16 {
	select {
	case code := <-res:
		return code
	default:
	}
	select {
	case code := <-res:
		return code
	case <-ctx.Done():
		return kerr.CoordinatorNotAvailable.Code
	}
}

// expectedPID is the producer ID and epoch an InitProducerID v3+ request
// presents (KIP-360).
type expectedPID struct {
	ok    bool
	pid   int64
	epoch int16
}

type initResult struct {
	code  int16
	pid   int64
	epoch int16
}

// handleInitProducerID follows Kafka's
// TransactionCoordinator.handleInitProducerId.
func (c *Coordinator) handleInitProducerID(ctx context.Context, r *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID = noProducerID
	resp.ProducerEpoch = noEpoch
	fail := func(code int16) kmsg.Response {
		resp.ErrorCode = fencedCode(code, r.Version, 4)
		return resp
	}
	id := *r.TransactionalID
	if id == "" {
		return fail(kerr.InvalidRequest.Code)
	}
	if r.TransactionTimeoutMillis <= 0 || int64(r.TransactionTimeoutMillis) > c.cfg.MaxTimeout.Milliseconds() {
		return fail(kerr.InvalidTransactionTimeout.Code)
	}
	var exp expectedPID
	if r.Version >= 3 {
		switch {
		case r.ProducerID == noProducerID && r.ProducerEpoch == noEpoch:
		case r.ProducerID == noProducerID || r.ProducerEpoch == noEpoch:
			return fail(kerr.InvalidRequest.Code)
		default:
			exp = expectedPID{ok: true, pid: r.ProducerID, epoch: r.ProducerEpoch}
		}
	}

	res := make(chan initResult, 1)
	pid := noProducerID // allocated and not yet used
	for {
		t, code := c.acquire(id)
		if code != 0 {
			return fail(code)
		}
		if t == nil {
			if pid == noProducerID {
				if pid, code = c.allocate(ctx); code != 0 {
					return fail(code)
				}
			}
			var created bool
			if t, created, code = c.acquireOrCreate(id, pid, r.TransactionTimeoutMillis); code != 0 {
				return fail(code)
			}
			if created {
				pid = noProducerID
			}
		}
		code, needPID, started := c.initLocked(t, r.TransactionTimeoutMillis, exp, &pid, res)
		t.mu.Unlock()
		if needPID {
			if pid, code = c.allocate(ctx); code != 0 {
				return fail(code)
			}
			continue
		}
		if !started {
			return fail(code)
		}
		break
	}
	select {
	case ir := <-res:
		if ir.code != 0 {
			return fail(ir.code)
		}
		resp.ProducerID, resp.ProducerEpoch = ir.pid, ir.epoch
		return resp
	case <-ctx.Done():
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
}

func (c *Coordinator) allocate(ctx context.Context) (int64, int16) {
	if c.cfg.AllocateProducerID == nil {
		c.log.Error("no AllocateProducerID configured")
		return noProducerID, kerr.UnknownServerError.Code
	}
	pid, err := c.cfg.AllocateProducerID(ctx)
	if err != nil {
		c.log.Warn("allocating a producer ID failed", "err", err)
		return noProducerID, allocErrCode(err)
	}
	return pid, 0
}

// initLocked is Kafka's prepareInitProducerIdTransit followed by the
// append (or, for an Ongoing transaction, the abort). It returns an error
// code, or needPID if a fresh producer ID is needed in *pid first, or
// started if the result will be sent on res. t must be locked.
func (c *Coordinator) initLocked(t *txn, timeoutMs int32, exp expectedPID, pid *int64, res chan<- initResult) (code int16, needPID, started bool) {
	if t.pending != nil {
		return kerr.ConcurrentTransactions.Code, false, false
	}
	// KIP-360: fence the producer unless the ID was just created, the
	// producer ID is the current one (its epoch is checked below), or it is
	// the previous one at an exhausted epoch (a retry of a rotation whose
	// answer was lost).
	if exp.ok && t.epoch != noEpoch && exp.pid != t.producerID &&
		!(exp.pid == t.lastProducerID && epochExhausted(exp.epoch)) {
		return kerr.ProducerFenced.Code, false, false
	}
	switch t.state {
	case statePrepareCommit, statePrepareAbort:
		return kerr.ConcurrentTransactions.Code, false, false

	case stateEmpty, stateCompleteCommit, stateCompleteAbort:
		tr := t.next()
		if epochExhausted(t.epoch) && (!exp.ok || exp.epoch == t.epoch) {
			// Kafka's prepareProducerIdRotation.
			if *pid == noProducerID {
				return 0, true, false
			}
			tr.lastProducerID = t.producerID
			tr.producerID = *pid
			*pid = noProducerID
			tr.epoch = 0
			tr.lastEpoch = noEpoch
			if exp.ok {
				tr.lastEpoch = t.epoch
			}
		} else {
			// Kafka's prepareIncrementProducerEpoch.
			bumped := t.epoch + 1
			switch {
			case !exp.ok:
				tr.epoch, tr.lastEpoch = bumped, noEpoch
			case t.epoch == noEpoch || exp.epoch == t.epoch:
				tr.epoch, tr.lastEpoch = bumped, t.epoch
			case exp.epoch == t.lastEpoch:
				// A retry of a bump whose answer was lost: answer the
				// current epoch again.
			default:
				return kerr.ProducerFenced.Code, false, false
			}
		}
		tr.timeoutMs = timeoutMs
		tr.state = stateEmpty
		tr.parts = partSet{}
		tr.startMs = -1
		tr.lastUpdateMs = c.nowMs()
		c.persist(t, tr, func(code int16) {
			if code == 0 {
				c.log.Info("initialized transactional ID", "transactional_id", t.id,
					"producer_id", tr.producerID, "producer_epoch", tr.epoch)
			}
			res <- initResult{code: code, pid: tr.producerID, epoch: tr.epoch}
		})
		return 0, false, true

	case stateOngoing:
		// Abort the ongoing transaction, fencing its producer, and let the
		// client retry: the retry bumps the epoch once more (or rotates
		// the producer ID if the fence exhausted the epochs).
		c.abortLocked(t, func(code int16) {
			if code == 0 {
				code = kerr.ConcurrentTransactions.Code
			}
			res <- initResult{code: code}
		})
		return 0, false, true
	}
	c.log.Error("transactional ID in an illegal state", "transactional_id", t.id, "state", t.state.String())
	return kerr.UnknownServerError.Code, false, false
}

// addPartitions adds partitions to the ID's transaction (Kafka's
// handleAddPartitionsToTransaction) and returns the code for all of them.
func (c *Coordinator) addPartitions(ctx context.Context, id string, pid int64, epoch int16, add map[string][]int32) int16 {
	code, _ := c.transition(ctx, id, func(t *txn, res chan<- int16) (int16, bool) {
		return c.addLocked(t, pid, epoch, add, res)
	})
	return code
}

// transition runs step on the state of an existing transactional ID, with
// it locked, and waits (bounded by ctx) for the transition step started,
// if any: the shape of AddPartitionsToTxn and EndTxn. It returns the code
// to answer and the ID's state.
func (c *Coordinator) transition(ctx context.Context, id string, step func(t *txn, res chan<- int16) (code int16, started bool)) (int16, *txn) {
	if id == "" {
		return kerr.InvalidRequest.Code, nil
	}
	t, code := c.acquire(id)
	if code != 0 {
		return code, nil
	}
	if t == nil {
		return kerr.InvalidProducerIDMapping.Code, nil
	}
	res := make(chan int16, 1)
	code, started := step(t, res)
	t.mu.Unlock()
	if !started {
		return code, t
	}
	return wait(ctx, res), t
}

func (c *Coordinator) addLocked(t *txn, pid int64, epoch int16, add map[string][]int32, res chan<- int16) (int16, bool) {
	switch {
	case t.producerID != pid:
		return kerr.InvalidProducerIDMapping.Code, false
	case t.epoch != epoch:
		return kerr.ProducerFenced.Code, false
	case t.pending != nil, t.state == statePrepareCommit, t.state == statePrepareAbort:
		return kerr.ConcurrentTransactions.Code, false
	}
	if t.state == stateOngoing {
		subset := true
		for topic, ps := range add {
			for _, p := range ps {
				subset = subset && t.parts.has(topic, p)
			}
		}
		if subset {
			return 0, false
		}
	}
	tr := t.next()
	for topic, ps := range add {
		for _, p := range ps {
			tr.parts.add(topic, p)
		}
	}
	now := c.nowMs()
	if t.state != stateOngoing {
		tr.startMs = now
	}
	tr.state = stateOngoing
	tr.lastUpdateMs = now
	c.persist(t, tr, func(code int16) { res <- code })
	return 0, true
}

// verifyPartitions answers an AddPartitionsToTxn v4+ VerifyOnly
// transaction (Kafka's handleVerifyPartitionsInTransaction): code applies
// to all partitions if non-zero, else missing lists those not in the
// transaction.
func (c *Coordinator) verifyPartitions(id string, pid int64, epoch int16, parts map[string][]int32) (code int16, in func(topic string, p int32) bool) {
	if id == "" {
		return kerr.InvalidRequest.Code, nil
	}
	t, code := c.acquire(id)
	if code != 0 {
		return code, nil
	}
	if t == nil {
		return kerr.InvalidProducerIDMapping.Code, nil
	}
	defer t.mu.Unlock()
	switch {
	case t.producerID != pid:
		return kerr.InvalidProducerIDMapping.Code, nil
	case t.epoch != epoch:
		return kerr.ProducerFenced.Code, nil
	case t.state == statePrepareCommit || t.state == statePrepareAbort:
		return kerr.ConcurrentTransactions.Code, nil
	}
	have := t.parts.clone()
	return 0, have.has
}

// checkExist returns the per-partition codes Kafka's KafkaApis answers when
// some partitions do not exist (UNKNOWN_TOPIC_OR_PARTITION for those,
// OPERATION_NOT_ATTEMPTED for the others), or nil if all exist.
func (c *Coordinator) checkExist(parts map[string][]int32) map[string]map[int32]int16 {
	if c.cfg.PartitionExists == nil {
		return nil
	}
	var out map[string]map[int32]int16
	missing := false
	for topic, ps := range parts {
		for _, p := range ps {
			if !c.cfg.PartitionExists(topic, p) {
				missing = true
			}
		}
	}
	if !missing {
		return nil
	}
	out = make(map[string]map[int32]int16, len(parts))
	for topic, ps := range parts {
		m := make(map[int32]int16, len(ps))
		for _, p := range ps {
			m[p] = kerr.OperationNotAttempted.Code
			if !c.cfg.PartitionExists(topic, p) {
				m[p] = kerr.UnknownTopicOrPartition.Code
			}
		}
		out[topic] = m
	}
	return out
}

// addOrVerify serves one transaction of an AddPartitionsToTxn request and
// returns a function giving each partition's code.
func (c *Coordinator) addOrVerify(ctx context.Context, id string, pid int64, epoch int16, parts map[string][]int32, verify bool) func(topic string, p int32) int16 {
	if verify {
		code, in := c.verifyPartitions(id, pid, epoch, parts)
		return func(topic string, p int32) int16 {
			switch {
			case code != 0:
				return code
			case in(topic, p):
				return 0
			}
			return kerr.InvalidTxnState.Code
		}
	}
	if exist := c.checkExist(parts); exist != nil {
		return func(topic string, p int32) int16 { return exist[topic][p] }
	}
	code := c.addPartitions(ctx, id, pid, epoch, parts)
	return func(string, int32) int16 { return code }
}

func (c *Coordinator) handleAddPartitions(ctx context.Context, r *kmsg.AddPartitionsToTxnRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if r.Version <= 3 {
		parts := make(map[string][]int32, len(r.Topics))
		for _, rt := range r.Topics {
			parts[rt.Topic] = append(parts[rt.Topic], rt.Partitions...)
		}
		codeFor := c.addOrVerify(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, parts, false)
		for _, rt := range r.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				sp.Partition = p
				sp.ErrorCode = fencedCode(codeFor(rt.Topic, p), r.Version, 2)
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}

	// v4+: the broker form (KIP-890), several transactions at once, served
	// in parallel.
	resp.Transactions = make([]kmsg.AddPartitionsToTxnResponseTransaction, len(r.Transactions))
	var wg sync.WaitGroup
	for i := range r.Transactions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rtx := &r.Transactions[i]
			parts := make(map[string][]int32, len(rtx.Topics))
			for _, rt := range rtx.Topics {
				parts[rt.Topic] = append(parts[rt.Topic], rt.Partitions...)
			}
			codeFor := c.addOrVerify(ctx, rtx.TransactionalID, rtx.ProducerID, rtx.ProducerEpoch, parts, rtx.VerifyOnly)
			stx := kmsg.NewAddPartitionsToTxnResponseTransaction()
			stx.TransactionalID = rtx.TransactionalID
			for _, rt := range rtx.Topics {
				st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				st.Topic = rt.Topic
				for _, p := range rt.Partitions {
					sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					sp.Partition = p
					sp.ErrorCode = codeFor(rt.Topic, p)
					st.Partitions = append(st.Partitions, sp)
				}
				stx.Topics = append(stx.Topics, st)
			}
			resp.Transactions[i] = stx
		}()
	}
	wg.Wait()
	return resp
}

// handleAddOffsets adds the group's partition of __consumer_offsets to the
// transaction, as Kafka's KafkaApis.handleAddOffsetsToTxnRequest.
func (c *Coordinator) handleAddOffsets(ctx context.Context, r *kmsg.AddOffsetsToTxnRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	p := OffsetsPartitionFor(r.Group, c.cfg.OffsetsPartitions)
	code := c.addPartitions(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, map[string][]int32{consumerOffsetsTopic: {p}})
	resp.ErrorCode = fencedCode(code, r.Version, 2)
	return resp
}

// OffsetsPartitionFor returns the partition of __consumer_offsets that
// AddOffsetsToTxn adds for the group: the group coordinator's partition
// (the same hash as the group coordinator's).
func OffsetsPartitionFor(group string, offsetsPartitions int32) int32 {
	return coordkey.Partition(group, offsetsPartitions)
}

func (c *Coordinator) handleEndTxn(ctx context.Context, r *kmsg.EndTxnRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID = noProducerID
	resp.ProducerEpoch = noEpoch
	code := c.endTxn(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit)
	resp.ErrorCode = fencedCode(code, r.Version, 2)
	if code == 0 {
		resp.ProducerID, resp.ProducerEpoch = r.ProducerID, r.ProducerEpoch
	}
	return resp
}

// endTxn is Kafka's endTransaction for a client request: it moves the
// transaction to PrepareCommit or PrepareAbort, completes it in the
// background, and answers once the markers are written (see below).
func (c *Coordinator) endTxn(ctx context.Context, id string, pid int64, epoch int16, commit bool) int16 {
	started := false
	code, t := c.transition(ctx, id, func(t *txn, res chan<- int16) (int16, bool) {
		code, ok := c.endLocked(t, pid, epoch, commit, res)
		started = ok
		return code, ok
	})
	if code != 0 || !started {
		return code
	}
	// The outcome is decided and durable (Prepare* is persisted), which
	// is when Kafka answers. Answering once the markers are written too
	// (they take a round trip to each leader) spares the producer's next
	// transaction the CONCURRENT_TRANSACTIONS retries, and their client
	// backoff, that its first AddPartitionsToTxn would otherwise meet
	// while the markers are in flight. The wait is bounded: a partition
	// whose leader is down does not hold the answer.
	t.mu.Lock()
	done := t.completing
	t.mu.Unlock()
	if done != nil {
		timer := time.NewTimer(endTxnCompletionWait)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
		case <-ctx.Done():
		}
	}
	return 0
}

// endTxnCompletionWait bounds how long EndTxn waits for the markers after
// the outcome is persisted; see endTxn.
const endTxnCompletionWait = time.Second

func (c *Coordinator) endLocked(t *txn, pid int64, epoch int16, commit bool, res chan<- int16) (int16, bool) {
	switch {
	case t.producerID != pid:
		return kerr.InvalidProducerIDMapping.Code, false
	case t.epoch != epoch:
		return kerr.ProducerFenced.Code, false
	case t.pending != nil:
		return kerr.ConcurrentTransactions.Code, false
	}
	invalid := func() (int16, bool) {
		c.log.Info("EndTxn in an invalid state", "transactional_id", t.id, "state", t.state.String(), "commit", commit)
		return kerr.InvalidTxnState.Code, false
	}
	switch t.state {
	case stateOngoing:
		tr := t.next()
		tr.state = statePrepareAbort
		if commit {
			tr.state = statePrepareCommit
		}
		tr.lastUpdateMs = c.nowMs()
		c.persist(t, tr, func(code int16) {
			if code == 0 {
				c.startCompleteLocked(t)
			}
			res <- code
		})
		return 0, true
	case stateCompleteCommit:
		if commit {
			return 0, false // a retry of a commit that completed
		}
		return invalid()
	case stateCompleteAbort:
		if !commit {
			return 0, false
		}
		return invalid()
	case statePrepareCommit:
		if commit {
			return kerr.ConcurrentTransactions.Code, false
		}
		return invalid()
	case statePrepareAbort:
		if !commit {
			return kerr.ConcurrentTransactions.Code, false
		}
		return invalid()
	}
	return invalid() // Empty
}
