// Package engine is ldapgate's sync pipeline: fetch a snapshot from a
// source, filter it, plan the changes against the store, guard against
// mass deletion, and apply the plan in one transaction with its run record.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/progress"
)

// Source is a directory source.
type Source interface {
	// Name names the source for logs and run records, e.g. "file:demo.json".
	Name() string
	// Fetch returns a complete, consistent snapshot, or an error and no
	// snapshot: never a partial one.
	Fetch(ctx context.Context) (*store.Snapshot, error)
}

// Store is what the engine needs of the store.
type Store interface {
	// LoadState returns the directory data held in the store.
	LoadState(ctx context.Context) (*store.State, error)
	// Apply applies the plan and records the run in one transaction and
	// returns the run's id. On error nothing is applied.
	Apply(ctx context.Context, p *store.Plan, run store.SyncRun) (int64, error)
	// RecordRun records a run that applied nothing (a failed one) and
	// returns its id.
	RecordRun(ctx context.Context, run store.SyncRun) (int64, error)
}

// Options are the sync settings.
type Options struct {
	Filter Filter
	// DeleteUsers allows deleting users gone from the source or out of
	// scope. When false no user is ever deleted.
	DeleteUsers bool
	// MaxDeletePercent is the largest share of the store's directory users
	// a plan may delete without RunOptions.Force.
	MaxDeletePercent float64
	// DefaultPrivileges are granted to each user when it is first added.
	DefaultPrivileges []string
	// Rules grant privileges to the members of groups.
	Rules []Rule
	// PrimaryDomain is the organisation's primary mail domain; its users
	// win UID clashes with users of other domains.
	PrimaryDomain string
	// KeepAppPasswordsOnSuspend keeps the app passwords of users who are
	// suspended or archived; by default the plan revokes them, so that they
	// do not work again when the user is enabled again.
	KeepAppPasswordsOnSuspend bool
}

// Rule grants privileges to the members of a group (nested membership
// counts) for as long as they are members.
type Rule struct {
	Group      string // email address
	Privileges []string
}

// RunOptions are the options of one run.
type RunOptions struct {
	// DryRun stops after the plan (and the guard) and writes nothing.
	DryRun bool
	// Force applies a plan the deletion guard refuses.
	Force bool
	// ForceUpTo, with Force, overrides the guard only for a plan that
	// deletes at most this many users (0: any): the number an admin
	// confirmed, when the plan is made again from a newer fetch.
	ForceUpTo int
	// DeferDeletes leaves the users the plan would delete in the store,
	// for a later run without it (and its deletion guard) to delete: a
	// run started by a config edit, which may be half-saved, deletes no one.
	DeferDeletes bool
	// Progress, if set, counts what the source fetches (for displays).
	Progress *progress.Progress

	// changed holds the ids of the users an incremental run found
	// suspended, archived or deleted: their deletions are the source's
	// doing, not a config edit's, and DeferDeletes leaves them in the plan.
	changed map[string]bool
}

// Result is what a run did or, for a dry run, would do.
type Result struct {
	Plan   *store.Plan  `json:"plan,omitempty"`
	Counts store.Counts `json:"counts"`
	// RunID is the id of the run record; 0 for dry runs and when no record
	// could be written.
	RunID int64 `json:"runId,omitempty"`
	// Applied reports whether the plan was applied (even an empty one).
	Applied  bool              `json:"applied"`
	Filter   store.FilterStats `json:"filter"`
	Warnings []string          `json:"warnings,omitempty"`
	// DeferredDeletes counts the user deletions RunOptions.DeferDeletes
	// left for a later run.
	DeferredDeletes int `json:"deferredDeletes,omitempty"`
	// Phases are how long the run's parts took, as far as it went. The
	// run record has the fetch and the plan; ApplyMS ends after the
	// record's commit, so the caller (who may have a finish to add)
	// completes the record with store.DB.SetRunPhases.
	Phases store.Phases `json:"phases"`
}

// Engine runs syncs from one source into one store.
type Engine struct {
	// Now returns the current time; tests may replace it.
	Now func() time.Time

	src  Source
	st   Store
	opts Options
	log  *slog.Logger
}

// New returns an engine syncing src into st. A nil log discards.
func New(src Source, st Store, opts Options, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{Now: time.Now, src: src, st: st, opts: opts, log: log}
}

