package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/internal/testtool"
	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/engine"
)

const demoPassword = "archive-demo" // documented in configs/demo.yaml and the README

// startDemo runs a gateway on the demo config with LDAP on 127.0.0.1:0, a
// store in a temporary folder and a private copy of the directory file. It
// returns the gateway, its LDAP URL and the directory file path; the gateway
// stops when the test ends.
func startDemo(t testing.TB) (g *Gateway, url, dirFile string) {
	t.Helper()
	dir := t.TempDir()
	text, dirFile := demoFiles(t, dir)
	cfg, err := ParseConfig(filepath.Join(dir, "ldapgate.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	g = runGateway(t, cfg, testLog())
	return g, "ldap://" + g.LDAPAddrs()[0].String(), dirFile
}

func TestDemoEndToEnd(t *testing.T) {
	g, url, dirFile := startDemo(t)
	v := g.View()
	if len(v.Users) < 40 || len(v.Groups) < 8 {
		t.Fatalf("after the first sync the view has %d users and %d groups", len(v.Users), len(v.Groups))
	}

	conn, err := ldap.DialURL(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind("cn=archive,ou=services,dc=example,dc=com", demoPassword); err != nil {
		t.Fatalf("service account bind: %v", err)
	}
	res, err := conn.Search(ldap.NewSearchRequest("dc=example,dc=com", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(mail=alice@example.com)", []string{"memberOf"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 || res.Entries[0].DN != "uid=alice,ou=people,dc=example,dc=com" {
		t.Fatalf("search for alice: %d entries", len(res.Entries))
	}
	memberOf := res.Entries[0].GetAttributeValues("memberOf")
	for _, want := range []string{"cn=archive-users,ou=groups,dc=example,dc=com", "cn=login,ou=privileges,dc=example,dc=com"} {
		if !slices.Contains(memberOf, want) {
			t.Errorf("alice's memberOf %q lacks %q", memberOf, want)
		}
	}

	// A change in the source reaches LDAP clients after the next sync,
	// on the same connection.
	editDirectory(t, dirFile, func(doc map[string]any) {
		for _, u := range doc["users"].(map[string]any)["users"].([]any) {
			u := u.(map[string]any)
			if u["primaryEmail"] == "alice@example.com" {
				u["name"].(map[string]any)["givenName"] = "Alicia"
			}
		}
	})
	if _, err := g.Sync(context.Background(), engine.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err = conn.Search(ldap.NewSearchRequest("dc=example,dc=com", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(uid=alice)", []string{"givenName"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("givenName") != "Alicia" {
		t.Errorf("after the sync alice's givenName is %q", res.Entries[0].GetAttributeValue("givenName"))
	}
}

// editDirectory rewrites a directory file through edit.
func editDirectory(t testing.TB, path string, edit func(doc map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDemoWithLDAPUtils runs the README's commands with OpenLDAP's clients.
func TestDemoWithLDAPUtils(t *testing.T) {
	for _, tool := range []string{"ldapsearch", "ldapdelete", "ldapmodify", "ldapadd"} {
		testtool.Find(t, "ldap-utils", tool)
	}
	g, url, _ := startDemo(t)
	bind := []string{"-x", "-H", url, "-D", "cn=archive,ou=services,dc=example,dc=com", "-w", demoPassword}
	alice, ok := g.View().UserByMail("alice@example.com")
	if !ok || len(alice.Aliases) == 0 {
		t.Fatal("demo alice missing or without aliases")
	}

	run := func(t *testing.T, stdin string, name string, args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), 0
	}

	t.Run("alice with memberOf", func(t *testing.T) {
		out, code := run(t, "", "ldapsearch", append(bind, "-b", "dc=example,dc=com", "(mail=alice@example.com)", "memberOf")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		for _, want := range []string{"dn: uid=alice,ou=people,dc=example,dc=com", "memberOf: cn=archive-users,ou=groups,dc=example,dc=com", "memberOf: cn=login,ou=privileges,dc=example,dc=com", "numEntries: 1"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("alias finds the user", func(t *testing.T) {
		for _, alias := range alice.Aliases {
			out, code := run(t, "", "ldapsearch", append(bind, "-b", "dc=example,dc=com", "(|(mail="+alias+")(mailAlternateAddress="+alias+"))", "uid")...)
			if code != 0 || !strings.Contains(out, "uid: alice\n") || !strings.Contains(out, "numEntries: 1") {
				t.Errorf("search by alias %s: exit %d\n%s", alias, code, out)
			}
		}
	})
	t.Run("groups list member DNs", func(t *testing.T) {
		out, code := run(t, "", "ldapsearch", append(bind, "-b", "ou=groups,dc=example,dc=com", "(cn=archive-users)", "member")...)
		if code != 0 || !strings.Contains(out, "member: cn=") && !strings.Contains(out, "member: uid=") {
			t.Errorf("exit %d\n%s", code, out)
		}
	})
	t.Run("anonymous reads only the RootDSE", func(t *testing.T) {
		out, code := run(t, "", "ldapsearch", "-x", "-H", url, "-b", "", "-s", "base", "+")
		if code != 0 || !strings.Contains(out, "namingContexts: dc=example,dc=com") || !strings.Contains(out, "supportedLDAPVersion: 3") {
			t.Errorf("RootDSE: exit %d\n%s", code, out)
		}
		out, code = run(t, "", "ldapsearch", "-x", "-H", url, "-b", "dc=example,dc=com", "(uid=alice)")
		if code == 0 || strings.Contains(out, "dn: uid=alice") {
			t.Errorf("anonymous search of the tree: exit %d\n%s", code, out)
		}
	})
	t.Run("writes are refused", func(t *testing.T) {
		out, code := run(t, "", "ldapdelete", append(bind, "uid=alice,ou=people,dc=example,dc=com")...)
		if code != 53 {
			t.Errorf("ldapdelete: exit %d, want 53\n%s", code, out)
		}
		out, code = run(t, "dn: uid=alice,ou=people,dc=example,dc=com\nchangetype: modify\nreplace: displayName\ndisplayName: Mallory\n", "ldapmodify", bind...)
		if code != 53 {
			t.Errorf("ldapmodify: exit %d, want 53\n%s", code, out)
		}
		out, code = run(t, "dn: uid=mallory,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: mallory\ncn: M\nsn: M\n", "ldapadd", bind...)
		if code != 53 {
			t.Errorf("ldapadd: exit %d, want 53\n%s", code, out)
		}
		if u, ok := g.View().UserByMail("alice@example.com"); !ok || u.DisplayName == "Mallory" {
			t.Error("a write changed the directory")
		}
	})
}

// TestWritesByOtherCommandsAreServed: a privilege granted with the CLI (a
// second process writing the store) is served without waiting for the next
// scheduled sync.
func TestWritesByOtherCommandsAreServed(t *testing.T) {
	dir := t.TempDir()
	text, _ := demoFiles(t, dir)
	cfg, err := ParseConfig(filepath.Join(dir, "ldapgate.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	g := runGateway(t, cfg, testLog(), func(g *Gateway) { g.storePoll = 10 * time.Millisecond })
	alice, ok := g.View().UserByMail("alice@example.com")
	if !ok || slices.Contains(alice.Privileges, "export") {
		t.Fatalf("demo alice: found %v, privileges %v", ok, alice.Privileges)
	}

	other, err := store.Open(t.Context(), cfg.StorePath())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.GrantAdmin(t.Context(), alice.ID, "export"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if u, _ := g.View().UserByMail("alice@example.com"); slices.Contains(u.Privileges, "export") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the grant made by another process was not served within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestListenAddressTaken: an LDAP address in use ends Run with an error
// that names it (it once panicked when the failure came first as Ready).
func TestListenAddressTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	text, _ := demoFiles(t, dir)
	text = strings.Replace(text, "listen: 127.0.0.1:0", "listen: "+taken.Addr().String(), 1)
	cfg, err := ParseConfig(filepath.Join(dir, "ldapgate.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 { // the race between Ready and the error went either way
		g, err := New(context.Background(), cfg, testLog())
		if err != nil {
			t.Fatal(err)
		}
		err = g.Run(context.Background())
		g.Close()
		if err == nil || !strings.Contains(err.Error(), "ldap listen "+taken.Addr().String()) || !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("Run on a taken address: %v", err)
		}
	}
}

// TestSyncWithoutChangesKeepsTheView: a sync that writes nothing keeps the
// view (and so its LDAP trees); one that writes makes a new one.
func TestSyncWithoutChangesKeepsTheView(t *testing.T) {
	g, _, dirFile := startDemo(t)
	v := g.View()
	if _, err := g.Sync(context.Background(), engine.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if g.View() != v {
		t.Error("a sync without changes built a new view")
	}
	editDirectory(t, dirFile, func(doc map[string]any) {
		for _, u := range doc["users"].(map[string]any)["users"].([]any) {
			if u := u.(map[string]any); u["primaryEmail"] == "alice@example.com" {
				u["name"].(map[string]any)["givenName"] = "Alicia"
			}
		}
	})
	if _, err := g.Sync(context.Background(), engine.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	changed := g.View()
	if changed == v {
		t.Fatal("a sync with a change kept the old view")
	}
	if u, ok := changed.UserByMail("alice@example.com"); !ok || u.GivenName != "Alicia" {
		t.Errorf("alice after the sync: %+v", u)
	}
}

// TestSyncWithoutView: a gateway for syncs alone (ldapgate sync) builds no
// view, at start or after a sync that wrote; its runs record every phase
// but the finish's view; a sync again applies nothing.
func TestSyncWithoutView(t *testing.T) {
	dir := t.TempDir()
	text, _ := demoFiles(t, dir)
	cfg, err := ParseConfig(filepath.Join(dir, "ldapgate.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(t.Context(), cfg, testLog(), WithoutView())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	first, err := g.Sync(t.Context(), engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(g.View().Users); n != 0 {
		t.Errorf("a gateway without view built one of %d users", n)
	}
	if first.Counts.UsersAdded == 0 {
		t.Errorf("first sync added no users: %+v", first.Counts)
	}
	run, err := g.DB().SyncRun(t.Context(), first.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Phases != first.Phases {
		t.Errorf("recorded phases %+v, the result's %+v", run.Phases, first.Phases)
	}
	before, err := g.DB().LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	again, err := g.Sync(t.Context(), engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after, err := g.DB().LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !again.Plan.Empty() || after.Generation != before.Generation {
		t.Errorf("a sync without changes: counts %+v, generation %d then %d", again.Counts, before.Generation, after.Generation)
	}
}

// Until a first sync succeeds the directory is unknown, not empty: LDAP
// reads below the base answer unavailable (as /readyz fails), the RootDSE
// and the service account work; the first good sync serves the directory.
func TestNoDirectoryBeforeFirstSync(t *testing.T) {
	dir := t.TempDir()
	text, dirFile := demoFiles(t, dir)
	data, err := os.ReadFile(dirFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dirFile); err != nil { // the first sync fails
		t.Fatal(err)
	}
	cfg, err := ParseConfig(filepath.Join(dir, "ldapgate.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	g := runGateway(t, cfg, testLog())
	conn, err := ldap.DialURL("ldap://" + g.LDAPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"namingContexts"}, nil)); err != nil {
		t.Fatalf("RootDSE before the first sync: %v", err)
	}
	if err := conn.Bind("cn=archive,ou=services,dc=example,dc=com", demoPassword); err != nil {
		t.Fatalf("service account bind before the first sync: %v", err)
	}
	search := func() error {
		_, err := conn.Search(ldap.NewSearchRequest("dc=example,dc=com", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(mail=alice@example.com)", []string{"uid"}, nil))
		return err
	}
	err = search()
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode != ldap.LDAPResultUnavailable || !strings.Contains(le.Err.Error(), "no directory data yet") {
		t.Fatalf("search before the first sync: %v, want unavailable: no directory data yet", err)
	}

	if err := os.WriteFile(dirFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Sync(context.Background(), engine.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := search(); err != nil {
		t.Fatalf("search after the first sync: %v", err)
	}
}

// TestWarnsWithoutBinds: a config whose binds is empty serves the
// directory, but nobody can log on; the start-up log says so.
func TestWarnsWithoutBinds(t *testing.T) {
	var buf syncBuffer
	dir := t.TempDir()
	text := strings.Replace(demoConfigText(t, dir), "binds: [app_password]\n", "", 1)
	path := filepath.Join(dir, "ldapgate.yaml")
	writeFile(t, path, text)
	startFileGatewayLog(t, path, text, &buf)
	if !bytes.Contains(buf.Bytes(), []byte("binds is empty: directory users cannot log on")) {
		t.Errorf("no warning about the empty binds:\n%s", buf.Bytes())
	}
}
