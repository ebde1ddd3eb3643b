package gateway

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/oidc/oidctest"
	"github.com/ldapgate/ldapgate/store"
)

const (
	hannahMail = "hannah.schmidt@example.com" // in archive-admins@example.com
	adminExtra = "admin:\n  groups: [archive-admins@example.com]\n"
)

// browserless is a signed-in portal session driven with net/http.
type browserless struct {
	t    *testing.T
	c    *http.Client
	base string
	csrf string
}

// signIn signs email in to the portal at base through the local issuer.
func signIn(t *testing.T, g *Gateway, is *oidctest.Issuer, email string) *browserless {
	t.Helper()
	is.SetLogin(map[string]any{"email": email, "hd": "example.com"})
	jar, _ := cookiejar.New(nil)
	b := &browserless{t: t, base: "http://" + g.HTTPAddr().String(),
		c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, _ := b.do("GET", b.base+"/auth/login", nil)
	resp, _ = b.do("GET", resp.Header.Get("Location"), nil)
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := b.do("GET", b.base+"/auth/callback?"+cb.RawQuery, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", resp.StatusCode, body)
	}
	_, body := b.do("GET", b.base+"/", nil)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("not signed in:\n%s", body)
	}
	b.csrf = m[1]
	return b
}

func (b *browserless) do(method, u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var resp *http.Response
	var err error
	if method == "POST" {
		resp, err = b.c.PostForm(u, form)
	} else {
		resp, err = b.c.Get(u)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestAdminPage(t *testing.T) {
	g, ldapURL, _, is := startAuthDemoWith(t, adminExtra)

	// Not signed in: sent to the sign-in page. Not an admin: 403.
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := anon.Get("http://" + g.HTTPAddr().String() + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("/admin without a session: %d, want 303", resp.StatusCode)
	}
	daniel := signIn(t, g, is, danielMail)
	if resp, _ := daniel.do("GET", daniel.base+"/admin", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("/admin as a non-admin: %d, want 403", resp.StatusCode)
	}
	if resp, _ := daniel.do("POST", daniel.base+"/admin/sync", url.Values{"csrf": {daniel.csrf}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sync as a non-admin: %d, want 403", resp.StatusCode)
	}

	if _, body := daniel.do("GET", daniel.base+"/", nil); strings.Contains(body, `id="admin-link"`) {
		t.Error("a non-admin's home page links to the admin page")
	}
	a := signIn(t, g, is, hannahMail)
	if _, body := a.do("GET", a.base+"/", nil); !strings.Contains(body, `id="admin-link"`) {
		t.Error("an admin's home page lacks the link to the admin page")
	}
	resp, body := a.do("GET", a.base+"/admin", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="runs"`) || !strings.Contains(body, `/admin/runs/1"`) {
		t.Fatalf("/admin: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, `id="next-sync">not scheduled`) {
		t.Error("no next sync shown")
	}
	// A refused reload shows (here: the config file is missing).
	if err := g.Reload(t.Context()); err == nil {
		t.Fatal("reload of a missing file succeeded")
	}
	if _, body := a.do("GET", a.base+"/admin", nil); !strings.Contains(body, `<div class="error" id="config-status">`) || !strings.Contains(body, "no such file") {
		t.Errorf("the admin page does not show the refused reload:\n%s", body)
	}
	// The first run's plan: its summary first, then its changes, a page
	// at a time (the demo's first sync has 214), filtered by kind and user.
	_, body = a.do("GET", a.base+"/admin/runs/1", nil)
	if !strings.Contains(body, "daniel.kim@example.com") {
		t.Errorf("run 1 plan lacks daniel:\n%s", body)
	}
	if i, j := strings.Index(body, `id="summary"`), strings.Index(body, `id="plan"`); i < 0 || j < i ||
		!strings.Contains(body, "users: 45 changes: 45 to add (new in source)") {
		t.Errorf("run 1 does not start with its summary:\n%s", body)
	}
	planLines := func(body string) []string {
		_, pre, _ := strings.Cut(body, `<pre id="plan">`)
		pre, _, _ = strings.Cut(pre, "</pre>")
		return strings.Split(strings.TrimSuffix(pre, "\n"), "\n")
	}
	if n := len(planLines(body)); n != 200 || !strings.Contains(body, `Changes 1–200 of 214`) || !strings.Contains(body, `href="/admin/runs/1?page=2"`) {
		t.Errorf("run 1 page 1: %d lines, want 200 of 214 and a link to page 2", n)
	}
	_, body = a.do("GET", a.base+"/admin/runs/1?page=2", nil)
	if n := len(planLines(body)); n != 14 || !strings.Contains(body, `href="/admin/runs/1?page=1"`) || strings.Contains(body, `id="next"`) {
		t.Errorf("run 1 page 2: %d lines, want the last 14 and a link back only", n)
	}
	_, body = a.do("GET", a.base+"/admin/runs/1?kind=memberships&user=DANIEL", nil)
	for _, l := range planLines(html.UnescapeString(body)) {
		if !strings.HasPrefix(l, "+ member daniel.kim@example.com → ") {
			t.Errorf("memberships of daniel: line %q", l)
		}
	}
	if !strings.Contains(body, `<option selected>memberships</option>`) || !strings.Contains(body, `value="DANIEL"`) {
		t.Errorf("the filter form does not keep the filter:\n%s", body)
	}

	// Forms need the CSRF token.
	if resp, _ := a.do("POST", a.base+"/admin/sync", url.Values{"csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sync with a forged CSRF token: %d, want 403", resp.StatusCode)
	}
	runs := func() int {
		runs, err := g.DB().SyncRuns(t.Context(), 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(runs)
	}
	n := runs()
	if _, body := a.do("POST", a.base+"/admin/sync", url.Values{"csrf": {a.csrf}, "dry_run": {"1"}}); !strings.Contains(body, "Dry run: nothing was changed") {
		t.Errorf("test settings:\n%s", body)
	}
	if runs() != n {
		t.Error("test settings wrote a sync run")
	}
	if _, body := a.do("POST", a.base+"/admin/sync", url.Values{"csrf": {a.csrf}}); !strings.Contains(body, "Applied as") {
		t.Errorf("synchronize now:\n%s", body)
	}
	if runs() != n+1 {
		t.Error("synchronize now wrote no sync run")
	}

	// Search, then Daniel's page with his failed bind.
	_, body = a.do("GET", a.base+"/admin/users?q=daniel", nil)
	m := regexp.MustCompile(`href="/admin/users/([^"]+)">daniel.kim@example.com<`).FindStringSubmatch(body)
	if m == nil || strings.Contains(body, "hannah.schmidt@") {
		t.Fatalf("search for daniel:\n%s", body)
	}
	userURL := a.base + "/admin/users/" + m[1]
	if err := bindErr(t, ldapURL, danielDN, "not-an-app-password"); err == nil {
		t.Fatal("bind with a wrong password succeeded")
	}
	_, body = a.do("GET", userURL, nil)
	if !strings.Contains(body, "refused") || !strings.Contains(body, "archive-users@example.com") {
		t.Errorf("daniel's page lacks the refused bind or his groups:\n%s", body)
	}

	// Grant, which a sync keeps, then revoke.
	if _, body := a.do("POST", userURL+"/grant", url.Values{"csrf": {a.csrf}, "privilege": {"auditor"}}); !strings.Contains(body, "Privilege auditor granted") {
		t.Fatalf("grant:\n%s", body)
	}
	if u, _ := g.View().UserByMail(danielMail); !contains(u.Privileges, "auditor") {
		t.Error("the grant is not served at once")
	}
	a.do("POST", a.base+"/admin/sync", url.Values{"csrf": {a.csrf}})
	if u, _ := g.View().UserByMail(danielMail); !contains(u.Privileges, "auditor") {
		t.Error("a sync dropped the grant")
	}
	if _, body := a.do("POST", userURL+"/revoke", url.Values{"csrf": {a.csrf}, "privilege": {"auditor"}}); !strings.Contains(body, "Privilege auditor revoked") {
		t.Fatalf("revoke:\n%s", body)
	}
	if u, _ := g.View().UserByMail(danielMail); contains(u.Privileges, "auditor") {
		t.Error("the revoked privilege is still served")
	}
	// A misspelt privilege is refused with the name meant; revoking what
	// the user does not hold says so.
	resp, body = a.do("POST", userURL+"/grant", url.Values{"csrf": {a.csrf}, "privilege": {"exprot"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(body), `unknown privilege "exprot" (did you mean "export"?)`) {
		t.Errorf("grant exprot: %d\n%s", resp.StatusCode, body)
	}
	if slices.ContainsFunc(g.View().Privileges, func(p *store.ViewPrivilege) bool { return p.Name == "exprot" }) {
		t.Error("the refused grant made a privilege group")
	}
	resp, body = a.do("POST", userURL+"/revoke", url.Values{"csrf": {a.csrf}, "privilege": {"auditor"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(body), `does not hold privilege "auditor"`) {
		t.Errorf("revoke of a privilege not held: %d\n%s", resp.StatusCode, body)
	}
}

// TestAdminSyncPending: a sync that outlasts the admin page's wait goes
// on after the page has answered "still running".
func TestAdminSyncPending(t *testing.T) {
	g, _, _, is := startAuthDemoWith(t, adminExtra, func(g *Gateway) { g.adminSyncWait = time.Millisecond })
	a := signIn(t, g, is, hannahMail)
	runs := func() int {
		runs, err := g.DB().SyncRuns(t.Context(), 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(runs)
	}
	n := runs()
	g.syncMu.Lock() // the sync waits for this
	_, body := a.do("POST", a.base+"/admin/sync", url.Values{"csrf": {a.csrf}})
	g.syncMu.Unlock()
	if !strings.Contains(body, `id="pending"`) {
		t.Errorf("a long sync did not answer pending:\n%s", body)
	}
	waitFor(t, "the pending sync's run", func() bool { return runs() == n+1 })
}

// TestAdminConnect: the Connect page shows each client's settings from the
// running config, as ldapgate clients prints them, with the warnings.
func TestAdminConnect(t *testing.T) {
	g, _, _, is := startAuthDemoWith(t, adminExtra)
	daniel := signIn(t, g, is, danielMail)
	if resp, _ := daniel.do("GET", daniel.base+"/admin/connect", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("/admin/connect as a non-admin: %d, want 403", resp.StatusCode)
	}
	a := signIn(t, g, is, hannahMail)
	resp, body := a.do("GET", a.base+"/admin/connect", nil)
	want := []string{
		"<h2 id=\"guide\">MailStore Server</h2>",
		"<th>Administrative DN</th><td><code>cn=archive,ou=services,dc=example,dc=com</code>",
		"<th>Server Name</th><td><code>127.0.0.1</code>",
		"a loopback address", // the demo listens on 127.0.0.1
		"app password from the ldapgate portal",
		`href="/admin/connect?client=sssd"`,
	}
	for _, w := range want {
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, w) {
			t.Errorf("/admin/connect: %d, no %q in\n%s", resp.StatusCode, w, body)
		}
	}
	_, body = a.do("GET", a.base+"/admin/connect?client=sssd&host=ldap.example.com", nil)
	if !strings.Contains(body, "ldap_uri = ldap://ldap.example.com:") || !strings.Contains(body, `href="/admin/connect?client=nslcd&amp;host=ldap.example.com"`) {
		t.Errorf("/admin/connect?client=sssd&host=ldap.example.com:\n%s", body)
	}
	if resp, _ := a.do("GET", a.base+"/admin/connect?client=nope", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/admin/connect?client=nope: %d, want 404", resp.StatusCode)
	}
	if _, body := a.do("GET", a.base+"/admin", nil); !strings.Contains(body, `<p id="version">ldapgate `+Build().String()+`</p>`) {
		t.Errorf("the admin page does not show the version %q:\n%s", Build(), body)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestAdminGroups: the groups list with member counts, a group's page
// with its member groups and users, and the users list with its total.
func TestAdminGroups(t *testing.T) {
	g, _, _, is := startAuthDemoWith(t, adminExtra)
	a := signIn(t, g, is, hannahMail)
	v := g.View()

	_, body := a.do("GET", a.base+"/admin/users", nil)
	if want := fmt.Sprintf(`id="range">1–%d of %d<`, len(v.Users), len(v.Users)); !strings.Contains(body, want) {
		t.Errorf("users list lacks %q:\n%s", want, body)
	}
	if strings.Count(body, `href="/admin/users/`) != len(v.Users) {
		t.Errorf("users list: %d rows, want %d", strings.Count(body, `href="/admin/users/`), len(v.Users))
	}

	_, body = a.do("GET", a.base+"/admin/groups?q=all-staff", nil)
	m := regexp.MustCompile(`href="/admin/groups/([^"]+)">all-staff@example.com<`).FindStringSubmatch(body)
	if m == nil || strings.Contains(body, ">engineering@example.com<") {
		t.Fatalf("search for all-staff:\n%s", body)
	}
	all, _ := v.GroupByID(m[1])
	resp, body := a.do("GET", a.base+"/admin/groups/"+m[1], nil)
	want := fmt.Sprintf(`id="totals">%d users, %d groups<`, len(all.MemberUsers), len(all.MemberGroups))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) || !strings.Contains(body, ">engineering@example.com</a>") {
		t.Fatalf("all-staff: %d, want %q and engineering among its groups:\n%s", resp.StatusCode, want, body)
	}
	eng := regexp.MustCompile(`href="/admin/groups/([^"]+)">engineering@example.com<`).FindStringSubmatch(body)
	_, body = a.do("GET", a.base+"/admin/groups/"+eng[1], nil)
	eg, _ := v.GroupByID(eng[1])
	if len(eg.MemberUsers) == 0 || strings.Count(body, `href="/admin/users/`) != len(eg.MemberUsers) {
		t.Errorf("engineering: %d user rows, want %d:\n%s", strings.Count(body, `href="/admin/users/`), len(eg.MemberUsers), body)
	}
	if resp, _ := a.do("GET", a.base+"/admin/groups/no-such-group", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown group: %d, want 404", resp.StatusCode)
	}
	daniel := signIn(t, g, is, danielMail)
	if resp, _ := daniel.do("GET", daniel.base+"/admin/groups/"+m[1], nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a group's page as a non-admin: %d, want 403", resp.StatusCode)
	}
}

// TestAdminAppPasswords: an admin sees a user's app passwords and revokes
// one only through the confirmation page, with the CSRF token; the bind
// with it fails at once, cached or not.
func TestAdminAppPasswords(t *testing.T) {
	g, ldapURL, _, is := startAuthDemoWith(t, adminExtra)
	daniel := signIn(t, g, is, danielMail)
	create := func(b *browserless, name string) string {
		t.Helper()
		_, body := b.do("POST", b.base+"/app-passwords", url.Values{"csrf": {b.csrf}, "name": {name}})
		m := regexp.MustCompile(`id="new-password" class="password">([a-z-]+)<`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no new app password:\n%s", body)
		}
		return m[1]
	}
	pw := create(daniel, "archive on laptop")
	if err := bindErr(t, ldapURL, danielDN, pw); err != nil {
		t.Fatalf("bind with the new app password: %v", err)
	}
	a := signIn(t, g, is, hannahMail)
	create(a, "hannah's own")
	du, _ := g.View().UserByMail(danielMail)
	hu, _ := g.View().UserByMail(hannahMail)
	aps, _ := g.DB().AppPasswords(t.Context(), du.ID)
	hps, _ := g.DB().AppPasswords(t.Context(), hu.ID)
	if len(aps) != 1 || len(hps) != 1 {
		t.Fatalf("app passwords: daniel %d, hannah %d", len(aps), len(hps))
	}
	userURL := a.base + "/admin/users/" + du.ID
	revokeURL := fmt.Sprintf("%s/app-passwords/%d/revoke", userURL, aps[0].ID)

	_, body := a.do("GET", userURL, nil)
	if !strings.Contains(body, "archive on laptop") || !strings.Contains(body, `href="/admin/users/`+du.ID+fmt.Sprintf(`/app-passwords/%d/revoke"`, aps[0].ID)) {
		t.Fatalf("daniel's page lacks his app password and its revoke link:\n%s", body)
	}
	revoked := func() bool {
		aps, err := g.DB().AppPasswords(t.Context(), du.ID)
		if err != nil {
			t.Fatal(err)
		}
		return aps[0].Revoked
	}
	// The confirmation names the app password and its user, and revokes nothing.
	resp, body := a.do("GET", revokeURL, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "archive on laptop") || !strings.Contains(body, danielMail) ||
		!strings.Contains(body, `id="confirm-revoke"`) || revoked() {
		t.Fatalf("confirmation: %d, revoked %v:\n%s", resp.StatusCode, revoked(), body)
	}
	if resp, _ := a.do("POST", revokeURL, url.Values{"csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden || revoked() {
		t.Errorf("revoke with a forged CSRF token: %d, revoked %v", resp.StatusCode, revoked())
	}
	if resp, _ := daniel.do("POST", revokeURL, url.Values{"csrf": {daniel.csrf}}); resp.StatusCode != http.StatusForbidden || revoked() {
		t.Errorf("revoke by a non-admin: %d, revoked %v", resp.StatusCode, revoked())
	}
	// Hannah's app password is not reachable as Daniel's.
	other := fmt.Sprintf("%s/app-passwords/%d/revoke", userURL, hps[0].ID)
	if resp, _ := a.do("POST", other, url.Values{"csrf": {a.csrf}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another user's app password through daniel's page: %d, want 404", resp.StatusCode)
	}
	if hps, _ := g.DB().AppPasswords(t.Context(), hu.ID); hps[0].Revoked {
		t.Error("hannah's app password was revoked through daniel's page")
	}

	resp, body = a.do("POST", revokeURL, url.Values{"csrf": {a.csrf}})
	if resp.StatusCode != http.StatusOK || !revoked() || !strings.Contains(html.UnescapeString(body), `App password "archive on laptop" of `+danielMail+" revoked.") {
		t.Fatalf("revoke: %d, revoked %v:\n%s", resp.StatusCode, revoked(), body)
	}
	if err := bindErr(t, ldapURL, danielDN, pw); err == nil {
		t.Error("the revoked app password still binds (cached)")
	}
	if resp, _ := a.do("POST", revokeURL, url.Values{"csrf": {a.csrf}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoking again: %d, want 404", resp.StatusCode)
	}
}

// TestAdminForceSync: a sync the deletion guard refuses shows its planned
// counts and applies only with the number of deletions typed, for the
// newest run, with the CSRF token; Test settings shows who was left out.
func TestAdminForceSync(t *testing.T) {
	g, _, dirFile, is := startAuthDemoWith(t, adminExtra)
	a := signIn(t, g, is, hannahMail)
	leftOut := regexp.MustCompile(`<tr><th>Left out: suspended</th><td class="num">(\d+)</td></tr>`)
	testSettings := func() (string, int) {
		t.Helper()
		_, body := a.do("POST", a.base+"/admin/sync", url.Values{"csrf": {a.csrf}, "dry_run": {"1"}})
		m := leftOut.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("test settings lacks the suspended users left out:\n%s", body)
		}
		n, _ := strconv.Atoi(m[1])
		return body, n
	}
	_, before := testSettings()
	var gone []string
	for _, u := range g.View().Users {
		if len(gone) < 6 && u.PrimaryEmail != hannahMail {
			suspend(t, dirFile, u.PrimaryEmail)
			gone = append(gone, u.PrimaryEmail)
		}
	}
	served := func() int {
		n := 0
		for _, m := range gone {
			if _, ok := g.View().UserByMail(m); ok {
				n++
			}
		}
		return n
	}
	runs := func() []store.SyncRun {
		runs, err := g.DB().SyncRuns(t.Context(), 100)
		if err != nil {
			t.Fatal(err)
		}
		return runs
	}

	// Test settings: the scope, and no way to apply a dry run.
	body, after := testSettings()
	if after != before+6 || strings.Contains(body, `id="force"`) {
		t.Errorf("test settings: %d suspended left out, want %d, and no apply anyway:\n%s", after, before+6, body)
	}

	_, body = a.do("POST", a.base+"/admin/sync", url.Values{"csrf": {a.csrf}})
	m := regexp.MustCompile(`name="run" value="(\d+)"`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "Planned, not applied: users: 0 to add, 0 to update, 6 to delete;") ||
		!strings.Contains(body, "<strong>6</strong>") || served() != 6 {
		t.Fatalf("refused sync: served %d of 6, want the planned counts and the apply anyway form:\n%s", served(), body)
	}
	// The refused run's page offers the same (a scheduled sync refused
	// shows there); a run that applied does not.
	offers := func(run string) bool {
		_, body := a.do("GET", a.base+"/admin/runs/"+run, nil)
		return strings.Contains(body, `<input type="hidden" name="run" value="`+run+`">`)
	}
	if !offers(m[1]) || offers("1") {
		t.Errorf("apply anyway offered on the refused run %v, on run 1 %v", offers(m[1]), offers("1"))
	}
	force := func(b *browserless, csrf, run, confirm string) (*http.Response, string) {
		return b.do("POST", b.base+"/admin/sync", url.Values{"csrf": {csrf}, "force": {"1"}, "run": {run}, "confirm": {confirm}})
	}
	n := len(runs())
	for _, tc := range []struct{ name, csrf, run, confirm string }{
		{"wrong number", a.csrf, m[1], "5"},
		{"the word", a.csrf, m[1], "DELETE"},
		{"nothing typed", a.csrf, m[1], ""},
		{"no run", a.csrf, "", "6"},
		{"an older run", a.csrf, "1", "6"},
	} {
		if resp, body := force(a, tc.csrf, tc.run, tc.confirm); resp.StatusCode != http.StatusBadRequest || served() != 6 || len(runs()) != n {
			t.Errorf("%s: %d, served %d, runs %d (want %d):\n%s", tc.name, resp.StatusCode, served(), len(runs()), n, body)
		}
	}
	if resp, _ := force(a, "forged", m[1], "6"); resp.StatusCode != http.StatusForbidden || served() != 6 {
		t.Errorf("forged CSRF token: %d, served %d", resp.StatusCode, served())
	}
	daniel := signIn(t, g, is, danielMail)
	if resp, _ := force(daniel, daniel.csrf, m[1], "6"); resp.StatusCode != http.StatusForbidden || served() != 6 {
		t.Errorf("a non-admin: %d, served %d", resp.StatusCode, served())
	}

	resp, body := force(a, a.csrf, m[1], "6")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Applied as") || served() != 0 || !runs()[0].Forced {
		t.Fatalf("apply anyway: %d, served %d:\n%s", resp.StatusCode, served(), body)
	}
	if offers(m[1]) {
		t.Error("the refused run still offers apply anyway after a later run")
	}
	// The form again applies nothing: its run is no longer the newest.
	if resp, _ := force(a, a.csrf, m[1], "6"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("the same confirmation again: %d, want 400", resp.StatusCode)
	}
	// Nor does it force a run that failed for another reason than the guard.
	id, _ := strconv.ParseInt(m[1], 10, 64)
	refused, err := g.DB().SyncRun(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	refused.ID, refused.Error = 0, "apply: the store is busy"
	other, err := g.DB().RecordRun(t.Context(), refused)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := force(a, a.csrf, strconv.FormatInt(other, 10), "6"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not refused by the deletion guard") {
		t.Errorf("forcing a run that failed to apply: %d:\n%s", resp.StatusCode, body)
	}
}
