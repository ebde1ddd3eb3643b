package e2e_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/internal/testtool"
)

// NSS clients (nslcd, SSSD) serve glibc's lookups (getent, id) from
// ldapgate. Their daemons and glibc read fixed paths (/etc/nsswitch.conf,
// their configs, sockets and caches), so each runs in a private mount
// namespace (unshare) in which generated files and temporary folders are
// bind-mounted over those paths, and the lookups enter that namespace
// with nsenter; nothing outside it changes, and the machine's own daemons
// are hidden. As root the namespace is a mount namespace; otherwise a
// user namespace too, whose root (this user) the daemon runs as.

// nssClient is a daemon running in its namespace, and the lookup programs.
type nssClient struct {
	pkgs    string // the daemon's Debian packages, for skip and failure messages
	p       *process
	unshare string
	nsenter string
	nsArgs  []string // nsenter's options: the daemon's namespaces
	getent  string
	id      string
}

func newNSSClient(t *testing.T, pkgs string) *nssClient {
	t.Helper()
	return &nssClient{
		pkgs:    pkgs,
		getent:  testtool.Find(t, "libc-bin", "getent"),
		id:      testtool.Find(t, "coreutils", "id"),
		nsenter: testtool.Find(t, "util-linux", "nsenter"),
		unshare: testtool.Find(t, "util-linux", "unshare"),
	}
}

// requireLibs checks that the shared libraries (paths below a multiarch
// library folder) are installed.
func (n *nssClient) requireLibs(t *testing.T, libs ...string) {
	t.Helper()
	for _, lib := range libs {
		found, _ := filepath.Glob("/usr/lib/*/" + lib)
		if len(found) == 0 {
			found, _ = filepath.Glob("/lib/*/" + lib)
		}
		if len(found) == 0 {
			clientMissing(t, n.pkgs, "%s is not installed", lib)
		}
	}
}

// start runs script (sh -e; its arguments args) in a new namespace; the
// script sets up its mounts and then executes the daemon. It returns once
// ready reports true, logging the daemon's output (named what) if the test
// fails.
func (n *nssClient) start(t *testing.T, what, script string, args []string, ready func() bool) {
	t.Helper()
	unshareArgs := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		unshareArgs = append([]string{"--user", "--map-root-user"}, unshareArgs...)
	}
	n.p = startProcess(t, n.unshare, append(append(unshareArgs, "sh", "-e", "-c", script, "sh"), args...)...) // unshare and sh exec: one pid
	pid := strconv.Itoa(n.p.cmd.Process.Pid)
	n.nsArgs = []string{"--mount=/proc/" + pid + "/ns/mnt"}
	if os.Geteuid() != 0 {
		// The user namespace's root is this user: no setgroups or setuid.
		n.nsArgs = append([]string{"--user=/proc/" + pid + "/ns/user", "--preserve-credentials"}, n.nsArgs...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s:\n%s", what, n.p.out)
		}
	})
	if err := n.p.waitFor(ready); err != nil {
		out := n.p.out.String()
		if os.Getenv("CI") == "" && strings.Contains(out, "unshare failed") {
			t.Skipf("no mount namespace here: %s", out)
		}
		t.Fatalf("%s: %v", what, err) // the cleanup above logs its output
	}
}

// nsswitch writes an nsswitch.conf into dir that asks files, then service,
// for users and groups, and returns its path.
func nsswitch(t *testing.T, dir, service string) string {
	t.Helper()
	path := filepath.Join(dir, "nsswitch.conf")
	writeFile(t, path, "passwd: files "+service+"\ngroup: files "+service+"\nshadow: files\nhosts: files\n", 0o644)
	return path
}

