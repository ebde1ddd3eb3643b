// Package e2e_test runs real LDAP clients from Debian packages (Dovecot,
// Apache httpd with mod_authnz_ldap, nslcd and SSSD with glibc's NSS, PHP's
// ldap extension and python-ldap) against ldapgate's LDAP server on
// loopback: each test starts the client as its own process in t.TempDir()
// with a generated config or script. The clients' settings come from
// package connect, which `ldapgate clients` and the admin page's Connect
// page print, so the guides say what these tests ran.
//
// The tests skip when a client's binaries are missing, unless the
// environment variable CI is set (then they fail): .ci/run installs them
// (apt-get install dovecot-core dovecot-ldap apache2 nslcd libnss-ldapd
// sssd-ldap libnss-sss php-cli php-ldap python3-ldap).
package e2e_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/bindproxy"
	"github.com/ldapgate/ldapgate/connect"
	ldapdir "github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/apppassword"
	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/internal/pgtest"
	"github.com/ldapgate/ldapgate/internal/testtool"
	"github.com/ldapgate/ldapgate/ldapserver"
	"github.com/ldapgate/ldapgate/ldapserver/ldaptest"
	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/dirfile"
	"github.com/ldapgate/ldapgate/sync/engine"
)

const (
	demoFile   = "../../configs/demo-directory.json"
	baseDN     = "dc=example,dc=com"
	archiveDN  = "cn=archive,ou=services,dc=example,dc=com"
	archivePW  = "archive-e2e-secret"
	danielMail = "daniel.kim@example.com"
	danielUID  = "daniel.kim"
	danielDN   = "uid=daniel.kim,ou=people,dc=example,dc=com"
	// Daniel is a direct member of engineering, a nested member of
	// all-staff (through engineering), and not in management.
	engineeringDN = "cn=engineering,ou=groups,dc=example,dc=com"
	allStaffDN    = "cn=all-staff,ou=groups,dc=example,dc=com"
	managementDN  = "cn=management,ou=groups,dc=example,dc=com"
)

// directory is ldapgate's LDAP side over the demo directory, with POSIX
// attributes, the archive service account and an app password for Daniel.
type directory struct {
	addr     string // host:port
	danielPW string // Daniel's app password
	live     *store.Live
	log      *logBuffer
	// caFile is the certificate of a directory with TLS, which clients
	// trust; "" without TLS.
	caFile string
	ldaps  bool // the listener speaks LDAPS, not StartTLS
}