// Run runs one sync: fetch, filter, plan, guard, apply.
//
// If the fetch, the filter or the store fails, or the guard refuses the
// plan, nothing is applied and the error is returned; unless this is a dry
// run, a run record with the error is written. A dry run writes nothing at
// all, but still reports a plan the guard would refuse (the error wraps
// ErrTooManyDeletes). Whenever a plan was made, the Result holds it, also
// together with an error.
//
// Another sync may write the store between this one's plan and its apply
// (ldapgate sync beside a running server): the apply then fails whole
// (store.ErrStale, or store.ErrBusy while the other holds the store), and
// the run plans again from the same fetch, up to maxAttempts times.
//
// The store is read while the source fetches (a fetch mostly waits on the
// network), so that a sync that changes nothing takes little more than its
// fetch. A write between that read and the apply is caught like any other
// (store.ErrStale) and planned again.
func (e *Engine) Run(ctx context.Context, opts RunOptions) (*Result, error) {
	run := store.SyncRun{StartedAt: e.now(), Source: e.src.Name(), Kind: store.RunFull}
	fail := func(res *Result, err error) (*Result, error) { return e.fail(ctx, opts, &run, res, err) }

	fctx := ctx
	if opts.Progress != nil {
		fctx = progress.With(ctx, opts.Progress)
	}
	load := e.startLoad(ctx)
	fetchStart := time.Now()
	snap, err := e.src.Fetch(fctx)
	run.Phases.FetchMS = since(fetchStart)
	if err != nil {
		load.cancel()
		return fail(nil, fmt.Errorf("fetch from %s: %w", run.Source, err))
	}
	planFrom := time.Now()
	e.log.Info("fetched", "source", run.Source, "users", len(snap.Users), "groups", len(snap.Groups))
	opts.Progress.SetPhase(progress.PhasePlan, len(snap.Users))
	filtered, err := FilterSnapshot(snap, e.opts.Filter, e.opts.Rules)
	if err != nil {
		load.cancel()
		return fail(nil, fmt.Errorf("filter: %w", err))
	}
	fs := filtered.Stats
	e.log.Info("filtered", "users_in_scope", fs.UsersInScope, "users_fetched", fs.UsersFetched,
		"excluded_suspended", fs.ExcludedSuspended, "excluded_archived", fs.ExcludedArchived,
		"excluded_org_unit", fs.ExcludedOrgUnit, "excluded_group", fs.ExcludedGroup,
		"groups_in_scope", fs.GroupsInScope, "groups_fetched", fs.GroupsFetched)
	state, err := load.wait()
	if err != nil {
		return fail(nil, fmt.Errorf("load state: %w", err))
	}
	for attempt := 1; ; attempt++ {
		res, err := e.planAndApply(ctx, state, filtered, fs, opts, &run, planFrom)
		state, planFrom = nil, time.Now()
		if (errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrBusy)) && attempt < maxAttempts {
			// Another sync (ldapgate sync beside the server) applied its
			// plan after this one loaded the store, or is still applying
			// it: plan again against what it left, rather than fail on a
			// user it already deleted.
			e.log.Info("the store changed while planning; planning again", "attempt", attempt+1)
			continue
		}
		if err != nil {
			return fail(res, err)
		}
		return res, nil
	}
}

// pendingState is the store's state being read beside the fetch.
type pendingState struct {
	done   chan struct{}
	state  *store.State
	err    error
	cancel context.CancelFunc // stops the read and waits for it to end
}

func (e *Engine) startLoad(ctx context.Context) *pendingState {
	ctx, cancel := context.WithCancel(ctx)
	p := &pendingState{done: make(chan struct{})}
	p.cancel = func() { cancel(); <-p.done }
	go func() {
		defer close(p.done)
		p.state, p.err = e.st.LoadState(ctx)
	}()
	return p
}

// wait returns the state once read.
func (p *pendingState) wait() (*store.State, error) {
	<-p.done
	p.cancel()
	return p.state, p.err
}

// since is the time since start in whole milliseconds.
func since(start time.Time) int64 { return time.Since(start).Milliseconds() }

// fail logs a failed run and, unless it is a dry run, records it with err
// (and the plan, if res has one).
func (e *Engine) fail(ctx context.Context, opts RunOptions, run *store.SyncRun, res *Result, err error) (*Result, error) {
	e.log.Error("sync failed", "source", run.Source, "kind", run.Kind, "err", err)
	if opts.DryRun {
		return res, err
	}
	run.FinishedAt = e.now()
	run.Error = err.Error()
	if res != nil {
		run.Plan = res.Plan
	}
	// Record even if ctx was cancelled (a timeout is worth recording).
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	id, rerr := e.st.RecordRun(rctx, *run)
	if rerr != nil {
		e.log.Error("cannot record the failed sync run", "err", rerr)
		return res, errors.Join(err, fmt.Errorf("record sync run: %w", rerr))
	}
	if res != nil {
		res.RunID = id
	}
	return res, err
}

