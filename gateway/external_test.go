package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/internal/testtool"
)

// tlsDemo is the demo config (monitoring on metrics.listen) in a new
// folder with ldap.tls set to a new self-signed server certificate and the
// archive account pinned to a new client certificate.
type tlsDemo struct {
	path, text     string
	serverPEM      string // the server certificate's file, for clients to trust
	server, client testtool.Cert
}

func newTLSDemo(t testing.TB) tlsDemo {
	t.Helper()
	dir := t.TempDir()
	d := tlsDemo{
		path:      filepath.Join(dir, "ldapgate.yaml"),
		serverPEM: filepath.Join(dir, "server.pem"),
		server:    testtool.SelfSigned(t, time.Now(), x509.ExtKeyUsageServerAuth),
		client:    testtool.SelfSigned(t, time.Now(), x509.ExtKeyUsageClientAuth),
	}
	for name, data := range map[string][]byte{"server.pem": d.server.CertPEM, "server.key": d.server.KeyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fp := sha256.Sum256(d.client.Leaf.Raw)
	text := demoConfigText(t, dir)
	text = strings.Replace(text, "ldap:\n  listen: 127.0.0.1:0\n", "ldap:\n  listen: 127.0.0.1:0\n  tls:\n    cert_file: "+
		filepath.Join(dir, "server.pem")+"\n    key_file: "+filepath.Join(dir, "server.key")+"\n", 1)
	d.text = strings.Replace(text, "  - name: archive\n", "  - name: archive\n    client_cert_sha256: "+hex.EncodeToString(fp[:])+"\n", 1)
	return d
}

// clientTLS trusts the server certificate and presents the client one.
func (d tlsDemo) clientTLS() *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(d.server.Leaf)
	return &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{d.client.TLS}, MinVersion: tls.VersionTLS12}
}

// externalBind binds with SASL EXTERNAL over StartTLS and returns the
// authorization identity.
func (d tlsDemo) externalBind(t testing.TB, url string) string {
	t.Helper()
	c, err := ldap.DialURL(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(d.clientTLS()); err != nil {
		t.Fatal(err)
	}
	if err := c.ExternalBind(); err != nil {
		t.Fatalf("EXTERNAL bind: %v", err)
	}
	who, err := c.WhoAmI(nil)
	if err != nil {
		t.Fatalf("who am I: %v", err)
	}
	return who.AuthzID
}

// TestServiceAccountClientCert: a service account with client_cert_sha256
// binds with SASL EXTERNAL and that certificate over StartTLS.
func TestServiceAccountClientCert(t *testing.T) {
	d := newTLSDemo(t)
	writeFile(t, d.path, d.text)
	fg := startFileGateway(t, d.path, d.text)
	if who := d.externalBind(t, fg.ldapURL); who != "dn:"+archiveDN {
		t.Errorf("who am I = %q, want dn:%s", who, archiveDN)
	}
}

// TestReloadWithClientCert rotates the password of a service account that
// also has a pinned client certificate: the reload is applied (it was
// refused as "a client certificate needs a TLS configuration"), the new
// password binds, the old one no more, and the certificate still does.
func TestReloadWithClientCert(t *testing.T) {
	d := newTLSDemo(t)
	writeFile(t, d.path, d.text)
	fg := startFileGateway(t, d.path, d.text)
	if err := bindErr(t, fg.ldapURL, archiveDN, demoPassword); err != nil {
		t.Fatalf("bind before the rotation: %v", err)
	}

	before := time.Now()
	replaceFile(t, fg.cfgPath, withArchivePassword(t, fg.text, "rotated-secret"))
	if st := waitReload(t, fg.g, before); !st.OK {
		t.Fatalf("reload refused: %v", st.Err)
	}
	if err := bindErr(t, fg.ldapURL, archiveDN, "rotated-secret"); err != nil {
		t.Errorf("bind with the new password: %v", err)
	}
	if err := bindErr(t, fg.ldapURL, archiveDN, demoPassword); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("bind with the old password: %v, want invalidCredentials", err)
	}
	if who := d.externalBind(t, fg.ldapURL); who != "dn:"+archiveDN {
		t.Errorf("who am I after the reload = %q, want dn:%s", who, archiveDN)
	}
}

