// Package e2e_test runs several `ldapgate serve` processes (the real
// binary, built once by the tests) on one PostgreSQL server started by the
// tests (internal/pgtest), and kills them with SIGKILL: HAProxy in front of
// two instances (haproxy_test.go), the leader killed during a large apply
// (leader_test.go).
//
// Each instance gets its LDAP and metrics sockets from the test, as systemd
// passes them (socket activation), so a restarted instance serves on the
// same address and nothing picks a free port and hopes.
//
// The tests skip when PostgreSQL or HAProxy are missing, unless the
// environment variable CI is set (then they fail): .ci/run installs them.
package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/internal/pgtest"
)

const (
	baseDN    = "dc=example,dc=com"
	archiveDN = "cn=archive,ou=services,dc=example,dc=com"
	archivePW = "archive-demo" // configs/demo.yaml's service account
)

// binDir holds the binaries the tests build.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ldapgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := pgtest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

var builds struct {
	mu   sync.Mutex
	done map[string]string
}

// build builds the command pkg (./cmd/NAME) once for the test binary and
// returns its path.
func build(t *testing.T, pkg string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs several processes")
	}
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if p, ok := builds.done[pkg]; ok {
		return p
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not in PATH")
	}
	out := filepath.Join(binDir, filepath.Base(pkg))
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	if builds.done == nil {
		builds.done = map[string]string{}
	}
	builds.done[pkg] = out
	return out
}

// instanceConfig writes an instance's config into a folder of its own: the
// demo config on the store in $TEST_LDAPGATE_DSN, with metrics.listen set
// (its socket, like LDAP's, comes from the test), the directory file
// dirFile, and edit applied to the text. It returns the config's path.
func instanceConfig(t *testing.T, dirFile string, edit func(string) string) string {
	t.Helper()
	demo, err := os.ReadFile("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dirFile)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(
		"file: demo-directory.json", "file: "+abs,
		"  path: ../data/ldapgate.db", "  driver: postgres\n  dsn_env: TEST_LDAPGATE_DSN",
	).Replace(string(demo)) + "metrics:\n  listen: 127.0.0.1:9389\n"
	if edit != nil {
		text = edit(text)
	}
	path := filepath.Join(t.TempDir(), "ldapgate.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// instance is one `ldapgate serve` process, restartable on the same
// addresses.
type instance struct {
	t       *testing.T
	name    string
	bin     string
	cfgPath string
	dsn     string
	ldap    string // host:port
	metrics string // host:port
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *logLines
}

// startInstance starts `ldapgate serve -c cfgPath` on the listeners given
// (LDAP, metrics), which it takes over.
func startInstance(t *testing.T, name, bin, cfgPath, dsn string, ldapL, metricsL net.Listener) *instance {
	t.Helper()
	in := &instance{t: t, name: name, bin: bin, cfgPath: cfgPath, dsn: dsn,
		ldap: ldapL.Addr().String(), metrics: metricsL.Addr().String()}
	in.start(ldapL, metricsL)
	t.Cleanup(func() {
		in.kill()
		if t.Failed() {
			t.Logf("log of %s (last lines):\n%s", name, in.log.tail(40))
		}
	})
	return in
}

func (in *instance) start(ldapL, metricsL net.Listener) {
	t := in.t
	t.Helper()
	var files []*os.File
	for _, l := range []net.Listener{ldapL, metricsL} {
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	// LISTEN_PID must be the server's own pid: the shell's, which exec keeps.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" serve -c "$1"`, in.bin, in.cfgPath)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "LISTEN_") || strings.HasPrefix(kv, "TEST_LDAPGATE_DSN=")
	}), "LISTEN_FDS=2", "LISTEN_FDNAMES=ldap:metrics", "TEST_LDAPGATE_DSN="+in.dsn)
	cmd.ExtraFiles = files
	in.log = &logLines{}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child has the sockets now: once it dies they close, and clients
	// are refused as they would be by a crashed server.
	for i, f := range files {
		f.Close()
		[]net.Listener{ldapL, metricsL}[i].Close()
	}
	in.cmd, in.exited = cmd, make(chan struct{})
	go func() {
		in.log.read(stderr)
		_ = cmd.Wait()
		close(in.exited)
	}()
}

// kill9 kills the process with SIGKILL and waits for it to end.
func (in *instance) kill9() {
	in.t.Helper()
	if err := in.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		in.t.Fatalf("kill -9 %s: %v", in.name, err)
	}
	<-in.exited
}

// kill ends the process if it still runs.
func (in *instance) kill() {
	_ = in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.exited
}

// restart starts the instance again on its addresses, free again since it
// died.
func (in *instance) restart() {
	t := in.t
	t.Helper()
	ldapL, err := net.Listen("tcp", in.ldap)
	if err != nil {
		t.Fatalf("listen again on %s's LDAP address: %v", in.name, err)
	}
	metricsL, err := net.Listen("tcp", in.metrics)
	if err != nil {
		t.Fatalf("listen again on %s's metrics address: %v", in.name, err)
	}
	in.start(ldapL, metricsL)
}

// get returns the status and body of a GET on the metrics listener.
func (in *instance) get(path string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + in.metrics + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady waits up to 30 s for /readyz to answer 200.
func (in *instance) waitReady() {
	in.t.Helper()
	waitFor(in.t, 30*time.Second, in.name+" ready", func() bool {
		select {
		case <-in.exited:
			in.t.Fatalf("%s exited:\n%s", in.name, in.log.tail(20))
		default:
		}
		code, _ := in.get("/readyz")
		return code == http.StatusOK
	})
}

// counter returns the value of an unlabelled counter on /metrics.
func (in *instance) counter(name string) float64 {
	in.t.Helper()
	_, body := in.get("/metrics")
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	in.t.Fatalf("%s: no %s in /metrics", in.name, name)
	return 0
}

// logLines collects a process's log lines.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		l.mu.Unlock()
	}
}

// len is the number of lines so far, a mark for find.
func (l *logLines) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// find returns the first line from index from on that contains s.
func (l *logLines) find(from int, s string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines[min(from, len(l.lines)):] {
		if strings.Contains(line, s) {
			return line, true
		}
	}
	return "", false
}

func (l *logLines) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-n):], "\n")
}

// waitLine waits up to within for a line containing s from mark on, and
// returns it.
func waitLine(t *testing.T, l *logLines, mark int, within time.Duration, s string) string {
	t.Helper()
	var line string
	waitFor(t, within, fmt.Sprintf("a log line with %q", s), func() bool {
		var ok bool
		line, ok = l.find(mark, s)
		return ok
	})
	return line
}

// waitFor polls cond every 10 ms for up to within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logOn is what the archive server does for a user's logon, on a new
// connection: bind as its service account, look the user up.
func logOn(addr, mail string) error {
	c, err := ldap.DialURL("ldap://"+addr, ldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(2 * time.Second)
	if err := c.Bind(archiveDN, archivePW); err != nil {
		return err
	}
	res, err := c.Search(ldap.NewSearchRequest(baseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(mail="+ldap.EscapeFilter(mail)+")", []string{"uid"}, nil))
	if err != nil {
		return err
	}
	if len(res.Entries) != 1 {
		return fmt.Errorf("search for %s: %d entries, want 1", mail, len(res.Entries))
	}
	return nil
}
