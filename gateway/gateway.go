// Package gateway is the running ldapgate process: it loads the config,
// opens the store, wires the sync engine to the LDAP server, runs syncs on a
// schedule and shuts everything down cleanly.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/ldapserver"
	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/dirfile"
	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/google"
	"github.com/ldapgate/ldapgate/sync/progress"
)

// Gateway is a running ldapgate: store, sync engine, LDAP server.
type Gateway struct {
	cfgMu sync.RWMutex
	cfg   *Config // the config in effect; see config() and reload.go
	log   *slog.Logger
	db    *store.DB
	live  *store.Live

	sockets activated              // passed by systemd (activation.go)
	viewCfg atomic.Pointer[Config] // the config the view was built with

	// engine and engineCfg are guarded by syncMu; a reload's sync settings
	// take effect when the next sync rebuilds the engine.
	engine    *engine.Engine
	engineCfg *Config
	source    engine.Source // the engine's
	// fullScope is the scope of the last full sync that could delete
	// (see syncChanges).
	fullScope syncScope

	// syncMu serialises syncs: the scheduler and on-demand runs never overlap.
	// It also guards changes.
	syncMu sync.Mutex
	// changes sees writes to the store by other ldapgate commands, checked
	// every storePoll (watchStore).
	changes   *store.Changes
	storePoll time.Duration
	// adminSyncWait is defaultAdminSyncWait (admin.go); tests set it
	// before Run, as they do storePoll.
	adminSyncWait time.Duration

	ready     chan struct{}
	readyOnce sync.Once
	mu        sync.Mutex
	servers   []*ldapserver.Server
	auth      auth // OIDC provider and web portal (auth.go)

	users   userAuth     // the live bind chain, its only owner (auth.go)
	certs   certSwitch   // the current LDAP TLS certificate (reload.go)
	reload  reloadState  // config reloads (reload.go)
	metrics *metrics     // Prometheus metrics (metrics.go)
	sched   schedule     // next sync, sync-now requests (reload.go)
	binds   *bindHistory // recent bind outcomes per user (admin.go)
	// audit takes binds and privilege changes to the log and the audit
	// file; auditFile only to the file (applied sync changes; audit.go).
	audit     *slog.Logger
	auditFile *slog.Logger
	auditSink *rotatingFile
	web       httpTimeouts // of the portal and metrics.listen (metrics.go)
	leases    leases       // which instance on one store syncs (lease.go)
	// storeDown is set while the store does not answer watchStore.
	storeDown atomic.Pointer[storeOutage]
	// noView is WithoutView's: no view is built, nor the collector tuned.
	noView bool
}

// Option changes how New opens a gateway.
type Option func(*Gateway)

// WithoutView opens a gateway for syncs alone (ldapgate sync): it builds no
// directory view, neither at start nor after a sync (View stays empty),
// and leaves the collector at its sync setting, as the tuning that follows
// a sync (memory.go) is for a served directory. A view of 100k users costs
// seconds of CPU and more memory than the sync itself.
func WithoutView() Option { return func(g *Gateway) { g.noView = true } }

// storeOutage is since when, and why, the store cannot be reached.
type storeOutage struct {
	since time.Time
	err   string
}

// New opens the store named by cfg and builds the current view from it, so
// the LDAP side can serve the last good data before the first sync.
func New(ctx context.Context, cfg *Config, log *slog.Logger, opts ...Option) (*Gateway, error) {
	db, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:   cfg,
		log:   log,
		db:    db,
		live:  new(store.Live),
		ready: make(chan struct{}),
		binds: newBindHistory(),
		web:   defaultHTTPTimeouts,
	}
	for _, o := range opts {
		o(g)
	}
	if g.auditSink, g.audit, g.auditFile, err = openAudit(cfg, log); err != nil {
		db.Close()
		return nil, err
	}
	g.sched.init()
	g.metrics = newMetrics(g)
	g.engine, g.engineCfg = g.newEngine(cfg), cfg
	// The store's data most likely came from a sync with this config.
	g.fullScope = scopeOf(cfg)
	if g.changes, err = db.WatchChanges(ctx); err != nil {
		g.auditSink.Close()
		db.Close()
		return nil, err
	}
	g.storePoll, g.adminSyncWait, g.reload.debounce = defaultStorePoll, defaultAdminSyncWait, defaultReloadDebounce
	g.leases.holder, g.leases.every = newHolder(), cfg.LeaseTTL()/3
	if err := g.startView(ctx); err != nil {
		g.changes.Close()
		g.auditSink.Close()
		db.Close()
		return nil, err
	}
	g.loadLastSuccess(ctx)
	return g, nil
}

