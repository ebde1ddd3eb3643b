package e2e_test

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"
)

// python-ldap (python3-ldap, on OpenLDAP's libldap) as Python apps use
// it: a paged read of all users with SimplePagedResultsControl, a lookup
// by mail with memberOf, simple binds and whoami_s, and StartTLS.
const pythonPkgs = "python3-ldap"

// pythonScript prints what it saw as JSON; the test compares it with what
// ldapgate serves to go-ldap. The test does the asserting: the script
// records errors (class, result code, diagnostic) instead of failing.
const pythonScript = `import json
import sys
import time

import ldap
import ldap.filter
from ldap.controls import SimplePagedResultsControl

cfg = json.load(open(sys.argv[1]))
out = {}


def connect():
    c = ldap.initialize(cfg["uri"])
    c.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
    c.set_option(ldap.OPT_REFERRALS, 0)
    c.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
    c.set_option(ldap.OPT_TIMEOUT, 10)
    return c


def entries(results):
    """{dn: {attr: [values]}} from search results, values decoded."""
    return {dn: {k: [v.decode() for v in vs] for k, vs in attrs.items()}
            for dn, attrs in results if dn is not None}


def error(e):
    """The class, result code and diagnostic of an LDAPError."""
    d = e.args[0] if e.args and isinstance(e.args[0], dict) else {}
    return {"error": type(e).__name__, "result": d.get("result"), "info": d.get("info", "")}


c = connect()
c.simple_bind_s(cfg["serviceDN"], cfg["servicePassword"])
out["serviceWhoami"] = c.whoami_s()

# A paged read of all users.
page = SimplePagedResultsControl(True, size=cfg["pageSize"], cookie=b"")
users, pages = {}, []
while True:
    msgid = c.search_ext(cfg["peopleDN"], ldap.SCOPE_SUBTREE, cfg["userFilter"], cfg["userAttrs"], serverctrls=[page])
    _, data, _, ctrls = c.result3(msgid)
    got = entries(data)
    pages.append(len(got))
    users.update(got)
    resp = [x for x in ctrls if x.controlType == SimplePagedResultsControl.controlType]
    if not resp:
        raise SystemExit("no paged results control in the response")
    if not resp[0].cookie:
        break
    page.cookie = resp[0].cookie
    if len(pages) > 1000:
        raise SystemExit("no end after 1000 pages")
out["users"], out["userPages"] = users, pages

# A user by mail, with the groups, as a login finds it.
f = cfg["loginFilter"].replace("%s", ldap.filter.escape_filter_chars(cfg["userMail"]))
out["byMail"] = entries(c.search_s(cfg["peopleDN"], ldap.SCOPE_SUBTREE, f, ["uid", "memberOf"]))
c.unbind_s()

u = connect()
u.simple_bind_s(cfg["userDN"], cfg["userPassword"])
out["userWhoami"] = u.whoami_s()
u.unbind_s()

u = connect()
try:
    u.simple_bind_s(cfg["userDN"], "not-" + cfg["userPassword"])
    out["wrongBind"] = {"error": None}
except ldap.LDAPError as e:
    out["wrongBind"] = error(e)
out["wrongBindWhoami"] = u.whoami_s()  # anonymous again
u.unbind_s()

# StartTLS, which ldapgate without TLS refuses; the connection stays
# usable in the clear.
s = connect()
start = time.monotonic()
try:
    s.start_tls_s()
    out["startTLS"] = {"error": None}
except ldap.LDAPError as e:
    out["startTLS"] = error(e)
out["startTLS"]["seconds"] = time.monotonic() - start
try:
    s.simple_bind_s(cfg["serviceDN"], cfg["servicePassword"])
    out["startTLSWhoami"] = s.whoami_s()
except ldap.LDAPError as e:
    out["startTLSWhoami"] = error(e)
s.unbind_s()

json.dump(out, sys.stdout)
`

// pythonError is an LDAPError as the script records it.
type pythonError struct {
	Error  *string // the class: INVALID_CREDENTIALS, PROTOCOL_ERROR…
	Result *int
	Info   string
}

type pythonResult struct {
	ServiceWhoami   string
	Users           ldapEntries
	UserPages       []int
	ByMail          ldapEntries
	UserWhoami      string
	WrongBind       pythonError
	WrongBindWhoami string
	StartTLS        struct {
		pythonError
		Seconds float64
	}
	StartTLSWhoami any // the authzId, or the error
}

var pyUserAttrs = []string{"uid", "mail", "displayName", "memberOf", "entryUUID"}

