package broker

import (
	"context"
	"strings"
	"time"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/quota"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client quotas, as Kafka's ClientQuotaManager enforces them (KIP-13,
// KIP-219): every node measures each user's and client id's produce and
// fetch byte rates (its own share, as every Kafka broker does) against
// the quotas in the metadata (AlterClientQuotas); a client over its
// quota gets its response at once with throttle_time_ms set, and its
// connection is muted for that long, so its next request waits. Replica
// fetches, on the nodes' own listener, are not limited. request_percentage
// limits every request by the time the node spends handling it.
//
// Where this differs from Kafka: a throttled fetch still carries its data
// (Kafka answers it empty and lets the client fetch again after the
// throttle), since the connection is muted for the throttle all the same
// and the long-run rate is the quota either way; request_percentage counts
// the time the node spends on a request's synchronous part plus at most
// 1 ms of its answer's completion (not the time it waits: a long poll, an
// acks=all produce waiting for replication), where Kafka counts its
// handler and network threads' time; controller_mutation_rate is stored
// and described but not enforced.

// quotas are a node's client quotas and their managers.
type quotas struct {
	store                    *quota.Store
	produce, fetch, requests *quota.Manager
}

func newQuotas(now func() time.Time, b *configs.Broker) *quotas {
	st := quota.NewStore()
	cfg := quota.Config{Now: now, Samples: int(b.Int("quota.window.num")), SampleSize: time.Duration(b.Int("quota.window.size.seconds")) * time.Second}
	return &quotas{store: st, produce: quota.NewManager(quota.Produce, st, cfg),
		fetch: quota.NewManager(quota.Fetch, st, cfg), requests: quota.NewManager(quota.Request, st, cfg)}
}

// load replaces the quotas with the metadata's.
func (q *quotas) load(snapshot []byte) error {
	if snapshot == nil {
		snapshot = quota.NewStore().Snapshot()
	}
	return q.store.Restore(snapshot)
}

// quotaUser is the user a request's quotas are measured for: the
// principal's name, ANONYMOUS without authentication, as in Kafka.
func quotaUser(ctx context.Context) string {
	p := principalOf(ctx)
	if _, name, ok := strings.Cut(p, ":"); ok {
		return name
	}
	return p
}

// throttle measures value against m for the request's user and client
// id and, when over quota, mutes the connection for the throttle time
// and sets it in resp (when resp has one). It returns the throttle time.
func throttle(ctx context.Context, c *wire.Conn, m *quota.Manager, clientID string, value float64, resp kmsg.Response) time.Duration {
	if fromBroker(ctx) || !m.Enabled() {
		return 0
	}
	d := m.Record(quotaUser(ctx), clientID, value)
	if d <= 0 {
		return 0
	}
	c.Mute(d)
	if tr, ok := resp.(kmsg.ThrottleResponse); ok && resp != nil {
		ms := int32(min(d.Milliseconds(), 1<<31-1))
		if cur, _ := tr.Throttle(); cur < ms {
			resp.(kmsg.SetThrottleResponse).SetThrottle(ms)
		}
	}
	return d
}

// limit applies the byte-rate quotas of produces and fetches to a
// request's answer.
func (n *Node) limit(ctx context.Context, c *wire.Conn, req *wire.Request, p wire.Pending) wire.Pending {
	if p == nil || fromBroker(ctx) || c == nil {
		return p
	}
	q := n.quotas
	return func() kmsg.Response {
		resp := p()
		switch r := resp.(type) {
		case nil:
			// acks=0: no answer to carry the throttle, the mute alone
			// holds the client back.
			throttle(ctx, c, q.produce, req.ClientID, float64(req.Size), nil)
		case *kmsg.ProduceResponse:
			throttle(ctx, c, q.produce, req.ClientID, float64(req.Size), r)
		case *kmsg.FetchResponse:
			throttle(ctx, c, q.fetch, req.ClientID, float64(fetchBytes(r)), r)
		case *fileFetch:
			throttle(ctx, c, q.fetch, req.ClientID, float64(r.recordBytes()), r)
		}
		return resp
	}
}

// limitRequests applies the request_percentage quota to any request: the
// time the node spent handling it (not the time it waited, a long poll or
// an acks=all produce waiting for replication) as a share of one thread,
// as Kafka's request quota does with its handler threads' time. started
// is zero when no request quota was configured when the request arrived.
func (n *Node) limitRequests(ctx context.Context, c *wire.Conn, req *wire.Request, started time.Time, p wire.Pending) wire.Pending {
	q := n.quotas
	if p == nil || fromBroker(ctx) || started.IsZero() {
		return p
	}
	handled := time.Since(started)
	return func() kmsg.Response {
		t0 := time.Now()
		resp := p()
		if resp != nil {
			throttle(ctx, c, q.requests, req.ClientID, quota.Percent(handled+min(time.Since(t0), time.Millisecond)), resp)
		}
		return resp
	}
}

// fetchBytes is the size of a fetch response's record batches.
func fetchBytes(r *kmsg.FetchResponse) int {
	n := 0
	for i := range r.Topics {
		for j := range r.Topics[i].Partitions {
			n += len(r.Topics[i].Partitions[j].RecordBatches)
		}
	}
	return n
}

// handleDescribeClientQuotas answers from the node's copy of the quotas.
func (n *Node) handleDescribeClientQuotas(req *kmsg.DescribeClientQuotasRequest) kmsg.Response {
	return n.quotas.store.DescribeClientQuotas(req)
}

// handleAlterClientQuotas applies the request to the metadata's quotas in
// one change (or only validates it).
func (n *Node) handleAlterClientQuotas(ctx context.Context, req *kmsg.AlterClientQuotasRequest) kmsg.Response {
	var resp *kmsg.AlterClientQuotasResponse
	err := n.ctrl.UpdateClientQuotas(ctx, func(cur []byte) ([]byte, error) {
		st := quota.NewStore()
		if cur != nil {
			if err := st.Restore(cur); err != nil {
				return nil, err
			}
		}
		resp = st.AlterClientQuotas(req)
		if req.ValidateOnly {
			return nil, nil
		}
		return st.Snapshot(), nil
	})
	if err != nil {
		resp = req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
		for _, e := range req.Entries {
			out := kmsg.NewAlterClientQuotasResponseEntry()
			for _, c := range e.Entity {
				out.Entity = append(out.Entity, kmsg.AlterClientQuotasResponseEntryEntity(c))
			}
			out.ErrorCode, out.ErrorMessage = kerr.UnknownServerError.Code, kmsg.StringPtr(err.Error())
			resp.Entries = append(resp.Entries, out)
		}
	}
	return resp
}

// applyQuotas loads changed quotas from the metadata.
func (n *Node) applyQuotas(img *controller.Image) {
	if err := n.quotas.load(img.ClientQuotas()); err != nil {
		n.log.Error("loading client quotas from the metadata", "err", err)
	}
}