// OpenStore opens the store the config names, with its store settings.
func OpenStore(ctx context.Context, cfg *Config) (*store.DB, error) {
	var (
		db  *store.DB
		err error
	)
	if cfg.Store.Driver == DriverPostgres {
		dsn, derr := cfg.StoreDSN()
		if derr != nil {
			return nil, derr
		}
		db, err = store.OpenPostgres(ctx, dsn)
	} else {
		db, err = store.Open(ctx, cfg.StorePath())
	}
	if err != nil {
		return nil, err
	}
	db.DeletedRetention = cfg.DeletedRetention()
	return db, nil
}

// NewSource returns the directory source the config names.
func NewSource(cfg *Config) engine.Source { return newSource(cfg, nil) }

func newSource(cfg *Config, log *slog.Logger) engine.Source {
	if cfg.Source.Type == "google" {
		return NewGoogleSource(cfg, log)
	}
	return dirfile.New(cfg.SourceFile(), dirfile.WithCustomAttributes(cfg.CustomAttributes()))
}

// EngineOptions turns the config's sync settings into engine options.
func EngineOptions(cfg *Config) engine.Options {
	rules := make([]engine.Rule, len(cfg.Sync.PrivilegeRules))
	for i, r := range cfg.Sync.PrivilegeRules {
		rules[i] = engine.Rule{Group: r.Group, Privileges: r.Privileges}
	}
	return engine.Options{
		Filter: engine.Filter{
			Groups:           cfg.Source.Filter.Groups,
			OrgUnits:         cfg.Source.Filter.OrgUnits,
			IncludeSuspended: cfg.Source.Filter.IncludeSuspended,
			IncludeArchived:  cfg.Source.Filter.IncludeArchived,
		},
		DeleteUsers:       cfg.DeleteUsers(),
		MaxDeletePercent:  cfg.MaxDeletePercent(),
		DefaultPrivileges: cfg.Sync.DefaultPrivileges,
		Rules:             rules,
		PrimaryDomain:     cfg.Domain,

		KeepAppPasswordsOnSuspend: cfg.Sync.KeepAppPasswordsOnSuspend,
	}
}

// config returns the config in effect.
func (g *Gateway) config() *Config {
	g.cfgMu.RLock()
	defer g.cfgMu.RUnlock()
	return g.cfg
}

// Config returns the config in effect (the last good one after reloads).
func (g *Gateway) Config() *Config { return g.config() }

func (g *Gateway) newEngine(cfg *Config) *engine.Engine {
	src := newSource(cfg, g.log.With("component", "google"))
	g.metrics.setSource(src)
	// The admin events are polled on from where the old source stopped.
	if next, ok := src.(*google.Source); ok {
		if old, ok := g.source.(*google.Source); ok {
			next.ContinueChanges(old)
		}
	}
	g.source = src
	return engine.New(src, g.db, EngineOptions(cfg), g.log.With("component", "sync"))
}

// currentEngine returns the engine of the config in effect, built anew
// after a reload. g.syncMu is held.
func (g *Gateway) currentEngine() (*engine.Engine, *Config) {
	cfg := g.config()
	if cfg != g.engineCfg {
		g.engine, g.engineCfg = g.newEngine(cfg), cfg
		g.log.Info("sync settings of the reloaded config in effect")
	}
	return g.engine, cfg
}

// DB returns the gateway's store.
func (g *Gateway) DB() *store.DB { return g.db }

// View returns the directory view the LDAP side serves now.
func (g *Gateway) View() *store.View { return g.live.Load() }

