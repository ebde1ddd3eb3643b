package ldapserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/testtool"
	"github.com/ldapgate/ldapgate/store"
)

type testCerts struct {
	server *tls.Config
	client *tls.Config
	caPEM  []byte
}

// testTLS makes a self-signed certificate for 127.0.0.1 and localhost.
func testTLS(tb testing.TB) testCerts {
	tb.Helper()
	c := testtool.SelfSigned(tb, time.Now(), x509.ExtKeyUsageServerAuth)
	pool := x509.NewCertPool()
	pool.AddCert(c.Leaf)
	return testCerts{
		server: &tls.Config{Certificates: []tls.Certificate{c.TLS}, MinVersion: tls.VersionTLS12},
		client: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12},
		caPEM:  c.CertPEM,
	}
}

func newTestServer(tb testing.TB, cfg Config, live *store.Live, opts ...Option) (*Server, *logBuffer) {
	tb.Helper()
	log, buf := newTestLogger()
	s, err := New(cfg, live, log, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return s, buf
}

// serve starts s on 127.0.0.1:0 and returns its address; cleanup closes it
// and checks that Serve ended with ErrServerClosed.
func serve(tb testing.TB, s *Server) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	<-s.Ready()
	if s.Addr() == nil {
		tb.Fatalf("Serve: %v", <-errc)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			tb.Errorf("Close: %v", err)
		}
		if err := <-errc; !errors.Is(err, ErrServerClosed) {
			tb.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s.Addr().String()
}

func startServer(tb testing.TB, opts ...Option) (*Server, string, *store.Live) {
	tb.Helper()
	live := testLive()
	s, _ := newTestServer(tb, testConfig(tb), live, opts...)
	return s, serve(tb, s), live
}

func dial(tb testing.TB, addr string) *ldap.Conn {
	tb.Helper()
	c, err := ldap.DialURL("ldap://" + addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func dialBound(tb testing.TB, addr string) *ldap.Conn {
	tb.Helper()
	c := dial(tb, addr)
	if err := c.Bind(archiveDN, archivePW); err != nil {
		tb.Fatalf("bind: %v", err)
	}
	return c
}

func ldapSearch(c *ldap.Conn, base string, scope int, filter string, attrs ...string) (*ldap.SearchResult, error) {
	return c.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
}

func entryDNs(r *ldap.SearchResult) []string {
	if r == nil {
		return nil
	}
	out := []string{}
	for _, e := range r.Entries {
		out = append(out, e.DN)
	}
	return out
}

func ldapCode(err error) uint16 {
	var le *ldap.Error
	if errors.As(err, &le) {
		return le.ResultCode
	}
	if err == nil {
		return 0
	}
	return 9999
}

func TestServerBind(t *testing.T) {
	_, addr, _ := startServer(t)
	c := dial(t, addr)
	for _, tc := range []struct {
		dn, pw string
		code   uint16
	}{
		{archiveDN, archivePW, ldap.LDAPResultSuccess},
		{backupDN, backupPW, ldap.LDAPResultSuccess},
		{"cn=Archive, ou=Services, dc=Example, dc=Com", archivePW, ldap.LDAPResultSuccess},
		{archiveDN, "wrong", ldap.LDAPResultInvalidCredentials},
		{"cn=nobody,ou=services,dc=example,dc=com", archivePW, ldap.LDAPResultInvalidCredentials},
		{aliceDN, "whatever", ldap.LDAPResultInvalidCredentials},
		{archiveDN, "", ldap.LDAPResultUnwillingToPerform},
		{"", "", ldap.LDAPResultSuccess},
	} {
		_, err := c.SimpleBind(&ldap.SimpleBindRequest{Username: tc.dn, Password: tc.pw, AllowEmptyPassword: true})
		if got := ldapCode(err); got != tc.code {
			t.Errorf("bind %q/%q: %v, want %d", tc.dn, tc.pw, err, tc.code)
		}
		var le *ldap.Error
		if errors.As(err, &le) && le.ResultCode == ldap.LDAPResultInvalidCredentials && !strings.HasSuffix(le.Error(), ": invalid credentials") {
			t.Errorf("client sees %v", err)
		}
	}
}

func TestServerSearch(t *testing.T) {
	_, addr, _ := startServer(t)
	c := dialBound(t, addr)
	tests := []struct {
		name   string
		base   string
		scope  int
		filter string
		want   []string
	}{
		{"by mail", testBase, ldap.ScopeWholeSubtree, "(mail=alice@example.com)", []string{aliceDN}},
		{"by alias", testBase, ldap.ScopeWholeSubtree, "(mailAlternateAddress=A.Liddell@example.com)", []string{aliceDN}},
		{"mail or alias", testBase, ldap.ScopeWholeSubtree, "(|(mail=a.liddell@example.com)(mailAlternateAddress=a.liddell@example.com))", []string{aliceDN}},
		{"person and mail", testBase, ldap.ScopeWholeSubtree, "(&(objectClass=person)(mail=alice@example.com))", []string{aliceDN}},
		{"member with other case", testBase, ldap.ScopeWholeSubtree, "(member=UID=ALICE, OU=People,DC=Example,DC=COM)", []string{devsDN, loginDN, readOwnDN}},
		{"nested memberOf", "ou=people," + testBase, ldap.ScopeSingleLevel, "(memberOf=cn=staff,ou=groups,dc=example,dc=com)",
			[]string{aliceDN, "uid=bob,ou=people,dc=example,dc=com", "uid=carol,ou=people,dc=example,dc=com"}},
		{"scope base", aliceDN, ldap.ScopeBaseObject, "(objectClass=*)", []string{aliceDN}},
		{"scope one", testBase, ldap.ScopeSingleLevel, "(objectClass=*)",
			[]string{"ou=people,dc=example,dc=com", "ou=groups,dc=example,dc=com", "ou=privileges,dc=example,dc=com", "ou=services,dc=example,dc=com"}},
		{"scope sub", "ou=privileges," + testBase, ldap.ScopeWholeSubtree, "(objectClass=groupOfNames)", []string{"cn=admin,ou=privileges,dc=example,dc=com", loginDN, readOwnDN}},
		{"substrings", testBase, ldap.ScopeWholeSubtree, "(&(objectClass=inetOrgPerson)(cn=*li*))", []string{aliceDN}},
		{"no match", testBase, ldap.ScopeWholeSubtree, "(uid=nobody)", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ldapSearch(c, tt.base, tt.scope, tt.filter, "1.1")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(entryDNs(r), tt.want); diff != "" {
				t.Errorf("entries (-got +want):\n%s", diff)
			}
		})
	}

	// Attributes of a user, with nested and privilege groups in memberOf.
	r, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, "(uid=alice)", "memberOf", "MAIL", "mailAlternateAddress", "cn")
	if err != nil || len(r.Entries) != 1 {
		t.Fatalf("alice: %v %v", r, err)
	}
	e := r.Entries[0]
	if diff := cmp.Diff(e.GetAttributeValues("memberOf"), []string{devsDN, engDN, staffDN, loginDN, readOwnDN}); diff != "" {
		t.Errorf("memberOf (-got +want):\n%s", diff)
	}
	if got := e.GetAttributeValue("mail"); got != "alice@example.com" {
		t.Errorf("mail %q", got)
	}
	if diff := cmp.Diff(e.GetAttributeValues("mailAlternateAddress"), []string{"a.liddell@example.com", "alice@alias.example.org"}); diff != "" {
		t.Errorf("mailAlternateAddress (-got +want):\n%s", diff)
	}
	// Groups list their member DNs (users and groups).
	r, err = ldapSearch(c, staffDN, ldap.ScopeBaseObject, "(objectClass=groupOfNames)", "member", "mail")
	if err != nil || len(r.Entries) != 1 {
		t.Fatalf("staff: %v %v", r, err)
	}
	if diff := cmp.Diff(r.Entries[0].GetAttributeValues("member"), []string{"uid=carol,ou=people,dc=example,dc=com", engDN}); diff != "" {
		t.Errorf("member (-got +want):\n%s", diff)
	}
}

func TestServerAttributeSelection(t *testing.T) {
	_, addr, _ := startServer(t)
	c := dialBound(t, addr)
	names := func(typesOnly bool, attrs ...string) ([]string, int) {
		t.Helper()
		r, err := c.Search(ldap.NewSearchRequest(archiveDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, typesOnly, "(objectClass=*)", attrs, nil))
		if err != nil || len(r.Entries) != 1 {
			t.Fatalf("%v %v", r, err)
		}
		var out []string
		vals := 0
		for _, a := range r.Entries[0].Attributes {
			out = append(out, a.Name)
			vals += len(a.Values)
		}
		return out, vals
	}
	user := []string{"objectClass", "cn"}
	oper := []string{"entryUUID", "entryDN", "structuralObjectClass", "hasSubordinates", "subschemaSubentry"}
	for _, tc := range []struct {
		attrs []string
		want  []string
	}{
		{nil, user},
		{[]string{"*"}, user},
		{[]string{"+"}, oper},
		{[]string{"*", "+"}, slices.Concat(user, oper)},
		{[]string{"1.1"}, nil},
		{[]string{"CN", "entryuuid"}, []string{"cn", "entryUUID"}},
	} {
		got, vals := names(false, tc.attrs...)
		if diff := cmp.Diff(got, tc.want); diff != "" {
			t.Errorf("%q (-got +want):\n%s", tc.attrs, diff)
		}
		if len(got) > 0 && vals == 0 {
			t.Errorf("%q: no values", tc.attrs)
		}
	}
	got, vals := names(true, "*")
	if diff := cmp.Diff(got, user); diff != "" || vals != 0 {
		t.Errorf("typesOnly: %v with %d values", got, vals)
	}
}

func TestServerLimitsAndErrors(t *testing.T) {
	_, addr, _ := startServer(t)
	c := dialBound(t, addr)

	r, err := c.Search(ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 2, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
	if ldapCode(err) != ldap.LDAPResultSizeLimitExceeded || len(r.Entries) != 2 {
		t.Errorf("size limit: %d entries, %v", len(r.Entries), err)
	}

	_, err = ldapSearch(c, "uid=nobody,ou=people,"+testBase, ldap.ScopeBaseObject, "(objectClass=*)")
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode != ldap.LDAPResultNoSuchObject || le.MatchedDN != "ou=people,dc=example,dc=com" {
		t.Errorf("noSuchObject: %v (matched %q)", err, func() string {
			if le != nil {
				return le.MatchedDN
			}
			return ""
		}())
	}

	deep := strings.Repeat("(!", 40) + "(uid=x)" + strings.Repeat(")", 40)
	_, err = ldapSearch(c, testBase, ldap.ScopeWholeSubtree, deep)
	if ldapCode(err) != ldap.LDAPResultAdminLimitExceeded {
		t.Errorf("deep filter: %v", err)
	}

	// A wide but allowed filter.
	var b strings.Builder
	b.WriteString("(|")
	for i := range 1500 {
		fmt.Fprintf(&b, "(uid=nobody%d)", i)
	}
	b.WriteString("(uid=carol))")
	r, err = ldapSearch(c, testBase, ldap.ScopeWholeSubtree, b.String(), "1.1")
	if err != nil || len(r.Entries) != 1 {
		t.Errorf("wide filter: %v %v", entryDNs(r), err)
	}

	// The connection still works.
	if _, err := ldapSearch(c, testBase, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Errorf("after errors: %v", err)
	}
}

func TestServerAnonymous(t *testing.T) {
	_, addr, _ := startServer(t)
	c := dial(t, addr)
	_, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, "(uid=alice)")
	if ldapCode(err) != ldap.LDAPResultInsufficientAccessRights {
		t.Errorf("anonymous search: %v", err)
	}
	r, err := ldapSearch(c, "", ldap.ScopeBaseObject, "(objectClass=*)", "+")
	if err != nil || len(r.Entries) != 1 {
		t.Fatalf("RootDSE: %v", err)
	}
	e := r.Entries[0]
	if got := e.GetAttributeValues("namingContexts"); !cmp.Equal(got, []string{testBase}) {
		t.Errorf("namingContexts %v", got)
	}
	if got := e.GetAttributeValue("supportedLDAPVersion"); got != "3" {
		t.Errorf("supportedLDAPVersion %q", got)
	}
	if got := e.GetAttributeValues("supportedExtension"); !cmp.Equal(got, []string{oidWhoAmI}) {
		t.Errorf("supportedExtension %v without TLS", got)
	}
	if got := e.GetAttributeValues("supportedControl"); !cmp.Equal(got, []string{oidPagedResults, oidSortRequest}) {
		t.Errorf("supportedControl %v", got)
	}
	if got := e.GetAttributeValue("vendorName"); got != "ldapgate" {
		t.Errorf("vendorName %q", got)
	}

	// A failed bind leaves the connection anonymous, even after a good one.
	if err := c.Bind(archiveDN, archivePW); err != nil {
		t.Fatal(err)
	}
	if _, err := ldapSearch(c, testBase, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Fatalf("bound search: %v", err)
	}
	if err := c.Bind(archiveDN, "wrong"); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatal(err)
	}
	if _, err := ldapSearch(c, testBase, ldap.ScopeBaseObject, "(objectClass=*)"); ldapCode(err) != ldap.LDAPResultInsufficientAccessRights {
		t.Errorf("after failed bind: %v", err)
	}

	// Bind state is per connection.
	bound := dialBound(t, addr)
	other := dial(t, addr)
	if _, err := ldapSearch(other, testBase, ldap.ScopeBaseObject, "(objectClass=*)"); ldapCode(err) != ldap.LDAPResultInsufficientAccessRights {
		t.Errorf("other connection: %v", err)
	}
	if _, err := ldapSearch(bound, testBase, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Errorf("bound connection: %v", err)
	}
}