func TestPythonLDAP(t *testing.T) {
	// Debian's python3, not a pyenv one first in PATH; -I keeps PYTHON*
	// variables and user site-packages out.
	python := debianProgram(t, pythonPkgs, "/usr/bin/python3")
	if out, err := exec.Command(python, "-I", "-c", "import ldap.controls").CombinedOutput(); err != nil {
		clientMissing(t, pythonPkgs, "%s has no python-ldap (%v): %s", python, err, out)
	}
	d := startDirectory(t)
	g := d.guide(t, "generic")
	peopleDN, userFilter, loginFilter := g.Value("User base"), g.Value("User filter"), g.Value("Login filter")
	c := dialAs(t, d, g.Value("Bind DN"), g.Value("Bind password"))
	users := searchEntries(t, c, peopleDN, ldap.ScopeWholeSubtree, userFilter, pyUserAttrs)
	byMail := searchEntries(t, c, peopleDN, ldap.ScopeWholeSubtree, strings.ReplaceAll(loginFilter, "%s", ldap.EscapeFilter(danielMail)), []string{"uid", "memberOf"})
	if len(users) < 3 {
		t.Fatalf("ldapgate serves %d users; the test pages through at least 3", len(users))
	}
	if m := byMail[danielDN]["memberof"]; !slices.Contains(m, engineeringDN) || !slices.Contains(m, allStaffDN) {
		t.Fatalf("ldapgate serves Daniel's memberOf as %q; want engineering and all-staff (nested) in it", m)
	}
	in := map[string]any{
		"uri":             g.Value("URI"),
		"serviceDN":       g.Value("Bind DN"),
		"servicePassword": g.Value("Bind password"),
		"peopleDN":        peopleDN,
		"userFilter":      userFilter,
		"loginFilter":     loginFilter,
		"userAttrs":       pyUserAttrs,
		"pageSize":        len(users)/3 + 1,
		"userMail":        danielMail,
		"userDN":          danielDN,
		"userPassword":    d.danielPW,
	}
	start := time.Now()
	var got pythonResult
	runJSON(t, "app.py", pythonScript, in, &got, python, "-I")
	t.Logf("python ran in %v", time.Since(start).Round(time.Millisecond))

	t.Run("whoami", func(t *testing.T) {
		if got.ServiceWhoami != "dn:"+archiveDN || got.UserWhoami != "dn:"+danielDN {
			t.Errorf("whoami_s: %q as the service account, %q as Daniel; want dn:%s, dn:%s", got.ServiceWhoami, got.UserWhoami, archiveDN, danielDN)
		}
	})
	t.Run("paged users", func(t *testing.T) {
		checkPages(t, got.UserPages, in["pageSize"].(int), len(users))
		if diff := cmp.Diff(got.Users.normalized(), users); diff != "" {
			t.Errorf("users (-got +want):\n%s", diff)
		}
	})
	t.Run("by mail", func(t *testing.T) {
		if diff := cmp.Diff(got.ByMail.normalized(), byMail); diff != "" {
			t.Errorf("(mail=%s) (-got +want):\n%s", danielMail, diff)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		w := got.WrongBind
		if w.Error == nil || *w.Error != "INVALID_CREDENTIALS" || w.Result == nil || *w.Result != int(ldap.LDAPResultInvalidCredentials) {
			t.Errorf("simple_bind_s with a wrong password: %s; want INVALID_CREDENTIALS (49)", w)
		}
		if got.WrongBindWhoami != "" {
			t.Errorf("whoami_s after a failed bind: %q, want anonymous (\"\")", got.WrongBindWhoami)
		}
	})
	t.Run("StartTLS", func(t *testing.T) {
		s := got.StartTLS
		if s.Result == nil || *s.Result <= 0 || s.Seconds > 5 {
			t.Errorf("start_tls_s without TLS on the server: %s after %.2fs; want an LDAP result at once", s.pythonError, s.Seconds)
		}
		if got.StartTLSWhoami != "dn:"+archiveDN {
			t.Errorf("bind and whoami_s after the refused StartTLS: %v, want dn:%s", got.StartTLSWhoami, archiveDN)
		}
		if want := int(startTLSRefusal(t, d)); s.Result != nil && *s.Result != want {
			t.Errorf("start_tls_s: %s, want result %d (go-ldap's)", s.pythonError, want)
		}
	})
}

func (e pythonError) String() string {
	if e.Error == nil {
		return "no error"
	}
	r := "no result"
	if e.Result != nil {
		r = fmt.Sprintf("result %d", *e.Result)
	}
	return fmt.Sprintf("%s (%s, %q)", *e.Error, r, e.Info)
}
