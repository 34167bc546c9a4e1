// Package container runs listener endpoints (package listener): the Go
// counterpart of Spring for Apache Kafka's listener containers
// (ConcurrentMessageListenerContainer, DefaultErrorHandler,
// DeadLetterPublishingRecoverer), built on franz-go (kgo).
//
//	c, err := container.New(ep,
//		container.WithClientOpts(cfgOpts...),
//		container.WithPublisher(producer), // dead letters and replies
//		container.WithErrorHandler(&container.ErrorHandler{
//			BackOff: container.ExponentialBackOff{Initial: 100 * time.Millisecond, MaxRetries: container.Unlimited, MaxElapsed: time.Minute},
//		}))
//	err = c.Start(ctx)
//	...
//	err = c.Stop(ctx) // graceful
//
// [Registry] manages the containers of an application ([FromListeners]
// builds one container per endpoint of a listener.Registry).
//
// # Threading model
//
// A container has Concurrency members; each member is one kgo client in
// the listener's group (so Concurrency is the number of group members, as
// in Spring), with DisableAutoCommit. A member has one poll loop, one
// committer goroutine and one worker goroutine per assigned partition.
// Each poll takes everything the client has fetched and hands each
// partition's records to its worker at once, in chunks of at most
// max.poll.records (default 500), so records of one partition are handled
// strictly in order and different partitions in parallel. (A poll bounded
// to max.poll.records would serialize the partitions: franz-go hands out
// fetched records partition by partition.) The poll loop polls only while
// fewer than max.poll.records records of the member are waiting or in
// progress, so at most that many plus one poll's records (bounded by the
// fetch sizes) are polled but not finished; a partition that is stuck
// (slow handler, long retry back off) eventually stops polling for the
// member's other partitions too (Spring, with one consumer thread, stops
// all of them at once).
//
// Batch listeners get, per call, at most max.poll.records records of ONE
// partition from one poll (Spring's batches span partitions); batches keep
// per-partition ordering and parallelism.
//
// With ordering=key (or none) and workers=N, a partition's worker hands
// each chunk to N lanes, goroutines that each handle their records in
// offset order: by key hash, so that one key's records stay in order and
// different keys run in parallel (Confluent's parallel consumer), or in
// turn. The chunk is done when every lane is; the tracker registers the
// chunk's records in offset order first, so commits still stop at the
// first record not handled. A lane whose record is aborted (stop, seek)
// leaves the rest of its records unhandled and uncommitted. With manual
// acks, acknowledgments come in any order and a commit still stops at the
// first record not acknowledged.
//
// Handlers run with a context that is cancelled only by a hard stop (see
// Stop); a graceful stop lets in-flight handlers finish.
//
// # Commits
//
// The container tracks, per partition, the records whose processing
// started, in order, and commits one past the last record of the
// contiguous prefix of finished records — never further, so a commit
// never runs ahead of processing, whatever the ack mode, and a manually
// acknowledged record after an unacknowledged one is not committed until
// the gap is acknowledged. Records that failed but were recovered (for
// example dead-lettered) count as finished. When commits happen depends on
// the ack mode (listener.AckMode): record (synchronously after each record
// or batch), batch (after each chunk of a partition's records from one
// poll, at most max.poll.records), time
// (every ack time), count (synchronously once ack count records finished),
// count-time (either), manual (acknowledged records, at the next commit
// point), manual-immediate (synchronously in Acknowledge). In every mode,
// finished records are also committed when partitions are revoked and on
// Stop. A failed commit is logged and retried at the next commit point.
//
// Rebalances: when partitions are revoked, the rebalance waits (inside
// kgo's OnPartitionsRevoked) until the revoked partitions' workers finished
// the record in progress, then commits what is finished
// (CommitOffsetsSync), then lets the rebalance proceed: records fetched but
// not started are dropped and will be consumed by the new owner. Nothing
// processed is committed twice or lost; a handler that runs longer than
// the group's rebalance timeout gets its member kicked out of the group,
// as in any Kafka consumer. Lost partitions (fatal group errors) are
// dropped without a commit.
//
// Explicit partitions (listener partitions attribute) use a direct
// consumer without group management; offsets are committed to the group
// with stand-alone admin commits, which brokers accept only while the group
// has no active members, and committed offsets are read at Start for
// partitions without an initial offset.
//
// # Errors
//
// A failed delivery goes to the listener's [ErrorHandler] (Spring's
// DefaultErrorHandler): it is retried in place following the BackOff (the
// partition waits, others go on), unless the error is not retryable
// (deserialization and validation failures, [NotRetryable], configured
// errors); then the Recoverer gets the record: by default the
// [DeadLetterRecoverer], which publishes the original bytes to
// "<topic>.DLT" with Spring's kafka_dlt-* headers. A record is committed
// only once it succeeded or was recovered; if recovery fails (the
// dead-letter topic cannot be written), the recovery is retried and the
// partition stays blocked: records are never silently dropped. A poison
// pill (undeserializable value) skips the handler and the retries, goes to
// the dead-letter topic, and its partition continues with the next record.
// A panicking handler is recovered and treated as an error; its stack is
// logged and sent in the kafka_dlt-exception-stacktrace header. Batch
// listeners report a failing record with [BatchFailed]; other batch errors
// retry and finally recover the whole batch (see
// [BatchListenerFailedError]).
//
// # Retry topics
//
// A listener with retry topics (listener attribute retry,
// [WithRetryTopics]) retries nothing in place: its recoverer forwards a
// failed record to the retry topic of its next attempt, or to the
// dead-letter topic, with Spring's @RetryableTopic headers, and the record
// counts as finished. The members consume the main and retry topics in
// the listener's group. A retry topic's worker hands its records to the
// handler once due (retry_topic-backoff-timestamp); at the first record
// not due it pauses the partition (kgo PauseFetchPartitions), rewinds it
// to that record and drops what it holds of it, and a timer resumes it a
// fetch wait before the record is due; a record due within about one
// fetch is waited for in the worker. The members' fetch wait is set to a
// twentieth of the shortest delay (10 to 500 ms), which bounds how late a
// resumed partition is fetched. The topics are created at Start when
// missing, with the main topic's partition count and replication factor.
// Records keep their partition from topic to topic.
//
// # Transactions
//
// A transactional container (listener attribute transactional,
// [WithTransactionalIDPrefix]) gives each member a GroupTransactSession:
// one client that consumes read_committed and produces with the
// transactional id prefix+listener id+"-"+member. The member polls at most
// max.poll.records records, begins a transaction, hands them to the
// workers, waits until they are finished, and ends the transaction, which
// commits their offsets (TxnOffsetCommit with the group's generation,
// KIP-447) with everything sent through the handler context: template
// sends, dead letters, replies. Any failure before the end aborts it: a
// rebalance (franz-go aborts on revoke), a hard stop, a failed handler
// call. After a failed call the member waits the back off and the poll's
// records come again from the committed offsets, in a new transaction;
// the member counts the record's failures, and once the back off is over
// (or the error is not retryable) the record goes to the recoverer in the
// transaction that commits it.
//
// An end whose outcome the member does not learn (its EndTxn fails: the
// answer lost with a connection, the coordinator moving, the deadline
// passing) may still have committed. franz-go then rewinds the member to
// the offsets it last knew to be committed, which would process the
// transaction's records again; the member instead re-initializes its
// producer (which aborts the transaction if the coordinator still has it
// open) and goes on from the group's committed offsets as the
// coordinator has them, read with RequireStable (KIP-447), so a
// committed transaction is not repeated.
//
// A member whose producer is fenced goes on with a new client of the same
// transactional id, as Spring's container makes a new producer
// (stopContainerWhenFenced=false): the old client leaves the group, the
// fenced transaction's records come again, the new client's
// InitProducerID bumps the epoch and it rejoins. Fences come from another
// producer with the same transactional id, from the coordinator aborting a
// transaction that outlived transaction.timeout.ms, and from franz-go's
// recovery after an EndTxn whose outcome it did not learn (a coordinator
// that failed during the request): it re-initializes its producer ID with
// its epoch, and a coordinator that still has the transaction open aborts
// it and fences that producer, Apache Kafka included. A member fenced
// again and again without committing in between (three times) stops the
// container (StateFailed), as does any fence with [WithStopContainerWhenFenced].
//
// # Lifecycle
//
// Stop is graceful: polling stops, each worker finishes its record in
// progress, finished records are committed, the members leave the group
// and the clients close; at most the records that were in progress when
// the stop context expired (hard stop) are redelivered later. Pause and
// Resume stop and restart polling; PausePartitions pauses single
// partitions; Seek, SeekToBeginning and SeekToEnd reposition owned
// partitions; WithIdleEvents reports idle periods; WithRebalanceListener
// observes assignments.
//
// A broker refusing the container's principal (GROUP_, TOPIC_ or
// CLUSTER_AUTHORIZATION_FAILED, a failed SASL authentication) stops the
// container at once, as Spring's does without authExceptionRetryInterval:
// one ERROR naming the listener, group and topic, StateFailed with the
// broker's error, a FailedEvent; no retries until Start is called again
// (after the ACLs are fixed).
//
// # In operation
//
// State and Status tell whether a container is starting, running, paused,
// stopped or failed, whether its clients reach the brokers, and each owned
// partition's lag in records and in time (the age of the oldest record
// waiting). WithEventListener receives lifecycle events (StartedEvent,
// StoppedEvent, FailedEvent, Partitions{Assigned,Revoked,Lost}Event,
// IdleEvent, NonResponsiveEvent). While the brokers cannot be reached the
// container logs one WARN naming the cause (again at most every 30 s) and
// one INFO when they are back; the fetch errors and franz-go's per-retry
// logs of the outage go to debug. WithMeterProvider and WithTracerProvider
// turn on OpenTelemetry metrics and a span per handler call, child of the
// sender's span (see the options).
package container