func TestServerReadOnly(t *testing.T) {
	_, addr, _ := startServer(t)
	c := dialBound(t, addr)
	before, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, "(objectClass=*)", "*", "+")
	if err != nil {
		t.Fatal(err)
	}
	add := ldap.NewAddRequest("uid=mallory,ou=people,"+testBase, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{"mallory"})
	mod := ldap.NewModifyRequest(aliceDN, nil)
	mod.Replace("mail", []string{"mallory@example.com"})
	for name, err := range map[string]error{
		"add":    c.Add(add),
		"modify": c.Modify(mod),
		"delete": c.Del(ldap.NewDelRequest(aliceDN, nil)),
	} {
		var le *ldap.Error
		if !errors.As(err, &le) || le.ResultCode != ldap.LDAPResultUnwillingToPerform || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("%s: %v", name, err)
		}
	}
	anon := dial(t, addr)
	if err := anon.Del(ldap.NewDelRequest(aliceDN, nil)); ldapCode(err) != ldap.LDAPResultUnwillingToPerform {
		t.Errorf("anonymous delete: %v", err)
	}
	after, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, "(objectClass=*)", "*", "+")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(after, before); diff != "" {
		t.Errorf("directory changed (-after +before):\n%s", diff)
	}
}

// modrdn is answered unwillingToPerform, and the connection carries on.
func TestServerModRDN(t *testing.T) {
	_, addr, _ := startServer(t)
	c := dialBound(t, addr)
	err := c.ModifyDN(ldap.NewModifyDNRequest(aliceDN, "uid=mallory", true, ""))
	if ldapCode(err) != ldap.LDAPResultUnwillingToPerform || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("modrdn: %v, want unwillingToPerform", err)
	}
	if _, err := ldapSearch(c, aliceDN, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Errorf("after modrdn: %v", err)
	}
}

