// Package telemetry is the OpenTelemetry instrumentation of kafkaboot: the
// template (producer side) and the listener containers (consumer side)
// call it; nothing else in the module talks to OpenTelemetry.
//
// # Providers
//
// Everything comes from a [Config]: a MeterProvider, a TracerProvider and a
// TextMapPropagator. The package never reads or sets the otel globals. A
// nil provider switches its signal off; with both off, [NewProducer] and
// [NewConsumer] return values whose methods do nothing, and a nil
// *Producer or *Consumer is just as valid.
//
// # Cost
//
//   - Both off: Process, End and SendDone are a nil check; they do not
//     allocate, and Hooks returns nil, so the franz-go client runs without
//     hooks.
//   - Metrics on: every measurement uses an attribute set computed once per
//     topic (or topic and partition, error type, outcome, ...) and kept in a
//     copy-on-write map, read with one atomic load and a map lookup. In
//     steady state SendDone and Process+End allocate nothing. The cache is
//     bounded (16384 sets per Producer or Consumer); past that, sets are
//     built per measurement.
//   - Tracing on: a span per record sent and per handler call, plus the
//     header injection and extraction; this allocates, as spans do.
//
// # Semantic conventions
//
// Attributes and metric names follow the OpenTelemetry messaging semantic
// conventions (semconv v1.43.0) where they apply: messaging.system
// ("kafka"), messaging.destination.name (topic),
// messaging.destination.partition.id, messaging.consumer.group.name,
// messaging.operation.name and messaging.operation.type ("send", "receive",
// "process"), messaging.kafka.offset, messaging.kafka.message.key (only a
// valid UTF-8 key of at most 64 bytes), messaging.batch.message_count and
// error.type (see [ErrorType]). Spans are named "<operation> <topic>".
//
// Metrics (instrumentation scope "github.com/kafkaboot/kafkaboot"):
//
//	name                                  instrument              unit         recorded by
//	messaging.client.operation.duration   Float64Histogram        s            Producer.SendDone (one template send)
//	messaging.client.sent.messages        Int64ObservableCounter  {message}    producer hooks (records written; failed records, with error.type)
//	kafkaboot.client.sent.bytes           Int64ObservableCounter  By           producer hooks (records' key, value and header bytes)
//	messaging.client.consumed.messages    Int64Counter            {message}    consumer hooks (batches fetched)
//	kafkaboot.client.consumed.bytes       Int64Counter            By           consumer hooks (uncompressed batch bytes)
//	messaging.process.duration            Float64Histogram        s            Processing.End (one handler call)
//	kafkaboot.listener.records            Int64Counter            {record}     Consumer.Records (final outcome, kafkaboot.outcome)
//	kafkaboot.listener.retries            Int64Counter            {retry}      Consumer.Retry (re-delivery after a failed call)
//	kafkaboot.consumer.rebalances         Int64Counter            {rebalance}  Consumer.Rebalance (kafkaboot.rebalance.type)
//	kafkaboot.consumer.commits            Int64Counter            {commit}     Consumer.Commit (error.type on failure)
//	kafkaboot.consumer.lag                Int64ObservableGauge    {message}    Consumer.ObserveLag (per partition)
//	kafkaboot.consumer.lag.time           Float64ObservableGauge  s            Consumer.ObserveLag (age of the oldest unprocessed record)
//	kafkaboot.consumer.paused.partitions  Int64ObservableGauge    {partition}  Consumer.ObserveLag (per listener)
//
// Consumer-side metrics also carry messaging.consumer.group.name and
// kafkaboot.listener.id.
//
// # Trace context
//
// A record sent gets a "send <topic>" producer span, child of the record's
// context (the context given to Produce), and the span's context is written
// into the record headers by the propagator. Writing replaces any header of
// the same key, because records copied from consumed ones (dead letters,
// forwarded records) already carry a traceparent; the headers slice is
// rebuilt rather than edited in place, so a slice shared with the consumed
// record is never modified. A handler call gets a "process <topic>"
// consumer span whose parent is the context extracted from the record's
// headers, so one trace runs from the send through every handler attempt;
// a batch handler call gets one span, child of the caller's context, with a
// link to each record's context.
package telemetry
