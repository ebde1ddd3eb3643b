package e2e_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/internal/pgtest"
	"github.com/ldapgate/ldapgate/internal/testtool"
)

// TestHAProxyFailover puts Debian's HAProxy, configured as README's "Run
// several instances" says, in front of two instances on one PostgreSQL
// server, with clients logging on in a loop (a new connection each time):
// when one instance is killed with SIGKILL, only the logons in flight at
// the kill fail, neither those that reach HAProxy before its check marks
// the instance down nor those after; restarted, it takes traffic again;
// when the database is down for both, neither is ready and logons go on
// through the fallback backend.
func TestHAProxyFailover(t *testing.T) {
	haproxy := testtool.Find(t, "haproxy", "haproxy")
	bin := build(t, "./cmd/ldapgate")
	pg := pgtest.Own(t)
	dsn := pg.NewDatabase(t)

	// The README's hosts become two loopback addresses with the same
	// ports, as the README's hosts have.
	ldapLs := samePort(t, "127.0.0.11", "127.0.0.12")
	metricsLs := samePort(t, "127.0.0.11", "127.0.0.12")
	dirFile := "../../configs/demo-directory.json"
	a := startInstance(t, "instance a", bin, instanceConfig(t, dirFile, nil), dsn, ldapLs[0], metricsLs[0])
	a.waitReady() // a syncs first, and runs the scheduled syncs
	b := startInstance(t, "instance b", bin, instanceConfig(t, dirFile, nil), dsn, ldapLs[1], metricsLs[1])
	b.waitReady()

	cfg, inter, fall := haproxyConfig(t, a, b)
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hlog := startHAProxy(t, haproxy, cfg, front)
	addr := front.Addr().String()
	front.Close() // HAProxy's copy stays open
	waitFor(t, 10*time.Second, "a logon through HAProxy", func() bool { return logOn(addr, "alice@example.com") == nil })

	// Clients log on in a loop; one instance dies.
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	l := startLoad(ctx, addr, 2, 5000)
	waitFor(t, 20*time.Second, "20 logons before the kill", func() bool {
		return l.count(func(r try) bool { return r.err == nil }) >= 20
	})
	mark := hlog.len()
	killAt := time.Now()
	a.kill9()
	// Until the process is gone its sockets still take connections, which
	// then break: those are in flight at the kill too.
	deadAt := time.Now()
	waitLine(t, hlog, mark, 15*time.Second, "Server ldap_ready/a is DOWN")
	downAt := time.Now()
	waitFor(t, 30*time.Second, "40 logons after the check noticed", func() bool {
		return l.count(func(r try) bool { return r.start.After(downAt) && !r.end.IsZero() }) >= 40
	})
	stop()
	tries := l.wait()

	// HAProxy sends a connection the dead instance refuses to the other at
	// once (option redispatch): only logons in flight on it at the kill
	// fail, none while the check has not noticed yet, none after.
	var failed, inFlight int
	for _, r := range tries {
		flying := r.start.Before(deadAt) && r.end.After(killAt)
		if flying {
			inFlight++
		}
		if r.err == nil {
			continue
		}
		failed++
		if !flying {
			t.Errorf("a logon from %s to %s, not in flight at the kill (%s to %s), failed: %v", r.start.Format("15:04:05.000"),
				r.end.Format("15:04:05.000"), killAt.Format("15:04:05.000"), deadAt.Format("15:04:05.000"), r.err)
		}
	}
	window := downAt.Sub(killAt)
	var slowest time.Duration
	for _, r := range tries {
		if r.start.After(deadAt) && r.start.Before(downAt) {
			slowest = max(slowest, r.end.Sub(r.start))
		}
	}
	t.Logf("kill -9 behind HAProxy (inter %v, fall %d): %d logons, %d failed, %d in flight (on either instance) during the kill (%v); the check marked the instance down %v after the kill; %d logons started meanwhile (the slowest took %v), %d after",
		inter, fall, len(tries), failed, inFlight, deadAt.Sub(killAt).Round(time.Millisecond), window.Round(10*time.Millisecond),
		countTries(tries, func(r try) bool { return r.start.After(deadAt) && r.start.Before(downAt) }), slowest.Round(time.Millisecond),
		countTries(tries, func(r try) bool { return r.start.After(downAt) }))
	// The check can have just passed when the instance died.
	if limit := inter*time.Duration(fall+1) + time.Second; window > limit {
		t.Errorf("the check took %v to notice the kill, want at most %v (inter × (fall + 1) and 1 s)", window, limit)
	}

	// Restarted on its address, the instance takes traffic again.
	mark = hlog.len()
	a.restart()
	a.waitReady()
	waitLine(t, hlog, mark, 20*time.Second, "Server ldap_ready/a is UP")
	before := a.counter("ldapgate_ldap_searches_total")
	for i := range 20 {
		if err := logOn(addr, "alice@example.com"); err != nil {
			t.Fatalf("logon %d after the restart: %v", i, err)
		}
	}
	if after := a.counter("ldapgate_ldap_searches_total"); after <= before {
		t.Errorf("the restarted instance served no search of 20 logons through HAProxy (%v before, %v after)", before, after)
	}

	// The database down for both: neither is ready, and HAProxy falls back
	// to the live ones, which serve from their views.
	mark = hlog.len()
	if err := pg.Halt(); err != nil {
		t.Fatal(err)
	}
	waitLine(t, hlog, mark, 20*time.Second, "Server ldap_ready/a is DOWN")
	waitLine(t, hlog, mark, 20*time.Second, "Server ldap_ready/b is DOWN")
	for i := range 20 {
		if err := logOn(addr, "alice@example.com"); err != nil {
			t.Fatalf("logon %d while the database is down for both instances: %v", i, err)
		}
	}
	if code, body := b.get("/healthz"); code != 200 {
		t.Errorf("/healthz while the database is down: %d %s, want 200 (the ldap_any backend checks it)", code, body)
	}
	mark = hlog.len()
	if err := pg.Resume(); err != nil {
		t.Fatal(err)
	}
	waitLine(t, hlog, mark, 20*time.Second, "Server ldap_ready/a is UP")
	waitLine(t, hlog, mark, 20*time.Second, "Server ldap_ready/b is UP")
}