func TestServerViewSwap(t *testing.T) {
	_, addr, live := startServer(t)
	c := dialBound(t, addr)
	r, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, "(mail=erin@example.com)", "1.1")
	if err != nil || len(r.Entries) != 0 {
		t.Fatalf("before: %v %v", entryDNs(r), err)
	}
	st := testState()
	st.Users = append(st.Users, store.User{ID: "5", UID: "erin", PrimaryEmail: "erin@example.com"})
	live.Store(store.NewView(st, nil, t1))
	r, err = ldapSearch(c, testBase, ldap.ScopeWholeSubtree, "(mail=erin@example.com)", "1.1")
	if err != nil || !cmp.Equal(entryDNs(r), []string{"uid=erin,ou=people,dc=example,dc=com"}) {
		t.Fatalf("after: %v %v", entryDNs(r), err)
	}
}

func TestServerBindLimiter(t *testing.T) {
	clock := newFakeClock()
	cfg := testConfig(t)
	cfg.Directory.BindLimit = directory.BindLimit{PerName: 3, Window: time.Minute, Backoff: time.Hour, FailureDelay: -1}
	s, _ := newTestServer(t, cfg, testLive(), WithClock(clock.Now))
	addr := serve(t, s)
	c := dial(t, addr)
	for range 3 {
		if err := c.Bind(archiveDN, "wrong"); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
			t.Fatal(err)
		}
	}
	if err := c.Bind(archiveDN, archivePW); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("blocked bind: %v", err)
	}
	clock.Advance(time.Hour + time.Second)
	if err := c.Bind(archiveDN, archivePW); err != nil {
		t.Fatalf("after back-off: %v", err)
	}
}

