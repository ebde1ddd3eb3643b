package ldapserver

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	asn1ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/dirtest"
	"github.com/ldapgate/ldapgate/internal/testtool"
)

// clientCert makes a self-signed client certificate valid an hour either
// side of at; fp is its SHA-256 fingerprint as openssl prints it.
func clientCert(tb testing.TB, at time.Time) (cert testtool.Cert, fp string) {
	tb.Helper()
	cert = testtool.SelfSigned(tb, at, x509.ExtKeyUsageClientAuth)
	sum := sha256.Sum256(cert.Leaf.Raw)
	pairs := make([]string, len(sum))
	for i, b := range sum {
		pairs[i] = strings.ToUpper(hex.EncodeToString([]byte{b}))
	}
	return cert, strings.Join(pairs, ":")
}

// externalServer serves testConfig with TLS (LDAPS if ldaps) and the
// archive account bound to the certificate with fingerprint fp; its clock
// is clock.
func externalServer(t *testing.T, fp string, ldaps bool, clock *fakeClock) (addr string, certs testCerts, s *Server) {
	t.Helper()
	certs = testTLS(t)
	cfg := testConfig(t)
	cfg.TLS = certs.server
	cfg.LDAPS = ldaps
	cfg.Directory.ServiceAccounts[0].ClientCertSHA256 = fp
	s, _ = newTestServer(t, cfg, testLive(), WithClock(clock.Now))
	return serve(t, s), certs, s
}

func dialStartTLS(t *testing.T, addr string, client *tls.Config, cert *tls.Certificate) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL("ldap://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cfg := client.Clone()
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	if err := c.StartTLS(cfg); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExternalBind(t *testing.T) {
	clock := dirtest.NewClockAt(time.Now())
	cert, fp := clientCert(t, clock.Now())
	other, _ := clientCert(t, clock.Now())
	addr, certs, _ := externalServer(t, fp, false, clock)

	c := dialStartTLS(t, addr, certs.client, &cert.TLS)
	if err := c.ExternalBind(); err != nil {
		t.Fatalf("EXTERNAL bind with the account's certificate: %v", err)
	}
	who, err := c.WhoAmI(nil)
	if err != nil || who.AuthzID != "dn:"+archiveDN {
		t.Fatalf("who am I after EXTERNAL: %+v, %v", who, err)
	}
	if _, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, "(uid=alice)"); err != nil {
		t.Errorf("search as the account: %v", err)
	}

	// Without a certificate, or before TLS: inappropriateAuthentication.
	if err := dialStartTLS(t, addr, certs.client, nil).ExternalBind(); ldapCode(err) != ldap.LDAPResultInappropriateAuthentication {
		t.Errorf("EXTERNAL without a client certificate: %v, want inappropriateAuthentication", err)
	}
	plain, err := ldap.DialURL("ldap://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.ExternalBind(); ldapCode(err) != ldap.LDAPResultInappropriateAuthentication {
		t.Errorf("EXTERNAL before TLS: %v, want inappropriateAuthentication", err)
	}

	// Another certificate is no account's; the connection stays anonymous.
	oc := dialStartTLS(t, addr, certs.client, &other.TLS)
	if err := oc.ExternalBind(); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Errorf("EXTERNAL with an unknown certificate: %v, want invalidCredentials", err)
	}
	if who, err := oc.WhoAmI(nil); err != nil || who.AuthzID != "" {
		t.Errorf("who am I after the failed bind: %+v, %v", who, err)
	}

	// An expired certificate no longer binds.
	clock.Advance(2 * time.Hour)
	if err := dialStartTLS(t, addr, certs.client, &cert.TLS).ExternalBind(); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Errorf("EXTERNAL with an expired certificate: %v, want invalidCredentials", err)
	}
}

// rawSASLBind encodes a SASL bind with mechanism mech and, unless
// omitted, credentials creds.
func rawSASLBind(id int64, mech, creds string, omitCreds bool) []byte {
	op := asn1ber.Encode(asn1ber.ClassApplication, asn1ber.TypeConstructed, opBindRequest, nil, "bind")
	op.AppendChild(asn1ber.NewInteger(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagInteger, 3, "version"))
	op.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, "", "dn"))
	sasl := asn1ber.Encode(asn1ber.ClassContext, asn1ber.TypeConstructed, 3, nil, "sasl")
	sasl.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, mech, "mechanism"))
	if !omitCreds {
		sasl.AppendChild(asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, asn1ber.TagOctetString, creds, "credentials"))
	}
	op.AppendChild(sasl)
	return envelope(id, op)
}

