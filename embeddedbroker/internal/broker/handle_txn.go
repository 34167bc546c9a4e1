package broker

import (
	"context"
	"fmt"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/coordkey"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnStateTopic is the internal topic holding the transaction
// coordinators' state, as in Kafka.
const TxnStateTopic = "__transaction_state"

func (n *Node) newTxnCoordinator() *txn.Coordinator {
	b := n.cfg.Broker
	return txn.New(txn.Config{
		NumPartitions:      int32(b.Int("transaction.state.log.num.partitions")),
		MaxTimeout:         b.Millis("transaction.max.timeout.ms"),
		AbortInterval:      b.Millis("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
		IDExpiration:       b.Millis("transactional.id.expiration.ms"),
		OffsetsPartitions:  int32(b.Int("offsets.topic.num.partitions")),
		AllocateProducerID: n.allocateProducerID,
		PartitionExists:    (&topicsView{ctrl: n.ctrl}).PartitionExists,
		Markers:            markerWriter{n},
		Now:                n.cfg.Now,
	}, n.log)
}

// allocateProducerID hands out a fresh producer id from the node's block,
// reserving a new block from the controller when it runs out.
func (n *Node) allocateProducerID(ctx context.Context) (int64, error) {
	n.pidMu.Lock()
	defer n.pidMu.Unlock()
	if n.pidNext >= n.pidStop {
		first, err := n.ctrl.AllocateProducerIDs(ctx, producerIDBlock)
		if err != nil {
			return -1, err
		}
		n.pidNext, n.pidStop = first, first+producerIDBlock
	}
	id := n.pidNext
	n.pidNext++
	return id, nil
}

// txnCoordinator finds the node leading the transactional id's partition
// of __transaction_state, creating the topic on first use as Kafka does.
func (n *Node) txnCoordinator(ctx context.Context, id string) (int32, string, int32, int16) {
	spec := n.txnStateTopicSpec()
	return n.coordinatorFor(ctx, spec, coordkey.Partition(id, spec.Partitions), id)
}

// txnStateTopicSpec is how __transaction_state is created.
func (n *Node) txnStateTopicSpec() controller.TopicSpec {
	b := n.cfg.Broker
	rf := int16(b.Int("transaction.state.log.replication.factor"))
	spec := controller.TopicSpec{
		Name:              TxnStateTopic,
		Partitions:        int32(b.Int("transaction.state.log.num.partitions")),
		ReplicationFactor: rf,
		Internal:          true,
		// Kafka creates __transaction_state uncompressed, whatever the
		// broker's compression.type.
		Configs: map[string]string{"cleanup.policy": "compact", "compression.type": "uncompressed"},
	}
	spec.Configs["segment.bytes"], _ = b.Get("transaction.state.log.segment.bytes")
	// Kafka's transaction.state.log.min.isr, capped by what the cluster
	// can give (the controller caps the replication factor of internal
	// topics at the live brokers).
	minISR := min(int16(b.Int("transaction.state.log.min.isr")), rf, int16(len(n.ctrl.Image().Brokers)))
	spec.Configs["min.insync.replicas"] = strconv.Itoa(int(max(1, minISR)))
	return spec
}

// txnLoad is a pending load of a __transaction_state partition, led at
// epoch.
type txnLoad struct {
	partition int32
	epoch     int32
	p         *partition
}

// applyTxnCoordination queues loads of the __transaction_state partitions
// this node now leads and unloads of those it no longer leads. n.mu is
// held: loading completes prepared transactions, which writes markers
// through this node's own listener, so it runs on txnLoader, in order.
func (n *Node) applyTxnCoordination(img *controller.Image) {
	t, _ := img.Topic(TxnStateTopic)
	ps := n.parts[TxnStateTopic]
	for i, p := range ps {
		lead := p != nil && t != nil && leads(t, int32(i), n.cfg.ID)
		var epoch int32
		if lead {
			st, _ := t.Partition(int32(i))
			epoch = st.LeaderEpoch
		}
		cur, loaded := n.txnCoordinating[int32(i)]
		// Unloads happen here, at once (Unload never blocks), so that the
		// old state stops serving before anything else; loads are queued,
		// and txnLoader skips one whose epoch is no longer current.
		switch {
		case lead && (!loaded || cur != epoch):
			if loaded {
				// Leadership moved away and back while this node
				// missed images: the state loaded at the old epoch is
				// stale.
				n.txns.Unload(int32(i))
			}
			n.txnCoordinating[int32(i)] = epoch
			n.queueTxnLoad(txnLoad{partition: int32(i), epoch: epoch, p: p})
		case !lead && loaded:
			delete(n.txnCoordinating, int32(i))
			n.txns.Unload(int32(i))
		}
	}
}

// queueTxnLoad queues a load for txnLoader without blocking: it is called
// under n.mu, which the loader's marker writes may need.
func (n *Node) queueTxnLoad(l txnLoad) {
	n.txnMu.Lock()
	n.txnQueue = append(n.txnQueue, l)
	n.txnMu.Unlock()
	select {
	case n.txnWake <- struct{}{}:
	default:
	}
}

// txnLoader applies queued loads in order until the node stops, skipping
// those whose partition was unloaded or reloaded at another epoch since.
func (n *Node) txnLoader() {
	defer n.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-n.stop
		cancel()
	}()
	for {
		n.txnMu.Lock()
		var l txnLoad
		ok := len(n.txnQueue) > 0
		if ok {
			l = n.txnQueue[0]
			n.txnQueue = n.txnQueue[1:]
		}
		n.txnMu.Unlock()
		if !ok {
			select {
			case <-n.stop:
				return
			case <-n.txnWake:
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		n.mu.RLock()
		epoch, current := n.txnCoordinating[l.partition]
		n.mu.RUnlock()
		if !current || epoch != l.epoch {
			continue
		}
		if err := n.txns.Load(ctx, l.partition, l.epoch, txnStore{p: l.p, epoch: l.epoch}, replayRecords(l.p)); err != nil {
			n.log.Error("loading transactions", "partition", l.partition, "err", err)
		}
	}
}

// replayRecords returns a replay of the records of p's data batches, in
// log order, for a coordinator loading its state from an internal topic.
func replayRecords(p *partition) func(fn func(key, value []byte) error) error {
	return func(fn func(key, value []byte) error) error {
		return p.log.Scan(p.log.StartOffset(), func(b []byte) error {
			h, err := batch.ParseHeader(b)
			if err != nil || h.Control() {
				return err
			}
			var ferr error
			err = batch.ForEachRecord(b, func(r batch.Record) bool {
				ferr = fn(r.Key, r.Value)
				return ferr == nil
			})
			if err != nil {
				return err
			}
			return ferr
		})
	}
}

// txnStore writes the transaction coordinator's records to its partition
// of __transaction_state, loaded at leader epoch epoch, acknowledged like an
// acks=all produce.
type txnStore struct {
	p     *partition
	epoch int32
}

func (s txnStore) Append(ctx context.Context, recs []txn.KV) error {
	return appendCommitted(ctx, s.p, s.epoch, batch.BuildOptions{Timestamp: time.Now().UnixMilli()}, kvRecords(recs))
}

// appendCommitted appends a batch of records the broker built itself
// (opts describes it) to p, which it must lead at epoch (-1: any), and
// waits until it is committed, as for an acks=all produce,
// min.insync.replicas included. For a transactional batch, the producer's
// errors (a fenced epoch, ...) are returned as they are, for the client.
func appendCommitted(ctx context.Context, p *partition, epoch int32, opts batch.BuildOptions, rs []batch.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.isrSize.Load() < p.settings.Load().minInsync {
		return kerr.NotEnoughReplicas
	}
	res, err := p.appendInternalAt(batch.Build(opts, rs...), epoch)
	if err != nil {
		switch code := errCode(err); code {
		case kerr.NotLeaderForPartition.Code:
			return kerr.NotLeaderForPartition
		case kerr.InvalidProducerEpoch.Code, kerr.ProducerFenced.Code, kerr.InvalidTxnState.Code,
			kerr.InvalidProducerIDMapping.Code, kerr.TransactionCoordinatorFenced.Code:
			if opts.Transactional {
				return kerr.ErrorForCode(code)
			}
		}
		return kerr.KafkaStorageError
	}
	switch code := p.awaitAcks(ctx, res.lastOffset, res.epoch, time.Now().Add(30*time.Second)); {
	case code == kerr.RequestTimedOut.Code && ctx.Err() != nil:
		return ctx.Err()
	case code != 0:
		return kerr.ErrorForCode(code)
	}
	return nil
}

// kvRecords turns a coordinator's records (groups.KV, txn.KV) into batch
// records.
func kvRecords[KV ~struct{ Key, Value []byte }](recs []KV) []batch.Record {
	rs := make([]batch.Record, len(recs))
	for i, kv := range recs {
		r := struct{ Key, Value []byte }(kv)
		rs[i] = batch.Record{Key: r.Key, Value: r.Value}
	}
	return rs
}

// markerWriter sends the coordinator's markers to the partitions' leaders
// with WriteTxnMarkers, as Kafka's TransactionMarkerChannelManager does.
type markerWriter struct{ n *Node }

func (w markerWriter) WriteMarkers(ctx context.Context, m txn.Markers) error {
	img := w.n.ctrl.Image()
	failed := txn.PartitionErrors{}
	fail := func(topic string, p int32, err error) {
		if failed[topic] == nil {
			failed[topic] = map[int32]error{}
		}
		failed[topic][p] = err
	}
	byLeader := map[int32]map[string][]int32{}
	for topic, ps := range m.Partitions {
		for _, p := range ps {
			_, st, ok := img.Partition(topic, p)
			switch {
			case !ok:
				// Deleted: nothing to mark (Kafka skips it too).
			case st.Leader < 0:
				fail(topic, p, kerr.LeaderNotAvailable)
			default:
				if byLeader[st.Leader] == nil {
					byLeader[st.Leader] = map[string][]int32{}
				}
				byLeader[st.Leader][topic] = append(byLeader[st.Leader][topic], p)
			}
		}
	}
	// One request per leader, all at once.
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for leader, parts := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs := w.send(ctx, img, leader, m, parts)
			mu.Lock()
			defer mu.Unlock()
			for topic, ps := range errs {
				for p, err := range ps {
					fail(topic, p, fmt.Errorf("on node %d: %w", leader, err))
				}
			}
		}()
	}
	wg.Wait()
	if len(failed) == 0 {
		return nil
	}
	return failed
}

// send writes the markers of m on parts, all led by leader, and returns
// the partitions that failed.
func (w markerWriter) send(ctx context.Context, img *controller.Image, leader int32, m txn.Markers, parts map[string][]int32) txn.PartitionErrors {
	all := func(err error) txn.PartitionErrors {
		out := txn.PartitionErrors{}
		for topic, ps := range parts {
			out[topic] = map[int32]error{}
			for _, p := range ps {
				out[topic][p] = err
			}
		}
		return out
	}
	b, ok := img.Broker(leader)
	if !ok || b.Fenced {
		return all(kerr.LeaderNotAvailable)
	}
	r, err := w.roundTrip(ctx, interBrokerAddr(b), m, parts, true)
	if err != nil {
		return all(err)
	}
	out := txn.PartitionErrors{}
	for _, rm := range r.Markers {
		for _, t := range rm.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					if out[t.Topic] == nil {
						out[t.Topic] = map[int32]error{}
					}
					out[t.Topic][p.Partition] = kerr.ErrorForCode(p.ErrorCode)
				}
			}
		}
	}
	return out
}

