package portal_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/bindproxy"
	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/ldapserver"
	"github.com/ldapgate/ldapgate/ldapserver/ldaptest"
	"github.com/ldapgate/ldapgate/oidc"
	"github.com/ldapgate/ldapgate/oidc/oidctest"
	"github.com/ldapgate/ldapgate/portal"
	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/dirfile"
	"github.com/ldapgate/ldapgate/sync/engine"
)

const (
	danielMail = "daniel.kim@example.com"
	danielDN   = "uid=daniel.kim,ou=people,dc=example,dc=com"
)

type env struct {
	issuer *oidctest.Issuer
	db     *store.DB
	live   *store.Live
	chain  *bindproxy.Chain
	portal *httptest.Server
	ldap   string
	// newPortal starts another portal on the same store and directory.
	newPortal func(t *testing.T, sessions portal.Sessions) *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{issuer: oidctest.New(t), live: new(store.Live)}
	var err error
	if e.db, err = store.Open(ctx, filepath.Join(t.TempDir(), "ldapgate.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	opts := engine.Options{Filter: engine.Filter{Groups: []string{"archive-users@example.com"}}, DeleteUsers: true,
		MaxDeletePercent: 100, DefaultPrivileges: []string{"login", "read-own-archive"}, PrimaryDomain: "example.com"}
	if _, err := engine.New(dirfile.New("../configs/demo-directory.json"), e.db, opts, nil).Run(ctx, engine.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := e.db.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.live.Store(store.NewView(st, nil, time.Now()))

	prov := oidc.New(oidc.Config{Issuer: e.issuer.URL, ClientID: e.issuer.ClientID, AllowedDomains: []string{"example.com"}})
	apm, err := bindproxy.NewAppPasswordMethod(e.db, map[string][]netip.Prefix{"archive": {netip.MustParsePrefix("127.0.0.0/8")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { apm.Close() })
	e.chain = bindproxy.NewChain([]bindproxy.Method{apm}, bindproxy.Options{CacheTTL: time.Minute})
	lcfg := ldapserver.Config{Directory: directory.Config{BaseDN: "dc=example,dc=com", BindLimit: directory.BindLimit{PerName: -1, PerAddress: -1}}}
	srv, err := ldapserver.New(lcfg, e.live, nil, ldapserver.WithUserAuthenticator(e.chain))
	if err != nil {
		t.Fatal(err)
	}
	e.ldap = ldaptest.Serve(t, srv)

	e.newPortal = func(t *testing.T, sessions portal.Sessions) *httptest.Server {
		t.Helper()
		srv := httptest.NewUnstartedServer(nil)
		public := "http://" + srv.Listener.Addr().String()
		p, err := portal.New(portal.Config{
			PublicURL: public, ClientID: e.issuer.ClientID, ClientSecret: e.issuer.ClientSecret, Provider: prov,
			Store: e.db, Live: e.live, UserDN: func(uid string) string { return directory.UserDN(lcfg.Directory.BaseDN, uid) }, Services: []string{"archive"},
			Revoked: e.chain.Revoked, Sessions: sessions,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv.Config.Handler = p
		srv.Start()
		t.Cleanup(srv.Close)
		return srv
	}
	e.portal = e.newPortal(t, nil)
	return e
}

// browser is a cookie-keeping HTTP client.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var (
	csrfRE   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	newPWRE  = regexp.MustCompile(`<output id="new-password" class="password">([a-z-]+)</output>`)
	revokeRE = regexp.MustCompile(`action="(/app-passwords/\d+/revoke)"`)
)

func find(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("page lacks %s:\n%s", re, body)
	}
	return m[1]
}

func (e *env) bind(t *testing.T, pw string) error {
	t.Helper()
	c, err := ldap.DialURL("ldap://" + e.ldap)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Bind(danielDN, pw)
}

// signIn runs the sign-in: portal → issuer's authorize → callback → home.
func (e *env) signIn(t *testing.T, c *http.Client, email string) (int, string) {
	t.Helper()
	e.issuer.SetLogin(map[string]any{"email": email, "hd": "example.com"})
	status, body := get(t, c, e.portal.URL+"/")
	if status != http.StatusOK || !strings.Contains(body, `href="/auth/login"`) {
		t.Fatalf("signed-out home: %d\n%s", status, body)
	}
	return get(t, c, e.portal.URL+"/auth/login")
}

func TestPortalEndToEnd(t *testing.T) {
	e := newEnv(t)
	c := browser(t)
	status, body := e.signIn(t, c, danielMail)
	if status != http.StatusOK {
		t.Fatalf("after sign-in: %d\n%s", status, body)
	}
	for _, want := range []string{danielDN, "archive-users@example.com", "read-own-archive", "You have no app passwords yet",
		"If your account is suspended or archived, your app passwords are revoked"} {
		if !strings.Contains(body, want) {
			t.Errorf("home page lacks %q", want)
		}
	}
	csrf := find(t, csrfRE, body)

	// Forms without the CSRF token are refused.
	if status, _ := post(t, c, e.portal.URL+"/app-passwords", url.Values{"name": {"x"}}); status != http.StatusForbidden {
		t.Errorf("create without CSRF token: %d, want 403", status)
	}

	status, body = post(t, c, e.portal.URL+"/app-passwords", url.Values{"csrf": {csrf}, "name": {"archive"}, "service": {"archive"}})
	if status != http.StatusOK {
		t.Fatalf("create: %d\n%s", status, body)
	}
	pw := find(t, newPWRE, body)
	if err := e.bind(t, pw); err != nil {
		t.Fatalf("bind with the new app password: %v", err)
	}
	// Shown once: the next page view does not have it, but lists it as used.
	_, body = get(t, c, e.portal.URL+"/")
	if strings.Contains(body, pw) {
		t.Error("the app password is shown again")
	}
	if !strings.Contains(body, "<td>archive</td><td>archive</td>") {
		t.Errorf("home page does not list the app password with its service:\n%s", body)
	}

	revoke := find(t, revokeRE, body)
	if status, _ := post(t, c, e.portal.URL+revoke, url.Values{"csrf": {"wrong"}}); status != http.StatusForbidden {
		t.Errorf("revoke with a wrong CSRF token: %d, want 403", status)
	}
	if err := e.bind(t, pw); err != nil {
		t.Fatalf("bind after a refused revoke: %v", err)
	}
	if status, body := post(t, c, e.portal.URL+revoke, url.Values{"csrf": {csrf}}); status != http.StatusOK || !strings.Contains(body, "revoked") {
		t.Fatalf("revoke: %d\n%s", status, body)
	}
	if err := e.bind(t, pw); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("bind after revoke: %v, want invalid credentials", err)
	}

	// Sign out ends the session.
	if status, _ := post(t, c, e.portal.URL+"/auth/logout", url.Values{"csrf": {csrf}}); status != http.StatusOK {
		t.Errorf("logout: %d", status)
	}
	if _, body := get(t, c, e.portal.URL+"/"); !strings.Contains(body, "Sign in with Google") {
		t.Error("still signed in after logout")
	}
}

func TestPortalRefusals(t *testing.T) {
	e := newEnv(t)
	t.Run("not in the directory", func(t *testing.T) {
		status, body := e.signIn(t, browser(t), "stranger@example.com")
		if status != http.StatusForbidden || !strings.Contains(body, "not in the directory") {
			t.Errorf("stranger: %d\n%s", status, body)
		}
	})
	t.Run("other domain", func(t *testing.T) {
		e.issuer.SetLogin(map[string]any{"email": danielMail, "hd": "evil.example"})
		status, _ := get(t, browser(t), e.portal.URL+"/auth/login")
		if status != http.StatusForbidden {
			t.Errorf("other hd: %d, want 403", status)
		}
	})
	t.Run("state from another browser", func(t *testing.T) {
		c := browser(t)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		e.issuer.SetLogin(map[string]any{"email": danielMail, "hd": "example.com"})
		resp, err := c.Get(e.portal.URL + "/auth/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = c.Get(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		callback := resp.Header.Get("Location")
		// An attacker's browser replays the callback: no state cookie.
		if status, _ := get(t, browser(t), callback); status != http.StatusBadRequest {
			t.Errorf("callback in another browser: %d, want 400", status)
		}
		// The victim's own browser may finish it, once.
		c.CheckRedirect = nil
		if status, _ := get(t, c, callback); status != http.StatusOK {
			t.Errorf("callback in the same browser: %d, want 200", status)
		}
		if status, _ := get(t, c, callback); status != http.StatusBadRequest {
			t.Errorf("callback replayed: %d, want 400", status)
		}
	})
	t.Run("forms need a session", func(t *testing.T) {
		c := browser(t)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.PostForm(e.portal.URL+"/app-passwords", url.Values{"name": {"x"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("create without a session: %d, want a redirect to sign in", resp.StatusCode)
		}
	})
	t.Run("headers", func(t *testing.T) {
		resp, err := http.Get(e.portal.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("no %s header", h)
			}
		}
	})
}

// TestCookies: behind https the session and state cookies are Secure,
// HttpOnly and SameSite=Lax, and the session cookie has the __Host- prefix.
func TestCookies(t *testing.T) {
	e := newEnv(t)
	prov := oidc.New(oidc.Config{Issuer: e.issuer.URL, ClientID: e.issuer.ClientID, AllowedDomains: []string{"example.com"}})
	p, err := portal.New(portal.Config{PublicURL: "https://ldapgate.example.com", ClientID: e.issuer.ClientID,
		ClientSecret: e.issuer.ClientSecret, Provider: prov, Store: e.db, Live: e.live,
		UserDN: func(uid string) string { return "uid=" + uid }})
	if err != nil {
		t.Fatal(err)
	}
	e.issuer.SetLogin(map[string]any{"email": danielMail, "hd": "example.com"})
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "https://ldapgate.example.com/auth/login", nil))
	state := rec.Result().Cookies()
	if len(state) != 1 || !state[0].Secure || !state[0].HttpOnly || state[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("state cookie %+v", state)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req := httptest.NewRequest("GET", resp.Header.Get("Location"), nil)
	req.AddCookie(state[0])
	rec = httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("callback: %d\n%s", rec.Code, rec.Body)
	}
	var session *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "__Host-ldapgate_session" {
			session = c
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" {
		t.Errorf("session cookie %+v", session)
	}
	if rec.Header().Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS header behind https")
	}
}

// TestSignInFlood: 10,000 sign-ins started and never finished from one
// address (they filled every pending slot, and real users got 503 for ten
// minutes) leave a real user from another address able to sign in.
func TestSignInFlood(t *testing.T) {
	e := newEnv(t)
	e.issuer.SetLogin(map[string]any{"email": danielMail, "hd": "example.com"})
	h := e.portal.Config.Handler
	for i := range 10000 {
		req := httptest.NewRequest("GET", e.portal.URL+"/auth/login", nil)
		req.RemoteAddr = "192.0.2.66:40000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusFound {
			t.Fatalf("attacker's sign-in %d: %d", i, rec.Code)
		}
	}
	c := browser(t)
	c.Transport = &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}
	status, body := e.signIn(t, c, danielMail)
	if status != http.StatusOK || !strings.Contains(body, danielDN) {
		t.Errorf("real user's sign-in after the flood: %d\n%s", status, body)
	}
}

