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

// TestServiceAccountClientCert: a service account with client_cert_sha256
// binds with SASL EXTERNAL and that certificate over StartTLS.
func TestServiceAccountClientCert(t *testing.T) {
	dir := t.TempDir()
	server := testtool.SelfSigned(t, time.Now(), x509.ExtKeyUsageServerAuth)
	client := testtool.SelfSigned(t, time.Now(), x509.ExtKeyUsageClientAuth)
	for name, data := range map[string][]byte{"server.pem": server.CertPEM, "server.key": server.KeyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fp := sha256.Sum256(client.Leaf.Raw)
	text, _ := demoFiles(t, dir)
	text = strings.Replace(text, "ldap:\n  listen: 127.0.0.1:0\n", "ldap:\n  listen: 127.0.0.1:0\n  tls:\n    cert_file: "+
		filepath.Join(dir, "server.pem")+"\n    key_file: "+filepath.Join(dir, "server.key")+"\n", 1)
	text = strings.Replace(text, "  - name: archive\n", "  - name: archive\n    client_cert_sha256: "+hex.EncodeToString(fp[:])+"\n", 1)
	cfg, err := ParseConfig(filepath.Join(dir, "ldapgate.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	g := runGateway(t, cfg, testLog())

	c, err := ldap.DialURL("ldap://" + g.LDAPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roots := x509.NewCertPool()
	roots.AddCert(server.Leaf)
	if err := c.StartTLS(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{client.TLS}, MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	if err := c.ExternalBind(); err != nil {
		t.Fatalf("EXTERNAL bind: %v", err)
	}
	who, err := c.WhoAmI(nil)
	if err != nil || who.AuthzID != "dn:cn=archive,ou=services,dc=example,dc=com" {
		t.Errorf("who am I: %+v, %v", who, err)
	}
}