// How startDirectoryTLS serves: in the clear, StartTLS required, LDAPS.
const (
	plainLDAP = iota
	startTLS
	ldaps
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openStore opens an empty store, closed when the test ends: SQLite, or
// with LDAPGATE_TEST_STORE=postgres a database on the tests' PostgreSQL,
// so that the clients' app password binds read PostgreSQL (.ci/run runs
// the suite both ways).
func openStore(t *testing.T) *store.DB {
	t.Helper()
	var (
		db  *store.DB
		err error
	)
	if os.Getenv("LDAPGATE_TEST_STORE") == "postgres" {
		db, err = store.OpenPostgres(t.Context(), pgtest.DSN(t))
	} else {
		db, err = store.Open(t.Context(), filepath.Join(t.TempDir(), "ldapgate.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func startDirectory(t *testing.T) *directory {
	t.Helper()
	return startDirectoryTLS(t, plainLDAP)
}

// startDirectoryTLS starts the directory; with TLS (a self-signed
// certificate for 127.0.0.1) it serves StartTLS and refuses everything
// else on a plain connection (ldap.require_tls), or serves LDAPS, so a
// client works only if its TLS settings do.
func startDirectoryTLS(t *testing.T, mode int) *directory {
	t.Helper()
	ctx := context.Background()
	db := openStore(t)
	opts := engine.Options{Filter: engine.Filter{Groups: []string{"archive-users@example.com"}}, PrimaryDomain: "example.com", MaxDeletePercent: 100}
	if _, err := engine.New(dirfile.New(demoFile), db, opts, nil).Run(ctx, engine.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := db.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := &directory{live: new(store.Live), log: &logBuffer{}}
	d.live.Store(store.NewView(st, []string{"login"}, time.Now()))
	u, ok := d.live.Load().UserByMail(danielMail)
	if !ok {
		t.Fatal("no Daniel in the demo directory")
	}
	var rec store.AppPassword
	d.danielPW, rec, err = apppassword.New(u.ID, "e2e", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateAppPassword(ctx, rec); err != nil {
		t.Fatal(err)
	}
	apm, err := bindproxy.NewAppPasswordMethod(db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { apm.Close() })
	chain := bindproxy.NewChain([]bindproxy.Method{apm}, bindproxy.Options{CacheTTL: time.Minute})
	svcHash, err := passhash.Hash(archivePW, passhash.Default)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ldapserver.Config{Directory: ldapdir.Config{
		BaseDN:          baseDN,
		ServiceAccounts: []ldapdir.ServiceAccount{{Name: "archive", PasswordHash: svcHash}},
		POSIX:           ldapdir.POSIX{Enabled: true},
		BindLimit:       ldapdir.BindLimit{PerName: -1, PerAddress: -1},
	}}
	if mode != plainLDAP {
		c := testtool.SelfSigned(t, time.Now(), x509.ExtKeyUsageServerAuth)
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{c.TLS}, MinVersion: tls.VersionTLS12}
		cfg.RequireTLS = mode == startTLS
		cfg.LDAPS = mode == ldaps
		d.ldaps = cfg.LDAPS
		d.caFile = filepath.Join(daemonDir(t), "ldapgate-ca.pem") // the daemons' workers read it
		writeFile(t, d.caFile, string(c.CertPEM), 0o644)
	}
	log := slog.New(slog.NewTextHandler(d.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := ldapserver.New(cfg, d.live, log, ldapserver.WithUserAuthenticator(chain))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the server's cleanup
		if t.Failed() {
			t.Logf("ldapgate log:\n%s", d.log)
		}
	})
	d.addr = ldaptest.Serve(t, srv)
	return d
}

// guide returns the client's guide for this directory, as `ldapgate
// clients NAME` prints it for a config like the test's (POSIX on, no TLS,
// the archive service account), with the service account's password
// filled in; set changes the settings further.
func (d *directory) guide(t *testing.T, name string, set ...func(*connect.Settings)) connect.Guide {
	t.Helper()
	s := connect.Settings{
		BaseDN: baseDN, Listen: d.addr, ServiceAccounts: []string{"archive"},
		POSIX: true, Binds: []string{"app_password"}, BindPassword: archivePW,
		TLS: d.caFile != "", RequireTLS: d.caFile != "",
	}
	if d.ldaps {
		s.LDAPSListen = d.addr
	}
	for _, f := range set {
		f(&s)
	}
	g, err := connect.For(name, s)
	if err != nil {
		t.Fatal(err)
	}
	if d.caFile != "" { // the guides' CA paths, to this directory's certificate
		for i, f := range g.Files {
			g.Files[i].Text = caPath.ReplaceAllString(f.Text, d.caFile)
		}
	}
	return g
}

// clientTLS is a TLS config trusting the directory's certificate.
func (d *directory) clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(d.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in " + d.caFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// caPath matches the place the guides tell to put ldapgate's CA.
var caPath = regexp.MustCompile(`/etc/\S+/ldapgate-ca\.pem`)

// need skips the test when a program is missing, unless CI is set.
func need(t *testing.T, progs ...string) map[string]string {
	t.Helper()
	paths := map[string]string{}
	for _, p := range progs {
		paths[p] = testtool.Find(t, "dovecot-core dovecot-ldap apache2", p)
	}
	return paths
}

// serviceUser is the user and group the client daemons drop to when the
// tests run as root (they refuse to run their workers as root), or the
// current user's.
func serviceUser(t *testing.T, candidates ...string) (string, string) {
	t.Helper()
	cur, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(cur.Gid)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Uid != "0" {
		return cur.Username, g.Name
	}
	for _, name := range candidates {
		if u, err := user.Lookup(name); err == nil {
			if g, err := user.LookupGroupId(u.Gid); err == nil {
				return u.Username, g.Name
			}
		}
	}
	t.Skipf("running as root and none of the users %v exists", candidates)
	return "", ""
}

// process is a client daemon the test started.
type process struct {
	cmd    *exec.Cmd
	out    *logBuffer
	exited chan struct{}
	err    error
}

// startProcess starts name with args and stops it when the test ends.
func startProcess(t *testing.T, path string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(path, args...), out: &logBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.stop() })
	return p
}

// stop ends the process (SIGTERM, then SIGKILL after 5s) and waits for it.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// waitFor polls ready (every 10ms) until it reports true, the process
// exits, or 15 seconds pass. Daemons that bind their own sockets give no
// other sign of readiness.
func (p *process) waitFor(ready func() bool) error {
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !ready() {
		select {
		case <-p.exited:
			return errors.New("exited before ready")
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return errors.New("not ready after 15s")
		}
	}
	return nil
}

// freePort returns a loopback port that was free a moment ago, for daemons
// that insist on binding their own listeners (Apache cannot take a passed
// socket without systemd). Another process may take it before the daemon
// binds it, so callers retry the whole start on a bind failure.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// daemonDir is a new t.TempDir() that the daemons' unprivileged workers
// can search (t.TempDir's folders are 0700).
func daemonDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// logBuffer is a goroutine-safe buffer.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// clientMissing skips the test, or fails it when CI is set, because part
// of a client's packages is missing.
func clientMissing(t *testing.T, pkgs, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s, and CI is set: .ci/run must install %s", msg, pkgs)
	}
	t.Skipf("%s (apt-get install %s)", msg, pkgs)
}