// TestSignInStateCookie: what the user is told when the state cookie does
// not open or has expired (oidc's TestSignInStateCookie tests the cookie).
func TestSignInStateCookie(t *testing.T) {
	e := newEnv(t)
	e.issuer.SetLogin(map[string]any{"email": danielMail, "hd": "example.com"})
	now := time.Now()
	prov := oidc.New(oidc.Config{Issuer: e.issuer.URL, ClientID: e.issuer.ClientID, AllowedDomains: []string{"example.com"}})
	p, err := portal.New(portal.Config{PublicURL: "http://127.0.0.1:1", ClientID: e.issuer.ClientID,
		ClientSecret: e.issuer.ClientSecret, Provider: prov, Store: e.db, Live: e.live,
		UserDN: func(uid string) string { return "uid=" + uid }, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	// start signs in at the issuer and returns the state cookie and the
	// callback URL.
	start := func() (*http.Cookie, string) {
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1:1/auth/login", nil))
		cookies := rec.Result().Cookies()
		if len(cookies) != 1 {
			t.Fatalf("login set %d cookies", len(cookies))
		}
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Get(rec.Header().Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return cookies[0], resp.Header.Get("Location")
	}
	callback := func(c *http.Cookie, u string) (int, string) {
		req := httptest.NewRequest("GET", u, nil)
		req.AddCookie(c)
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}

	c, u := start()
	altered := *c
	b := []byte(c.Value)
	b[len(b)/2] ^= 1
	altered.Value = string(b)
	if status, body := callback(&altered, u); status != http.StatusBadRequest || !strings.Contains(body, "not valid") {
		t.Errorf("altered cookie: %d, want 400", status)
	}
	c2, u2 := start()
	now = now.Add(11 * time.Minute)
	if status, body := callback(c2, u2); status != http.StatusBadRequest || !strings.Contains(body, "expired") {
		t.Errorf("expired sign-in: %d, want 400", status)
	}
	now = now.Add(-11 * time.Minute)
	if status, _ := callback(c, u); status != http.StatusSeeOther {
		t.Errorf("unaltered cookie: %d, want a redirect home", status)
	}
}

// Two portals whose sessions are in the store (two ldapgates behind one
// address): a user signed in on one is signed in on the other, and signing
// out on the other ends the session on both. With sessions in memory, the
// other portal does not know the user.
func TestSessionsInTheStore(t *testing.T) {
	e := newEnv(t)
	a, b := e.newPortal(t, e.db), e.newPortal(t, e.db)
	e.portal = a
	c := browser(t) // cookies are per host, not per port: both portals get them
	if status, body := e.signIn(t, c, danielMail); status != http.StatusOK || !strings.Contains(body, danielDN) {
		t.Fatalf("sign-in on the first portal: %d\n%s", status, body)
	}
	status, body := get(t, c, b.URL+"/")
	if status != http.StatusOK || !strings.Contains(body, danielDN) {
		t.Fatalf("the second portal does not know the session: %d\n%s", status, body)
	}
	csrf := find(t, csrfRE, body)
	if status, _ := post(t, c, b.URL+"/auth/logout", url.Values{"csrf": {csrf}}); status != http.StatusOK {
		t.Fatalf("sign out on the second portal: %d", status)
	}
	if _, body := get(t, c, a.URL+"/"); !strings.Contains(body, "Sign in with Google") {
		t.Error("still signed in on the first portal after signing out on the second")
	}

	mem := e.newPortal(t, nil)
	e.portal = a
	if status, _ := e.signIn(t, c, danielMail); status != http.StatusOK {
		t.Fatalf("second sign-in: %d", status)
	}
	if _, body := get(t, c, mem.URL+"/"); !strings.Contains(body, "Sign in with Google") {
		t.Error("a portal keeping sessions in memory knows another's session")
	}
}
