package main

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/internal/testtool"
)

func TestClientsCommand(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	code, out, errOut := cli(t, "", "clients", "-c", cfgPath)
	if code != exitOK {
		t.Fatalf("clients: exit %d\n%s", code, errOut)
	}
	for _, name := range []string{"mailstore", "nextcloud", "dovecot", "apache", "sssd", "nslcd", "grafana", "gitea", "jira", "synology", "pfsense", "keycloak"} {
		if !strings.Contains(out, "\n"+name+" ") && !strings.HasPrefix(out, name+" ") {
			t.Errorf("clients lists no %s:\n%s", name, out)
		}
	}

	// The demo listens on loopback (port 0 here) without TLS: flagged.
	code, out, errOut = cli(t, "", "clients", "mailstore", "-c", cfgPath)
	if code != exitOK {
		t.Fatalf("clients mailstore: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"Administrative DN        cn=archive,ou=services,dc=example,dc=com\n",
		"Base DN                  dc=example,dc=com\n",
		"! ldapgate listens on 127.0.0.1:0, a loopback address",
		"! no ldap.tls",
		"app password from the ldapgate portal",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("clients mailstore: no %q in\n%s", want, out)
		}
	}

	// A remote-ready config: every address, TLS required; --host names it.
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := writeTestCert(t)
	remote := strings.Replace(string(data), "listen: 127.0.0.1:0", "listen: 0.0.0.0:389\n  require_tls: true\n  tls: {cert_file: "+cert+", key_file: "+key+"}", 1)
	if err := os.WriteFile(cfgPath, []byte(remote), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cli(t, "", "clients", "mailstore", "-c", cfgPath, "--host", "ldap.example.com")
	if code != exitOK {
		t.Fatalf("clients mailstore on a remote-ready config: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "!") || !strings.Contains(out, "Server Name              ldap.example.com\n") || !strings.Contains(out, "Protocol                 LDAP-TLS\n") {
		t.Errorf("clients mailstore --host ldap.example.com with StartTLS required:\n%s", out)
	}

	for _, args := range [][]string{
		{"clients", "mailstor", "-c", cfgPath},
		{"clients", "mailstore", "nextcloud", "-c", cfgPath},
		{"clients", "mailstore", "-c", cfgPath, "--service-account", "nobody"},
	} {
		if code, _, errOut := cli(t, "", args...); code != exitUsage || !strings.Contains(errOut, "Usage:") {
			t.Errorf("%q: exit %d, want %d with the usage\n%s", args, code, exitUsage, errOut)
		}
	}
	if _, _, errOut := cli(t, "", "clients", "mailstor", "-c", cfgPath); !strings.Contains(errOut, `did you mean "mailstore"?`) {
		t.Errorf("clients mailstor: no suggestion in\n%s", errOut)
	}
}

// writeTestCert writes a self-signed server certificate and its key.
func writeTestCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	c := testtool.SelfSigned(t, time.Now(), x509.ExtKeyUsageServerAuth)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, c.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
