package e2e_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/internal/testtool"
)

// nslcd is Debian's nslcd (nss-pam-ldapd) serving glibc's NSS lookups
// (getent, id) from ldapgate. nslcd reads /etc/nslcd.conf and serves
// /run/nslcd/socket, and glibc reads /etc/nsswitch.conf, all fixed paths;
// so nslcd runs in a private mount namespace (unshare) in which generated
// files are bind-mounted over those two, and a tmpfs over /run hides the
// machine's own /run/nslcd and /run/nscd (a running nscd would answer
// glibc's lookups from the machine's configuration). The lookups enter
// that namespace with nsenter. Nothing outside the namespace changes. As
// root the namespace is a mount namespace and nslcd drops to the user
// nslcd, as the package runs it; otherwise it is a user namespace too,
// whose root (this user) nslcd runs as.
type nslcd struct {
	p       *process
	nsenter string
	nsArgs  []string // nsenter's options: nslcd's namespaces
	getent  string
	id      string
}

const nslcdPkgs = "nslcd libnss-ldapd"

// nslcdMissing skips the test, or fails it when CI is set, because part
// of the nslcd packages is missing.
func nslcdMissing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s, and CI is set: .ci/run must install %s", msg, nslcdPkgs)
	}
	t.Skipf("%s (apt-get install %s)", msg, nslcdPkgs)
}

func startNslcd(t *testing.T, d *directory) *nslcd {
	t.Helper()
	n := &nslcd{
		getent:  testtool.Find(t, "libc-bin", "getent"),
		id:      testtool.Find(t, "coreutils", "id"),
		nsenter: testtool.Find(t, "util-linux", "nsenter"),
	}
	unshare := testtool.Find(t, "util-linux", "unshare")
	daemon := testtool.Find(t, nslcdPkgs, "nslcd")
	lib, _ := filepath.Glob("/usr/lib/*/libnss_ldap.so.2")
	if len(lib) == 0 {
		lib, _ = filepath.Glob("/lib/*/libnss_ldap.so.2")
	}
	if len(lib) == 0 {
		nslcdMissing(t, "libnss_ldap.so.2 is not installed")
	}
	// The bind mount needs a file to mount over; the package creates it.
	if _, err := os.Stat("/etc/nslcd.conf"); err != nil {
		nslcdMissing(t, "no /etc/nslcd.conf")
	}

	dir := daemonDir(t)
	runDir := filepath.Join(dir, "run") // mounted on /run/nslcd
	if err := os.Mkdir(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	runAs := "" // the namespace's root
	unshareArgs := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		unshareArgs = append([]string{"--user", "--map-root-user"}, unshareArgs...)
	} else if u, err := user.Lookup("nslcd"); err == nil { // the package's system user
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(runDir, uid, gid); err != nil {
			t.Fatal(err)
		}
		runAs = "uid nslcd\ngid " + u.Gid + "\n"
	}

	conf := filepath.Join(dir, "nslcd.conf")
	writeFile(t, conf, runAs+`uri ldap://`+d.addr+`/
base `+baseDN+`
binddn `+archiveDN+`
bindpw `+archivePW+`
ldap_version 3
bind_timelimit 5
timelimit 5
reconnect_retrytime 1
`, 0o600)
	nsswitch := filepath.Join(dir, "nsswitch.conf")
	writeFile(t, nsswitch, `passwd: files ldap
group: files ldap
shadow: files
hosts: files
`, 0o644)

	const script = `mount --bind "$1" /etc/nslcd.conf
mount --bind "$2" /etc/nsswitch.conf
mount -t tmpfs -o mode=0755 ldapgate-e2e /run
mkdir /run/nslcd
mount --bind "$3" /run/nslcd
exec "$4" -d`
	args := append(unshareArgs, "sh", "-e", "-c", script, "sh", conf, nsswitch, runDir, daemon)
	n.p = startProcess(t, unshare, args...) // unshare and sh exec: one pid
	pid := strconv.Itoa(n.p.cmd.Process.Pid)
	n.nsArgs = []string{"--mount=/proc/" + pid + "/ns/mnt"}
	if os.Geteuid() != 0 {
		// The user namespace's root is this user: no setgroups or setuid.
		n.nsArgs = append([]string{"--user=/proc/" + pid + "/ns/user", "--preserve-credentials"}, n.nsArgs...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nslcd -d:\n%s", n.p.out)
		}
	})
	// nslcd logs this once its socket listens and its threads run.
	err := n.p.waitFor(func() bool { return strings.Contains(n.p.out.String(), "accepting connections") })
	if err != nil {
		out := n.p.out.String()
		if os.Getenv("CI") == "" && strings.Contains(out, "unshare failed") {
			t.Skipf("no mount namespace here: %s", out)
		}
		t.Fatalf("nslcd: %v", err) // the cleanup above logs its output
	}
	return n
}

