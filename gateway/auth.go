package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ldapgate/ldapgate/bindproxy"
	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/ldapserver"
	"github.com/ldapgate/ldapgate/oidc"
	"github.com/ldapgate/ldapgate/portal"
	"github.com/ldapgate/ldapgate/store"
)

// auth is a running gateway's OIDC provider and web portal (the bind
// chain is g.users').
type auth struct {
	mu       sync.Mutex
	prov     *oidc.Provider
	http     *http.Server
	httpAddr net.Addr
	done     chan struct{}

	metricsSrv  *http.Server // metrics.listen (metrics.go)
	metricsAddr net.Addr
}

// startAuth builds the bind chain the config's binds list names and starts
// the web portal if http.listen is set. It returns the options that let
// the LDAP server ask the chain (through g.users, which reloads swap)
// about user binds.
func (g *Gateway) startAuth(ctx context.Context) ([]ldapserver.Option, error) {
	cfg := g.config()
	var prov *oidc.Provider
	if cfg.HasBind(bindproxy.MethodIDToken) || cfg.HasBind(bindproxy.MethodPasswordGrant) || cfg.HTTP.Listen != "" {
		prov = newProvider(cfg)
	}
	g.auth.mu.Lock()
	g.auth.prov = prov
	g.auth.mu.Unlock()
	if err := g.swapChain(cfg); err != nil {
		return nil, err
	}
	if cfg.HTTP.Listen != "" {
		if err := g.startPortal(ctx, prov); err != nil {
			return nil, err
		}
	}
	return []ldapserver.Option{ldapserver.WithUserAuthenticator(&g.users)}, nil
}

func newProvider(cfg *Config) *oidc.Provider {
	return oidc.New(oidc.Config{Issuer: cfg.OIDC.Issuer, ClientID: cfg.OIDC.ClientID,
		AllowedDomains: cfg.OIDC.AllowedDomains, HTTPClient: &http.Client{Timeout: 15 * time.Second}})
}

// swapChain builds the bind chain of cfg and puts it in place of the
// current one.
func (g *Gateway) swapChain(cfg *Config) error {
	cs, err := g.buildChain(cfg)
	if err != nil {
		return err
	}
	g.installChain(cs)
	return nil
}

// chainSet is a bind chain with the parts that need closing.
type chainSet struct {
	chain   *bindproxy.Chain
	apm     *bindproxy.AppPasswordMethod
	closers []func() error
	// closed: a reload and the gateway's stop may both close one set.
	closed sync.Once
}

func (cs *chainSet) close() {
	cs.closed.Do(func() {
		for _, c := range cs.closers {
			_ = c()
		}
		if cs.apm != nil {
			cs.apm.Close()
		}
	})
}

// buildChain builds the bind chain of cfg without putting it in place.
func (g *Gateway) buildChain(cfg *Config) (*chainSet, error) {
	g.auth.mu.Lock()
	prov := g.auth.prov
	g.auth.mu.Unlock()
	if prov == nil && (cfg.HasBind(bindproxy.MethodIDToken) || cfg.HasBind(bindproxy.MethodPasswordGrant)) {
		prov = newProvider(cfg)
		g.auth.mu.Lock()
		g.auth.prov = prov
		g.auth.mu.Unlock()
	}
	log := g.log.With("component", "bind")
	services, err := cfg.AppPasswordServices()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cs := &chainSet{}
	var methods []bindproxy.Method
	fail := func(err error) (*chainSet, error) {
		cs.close()
		return nil, err
	}
	for _, b := range cfg.Binds {
		switch b {
		case bindproxy.MethodAppPassword:
			if cs.apm, err = bindproxy.NewAppPasswordMethod(g.db, services, log); err != nil {
				return fail(err)
			}
			methods = append(methods, cs.apm)
		case bindproxy.MethodIDToken:
			methods = append(methods, bindproxy.NewIDTokenMethod(prov))
		case bindproxy.MethodPasswordGrant:
			secret, err := cfg.OIDCClientSecret()
			if err != nil {
				return fail(fmt.Errorf("config: %w", err))
			}
			methods = append(methods, bindproxy.NewPasswordGrantMethod(prov, secret, &http.Client{Timeout: 15 * time.Second}))
		case bindproxy.MethodUpstreamLDAP:
			t, err := cfg.UpstreamTLS()
			if err != nil {
				return fail(fmt.Errorf("config: %w", err))
			}
			u := cfg.UpstreamLDAP
			um, err := bindproxy.NewUpstreamMethod(bindproxy.UpstreamConfig{URL: u.URL, BindDN: u.BindDN, TLS: t,
				MaxConns: u.MaxConns, Rate: u.Rate, Timeout: u.Timeout.D()})
			if err != nil {
				return fail(fmt.Errorf("config: %w", err))
			}
			cs.closers = append(cs.closers, um.Close)
			methods = append(methods, um)
		default:
			return fail(fmt.Errorf("config: bind method %q is not available", b))
		}
	}
	cs.chain = bindproxy.NewChain(methods, bindproxy.Options{CacheTTL: cfg.CacheTTL(), Log: log})
	if v := g.live.Load(); v != nil {
		cs.chain.ViewChanged(v)
	}
	if len(methods) > 0 {
		g.log.Info("user binds enabled", "methods", cs.chain.Methods(), "cache_ttl", cfg.CacheTTL().String())
	} else {
		// Easy to miss: the directory is served, and yet nobody can log on.
		g.log.Warn("binds is empty: directory users cannot log on, only service accounts can bind; "+
			"set binds (e.g. [app_password]) in the config", "file", cfg.Path())
	}
	return cs, nil
}