// TestRequireTLS: with ldap.require_tls, a password bind or a search over
// plain LDAP answers confidentialityRequired (13) and the password is not
// checked; the RootDSE still answers (clients read it to find StartTLS);
// after StartTLS, and over LDAPS, the same bind and search succeed.
func TestRequireTLS(t *testing.T) {
	d := newTLSDemo(t)
	text := strings.Replace(d.text, "ldap:\n  listen: 127.0.0.1:0\n", "ldap:\n  listen: 127.0.0.1:0\n  ldaps_listen: 127.0.0.1:0\n  require_tls: true\n", 1)
	writeFile(t, d.path, text)
	fg := startFileGateway(t, d.path, text)
	addrs := fg.g.LDAPAddrs()
	if len(addrs) != 2 {
		t.Fatalf("listeners: %v, want LDAP and LDAPS", addrs)
	}
	search := func(c *ldap.Conn, base string, scope int) (*ldap.SearchResult, error) {
		return c.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"namingContexts", "uid"}, nil))
	}

	plain, err := ldap.DialURL(fg.ldapURL)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Bind(archiveDN, demoPassword); !ldap.IsErrorWithCode(err, ldap.LDAPResultConfidentialityRequired) {
		t.Errorf("plain bind: %v, want confidentialityRequired", err)
	}
	if _, err := search(plain, "uid=alice,ou=people,dc=example,dc=com", ldap.ScopeBaseObject); !ldap.IsErrorWithCode(err, ldap.LDAPResultConfidentialityRequired) {
		t.Errorf("plain search: %v, want confidentialityRequired", err)
	}
	if r, err := search(plain, "", ldap.ScopeBaseObject); err != nil || len(r.Entries) != 1 || r.Entries[0].GetAttributeValue("namingContexts") != "dc=example,dc=com" {
		t.Errorf("plain RootDSE read: %v", err)
	}
	if err := plain.StartTLS(d.clientTLS()); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := plain.Bind(archiveDN, demoPassword); err != nil {
		t.Errorf("bind after StartTLS: %v", err)
	}
	if r, err := search(plain, "uid=alice,ou=people,dc=example,dc=com", ldap.ScopeBaseObject); err != nil || len(r.Entries) != 1 {
		t.Errorf("search after StartTLS: %v", err)
	}

	ldaps, err := ldap.DialURL("ldaps://"+addrs[1].String(), ldap.DialWithTLSConfig(d.clientTLS()))
	if err != nil {
		t.Fatal(err)
	}
	defer ldaps.Close()
	if err := ldaps.Bind(archiveDN, demoPassword); err != nil {
		t.Errorf("bind over LDAPS: %v", err)
	}
	// A refused plain bind did not count as a failed password.
	if v := metric(t, fg.ops, `ldapgate_ldap_binds_total{method="service_account",result="invalidCredentials"}`); v > 0 {
		t.Errorf("invalidCredentials binds = %v, want none", v)
	}

	t.Run("ldapsearch", func(t *testing.T) {
		ldapsearch := testtool.Find(t, "ldap-utils", "ldapsearch")
		run := func(args ...string) (string, int) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, ldapsearch, append([]string{"-x", "-D", archiveDN, "-w", demoPassword}, args...)...)
			cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+d.serverPEM, "LDAPTLS_REQCERT=demand")
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return string(out), ee.ExitCode()
			}
			if err != nil {
				t.Fatal(err)
			}
			return string(out), 0
		}
		if out, code := run("-H", fg.ldapURL, "-b", "dc=example,dc=com", "(uid=alice)", "uid"); code != ldap.LDAPResultConfidentialityRequired {
			t.Errorf("without StartTLS: exit %d, want 13\n%s", code, out)
		}
		if out, code := run("-ZZ", "-H", fg.ldapURL, "-b", "dc=example,dc=com", "(uid=alice)", "uid"); code != 0 || !strings.Contains(out, "uid: alice") {
			t.Errorf("with -ZZ: exit %d\n%s", code, out)
		}
		if out, code := run("-H", "ldaps://"+addrs[1].String(), "-b", "dc=example,dc=com", "(uid=alice)", "uid"); code != 0 || !strings.Contains(out, "uid: alice") {
			t.Errorf("over LDAPS: exit %d\n%s", code, out)
		}
	})
}