// run runs name (getent or id) with args in nslcd's namespace, and returns
// its standard output and exit code.
func (n *nslcd) run(t *testing.T, name string, args ...string) (string, int) {
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
func (n *nslcd) getentLines(t *testing.T, args ...string) [][]string {
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

// readPOSIX reads every posixAccount and posixGroup from ldapgate, bound
// as the archive service account.
func readPOSIX(t *testing.T, d *directory) (map[string]posixAccount, map[string]posixGroup) {
	t.Helper()
	c, err := ldap.DialURL("ldap://" + d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
	users := map[string]posixAccount{}
	for _, e := range search("ou=people,"+baseDN, "(objectClass=posixAccount)", "uid", "uidNumber", "gidNumber", "gecos", "homeDirectory", "loginShell") {
		a := posixAccount{e.GetAttributeValue("uid"), e.GetAttributeValue("uidNumber"), e.GetAttributeValue("gidNumber"),
			e.GetAttributeValue("gecos"), e.GetAttributeValue("homeDirectory"), e.GetAttributeValue("loginShell")}
		if a.uid == "" || a.uidNumber == "" || a.gidNumber == "" || a.home == "" || a.shell == "" {
			t.Fatalf("ldapgate serves an incomplete posixAccount %s: %+v", e.DN, a)
		}
		users[a.uid] = a
	}
	groups := map[string]posixGroup{}
	for _, e := range search("ou=groups,"+baseDN, "(objectClass=posixGroup)", "cn", "gidNumber", "memberUid") {
		g := posixGroup{e.GetAttributeValue("cn"), e.GetAttributeValue("gidNumber"), e.GetAttributeValues("memberUid")}
		if g.cn == "" || g.gidNumber == "" {
			t.Fatalf("ldapgate serves an incomplete posixGroup %s: %+v", e.DN, g)
		}
		slices.Sort(g.memberUIDs)
		groups[g.cn] = g
	}
	return users, groups
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

func TestNslcd(t *testing.T) {
	d := startDirectory(t)
	users, groups := readPOSIX(t, d)
	daniel, ok := users[danielUID]
	if !ok {
		t.Fatalf("ldapgate serves no posixAccount for %s", danielUID)
	}
	var danielGroups []string // gidNumbers of the groups listing Daniel
	for _, g := range groups {
		if slices.Contains(g.memberUIDs, danielUID) {
			danielGroups = append(danielGroups, g.gidNumber)
		}
	}
	for _, cn := range []string{"engineering", "all-staff"} { // direct, nested
		if !slices.Contains(groups[cn].memberUIDs, danielUID) {
			t.Fatalf("ldapgate's posixGroup %s has no memberUid %s: %+v", cn, danielUID, groups[cn])
		}
	}
	n := startNslcd(t, d)

	checkUser := func(t *testing.T, f []string, want posixAccount) {
		t.Helper()
		got := posixAccount{}
		if len(f) == 7 {
			got = posixAccount{f[0], f[2], f[3], f[4], f[5], f[6]}
		}
		if got != want {
			t.Errorf("getent passwd: %q, want %+v", strings.Join(f, ":"), want)
		}
	}
	checkGroup := func(t *testing.T, f []string, want posixGroup) {
		t.Helper()
		if len(f) != 4 || f[0] != want.cn || f[2] != want.gidNumber || !slices.Equal(members(f[3]), want.memberUIDs) {
			t.Errorf("getent group: %q, want %s:*:%s:%s", strings.Join(f, ":"), want.cn, want.gidNumber, strings.Join(want.memberUIDs, ","))
		}
	}

	t.Run("passwd by name", func(t *testing.T) {
		lines := n.getentLines(t, "passwd", danielUID)
		checkUser(t, lines[0], daniel)
	})
	t.Run("passwd by number", func(t *testing.T) {
		lines := n.getentLines(t, "passwd", daniel.uidNumber)
		checkUser(t, lines[0], daniel)
	})
	t.Run("passwd unknown", func(t *testing.T) {
		if out, code := n.run(t, n.getent, "passwd", "nobody.here"); code != 2 {
			t.Errorf("getent passwd nobody.here: exit %d, want 2 (not found)\n%s", code, out)
		}
	})
	for _, cn := range []string{"engineering", "all-staff"} {
		t.Run("group "+cn, func(t *testing.T) {
			checkGroup(t, n.getentLines(t, "group", cn)[0], groups[cn])
			checkGroup(t, n.getentLines(t, "group", groups[cn].gidNumber)[0], groups[cn])
		})
	}
	t.Run("initgroups", func(t *testing.T) {
		// glibc's initgroups (what login and su call) asks nslcd for the
		// groups listing Daniel; id adds his primary gid.
		out, code := n.run(t, n.id, "-G", danielUID)
		got := strings.Fields(out)
		slices.Sort(got)
		want := append([]string{daniel.gidNumber}, danielGroups...)
		slices.Sort(want)
		want = slices.Compact(want)
		if code != 0 || !slices.Equal(got, want) {
			t.Errorf("id -G %s: exit %d, %v, want %v", danielUID, code, got, want)
		}
		out, code = n.run(t, n.id, danielUID)
		t.Logf("id %s: %s", danielUID, out)
		if code != 0 || !strings.Contains(out, "uid="+daniel.uidNumber+"("+danielUID+")") ||
			!strings.Contains(out, groups["engineering"].gidNumber+"(engineering)") {
			t.Errorf("id %s: exit %d, %s", danielUID, code, out)
		}
	})
	t.Run("enumerate passwd", func(t *testing.T) {
		checkEnumeration(t, "passwd", n.getentLines(t, "passwd"), users, checkUser)
	})
	t.Run("enumerate group", func(t *testing.T) {
		checkEnumeration(t, "group", n.getentLines(t, "group"), groups, checkGroup)
	})
	// nslcd searched bound as the archive service account (ldapgate
	// refuses anonymous searches).
	filter := `filter="(&(objectClass=posixAccount)(uid=` + danielUID + `))"`
	if !slices.ContainsFunc(strings.Split(d.log.String(), "\n"), func(l string) bool {
		return strings.Contains(l, filter) && strings.Contains(l, `bound="`+archiveDN+`"`)
	}) {
		t.Errorf("ldapgate logged no search %s bound as %s", filter, archiveDN)
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
