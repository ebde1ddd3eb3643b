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
	"sync"
	"time"

	"github.com/ldapgate/ldapgate/ldapserver"
	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/dirfile"
	"github.com/ldapgate/ldapgate/sync/engine"
)

// Gateway is a running ldapgate: store, sync engine, LDAP server.
type Gateway struct {
	cfg    *Config
	log    *slog.Logger
	db     *store.DB
	live   *store.Live
	engine *engine.Engine

	// syncMu serialises syncs: the scheduler and on-demand runs never overlap.
	syncMu sync.Mutex

	ready     chan struct{}
	readyOnce sync.Once
	mu        sync.Mutex
	servers   []*ldapserver.Server
	auth      auth // bind chain and web portal (auth.go)
}

// New opens the store named by cfg and builds the current view from it, so
// the LDAP side can serve the last good data before the first sync.
func New(ctx context.Context, cfg *Config, log *slog.Logger) (*Gateway, error) {
	db, err := store.Open(ctx, cfg.StorePath())
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:   cfg,
		log:   log,
		db:    db,
		live:  new(store.Live),
		ready: make(chan struct{}),
	}
	g.engine = engine.New(newSource(cfg, log.With("component", "google")), db, EngineOptions(cfg), log.With("component", "sync"))
	if err := g.refreshView(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return g, nil
}

// NewSource returns the directory source the config names.
func NewSource(cfg *Config) engine.Source { return newSource(cfg, nil) }

func newSource(cfg *Config, log *slog.Logger) engine.Source {
	if cfg.Source.Type == "google" {
		return NewGoogleSource(cfg, log)
	}
	return dirfile.New(cfg.SourceFile())
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
	}
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
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Sync.Timeout.D())
	defer cancel()
	res, err := g.engine.Run(ctx, opts)
	if err != nil {
		return res, err
	}
	if res.Applied {
		if err := g.refreshView(ctx); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (g *Gateway) refreshView(ctx context.Context) error {
	st, err := g.db.LoadState(ctx)
	if err != nil {
		return fmt.Errorf("load directory view: %w", err)
	}
	v := store.NewView(st, g.cfg.Privileges(), time.Now().UTC())
	g.live.Store(v)
	g.viewChanged(v)
	g.log.Info("directory view updated", "users", len(v.Users), "groups", len(v.Groups), "privileges", len(v.Privileges))
	return nil
}

// Run serves LDAP, runs a sync at start and every sync.interval, and
// returns when ctx is cancelled (nil) or a listener fails.
func (g *Gateway) Run(ctx context.Context) error {
	tlsCfg, err := g.tlsConfig()
	if err != nil {
		return err
	}
	hashes := make([]ldapserver.ServiceAccount, 0, len(g.cfg.ServiceAccounts))
	for _, sa := range g.cfg.ServiceAccounts {
		h, err := g.cfg.ServiceAccountHash(sa)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		hashes = append(hashes, ldapserver.ServiceAccount{Name: sa.Name, PasswordHash: h})
	}
	lcfg := ldapserver.Config{
		BaseDN:          g.cfg.LDAP.BaseDN,
		ServiceAccounts: hashes,
		SizeLimit:       g.cfg.LDAP.SizeLimit,
		MaxMessageBytes: g.cfg.LDAP.MaxMessageBytes,
		VendorVersion:   Version,
		TLS:             tlsCfg,
	}
	authOpts, err := g.startAuth(ctx)
	if err != nil {
		return err
	}
	defer g.stopAuth()
	errc := make(chan error, 2)
	listen := func(addr string, ldaps bool) error {
		c := lcfg
		c.LDAPS = ldaps
		srv, err := ldapserver.New(c, g.live, g.log.With("component", "ldap"), authOpts...)
		if err != nil {
			return err
		}
		go func() { errc <- srv.ListenAndServe(addr) }()
		select {
		case <-srv.Ready():
		case err := <-errc:
			return fmt.Errorf("ldap listen %s: %w", addr, err)
		}
		g.mu.Lock()
		g.servers = append(g.servers, srv)
		g.mu.Unlock()
		g.log.Info("serving LDAP", "addr", srv.Addr().String(), "ldaps", ldaps, "starttls", tlsCfg != nil && !ldaps)
		return nil
	}
	defer g.stopServers()
	if err := listen(g.cfg.LDAP.Listen, false); err != nil {
		return err
	}
	if g.cfg.LDAP.LDAPSListen != "" {
		if err := listen(g.cfg.LDAP.LDAPSListen, true); err != nil {
			return err
		}
	}

	g.scheduledSync(ctx)
	g.readyOnce.Do(func() { close(g.ready) })

	ticker := time.NewTicker(g.cfg.Sync.Interval.D())
	defer ticker.Stop()
	g.log.Info("next sync scheduled", "in", g.cfg.Sync.Interval.D().String())
	for {
		select {
		case <-ctx.Done():
			g.log.Info("shutting down")
			return nil
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("ldap: %w", err)
			}
		case <-ticker.C:
			g.scheduledSync(ctx)
		}
	}
}

func (g *Gateway) scheduledSync(ctx context.Context) {
	start := time.Now()
	res, err := g.Sync(ctx, engine.RunOptions{})
	switch {
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
			"grants_added", c.GrantsAdded, "grants_deleted", c.GrantsDeleted, "run", res.RunID)
	}
}

func (g *Gateway) tlsConfig() (*tls.Config, error) {
	t := g.cfg.LDAP.TLS
	if t.CertFile == "" {
		return nil, nil
	}
	// The pair is reloaded when the files change (certificate renewal).
	r, err := ldapserver.NewCertReloader(g.cfg.resolve(t.CertFile), g.cfg.resolve(t.KeyFile), g.log.With("component", "ldap"))
	if err != nil {
		return nil, err
	}
	return r.TLSConfig(), nil
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
	return g.db.Close()
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

// Version is ldapgate's version, set at build time with
// -ldflags "-X github.com/ldapgate/ldapgate/gateway.Version=v1.2.3".
var Version = "dev"
