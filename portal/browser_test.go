package portal_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ldapgate/ldapgate/internal/testtool"
)

// chromium returns the path of Debian's chromium, skipping the test when
// it is missing outside CI (.ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	return testtool.Find(t, "chromium", "chromium", "chromium-browser", "google-chrome")
}

func ldapwhoami(t *testing.T, addr, dn, pw string) (string, error) {
	t.Helper()
	out, err := exec.Command(testtool.Find(t, "ldap-utils", "ldapwhoami"), "-x", "-H", "ldap://"+addr, "-D", dn, "-w", pw).CombinedOutput()
	return string(out), err
}

// TestBrowser drives the portal in a real browser: sign in with the local
// issuer, create an app password and read it from the page, bind with it
// using ldapwhoami, revoke it in the browser, and see the bind fail.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	exe := chromium(t)
	e := newEnv(t)
	e.issuer.SetLogin(map[string]any{"email": danielMail, "hd": "example.com"})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("headless", "new"),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	err := chromedp.Do(bctx,
		chromedp.Navigate(e.portal.URL+"/"),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#dn")),
	)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	dn, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#dn")))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.CSS("#name"), "archive"),
		chromedp.Click(chromedp.CSS("#create button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#new-password")),
	)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	pw, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#new-password")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(dn) != danielDN {
		t.Errorf("page shows DN %q, want %q", dn, danielDN)
	}
	pw = strings.TrimSpace(pw)
	out, err := ldapwhoami(t, e.ldap, danielDN, pw)
	if err != nil || !strings.Contains(out, "dn:"+danielDN) {
		t.Fatalf("ldapwhoami with the app password from the page: %v\n%s", err, out)
	}

	err = chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="Revoke archive"]`)),
		chromedp.WaitVisible(chromedp.CSS(".revoked")),
	)
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	status, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(".revoked")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(strings.TrimSpace(status), "revoked") {
		t.Errorf("status after revoke %q, want revoked ...", status)
	}
	if out, err := ldapwhoami(t, e.ldap, danielDN, pw); err == nil || !strings.Contains(out, "Invalid credentials (49)") {
		t.Errorf("ldapwhoami after revoking in the browser: %v\n%s", err, out)
	}
}
