package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// startDovecot runs Dovecot's master (auth service only, no network
// listeners) with the dovecot guide's passdb, which checks passwords by
// binding to ldapgate as the user (auth_bind), and userdb, which reads the
// POSIX attributes. It returns a function running doveadm against it.
func startDovecot(t *testing.T, d *directory) func(args ...string) (string, error) {
	t.Helper()
	bins := need(t, "dovecot", "doveadm")
	usr, grp := serviceUser(t, "dovecot")
	login, _ := serviceUser(t, "dovenull")
	dir := daemonDir(t)
	g := d.guide(t, "dovecot")
	ldapConf := filepath.Join(dir, "dovecot-ldap.conf.ext")
	writeFile(t, ldapConf, g.File("/etc/dovecot/dovecot-ldap.conf.ext"), 0o644)
	// The guide's passdb and userdb, reading the file written here.
	authLDAP := strings.ReplaceAll(g.File("/etc/dovecot/conf.d/auth-ldap.conf.ext"), "/etc/dovecot/dovecot-ldap.conf.ext", ldapConf)
	conf := filepath.Join(dir, "dovecot.conf")
	writeFile(t, conf, `protocols =
base_dir = `+filepath.Join(dir, "run")+`
state_dir = `+filepath.Join(dir, "state")+`
log_path = /dev/stderr
ssl = no
default_internal_user = `+usr+`
default_internal_group = `+grp+`
default_login_user = `+login+`
auth_mechanisms = plain
auth_verbose = yes
auth_debug = yes
auth_cache_size = 0
auth_failure_delay = 0
first_valid_uid = 1
`+authLDAP+`
service auth {
  unix_listener auth-userdb {
    mode = 0666
  }
  unix_listener auth-client {
    mode = 0666
  }
}
service anvil {
  chroot =
}
`, 0o644)
	p := startProcess(t, bins["dovecot"], "-F", "-c", conf)
	sock := filepath.Join(dir, "run", "auth-client")
	if err := p.waitFor(func() bool { _, err := os.Stat(sock); return err == nil }); err != nil {
		t.Fatalf("dovecot: %v\n%s", err, p.out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dovecot log:\n%s", p.out)
		}
	})
	return func(args ...string) (string, error) {
		out, err := exec.Command(bins["doveadm"], append([]string{"-c", conf}, args...)...).CombinedOutput()
		return string(out), err
	}
}

func TestDovecot(t *testing.T) {
	d := startDirectory(t)
	doveadm := startDovecot(t, d)

	// auth_bind: Dovecot binds as the user with the password given.
	for _, name := range []string{danielUID, danielMail} {
		out, err := doveadm("auth", "test", "-x", "service=imap", name, d.danielPW)
		if err != nil || !strings.Contains(out, "auth succeeded") {
			t.Errorf("auth test %s with the app password: %v\n%s", name, err, out)
		}
	}
	out, err := doveadm("auth", "test", "-x", "service=imap", danielUID, "wrong-password-123")
	if err == nil || !strings.Contains(out, "auth failed") {
		t.Errorf("auth test with a wrong password: %v\n%s", err, out)
	}
	out, err = doveadm("auth", "test", "-x", "service=imap", "nobody.here", d.danielPW)
	if err == nil || !strings.Contains(out, "auth failed") {
		t.Errorf("auth test of an unknown user: %v\n%s", err, out)
	}

	// userdb: the POSIX attributes.
	out, err = doveadm("user", danielUID)
	t.Logf("doveadm user:\n%s", out)
	if err != nil {
		t.Fatalf("doveadm user: %v\n%s", err, out)
	}
	for _, want := range []string{"home\t/home/" + danielUID, "uid\t", "gid\t"} {
		if !strings.Contains(out, want) {
			t.Errorf("doveadm user: no %q in\n%s", want, out)
		}
	}
	// userdb iteration lists every POSIX user.
	out, err = doveadm("user", "-u", "*")
	if err != nil || !strings.Contains(out, danielUID) || strings.Count(out, "\n") < 5 {
		t.Errorf("doveadm user -u '*': %v\n%s", err, out)
	}
}

// TestDovecotStartTLS: the dovecot guide's TLS settings (tls = yes and the
// CA) against a directory that requires TLS.
func TestDovecotStartTLS(t *testing.T) {
	d := startDirectoryTLS(t, startTLS)
	doveadm := startDovecot(t, d)
	if out, err := doveadm("auth", "test", "-x", "service=imap", danielUID, d.danielPW); err != nil || !strings.Contains(out, "auth succeeded") {
		t.Errorf("auth test over StartTLS: %v\n%s", err, out)
	}
	if out, err := doveadm("user", danielUID); err != nil || !strings.Contains(out, "home\t/home/"+danielUID) {
		t.Errorf("doveadm user over StartTLS: %v\n%s", err, out)
	}
}

// TestDovecotLDAPS: the dovecot guide's LDAPS settings (an ldaps:// URI and
// the CA) against a directory serving LDAPS.
func TestDovecotLDAPS(t *testing.T) {
	d := startDirectoryTLS(t, ldaps)
	doveadm := startDovecot(t, d)
	if out, err := doveadm("auth", "test", "-x", "service=imap", danielUID, d.danielPW); err != nil || !strings.Contains(out, "auth succeeded") {
		t.Errorf("auth test over LDAPS: %v\n%s", err, out)
	}
}