// Ready is closed once the LDAP listeners accept connections and the first
// sync has finished (whether it succeeded or not).
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// LDAPAddrs returns the addresses the LDAP listeners are bound to (plain
// first, then LDAPS), valid once Ready is closed.
func (g *Gateway) LDAPAddrs() []net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []net.Addr
	for _, s := range g.servers {
		out = append(out, s.Addr())
	}
	return out
}

// Sync runs one sync and, if it applied anything, swaps in a new view.
func (g *Gateway) Sync(ctx context.Context, opts engine.RunOptions) (*engine.Result, error) {
	g.syncMu.Lock()
	defer g.syncMu.Unlock()
	eng, cfg := g.currentEngine()
	ctx, cancel := context.WithTimeout(ctx, cfg.Sync.Timeout.D())
	defer cancel()
	if !opts.DryRun {
		release, err := g.holdSyncLease(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	tuneForSync() // memory.go; releaseMemory tunes for the directory again
	start := time.Now()
	res, err := eng.Run(ctx, opts)
	g.metrics.syncDone(opts, time.Since(start), err)
	if err != nil || !res.Applied {
		if !g.noView {
			releaseMemory(g.log) // the fetch and the plan (hundreds of MB for 100k users)
		}
		return res, err
	}
	opts.Progress.SetPhase(progress.PhaseFinish, engine.Changes(res.Plan))
	if !opts.DeferDeletes {
		g.fullScope = scopeOf(cfg)
		if src, ok := g.source.(*google.Source); ok {
			// Its deletions deferred, a reload's sync leaves the events
			// of deletions to be polled still.
			src.SyncApplied()
		}
	}
	return res, g.finish(ctx, res, cfg)
}

// finish serves an applied plan (applied) and completes its run record
// with the apply's and its own time. g.syncMu is held.
func (g *Gateway) finish(ctx context.Context, res *engine.Result, cfg *Config) error {
	start := time.Now()
	err := g.applied(ctx, res, cfg)
	res.Phases.FinishMS = time.Since(start).Milliseconds()
	// The record has the fetch and the plan; the apply ended after it.
	if perr := g.db.SetRunPhases(ctx, res.RunID, res.Phases); perr != nil {
		g.log.Warn("the phases of the sync run are not recorded", "run", res.RunID, "err", perr)
	}
	return err
}

// applied audits an applied plan and serves what it wrote. g.syncMu is
// held.
func (g *Gateway) applied(ctx context.Context, res *engine.Result, cfg *Config) error {
	g.auditPlan(ctx, res)
	if g.noView {
		return nil
	}
	// Unless nothing was written and the config is the view's (then the
	// view and its trees stay: a new one would cost seconds of CPU with
	// 100k users, and its size again in memory while both are alive), a
	// new view, whose refreshView releases the sync's memory.
	changed, err := g.changes.Changed(ctx)
	if err == nil && (changed || g.viewCfg.Load() != cfg) {
		if err = g.refreshView(ctx); err == nil {
			return nil
		}
	}
	// Also when the view could not be refreshed: the collector must not
	// stay at the sync's setting (tuneForSync) until the next sync.
	releaseMemory(g.log)
	return err
}

// warmTrees builds the LDAP tree of the current view now rather than in
// the first search that needs it (~0.75 s for 100k users).
func (g *Gateway) warmTrees() {
	g.mu.Lock()
	servers := slices.Clone(g.servers)
	g.mu.Unlock()
	for _, s := range servers {
		s.Directory().Warm() // shared trees are built once
	}
}

// startView builds the view of what the store holds at start, unless
// WithoutView.
func (g *Gateway) startView(ctx context.Context) error {
	if g.noView {
		return nil
	}
	return g.refreshView(ctx)
}

func (g *Gateway) refreshView(ctx context.Context) error {
	// Whatever is committed from here on is seen by the next watchStore
	// round; what came before is in the state loaded now.
	if _, err := g.changes.Changed(ctx); err != nil {
		return err
	}
	st, err := g.db.LoadState(ctx)
	if err != nil {
		return fmt.Errorf("load directory view: %w", err)
	}
	cfg := g.config()
	v := store.NewView(st, cfg.Privileges(), time.Now().UTC())
	g.live.Store(v)
	g.viewCfg.Store(cfg)
	g.viewChanged(v)
	g.warmTrees()
	releaseMemory(g.log) // memory.go
	g.log.Info("directory view updated", "users", len(v.Users), "groups", len(v.Groups), "privileges", len(v.Privileges))
	return nil
}

// Run serves LDAP, runs a sync at start and every sync.interval, watches
// the config file (reload.go), and returns when ctx is cancelled (nil) or
// a listener fails.
func (g *Gateway) Run(ctx context.Context) error {
	cfg := g.config()
	if err := g.activateSockets(); err != nil { // activation.go
		return err
	}
	defer func() { _ = g.sockets.unused() }() // closes what an early return left
	tlsCfg, err := g.tlsConfig(cfg)
	if err != nil {
		return err
	}
	hashes, err := serviceAccounts(cfg)
	if err != nil {
		return err
	}
	lcfg := ldapserver.Config{
		Directory: directory.Config{
			BaseDN:          cfg.LDAP.BaseDN,
			ServiceAccounts: hashes,
			SizeLimit:       cfg.LDAP.SizeLimit,
			VendorVersion:   Build().Version,
			BindLimit:       cfg.LDAPBindLimit(),
			POSIX:           cfg.ldapPOSIX(),
			ActiveDirectory: cfg.LDAP.ActiveDirectory,
		},
		MaxMessageBytes:          cfg.LDAP.MaxMessageBytes,
		MaxConnections:           cfg.LDAP.MaxConnections,
		MaxConnectionsPerAddress: cfg.LDAP.MaxConnectionsPerAddress,
		IdleTimeout:              cfg.LDAP.IdleTimeout.D(),
		FirstBindTimeout:         cfg.LDAP.FirstBindTimeout.D(),
		TLS:                      tlsCfg,
		RequireTLS:               cfg.LDAP.RequireTLS,
	}
	authOpts, err := g.startAuth(ctx)
	if err != nil {
		return err
	}
	defer g.stopAuth()
	authOpts = append(authOpts, ldapserver.WithObserver(g.metrics))
	errc := make(chan error, 2)
	var first *ldapserver.Server
	serveLDAP := func(addr string, ldaps bool) error {
		c := lcfg
		c.LDAPS = ldaps
		opts := authOpts
		if first != nil { // one tree, bind cache and limiter for both listeners
			opts = append(slices.Clip(opts), ldapserver.Beside(first))
		}
		srv, err := ldapserver.New(c, g.live, g.log.With("component", "ldap"), opts...)
		if err != nil {
			return err
		}
		if first == nil {
			first = srv
		}
		name := map[bool]string{false: "ldap", true: "ldaps"}[ldaps]
		if l := g.passedSocket(name, addr); l != nil { // activation.go
			go func() { errc <- srv.Serve(l) }()
		} else {
			go func() { errc <- srv.ListenAndServe(addr) }()
		}
		select {
		case <-srv.Ready():
		case err := <-errc:
			return fmt.Errorf("ldap listen %s: %w", addr, err)
		}
		if srv.Addr() == nil { // Ready, but listening failed: the error follows
			return fmt.Errorf("ldap listen %s: %w", addr, <-errc)
		}
		g.mu.Lock()
		g.servers = append(g.servers, srv)
		g.mu.Unlock()
		g.log.Info("serving LDAP", "addr", srv.Addr().String(), "ldaps", ldaps, "starttls", tlsCfg != nil && !ldaps)
		return nil
	}
	defer g.stopServers()
	if err := serveLDAP(cfg.LDAP.Listen, false); err != nil {
		return err
	}
	if cfg.LDAP.LDAPSListen != "" {
		if err := serveLDAP(cfg.LDAP.LDAPSListen, true); err != nil {
			return err
		}
	}
	if err := g.startMetricsListener(cfg); err != nil {
		return err
	}
	if err := g.sockets.unused(); err != nil {
		return err
	}
	if cfg.Path() != "" {
		if err := g.watchConfig(ctx); err != nil {
			g.log.Warn("config file not watched; reload with SIGHUP", "err", err)
		}
	}
	g.watchSIGHUP(ctx)
	var watchers sync.WaitGroup
	defer watchers.Wait()
	watchers.Go(func() { g.watchStore(ctx) })
	g.campaign(ctx)
	watchers.Go(func() { g.keepCampaigning(ctx) })

	g.scheduledSync(ctx)
	watchers.Go(func() { g.watchChanges(ctx) })
	// The trees of the view loaded at start, if the sync kept it and no
	// search has built them: the first search should not wait for them.
	// Not before the sync, which would then run beside them (~70 MB more
	// at the peak with 100k users).
	g.warmTrees()
	g.readyOnce.Do(func() { close(g.ready) })

	interval := cfg.Sync.Interval.D()
	timer := time.NewTimer(interval)
	defer timer.Stop()
	g.sched.setNext(time.Now().Add(interval))
	g.log.Info("next sync scheduled", "in", interval.String())
	for {
		select {
		case <-ctx.Done():
			g.log.Info("shutting down")
			return nil
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("ldap: %w", err)
			}
		case <-g.sched.reloaded:
			g.reloadSync(ctx)
		case <-g.sched.changed:
			// sync.interval changed: the next sync is interval after the last.
		case <-timer.C:
			g.scheduledSync(ctx)
		}
		interval = g.config().Sync.Interval.D()
		next := g.sched.lastStart().Add(interval)
		timer.Reset(max(time.Until(next), 0))
		g.sched.setNext(next)
		g.log.Info("next sync scheduled", "at", next.UTC().Format(time.RFC3339), "interval", interval.String())
	}
}

// serviceAccounts reads the service accounts' password hashes and takes
// their client certificates.
func serviceAccounts(cfg *Config) ([]directory.ServiceAccount, error) {
	hashes := make([]directory.ServiceAccount, 0, len(cfg.ServiceAccounts))
	for _, sa := range cfg.ServiceAccounts {
		h, err := cfg.ServiceAccountHash(sa)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		hashes = append(hashes, directory.ServiceAccount{Name: sa.Name, PasswordHash: h, ClientCertSHA256: sa.ClientCertSHA256})
	}
	return hashes, nil
}

func (g *Gateway) scheduledSync(ctx context.Context) {
	start := time.Now()
	g.sched.started(start)
	if !g.IsLeader() {
		g.log.Debug("scheduled sync left to the instance that holds the scheduler lease")
		return
	}
	res, err := g.Sync(ctx, engine.RunOptions{})
	switch {
	case err != nil && errors.Is(err, ErrSyncRunning):
		g.log.Info("scheduled sync skipped", "why", err)
	case err != nil && errors.Is(err, engine.ErrTooManyDeletes):
		g.log.Error("sync refused; the LDAP side keeps serving the last good data; run `ldapgate sync --force` if the deletions are intended", "err", err)
	case err != nil:
		g.log.Error("sync failed; the LDAP side keeps serving the last good data", "err", err)
	default:
		c := res.Counts
		g.log.Info("sync done", "took", time.Since(start).Round(time.Millisecond).String(),
			"users_added", c.UsersAdded, "users_updated", c.UsersUpdated, "users_deleted", c.UsersDeleted,
			"groups_added", c.GroupsAdded, "groups_updated", c.GroupsUpdated, "groups_deleted", c.GroupsDeleted,
			"members_added", c.MembersAdded, "members_deleted", c.MembersDeleted,
			"grants_added", c.GrantsAdded, "grants_deleted", c.GrantsDeleted, "run", res.RunID,
			"fetch_ms", res.Phases.FetchMS, "plan_ms", res.Phases.PlanMS, "apply_ms", res.Phases.ApplyMS, "finish_ms", res.Phases.FinishMS)
	}
}

// reloadSync runs a sync with reloaded settings: additions and changes at
// once, deletions left to the next scheduled sync and its deletion guard
// (an edit in progress must not delete anyone). The schedule stays.
func (g *Gateway) reloadSync(ctx context.Context) {
	res, err := g.Sync(ctx, engine.RunOptions{DeferDeletes: true})
	if err != nil {
		g.log.Error("sync with the reloaded config failed; the LDAP side keeps serving the last good data", "err", err)
		return
	}
	c := res.Counts
	g.log.Info("sync with the reloaded config done", "users_added", c.UsersAdded, "users_updated", c.UsersUpdated,
		"groups_added", c.GroupsAdded, "groups_updated", c.GroupsUpdated, "groups_deleted", c.GroupsDeleted,
		"deletions_left_for_the_next_sync", res.DeferredDeletes, "run", res.RunID)
}

// tlsConfig returns the LDAP TLS configuration, or nil without TLS. The
// certificate comes from g.certs, which reloads swap; the pair is also
// reloaded when its files change (certificate renewal).
func (g *Gateway) tlsConfig(cfg *Config) (*tls.Config, error) {
	r, err := newCertReloader(cfg, g.log)
	if err != nil || r == nil {
		return nil, err
	}
	g.certs.p.Store(r)
	return &tls.Config{GetCertificate: g.certs.GetCertificate, MinVersion: tls.VersionTLS12}, nil
}

func newCertReloader(cfg *Config, log *slog.Logger) (*ldapserver.CertReloader, error) {
	t := cfg.LDAP.TLS
	if t.CertFile == "" {
		return nil, nil
	}
	return ldapserver.NewCertReloader(cfg.resolve(t.CertFile), cfg.resolve(t.KeyFile), log.With("component", "ldap"))
}

func (g *Gateway) stopServers() {
	g.mu.Lock()
	servers := g.servers
	g.servers = nil
	g.mu.Unlock()
	for _, s := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Close(ctx); err != nil {
			g.log.Warn("ldap server did not stop cleanly", "err", err)
		}
		cancel()
	}
}

