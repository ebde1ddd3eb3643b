package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ldapgate/ldapgate/connect"
	"github.com/ldapgate/ldapgate/portal"
	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/planfmt"
)

// bindRecord is one user bind outcome, for the admin page.
type bindRecord struct {
	At     time.Time
	OK     bool
	Client string
	Reason string
}

// bindHistoryLen is how many binds are kept per user.
const bindHistoryLen = 20

// maxBindHistoryUsers bounds the memory of the history: beyond it, the
// users whose last bind is oldest are forgotten.
const maxBindHistoryUsers = 50000

// bindHistory keeps the last binds of each user in memory (a ring per
// user); a restart forgets them.
type bindHistory struct {
	mu    sync.Mutex
	users map[string]*bindRing
}

type bindRing struct {
	recs [bindHistoryLen]bindRecord
	n    int // records written
	last time.Time
}

func newBindHistory() *bindHistory { return &bindHistory{users: map[string]*bindRing{}} }

func (h *bindHistory) add(userID string, rec bindRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.users[userID]
	if r == nil {
		if len(h.users) >= maxBindHistoryUsers {
			h.evict()
		}
		r = &bindRing{}
		h.users[userID] = r
	}
	r.recs[r.n%bindHistoryLen] = rec
	r.n++
	r.last = rec.At
}

// evict drops the tenth of users with the oldest last bind. Callers hold mu.
func (h *bindHistory) evict() {
	type kv struct {
		id   string
		last time.Time
	}
	all := make([]kv, 0, len(h.users))
	for id, r := range h.users {
		all = append(all, kv{id, r.last})
	}
	slices.SortFunc(all, func(a, b kv) int { return a.last.Compare(b.last) })
	for _, e := range all[:len(all)/10+1] {
		delete(h.users, e.id)
	}
}

// recent returns the user's binds, newest first.
func (h *bindHistory) recent(userID string) []bindRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.users[userID]
	if r == nil {
		return nil
	}
	n := min(r.n, bindHistoryLen)
	out := make([]bindRecord, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.recs[(r.n-i)%bindHistoryLen])
	}
	return out
}

// adminBackend is the gateway's side of the admin page.
type adminBackend struct{ g *Gateway }

var _ portal.Admin = adminBackend{}

func (g *Gateway) adminBackend() portal.Admin {
	g.users.history = g.binds.add
	return adminBackend{g}
}

// IsAdmin implements portal.Admin: admin.emails, or membership (nested
// included) of one of admin.groups.
func (a adminBackend) IsAdmin(u *store.ViewUser, v *store.View) bool {
	cfg := a.g.config()
	if cfg.IsAdminEmail(u.PrimaryEmail) {
		return true
	}
	for _, gid := range u.Groups {
		if gr, ok := v.GroupByID(gid); ok {
			for _, want := range cfg.Admin.Groups {
				if strings.EqualFold(gr.Email, want) {
					return true
				}
			}
		}
	}
	return false
}

// Status implements portal.Admin.
func (a adminBackend) Status(ctx context.Context) (portal.AdminStatus, error) {
	g := a.g
	rs := g.ReloadStatus()
	st := portal.AdminStatus{NextSync: g.NextSync(), LastSuccess: g.LastSuccessfulSync(), ConfigOK: rs.At.IsZero() || rs.OK,
		ConfigAt: rs.At, Privileges: g.config().Privileges(), Version: Build().String()}
	if rs.Err != nil {
		st.ConfigError = rs.Err.Error()
	}
	for _, c := range rs.Restart {
		st.RestartNeeded = append(st.RestartNeeded, c.Key)
	}
	if v := g.live.Load(); v != nil {
		for _, p := range v.Privileges {
			st.Privileges = append(st.Privileges, p.Name)
		}
		slices.Sort(st.Privileges)
		st.Privileges = slices.Compact(st.Privileges)
	}
	runs, err := g.db.SyncRuns(ctx, 20)
	st.Runs = runs
	return st, err
}

// SyncRun implements portal.Admin.
func (a adminBackend) SyncRun(ctx context.Context, id int64) (store.SyncRun, error) {
	return a.g.db.SyncRun(ctx, id)
}

// GuardRefused: a run record keeps its error as text only; the guard's
// starts with its sentinel's.
func (a adminBackend) GuardRefused(run store.SyncRun) bool {
	return strings.HasPrefix(run.Error, engine.ErrTooManyDeletes.Error())
}

// defaultAdminSyncWait is how long the admin page waits for a sync it
// started before it answers "still running" (the web server's write
// timeout is 30s).
const defaultAdminSyncWait = 20 * time.Second