// deferDeletes takes the user deletions out of p, and the adds and
// renames that would take the UID or address of a user it keeps (Google
// lets an admin delete a user and recreate the address), with the new
// users' memberships and grants. Memberships and grants of the kept users
// were never planned away (they go with a deleted user), so those users
// stay whole. It returns the number of deletions taken out and the
// addresses of the users held back with them. The deletions of the users
// in keep stay in the plan.
func deferDeletes(p *store.Plan, keep map[string]bool) (int, []string) {
	taken := make(map[string]bool) // "uid:" or "mail:" + lower-case value
	deferred := 0
	for _, c := range p.Users {
		if c.Action == store.ActionDelete && !keep[c.User.ID] {
			deferred++
			taken["uid:"+strings.ToLower(c.User.UID)] = true
			taken["mail:"+strings.ToLower(c.User.PrimaryEmail)] = true
		}
	}
	var held []string
	heldAdds := make(map[string]bool)
	p.Users = slices.DeleteFunc(p.Users, func(c store.UserChange) bool {
		if c.Action == store.ActionDelete {
			return !keep[c.User.ID]
		}
		if taken["uid:"+strings.ToLower(c.User.UID)] || taken["mail:"+strings.ToLower(c.User.PrimaryEmail)] {
			held = append(held, c.User.PrimaryEmail)
			heldAdds[c.User.ID] = c.Action == store.ActionAdd
			return true
		}
		return false
	})
	p.Members = slices.DeleteFunc(p.Members, func(c store.MemberChange) bool {
		return c.Member.Type == store.MemberUser && heldAdds[c.Member.ID]
	})
	p.Grants = slices.DeleteFunc(p.Grants, func(c store.GrantChange) bool { return heldAdds[c.Grant.UserID] })
	return deferred, held
}

// maxAttempts bounds how often a run plans again after another sync
// changed the store under it.
const maxAttempts = 5

// planAndApply loads the store (unless state is given), plans, guards and
// (unless a dry run) applies the plan. A plan made against a state another
// writer changed before the apply fails with an error wrapping
// store.ErrStale. The plan phase is timed from planFrom.
func (e *Engine) planAndApply(ctx context.Context, state *store.State, filtered *Filtered, fs store.FilterStats, opts RunOptions, run *store.SyncRun, planFrom time.Time) (*Result, error) {
	run.Forced = false
	if state == nil {
		var err error
		if state, err = e.st.LoadState(ctx); err != nil {
			return nil, fmt.Errorf("load state: %w", err)
		}
	}

	plan, warnings := Plan(state, filtered, e.opts)
	deferred := 0
	if opts.DeferDeletes {
		var held []string
		deferred, held = deferDeletes(plan, opts.changed)
		if deferred > 0 {
			warnings = append(warnings, fmt.Sprintf("%d user deletion(s) left for the next scheduled sync (or ldapgate sync), where the deletion guard counts them", deferred))
		}
		if len(held) > 0 {
			warnings = append(warnings, fmt.Sprintf("left for the next scheduled sync too, as they take the UID or address of a user not deleted yet: %s", strings.Join(held, ", ")))
		}
	}
	for _, w := range warnings {
		e.log.Warn(w)
	}
	res := &Result{Plan: plan, Counts: plan.Counts(), Filter: fs, Warnings: warnings, DeferredDeletes: deferred}
	defer func() { res.Phases = run.Phases }()
	c := res.Counts
	e.log.Info("planned", "kind", run.Kind, "dry_run", opts.DryRun,
		"users_added", c.UsersAdded, "users_updated", c.UsersUpdated, "users_deleted", c.UsersDeleted,
		"groups_added", c.GroupsAdded, "groups_updated", c.GroupsUpdated, "groups_deleted", c.GroupsDeleted,
		"members_added", c.MembersAdded, "members_deleted", c.MembersDeleted,
		"grants_added", c.GrantsAdded, "grants_deleted", c.GrantsDeleted)

	run.Phases.PlanMS = since(planFrom)
	if err := Guard(state, plan, e.opts.MaxDeletePercent); err != nil {
		if !opts.Force {
			return res, err
		}
		if n := res.Counts.UsersDeleted; opts.ForceUpTo > 0 && n > opts.ForceUpTo {
			return res, fmt.Errorf("%w; the %d deletions confirmed do not cover them", err, opts.ForceUpTo)
		}
		e.log.Warn("deletion guard overridden with --force", "err", err)
		run.Forced = true
	}
	if opts.DryRun {
		return res, nil
	}

	run.FinishedAt = e.now()
	run.Counts = res.Counts
	run.Plan = plan
	checked := *plan // shares the changes; the result's plan stays as planned
	// A copy of the generation: a pointer into the state would keep all of
	// it (100k users) alive through the apply.
	gen := state.Generation
	checked.Generation = &gen
	opts.Progress.SetPhase(progress.PhaseApply, Changes(plan))
	applyStart := time.Now()
	id, err := e.st.Apply(ctx, &checked, *run)
	run.Phases.ApplyMS = since(applyStart)
	if err != nil {
		run.Counts = store.Counts{}
		return res, fmt.Errorf("apply: %w", err)
	}
	res.RunID, res.Applied = id, true
	e.log.Info("applied", "run", id)
	return res, nil
}

func (e *Engine) now() time.Time { return e.Now().UTC() }

// Changes is the number of changes in p, of every kind.
func Changes(p *store.Plan) int { return len(p.Users) + len(p.Groups) + len(p.Members) + len(p.Grants) }