// Close stops the LDAP servers and closes the store.
func (g *Gateway) Close() error {
	g.stopServers()
	g.stopAuth()
	g.changes.Close()
	g.auditSink.Close()
	return g.db.Close()
}

// defaultStorePoll is how often a running ldapgate checks the store for
// writes by other ldapgate commands.
const defaultStorePoll = 2 * time.Second

// watchStore refreshes the view when another ldapgate command wrote to the
// store (privileges grant or revoke, a sync run by hand, another instance's
// sync), so the change is served without waiting for the next scheduled
// sync: at once when the store announces it (PostgreSQL), else at the next
// poll. It returns when ctx ends.
func (g *Gateway) watchStore(ctx context.Context) {
	t := time.NewTicker(g.storePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.changes.Notices(): // another instance wrote (PostgreSQL)
		}
		g.syncMu.Lock()
		// A WAL left large by a write that found the disk full is
		// truncated once that works (a no-op otherwise).
		if err := g.db.TruncateWAL(ctx); err != nil {
			g.log.Debug("the store's WAL is not truncated yet", "err", err)
		}
		if !g.IsLeader() {
			// Another instance syncs: its runs are this one's too (/readyz).
			g.loadLastSuccess(ctx)
		}
		changed, err := g.changes.Changed(ctx)
		g.noteStore(ctx, err)
		if err == nil && changed {
			g.log.Info("the store was changed by another ldapgate command; refreshing the directory view")
			err = g.refreshView(ctx)
		}
		g.syncMu.Unlock()
		if err != nil && ctx.Err() == nil {
			g.log.Warn("checking the store for changes", "err", err)
		}
	}
}

// noteStore records whether the store answered, logging the changes.
func (g *Gateway) noteStore(ctx context.Context, err error) {
	switch {
	case err != nil && ctx.Err() == nil:
		if g.storeDown.CompareAndSwap(nil, &storeOutage{since: time.Now(), err: err.Error()}) {
			g.log.Error("the store cannot be reached; searches are served from the last view", "err", err)
		}
	case err == nil:
		if was := g.storeDown.Swap(nil); was != nil {
			g.log.Info("the store answers again", "down_for", time.Since(was.since).Round(time.Second).String())
		}
	}
}

// NewLogger returns the logger the config asks for, writing to w.
func NewLogger(c LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
