package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ldapgate/ldapgate/store"
)

// Delta is the current state in the source of the objects that some
// changes touched (an incremental sync): everything else is as the store
// holds it.
type Delta struct {
	// Users are users as the source has them now (in scope or not: the
	// filter decides), GoneUsers the ids of users the source no longer has.
	Users     []store.User
	GoneUsers []string
	// Groups are groups as the source has them now, GoneGroups the ids of
	// groups it no longer has.
	Groups     []store.Group
	GoneGroups []string
	// Members are complete direct member lists, by group id: each replaces
	// the group's stored list.
	Members map[string][]store.Member
	// MemberOf lists, for users of Users the store does not hold, the ids
	// of the groups they are direct members of: the stored lists of those
	// groups have no entry for them yet.
	MemberOf map[string][]string
}

// Empty reports whether the delta touches nothing.
func (d *Delta) Empty() bool {
	return len(d.Users) == 0 && len(d.GoneUsers) == 0 && len(d.Groups) == 0 && len(d.GoneGroups) == 0 && len(d.Members) == 0
}

// DeltaFunc fetches a delta from the source. known is the store's state,
// for the source to resolve the addresses its changes name to the ids it
// has stored.
type DeltaFunc func(ctx context.Context, known *store.State) (*Delta, error)

// RunDelta runs an incremental sync: fetch a delta, lay it over the
// store's state, and filter, plan, guard and apply the result as Run does,
// with a run record of kind store.RunIncremental. The plan holds only
// what the delta changes, as everything else is the store's own.
//
// With opts.DeferDeletes, only the deletions of the users the delta has
// suspended, archived or deleted in the source are applied; those of users a new
// scope leaves out wait for a full sync.
//
// It refuses to run before a full sync has succeeded, when the store's
// state is not a directory to lay the delta over. A delta that touches
// nothing applies nothing and records no run.
func (e *Engine) RunDelta(ctx context.Context, fetch DeltaFunc, opts RunOptions) (*Result, error) {
	run := store.SyncRun{StartedAt: e.now(), Source: e.src.Name(), Kind: store.RunIncremental}
	state, err := e.st.LoadState(ctx)
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	if state.NeverSynced {
		return nil, ErrNeverSynced
	}
	fetchStart := time.Now()
	d, err := fetch(ctx, state)
	run.Phases.FetchMS = since(fetchStart)
	if err != nil {
		return e.fail(ctx, opts, &run, nil, fmt.Errorf("fetch changes from %s: %w", run.Source, err))
	}
	if d.Empty() {
		return &Result{Plan: &store.Plan{}}, nil
	}
	opts.changed = make(map[string]bool, len(d.GoneUsers))
	for _, u := range d.Users {
		if !u.Enabled() {
			opts.changed[u.ID] = true
		}
	}
	for _, id := range d.GoneUsers {
		opts.changed[id] = true
	}
	e.log.Info("fetched changes", "source", run.Source, "users", len(d.Users), "users_gone", len(d.GoneUsers),
		"groups", len(d.Groups), "groups_gone", len(d.GoneGroups), "member_lists", len(d.Members))
	for attempt := 1; ; attempt++ {
		if state == nil {
			if state, err = e.st.LoadState(ctx); err != nil {
				return e.fail(ctx, opts, &run, nil, fmt.Errorf("load state: %w", err))
			}
		}
		planFrom := time.Now()
		filtered, err := FilterSnapshot(overlay(state, d), e.opts.Filter, e.opts.Rules)
		if err != nil {
			return e.fail(ctx, opts, &run, nil, fmt.Errorf("filter: %w", err))
		}
		res, err := e.planAndApply(ctx, state, filtered, filtered.Stats, opts, &run, planFrom)
		state = nil
		if (errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrBusy)) && attempt < maxAttempts {
			e.log.Info("the store changed while planning; planning the changes again", "attempt", attempt+1)
			continue
		}
		if err != nil {
			return e.fail(ctx, opts, &run, res, err)
		}
		return res, nil
	}
}

// overlayList returns the stored items that are the source's (fromSource)
// and not gone, each replaced by its fresh fetch if there is one, then the
// fresh items the store lacks; and the ids of the stored ones it kept.
func overlayList[T any](stored, fresh []T, gone map[string]bool, id func(T) string, fromSource func(T) bool) ([]T, map[string]bool) {
	byID := make(map[string]int, len(fresh))
	for i, f := range fresh {
		byID[id(f)] = i
	}
	out := make([]T, 0, len(stored)+len(fresh))
	seen := make(map[string]bool, len(stored))
	for _, it := range stored {
		k := id(it)
		if !fromSource(it) || gone[k] {
			continue
		}
		seen[k] = true
		if i, ok := byID[k]; ok {
			it = fresh[i]
		}
		out = append(out, it)
	}
	for _, f := range fresh {
		if k := id(f); !seen[k] && !gone[k] {
			out = append(out, f)
		}
	}
	return out, seen
}

// ErrNeverSynced is RunDelta's answer before the first successful full
// sync.
var ErrNeverSynced = errors.New("no full sync has succeeded yet: changes have no directory to apply to")

// overlay returns the snapshot a full fetch would have given if the source
// held what the store holds, changed by d. Local users are not the
// source's and stay out, as in a fetch.
func overlay(st *store.State, d *Delta) *store.Snapshot {
	goneUsers := make(map[string]bool, len(d.GoneUsers))
	for _, id := range d.GoneUsers {
		goneUsers[id] = true
	}
	goneGroups := make(map[string]bool, len(d.GoneGroups))
	for _, id := range d.GoneGroups {
		goneGroups[id] = true
	}
	snap := &store.Snapshot{Members: make(map[string][]store.Member, len(st.Members))}
	var stored map[string]bool
	snap.Users, stored = overlayList(st.Users, d.Users, goneUsers, func(u store.User) string { return u.ID },
		func(u store.User) bool { return u.Origin == store.OriginDirectory })
	snap.Groups, _ = overlayList(st.Groups, d.Groups, goneGroups, func(g store.Group) string { return g.ID },
		func(store.Group) bool { return true })

	for gid, ms := range st.Members {
		if !goneGroups[gid] {
			snap.Members[gid] = ms
		}
	}
	for gid, ms := range d.Members {
		if !goneGroups[gid] {
			snap.Members[gid] = ms
		}
	}
	for uid, gids := range d.MemberOf {
		if stored[uid] {
			continue
		}
		for _, gid := range gids {
			ms := snap.Members[gid]
			if _, listed := d.Members[gid]; listed || slices.ContainsFunc(ms, func(m store.Member) bool { return m.Type == store.MemberUser && m.ID == uid }) {
				continue
			}
			snap.Members[gid] = append(slices.Clip(ms), store.Member{Type: store.MemberUser, ID: uid})
		}
	}
	return snap
}
