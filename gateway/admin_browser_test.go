package gateway

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ldapgate/ldapgate/internal/testtool"
)

// TestAdminBrowser drives the admin page in Debian's chromium: overview,
// "Test settings", user search, a user's page with a grant, a run's plan.
// With LDAPGATE_SCREENSHOTS=1 it saves a screenshot of each page in docs/
// for the README.
func TestAdminBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	exe := testtool.Find(t, "chromium", "chromium", "chromium-browser", "google-chrome")
	shots := t.TempDir()
	if os.Getenv("LDAPGATE_SCREENSHOTS") != "" {
		shots = "../docs"
	}
	g, _, dirFile, is := startAuthDemoWith(t, adminExtra)
	daniel := signIn(t, g, is, danielMail)
	daniel.do("POST", daniel.base+"/app-passwords", url.Values{"csrf": {daniel.csrf}, "name": {"archive on laptop"}})
	a := signIn(t, g, is, hannahMail)
	base, _ := url.Parse(a.base)
	cookies := a.c.Jar.Cookies(base)
	if len(cookies) == 0 {
		t.Fatal("no session cookie")
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("headless", "new"),
		chromedp.WindowSize(1100, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	for _, c := range cookies {
		if _, err := chromedp.Call(bctx, network.SetCookie, network.SetCookieParams{Name: c.Name, Value: c.Value, URL: a.base}); err != nil {
			t.Fatal(err)
		}
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	if err := chromedp.Do(bctx, chromedp.Navigate(a.base+"/admin"), chromedp.WaitVisible(chromedp.CSS("#runs"))); err != nil {
		t.Fatalf("overview: %v", err)
	}
	if runs := text("#runs"); !strings.Contains(runs, "ok") {
		t.Errorf("runs table: %q", runs)
	}
	shot("admin-overview.png")

	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#test-settings")), chromedp.WaitVisible(chromedp.CSS("#plan"))); err != nil {
		t.Fatalf("test settings: %v", err)
	}
	if h := text("h1"); h != "Test settings" {
		t.Errorf("test settings page title %q", h)
	}
	shot("admin-test-settings.png")

	err := chromedp.Do(bctx,
		chromedp.Navigate(a.base+"/admin/users"),
		chromedp.SendKeys(chromedp.CSS("#q"), "daniel"),
		chromedp.Click(chromedp.CSS("#search")),
		chromedp.WaitVisible(chromedp.CSS(`#q[value="daniel"]`)), // the answer's page
	)
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	if users := text("#users tbody"); !strings.Contains(users, danielMail) || strings.Contains(users, hannahMail) {
		t.Errorf("search for daniel found %q", users)
	}
	shot("admin-users.png")

	err = chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#users a[href^="/admin/users/"]`)),
		chromedp.WaitVisible(chromedp.CSS("#grant-privilege")),
		chromedp.SendKeys(chromedp.CSS("#grant-privilege"), "auditor"),
		chromedp.Click(chromedp.CSS("#grant")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
	)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	if p := text("#privileges"); !strings.Contains(p, "auditor") {
		t.Errorf("privileges after the grant: %q", p)
	}
	shot("admin-user.png")

	// Destructive actions look apart from the primary ones.
	colors, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[getComputedStyle(document.querySelector("#grant")).backgroundColor,
		getComputedStyle(document.querySelector("#app-passwords a.danger")).backgroundColor,
		getComputedStyle(document.querySelector("#app-passwords a.danger")).color]`))
	if err != nil || len(colors) != 3 || colors[0] == colors[1] || colors[2] != "rgb(176, 0, 32)" {
		t.Errorf("grant and revoke buttons: %q (%v), want a red revoke unlike the grant", colors, err)
	}

	err = chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS("#app-passwords a.danger")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-revoke")),
	)
	if err != nil {
		t.Fatalf("revoke an app password: %v", err)
	}
	if r := text("#revoking"); !strings.Contains(r, "archive on laptop") || !strings.Contains(r, danielMail) {
		t.Errorf("the confirmation does not name what is revoked: %q", r)
	}
	shot("admin-revoke-app-password.png")
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#confirm-revoke")), chromedp.WaitVisible(chromedp.CSS("#notice"))); err != nil {
		t.Fatalf("confirm the revocation: %v", err)
	}
	if aps := text("#app-passwords"); !strings.Contains(aps, "revoked") {
		t.Errorf("app passwords after the revocation: %q", aps)
	}

	err = chromedp.Do(bctx,
		chromedp.Navigate(a.base+"/admin/groups"),
		chromedp.Click(chromedp.CSS(`#groups a[href^="/admin/groups/"]`)), // all-staff comes first
		chromedp.WaitVisible(chromedp.CSS("#members")),
	)
	if err != nil {
		t.Fatalf("groups: %v", err)
	}
	if h, mg := text("h1"), text("#member-groups"); h != "all-staff@example.com" || !strings.Contains(mg, "engineering@example.com") {
		t.Errorf("group page %q, member groups %q", h, mg)
	}
	shot("admin-group.png")

	if err := chromedp.Do(bctx, chromedp.Navigate(a.base+"/admin/runs/1"), chromedp.WaitVisible(chromedp.CSS("#plan"))); err != nil {
		t.Fatalf("run: %v", err)
	}
	if plan := text("#plan"); !strings.Contains(plan, danielMail) {
		t.Errorf("run 1's plan lacks daniel: %q", plan[:min(len(plan), 300)])
	}
	shot("admin-run.png")

	// A sync that deletes too many: refused, then applied with the number typed.
	for _, u := range g.View().Users[:6] {
		suspend(t, dirFile, u.PrimaryEmail)
	}
	err = chromedp.Do(bctx,
		chromedp.Navigate(a.base+"/admin"),
		chromedp.Click(chromedp.CSS("#sync-now")),
		chromedp.WaitVisible(chromedp.CSS("#apply-anyway")),
	)
	if err != nil {
		t.Fatalf("refused sync: %v", err)
	}
	if c := text("#counts"); !strings.Contains(c, "6 to delete") {
		t.Errorf("refused sync counts: %q", c)
	}
	shot("admin-sync-refused.png")
	err = chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.CSS("#confirm"), "6"),
		chromedp.Click(chromedp.CSS("#apply-anyway")),
		chromedp.WaitVisible(chromedp.CSS("#applied")),
	)
	if err != nil {
		t.Fatalf("apply anyway: %v", err)
	}
	if runs, err := g.DB().SyncRuns(t.Context(), 1); err != nil || !runs[0].Forced {
		t.Errorf("apply anyway did not apply a forced run: %v", err)
	}
}
