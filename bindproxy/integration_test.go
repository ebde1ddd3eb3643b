package bindproxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/bindproxy"
	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/apppassword"
	"github.com/ldapgate/ldapgate/ldapserver"
	"github.com/ldapgate/ldapgate/ldapserver/ldaptest"
	"github.com/ldapgate/ldapgate/oidc"
	"github.com/ldapgate/ldapgate/oidc/oidctest"
	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/dirfile"
	"github.com/ldapgate/ldapgate/sync/engine"
)

const (
	demoFile = "../configs/demo-directory.json"
	// Daniel is in archive-users@ in the demo directory.
	danielMail = "daniel.kim@example.com"
	danielDN   = "uid=daniel.kim,ou=people,dc=example,dc=com"
	danielUID  = "daniel.kim"
	sophieMail = "sophie.laurent@example.com"
)

// env is ldapgate's bind path over the demo directory: a real store synced
// from a copy of the demo directory file, the bind chain, and an LDAP
// server on 127.0.0.1.
type env struct {
	db     *store.DB
	live   *store.Live
	chain  *bindproxy.Chain
	ap     *bindproxy.AppPasswordMethod
	dir    string // the directory file tests edit
	addr   string
	issuer *oidctest.Issuer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvLimit(t, directory.BindLimit{PerName: -1, PerNameTotal: -1, PerAddress: -1, FailureDelay: -1})
}

// newEnvLimit is newEnv with the LDAP server's failed-bind limiter set.
func newEnvLimit(t *testing.T, limit directory.BindLimit) *env {
	t.Helper()
	return newEnvMethods(t, limit, nil)
}