func TestServerRecoversFromPanic(t *testing.T) {
	s, buf := newTestServer(t, testConfig(t), testLive())
	s.requestHook = func(_ context.Context, op byte, m *message) {
		if op == opSearchRequest && strings.Contains(string(m.body.Content), "cn=panic") {
			panic("test panic")
		}
	}
	addr := serve(t, s)
	c := dialBound(t, addr)
	_, err := ldapSearch(c, "cn=panic", ldap.ScopeBaseObject, "(objectClass=*)")
	if ldapCode(err) != ldap.LDAPResultOther {
		t.Errorf("panicking search: %v, want other (80)", err)
	}
	if _, err := ldapSearch(c, testBase, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Errorf("same connection after panic: %v", err)
	}
	if _, err := ldapSearch(dialBound(t, addr), testBase, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Errorf("new connection after panic: %v", err)
	}
	if !strings.Contains(buf.String(), "ldap handler panic") || !strings.Contains(buf.String(), "test panic") {
		t.Errorf("panic not logged:\n%s", buf.String())
	}
}

func TestServerOversizedMessage(t *testing.T) {
	_, addr, _ := startServer(t)
	other := dialBound(t, addr)

	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// A SEQUENCE header announcing 2 MiB: the server must hang up at once
	// rather than wait for (or allocate) the body.
	if _, err := raw.Write([]byte{0x30, 0x84, 0x00, 0x20, 0x00, 0x00, 0x02, 0x01, 0x01}); err != nil {
		t.Fatal(err)
	}
	ps := expectClosed(t, raw) // a notice, then the end
	if len(ps) != 1 || resultOfPacket(ps[0]) != directory.ResultProtocolError {
		t.Errorf("oversized message: %d packets before close, want a notice", len(ps))
	}

	// Other connections carry on, and new ones are served.
	if _, err := ldapSearch(other, testBase, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Errorf("other connection: %v", err)
	}
	if _, err := ldapSearch(dialBound(t, addr), testBase, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Errorf("new connection: %v", err)
	}
}

func isConnReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestServerStartTLS(t *testing.T) {
	certs := testTLS(t)
	cfg := testConfig(t)
	cfg.TLS = certs.server
	s, _ := newTestServer(t, cfg, testLive())
	addr := serve(t, s)

	c := dial(t, addr)
	r, err := ldapSearch(c, "", ldap.ScopeBaseObject, "(objectClass=*)", "supportedExtension")
	if err != nil || len(r.Entries) != 1 || r.Entries[0].GetAttributeValue("supportedExtension") != oidStartTLS {
		t.Fatalf("RootDSE: %v %v", r, err)
	}
	if err := c.StartTLS(certs.client); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatal("no TLS after StartTLS")
	}
	if err := c.Bind(archiveDN, archivePW); err != nil {
		t.Fatalf("bind over TLS: %v", err)
	}
	r, err = ldapSearch(c, testBase, ldap.ScopeWholeSubtree, "(uid=alice)", "mail")
	if err != nil || len(r.Entries) != 1 {
		t.Fatalf("search over TLS: %v %v", r, err)
	}

	// A client that does not trust the certificate fails the handshake;
	// the server carries on.
	bad := dial(t, addr)
	if err := bad.StartTLS(&tls.Config{ServerName: "127.0.0.1"}); err == nil {
		t.Error("StartTLS with an untrusted certificate succeeded")
	}
	if _, err := ldapSearch(dialBound(t, addr), testBase, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
		t.Errorf("after a failed handshake: %v", err)
	}
}

