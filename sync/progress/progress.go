// Package progress counts what a directory source has fetched so far in
// one sync run, for progress displays (ldapgate sync on a terminal).
package progress

import (
	"context"
	"sync/atomic"
)

// Progress counts what a source has fetched so far in one run. Sources
// update the one From finds in Fetch's context as they fetch; any
// goroutine may read it at any time with Load.
// Every method is safe for concurrent use, allocates nothing, and does
// nothing on a nil *Progress, so sources call them unconditionally.
type Progress struct {
	users, groups, members atomic.Int64
	listed, queued         atomic.Int64
	scopeKnown             atomic.Bool
	phase                  atomic.Int32
	items                  atomic.Int64
}

// Phase is the step of a sync run a Progress is at. After the fetch, a
// run spends tens of seconds on 100k users in the others, so displays
// show them too.
type Phase int32

// The phases of a sync run, in order.
const (
	PhaseFetch  Phase = iota // the source lists users, groups and members
	PhasePlan                // the store is read and compared with the source
	PhaseApply               // the plan is written, in one transaction
	PhaseFinish              // audit records written, a server's directory view rebuilt
)

// Counts is a reading of a Progress.
type Counts struct {
	// Users and Groups are the users and groups listed so far.
	Users, Groups int64
	// MemberLists is the number of groups whose members have been listed,
	// out of GroupsInScope, the groups whose members are to be listed.
	// GroupsInScope is a running count until ScopeKnown: the groups
	// listing is complete. (With a group filter, nested groups found
	// later may still raise it a little.) MemberLists <= GroupsInScope.
	MemberLists, GroupsInScope int64
	ScopeKnown                 bool
	// Members is the number of memberships listed so far.
	Members int64
	// Phase is the run's step, and Items the number of things it works
	// on: users to plan, changes to apply or to finish (0 while fetching).
	Phase Phase
	Items int64
}

// SetPhase records that the run moved on to phase, working on n things
// (see Counts.Items).
func (p *Progress) SetPhase(phase Phase, n int) {
	if p != nil {
		p.items.Store(int64(n))
		p.phase.Store(int32(phase))
	}
}

// SetUsers sets the number of users listed so far.
func (p *Progress) SetUsers(n int) {
	if p != nil {
		p.users.Store(int64(n))
	}
}

// SetGroups sets the number of groups listed so far.
func (p *Progress) SetGroups(n int) {
	if p != nil {
		p.groups.Store(int64(n))
	}
}

// AddMembers adds n memberships (negative when a listing starts over).
func (p *Progress) AddMembers(n int) {
	if p != nil {
		p.members.Add(int64(n))
	}
}

// GroupQueued counts a group whose members are to be listed.
func (p *Progress) GroupQueued() {
	if p != nil {
		p.queued.Add(1)
	}
}

// GroupListed counts a group whose members have been listed; each must
// have been counted by GroupQueued first.
func (p *Progress) GroupListed() {
	if p != nil {
		p.listed.Add(1)
	}
}

// ScopeKnown says the groups listing is complete, so that GroupsInScope
// is (about) the total.
func (p *Progress) ScopeKnown() {
	if p != nil {
		p.scopeKnown.Store(true)
	}
}

// Load reads the counters. It is not one atomic snapshot, but MemberLists
// never exceeds GroupsInScope in its result.
func (p *Progress) Load() Counts {
	if p == nil {
		return Counts{}
	}
	// listed before queued: a group is queued before it is listed, and
	// both only grow, so the reading is consistent on this point.
	known := p.scopeKnown.Load()
	listed := p.listed.Load()
	// phase before items: SetPhase stores items first, so a reading never
	// pairs a new phase with the previous phase's items.
	phase := Phase(p.phase.Load())
	return Counts{
		Phase:         phase,
		Items:         p.items.Load(),
		Users:         p.users.Load(),
		Groups:        p.groups.Load(),
		MemberLists:   listed,
		GroupsInScope: p.queued.Load(),
		ScopeKnown:    known,
		Members:       p.members.Load(),
	}
}

type key struct{}

// With returns a context carrying p to the source's Fetch.
// engine.Run does this with RunOptions.Progress.
func With(ctx context.Context, p *Progress) context.Context {
	return context.WithValue(ctx, key{}, p)
}

// From returns the Progress the context carries, or nil (whose
// methods do nothing).
func From(ctx context.Context) *Progress {
	p, _ := ctx.Value(key{}).(*Progress)
	return p
}
