package ldapserver

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/internal/testtool"
)

// These tests drive the server with OpenLDAP's command line tools (Debian
// ldap-utils), the clients admins debug with. Without the tools they are
// skipped, except in CI (CI set), where they must run.

type ldapTool struct {
	t   *testing.T
	env []string
}

func newLDAPTool(t *testing.T) *ldapTool {
	t.Helper()
	for _, bin := range []string{"ldapsearch", "ldapadd", "ldapmodify", "ldapdelete", "ldapwhoami", "ldapcompare", "ldappasswd", "ldapmodrdn"} {
		testtool.Find(t, "ldap-utils", bin)
	}
	// Keep the user's and the system's ldap.conf out.
	dir := t.TempDir()
	conf := filepath.Join(dir, "ldap.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir, "LDAPCONF=" + conf, "LDAPRC=" + filepath.Join(dir, "ldaprc"), "PATH=" + os.Getenv("PATH")}
	return &ldapTool{t: t, env: env}
}

// run runs an ldap-utils command and returns its output (stdout and
// stderr) and exit code.
func (lt *ldapTool) run(stdin string, name string, args ...string) (string, int) {
	lt.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = lt.env
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	lt.t.Fatalf("%s: %v", name, err)
	return "", -1
}

// ldif parses -LLL output into DN -> attribute -> values.
func ldif(out string) map[string]map[string][]string {
	res := map[string]map[string][]string{}
	var cur map[string][]string
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		if k == "dn" {
			cur = map[string][]string{}
			res[v] = cur
			continue
		}
		if cur != nil {
			cur[k] = append(cur[k], v)
		}
	}
	return res
}

