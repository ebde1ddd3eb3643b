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
	"time"

	"github.com/ldapgate/ldapgate/bindproxy"
	"github.com/ldapgate/ldapgate/ldapserver"
	"github.com/ldapgate/ldapgate/oidc"
	"github.com/ldapgate/ldapgate/portal"
	"github.com/ldapgate/ldapgate/store"
)

// auth is a running gateway's bind chain and web portal.
type auth struct {
	mu       sync.Mutex
	chain    *bindproxy.Chain
	apm      *bindproxy.AppPasswordMethod
	http     *http.Server
	httpAddr net.Addr
	done     chan struct{}
	closers  []func() error
}

// startAuth builds the bind chain the config's binds list names and starts
// the web portal if http.listen is set. It returns the options that let
// the LDAP server ask the chain about user binds.
func (g *Gateway) startAuth(ctx context.Context) ([]ldapserver.Option, error) {
	cfg := g.cfg
	log := g.log.With("component", "bind")
	var prov *oidc.Provider
	if cfg.HasBind(BindIDToken) || cfg.HasBind(BindPasswordGrant) || cfg.HTTP.Listen != "" {
		prov = oidc.New(oidc.Config{Issuer: cfg.OIDC.Issuer, ClientID: cfg.OIDC.ClientID,
			AllowedDomains: cfg.OIDC.AllowedDomains, HTTPClient: &http.Client{Timeout: 15 * time.Second}})
	}
	services, err := cfg.AppPasswordServices()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var methods []bindproxy.Method
	var apm *bindproxy.AppPasswordMethod
	var closers []func() error
	for _, b := range cfg.Binds {
		switch b {
		case BindAppPassword:
			if apm, err = bindproxy.NewAppPasswordMethod(g.db, services, log); err != nil {
				return nil, err
			}
			methods = append(methods, apm)
		case BindIDToken:
			methods = append(methods, bindproxy.NewIDTokenMethod(prov))
		case BindPasswordGrant:
			secret, err := cfg.OIDCClientSecret()
			if err != nil {
				return nil, fmt.Errorf("config: %w", err)
			}
			methods = append(methods, bindproxy.NewPasswordGrantMethod(prov, secret, &http.Client{Timeout: 15 * time.Second}))
		case BindUpstreamLDAP:
			t, err := cfg.UpstreamTLS()
			if err != nil {
				return nil, fmt.Errorf("config: %w", err)
			}
			u := cfg.UpstreamLDAP
			um, err := bindproxy.NewUpstreamMethod(bindproxy.UpstreamConfig{URL: u.URL, BindDN: u.BindDN, TLS: t,
				MaxConns: u.MaxConns, Rate: u.Rate, Timeout: u.Timeout.D()})
			if err != nil {
				return nil, fmt.Errorf("config: %w", err)
			}
			closers = append(closers, um.Close)
			methods = append(methods, um)
		default:
			return nil, fmt.Errorf("config: bind method %q is not available", b)
		}
	}
	chain := bindproxy.NewChain(methods, bindproxy.Options{CacheTTL: cfg.CacheTTL(), Log: log})
	g.auth.mu.Lock()
	g.auth.chain, g.auth.apm, g.auth.closers = chain, apm, closers
	g.auth.mu.Unlock()
	if len(methods) > 0 {
		g.log.Info("user binds enabled", "methods", chain.Methods(), "cache_ttl", cfg.CacheTTL().String())
	}
	if cfg.HTTP.Listen != "" {
		if err := g.startPortal(ctx, prov, chain); err != nil {
			return nil, err
		}
	}
	if len(methods) == 0 {
		return nil, nil
	}
	return []ldapserver.Option{ldapserver.WithUserAuthenticator(chain)}, nil
}

func (g *Gateway) startPortal(_ context.Context, prov *oidc.Provider, chain *bindproxy.Chain) error {
	cfg := g.cfg
	secret, err := cfg.OIDCClientSecret()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	p, err := portal.New(portal.Config{
		PublicURL: cfg.HTTP.PublicURL, ClientID: cfg.OIDC.ClientID, ClientSecret: secret, Provider: prov,
		HTTPClient: &http.Client{Timeout: 15 * time.Second},
		Store:      g.db, Live: g.live, UserDN: ldapserver.Config{BaseDN: cfg.LDAP.BaseDN}.UserDN,
		Services:   slices.Sorted(maps.Keys(cfg.AppPasswords.Services)),
		SessionTTL: cfg.HTTP.SessionTTL.D(), Revoked: chain.Revoked, Log: g.log.With("component", "portal"),
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
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

// stopAuth stops the portal and waits for pending app password updates.
func (g *Gateway) stopAuth() {
	g.auth.mu.Lock()
	srv, done, apm, closers := g.auth.http, g.auth.done, g.auth.apm, g.auth.closers
	g.auth.http, g.auth.apm, g.auth.closers = nil, nil, nil
	g.auth.mu.Unlock()
	for _, c := range closers {
		_ = c()
	}
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			g.log.Warn("web portal did not stop cleanly", "err", err)
		}
		cancel()
		<-done
	}
	if apm != nil {
		apm.Close()
	}
}

// viewChanged tells the bind chain of a new view: cached binds of users
// that are gone, suspended or archived are forgotten at once.
func (g *Gateway) viewChanged(v *store.View) {
	g.auth.mu.Lock()
	chain := g.auth.chain
	g.auth.mu.Unlock()
	if chain != nil {
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
