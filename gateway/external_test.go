package gateway

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"os"
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
	server, client testtool.Cert
}

func newTLSDemo(t testing.TB) tlsDemo {
	t.Helper()
	dir := t.TempDir()
	d := tlsDemo{
		path:   filepath.Join(dir, "ldapgate.yaml"),
		server: testtool.SelfSigned(t, time.Now(), x509.ExtKeyUsageServerAuth),
		client: testtool.SelfSigned(t, time.Now(), x509.ExtKeyUsageClientAuth),
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
