package broker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Follower fetch settings.
const (
	replicaFetchWait      = 500 * time.Millisecond
	replicaFetchMaxBytes  = 16 << 20
	replicaPartitionBytes = 1 << 20
	replicaBackoff        = 50 * time.Millisecond
)

// fetchers runs this node's replica fetchers: one per leader node it
// follows partitions from, each fetching over the Kafka protocol with the
// node's replica id, as Kafka's ReplicaFetcherThread does.
type fetchers struct {
	n *Node
	// sessions is the node's fetch session cache: the leader side of
	// fetch sessions, kept here, beside the follower side, because both
	// live as long as the node.
	sessions *sessionCache

	mu       sync.Mutex
	byLeader map[int32]*fetcher
	follows  map[*partition]int32
}

func newFetchers(n *Node) *fetchers {
	return &fetchers{
		n:        n,
		sessions: newSessionCache(func() int { return int(n.cfg.Broker.Int("max.incremental.fetch.session.cache.slots")) }),
		byLeader: map[int32]*fetcher{},
		follows:  map[*partition]int32{},
	}
}

// follow makes p fetch from leader, or from nobody when this node leads it
// or it has no leader. It never blocks.
func (fs *fetchers) follow(p *partition, leader int32) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if leader == fs.n.cfg.ID {
		leader = -1
	}
	if cur, ok := fs.follows[p]; ok {
		if cur == leader {
			// New metadata (an epoch, an ISR): whatever error held the
			// partition back may be gone.
			fs.byLeader[cur].undelay(p)
			return
		}
		fs.byLeader[cur].remove(p)
		delete(fs.follows, p)
	}
	if leader < 0 {
		return
	}
	f := fs.byLeader[leader]
	if f == nil {
		f = &fetcher{n: fs.n, leader: leader, parts: map[*partition]struct{}{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
		fs.byLeader[leader] = f
		go f.run()
	}
	f.add(p)
	fs.follows[p] = leader
}

// stop ends every fetcher and waits for them.
func (fs *fetchers) stop() {
	fs.mu.Lock()
	all := fs.byLeader
	fs.byLeader = map[int32]*fetcher{}
	fs.follows = map[*partition]int32{}
	fs.mu.Unlock()
	for _, f := range all {
		close(f.stop)
		f.interrupt()
	}
	for _, f := range all {
		<-f.done
	}
}

// fetcher fetches the partitions a node follows from one leader.
type fetcher struct {
	n      *Node
	leader int32

	mu    sync.Mutex
	parts map[*partition]struct{}
	// delayed holds partitions whose last answer was an error (not
	// leader, fenced or unknown epoch: metadata not yet agreed) until the
	// time given, as Kafka's replica fetcher delays failed partitions by
	// replica.fetch.backoff.ms. Without it, a partition erroring next to
	// healthy ones would make every fetch return at once, in a busy loop,
	// until the metadata converged.
	delayed map[*partition]time.Time

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	conn *replicaConn
	// inflight is the connection of the fetch in progress, which a change
	// of the partition set interrupts so that a partition this node just
	// began following (after a failover) is not left waiting out another
	// partition's long poll.
	inflight    atomic.Pointer[replicaConn]
	interrupted atomic.Bool
	// added is set when a partition joins the set, and cleared by the
	// snapshot a fetch is built from. A fetch checks it after publishing
	// inflight, and add sets it before looking at inflight: with both
	// sequentially consistent, either the fetch sees the new partition and
	// is not sent, or add sees the fetch and interrupts it. Without it, a
	// partition added between the snapshot and the fetch's start waited
	// out the whole long poll (500 ms), holding the partition's high
	// watermark, and every acks=all and group write to it, that long.
	added atomic.Bool
}

// errSetChanged aborts a fetch built from a partition set that has since
// grown; the fetcher refetches at once.
var errSetChanged = errors.New("partition set changed")

// interrupt cuts short the fetch in progress, if any.
func (f *fetcher) interrupt() {
	if c := f.inflight.Load(); c != nil {
		f.interrupted.Store(true)
		c.nc.SetReadDeadline(time.Now())
	}
}

func (f *fetcher) add(p *partition) {
	f.mu.Lock()
	f.parts[p] = struct{}{}
	delete(f.delayed, p)
	f.mu.Unlock()
	f.added.Store(true)
	f.poke()
	f.interrupt()
}

func (f *fetcher) remove(p *partition) {
	f.mu.Lock()
	delete(f.parts, p)
	delete(f.delayed, p)
	f.mu.Unlock()
	f.poke()
}

// delay holds p out of fetches for replicaBackoff.
func (f *fetcher) delay(p *partition) {
	f.mu.Lock()
	if f.delayed == nil {
		f.delayed = map[*partition]time.Time{}
	}
	f.delayed[p] = time.Now().Add(replicaBackoff)
	f.mu.Unlock()
}

// undelay lets p be fetched again at once.
func (f *fetcher) undelay(p *partition) {
	f.mu.Lock()
	delete(f.delayed, p)
	f.mu.Unlock()
	f.poke()
}

func (f *fetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// snapshot returns the partitions to fetch now, and how long until the
// first delayed one may be fetched again (0: none is delayed).
func (f *fetcher) snapshot() ([]*partition, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added.Store(false)
	out := make([]*partition, 0, len(f.parts))
	now := time.Now()
	var next time.Duration
	for p := range f.parts {
		if until, ok := f.delayed[p]; ok {
			if d := until.Sub(now); d > 0 {
				if next == 0 || d < next {
					next = d
				}
				continue
			}
			delete(f.delayed, p)
		}
		out = append(out, p)
	}
	return out, next
}

// sleep waits for d, a wake-up or the stop; it reports false on stop.
func (f *fetcher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.stop:
		return false
	case <-f.wake:
		return true
	case <-t.C:
		return true
	}
}

func (f *fetcher) run() {
	defer close(f.done)
	defer func() {
		if f.conn != nil {
			f.conn.close()
		}
	}()
	for {
		select {
		case <-f.stop:
			return
		default:
		}
		parts, next := f.snapshot()
		if len(parts) == 0 || f.n.isolated.Load() {
			wait := time.Second
			if next > 0 && next < wait && !f.n.isolated.Load() {
				wait = next
			}
			if !f.sleep(wait) {
				return
			}
			continue
		}
		if err := f.fetchOnce(parts); err != nil {
			if errors.Is(err, errSetChanged) {
				continue // nothing was sent: the connection is still good
			}
			if f.conn != nil {
				f.conn.close()
				f.conn = nil
			}
			if f.interrupted.Swap(false) {
				continue // refetch at once with the new partition set
			}
			f.n.log.Debug("replica fetch", "leader", f.leader, "err", err)
			if !f.sleep(replicaBackoff) {
				return
			}
		}
	}
}

func (f *fetcher) fetchOnce(parts []*partition) error {
	if f.conn == nil {
		b, ok := f.n.ctrl.Image().Broker(f.leader)
		if !ok || b.Fenced {
			return fmt.Errorf("leader %d is not available", f.leader)
		}
		c, err := dialReplica(net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), f.n.cfg.ID)
		if err != nil {
			return err
		}
		f.conn = c
	}
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID = f.n.cfg.ID
	req.MaxWaitMillis = int32(replicaFetchWait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = replicaFetchMaxBytes
	req.SessionEpoch = -1
	byTopic := map[string]int{}
	type key struct {
		topic string
		id    int32
	}
	index := map[key]*partition{}
	for _, p := range parts {
		i, ok := byTopic[p.topic]
		if !ok {
			i = len(req.Topics)
			byTopic[p.topic] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic = p.topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p.id
		rp.CurrentLeaderEpoch = p.leaderEpoch.Load()
		rp.FetchOffset = p.log.EndOffset()
		rp.LastFetchedEpoch = p.lastFetchedEpoch()
		rp.LogStartOffset = p.log.StartOffset()
		rp.PartitionMaxBytes = replicaPartitionBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		index[key{p.topic, p.id}] = p
	}
	// The deadline is set before inflight is published, so that an
	// interrupt's earlier deadline is never overwritten.
	f.conn.nc.SetDeadline(time.Now().Add(replicaFetchWait + 5*time.Second))
	f.inflight.Store(f.conn)
	if f.added.Load() {
		f.inflight.Store(nil)
		f.interrupted.Store(false)
		return errSetChanged
	}
	r, err := f.conn.do(req)
	f.inflight.Store(nil)
	if err != nil {
		return err
	}
	resp := r.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return kerr.ErrorForCode(resp.ErrorCode)
	}
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			p := index[key{t.Topic, rp.Partition}]
			if p == nil {
				continue
			}
			switch {
			case rp.ErrorCode == kerr.OffsetOutOfRange.Code:
				end := p.log.EndOffset()
				switch {
				case rp.LogStartOffset > end:
					err = p.truncateTo(rp.LogStartOffset, true)
				case rp.HighWatermark >= 0 && end > rp.HighWatermark:
					err = p.truncateTo(rp.HighWatermark, false)
				default:
					f.delay(p) // nothing to repair here yet
				}
			case rp.ErrorCode != 0:
				// Not leader, fenced or unknown epoch: the metadata
				// that fixes it is on its way; until then (or the
				// backoff) the partition sits out.
				f.delay(p)
				continue
			case rp.DivergingEpoch.EndOffset >= 0:
				_, mine := p.endOffsetForEpoch(rp.DivergingEpoch.Epoch)
				target := rp.DivergingEpoch.EndOffset
				if mine >= 0 {
					target = min(target, mine)
				}
				f.n.log.Info("truncating diverged replica", "topic", p.topic, "partition", p.id, "to", target, "epoch", rp.DivergingEpoch.Epoch)
				err = p.truncateTo(target, false)
			default:
				err = p.appendReplica(rp.RecordBatches, rp.HighWatermark, rp.LogStartOffset)
			}
			if err != nil {
				f.n.log.Warn("replica append", "topic", p.topic, "partition", p.id, "err", err)
			}
		}
	}
	return nil
}