// roundTrip sends the markers of m on parts to the node at addr over a
// pooled connection. An idle connection may have died with its peer (a
// restart): if a reused one fails, a fresh one is tried once.
func (w markerWriter) roundTrip(ctx context.Context, addr string, m txn.Markers, parts map[string][]int32, reuse bool) (*kmsg.WriteTxnMarkersResponse, error) {
	c, reused, err := w.n.peers.get(w.n, addr, reuse)
	if err != nil {
		return nil, err
	}
	c.nc.SetDeadline(time.Now().Add(markerTimeout + 5*time.Second)) // the leader waits up to markerTimeout
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Now()) })
	r, err := w.do(c, m, parts)
	if !stop() || err != nil {
		c.close() // cut short or broken: not reusable
		if err != nil && reused && ctx.Err() == nil {
			return w.roundTrip(ctx, addr, m, parts, false)
		}
	} else {
		w.n.peers.put(addr, c)
	}
	return r, err
}

// do sends one WriteTxnMarkers request for the markers of m on parts.
func (w markerWriter) do(c *replicaConn, m txn.Markers, parts map[string][]int32) (*kmsg.WriteTxnMarkersResponse, error) {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.SetVersion(1)
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
	for topic, ps := range parts {
		t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		t.Topic, t.Partitions = topic, ps
		mk.Topics = append(mk.Topics, t)
	}
	req.Markers = append(req.Markers, mk)
	r, err := c.do(req)
	if err != nil {
		return nil, err
	}
	return r.(*kmsg.WriteTxnMarkersResponse), nil
}