func TestLDAPUtils(t *testing.T) {
	lt := newLDAPTool(t)
	_, addr, _ := startServer(t)
	url := "ldap://" + addr
	bound := []string{"-x", "-H", url, "-D", archiveDN, "-w", archivePW, "-o", "ldif_wrap=no", "-LLL"}
	search := func(args ...string) (string, int) {
		return lt.run("", "ldapsearch", append(slices.Clone(bound), args...)...)
	}

	t.Run("search by mail", func(t *testing.T) {
		out, code := search("-b", testBase, "(mail=alice@example.com)", "uid", "mail", "memberOf")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		want := map[string]map[string][]string{aliceDN: {
			"uid": {"alice"}, "mail": {"alice@example.com"},
			"memberOf": {devsDN, engDN, staffDN, loginDN, readOwnDN},
		}}
		if diff := cmp.Diff(ldif(out), want); diff != "" {
			t.Errorf("(-got +want):\n%s", diff)
		}
	})
	t.Run("search by alias", func(t *testing.T) {
		out, code := search("-b", testBase, "(|(mail=alice@alias.example.org)(mailAlternateAddress=alice@alias.example.org))", "1.1")
		if code != 0 || !cmp.Equal(keys(ldif(out)), []string{aliceDN}) {
			t.Errorf("exit %d: %s", code, out)
		}
	})
	t.Run("member with other case", func(t *testing.T) {
		out, code := search("-b", "ou=groups,"+testBase, "-s", "one", "(member=UID=Alice, OU=People, DC=Example, DC=Com)", "member")
		if code != 0 || !cmp.Equal(keys(ldif(out)), []string{devsDN}) {
			t.Errorf("exit %d: %s", code, out)
		}
	})
	t.Run("size limit", func(t *testing.T) {
		out, code := search("-z", "2", "-b", "ou=people,"+testBase, "-s", "one", "(objectClass=person)", "1.1")
		if code != 4 || len(ldif(out)) != 2 {
			t.Errorf("exit %d, want 4 with 2 entries: %s", code, out)
		}
	})
	t.Run("no such object", func(t *testing.T) {
		out, code := search("-b", "uid=nobody,ou=people,"+testBase, "-s", "base")
		if code != 32 || !strings.Contains(out, "Matched DN: ou=people,dc=example,dc=com") {
			t.Errorf("exit %d, want 32 with matched DN: %s", code, out)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		out, code := lt.run("", "ldapsearch", "-x", "-H", url, "-D", archiveDN, "-w", "wrong", "-b", testBase, "-s", "base")
		if code != 49 {
			t.Errorf("exit %d, want 49: %s", code, out)
		}
	})
	t.Run("anonymous", func(t *testing.T) {
		out, code := lt.run("", "ldapsearch", "-x", "-H", url, "-LLL", "-b", testBase, "(uid=alice)")
		if code != 50 {
			t.Errorf("anonymous search: exit %d, want 50: %s", code, out)
		}
		out, code = lt.run("", "ldapsearch", "-x", "-H", url, "-LLL", "-b", "", "-s", "base", "+")
		root := ldif("dn: \n" + out)[""]
		if code != 0 || !cmp.Equal(root["namingContexts"], []string{testBase}) || !cmp.Equal(root["supportedLDAPVersion"], []string{"3"}) {
			t.Errorf("RootDSE: exit %d: %s", code, out)
		}
	})
	t.Run("writes refused", func(t *testing.T) {
		auth := []string{"-x", "-H", url, "-D", archiveDN, "-w", archivePW}
		for _, tc := range []struct {
			tool, stdin string
			args        []string
		}{
			{"ldapadd", "dn: uid=mallory,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: mallory\ncn: m\nsn: m\n", nil},
			{"ldapmodify", "dn: " + aliceDN + "\nchangetype: modify\nreplace: mail\nmail: mallory@example.com\n", nil},
			{"ldapdelete", "", []string{aliceDN}},
		} {
			out, code := lt.run(tc.stdin, tc.tool, append(slices.Clone(auth), tc.args...)...)
			if code != 53 || !strings.Contains(out, "read-only") {
				t.Errorf("%s: exit %d, want 53: %s", tc.tool, code, out)
			}
		}
		out, code := search("-b", aliceDN, "-s", "base", "mail")
		if code != 0 || !cmp.Equal(ldif(out)[aliceDN]["mail"], []string{"alice@example.com"}) {
			t.Errorf("after writes: exit %d: %s", code, out)
		}
	})
}

func TestLDAPUtilsProtocol(t *testing.T) {
	lt := newLDAPTool(t)
	live := testLive()
	live.Store(bigView(35))
	s, _ := newTestServer(t, testConfig(t), live)
	url := "ldap://" + serve(t, s)
	auth := []string{"-x", "-H", url, "-D", archiveDN, "-w", archivePW}
	user0 := "uid=user0000000,ou=people," + testBase

	t.Run("paged search", func(t *testing.T) {
		out, code := lt.run("", "ldapsearch", append(slices.Clone(auth), "-LLL", "-E", "pr=10/noprompt",
			"-b", "ou=people,"+testBase, "-s", "one", "(objectClass=person)", "uid")...)
		if code != 0 || len(ldif(out)) != 35 {
			t.Errorf("exit %d, %d entries, want 35: %s", code, len(ldif(out)), out)
		}
		// Critical paging is supported too; an unknown critical control is not.
		out, code = lt.run("", "ldapsearch", append(slices.Clone(auth), "-LLL", "-E", "!pr=7/noprompt",
			"-b", "ou=people,"+testBase, "-s", "one", "(objectClass=person)", "1.1")...)
		if code != 0 || len(ldif(out)) != 35 {
			t.Errorf("critical paging: exit %d, %d entries: %s", code, len(ldif(out)), out)
		}
		out, code = lt.run("", "ldapsearch", append(slices.Clone(auth), "-LLL", "-E", "!1.2.3.4.5",
			"-b", testBase, "-s", "base", "1.1")...)
		if code != 12 {
			t.Errorf("unknown critical control: exit %d, want 12: %s", code, out)
		}
	})
	t.Run("sorted search", func(t *testing.T) {
		out, code := lt.run("", "ldapsearch", append(slices.Clone(auth), "-LLL", "-o", "ldif_wrap=no", "-E", "!sss=-uid", "-E", "pr=4/noprompt",
			"-b", "ou=people,"+testBase, "-s", "one", "(objectClass=person)", "uid")...)
		var uids []string
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(line, "uid: "); ok {
				uids = append(uids, v)
			}
		}
		if code != 0 || len(uids) != 35 || uids[0] != "user0000034" || uids[34] != "user0000000" {
			t.Errorf("exit %d, uids %v: %s", code, uids, out)
		}
		out, code = lt.run("", "ldapsearch", append(slices.Clone(auth), "-LLL", "-E", "!sss=nosuchattr",
			"-b", "ou=people,"+testBase, "-s", "one", "(objectClass=person)", "1.1")...)
		if code != 12 {
			t.Errorf("critical sort by an unknown type: exit %d, want 12: %s", code, out)
		}
	})
	t.Run("whoami", func(t *testing.T) {
		out, code := lt.run("", "ldapwhoami", auth...)
		if code != 0 || strings.TrimSpace(out) != "dn:"+archiveDN {
			t.Errorf("bound: exit %d: %s", code, out)
		}
		out, code = lt.run("", "ldapwhoami", "-x", "-H", url)
		if code != 0 || strings.TrimSpace(out) != "anonymous" {
			t.Errorf("anonymous: exit %d: %s", code, out)
		}
	})
	t.Run("compare", func(t *testing.T) {
		out, code := lt.run("", "ldapcompare", append(slices.Clone(auth), "cn=group"+"g000,ou=groups,"+testBase, "member:"+user0)...)
		if code != 6 || !strings.Contains(out, "TRUE") {
			t.Errorf("member: exit %d, want 6 (TRUE): %s", code, out)
		}
		out, code = lt.run("", "ldapcompare", append(slices.Clone(auth), user0, "mail:nobody@example.com")...)
		if code != 5 || !strings.Contains(out, "FALSE") {
			t.Errorf("mail: exit %d, want 5 (FALSE): %s", code, out)
		}
	})
	t.Run("passwd and modrdn refused", func(t *testing.T) {
		out, code := lt.run("", "ldappasswd", append(slices.Clone(auth), "-s", "new-password", user0)...)
		if code == 0 || !strings.Contains(out, "unwilling to perform (53)") { // ldappasswd exits 1 on any error
			t.Errorf("ldappasswd: exit %d, want unwillingToPerform: %s", code, out)
		}
		out, code = lt.run("", "ldapmodrdn", append(slices.Clone(auth), user0, "uid=mallory")...)
		if code != 53 || !strings.Contains(out, "read-only") {
			t.Errorf("ldapmodrdn: exit %d, want 53: %s", code, out)
		}
	})
	t.Run("sasl", func(t *testing.T) {
		out, code := lt.run("", "ldapwhoami", "-H", url, "-Y", "EXTERNAL")
		if code == 0 {
			t.Errorf("SASL EXTERNAL succeeded: %s", out)
		}
	})
}

