package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Peers is the set of nodes of one process that fetch from each other by
// calling the leader's fetch handler, without a socket: an embedded
// cluster's nodes share one. Followers still speak Kafka's replica fetch
// (the same kmsg requests, fetch sessions, long polls, leader epochs and
// high watermark rules as over the inter-broker listener); what is left out
// is encoding the request and the answer, two loopback hops and the
// goroutines that serve them, which on a small machine cost as much as the
// rest of an acks=all produce.
//
// A node reached this way is still cut off by its faults: a killed,
// stopped or isolated node refuses calls (as its closed listener refuses
// connections) and ends those in progress (as closing its connections
// would). Nodes with an inter-broker listener of their own security
// (Config.InterBroker: TLS, SASL) always fetch over it.
type Peers struct {
	mu    sync.RWMutex
	nodes map[int32]*Node
}

// NewPeers returns an empty set.
func NewPeers() *Peers { return &Peers{nodes: map[int32]*Node{}} }

func (ps *Peers) add(n *Node) {
	ps.mu.Lock()
	ps.nodes[n.cfg.ID] = n
	ps.mu.Unlock()
}

// remove drops n, if it is still the node registered under its id.
func (ps *Peers) remove(n *Node) {
	ps.mu.Lock()
	if ps.nodes[n.cfg.ID] == n {
		delete(ps.nodes, n.cfg.ID)
	}
	ps.mu.Unlock()
}

func (ps *Peers) get(id int32) *Node {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.nodes[id]
}

// localServing is the state of a node's in-process serving: the context
// its answers to other nodes' calls run in, ended when the node is
// isolated or stops, and the calls in progress, which a stop waits for.
type localServing struct {
	mu     sync.Mutex
	ctx    context.Context // nil: not serving
	cancel context.CancelFunc
	calls  sync.WaitGroup
}

// start serves calls from now on (at Start, and when an isolation heals).
func (s *localServing) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		s.ctx, s.cancel = context.WithCancel(context.Background())
	}
}

// stop refuses new calls, ends those in progress and waits for them.
func (s *localServing) stop() {
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	s.ctx, s.cancel = nil, nil
	s.mu.Unlock()
	s.calls.Wait()
}

// current returns the context calls run in now, nil when the node does
// not serve.
func (s *localServing) current() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctx
}

// enter admits one call; ok is false when the node does not serve. The
// caller calls s.calls.Done when the call is over.
func (s *localServing) enter() (ctx context.Context, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return nil, false
	}
	s.calls.Add(1)
	return s.ctx, true
}

// errPeerDown is a call to a node that does not serve: stopped, killed or
// isolated (as a connection refused).
var errPeerDown = errors.New("peer does not serve")

// localPeer returns the leader to call in process, or nil when the
// follower must dial it: no shared Peers, an inter-broker listener with
// its own security, or a leader not in this process.
func (n *Node) localPeer(id int32) *Node {
	if n.cfg.Peers == nil || n.cfg.InterBroker != nil {
		return nil
	}
	return n.cfg.Peers.get(id)
}

// replicaLink is a follower's way to a leader: a connection
// (replicaConn) or, for a leader in the same process, calls (localLink).
// One request at a time: arm sets the deadline of the next request, do
// sends it, and interrupt, from another goroutine, ends the request in
// progress (or the next one) at once.
type replicaLink interface {
	arm(deadline time.Time)
	do(req kmsg.Request) (kmsg.Response, error)
	interrupt()
	close()
}

// localLink calls a leader of the same process. Only fetches go this way
// (the requests of a replica fetcher). Its context, made once and again
// only after an interrupt, ends when the leader stops serving calls
// (isolated, stopped, killed); the link is then dropped and a new one made
// once the leader serves again. It needs no deadline: the leader answers a
// fetch by its MaxWaitMillis, and the wait a deadline guards against on a
// socket (an answer lost on the way) cannot happen in process.
type localLink struct {
	leader *Node

	mu     sync.Mutex
	ctx    context.Context // nil: the leader did not serve when armed
	cancel context.CancelFunc
}

func (l *localLink) arm(time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx != nil && l.ctx.Err() == nil {
		return
	}
	serving := l.leader.local.current()
	if serving == nil {
		l.ctx, l.cancel = nil, nil
		return
	}
	ctx, cancel := context.WithCancel(serving)
	l.ctx, l.cancel = context.WithValue(ctx, interBrokerKey{}, true), cancel
}

func (l *localLink) interrupt() {
	l.mu.Lock()
	if l.cancel != nil {
		l.cancel()
	}
	l.mu.Unlock()
}

func (l *localLink) close() { l.interrupt() }

// do answers req as the leader's inter-broker listener would, on this
// goroutine: a long poll waits here, until the answer, an interrupt or the
// leader going away.
func (l *localLink) do(req kmsg.Request) (kmsg.Response, error) {
	fr, ok := req.(*kmsg.FetchRequest)
	if !ok {
		return nil, fmt.Errorf("in-process call of %s: only fetches go this way", kmsg.NameForKey(req.Key()))
	}
	l.mu.Lock()
	ctx := l.ctx
	l.mu.Unlock()
	if ctx == nil {
		return nil, fmt.Errorf("fetch from broker %d: %w", l.leader.cfg.ID, errPeerDown)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("fetch from broker %d: %w", l.leader.cfg.ID, ctx.Err())
	}
	ls := &l.leader.local
	serving, ok := ls.enter()
	if !ok {
		return nil, fmt.Errorf("fetch from broker %d: %w", l.leader.cfg.ID, errPeerDown)
	}
	defer ls.calls.Done()
	resp := l.leader.handleFetch(ctx, fr, false)()
	if serving.Err() != nil {
		// The leader went away during the call: what a broken connection
		// would have lost.
		return nil, fmt.Errorf("fetch from broker %d: %w", l.leader.cfg.ID, errPeerDown)
	}
	out, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return nil, fmt.Errorf("fetch from broker %d: answered %T", l.leader.cfg.ID, resp)
	}
	return out, nil
}
