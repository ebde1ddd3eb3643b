package bindproxy_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/ldapserver"
)

// BenchmarkVersusSlapd compares repeated simple binds of one user on one
// connection, with the same client (go-ldap) over a Unix socket: OpenLDAP's
// slapd (mdb, {SSHA} userPassword) against ldapgate with a cached app
// password bind. Skipped without slapd (apt-get install slapd).
func BenchmarkVersusSlapd(b *testing.B) {
	b.Run("slapd", func(b *testing.B) {
		bindLoop(b, startSlapd(b), danielDN, "slapd-secret")
	})
	b.Run("ldapgate-cached", func(b *testing.B) {
		e := benchEnv(b, time.Hour)
		sock := filepath.Join(b.TempDir(), "ldapgate.sock")
		l, err := net.Listen("unix", sock)
		if err != nil {
			b.Fatal(err)
		}
		srv, err := ldapserver.New(ldapserver.Config{Directory: directory.Config{BaseDN: "dc=example,dc=com"}}, e.live, nil, ldapserver.WithUserAuthenticator(e.chain))
		if err != nil {
			b.Fatal(err)
		}
		go func() { _ = srv.Serve(l) }()
		<-srv.Ready()
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Close(ctx)
		})
		bindLoop(b, "ldapi://"+url.PathEscape(sock), danielDN, e.pw)
	})
}

func bindLoop(b *testing.B, u, dn, pw string) {
	b.Helper()
	c, err := ldap.DialURL(u)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(dn, pw); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := c.Bind(dn, pw); err != nil {
			b.Fatal(err)
		}
	}
}

// startSlapd runs slapd on a Unix socket with Daniel's entry and returns
// its ldapi URL.
func startSlapd(b *testing.B) string {
	b.Helper()
	slapd, err := exec.LookPath("slapd")
	if err != nil {
		if slapd, err = exec.LookPath("/usr/sbin/slapd"); err != nil {
			b.Skip("slapd not installed (apt-get install slapd)")
		}
	}
	dir := b.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		b.Fatal(err)
	}
	hash, err := exec.Command("/usr/sbin/slappasswd", "-s", "slapd-secret").Output()
	if err != nil {
		b.Skipf("slappasswd: %v", err)
	}
	conf := filepath.Join(dir, "slapd.conf")
	err = os.WriteFile(conf, fmt.Appendf(nil, `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile %[1]s/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "dc=example,dc=com"
rootdn "cn=admin,dc=example,dc=com"
directory %[1]s/db
`, dir), 0o600)
	if err != nil {
		b.Fatal(err)
	}
	ldif := fmt.Sprintf(`dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: %s
objectClass: inetOrgPerson
uid: daniel.kim
cn: Daniel Kim
sn: Kim
userPassword: %s
`, danielDN, strings.TrimSpace(string(hash)))
	add := exec.Command("/usr/sbin/slapadd", "-f", conf)
	add.Stdin = strings.NewReader(ldif)
	if out, err := add.CombinedOutput(); err != nil {
		b.Skipf("slapadd: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "slapd.sock")
	u := "ldapi://" + url.PathEscape(sock)
	cmd := exec.Command(slapd, "-f", conf, "-h", u, "-d", "0")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// slapd cannot be handed a listener: wait for its socket.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := ldap.DialURL(u); err == nil {
			c.Close()
			return u
		}
		if time.Now().After(deadline) {
			b.Fatal("slapd did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
