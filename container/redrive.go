package container

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// HeaderRedriveCount counts how often a record was sent back from a
// dead-letter topic by Redrive.
const HeaderRedriveCount = "kafkaboot_redrive-count"

// RedriveOptions configures Redrive.
type RedriveOptions struct {
	// ClientOpts connect to the cluster: seed brokers, security.
	ClientOpts []kgo.Opt
	// Group is the consumer group whose committed offsets record the
	// progress; default "kafkaboot-redrive.<dlt topic>". A second run with
	// the same group re-drives only what came since.
	Group string
	// To, when set, receives every dead letter instead of its original
	// topic (the kafka_dlt-original-topic header).
	To string
	// Filter, when set, chooses the dead letters to re-drive; the others
	// are skipped, and their offsets committed like the rest, so that a
	// later run with the same group does not see them again (use another
	// Group to look at them again).
	Filter func(*kgo.Record, DeadLetterInfo) bool
	// DryRun re-drives nothing and commits nothing: OnRecord says what
	// would be done.
	DryRun bool
	// OnRecord, when set, is called for each dead letter examined, with
	// where it goes ("" when skipped).
	OnRecord func(r *kgo.Record, info DeadLetterInfo, to string)
	// BatchSize bounds the dead letters sent in one transaction; 0 means
	// 500.
	BatchSize int
}

// RedriveResult counts what Redrive did.
type RedriveResult struct {
	Examined, Redriven, Skipped int
}

// ErrNotDeadLetter is returned (wrapped) by Redrive for a record of the
// dead-letter topic that has no kafka_dlt-original-topic header, when no
// To is given: there is nowhere to send it back.
var ErrNotDeadLetter = errors.New("container: not a dead letter (no kafka_dlt-original-topic or kafka_original-topic header)")

// Redrive sends the dead letters of dltTopic back to the topics they came
// from, once the bug that put them there is fixed: each with its key,
// value and headers, plus HeaderRedriveCount (incremented). Spring's
// documentation leaves this to its users; here it is one call (and
// `kafkaboot dlt redrive`).
//
// It reads dltTopic in the consumer group opts.Group, from the group's
// committed offsets (the beginning the first time), up to the end offsets
// the topic had when it started, and sends what it read in transactions
// that also commit the group's offsets (Kafka's consume-transform-produce,
// with a transactional id derived from the group): a run that is
// interrupted, even killed, and run again re-drives every dead letter
// exactly once for read_committed consumers of the original topics, and a
// second run re-drives nothing. Consumers reading read_uncommitted may see
// the records of a killed run's aborted transaction too.
func Redrive(ctx context.Context, dltTopic string, opts RedriveOptions) (RedriveResult, error) {
	var res RedriveResult
	group := opts.Group
	if group == "" {
		group = "kafkaboot-redrive." + dltTopic
	}
	admCl, err := kgo.NewClient(opts.ClientOpts...)
	if err != nil {
		return res, fmt.Errorf("container: redrive: %w", err)
	}
	adm := kadm.NewClient(admCl)
	defer adm.Close()
	ends, err := adm.ListEndOffsets(ctx, dltTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return res, fmt.Errorf("container: redrive: end offsets of %s: %w", dltTopic, err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return res, fmt.Errorf("container: redrive: offsets of group %s: %w", group, err)
	}
	// What is left to read, per partition: [from, end).
	left := map[int32]int64{}
	starts := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		from := int64(0)
		if c, ok := committed.Lookup(dltTopic, o.Partition); ok && c.At >= 0 {
			from = c.At
		}
		if o.Offset > from {
			left[o.Partition] = o.Offset
			starts[o.Partition] = kgo.NewOffset().At(from)
		}
	})
	if len(left) == 0 {
		return res, nil
	}
	handle := func(r *kgo.Record, produce func(*kgo.Record)) error {
		res.Examined++
		info, isDLT := ParseDeadLetter(r)
		if opts.Filter != nil && !opts.Filter(r, info) {
			res.Skipped++
			if opts.OnRecord != nil {
				opts.OnRecord(r, info, "")
			}
			return nil
		}
		to := opts.To
		if to == "" {
			if !isDLT {
				return fmt.Errorf("%w: %s[%d]@%d", ErrNotDeadLetter, r.Topic, r.Partition, r.Offset)
			}
			to = info.OriginalTopic
		}
		res.Redriven++
		if opts.OnRecord != nil {
			opts.OnRecord(r, info, to)
		}
		if produce != nil {
			produce(redriven(r, to))
		}
		return nil
	}
	done := func(r *kgo.Record) {
		if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
			delete(left, r.Partition)
		}
	}
	if opts.DryRun {
		return res, readOnly(ctx, dltTopic, starts, left, opts.ClientOpts, func(r *kgo.Record) error {
			err := handle(r, nil)
			done(r)
			return err
		})
	}
	// A run that was killed is still a member of the group until its
	// session times out, and a new member would wait for that: it is
	// sent out of the group now. (A run still alive is fenced anyway by
	// this one's transactional id.)
	if err := evictMembers(ctx, admCl, group); err != nil {
		return res, fmt.Errorf("container: redrive: %w", err)
	}
	sess, err := kgo.NewGroupTransactSession(append(append([]kgo.Opt(nil), opts.ClientOpts...),
		kgo.TransactionalID("kafkaboot-redrive."+group),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(dltTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RequireStableFetchOffsets(),
	)...)
	if err != nil {
		return res, fmt.Errorf("container: redrive: %w", err)
	}
	defer sess.Close()
	batch := opts.BatchSize
	if batch <= 0 {
		batch = 500
	}
	for len(left) > 0 {
		fs := sess.PollRecords(ctx, batch)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if err := fs.Err0(); err != nil {
			return res, fmt.Errorf("container: redrive: reading %s: %w", dltTopic, err)
		}
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			return res, fmt.Errorf("container: redrive: %w", err)
		}
		var firstErr error
		var errMu sync.Mutex
		setErr := func(err error) {
			errMu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			errMu.Unlock()
		}
		before := res
		var read []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			read = append(read, r)
			if err := handle(r, func(out *kgo.Record) {
				sess.Produce(ctx, out, func(_ *kgo.Record, err error) {
					if err != nil {
						setErr(err)
					}
				})
			}); err != nil {
				setErr(err)
			}
		})
		if err := sess.Client().Flush(ctx); err != nil {
			setErr(err)
		}
		commit := kgo.TryCommit
		if firstErr != nil {
			commit = kgo.TryAbort
		}
		committed, err := sess.End(ctx, commit)
		switch {
		case firstErr != nil:
			return before, fmt.Errorf("container: redrive: %w", firstErr)
		case err != nil:
			return before, fmt.Errorf("container: redrive: committing: %w", err)
		case !committed:
			// A rebalance or a fenced session: what this batch did was
			// aborted; it is read again.
			res = before
		default:
			for _, r := range read {
				done(r)
			}
		}
	}
	return res, nil
}

