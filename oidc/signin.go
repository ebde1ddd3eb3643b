package oidc

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// SignInConfig configures the authorization code flow of a web sign-in.
type SignInConfig struct {
	ClientID     string
	ClientSecret string
	// RedirectURL is where the issuer sends the browser back (the callback
	// that calls Finish).
	RedirectURL string
	// CookiePath scopes the state cookie to the paths of Start and Finish.
	CookiePath string
	// Secure marks the state cookie Secure (the site is served over https).
	Secure bool
	// HTTPClient talks to the issuer's token endpoint; nil means
	// http.DefaultClient.
	HTTPClient *http.Client
	// Now is the clock for the sign-in's expiry; nil means time.Now.
	Now func() time.Time
	// StateKey seals sign-ins in progress: 32 bytes, the same on every
	// instance behind one load balancer (ldapgate keeps it in the store),
	// so that a sign-in started on one ends on another; nil draws a key
	// per process.
	StateKey []byte
}

// Errors of Finish besides ErrUnreachable and, wrapped in ErrToken, those of
// VerifyIDToken.
var (
	// ErrBadState: no state cookie, one that does not open, or one of
	// another sign-in (another browser, a replay).
	ErrBadState = errors.New("sign-in state cookie does not open or does not match")
	// ErrStateExpired: the sign-in took longer than SignInTimeout.
	ErrStateExpired = errors.New("sign-in expired")
	// ErrRefused: the issuer sent back an error (the user cancelled).
	ErrRefused = errors.New("sign-in refused by the issuer")
	// ErrExchange: the code exchange failed or returned no ID token.
	ErrExchange = errors.New("code exchange failed")
	// ErrToken: the ID token did not verify (the wrapped error says why).
	ErrToken = errors.New("id token refused")
	// ErrNonce: the ID token's nonce is not the sign-in's.
	ErrNonce = errors.New("nonce mismatch")
)

const (
	stateCookie = "ldapgate_state"
	// SignInTimeout is how long a browser has between Start and Finish.
	SignInTimeout = 10 * time.Minute
)

// SignIn is the web sign-in with the authorization code flow, state, nonce
// and PKCE (S256), whose ID token Provider verifies. State, nonce and PKCE
// verifier travel sealed in a cookie that binds the sign-in to the browser
// until the callback: the server keeps nothing, so no number of unfinished
// sign-ins can crowd out real users. It is safe for concurrent use.
type SignIn struct {
	p      *Provider
	cfg    SignInConfig
	sealer *sealer
}

// NewSignIn returns the sign-in of cfg against p. It does not contact the
// issuer.
func NewSignIn(p *Provider, cfg SignInConfig) (*SignIn, error) {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s, err := newSealer(cfg.StateKey)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	return &SignIn{p: p, cfg: cfg, sealer: s}, nil
}

func (s *SignIn) oauth2Config(ctx context.Context) (*oauth2.Config, error) {
	ep, err := s.p.Endpoint(ctx)
	if err != nil {
		return nil, err
	}
	return &oauth2.Config{
		ClientID: s.cfg.ClientID, ClientSecret: s.cfg.ClientSecret, Endpoint: ep,
		RedirectURL: s.cfg.RedirectURL, Scopes: []string{"openid", "email", "profile"},
	}, nil
}

// Start begins a sign-in: it sets the state cookie and redirects the browser
// to the issuer. On error it writes nothing; the error wraps ErrUnreachable
// when the issuer's discovery document cannot be fetched.
func (s *SignIn) Start(w http.ResponseWriter, r *http.Request) error {
	oc, err := s.oauth2Config(r.Context())
	if err != nil {
		return err
	}
	p := pending{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier(),
		Expires: s.cfg.Now().Add(SignInTimeout).Unix()}
	sealed, err := s.sealer.seal(p)
	if err != nil {
		return fmt.Errorf("oidc: %w", err)
	}
	http.SetCookie(w, s.cookie(sealed, int(SignInTimeout/time.Second)))
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(p.Verifier), oauth2.SetAuthURLParam("nonce", p.Nonce)}
	if d := s.p.cfg.AllowedDomains; len(d) == 1 {
		opts = append(opts, oauth2.SetAuthURLParam("hd", d[0])) // Google: preselect the organisation
	}
	http.Redirect(w, r, oc.AuthCodeURL(p.State, opts...), http.StatusFound)
	return nil
}

// Finish ends a sign-in at the callback r: it checks the state against the
// cookie (and clears the cookie, so a callback is good once), exchanges the
// code with the PKCE verifier, verifies the ID token and its nonce, and
// returns the token's claims. It writes only the cookie; the caller answers.
// Errors: ErrBadState, ErrStateExpired, ErrRefused, ErrUnreachable,
// ErrExchange, ErrToken, ErrNonce.
func (s *SignIn) Finish(w http.ResponseWriter, r *http.Request) (*Claims, error) {
	q := r.URL.Query()
	state := q.Get("state")
	var p pending
	c, err := r.Cookie(stateCookie)
	if err == nil {
		p, err = s.sealer.open(c.Value)
	}
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(p.State), []byte(state)) != 1 {
		return nil, fmt.Errorf("oidc: %w", ErrBadState)
	}
	http.SetCookie(w, s.cookie("", -1))
	if s.cfg.Now().Unix() > p.Expires {
		return nil, fmt.Errorf("oidc: %w", ErrStateExpired)
	}
	if e := q.Get("error"); e != "" {
		return nil, fmt.Errorf("oidc: %w: %q", ErrRefused, e)
	}
	oc, err := s.oauth2Config(r.Context())
	if err != nil {
		return nil, err
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, s.cfg.HTTPClient)
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		return nil, fmt.Errorf("oidc: %w: %w", ErrExchange, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("oidc: %w: no id_token in the token response", ErrExchange)
	}
	claims, err := s.p.VerifyIDToken(r.Context(), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(claims.Nonce), []byte(p.Nonce)) != 1 {
		return nil, fmt.Errorf("oidc: %w", ErrNonce)
	}
	return claims, nil
}

func (s *SignIn) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: stateCookie, Value: value, Path: s.cfg.CookiePath, MaxAge: maxAge,
		HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode}
}

// pending is a sign-in in progress, as sealed in the state cookie.
type pending struct {
	State    string `json:"s"` // must equal the callback's state parameter
	Nonce    string `json:"n"`
	Verifier string `json:"v"` // PKCE
	Expires  int64  `json:"e"` // unix seconds
}

// sealer encrypts and authenticates sign-ins in progress (AES-256-GCM), so
// the browser carries them instead of the server: the verifier stays
// secret, and a forged or altered cookie does not open. The key is
// SignInConfig.StateKey, or random per process without one.
type sealer struct{ aead cipher.AEAD }

// sealAD ties a sealed value to its use, so no other value sealed with
// the same key ever opens as a sign-in.
var sealAD = []byte("ldapgate sign-in state")

func newSealer(key []byte) (*sealer, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("sign-in state key: %w", err)
		}
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("sign-in state key: %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sign-in state key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sign-in state key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(p pending) (string, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("seal sign-in state: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal sign-in state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, sealAD)), nil
}

func (s *sealer) open(v string) (pending, error) {
	var p pending
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) < s.aead.NonceSize() {
		return p, ErrBadState
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], sealAD)
	if err != nil {
		return p, ErrBadState
	}
	if err := json.Unmarshal(plain, &p); err != nil {
		return p, ErrBadState
	}
	return p, nil
}