// samePort returns listeners on each of hosts with one port number.
func samePort(t *testing.T, hosts ...string) []net.Listener {
	t.Helper()
	for range 20 {
		first, err := net.Listen("tcp", hosts[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		ls := []net.Listener{first}
		port := strconv.Itoa(first.Addr().(*net.TCPAddr).Port)
		for _, h := range hosts[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(h, port))
			if err != nil {
				break // taken there: another port
			}
			ls = append(ls, l)
		}
		if len(ls) == len(hosts) {
			return ls
		}
		for _, l := range ls {
			l.Close()
		}
	}
	t.Fatalf("no port free on all of %v in 20 tries", hosts)
	return nil
}

// haproxyConfig renders README's HAProxy example for instances a and b
// (the README's 10.0.0.11 and 10.0.0.12), below the defaults of Debian's
// /etc/haproxy/haproxy.cfg, with the frontend on the socket passed as file
// descriptor 3. It returns the config and the check's inter and fall.
func haproxyConfig(t *testing.T, a, b *instance) (string, time.Duration, int) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "**Behind HAProxy**")
	if !ok {
		t.Fatal(`README.md has no "**Behind HAProxy**"`)
	}
	_, rest, _ = strings.Cut(rest, "```\n")
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README.md's HAProxy example is not in a code block")
	}
	_, ldapPort, _ := net.SplitHostPort(a.ldap)
	_, metricsPort, _ := net.SplitHostPort(a.metrics)
	aHost, _, _ := net.SplitHostPort(a.ldap)
	bHost, _, _ := net.SplitHostPort(b.ldap)
	subst := [][2]string{
		{"bind :389", "bind fd@3"},
		{"10.0.0.11:3389", aHost + ":" + ldapPort},
		{"10.0.0.12:3389", bHost + ":" + ldapPort},
		{"port 9090", "port " + metricsPort},
	}
	for _, s := range subst {
		if !strings.Contains(example, s[0]) {
			t.Fatalf("README's HAProxy example has no %q; update the test with it:\n%s", s[0], example)
		}
		example = strings.ReplaceAll(example, s[0], s[1])
	}
	m := regexp.MustCompile(`inter (\d+)s fall (\d+)`).FindStringSubmatch(example)
	if m == nil {
		t.Fatalf("README's HAProxy example has no inter …s fall …:\n%s", example)
	}
	secs, _ := strconv.Atoi(m[1])
	fall, _ := strconv.Atoi(m[2])
	return "defaults\n    timeout connect 5s\n    timeout client 50s\n    timeout server 50s\n" + example,
		time.Duration(secs) * time.Second, fall
}

// startHAProxy runs HAProxy in the foreground on cfg, its frontend on
// front, until the test ends, and returns its log (server state changes).
func startHAProxy(t *testing.T, haproxy, cfg string, front net.Listener) *logLines {
	t.Helper()
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := front.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	check := exec.Command(haproxy, "-c", "-f", path)
	check.ExtraFiles = []*os.File{f}
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfg)
	}
	cmd := exec.Command(haproxy, "-db", "-f", path)
	cmd.ExtraFiles = []*os.File{f}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log := &logLines{}
	done := make(chan struct{})
	go func() {
		log.read(stderr)
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("HAProxy's log:\n%s", log.tail(40))
		}
	})
	return log
}

// try is one logon of the load.
type try struct {
	start, end time.Time
	err        error
}

// load is clients logging on in a loop.
type load struct {
	mu    sync.Mutex
	tries []try
	wg    sync.WaitGroup
}

// startLoad runs workers clients logging on through addr one after the
// other, each every 20 ms at most, until ctx ends or max logons started.
func startLoad(ctx context.Context, addr string, workers, max int) *load {
	l := &load{}
	for range workers {
		l.wg.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				l.mu.Lock()
				i := len(l.tries)
				if ctx.Err() != nil || i >= max {
					l.mu.Unlock()
					return
				}
				l.tries = append(l.tries, try{start: time.Now()})
				l.mu.Unlock()
				err := logOn(addr, "alice@example.com")
				l.mu.Lock()
				l.tries[i].end, l.tries[i].err = time.Now(), err
				l.mu.Unlock()
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		})
	}
	return l
}

func (l *load) count(f func(try) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return countTries(l.tries, f)
}

// wait waits for the workers and returns the logons.
func (l *load) wait() []try {
	l.wg.Wait()
	return l.tries
}

func countTries(tries []try, f func(try) bool) int {
	n := 0
	for _, r := range tries {
		if f(r) {
			n++
		}
	}
	return n
}