// Sync implements portal.Admin: "Test settings" runs the Google source's
// connection checks and then a dry run; "Synchronize now" a sync. A sync
// that takes longer than g.adminSyncWait goes on after the answer.
func (a adminBackend) Sync(ctx context.Context, req portal.SyncRequest) portal.SyncOutcome {
	done := make(chan portal.SyncOutcome, 1)
	ctx = context.WithoutCancel(ctx) // a closed browser tab does not stop it
	go func() { done <- a.sync(ctx, req) }()
	t := time.NewTimer(a.g.adminSyncWait)
	defer t.Stop()
	select {
	case out := <-done:
		return out
	case <-t.C:
		return portal.SyncOutcome{DryRun: req.DryRun, Pending: true}
	}
}

func (a adminBackend) sync(ctx context.Context, req portal.SyncRequest) portal.SyncOutcome {
	g := a.g
	dryRun := req.DryRun
	out := portal.SyncOutcome{DryRun: dryRun}
	cfg := g.config()
	if dryRun && cfg.Source.Type == "google" {
		d := NewGoogleSource(cfg, g.log.With("component", "google")).Diagnose(ctx)
		for _, c := range d.Checks {
			out.Checks = append(out.Checks, portal.Check{Name: c.Name, Status: string(c.Status), Detail: c.Detail, Fix: c.Fix})
		}
		if !d.OK() {
			out.Error = "a connection check failed: fix it and test again"
			return out
		}
	}
	if !dryRun {
		g.sched.started(time.Now())
	}
	res, err := g.Sync(ctx, engine.RunOptions{DryRun: dryRun, Force: req.Force, ForceUpTo: req.Deletes})
	if err != nil {
		out.Error = err.Error()
		out.Refused = errors.Is(err, engine.ErrTooManyDeletes)
	}
	if res != nil {
		out.RunID = res.RunID
		out.Counts = planfmt.Counts(res.Counts)
		out.Deletes = res.Counts.UsersDeleted
		out.Filter = &res.Filter
		if res.Plan != nil && !res.Plan.Empty() {
			// A summary: the run's page has the whole plan, paged.
			var b strings.Builder
			planfmt.WriteSummary(&b, res.Plan, 5)
			out.Plan = b.String()
		}
	}
	return out
}

// Connect implements portal.Admin.
func (a adminBackend) Connect(host string) []connect.Guide {
	s := a.g.config().ConnectSettings()
	if host != "" {
		s.Host = host
	}
	return connect.List(s)
}

// Binds implements portal.Admin.
func (a adminBackend) Binds(userID string) []portal.BindOutcome {
	recs := a.g.binds.recent(userID)
	out := make([]portal.BindOutcome, len(recs))
	for i, r := range recs {
		out[i] = portal.BindOutcome{At: r.At, OK: r.OK, Client: r.Client, Reason: r.Reason}
	}
	return out
}

// Grant implements portal.Admin.
func (a adminBackend) Grant(ctx context.Context, userID, privilege string) error {
	if err := a.g.config().CheckPrivilege(privilege); err != nil {
		return err
	}
	return a.g.changeGrant(ctx, userID, privilege, true)
}

// Revoke implements portal.Admin. Revoking a privilege the user does not
// hold is an error: it is most often a misspelt name.
func (a adminBackend) Revoke(ctx context.Context, userID, privilege string) error {
	if u, ok := a.g.View().UserByID(userID); ok {
		if err := CheckHeld(u.PrimaryEmail, u.Privileges, privilege); err != nil {
			return err
		}
	}
	return a.g.changeGrant(ctx, userID, privilege, false)
}

// CheckHeld returns an error unless held (a user's privileges) has
// privilege; the error says what the user holds.
func CheckHeld(user string, held []string, privilege string) error {
	if slices.Contains(held, privilege) {
		return nil
	}
	msg := fmt.Sprintf("%s does not hold privilege %q", user, privilege)
	if s := Closest(privilege, held); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	if len(held) == 0 {
		return errors.New(msg + "; it holds none")
	}
	return fmt.Errorf("%s; it holds %s", msg, strings.Join(held, ", "))
}

// changeGrant grants or revokes an admin grant and serves the new view.
func (g *Gateway) changeGrant(ctx context.Context, userID, privilege string, grant bool) error {
	g.syncMu.Lock() // a sync's apply and this change never interleave
	defer g.syncMu.Unlock()
	var err error
	if grant {
		err = g.db.GrantAdmin(ctx, userID, privilege)
	} else {
		err = g.db.RevokeAdmin(ctx, userID, privilege)
	}
	if err != nil {
		return err
	}
	g.audit.InfoContext(ctx, "privilege change", "user_id", userID, "privilege", privilege, "grant", grant)
	_ = g.auditSink.Flush() // rare, and each one matters
	return g.refreshView(ctx)
}
