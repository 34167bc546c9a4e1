package consumergroup

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// timers are a member's deadlines. They are not persisted: a group loaded
// by replay gets them from [Group.ResetTimers].
type timers struct {
	session        time.Time // zero: none
	rebalance      time.Time // zero: none
	rebalanceEpoch int32     // the epoch the member must leave by the rebalance deadline
}

func (g *Group) timersOf(id string) *timers {
	t := g.timers[id]
	if t == nil {
		t = new(timers)
		g.timers[id] = t
	}
	return t
}

// DeadlineKind tells what a [Deadline] is for.
type DeadlineKind int8

const (
	// SessionDeadline is when the member is removed if it has not
	// heartbeated since.
	SessionDeadline DeadlineKind = iota + 1
	// RebalanceDeadline is when the member is removed if it has not
	// revoked the partitions it must (it is still at the same epoch).
	RebalanceDeadline
)

// String names the kind.
func (k DeadlineKind) String() string {
	switch k {
	case SessionDeadline:
		return "session"
	case RebalanceDeadline:
		return "rebalance"
	default:
		return "unknown"
	}
}

// Deadline is a time at which [Group.Expire] may remove a member.
type Deadline struct {
	// MemberID is the member the deadline is of.
	MemberID string
	// Kind is what the deadline is for.
	Kind DeadlineKind
	// At is when it passes.
	At time.Time
}

// Deadlines returns the members' deadlines, earliest first. The caller
// calls [Group.Expire] when the earliest has passed (after any call, the
// deadlines may have changed).
func (g *Group) Deadlines() []Deadline {
	var ds []Deadline
	for id, t := range g.timers {
		if !t.session.IsZero() {
			ds = append(ds, Deadline{MemberID: id, Kind: SessionDeadline, At: t.session})
		}
		if !t.rebalance.IsZero() {
			ds = append(ds, Deadline{MemberID: id, Kind: RebalanceDeadline, At: t.rebalance})
		}
	}
	slices.SortFunc(ds, func(a, b Deadline) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(a.MemberID, b.MemberID), cmp.Compare(a.Kind, b.Kind))
	})
	return ds
}

// NextDeadline returns the earliest deadline, if there is one.
func (g *Group) NextDeadline() (time.Time, bool) {
	var next time.Time
	for _, t := range g.timers {
		for _, at := range []time.Time{t.session, t.rebalance} {
			if !at.IsZero() && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
	}
	return next, !next.IsZero()
}

// ResetTimers gives every member the deadlines of a member that just
// heartbeated at now: a session deadline, and a rebalance deadline if it
// must revoke partitions. A group loaded by [Group.Replay] has none until
// then, as Kafka schedules them in onLoaded.
func (g *Group) ResetTimers(now time.Time) {
	g.timers = make(map[string]*timers, len(g.members))
	for id, m := range g.members {
		t := g.timersOf(id)
		t.session = now.Add(g.cfg.SessionTimeout)
		if m.State == MemberUnrevokedPartitions {
			t.rebalance = now.Add(m.RebalanceTimeout)
			t.rebalanceEpoch = m.Epoch
		}
	}
}

// Expire removes, at time now, the members whose session deadline has
// passed and those still at the epoch at which they had to revoke
// partitions by their rebalance deadline, bumping the group epoch (their
// partitions go to the others on their next heartbeats). It returns the
// records of the changes, applied as [Group.Heartbeat] applies its; an
// error is internal, as there.
func (g *Group) Expire(now time.Time) ([]Record, error) {
	var records []Record
	emit := func(r Record) error {
		if err := g.apply(r); err != nil {
			return internalError(err)
		}
		records = append(records, r)
		return nil
	}
	for _, id := range sortedKeys(g.timers) {
		t := g.timers[id]
		m := g.members[id]
		if m == nil {
			delete(g.timers, id)
			continue
		}
		switch {
		case !t.session.IsZero() && !now.Before(t.session):
			g.log.Info("member session expired", "member", id, "deadline", t.session)
		case !t.rebalance.IsZero() && !now.Before(t.rebalance):
			if m.Epoch != t.rebalanceEpoch {
				t.rebalance = time.Time{}
				continue
			}
			g.log.Info("member did not revoke its partitions within its rebalance timeout", "member", id, "epoch", m.Epoch, "timeout", m.RebalanceTimeout)
		default:
			continue
		}
		if err := g.fence(emit, id); err != nil {
			return nil, err
		}
	}
	return records, nil
}
