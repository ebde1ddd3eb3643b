package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ldapgate/ldapgate/internal/testtool"
)

// SSSD (Debian's sssd-ldap and libnss-sss) serves glibc's NSS lookups from
// ldapgate with the RFC 2307bis schema: it resolves group members from the
// member DNs, following nested groups itself, where nslcd reads memberUid.
// SSSD's paths are fixed: its config /etc/sssd, its caches, sockets and the
// memory cache that libnss_sss reads directly (/var/lib/sss), its logs
// (/var/log/sssd) and pid file (/run); in its namespace (nss_test.go)
// temporary folders are bind-mounted over all of them, which also hides a
// running sssd or nscd of the machine. SSSD runs as the namespace's root,
// as Debian's package runs it.

// startSssd runs SSSD's monitor in the foreground (sssd -i) with the sssd
// guide's LDAP domain on ldapgate and its NSS and PAM responders, and
// waits until the NSS responder serves.
func startSssd(t *testing.T, d *directory) *nssClient {
	t.Helper()
	n := newNSSClient(t, "sssd-ldap libnss-sss")
	daemon := testtool.Find(t, n.pkgs, "sssd")
	n.requireLibs(t, "libnss_sss.so.2", "sssd/libsss_ldap.so") // glibc's module, SSSD's LDAP provider
	// The bind mounts need folders to mount over; the packages create them.
	for _, p := range []string{"/etc/sssd", "/var/lib/sss", "/var/log/sssd"} {
		if _, err := os.Stat(p); err != nil {
			clientMissing(t, n.pkgs, "no %s", p)
		}
	}

	dir := t.TempDir()
	// What sssd needs of /var/lib/sss: db for its caches (and the config
	// it compiles from sssd.conf), mc for the memory cache, pipes for the
	// responders' sockets and pipes/private for its internal bus.
	for _, sub := range []string{"etc/conf.d", "sss/db", "sss/mc", "sss/pipes/private", "log", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// sssd refuses a config that is not the user's own with mode 0600
	// (the user is root, or the namespace's root).
	// The sssd guide's config, and for the test: no implicit domain for
	// /etc/passwd (nsswitch.conf asks files first), and a cache timeout
	// low, but longer than the test (see TestSssd on why nothing may be
	// fetched a second time).
	conf := d.guide(t, "sssd").File("/etc/sssd/sssd.conf")
	conf = strings.Replace(conf, "[sssd]\n", "[sssd]\nenable_files_domain = false\n", 1) + "entry_cache_timeout = 60\n"
	writeFile(t, filepath.Join(dir, "etc", "sssd.conf"), conf, 0o600)
	// -i: stay in the foreground; the monitor starts sssd_be and sssd_nss,
	// which log to its stderr too. -d: failures only (0x0010 to 0x0040).
	const script = `mount --bind "$1/etc" /etc/sssd
mount --bind "$2" /etc/nsswitch.conf
mount --bind "$1/sss" /var/lib/sss
mount --bind "$1/log" /var/log/sssd
mount --bind "$1/run" /run
exec "$3" -i --logger=stderr -d 0x0070`
	// sssd resolves its own user, root, through NSS when it starts (with
	// passwd: sss alone it fails: "Failed to get the unprivileged user");
	// Daniel and his groups are not in the machine's files, so sss answers
	// for them. The monitor writes its pid file once every service (the
	// LDAP backend and the NSS responder) has started and registered.
	n.start(t, "sssd -i", script, []string{dir, nsswitch(t, dir, "sss"), daemon}, func() bool {
		_, errPid := os.Stat(filepath.Join(dir, "run", "sssd.pid"))
		_, errSock := os.Stat(filepath.Join(dir, "sss", "pipes", "nss"))
		return errPid == nil && errSock == nil
	})
	return n
}

func TestSssd(t *testing.T) {
	d := startDirectory(t)
	pd := readPOSIX(t, d)
	n := startSssd(t, d)

	// The groups come first, while SSSD's cache is empty. SSSD resolves
	// their members from the member DNs, following nested groups two
	// levels deep (ldap_group_nesting_level; all-staff > engineering >
	// platform is two), which must give ldapgate's memberUid lists. Once a
	// member (Daniel) is cached as a user, SSSD 2.8 fetching a group again
	// leaves out the members of its nested groups (engineering without
	// platform's) and lists Daniel twice in all-staff; it does the same
	// with OpenLDAP's slapd serving these entries. The cache timeout keeps
	// it from fetching them again during the test.
	//
	// Of two lookups of an entry, the first goes to ldapgate and the
	// second is answered from SSSD's cache: engineering is asked by name
	// first, all-staff and Daniel by number.
	t.Run("group engineering", func(t *testing.T) {
		g := pd.groups["engineering"]
		checkGroupLine(t, n.getentLines(t, "group", g.cn)[0], g)
		checkGroupLine(t, n.getentLines(t, "group", g.gidNumber)[0], g)
	})
	t.Run("group all-staff", func(t *testing.T) {
		g := pd.groups["all-staff"]
		checkGroupLine(t, n.getentLines(t, "group", g.gidNumber)[0], g)
		checkGroupLine(t, n.getentLines(t, "group", g.cn)[0], g)
	})
	t.Run("passwd by number", func(t *testing.T) {
		checkPasswd(t, n.getentLines(t, "passwd", pd.daniel.uidNumber)[0], pd.daniel)
	})
	t.Run("passwd by name", func(t *testing.T) {
		checkPasswd(t, n.getentLines(t, "passwd", danielUID)[0], pd.daniel)
	})
	// For initgroups SSSD finds the groups whose member is Daniel's DN,
	// then their parents by their DNs.
	checkLookups(t, n, pd, "engineering", "all-staff")
	checkSearchedBound(t, d, "(uidNumber="+pd.daniel.uidNumber+")", "(gidNumber="+pd.groups["all-staff"].gidNumber+")", "(member="+danielDN+")")
}

// TestSssdStartTLS: the sssd guide's TLS settings (ldap_id_use_start_tls,
// ldap_tls_reqcert demand and the CA) against a directory that requires
// TLS.
func TestSssdStartTLS(t *testing.T) {
	d := startDirectoryTLS(t, startTLS)
	pd := readPOSIX(t, d)
	n := startSssd(t, d)
	checkPasswd(t, n.getentLines(t, "passwd", danielUID)[0], pd.daniel)
}
