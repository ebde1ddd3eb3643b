package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ldapgate/ldapgate/internal/testtool"
	"github.com/ldapgate/ldapgate/oidc/oidctest"
	"github.com/ldapgate/ldapgate/sync/engine"
)

const (
	danielMail = "daniel.kim@example.com"
	danielDN   = "uid=daniel.kim,ou=people,dc=example,dc=com"
)

// startAuthDemo runs the demo gateway with the bind chain, the web portal
// on 127.0.0.1:0 and a local OIDC issuer.
func startAuthDemo(t *testing.T) (g *Gateway, ldapURL, dirFile string, is *oidctest.Issuer) {
	t.Helper()
	return startAuthDemoWith(t, "")
}

// startAuthDemoWith is startAuthDemo with extra config text; setup runs
// before Run.
func startAuthDemoWith(t *testing.T, extra string, setup ...func(*Gateway)) (g *Gateway, ldapURL, dirFile string, is *oidctest.Issuer) {
	t.Helper()
	is = oidctest.New(t)
	t.Setenv("TEST_OIDC_SECRET", is.ClientSecret)
	dir := t.TempDir()
	text, dirFile := demoFiles(t, dir)
	text = strings.Replace(text, "binds: [app_password]\n", "", 1) // set below
	// The browser reaches the portal at its real address; public_url only
	// builds the redirect URL, which the test follows by hand.
	text += `
binds: [app_password, id_token]
oidc:
  issuer: ` + is.URL + `
  client_id: ` + is.ClientID + `
  client_secret_env: TEST_OIDC_SECRET
http:
  listen: 127.0.0.1:0
  public_url: http://127.0.0.1:1
` + extra
	cfg, err := ParseConfig(filepath.Join(dir, "ldapgate.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	g = runGateway(t, cfg, testLog(), setup...)
	return g, "ldap://" + g.LDAPAddrs()[0].String(), dirFile, is
}

// whoami binds with OpenLDAP's ldapwhoami and returns its output.
func whoami(t *testing.T, ldapURL, dn, pw string) (string, error) {
	t.Helper()
	out, err := exec.Command(testtool.Find(t, "ldap-utils", "ldapwhoami"), "-x", "-H", ldapURL, "-D", dn, "-w", pw).CombinedOutput()
	return string(out), err
}

func TestGatewayAppPasswordLifecycle(t *testing.T) {
	g, ldapURL, dirFile, is := startAuthDemo(t)
	portal := "http://" + g.HTTPAddr().String()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	step := func(method, u string, form url.Values) (*http.Response, string) {
		t.Helper()
		var resp *http.Response
		var err error
		if method == "POST" {
			resp, err = c.PostForm(u, form)
		} else {
			resp, err = c.Get(u)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	// Sign in: portal → issuer → callback (sent to the real address) → home.
	is.SetLogin(map[string]any{"email": danielMail, "hd": "example.com"})
	resp, _ := step("GET", portal+"/auth/login", nil)
	authz := resp.Header.Get("Location")
	if !strings.HasPrefix(authz, is.URL+"/authorize?") || !strings.Contains(authz, "code_challenge_method=S256") {
		t.Fatalf("login redirects to %q", authz)
	}
	resp, _ = step("GET", authz, nil)
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || cb.Path != "/auth/callback" {
		t.Fatalf("issuer redirects to %q", resp.Header.Get("Location"))
	}
	resp, body := step("GET", portal+"/auth/callback?"+cb.RawQuery, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d\n%s", resp.StatusCode, body)
	}
	_, body = step("GET", portal+"/", nil)
	if !strings.Contains(body, danielDN) {
		t.Fatalf("home page lacks the DN:\n%s", body)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)[1]
	_, body = step("POST", portal+"/app-passwords", url.Values{"csrf": {csrf}, "name": {"archive"}})
	m := regexp.MustCompile(`id="new-password" class="password">([a-z-]+)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no new app password on the page:\n%s", body)
	}
	pw := m[1]

	out, err := whoami(t, ldapURL, danielDN, pw)
	if err != nil || !strings.Contains(out, "dn:"+danielDN) {
		t.Fatalf("ldapwhoami with the app password: %v\n%s", err, out)
	}
	// Again (cached), and by mail address.
	if out, err := whoami(t, ldapURL, danielMail, pw); err != nil {
		t.Fatalf("ldapwhoami by mail: %v\n%s", err, out)
	}
	// An ID token from the issuer works too.
	if out, err := whoami(t, ldapURL, danielDN, is.Sign(is.Claims(danielMail, "example.com"))); err != nil {
		t.Fatalf("ldapwhoami with an ID token: %v\n%s", err, out)
	}

	// The sync that suspends Daniel ends his access at once.
	suspend(t, dirFile, danielMail)
	if _, err := g.Sync(context.Background(), engine.RunOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if out, err := whoami(t, ldapURL, danielDN, pw); err == nil || !strings.Contains(out, "Invalid credentials (49)") {
		t.Errorf("ldapwhoami after suspension: %v\n%s", err, out)
	}
	// And his portal session.
	if _, body := step("GET", portal+"/", nil); !strings.Contains(body, "Sign in with Google") {
		t.Error("portal session survived the suspension")
	}
}

func TestGatewayRevokeInPortal(t *testing.T) {
	g, ldapURL, _, is := startAuthDemo(t)
	portal := "http://" + g.HTTPAddr().String()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Port() == "1" { // public_url: send it to the real address
			req.URL.Host = g.HTTPAddr().String()
		}
		return nil
	}}
	is.SetLogin(map[string]any{"email": danielMail, "hd": "example.com"})
	read := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	body := read(c.Get(portal + "/auth/login"))
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if csrf == nil {
		t.Fatalf("not signed in:\n%s", body)
	}
	body = read(c.PostForm(portal+"/app-passwords", url.Values{"csrf": {csrf[1]}, "name": {"archive"}}))
	pw := regexp.MustCompile(`id="new-password" class="password">([a-z-]+)<`).FindStringSubmatch(body)[1]
	if out, err := whoami(t, ldapURL, danielDN, pw); err != nil {
		t.Fatalf("ldapwhoami: %v\n%s", err, out)
	}
	revoke := regexp.MustCompile(`action="(/app-passwords/\d+/revoke)"`).FindStringSubmatch(body)[1]
	read(c.PostForm(portal+revoke, url.Values{"csrf": {csrf[1]}}))
	if out, err := whoami(t, ldapURL, danielDN, pw); err == nil {
		t.Errorf("ldapwhoami after revoking in the portal succeeded:\n%s", out)
	}
}

// suspend marks the user with the given primary address suspended in the
// directory file.
func suspend(t *testing.T, dirFile, mail string) {
	t.Helper()
	data, err := os.ReadFile(dirFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, u := range doc["users"].(map[string]any)["users"].([]any) {
		if m := u.(map[string]any); m["primaryEmail"] == mail {
			m["suspended"] = true
		}
	}
	data, _ = json.Marshal(doc)
	if err := os.WriteFile(dirFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestChainSetClosesOnce: a chain closed by a reload's swap or by
// stopAuth, which Run and Close both call, closes its connections once.
func TestChainSetClosesOnce(t *testing.T) {
	n := 0
	cs := &chainSet{closers: []func() error{func() error { n++; return nil }}}
	cs.close()
	cs.close()
	if n != 1 {
		t.Errorf("closer ran %d times, want 1", n)
	}
}