// evictMembers removes every member of group (LeaveGroup on their behalf).
func evictMembers(ctx context.Context, cl *kgo.Client, group string) error {
	described, err := kadm.NewClient(cl).DescribeGroups(ctx, group)
	if err != nil {
		return err
	}
	g, ok := described[group]
	if !ok || len(g.Members) == 0 {
		return nil
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = group
	for _, m := range g.Members {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID, lm.InstanceID = m.MemberID, m.InstanceID
		req.Members = append(req.Members, lm)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("removing the members of group %s: %w", group, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil && !errors.Is(err, kerr.UnknownMemberID) {
		return fmt.Errorf("removing the members of group %s: %w", group, err)
	}
	return nil
}

// redriven is the record Redrive sends for dead letter r to topic: its
// key, value and headers, without the retry topics' attempt count and due
// time, with the re-drive count incremented.
func redriven(r *kgo.Record, topic string) *kgo.Record {
	count := 0
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+1)
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderRedriveCount:
			count, _ = strconv.Atoi(string(h.Value))
			continue
		case HeaderRetryAttempts, HeaderRetryBackoffTimestamp:
			// Back on its topic, the record starts its retries afresh.
			continue
		}
		hs = append(hs, h)
	}
	hs = append(hs, kgo.RecordHeader{Key: HeaderRedriveCount, Value: []byte(strconv.Itoa(count + 1))})
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: hs}
}

// readOnly reads topic from starts up to ends without a group, calling fn
// for each record.
func readOnly(ctx context.Context, topic string, starts map[int32]kgo.Offset, ends map[int32]int64, clientOpts []kgo.Opt, fn func(*kgo.Record) error) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), clientOpts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}))...)
	if err != nil {
		return fmt.Errorf("container: %w", err)
	}
	defer cl.Close()
	for len(ends) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("container: reading %s: %w", topic, err)
		}
		var ferr error
		fs.EachRecord(func(r *kgo.Record) {
			if ferr == nil {
				if _, open := ends[r.Partition]; open {
					ferr = fn(r)
				}
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// ListDeadLetters calls fn with every record of dltTopic, from the
// beginning to the end offsets it has now, and its decoded kafka_dlt-*
// headers (ok false for a record without them).
func ListDeadLetters(ctx context.Context, dltTopic string, clientOpts []kgo.Opt, fn func(r *kgo.Record, info DeadLetterInfo, ok bool)) error {
	admCl, err := kgo.NewClient(clientOpts...)
	if err != nil {
		return fmt.Errorf("container: %w", err)
	}
	adm := kadm.NewClient(admCl)
	defer adm.Close()
	starts, err := adm.ListStartOffsets(ctx, dltTopic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("container: start offsets of %s: %w", dltTopic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, dltTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("container: end offsets of %s: %w", dltTopic, err)
	}
	from, left := map[int32]kgo.Offset{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(dltTopic, o.Partition)
		if o.Offset > s.Offset {
			from[o.Partition], left[o.Partition] = kgo.NewOffset().At(s.Offset), o.Offset
		}
	})
	return readOnly(ctx, dltTopic, from, left, clientOpts, func(r *kgo.Record) error {
		info, ok := ParseDeadLetter(r)
		fn(r, info, ok)
		if r.Offset+1 >= left[r.Partition] {
			delete(left, r.Partition)
		}
		return nil
	})
}
