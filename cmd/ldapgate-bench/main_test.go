package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/ldapserver"
	"github.com/ldapgate/ldapgate/ldapserver/ldaptest"
	"github.com/ldapgate/ldapgate/store"
)

func startServer(t *testing.T) string {
	t.Helper()
	hash, err := passhash.Hash("pw", passhash.Default)
	if err != nil {
		t.Fatal(err)
	}
	st := &store.State{}
	for i := range 50 {
		st.Users = append(st.Users, store.User{ID: fmt.Sprint(i), UID: fmt.Sprintf("user%07d", i), PrimaryEmail: fmt.Sprintf("user%07d@example.com", i)})
	}
	live := &store.Live{}
	live.Store(store.NewView(st, nil, time.Now()))
	s, err := ldapserver.New(ldapserver.Config{Directory: directory.Config{BaseDN: "dc=example,dc=com",
		ServiceAccounts: []directory.ServiceAccount{{Name: "bench", PasswordHash: hash}},
		BindLimit:       directory.BindLimit{PerName: -1, PerNameTotal: -1, PerAddress: -1, FailureDelay: -1}}}, live, nil)
	if err != nil {
		t.Fatal(err)
	}
	return "ldap://" + ldaptest.Serve(t, s)
}

func TestBench(t *testing.T) {
	url := startServer(t)
	for _, mode := range []string{"search", "bind", "cycle", "paged", "paged-raw"} {
		t.Run(mode, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run([]string{"-url", url, "-D", "cn=bench,ou=services,dc=example,dc=com", "-w", "pw", "-base", "dc=example,dc=com",
				"-mode", mode, "-n", "50", "-c", "2", "-d", "200ms", "-page", "7"}, &out, &errOut)
			if code != 0 || !strings.Contains(out.String(), "errors=0 ") || strings.Contains(out.String(), " ops=0 ") {
				t.Errorf("exit %d: %s %s", code, out.String(), errOut.String())
			}
		})
	}
	if code := run([]string{"-mode", "nope"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 1 {
		t.Errorf("unknown mode: exit %d", code)
	}
}

// -mode timing binds each case -per times and reports each case's answers.
func TestTiming(t *testing.T) {
	url := startServer(t)
	var out, errOut bytes.Buffer
	code := run([]string{"-url", url, "-mode", "timing", "-per", "5", "-c", "2",
		"-case", "right|cn=bench,ou=services,dc=example,dc=com|pw",
		"-case", "unknown|uid=nobody,ou=people,dc=example,dc=com|pw"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "case=right n=5 answers=success:5 p50=") ||
		!strings.HasPrefix(lines[1], "case=unknown n=5 answers=Invalid_Credentials:5 p50=") {
		t.Errorf("output:\n%s", out.String())
	}
	if code := run([]string{"-mode", "timing", "-case", "no-password"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Errorf("bad -case: exit %d, want 2", code)
	}
}

// The raw pager reads every page and counts every entry, and reports the
// server's errors.
func TestRawPager(t *testing.T) {
	url := startServer(t)
	o := &options{url: url, bindDN: "cn=bench,ou=services,dc=example,dc=com", password: "pw", base: "dc=example,dc=com", page: 7}
	p, err := dialRaw(o)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range 2 { // the connection stays usable
		if n, err := p.read(o, "(objectClass=inetOrgPerson)"); n != 50 || err != nil {
			t.Fatalf("read %d entries, %v; want 50", n, err)
		}
	}
	if _, err := p.read(o, "(objectClass=inetOrgPerson"); err == nil {
		t.Error("a bad filter was accepted")
	}
	o.base = "dc=nowhere"
	if _, err := p.read(o, "(objectClass=*)"); err == nil || !strings.Contains(err.Error(), "result 32") {
		t.Errorf("search of a missing base: %v", err)
	}
	o.password = "wrong"
	if _, err := dialRaw(o); err == nil || !strings.Contains(err.Error(), "result 49") {
		t.Errorf("bind with a wrong password: %v", err)
	}
}