func TestLDAPUtilsTLS(t *testing.T) {
	lt := newLDAPTool(t)
	certs := testTLS(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, certs.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	lt.env = append(lt.env, "LDAPTLS_CACERT="+ca, "LDAPTLS_REQCERT=demand")

	for _, ldaps := range []bool{false, true} {
		cfg := testConfig(t)
		cfg.TLS, cfg.LDAPS = certs.server, ldaps
		s, _ := newTestServer(t, cfg, testLive())
		addr := serve(t, s)
		args := []string{"-x", "-H", "ldap://" + addr, "-ZZ"}
		if ldaps {
			args = []string{"-x", "-H", "ldaps://" + addr}
		}
		args = append(args, "-D", archiveDN, "-w", archivePW, "-LLL", "-b", testBase, "(uid=alice)", "mail")
		out, code := lt.run("", "ldapsearch", args...)
		if code != 0 || !cmp.Equal(ldif(out)[aliceDN]["mail"], []string{"alice@example.com"}) {
			t.Errorf("ldaps=%v: exit %d: %s", ldaps, code, out)
		}
	}
}

// TestLDAPUtilsExternal: ldapwhoami binds with SASL EXTERNAL and a client
// certificate, over StartTLS and LDAPS.
func TestLDAPUtilsExternal(t *testing.T) {
	lt := newLDAPTool(t)
	cert, fp := clientCert(t, time.Now())
	dir := t.TempDir()
	certs := testTLS(t)
	files := map[string][]byte{"ca.pem": certs.caPEM, "cert.pem": cert.CertPEM, "key.pem": cert.KeyPEM}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lt.env = append(lt.env, "LDAPTLS_CACERT="+filepath.Join(dir, "ca.pem"), "LDAPTLS_REQCERT=demand",
		"LDAPTLS_CERT="+filepath.Join(dir, "cert.pem"), "LDAPTLS_KEY="+filepath.Join(dir, "key.pem"))
	for _, ldaps := range []bool{false, true} {
		cfg := testConfig(t)
		cfg.TLS, cfg.LDAPS = certs.server, ldaps
		cfg.Directory.ServiceAccounts[0].ClientCertSHA256 = fp
		s, _ := newTestServer(t, cfg, testLive())
		addr := serve(t, s)
		args := []string{"-H", "ldap://" + addr, "-ZZ", "-Y", "EXTERNAL"}
		if ldaps {
			args = []string{"-H", "ldaps://" + addr, "-Y", "EXTERNAL"}
		}
		out, code := lt.run("", "ldapwhoami", args...)
		if code != 0 || !strings.Contains(out, "dn:"+archiveDN) {
			t.Errorf("ldaps=%v: ldapwhoami -Y EXTERNAL: exit %d: %s", ldaps, code, out)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
