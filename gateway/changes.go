package gateway

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/google"
)

// watchChanges runs the incremental sync every sync.changes_interval while
// sync.incremental is on (it checks again every interval while it is off,
// so that a reload turns it on). It returns when ctx ends.
func (g *Gateway) watchChanges(ctx context.Context) {
	for {
		t := time.NewTimer(g.config().Sync.ChangesInterval.D())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		// Like the scheduled full syncs, polls are the scheduler lease
		// holder's: one instance on a shared store polls, the others
		// serve what it applies.
		if g.config().Sync.Incremental && g.IsLeader() {
			g.syncChanges(ctx)
		}
	}
}

// syncChanges polls Google's admin events once and applies what they
// touch, step by step (access taken away first), each step with its own
// run record and a new view at once: a suspended user's binds, cached
// binds and portal sessions end with that step (viewChanged). Serialised
// with the full syncs (syncMu), so that a full sync whose fetch predates
// an event never overwrites what the event applied: the event is polled
// after that sync and applied again.
func (g *Gateway) syncChanges(ctx context.Context) {
	g.syncMu.Lock()
	defer g.syncMu.Unlock()
	eng, cfg := g.currentEngine()
	src, ok := g.source.(*google.Source)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Sync.Timeout.D())
	defer cancel()
	release, err := g.holdSyncLease(ctx)
	if err != nil {
		g.log.Info("admin events not polled", "why", err)
		return
	}
	defer release()
	start := time.Now()
	ch, err := src.Changes(ctx)
	if err != nil {
		g.metrics.changesPolled("failure")
		g.log.Error("polling Google's admin events failed; the next full sync catches up", "err", err)
		return
	}
	if ch == nil {
		g.metrics.changesPolled("no_change")
		return
	}
	// An incremental run plans the whole store's scope anew: after a
	// reload changed the scope (an edit, maybe half-saved), it must not
	// delete those the new scope leaves out before a full sync, with its
	// deletion guard, has run with it. Users suspended or deleted in
	// Google are still deleted (RunDelta).
	opts := engine.RunOptions{DeferDeletes: !reflect.DeepEqual(scopeOf(cfg), g.fullScope)}
	if opts.DeferDeletes {
		g.log.Warn("the sync's scope changed since the last full sync; incremental sync leaves the deletions the new scope makes to it")
	}
	for i, step := range ch.Steps {
		res, err := eng.RunDelta(ctx, step, opts)
		if errors.Is(err, engine.ErrNeverSynced) {
			g.metrics.changesPolled("waiting")
			return // the events are polled again after the first full sync
		}
		if errors.Is(err, engine.ErrTooManyDeletes) {
			// Polled again, it would be refused (and recorded) every
			// interval: the full sync's guard, and --force, decide.
			g.metrics.changesPolled("refused")
			g.log.Error("incremental sync refused; left to the next full sync (ldapgate sync --force if the deletions are intended)", "step", i+1, "err", err)
			ch.Done()
			return
		}
		if err != nil {
			g.metrics.changesPolled("failure")
			g.log.Error("incremental sync failed; its events are polled again", "step", i+1, "err", err)
			return
		}
		if !res.Applied {
			continue
		}
		c := res.Counts
		g.log.Info("incremental sync done", "step", i+1, "events", ch.Events,
			"took", time.Since(start).Round(time.Millisecond).String(),
			"users_added", c.UsersAdded, "users_updated", c.UsersUpdated, "users_deleted", c.UsersDeleted,
			"groups_added", c.GroupsAdded, "groups_updated", c.GroupsUpdated, "groups_deleted", c.GroupsDeleted,
			"members_added", c.MembersAdded, "members_deleted", c.MembersDeleted,
			"grants_added", c.GrantsAdded, "grants_deleted", c.GrantsDeleted, "run", res.RunID)
		if err := g.finish(ctx, res, cfg); err != nil {
			g.metrics.changesPolled("failure")
			g.log.Error("serving the incremental sync's changes failed", "err", err)
			return
		}
	}
	ch.Done()
	g.metrics.changesPolled("applied")
}

// syncScope is what decides which users a sync keeps.
type syncScope struct {
	filter      engine.Filter
	rules       []engine.Rule
	deleteUsers bool
}

func scopeOf(cfg *Config) syncScope {
	o := EngineOptions(cfg)
	return syncScope{filter: o.Filter, rules: o.Rules, deleteUsers: o.DeleteUsers}
}