// run runs name (getent or id) with args in the daemon's namespace, and
// returns its standard output and exit code.
func (n *nssClient) run(t *testing.T, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(n.nsenter, append(append(n.nsArgs, "--", name), args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		if stderr.Len() > 0 {
			t.Logf("%s %s: %s", filepath.Base(name), strings.Join(args, " "), stderr.String())
		}
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("nsenter %s %v: %v", name, args, err)
		return "", 0
	}
}

// getentLines runs getent and returns its lines split into fields; it
// fails the test unless getent exits 0.
func (n *nssClient) getentLines(t *testing.T, args ...string) [][]string {
	t.Helper()
	out, code := n.run(t, n.getent, args...)
	if code != 0 {
		t.Fatalf("getent %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	var lines [][]string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		lines = append(lines, strings.Split(l, ":"))
	}
	return lines
}

// posixAccount is what ldapgate serves of a user's posixAccount.
type posixAccount struct {
	uid, uidNumber, gidNumber, gecos, home, shell string
}

// posixGroup is what ldapgate serves of a posixGroup.
type posixGroup struct {
	cn, gidNumber string
	memberUIDs    []string // sorted
}

// posixData is every posixAccount and posixGroup ldapgate serves, and
// Daniel's.
type posixData struct {
	users        map[string]posixAccount
	groups       map[string]posixGroup
	daniel       posixAccount
	danielGroups []string // gidNumbers of the groups listing Daniel
}

// readPOSIX reads every posixAccount and posixGroup from ldapgate, bound
// as the archive service account, and checks that Daniel is in
// engineering (directly) and all-staff (nested), which the tests look up.
func readPOSIX(t *testing.T, d *directory) posixData {
	t.Helper()
	var c *ldap.Conn
	var err error
	if d.ldaps {
		c, err = ldap.DialURL("ldaps://"+d.addr, ldap.DialWithTLSConfig(d.clientTLS(t)))
	} else {
		c, err = ldap.DialURL("ldap://" + d.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if d.caFile != "" && !d.ldaps {
		if err := c.StartTLS(d.clientTLS(t)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Bind(archiveDN, archivePW); err != nil {
		t.Fatal(err)
	}
	search := func(base, filter string, attrs ...string) []*ldap.Entry {
		r, err := c.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
		if err != nil {
			t.Fatalf("search %s %s: %v", base, filter, err)
		}
		return r.Entries
	}
	pd := posixData{users: map[string]posixAccount{}, groups: map[string]posixGroup{}}
	for _, e := range search("ou=people,"+baseDN, "(objectClass=posixAccount)", "uid", "uidNumber", "gidNumber", "gecos", "homeDirectory", "loginShell") {
		a := posixAccount{e.GetAttributeValue("uid"), e.GetAttributeValue("uidNumber"), e.GetAttributeValue("gidNumber"),
			e.GetAttributeValue("gecos"), e.GetAttributeValue("homeDirectory"), e.GetAttributeValue("loginShell")}
		if a.uid == "" || a.uidNumber == "" || a.gidNumber == "" || a.home == "" || a.shell == "" {
			t.Fatalf("ldapgate serves an incomplete posixAccount %s: %+v", e.DN, a)
		}
		pd.users[a.uid] = a
	}
	for _, e := range search("ou=groups,"+baseDN, "(objectClass=posixGroup)", "cn", "gidNumber", "memberUid") {
		g := posixGroup{e.GetAttributeValue("cn"), e.GetAttributeValue("gidNumber"), e.GetAttributeValues("memberUid")}
		if g.cn == "" || g.gidNumber == "" {
			t.Fatalf("ldapgate serves an incomplete posixGroup %s: %+v", e.DN, g)
		}
		slices.Sort(g.memberUIDs)
		pd.groups[g.cn] = g
		if slices.Contains(g.memberUIDs, danielUID) {
			pd.danielGroups = append(pd.danielGroups, g.gidNumber)
		}
	}
	var ok bool
	if pd.daniel, ok = pd.users[danielUID]; !ok {
		t.Fatalf("ldapgate serves no posixAccount for %s", danielUID)
	}
	for _, cn := range []string{"engineering", "all-staff"} {
		if !slices.Contains(pd.groups[cn].memberUIDs, danielUID) {
			t.Fatalf("ldapgate's posixGroup %s has no memberUid %s: %+v", cn, danielUID, pd.groups[cn])
		}
	}
	return pd
}

// members splits a group's member list as getent prints it, sorted.
func members(s string) []string {
	if s == "" {
		return nil
	}
	m := strings.Split(s, ",")
	slices.Sort(m)
	return m
}

// checkPasswd checks a line of getent passwd (split at the colons) against
// what ldapgate serves; the password field is not compared.
func checkPasswd(t *testing.T, f []string, want posixAccount) {
	t.Helper()
	got := posixAccount{}
	if len(f) == 7 {
		got = posixAccount{f[0], f[2], f[3], f[4], f[5], f[6]}
	}
	if got != want {
		t.Errorf("getent passwd: %q, want %+v", strings.Join(f, ":"), want)
	}
}

// checkGroupLine checks a line of getent group (split at the colons)
// against what ldapgate serves: name, number and the member list, each
// member once, in any order.
func checkGroupLine(t *testing.T, f []string, want posixGroup) {
	t.Helper()
	if len(f) != 4 || f[0] != want.cn || f[2] != want.gidNumber || !slices.Equal(members(f[3]), want.memberUIDs) {
		t.Errorf("getent group: %q, want %s:*:%s:%s", strings.Join(f, ":"), want.cn, want.gidNumber, strings.Join(want.memberUIDs, ","))
	}
}

// checkEnumeration checks that getent's enumeration of db lists every
// entry of want (by its first field), each as check expects.
func checkEnumeration[T any](t *testing.T, db string, lines [][]string, want map[string]T, check func(*testing.T, []string, T)) {
	t.Helper()
	got := map[string][]string{}
	for _, f := range lines {
		if _, ok := want[f[0]]; ok {
			got[f[0]] = f
		}
	}
	if len(got) != len(want) {
		t.Errorf("getent %s lists %d of ldapgate's %d POSIX entries", db, len(got), len(want))
	}
	for name, w := range want {
		if f, ok := got[name]; ok {
			check(t, f, w)
		}
	}
}

// checkLookups checks the lookups both clients answer the same way: an
// unknown user, and Daniel's groups through glibc's initgroups (what login
// and su call; id adds his primary gid), with the names of groups.
func checkLookups(t *testing.T, n *nssClient, pd posixData, named ...string) {
	t.Run("passwd unknown", func(t *testing.T) {
		if out, code := n.run(t, n.getent, "passwd", "nobody.here"); code != 2 {
			t.Errorf("getent passwd nobody.here: exit %d, want 2 (not found)\n%s", code, out)
		}
	})
	t.Run("initgroups", func(t *testing.T) {
		out, code := n.run(t, n.id, "-G", danielUID)
		got := strings.Fields(out)
		slices.Sort(got)
		want := append([]string{pd.daniel.gidNumber}, pd.danielGroups...)
		slices.Sort(want)
		want = slices.Compact(want)
		if code != 0 || !slices.Equal(got, want) {
			t.Errorf("id -G %s: exit %d, %v, want %v", danielUID, code, got, want)
		}
		out, code = n.run(t, n.id, danielUID)
		t.Logf("id %s: %s", danielUID, out)
		if code != 0 || !strings.Contains(out, "uid="+pd.daniel.uidNumber+"("+danielUID+")") {
			t.Errorf("id %s: exit %d, %s", danielUID, code, out)
		}
		for _, cn := range named {
			if !strings.Contains(out, pd.groups[cn].gidNumber+"("+cn+")") {
				t.Errorf("id %s: no group %s(%s): %s", danielUID, pd.groups[cn].gidNumber, cn, out)
			}
		}
	})
}

// checkSearchedBound checks that ldapgate logged searches with each of
// filters bound as the archive service account (it refuses anonymous
// searches).
func checkSearchedBound(t *testing.T, d *directory, filters ...string) {
	t.Helper()
	for _, f := range filters {
		if !slices.ContainsFunc(strings.Split(d.log.String(), "\n"), func(l string) bool {
			return strings.Contains(l, `msg="ldap search"`) && strings.Contains(l, f) && strings.Contains(l, `bound="`+archiveDN+`"`)
		}) {
			t.Errorf("ldapgate logged no search with %s bound as %s", f, archiveDN)
		}
	}
}
