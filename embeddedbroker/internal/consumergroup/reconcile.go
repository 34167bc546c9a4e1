package consumergroup

// reconcile returns the member's next current assignment towards its
// target (Kafka's CurrentAssignmentBuilder), given the partitions the
// member reports it owns (ownedKnown false: it did not report them, so it
// is taken to still own everything). The member itself is not changed.
//
// A member keeps the partitions of its target it has. It must revoke the
// others before it moves to the target epoch; while it still owns some of
// them it stays at its epoch, in MemberUnrevokedPartitions, with only the
// partitions it keeps in its assignment. Once it has none of them, it moves
// to the target epoch and gets the partitions of its target that no member
// holds (assigned or pending revocation); those still held it gets on a
// later heartbeat, waiting in MemberUnreleasedPartitions.
func (g *Group) reconcile(m *Member, owned Assignment, ownedKnown bool) Member {
	if m.reconciledTo(g.assignmentEpoch) {
		return *m
	}
	switch m.State {
	case MemberUnrevokedPartitions:
		if stillOwns(owned, ownedKnown, m.PendingRevocation) {
			return *m
		}
		// Revoked: on to the next epoch, and towards the latest target.
		return g.nextAssignment(m, m.Epoch+1, owned, ownedKnown)
	default:
		// Stable at an older epoch, or waiting for unreleased partitions.
		return g.nextAssignment(m, m.Epoch, owned, ownedKnown)
	}
}

// stillOwns reports whether the member may still own partitions it must
// revoke.
func stillOwns(owned Assignment, ownedKnown bool, revoking Assignment) bool {
	return !ownedKnown || overlaps(owned, revoking)
}

// nextAssignment is Kafka's computeNextAssignment; epoch is the member's
// epoch should it have to revoke.
func (g *Group) nextAssignment(m *Member, epoch int32, owned Assignment, ownedKnown bool) Member {
	target := g.target[m.ID]
	keep := intersect(m.Assigned, target)
	revoke := subtract(m.Assigned, keep)
	var free Assignment
	unreleased := false
	for t, ps := range subtract(target, keep) {
		for _, p := range ps {
			if _, held := g.owners[t][p]; held {
				unreleased = true
				continue
			}
			if free == nil {
				free = make(Assignment)
			}
			free[t] = append(free[t], p)
		}
	}
	n := *m
	n.PreviousEpoch = m.Epoch
	if len(revoke) > 0 && stillOwns(owned, ownedKnown, revoke) {
		n.State = MemberUnrevokedPartitions
		n.Epoch = epoch
		n.Assigned = keep
		n.AssignedEpochs = epochsFor(keep, m.AssignedEpochs, n.Epoch)
		n.PendingRevocation = revoke
		return n
	}
	n.State = MemberStable
	if unreleased {
		n.State = MemberUnreleasedPartitions
	}
	n.Epoch = g.assignmentEpoch
	n.Assigned = union(keep, free)
	n.AssignedEpochs = epochsFor(n.Assigned, m.AssignedEpochs, n.Epoch)
	n.PendingRevocation = nil
	return n
}