// newEnvMethods is newEnvLimit with the chain's methods made by methods
// (nil: app passwords, then ID tokens).
func newEnvMethods(t *testing.T, limit directory.BindLimit, methods func(e *env) []bindproxy.Method) *env {
	t.Helper()
	ctx := context.Background()
	tmp := t.TempDir()
	e := &env{dir: filepath.Join(tmp, "directory.json"), live: new(store.Live)}
	data, err := os.ReadFile(demoFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.dir, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if e.db, err = store.Open(ctx, filepath.Join(tmp, "ldapgate.db")); err != nil {
		t.Fatal(err)
	}
	e.issuer = oidctest.New(t)
	e.ap, err = bindproxy.NewAppPasswordMethod(e.db, map[string][]netip.Prefix{
		"archive": {netip.MustParsePrefix("127.0.0.0/8")},
		"mail":    {netip.MustParsePrefix("192.0.2.0/24")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prov := oidc.New(oidc.Config{Issuer: e.issuer.URL, ClientID: e.issuer.ClientID, AllowedDomains: []string{"example.com"}})
	ms := []bindproxy.Method{e.ap, bindproxy.NewIDTokenMethod(prov)}
	if methods != nil {
		ms = methods(e)
	}
	e.chain = bindproxy.NewChain(ms, bindproxy.Options{CacheTTL: time.Minute})
	t.Cleanup(func() {
		e.ap.Close()
		e.db.Close()
	})
	e.sync(t)
	srv, err := ldapserver.New(ldapserver.Config{Directory: directory.Config{BaseDN: "dc=example,dc=com", BindLimit: limit}}, e.live, nil,
		ldapserver.WithUserAuthenticator(e.chain))
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ldaptest.Serve(t, srv)
	return e
}

// sync runs the engine over the directory file and swaps in the new view,
// as the gateway does, telling the chain.
func (e *env) sync(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	opts := engine.Options{
		Filter:            engine.Filter{Groups: []string{"archive-users@example.com"}},
		DeleteUsers:       true,
		MaxDeletePercent:  100,
		DefaultPrivileges: []string{"login"},
		PrimaryDomain:     "example.com",
	}
	if _, err := engine.New(dirfile.New(e.dir), e.db, opts, nil).Run(ctx, engine.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := e.db.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := store.NewView(st, nil, time.Now())
	e.live.Store(v)
	e.chain.ViewChanged(v)
}

// setSuspended edits the directory file: the user with the given primary
// address becomes suspended (or not).
func (e *env) setSuspended(t *testing.T, mail string, suspended bool) {
	t.Helper()
	data, err := os.ReadFile(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, u := range doc["users"].(map[string]any)["users"].([]any) {
		if m := u.(map[string]any); m["primaryEmail"] == mail {
			m["suspended"] = suspended
			found = true
		}
	}
	if !found {
		t.Fatalf("no user %s in the directory file", mail)
	}
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.dir, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *env) user(t *testing.T, mail string) *store.ViewUser {
	t.Helper()
	u, ok := e.live.Load().UserByMail(mail)
	if !ok {
		t.Fatalf("no user %s in the view", mail)
	}
	return u
}

// createAppPassword makes an app password for the user as the portal and
// the CLI do, and returns it in clear.
func (e *env) createAppPassword(t *testing.T, mail, name, service string) (string, store.AppPassword) {
	t.Helper()
	pw, rec, err := apppassword.New(e.user(t, mail).ID, name, service)
	if err != nil {
		t.Fatal(err)
	}
	ap, err := e.db.CreateAppPassword(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	return pw, ap
}

// bind does an LDAP simple bind on a new connection.
func (e *env) bind(t *testing.T, name, pw string) error {
	t.Helper()
	c, err := ldap.DialURL("ldap://" + e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Bind(name, pw)
}

func wantBind(t *testing.T, err error, ok bool, what string) {
	t.Helper()
	switch {
	case ok && err != nil:
		t.Errorf("%s: bind failed: %v", what, err)
	case !ok && err == nil:
		t.Errorf("%s: bind succeeded, want invalid credentials", what)
	case !ok && !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		t.Errorf("%s: %v, want invalid credentials", what, err)
	}
}

func TestAppPasswordBinds(t *testing.T) {
	e := newEnv(t)
	pw, ap := e.createAppPassword(t, danielMail, "archive", "")
	svcPW, _ := e.createAppPassword(t, danielMail, "archive only", "archive")
	mailPW, _ := e.createAppPassword(t, danielMail, "mail only", "mail")
	otherPW, _ := e.createAppPassword(t, sophieMail, "laptop", "")

	for _, tc := range []struct {
		name, bindName, pw string
		ok                 bool
	}{
		{"by DN", danielDN, pw, true},
		{"by mail", danielMail, pw, true},
		{"by uid", danielUID, pw, true},
		{"typed in capitals with spaces", danielDN, "  " + upperSpaced(pw), true},
		{"service from its network", danielDN, svcPW, true},
		{"service from another network", danielDN, mailPW, false},
		{"another user's app password", danielDN, otherPW, false},
		{"wrong app password", danielDN, "aaaa-bbbb-cccc-dddd", false},
		{"not an app password", danielDN, "hunter2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantBind(t, e.bind(t, tc.bindName, tc.pw), tc.ok, tc.name)
		})
	}
	if e.chain.CacheLen() == 0 {
		t.Error("no verified bind was cached")
	}

	// Last used is recorded in the background.
	e.ap.Close()
	aps, err := e.db.AppPasswords(context.Background(), e.user(t, danielMail).ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range aps {
		if a.ID == ap.ID && a.LastUsedAt.IsZero() {
			t.Error("last used not recorded")
		}
	}

	// Revocation by another process (the CLI), which cannot tell the chain,
	// ends it within the method's recheck interval, even while it is
	// cached; until then cached binds cost no store query.
	now := time.Now()
	e.ap.SetClock(func() time.Time { return now })
	wantBind(t, e.bind(t, danielDN, pw), true, "cached app password, just checked")
	if err := e.db.RevokeAppPassword(context.Background(), ap.UserID, ap.ID); err != nil {
		t.Fatal(err)
	}
	wantBind(t, e.bind(t, danielDN, pw), true, "revoked elsewhere, within the recheck interval")
	now = now.Add(e.ap.RecheckEach())
	wantBind(t, e.bind(t, danielDN, pw), false, "revoked app password")
	wantBind(t, e.bind(t, danielDN, svcPW), true, "another app password after a revocation")
}

// upperSpaced writes an app password the way a user might type it.
func upperSpaced(pw string) string {
	out := []byte(pw)
	for i, c := range out {
		switch {
		case c == '-':
			out[i] = ' '
		case c >= 'a' && c <= 'z':
			out[i] = c - 'a' + 'A'
		}
	}
	return string(out)
}

// TestSuspensionEndsAccess: the sync that suspends a user ends their app
// passwords and their cached binds at once; unsuspending brings the app
// passwords back (they were never revoked) unless the user was deleted.
func TestSuspensionEndsAccess(t *testing.T) {
	e := newEnv(t)
	pw, _ := e.createAppPassword(t, danielMail, "archive", "")
	token := e.issuer.Sign(e.issuer.Claims(danielMail, "example.com"))
	wantBind(t, e.bind(t, danielDN, pw), true, "app password before suspension")
	wantBind(t, e.bind(t, danielDN, token), true, "ID token before suspension")
	if e.chain.CacheLen() != 2 {
		t.Fatalf("%d cached binds, want 2", e.chain.CacheLen())
	}

	e.setSuspended(t, danielMail, true)
	e.sync(t)
	if e.chain.CacheLen() != 0 {
		t.Errorf("%d cached binds left after the suspending sync", e.chain.CacheLen())
	}
	wantBind(t, e.bind(t, danielDN, pw), false, "app password after suspension")
	wantBind(t, e.bind(t, danielMail, pw), false, "app password by mail after suspension")
	wantBind(t, e.bind(t, danielDN, token), false, "ID token after suspension")
	// The demo config leaves suspended users out: the user and their app
	// passwords are gone from the store.
	if _, ok := e.live.Load().UserByMail(danielMail); ok {
		t.Error("suspended user still in the view")
	}
}

func TestIDTokenBinds(t *testing.T) {
	e := newEnv(t)
	is := e.issuer
	claims := func(mail string) map[string]any { return is.Claims(mail, "example.com") }
	with := func(c map[string]any, k string, v any) map[string]any { c[k] = v; return c }
	valid := is.Sign(claims(danielMail))
	tampered := valid[:len(valid)-4] + "AAAA"
	if tampered == valid {
		tampered = valid[:len(valid)-4] + "BBBB"
	}
	for _, tc := range []struct {
		name, token string
		ok          bool
	}{
		{"valid", valid, true},
		{"valid, by mail", valid, true},
		{"expired", is.Sign(with(claims(danielMail), "exp", time.Now().Add(-time.Minute).Unix())), false},
		{"wrong audience", is.Sign(with(claims(danielMail), "aud", "another-client")), false},
		{"wrong user", is.Sign(claims(sophieMail)), false},
		{"tampered", tampered, false},
		{"unverified email", is.Sign(with(claims(danielMail), "email_verified", false)), false},
		{"other domain", is.Sign(with(claims(danielMail), "hd", "evil.example")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := danielDN
			if tc.name == "valid, by mail" {
				name = danielMail
			}
			wantBind(t, e.bind(t, name, tc.token), tc.ok, tc.name)
		})
	}
}

func TestNoPasswordNoBind(t *testing.T) {
	e := newEnv(t)
	pw, _ := e.createAppPassword(t, danielMail, "archive", "")
	wantBind(t, e.bind(t, danielDN, pw), true, "the app password") // and now cached
	c, err := ldap.DialURL("ldap://" + e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// go-ldap refuses an empty password unless told: the request must
	// reach the server.
	_, err = c.SimpleBind(&ldap.SimpleBindRequest{Username: danielDN, AllowEmptyPassword: true})
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) {
		t.Fatalf("bind with an empty password = %v, want unwillingToPerform (53)", err)
	}
	if res, err := c.WhoAmI(nil); err != nil || res.AuthzID != "" {
		t.Errorf("after the refused bind the connection is %q (%v), want anonymous", res.AuthzID, err)
	}
}

// TestRateLimited: after repeated failures even the right app password is
// refused for a while, with the same answer.
func TestRateLimited(t *testing.T) {
	e := newEnvLimit(t, directory.BindLimit{PerName: 3, PerAddress: -1, Window: time.Hour, Backoff: time.Hour, FailureDelay: -1})
	pw, _ := e.createAppPassword(t, danielMail, "archive", "")
	for range 3 {
		wantBind(t, e.bind(t, danielDN, "aaaa-bbbb-cccc-dddd"), false, "wrong app password")
	}
	wantBind(t, e.bind(t, danielDN, pw), false, "right app password while backing off")
	wantBind(t, e.bind(t, "sophie.laurent@example.com", "aaaa-bbbb-cccc-dddd"), false, "another user")
}

func TestPasswordGrantBinds(t *testing.T) {
	noLimit := directory.BindLimit{PerName: -1, PerNameTotal: -1, PerAddress: -1, FailureDelay: -1}
	e := newEnvMethods(t, noLimit, func(e *env) []bindproxy.Method {
		// A Keycloak-like provider: no hd claim, so no allowed domains.
		prov := oidc.New(oidc.Config{Issuer: e.issuer.URL, ClientID: e.issuer.ClientID})
		return []bindproxy.Method{bindproxy.NewPasswordGrantMethod(prov, e.issuer.ClientSecret, nil)}
	})
	e.issuer.EnablePasswordGrant(danielMail, "correct horse battery staple")
	wantBind(t, e.bind(t, danielDN, "correct horse battery staple"), true, "right password")
	wantBind(t, e.bind(t, danielMail, "correct horse battery staple"), true, "right password again (cached)")
	if n := e.issuer.Requests("password"); n != 1 {
		t.Errorf("%d password grant requests for two binds, want 1 (the second is cached)", n)
	}
	wantBind(t, e.bind(t, danielDN, "wrong"), false, "wrong password")
	wantBind(t, e.bind(t, "sophie.laurent@example.com", "correct horse battery staple"), false, "another user")

	// A wrong client secret (or a provider without the grant) is ldapgate's
	// own fault: no password can be checked, none is refused.
	e2 := newEnvMethods(t, noLimit, func(e *env) []bindproxy.Method {
		prov := oidc.New(oidc.Config{Issuer: e.issuer.URL, ClientID: e.issuer.ClientID})
		return []bindproxy.Method{bindproxy.NewPasswordGrantMethod(prov, "not-the-secret", nil)}
	})
	e2.issuer.EnablePasswordGrant(danielMail, "pw")
	if err := e2.bind(t, danielDN, "pw"); !ldap.IsErrorWithCode(err, ldap.LDAPResultUnavailable) {
		t.Errorf("wrong client secret: %v, want unavailable (52)", err)
	}
}

// BenchmarkLDAPBind measures simple binds over one LDAP connection on
// 127.0.0.1: cached (the archive server's repeated binds) and uncached
// (cache off: one argon2id comparison per active app password).
func BenchmarkLDAPBind(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", time.Hour}, {"uncached", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			e := benchEnv(b, tc.ttl)
			c, err := ldap.DialURL("ldap://" + e.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if err := c.Bind(danielDN, e.pw); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := c.Bind(danielDN, e.pw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type benchEnvT struct {
	addr, pw string
	live     *store.Live
	chain    *bindproxy.Chain
}

// benchEnv is a store with the demo directory, one app password for
// Daniel, and an LDAP server whose chain caches for ttl.
func benchEnv(b *testing.B, ttl time.Duration) benchEnvT {
	b.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "ldapgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	opts := engine.Options{Filter: engine.Filter{Groups: []string{"archive-users@example.com"}}, PrimaryDomain: "example.com", MaxDeletePercent: 100}
	if _, err := engine.New(dirfile.New(demoFile), db, opts, nil).Run(ctx, engine.RunOptions{}); err != nil {
		b.Fatal(err)
	}
	st, err := db.LoadState(ctx)
	if err != nil {
		b.Fatal(err)
	}
	live := new(store.Live)
	live.Store(store.NewView(st, nil, time.Now()))
	u, _ := live.Load().UserByMail(danielMail)
	pw, rec, err := apppassword.New(u.ID, "bench", "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.CreateAppPassword(ctx, rec); err != nil {
		b.Fatal(err)
	}
	apm, err := bindproxy.NewAppPasswordMethod(db, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { apm.Close() })
	chain := bindproxy.NewChain([]bindproxy.Method{apm}, bindproxy.Options{CacheTTL: ttl})
	srv, err := ldapserver.New(ldapserver.Config{Directory: directory.Config{BaseDN: "dc=example,dc=com"}}, live, nil, ldapserver.WithUserAuthenticator(chain))
	if err != nil {
		b.Fatal(err)
	}
	return benchEnvT{addr: ldaptest.Serve(b, srv), pw: pw, live: live, chain: chain}
}

// flakyStore is the store with an outage switch for the app password reads.
type flakyStore struct {
	*store.DB
	down atomic.Bool
}

var errDiskIO = errors.New("disk I/O error")

func (f *flakyStore) ActiveAppPasswords(ctx context.Context, userID string) ([]store.AppPassword, error) {
	if f.down.Load() {
		return nil, errDiskIO
	}
	return f.DB.ActiveAppPasswords(ctx, userID)
}

// When what a method depends on fails, its binds answer unavailable and do
// not count as failures: when it comes back, nobody is locked out.
func TestDependencyDownIsNotARefusal(t *testing.T) {
	var flaky *flakyStore
	e := newEnvMethods(t, directory.BindLimit{PerName: 2, PerNameTotal: 2, PerAddress: 2, Window: time.Hour,
		Backoff: time.Hour, FailureDelay: -1}, func(e *env) []bindproxy.Method {
		flaky = &flakyStore{DB: e.db}
		ap, err := bindproxy.NewAppPasswordMethod(flaky, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ap.Close() })
		prov := oidc.New(oidc.Config{Issuer: e.issuer.URL, ClientID: e.issuer.ClientID, AllowedDomains: []string{"example.com"}})
		return []bindproxy.Method{ap, bindproxy.NewIDTokenMethod(prov)}
	})
	pw, _ := e.createAppPassword(t, danielMail, "archive", "")
	token := e.issuer.Sign(e.issuer.Claims(sophieMail, "example.com"))

	flaky.down.Store(true)
	e.issuer.SetKeysDown(true)
	for i := range 5 {
		if err := e.bind(t, danielDN, pw); !ldap.IsErrorWithCode(err, ldap.LDAPResultUnavailable) {
			t.Fatalf("app password %d with the store down: %v, want unavailable (52)", i, err)
		}
		if err := e.bind(t, sophieMail, token); !ldap.IsErrorWithCode(err, ldap.LDAPResultUnavailable) {
			t.Fatalf("ID token %d with the issuer's keys down: %v, want unavailable (52)", i, err)
		}
	}
	// A wrong app password is still found wrong by nothing: unavailable too.
	if err := e.bind(t, danielDN, "aaaa-bbbb-cccc-dddd"); !ldap.IsErrorWithCode(err, ldap.LDAPResultUnavailable) {
		t.Errorf("wrong app password with the store down: %v, want unavailable (52)", err)
	}
	counts := e.chain.Counts()
	if counts["app_password unavailable"] != 6 || counts["id_token unavailable"] != 5 || counts["app_password refused"] != 0 {
		t.Errorf("chain counts %v, want 6 app_password and 5 id_token unavailable, no refusal", counts)
	}

	flaky.down.Store(false)
	e.issuer.SetKeysDown(false)
	wantBind(t, e.bind(t, danielDN, pw), true, "app password after the outage")
	wantBind(t, e.bind(t, sophieMail, token), true, "ID token after the outage")
}
