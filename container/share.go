package container

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaboot/kafkaboot/listener"
	"github.com/kafkaboot/kafkaboot/serde"
)

// A share listener (the share attribute) consumes as a member of a share
// group (KIP-932, Kafka 4.x's "queues"): the broker hands the records of
// a partition to any number of members, each record to one member at a
// time, and the member acknowledges each record. A share listener's
// concurrency is not bounded by the partition count: 8 members on a
// 2-partition topic all work. There is no per-partition order and there
// are no committed offsets; the broker counts deliveries and archives a
// record it delivered group.share.delivery.count.limit times (5) without
// an acceptance.
//
// The container acknowledges each record as Spring for Apache Kafka's
// share containers do in explicit mode:
//
//   - the handler returned nil: ACCEPT (done);
//   - the handler failed with an error the error handler retries
//     (ErrorHandler.Retryable): RELEASE, the broker delivers the record
//     again, to this member or another, with a delivery count one higher;
//   - the record is a poison pill (it cannot be decoded or validated) or
//     the error is not retryable (NotRetryable): REJECT, the broker
//     archives it; the reason is logged and, if the listener names a
//     dead-letter topic (dlt=...), the record goes there first with the
//     reason in its headers, as for other listeners;
//   - a handler with a listener.Acknowledgment parameter decides itself:
//     Acknowledge accepts, Nack releases; a handler that returns without
//     either is treated by its error as above.
//
// Stop stops polling, lets the handlers finish the records they hold,
// sends the acknowledgements and closes the clients, which releases every
// record not acknowledged.

// shareRun is one Start..Stop cycle of a share listener.
type shareRun struct {
	ctx      context.Context // the handlers' context: cancelled by a hard stop
	cancel   context.CancelFunc
	poll     context.Context // polling stops when it is cancelled
	stopPoll context.CancelFunc
	clients  []*kgo.Client
	wg       sync.WaitGroup
}

// checkShare refuses what a share listener cannot do.
func checkShare(ep *listener.Endpoint) error {
	switch {
	case len(ep.Partitions) > 0:
		return errors.New("a share listener consumes through its share group: it takes no partitions")
	case ep.Batch:
		return errors.New("a share listener handles records one at a time (it acknowledges each): batch is not supported")
	case ep.Transactional == listener.On:
		return errors.New("a share listener cannot be transactional (share groups have no offsets to commit in a transaction)")
	case ep.Retry != nil && !ep.Retry.Disabled:
		return errors.New("a share listener retries through the broker's redelivery (a released record comes back with its delivery count): retry topics are not supported")
	case ep.Ordering != listener.OrderPartition:
		return errors.New("a share listener has no ordering to choose: records come in no particular order")
	}
	switch ep.AckMode {
	case listener.AckDefault, listener.AckRecord, listener.AckManual, listener.AckManualImmediate:
	default:
		return fmt.Errorf("ack mode %s: a share listener acknowledges each record (record, or manual with a listener.Acknowledgment)", ep.AckMode)
	}
	return nil
}

// startShare creates the share consumers and starts their loops.
func (c *Container) startShare(ctx context.Context) error {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pctx, stopPoll := context.WithCancel(hctx)
	r := &shareRun{ctx: hctx, cancel: cancel, poll: pctx, stopPoll: stopPoll}
	for i := 0; i < c.members; i++ {
		cl, err := kgo.NewClient(c.shareOpts(i)...)
		if err != nil {
			for _, cl := range r.clients {
				cl.Close()
			}
			cancel()
			err = fmt.Errorf("container: listener %q: starting share member %d: %w", c.id, i, err)
			c.failure.Store(&err)
			c.state.Store(int32(StateFailed))
			c.emit(FailedEvent{ListenerID: c.id, Err: err})
			return err
		}
		r.clients = append(r.clients, cl)
	}
	for _, cl := range r.clients {
		r.wg.Go(func() { c.shareLoop(r, cl) })
	}
	c.shareCur.Store(r)
	c.state.Store(int32(StateRunning))
	c.log.Info("kafka share listener container started", "group", c.group, "members", c.members)
	c.emit(StartedEvent{ListenerID: c.id})
	return nil
}

// shareOpts are member i's client options.
func (c *Container) shareOpts(i int) []kgo.Opt {
	opts := append([]kgo.Opt(nil), c.o.clientOpts...)
	if c.ep.ClientIDPrefix != "" {
		opts = append(opts, kgo.ClientID(fmt.Sprintf("%s-%d", c.ep.ClientIDPrefix, i)))
	}
	props, _, _ := propertyOpts(c.ep.Properties, i) // checked by New
	opts = append(opts, props...)
	// At most max.poll.records records a poll, batches split if need be
	// (ShareMaxRecordsStrict): records a member holds wait for it alone,
	// so a work queue wants small acquisitions.
	opts = append(opts, kgo.ConsumerGroup(""), kgo.ShareGroup(c.group), kgo.ShareMaxRecords(int32(c.maxPoll)), kgo.ShareMaxRecordsStrict(),
		// One fetch ahead: the next records are on their way while the
		// handler works (strict mode alone fetches only when polled).
		kgo.MaxConcurrentFetches(1),
		kgo.ShareAckCallback(c.shareAcked))
	if c.ep.Pattern != "" {
		return append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics("^(?:"+c.ep.Pattern+")$"))
	}
	return append(opts, kgo.ConsumeTopics(c.ep.Topics...))
}

