package txn

import (
	"regexp"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDescribe follows Kafka's TransactionCoordinator.handleDescribeTransactions.
func (c *Coordinator) handleDescribe(r *kmsg.DescribeTransactionsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range r.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		st.ProducerID = noProducerID
		st.ProducerEpoch = noEpoch
		st.StartTimestamp = -1
		st.Topics = []kmsg.DescribeTransactionsResponseTransactionStateTopic{}
		if id == "" {
			st.ErrorCode = kerr.InvalidRequest.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		t, code := c.acquire(id)
		switch {
		case code != 0:
			st.ErrorCode = code
		case t == nil:
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
		default:
			st.State = t.state.String()
			st.TimeoutMillis = t.timeoutMs
			st.StartTimestamp = t.startMs
			st.ProducerID = t.producerID
			st.ProducerEpoch = t.epoch
			sorted := t.parts.sorted()
			for _, topic := range t.parts.topics() {
				dt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				dt.Topic = topic
				dt.Partitions = sorted[topic]
				st.Topics = append(st.Topics, dt)
			}
			t.mu.Unlock()
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp
}

// stateByName maps Kafka's state names (as ListTransactions filters them)
// to states.
func stateByName(name string) (kmsg.TransactionState, bool) {
	for s := stateEmpty; s <= statePrepareEpochFence; s++ {
		if s.String() == name {
			return s, true
		}
	}
	return 0, false
}

// handleList follows Kafka's TransactionStateManager.listTransactionStates,
// over the partitions this coordinator has loaded. The v2+ pattern filter is
// matched with Go's regexp package (RE2), not Java's.
func (c *Coordinator) handleList(r *kmsg.ListTransactionsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.ListTransactionsResponse)
	var pattern *regexp.Regexp
	if r.TransactionalIDPattern != nil && *r.TransactionalIDPattern != "" {
		var err error
		if pattern, err = regexp.Compile(*r.TransactionalIDPattern); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp
		}
	}
	states := make(map[kmsg.TransactionState]bool)
	for _, name := range r.StateFilters {
		if s, ok := stateByName(name); ok {
			states[s] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	pids := make(map[int64]bool, len(r.ProducerIDFilters))
	for _, p := range r.ProducerIDFilters {
		pids[p] = true
	}
	durationFilter := int64(-1)
	if r.Version >= 1 {
		durationFilter = r.DurationFilterMillis
	}

	ts, loading, closed := c.rt.Items(nil)
	switch {
	case closed:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	case loading:
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp
	}

	now := c.nowMs()
	for _, t := range ts {
		t.mu.Lock()
		include := !t.removed && t.state != stateDead &&
			(len(pids) == 0 || pids[t.producerID]) &&
			(len(r.StateFilters) == 0 || states[t.state]) &&
			(durationFilter < 0 || now-t.startMs > durationFilter) &&
			(pattern == nil || pattern.MatchString(t.id))
		if include {
			st := kmsg.NewListTransactionsResponseTransactionState()
			st.TransactionalID = t.id
			st.ProducerID = t.producerID
			st.TransactionState = t.state.String()
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
		t.mu.Unlock()
	}
	slices.SortFunc(resp.TransactionStates, func(a, b kmsg.ListTransactionsResponseTransactionState) int {
		return strings.Compare(a.TransactionalID, b.TransactionalID)
	})
	return resp
}