// TestExternalBindAuthzID: the authorization identity may be left out or
// name the certificate's account, nothing else; other mechanisms are not
// supported.
func TestExternalBindAuthzID(t *testing.T) {
	clock := dirtest.NewClockAt(time.Now())
	cert, fp := clientCert(t, clock.Now())
	addr, certs, _ := externalServer(t, fp, true, clock)
	cfg := certs.client.Clone()
	cfg.Certificates = []tls.Certificate{cert.TLS}
	c := tls.Client(rawConn(t, addr), cfg)
	for i, tc := range []struct {
		mech, creds string
		omit        bool
		want        directory.ResultCode
	}{
		{"EXTERNAL", "", true, directory.ResultSuccess},
		{"EXTERNAL", "", false, directory.ResultSuccess},
		{"EXTERNAL", "dn:" + strings.ToUpper(archiveDN), false, directory.ResultSuccess},
		{"EXTERNAL", "dn:cn=other,ou=services,dc=example,dc=com", false, directory.ResultInvalidCredentials},
		{"EXTERNAL", "u:archive", false, directory.ResultInvalidCredentials},
		{"PLAIN", "\x00archive\x00secret", false, directory.ResultAuthMethodNotSupported},
		{"external", "", true, directory.ResultAuthMethodNotSupported}, // mechanism names are case-sensitive
	} {
		mustWrite(t, c, rawSASLBind(int64(i+1), tc.mech, tc.creds, tc.omit))
		if got := resultOfPacket(readPacket(t, c)); got != tc.want {
			t.Errorf("%s %q: %v, want %v", tc.mech, tc.creds, got, tc.want)
		}
	}
}

// TestExternalAnnouncedAndReloaded: the RootDSE names EXTERNAL when TLS is
// on, and a certificate added by Reload binds at once.
func TestExternalAnnouncedAndReloaded(t *testing.T) {
	clock := dirtest.NewClockAt(time.Now())
	cert, fp := clientCert(t, clock.Now())
	addr, certs, s := externalServer(t, "", false, clock)
	c := dialStartTLS(t, addr, certs.client, &cert.TLS)
	r, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"supportedSASLMechanisms"}, nil))
	if err != nil || len(r.Entries) != 1 || strings.Join(r.Entries[0].GetAttributeValues("supportedSASLMechanisms"), " ") != "EXTERNAL" {
		t.Fatalf("RootDSE supportedSASLMechanisms: %v, %v", r, err)
	}
	if err := c.ExternalBind(); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("EXTERNAL before the certificate is configured: %v", err)
	}
	st := s.Directory().Settings()
	for i := range st.ServiceAccounts {
		if st.ServiceAccounts[i].Name == "archive" {
			st.ServiceAccounts[i].ClientCertSHA256 = strings.ToLower(strings.ReplaceAll(fp, ":", ""))
		}
	}
	if err := s.Directory().Reload(st); err != nil {
		t.Fatal(err)
	}
	if err := c.ExternalBind(); err != nil {
		t.Errorf("EXTERNAL after Reload added the certificate: %v", err)
	}
}

func TestExternalConfig(t *testing.T) {
	_, fp := clientCert(t, time.Now())
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"bad fingerprint", func(c *Config) { c.Directory.ServiceAccounts[0].ClientCertSHA256 = "AB:CD" }, "expected 64 hex digits"},
		{"not hex", func(c *Config) { c.Directory.ServiceAccounts[0].ClientCertSHA256 = strings.Repeat("zz", 32) }, "expected hex digits"},
		{"no TLS", func(c *Config) { c.TLS = nil; c.Directory.ServiceAccounts[0].ClientCertSHA256 = fp }, "needs a TLS configuration"},
		{"same certificate twice", func(c *Config) {
			c.Directory.ServiceAccounts = append(c.Directory.ServiceAccounts, directory.ServiceAccount{Name: "backup", PasswordHash: c.Directory.ServiceAccounts[0].PasswordHash})
			c.Directory.ServiceAccounts[0].ClientCertSHA256, c.Directory.ServiceAccounts[1].ClientCertSHA256 = fp, strings.ToLower(fp)
		}, "same client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.TLS = testTLS(t).server
			tc.change(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}
