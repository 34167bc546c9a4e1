// Package listener declares Kafka listeners: handler funcs bound to topics by
// struct tags (the Go counterpart of Spring for Apache Kafka's
// @KafkaListener) or by programmatic [Endpoint] values. Package container
// runs them.
//
//	type Orders struct {
//		Created listener.Func[Order]        `kafka:"topics=orders,group=billing,concurrency=3"`
//		Batch   listener.BatchFunc[Payment] `kafka:"topics=${app.topics.payments},group=billing,batch"`
//		Audit   func(ctx context.Context, r *listener.Record[Event], ack listener.Acknowledgment) error `kafka:"topics=audit;audit-eu,group=audit,ack=manual"`
//		Price   func(ctx context.Context, q Quote) (Price, error) `kafka:"topics=quotes,sendto=prices"`
//	}
//
//	reg := listener.NewRegistry(listener.WithResolver(cfg.Resolve))
//	eps, err := reg.Register(&Orders{Created: svc.created, ...})
//
// A listener may also be declared once, without a struct: its tag and its
// handler ([Registry.RegisterFunc]; kafkaboot.Listen under fx). Its id
// defaults to the handler's name ("pkg.Type.Method").
//
//	ep, err := reg.RegisterFunc("topics=orders,group=billing,concurrency=3", svc.OnOrder)
//
// # Tag syntax
//
// This section is the single reference for the `kafka:"..."` tag.
//
// Attributes are separated by commas; an attribute is name=value, or a bare
// name for boolean attributes ("batch" is "batch=true"). Lists are separated
// by semicolons (topics=orders;payments); commas and semicolons inside (),
// [] or {} do not separate anything, so regexes such as a{1,3} and
// placeholders such as ${k:a,b} stay whole. Every value may contain
// ${key} / ${key:default} placeholders, resolved by the registry's
// [Resolver] before the value is parsed; a placeholder in a list attribute
// may expand to a list, separated by ';' or ','. Blanks around names and
// items are ignored. Attribute names are case-insensitive.
//
//	attribute      value                                  default                  Spring equivalent
//	-------------- -------------------------------------- ------------------------ -----------------------------
//	id             listener id, unique per registry       "pkg.Type.Field"         id
//	topics         list of topic names                    -                        topics
//	pattern        RE2 regex, matched against the whole   -                        topicPattern
//	               topic name (anchored by the container)
//	partitions     list of topic:P[-Q][@offset]; offset   -                        topicPartitions /
//	               is earliest, latest, N, or -N (N before                         partitionOffsets
//	               the end, -1 = last record); no offset =
//	               committed (or reset policy)
//	group          consumer group id                      container default group, groupId (idIsGroup)
//	                                                      else the listener id
//	concurrency    number of group members (clients), >=1 1                        concurrency
//	autostartup    true|false                             true                     autoStartup
//	batch          true|false: handler takes a slice      false                    batch
//	ack            record|batch|time|count|count-time|    container default        containerProperties.ackMode
//	               manual|manual-immediate                (batch)
//	errorhandler   name of an error handler registered    container default        errorHandler / containerFactory
//	               with the container
//	dlt            dead-letter topic, or "none" to log    "<topic>.DLT"            DeadLetterPublishingRecoverer
//	               and skip instead of dead-lettering                              destination resolver
//	validate       true|false                             on when the payload type (validator on the
//	                                                      has `validate` tags      KafkaListenerEndpointRegistrar)
//	properties     list of key=value client properties    -                        properties
//	sendto         reply topic for (R, error) handlers    kafka_replyTopic header  @SendTo
//	clientidprefix prefix of the client ids; member i     client default           clientIdPrefix
//	               gets "<prefix>-<i>"
//	ordering       partition|key|none: key handles the    partition                (none: Confluent's
//	               records of one partition on workers                             parallel-consumer)
//	               lanes, one key's records in order;
//	               none in any order; commits stay at the
//	               contiguous handled (or acknowledged)
//	               prefix
//	workers        lanes per partition with ordering key  16
//	               or none
//	retry          non-blocking retries through retry     off (kafka.listener.     @RetryableTopic
//	               topics: true, false, or key:value      retry.enabled turns it
//	               items (attempts:4,backoff:1s,          on for all)
//	               multiplier:2,max:30s; see below)
//	transactional  true|false: handle in Kafka            off (on for all with     KafkaTransactionManager
//	               transactions, exactly once             kafka.listener.          on the container
//	                                                      transactional-id-prefix)
//	cluster        name of a kafka.clusters.<name> entry  the default cluster      (a container factory per
//	               to consume from (dead letters and      (kafka.*)                cluster)
//	               replies go there too)
//	groupprotocol  classic|consumer: the group protocol;  container default        properties:
//	               consumer is KIP-848's (Kafka 4.0+),    (kafka.consumer.         group.protocol
//	               where the broker assigns partitions    group-protocol, classic)
//
// # Retry topics
//
// retry gives a listener Spring's non-blocking retries (@RetryableTopic),
// with Spring's topic names so that Java and Go services share them. A
// record whose handler fails is not retried in place, where it would hold
// up its partition: it is forwarded to a retry topic with the time it is
// due, the same handler consumes it there once due (the retry topic's
// partition is paused meanwhile, nothing of it held in memory), and after
// the last attempt, or at once for an error that is not retryable
// (container.NotRetryable, decoding and validation failures, the error
// handler's NotRetryableErrors), it goes to the dead-letter topic. Items,
// separated by ',' or ';' (the items after the first need no "retry="):
//
//	attempts:N          deliveries in all, the first included      3
//	backoff:D           first delay (delay:D; a bare number is ms)  1s
//	multiplier:F        exponential back off when > 1              fixed
//	max:D               cap of an exponential delay (maxdelay:D)   30s
//	suffixing:S         index (orders-retry-0, -1, ...) or delay    index
//	                    (orders-retry-1000, -2000, ...)
//	reuse:R             single: trailing retries with one delay     single
//	                    share a topic (a fixed back off uses one
//	                    topic, "orders-retry"); multiple: a topic each
//	retry-suffix:S      suffix of retry topics                      -retry
//	dlt-suffix:S        suffix of the dead-letter topic             -dlt
//	autocreate:B        create the topics at start, with the main   true
//	                    topic's partition count and replication
//
// For example retry=attempts:4,backoff:1s,multiplier:2,max:30s on topic
// orders uses orders-retry-0 (after 1s), orders-retry-1 (2s),
// orders-retry-2 (4s) and orders-dlt. Items not given take the
// kafka.listener.retry.* configuration, else Spring's defaults. The dlt
// attribute names another dead-letter topic, or none. Forwarded records
// keep their key, value and headers and carry Spring's headers:
// retry_topic-attempts, retry_topic-backoff-timestamp,
// retry_topic-original-timestamp, kafka_original-topic, -partition,
// -offset, -timestamp, -timestamp-type, -consumer-group and
// kafka_exception-message, -fqcn, -cause-fqcn, -stacktrace. Retry topics
// need topics= (not a pattern or partitions) and a record listener; order
// between a retried record and the records after it is given up, as in
// Spring.
//
// # Transactions
//
// transactional runs the listener in Kafka transactions (exactly-once
// consume-transform-produce, KIP-447): each poll's records are handled in
// one transaction, in which the offsets commit together with everything
// the handlers send through their context (template sends, dead letters,
// replies). A handler failure aborts the transaction: the records come
// again after the error handler's back off, and once its retries are over
// the record is dead-lettered in the transaction that commits its offset.
// Consumers with isolation.level=read_committed see each output once.
// Transactional listeners consume read_committed themselves; they are
// record listeners with automatic acks, without retry topics.
//
// Exactly one of topics, pattern and partitions is required. topics and
// partitions are mutually exclusive (as in Spring): listeners with explicit
// partitions do not join the group; their partitions are spread over the
// concurrency clients, and offsets are committed to the group (if any)
// with stand-alone commits, which the broker accepts only while the group
// has no active members.
//
// Errors name the struct, field and tag, for example
//
//	listener: main.Orders.Created: tag "topics=orders,grp=x": unknown attribute "grp"
//
// and match errors.Is(err, ErrInvalidListener). Registration fails for:
// unknown, duplicate or empty attributes; bad values; unresolvable
// placeholders; missing topics/pattern/partitions or more than one of them;
// unsupported handler signatures; a nil or unexported func field; two
// listeners with the same id; an Acknowledgment parameter without a manual
// ack mode or a manual ack mode without one; sendto on a handler without a
// reply; an unknown errorhandler (when [WithErrorHandlerNames] is given).
//
// # Handler signatures
//
// The first parameter is a context.Context (cancelled only on a hard
// container shutdown; a graceful stop lets in-flight handlers finish), the
// last result an error. T may be a struct, a pointer to a struct, string,
// []byte, a protobuf message, or an interface type (the deserializer picks
// the concrete type, for example from a type header).
//
//	func(ctx, T) error                              one record's value
//	func(ctx, T, listener.Metadata) error           value plus key, headers, topic, partition, offset, timestamp
//	func(ctx, *listener.Record[T]) error            the whole record
//	func(ctx, []T) error                            batch=true: the values of a batch
//	func(ctx, []*listener.Record[T]) error          batch=true: the records of a batch
//	func(ctx, T) (R, error)                         reply: R is serialized and sent to sendto (or to the
//	                                                request's kafka_replyTopic header), carrying the
//	                                                request's kafka_correlationId header
//
// A handler of the first form may also be declared as [Func][T], the same
// signature as a named type, which the invoker calls without reflection:
// Created listener.Func[Order] `kafka:"..."`. [RecordFunc] and [BatchFunc]
// do the same for the record and batch forms, [AckFunc], [AckRecordFunc]
// and [AckBatchFunc] for the manual-ack forms.
//
// Any form may end with a listener.Acknowledgment parameter, which is
// required with ack=manual and ack=manual-immediate and forbidden otherwise.
// A slice parameter is a batch only with batch=true: without it, []Payment
// is the type of one record's value (for example a JSON array).
//
// # Validation
//
// After deserialization, struct payloads (and pointers to structs) whose
// type has `validate` struct tags are validated with
// github.com/go-playground/validator/v10, unless validate=false. Interface
// payloads are checked per concrete type. A failure is a *ValidationError;
// containers never retry it: the record goes straight to the recoverer
// (dead-letter topic). Deserialization failures are *DecodeError and are
// treated the same way, so a poison pill never blocks its partition.
//
// # Performance
//
// Each handler is compiled once, at registration, into an [Invoker]: the
// signature is analysed and every type the call path needs is cached. A
// delivery costs one Deserialize (in place, into the handler's argument,
// with the serde package's deserializers), an optional validation and one
// reflect.Value.Call. The call is direct, without reflection, for handlers
// declared as [Func], [RecordFunc], [BatchFunc] or their Ack forms and for
// func(ctx, T) error handlers whose T is string, []byte, any or
// map[string]any.
package listener