// installChain puts cs in place of the current chain, which is reset (its
// cached binds forgotten) and closed.
func (g *Gateway) installChain(cs *chainSet) {
	old := g.users.p.Swap(cs)
	if old == nil {
		return
	}
	old.chain.Reset()
	g.metrics.retireChain(old.chain)
	go old.close() // the app password method waits for its pending last-used updates
}

// userAuth holds the live bind chain, the only place it is kept: a
// config reload swaps it (installChain) without touching connections,
// and it is read without locks. It is the LDAP server's
// UserAuthenticator, and records each outcome for the admin page.
type userAuth struct {
	p       atomic.Pointer[chainSet]
	history func(userID string, rec bindRecord)
}

var _ directory.UserAuthenticator = (*userAuth)(nil)

// chain returns the live bind chain, nil before the first.
func (u *userAuth) chain() *bindproxy.Chain {
	if cs := u.p.Load(); cs != nil {
		return cs.chain
	}
	return nil
}

// AuthenticateUser implements directory.UserAuthenticator.
func (u *userAuth) AuthenticateUser(ctx context.Context, user *store.ViewUser, password string, client net.Addr) error {
	c := u.chain()
	var err error
	if c == nil || !c.HasMethods() {
		err = directory.Refused("user binds are not enabled (binds is empty)")
	} else {
		err = c.AuthenticateUser(ctx, user, password, client)
	}
	if u.history != nil {
		rec := bindRecord{At: time.Now().UTC(), OK: err == nil}
		if client != nil {
			rec.Client = client.String()
		}
		if err != nil {
			rec.Reason = err.Error()
		}
		u.history(user.ID, rec)
	}
	return err
}

// Revoked tells the current chain of a revoked app password.
func (u *userAuth) Revoked(id int64) {
	if c := u.chain(); c != nil {
		c.Revoked(id)
	}
}

func (g *Gateway) startPortal(ctx context.Context, prov *oidc.Provider) error {
	cfg := g.config()
	secret, err := cfg.OIDCClientSecret()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	// From the store, as the sessions are: a sign-in started on one
	// instance ends on another, and a restart signs no one out.
	stateKey, err := g.db.PortalSecret(ctx, "portal_state_key", 32)
	if err != nil {
		return err
	}
	p, err := portal.New(portal.Config{
		PublicURL: cfg.HTTP.PublicURL, ClientID: cfg.OIDC.ClientID, ClientSecret: secret, Provider: prov,
		HTTPClient: &http.Client{Timeout: 15 * time.Second},
		Store:      g.db, Live: g.live, UserDN: func(uid string) string { return directory.UserDN(cfg.LDAP.BaseDN, uid) },
		Services:   slices.Sorted(maps.Keys(cfg.AppPasswords.Services)),
		SessionTTL: cfg.HTTP.SessionTTL.D(), Revoked: g.users.Revoked, Log: g.log.With("component", "portal"),
		Admin:         g.adminBackend(),
		KeepOnSuspend: func() bool { return g.config().Sync.KeepAppPasswordsOnSuspend },
		Sessions:      g.db, StateKey: stateKey,
	})
	if err != nil {
		return err
	}
	l, err := g.listen("http", cfg.HTTP.Listen) // activation.go
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	srv := g.web.server(g.httpHandler(p))
	tlsOn := cfg.HTTP.TLS.CertFile != ""
	if tlsOn {
		cert, err := tls.LoadX509KeyPair(cfg.resolve(cfg.HTTP.TLS.CertFile), cfg.resolve(cfg.HTTP.TLS.KeyFile))
		if err != nil {
			l.Close()
			return fmt.Errorf("http tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	done := make(chan struct{})
	g.auth.mu.Lock()
	g.auth.http, g.auth.httpAddr, g.auth.done = srv, l.Addr(), done
	g.auth.mu.Unlock()
	go func() {
		defer close(done)
		var err error
		if tlsOn {
			err = srv.ServeTLS(l, "", "")
		} else {
			err = srv.Serve(l)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("web portal stopped", "err", err)
		}
	}()
	g.log.Info("serving the web portal", "addr", l.Addr().String(), "public_url", cfg.HTTP.PublicURL, "tls", tlsOn)
	return nil
}

// stopAuth stops the portal, closes the bind chain's connections and
// waits for pending app password updates. The chain stays in place (its
// counts stay in the metrics); the LDAP servers have stopped.
func (g *Gateway) stopAuth() {
	g.auth.mu.Lock()
	srv, done := g.auth.http, g.auth.done
	g.auth.http = nil
	msrv := g.auth.metricsSrv
	g.auth.metricsSrv = nil
	g.auth.mu.Unlock()
	if msrv != nil {
		_ = msrv.Close()
	}
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			g.log.Warn("web portal did not stop cleanly", "err", err)
		}
		cancel()
		<-done
	}
	if cs := g.users.p.Load(); cs != nil {
		cs.close()
	}
}

// viewChanged tells the bind chain of a new view: cached binds of users
// that are gone, suspended or archived are forgotten at once.
func (g *Gateway) viewChanged(v *store.View) {
	if chain := g.users.chain(); chain != nil {
		chain.ViewChanged(v)
	}
}

// HTTPAddr returns the web portal's address (nil without one), valid once
// Ready is closed.
func (g *Gateway) HTTPAddr() net.Addr {
	g.auth.mu.Lock()
	defer g.auth.mu.Unlock()
	return g.auth.httpAddr
}
