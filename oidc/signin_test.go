package oidc_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/oidc"
	"github.com/ldapgate/ldapgate/oidc/oidctest"
)

const callbackURL = "https://ldapgate.example.com/auth/callback"

type flow struct {
	t      *testing.T
	issuer *oidctest.Issuer
	now    time.Time
}

func newFlow(t *testing.T) *flow {
	f := &flow{t: t, issuer: oidctest.New(t), now: time.Now()}
	f.issuer.SetLogin(map[string]any{"email": "daniel.kim@example.com", "hd": "example.com"})
	return f
}

// signIn returns a new SignIn against f's issuer, with its own sealing key.
func (f *flow) signIn() *oidc.SignIn {
	f.t.Helper()
	p := oidc.New(oidc.Config{Issuer: f.issuer.URL, ClientID: f.issuer.ClientID, AllowedDomains: []string{"example.com"}})
	s, err := oidc.NewSignIn(p, oidc.SignInConfig{ClientID: f.issuer.ClientID, ClientSecret: f.issuer.ClientSecret,
		RedirectURL: callbackURL, CookiePath: "/auth/", Secure: true, Now: func() time.Time { return f.now }})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// start begins a sign-in, lets the issuer sign the user in, and returns
// the state cookie and the callback URL the issuer redirects to.
func (f *flow) start(s *oidc.SignIn) (*http.Cookie, string) {
	f.t.Helper()
	rec := httptest.NewRecorder()
	if err := s.Start(rec, httptest.NewRequest("GET", "https://ldapgate.example.com/auth/login", nil)); err != nil {
		f.t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusFound || len(cookies) != 1 {
		f.t.Fatalf("start: %d, %d cookies", rec.Code, len(cookies))
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(rec.Header().Get("Location"))
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return cookies[0], resp.Header.Get("Location")
}

// finish calls the callback u with cookie c (none if nil).
func finish(s *oidc.SignIn, c *http.Cookie, u string) (*oidc.Claims, *httptest.ResponseRecorder, error) {
	req := httptest.NewRequest("GET", u, nil)
	if c != nil {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	claims, err := s.Finish(rec, req)
	return claims, rec, err
}

func TestSignIn(t *testing.T) {
	f := newFlow(t)
	s := f.signIn()
	c, u := f.start(s)
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/auth/" {
		t.Errorf("state cookie %+v", c)
	}
	claims, rec, err := finish(s, c, u)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Email != "daniel.kim@example.com" || claims.HostedDomain != "example.com" {
		t.Errorf("claims %+v", claims)
	}
	// The callback clears the cookie, so a browser finishes a sign-in once.
	if cleared := rec.Result().Cookies(); len(cleared) != 1 || cleared[0].MaxAge >= 0 {
		t.Errorf("the callback does not clear the state cookie: %+v", cleared)
	}
	// The code is single use at the issuer too.
	if _, _, err := finish(s, c, u); !errors.Is(err, oidc.ErrExchange) {
		t.Errorf("code replayed: %v, want ErrExchange", err)
	}
}

// TestSignInStateCookie: the sealed state cookie opens only unaltered, in
// the SignIn that sealed it, for its own sign-in and before it expires.
func TestSignInStateCookie(t *testing.T) {
	f := newFlow(t)
	s := f.signIn()
	c, u := f.start(s)
	if strings.Contains(c.Value, strings.TrimPrefix(regexp.MustCompile(`state=[^&]+`).FindString(u), "state=")) {
		t.Error("the state cookie shows the state in the clear")
	}
	altered := *c
	b := []byte(c.Value)
	b[len(b)/2] ^= 1
	altered.Value = string(b)
	if _, _, err := finish(s, &altered, u); !errors.Is(err, oidc.ErrBadState) {
		t.Errorf("altered cookie: %v, want ErrBadState", err)
	}
	if _, _, err := finish(s, nil, u); !errors.Is(err, oidc.ErrBadState) {
		t.Errorf("no cookie (another browser): %v, want ErrBadState", err)
	}
	if _, _, err := finish(f.signIn(), c, u); !errors.Is(err, oidc.ErrBadState) {
		t.Errorf("cookie of another process: %v, want ErrBadState", err)
	}
	c2, u2 := f.start(s)
	if _, _, err := finish(s, c, u2); !errors.Is(err, oidc.ErrBadState) {
		t.Errorf("cookie of another sign-in: %v, want ErrBadState", err)
	}
	f.now = f.now.Add(oidc.SignInTimeout + time.Minute)
	if _, _, err := finish(s, c2, u2); !errors.Is(err, oidc.ErrStateExpired) {
		t.Errorf("expired sign-in: %v, want ErrStateExpired", err)
	}
	f.now = f.now.Add(-oidc.SignInTimeout - time.Minute)
	if _, _, err := finish(s, c, u); err != nil {
		t.Errorf("unaltered cookie: %v", err)
	}
}

// tokenSwap answers the token endpoint with an ID token of its own: a
// valid token of another sign-in, as an attacker who injects one would.
type tokenSwap struct{ idToken string }

func (ts tokenSwap) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.URL.Path, "/token") {
		return http.DefaultTransport.RoundTrip(r)
	}
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/json")
	rec.WriteString(`{"access_token":"x","token_type":"Bearer","expires_in":3600,"id_token":"` + ts.idToken + `"}`)
	return rec.Result(), nil
}

// TestSignInNonce: an ID token that verifies but carries another sign-in's
// nonce does not finish this one.
func TestSignInNonce(t *testing.T) {
	f := newFlow(t)
	claims := f.issuer.Claims("daniel.kim@example.com", "example.com")
	claims["nonce"] = "another sign-in"
	p := oidc.New(oidc.Config{Issuer: f.issuer.URL, ClientID: f.issuer.ClientID, AllowedDomains: []string{"example.com"}})
	s, err := oidc.NewSignIn(p, oidc.SignInConfig{ClientID: f.issuer.ClientID, ClientSecret: f.issuer.ClientSecret,
		RedirectURL: callbackURL, HTTPClient: &http.Client{Transport: tokenSwap{f.issuer.Sign(claims)}}})
	if err != nil {
		t.Fatal(err)
	}
	c, u := f.start(s)
	if _, _, err := finish(s, c, u); !errors.Is(err, oidc.ErrNonce) {
		t.Errorf("token of another sign-in: %v, want ErrNonce", err)
	}
}

func TestSignInRefusals(t *testing.T) {
	f := newFlow(t)
	s := f.signIn()

	c, u := f.start(s)
	cb, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := cb.Query()
	q.Del("code")
	q.Set("error", "access_denied")
	cb.RawQuery = q.Encode()
	if _, _, err := finish(s, c, cb.String()); !errors.Is(err, oidc.ErrRefused) {
		t.Errorf("issuer error: %v, want ErrRefused", err)
	}

	f.issuer.SetLogin(map[string]any{"email": "daniel.kim@example.com", "hd": "evil.example"})
	c, u = f.start(s)
	if _, _, err := finish(s, c, u); !errors.Is(err, oidc.ErrToken) || !errors.Is(err, oidc.ErrDomain) {
		t.Errorf("other hosted domain: %v, want ErrToken and ErrDomain", err)
	}

	down := oidc.New(oidc.Config{Issuer: "http://127.0.0.1:1", ClientID: f.issuer.ClientID})
	sd, err := oidc.NewSignIn(down, oidc.SignInConfig{ClientID: f.issuer.ClientID, RedirectURL: callbackURL})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := sd.Start(rec, httptest.NewRequest("GET", "/auth/login", nil)); !errors.Is(err, oidc.ErrUnreachable) {
		t.Errorf("issuer down: %v, want ErrUnreachable", err)
	}
	if len(rec.Result().Cookies()) != 0 || rec.Header().Get("Location") != "" {
		t.Error("a failed start answered the browser")
	}
}