// peerConns keeps idle connections to other nodes for the transaction
// coordinator's WriteTxnMarkers requests, so that a transaction's markers
// do not pay for a TCP handshake each (Kafka's marker channel manager
// keeps its connections too).
type peerConns struct {
	mu     sync.Mutex
	idle   map[string][]*replicaConn // by address
	closed bool
}

// maxIdlePeerConns bounds the idle connections kept per peer.
const maxIdlePeerConns = 4

// get returns an idle connection to addr (reused true) if reuse allows
// and there is one, or dials one.
func (p *peerConns) get(n *Node, addr string, reuse bool) (c *replicaConn, reused bool, err error) {
	if reuse {
		p.mu.Lock()
		if cs := p.idle[addr]; len(cs) > 0 {
			c = cs[len(cs)-1]
			p.idle[addr] = cs[:len(cs)-1]
			p.mu.Unlock()
			return c, true, nil
		}
		p.mu.Unlock()
	}
	c, err = n.dialPeer(addr)
	return c, false, err
}

// put returns a healthy connection to the pool.
func (p *peerConns) put(addr string, c *replicaConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle[addr]) >= maxIdlePeerConns {
		c.close()
		return
	}
	if p.idle == nil {
		p.idle = map[string][]*replicaConn{}
	}
	p.idle[addr] = append(p.idle[addr], c)
}

// close closes the idle connections; connections put later are closed.
func (p *peerConns) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, cs := range p.idle {
		for _, c := range cs {
			c.close()
		}
	}
	p.idle = nil
}

// interBrokerAddr is where a node reaches broker b: its inter-broker
// listener.
func interBrokerAddr(b controller.Broker) string {
	if b.InterBroker != "" {
		return b.InterBroker
	}
	return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
}
