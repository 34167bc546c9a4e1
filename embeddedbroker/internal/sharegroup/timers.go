package sharegroup

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Deadline is a member's session deadline: when [Group.Expire] removes it
// if it has not heartbeated since.
type Deadline struct {
	// MemberID is the member.
	MemberID string
	// At is when the session expires.
	At time.Time
}

// Deadlines returns the members' session deadlines, earliest first.
// Deadlines are not persisted: a group loaded by replay has none until
// [Group.ResetTimers].
func (g *Group) Deadlines() []Deadline {
	ds := make([]Deadline, 0, len(g.sessions))
	for id, at := range g.sessions {
		ds = append(ds, Deadline{MemberID: id, At: at})
	}
	slices.SortFunc(ds, func(a, b Deadline) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(a.MemberID, b.MemberID))
	})
	return ds
}

// NextDeadline returns the earliest session deadline, if any. The caller
// calls [Group.Expire] once it has passed; any call may move it.
func (g *Group) NextDeadline() (time.Time, bool) {
	var next time.Time
	for _, at := range g.sessions {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, !next.IsZero()
}

// ResetTimers gives every member the session deadline of a member that
// heartbeated at now, as Kafka schedules them when it loads a group.
func (g *Group) ResetTimers(now time.Time) {
	g.sessions = make(map[string]time.Time, len(g.members))
	for id := range g.members {
		g.sessions[id] = now.Add(g.cfg.SessionTimeout)
	}
}

// Expire removes, at time now, the members whose session deadline has
// passed, bumping the group epoch. It returns the records of the changes,
// applied as [Group.Heartbeat] applies its, and the IDs of the removed
// members: the caller releases their acquired records in the share
// partitions ([Partition.ReleaseMember]). An error is internal, as there.
func (g *Group) Expire(now time.Time) ([]Record, []string, error) {
	var records []Record
	emit := func(r Record) error {
		if err := g.apply(r); err != nil {
			return bug(err)
		}
		records = append(records, r)
		return nil
	}
	var expired []string
	for _, id := range sortedIDs(g.sessions) {
		at := g.sessions[id]
		if g.members[id] == nil {
			delete(g.sessions, id)
			continue
		}
		if now.Before(at) {
			continue
		}
		g.log.Info("member session expired", "member", id, "deadline", at)
		if err := g.fence(emit, id); err != nil {
			return nil, nil, err
		}
		expired = append(expired, id)
	}
	return records, expired, nil
}
