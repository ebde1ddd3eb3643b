package e2e_test

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ldapgate/ldapgate/internal/testtool"
)

// nslcd (Debian's nss-pam-ldapd) reads /etc/nslcd.conf and serves
// /run/nslcd/socket; in its namespace (nss_test.go) a generated config is
// bind-mounted over the first and a tmpfs over /run hides the machine's
// /run/nslcd and /run/nscd (a running nscd would answer glibc's lookups
// from the machine's configuration). As root nslcd drops to the user
// nslcd, as the package runs it.
func startNslcd(t *testing.T, d *directory) *nssClient {
	t.Helper()
	n := newNSSClient(t, "nslcd libnss-ldapd")
	daemon := testtool.Find(t, n.pkgs, "nslcd")
	n.requireLibs(t, "libnss_ldap.so.2")
	// The bind mount needs a file to mount over; the package creates it.
	if _, err := os.Stat("/etc/nslcd.conf"); err != nil {
		clientMissing(t, n.pkgs, "no /etc/nslcd.conf")
	}

	dir := daemonDir(t)
	runDir := filepath.Join(dir, "run") // mounted on /run/nslcd
	if err := os.Mkdir(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	runAs := "" // the namespace's root
	if os.Geteuid() == 0 {
		if u, err := user.Lookup("nslcd"); err == nil { // the package's system user
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			if err := os.Chown(runDir, uid, gid); err != nil {
				t.Fatal(err)
			}
			runAs = "uid nslcd\ngid " + u.Gid + "\n"
		}
	}
	conf := filepath.Join(dir, "nslcd.conf")
	// The nslcd guide's config, with short time limits for the test.
	writeFile(t, conf, runAs+d.guide(t, "nslcd").File("/etc/nslcd.conf")+`bind_timelimit 5
timelimit 5
reconnect_retrytime 1
`, 0o600)

	const script = `mount --bind "$1" /etc/nslcd.conf
mount --bind "$2" /etc/nsswitch.conf
mount -t tmpfs -o mode=0755 ldapgate-e2e /run
mkdir /run/nslcd
mount --bind "$3" /run/nslcd
exec "$4" -d`
	// nslcd logs "accepting connections" once its socket listens and its
	// threads run.
	n.start(t, "nslcd -d", script, []string{conf, nsswitch(t, dir, "ldap"), runDir, daemon},
		func() bool { return strings.Contains(n.p.out.String(), "accepting connections") })
	return n
}

func TestNslcd(t *testing.T) {
	d := startDirectory(t)
	pd := readPOSIX(t, d)
	n := startNslcd(t, d)

	t.Run("passwd by name", func(t *testing.T) {
		checkPasswd(t, n.getentLines(t, "passwd", danielUID)[0], pd.daniel)
	})
	t.Run("passwd by number", func(t *testing.T) {
		checkPasswd(t, n.getentLines(t, "passwd", pd.daniel.uidNumber)[0], pd.daniel)
	})
	// nslcd reads memberUid, which ldapgate serves with nested groups
	// resolved.
	for _, cn := range []string{"engineering", "all-staff"} {
		t.Run("group "+cn, func(t *testing.T) {
			checkGroupLine(t, n.getentLines(t, "group", cn)[0], pd.groups[cn])
			checkGroupLine(t, n.getentLines(t, "group", pd.groups[cn].gidNumber)[0], pd.groups[cn])
		})
	}
	checkLookups(t, n, pd, "engineering")
	t.Run("enumerate passwd", func(t *testing.T) {
		checkEnumeration(t, "passwd", n.getentLines(t, "passwd"), pd.users, checkPasswd)
	})
	t.Run("enumerate group", func(t *testing.T) {
		checkEnumeration(t, "group", n.getentLines(t, "group"), pd.groups, checkGroupLine)
	})
	checkSearchedBound(t, d, `filter="(&(objectClass=posixAccount)(uid=`+danielUID+`))"`)
}

// TestNslcdStartTLS: the nslcd guide's TLS settings (ssl start_tls,
// tls_reqcert demand and the CA) against a directory that requires TLS.
func TestNslcdStartTLS(t *testing.T) {
	d := startDirectoryTLS(t, startTLS)
	pd := readPOSIX(t, d)
	n := startNslcd(t, d)
	checkPasswd(t, n.getentLines(t, "passwd", danielUID)[0], pd.daniel)
	checkGroupLine(t, n.getentLines(t, "group", "engineering")[0], pd.groups["engineering"])
}

// TestNslcdLDAPS: the nslcd guide's LDAPS settings (an ldaps:// URI, ssl on
// and the CA) against a directory serving LDAPS.
func TestNslcdLDAPS(t *testing.T) {
	d := startDirectoryTLS(t, ldaps)
	pd := readPOSIX(t, d)
	n := startNslcd(t, d)
	checkPasswd(t, n.getentLines(t, "passwd", danielUID)[0], pd.daniel)
}