func TestServerStartTLSNotConfigured(t *testing.T) {
	_, addr, _ := startServer(t)
	c := dial(t, addr)
	if err := c.StartTLS(testTLS(t).client); ldapCode(err) != ldap.LDAPResultProtocolError {
		t.Errorf("StartTLS without TLS: %v, want protocolError", err)
	}
}

func TestServerLDAPS(t *testing.T) {
	certs := testTLS(t)
	cfg := testConfig(t)
	cfg.TLS, cfg.LDAPS = certs.server, true
	s, _ := newTestServer(t, cfg, testLive())
	addr := serve(t, s)

	c, err := ldap.DialURL("ldaps://"+addr, ldap.DialWithTLSConfig(certs.client))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(archiveDN, archivePW); err != nil {
		t.Fatalf("bind: %v", err)
	}
	r, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, "(mail=alice@example.com)", "uid")
	if err != nil || len(r.Entries) != 1 || r.Entries[0].GetAttributeValue("uid") != "alice" {
		t.Fatalf("search: %v %v", r, err)
	}
	r, err = ldapSearch(c, "", ldap.ScopeBaseObject, "(objectClass=*)", "supportedExtension")
	if err != nil || slices.Contains(r.Entries[0].GetAttributeValues("supportedExtension"), oidStartTLS) {
		t.Errorf("LDAPS RootDSE announces StartTLS: %v %v", r.Entries[0].GetAttributeValues("supportedExtension"), err)
	}

	// Plain LDAP to the LDAPS port gets nowhere.
	plain, err := ldap.DialURL("ldap://" + addr)
	if err == nil {
		defer plain.Close()
		plain.SetTimeout(5 * time.Second)
		if err := plain.Bind(archiveDN, archivePW); err == nil {
			t.Error("plain bind on the LDAPS port succeeded")
		}
	}
}

func TestServerCloseWithIdleClient(t *testing.T) {
	s, _ := newTestServer(t, testConfig(t), testLive())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	<-s.Ready()
	addr := s.Addr().String()
	idle, err := ldap.DialURL("ldap://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := idle.Bind(archiveDN, archivePW); err != nil {
		t.Fatal(err)
	}
	raw := rawConn(t, addr) // an idle client that is not bound
	mustWrite(t, raw, rawExtended(1, oidWhoAmI))
	readPacket(t, raw)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Close(ctx); err != nil {
		t.Errorf("Close with idle clients: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	// The raw client got a Notice of Disconnection, then EOF.
	p := readPacket(t, raw)
	if id, op := packetOp(p); id != 0 || op != opExtendedResponse || resultOfPacket(p) != directory.ResultUnavailable {
		t.Errorf("notice: id %d op %d code %v", id, op, resultOfPacket(p))
	}
	if err := <-errc; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("still accepting connections after Close")
	}
	if err := s.ListenAndServe("127.0.0.1:0"); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
}

func TestServerCloseBeforeServe(t *testing.T) {
	s, _ := newTestServer(t, testConfig(t), testLive())
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.ListenAndServe("127.0.0.1:0"); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
}

func TestServeListenError(t *testing.T) {
	s, _ := newTestServer(t, testConfig(t), testLive())
	if err := s.ListenAndServe("256.0.0.1:0"); err == nil {
		t.Error("Serve on a bad address succeeded")
	}
	<-s.Ready() // closed also on failure
	if s.Addr() != nil {
		t.Errorf("Addr %v after failure", s.Addr())
	}
}

func TestServerForgetsClosedConnections(t *testing.T) {
	s, _ := newTestServer(t, testConfig(t), testLive())
	addr := serve(t, s)
	c := dialBound(t, addr)
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d connection states, want 1", n)
	}
	closed := make(chan struct{})
	var once sync.Once
	s.mu.Lock()
	s.closedHook = func(uint64) { once.Do(func() { close(closed) }) }
	s.mu.Unlock()
	c.Close() // sends an unbind
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("connection not closed")
	}
	s.mu.Lock()
	n = len(s.conns)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("%d connection states after close", n)
	}
}