// replicaConn is a follower's connection to a leader: one request at a
// time, encoded and decoded with kmsg.
type replicaConn struct {
	nc   net.Conn
	r    *bufio.Reader
	f    *kmsg.RequestFormatter
	corr int32
	buf  []byte
}

func dialReplica(addr string, self int32) (*replicaConn, error) {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	return &replicaConn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("broker-" + strconv.Itoa(int(self)) + "-fetcher"))}, nil
}

// do sends req and reads its response, within the deadline the caller set
// on the connection.
func (c *replicaConn) do(req kmsg.Request) (kmsg.Response, error) {
	c.corr++
	c.buf = c.f.AppendRequest(c.buf[:0], req, c.corr)
	if _, err := c.nc.Write(c.buf); err != nil {
		return nil, err
	}
	var sz [4]byte
	if _, err := io.ReadFull(c.r, sz[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(sz[:])
	if n > 1<<30 {
		return nil, fmt.Errorf("response of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return nil, err
	}
	if len(b) < 4 || int32(binary.BigEndian.Uint32(b)) != c.corr {
		return nil, fmt.Errorf("bad correlation id")
	}
	resp := req.ResponseKind()
	body := b[4:]
	if resp.IsFlexible() {
		if len(body) == 0 {
			return nil, io.ErrUnexpectedEOF
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, err
	}
	return resp, nil
}

func (c *replicaConn) close() { c.nc.Close() }
