package bindproxy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/bindproxy"
	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/ldapserver"
	"github.com/ldapgate/ldapgate/ldapserver/ldaptest"
	"github.com/ldapgate/ldapgate/store"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate.
type testPKI struct {
	roots          *x509.CertPool
	server, client tls.Certificate
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage, ips []net.IP) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	p := &testPKI{roots: x509.NewCertPool()}
	p.roots.AddCert(ca)
	p.server = issue(2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.client = issue(3, x509.ExtKeyUsageClientAuth, nil)
	return p
}

// upstreamUsers is the upstream directory's own password check: each
// user's "real Google password" is "google-<uid>".
type upstreamUsers struct{ binds atomic.Int64 }

func (a *upstreamUsers) AuthenticateUser(_ context.Context, u *store.ViewUser, pw string, _ net.Addr) error {
	a.binds.Add(1)
	if pw != "google-"+u.UID {
		return directory.Refused("wrong password")
	}
	return nil
}

// startUpstream serves the same directory as e over LDAPS, demanding a
// client certificate, like Google's Secure LDAP service.
func startUpstream(t *testing.T, e *env, pki *testPKI) (string, *upstreamUsers) {
	t.Helper()
	users := new(upstreamUsers)
	cfg := ldapserver.Config{LDAPS: true, Directory: directory.Config{BaseDN: "dc=example,dc=com",
		BindLimit: directory.BindLimit{PerName: -1, PerNameTotal: -1, PerAddress: -1, FailureDelay: -1}},
		TLS: &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.roots,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}}
	srv, err := ldapserver.New(cfg, e.live, nil, ldapserver.WithUserAuthenticator(users))
	if err != nil {
		t.Fatal(err)
	}
	return "ldaps://" + ldaptest.Serve(t, srv), users
}

func TestUpstreamBinds(t *testing.T) {
	pki := newPKI(t)
	noLimit := directory.BindLimit{PerName: -1, PerNameTotal: -1, PerAddress: -1, FailureDelay: -1}
	var upstream *bindproxy.UpstreamMethod
	var users *upstreamUsers
	e := newEnvMethods(t, noLimit, func(e *env) []bindproxy.Method {
		var url string
		url, users = startUpstream(t, e, pki)
		var err error
		upstream, err = bindproxy.NewUpstreamMethod(bindproxy.UpstreamConfig{
			URL: url, BindDN: "uid={uid},ou=people,dc=example,dc=com",
			TLS: &tls.Config{RootCAs: pki.roots, Certificates: []tls.Certificate{pki.client}, MinVersion: tls.VersionTLS12},
			// One bind a second, no waiting: the second new pair is busy.
			Rate: 1, Burst: 2, Wait: -1,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { upstream.Close() })
		return []bindproxy.Method{upstream}
	})
	wantBind(t, e.bind(t, danielDN, "google-daniel.kim"), true, "real password")
	wantBind(t, e.bind(t, danielMail, "google-daniel.kim"), true, "real password again (cached)")
	if n := users.binds.Load(); n != 1 {
		t.Errorf("%d upstream binds for two binds, want 1 (cached)", n)
	}
	wantBind(t, e.bind(t, danielDN, "wrong"), false, "wrong password")
	// The bucket (burst 2) is empty now: a new pair is refused as busy
	// without asking upstream.
	before := users.binds.Load()
	if err := e.bind(t, danielDN, "google-daniel.kim-2"); !ldap.IsErrorWithCode(err, ldap.LDAPResultBusy) {
		t.Errorf("over the rate: %v, want busy (51)", err)
	}
	if users.binds.Load() != before {
		t.Error("a bind over the rate limit reached the upstream directory")
	}
	u, _ := e.live.Load().UserByMail(danielMail)
	if _, err := upstream.Authenticate(context.Background(), u, "x", nil); !errors.Is(err, bindproxy.ErrBusy) {
		t.Errorf("over the rate: %v, want ErrBusy", err)
	}
}

func TestUpstreamNeedsClientCertificate(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t)
	url, users := startUpstream(t, e, pki)
	m, err := bindproxy.NewUpstreamMethod(bindproxy.UpstreamConfig{URL: url, BindDN: "uid={uid},ou=people,dc=example,dc=com",
		TLS: &tls.Config{RootCAs: pki.roots, MinVersion: tls.VersionTLS12}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	u, _ := e.live.Load().UserByMail(danielMail)
	_, err = m.Authenticate(context.Background(), u, "google-daniel.kim", nil)
	if err == nil || users.binds.Load() != 0 {
		t.Fatalf("without a client certificate: %v, %d upstream binds; want a TLS failure", err, users.binds.Load())
	}
	if !strings.Contains(err.Error(), "upstream") {
		t.Errorf("error %q does not say it was the upstream", err)
	}
}
