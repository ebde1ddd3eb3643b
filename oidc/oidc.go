// Package oidc is ldapgate's OpenID Connect side: the web sign-in
// (SignIn: authorization code flow with state, nonce and PKCE, its state
// sealed in a cookie) and the verification of ID tokens from the
// configured issuer (Google, or any OpenID provider) against the
// rules ldapgate adds on top of the signature, issuer, audience and expiry
// checks of github.com/coreos/go-oidc/v3: a verified email, and a hosted
// domain among the allowed ones. The web portal and the ID token bind
// method use it.
package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config says which ID tokens are accepted.
type Config struct {
	// Issuer is the issuer URL (https://accounts.google.com for Google).
	Issuer string
	// ClientID is ldapgate's OAuth client id: the audience tokens must have.
	ClientID string
	// AllowedDomains are the hosted domains (the hd claim) accepted; empty
	// means any, which only makes sense for issuers without hd.
	AllowedDomains []string
	// HTTPClient fetches discovery and keys; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Now is the clock for expiry checks; nil means time.Now.
	Now func() time.Time
}

// Claims are the verified claims of an ID token that ldapgate uses.
type Claims struct {
	Subject       string
	Email         string
	EmailVerified bool
	HostedDomain  string
	Nonce         string
	Expiry        time.Time
}

// Errors of VerifyIDToken besides go-oidc's own (bad signature, issuer,
// audience, expiry).
var (
	// ErrUnreachable means the token could not be checked: the issuer's
	// discovery document or keys could not be fetched. Every other error
	// of VerifyIDToken is a finding about the token.
	ErrUnreachable      = errors.New("issuer unreachable")
	ErrEmailNotVerified = errors.New("email not verified")
	ErrDomain           = errors.New("hosted domain not allowed")
	ErrNoEmail          = errors.New("no email claim")
)

// Provider verifies ID tokens of one issuer. Discovery happens on first
// use (and is retried on later uses until it succeeds), so ldapgate starts
// even while the issuer is unreachable. It is safe for concurrent use.
type Provider struct {
	cfg Config

	mu       sync.Mutex
	provider *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
}

// New returns the provider of cfg. It does not contact the issuer.
func New(cfg Config) *Provider {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Provider{cfg: cfg}
}

// Config returns the provider's config.
func (p *Provider) Config() Config { return p.cfg }

// discover fetches the issuer's discovery document once.
func (p *Provider) discover(ctx context.Context) (*gooidc.Provider, *gooidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, p.verifier, nil
	}
	// Keys are fetched later with this context: it must outlive ctx.
	bg := gooidc.ClientContext(context.WithoutCancel(ctx), p.cfg.HTTPClient)
	dctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, p.cfg.HTTPClient), 15*time.Second)
	defer cancel()
	prov, err := gooidc.NewProvider(dctx, p.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("oidc: discovery of %s: %w: %w", p.cfg.Issuer, ErrUnreachable, err)
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := prov.Claims(&meta); err != nil {
		return nil, nil, fmt.Errorf("oidc: discovery of %s: %w", p.cfg.Issuer, err)
	}
	keys := &fetchAwareKeySet{gooidc.NewRemoteKeySet(bg, meta.JWKS)}
	p.provider = prov
	p.verifier = gooidc.NewVerifier(p.cfg.Issuer, keys, &gooidc.Config{ClientID: p.cfg.ClientID, Now: p.cfg.Now})
	return p.provider, p.verifier, nil
}

// fetchAwareKeySet tells a failure to fetch the issuer's keys from a
// signature that does not verify: go-oidc's verifier reports both as
// "failed to verify signature" (formatted with %v), and only the second
// means the token is bad. Its RemoteKeySet wraps (%w) only the error of a
// fetch; this records it in the keyFetch that VerifyIDToken put in ctx.
type fetchAwareKeySet struct{ gooidc.KeySet }

type keyFetchKey struct{}

// keyFetch is where a failed key fetch of one verification is recorded.
type keyFetch struct{ err error }

func (k *fetchAwareKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.KeySet.VerifySignature(ctx, jwt)
	if err != nil && errors.Unwrap(err) != nil {
		if f, ok := ctx.Value(keyFetchKey{}).(*keyFetch); ok {
			f.err = err
		}
	}
	return payload, err
}

// Endpoint returns the issuer's OAuth 2.0 endpoints.
func (p *Provider) Endpoint(ctx context.Context) (oauth2.Endpoint, error) {
	prov, _, err := p.discover(ctx)
	if err != nil {
		return oauth2.Endpoint{}, err
	}
	return prov.Endpoint(), nil
}

// VerifyIDToken checks raw's signature against the issuer's keys, its
// issuer, audience (Config.ClientID) and expiry, then that it carries an
// email, email_verified true and, if Config.AllowedDomains is set, an hd
// claim among them. The nonce is returned for the caller to check.
func (p *Provider) VerifyIDToken(ctx context.Context, raw string) (*Claims, error) {
	_, v, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	var fetch keyFetch
	tok, err := v.Verify(context.WithValue(ctx, keyFetchKey{}, &fetch), raw)
	if err != nil {
		if fetch.err != nil {
			return nil, fmt.Errorf("oidc: %w: %w", ErrUnreachable, fetch.err)
		}
		return nil, fmt.Errorf("oidc: %w", err)
	}
	var c struct {
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"`
		HD            string `json:"hd"`
	}
	if err := tok.Claims(&c); err != nil {
		return nil, fmt.Errorf("oidc: claims: %w", err)
	}
	// Some providers send email_verified as the string "true".
	verified := c.EmailVerified == true || c.EmailVerified == "true"
	claims := &Claims{Subject: tok.Subject, Email: c.Email, EmailVerified: verified, HostedDomain: c.HD,
		Nonce: tok.Nonce, Expiry: tok.Expiry}
	switch {
	case c.Email == "":
		return nil, fmt.Errorf("oidc: %w", ErrNoEmail)
	case !verified:
		return nil, fmt.Errorf("oidc: %s: %w", c.Email, ErrEmailNotVerified)
	case len(p.cfg.AllowedDomains) > 0 && !slices.ContainsFunc(p.cfg.AllowedDomains, func(d string) bool {
		return c.HD != "" && strings.EqualFold(d, c.HD)
	}):
		return nil, fmt.Errorf("oidc: %s: hd %q: %w", c.Email, c.HD, ErrDomain)
	}
	return claims, nil
}

// LooksLikeJWT reports whether s has the shape of a compact JWS (three
// base64url parts separated by dots), so bind methods can skip what cannot
// be an ID token without asking the issuer.
func LooksLikeJWT(s string) bool {
	if len(s) < 20 || len(s) > 16384 || strings.Count(s, ".") != 2 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