// shareLoop polls and handles records until polling stops.
func (c *Container) shareLoop(r *shareRun, cl *kgo.Client) {
	for {
		fs := cl.PollRecords(r.poll, c.maxPoll)
		if r.poll.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				c.log.Warn("kafka share listener: fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		c.lastRecord.Store(time.Now().UnixNano())
		fs.EachRecord(func(rec *kgo.Record) {
			if c.paused.Load() {
				// Paused: hand the record back at once.
				rec.Ack(kgo.AckRelease)
				return
			}
			rec.Ack(c.handleShared(r.ctx, rec))
		})
	}
}

// shareAcked logs the acknowledgements the broker refused. The client
// sends again those refused with a retriable error (the share
// coordinator not available: the broker rolled them back and the member
// still holds the records); the others (the record's lock expired, the
// partition's leader changed, the state write failed otherwise) are lost,
// and the broker delivers their records again, to this member or another,
// once their locks expire: the handler may see a record it handled again.
func (c *Container) shareAcked(_ *kgo.Client, rs kgo.ShareAckResults) {
	for _, r := range rs {
		if r.Err != nil {
			c.log.Warn("kafka share listener: acknowledgements refused; their records will be delivered again", "topic", r.Topic,
				"partition", r.Partition, "err", r.Err)
		}
	}
}

// handleShared handles one record and returns its acknowledgement.
func (c *Container) handleShared(ctx context.Context, rec *kgo.Record) kgo.AckStatus {
	var a *shareAck
	var ackI listener.Acknowledgment
	if c.inv.Acknowledges() {
		a = &shareAck{}
		ackI = a
	}
	start := time.Now()
	hctx, span := c.tel.ProcessAt(ctx, rec, int(rec.DeliveryCount()), start, c.tel.MetricsEnabled())
	p, err := c.inv.Decode(c.deser, rec)
	if err == nil {
		var reply any
		reply, err = c.inv.Invoke(hctx, rec, p, ackI)
		if err == nil && reply != nil {
			err = c.sendReply(hctx, rec, reply)
		}
	}
	span.End(err)
	if a != nil && a.status != 0 {
		c.tel.Records(rec.Topic, shareOutcome(a.status), 1)
		return a.status
	}
	if err == nil {
		c.tel.Records(rec.Topic, "accepted", 1)
		return kgo.AckAccept
	}
	if errors.Is(err, serde.ErrRegistryUnavailable) || c.eh.Retryable(err) {
		c.log.Warn("kafka share listener: delivery failed; released for redelivery", "topic", rec.Topic, "partition", rec.Partition,
			"offset", rec.Offset, "delivery", rec.DeliveryCount(), "err", err)
		c.tel.Records(rec.Topic, "released", 1)
		return kgo.AckRelease
	}
	c.log.Error("kafka share listener: record rejected", "topic", rec.Topic, "partition", rec.Partition,
		"offset", rec.Offset, "delivery", rec.DeliveryCount(), "err", err)
	if c.ep.DLT != "" && c.ep.DLT != listener.DLTNone && c.recoverer != nil {
		f := &Failure{ListenerID: c.id, Group: c.group, DLT: c.ep.DLT, Records: []*kgo.Record{rec}, Err: err,
			Attempts: int(rec.DeliveryCount()), FirstFailure: start}
		if rerr := c.recoverer.Recover(hctx, f); rerr != nil {
			// Not archived: released, it comes back and is tried again.
			c.log.Error("kafka share listener: dead-lettering a rejected record failed; released instead", "topic", rec.Topic,
				"partition", rec.Partition, "offset", rec.Offset, "err", rerr)
			return kgo.AckRelease
		}
	}
	c.tel.Records(rec.Topic, "rejected", 1)
	return kgo.AckReject
}

func shareOutcome(s kgo.AckStatus) string {
	switch s {
	case kgo.AckAccept:
		return "accepted"
	case kgo.AckRelease:
		return "released"
	}
	return "rejected"
}

// shareAck is a share listener's listener.Acknowledgment: Acknowledge
// accepts the record, Nack releases it for redelivery (the sleep is the
// broker's to decide: it is ignored).
type shareAck struct{ status kgo.AckStatus }

// Acknowledge accepts the record.
func (a *shareAck) Acknowledge() { a.status = kgo.AckAccept }

// Nack releases the record for redelivery.
func (a *shareAck) Nack(time.Duration) { a.status = kgo.AckRelease }

// stopShare stops a share listener: polling stops, handlers finish their
// records (until ctx ends: then their context is cancelled), the
// acknowledgements are sent and the clients close, releasing what was not
// acknowledged.
func (c *Container) stopShare(ctx context.Context, r *shareRun) error {
	r.stopPoll()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		r.cancel()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		errs = append(errs, fmt.Errorf("hard stop: %w", ctx.Err()))
	}
	flushCtx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		flushCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, cl := range r.clients {
		wg.Go(func() {
			if err := cl.FlushAcks(flushCtx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("member %d: sending acknowledgements: %w", i, err))
				mu.Unlock()
			}
			cl.Close()
		})
	}
	wg.Wait()
	r.cancel()
	if len(errs) > 0 {
		return fmt.Errorf("container: listener %q: stop: %w", c.id, errors.Join(errs...))
	}
	return nil
}
