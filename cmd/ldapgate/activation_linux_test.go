package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// startActivated starts `ldapgate serve` as systemd would with socket
// activation: the sockets from file descriptor 3 on, LISTEN_PID set to
// the process's own pid (the shell's, which exec keeps) and the extra
// variables given. It returns the process and a channel with its log
// lines.
func startActivated(t *testing.T, cfgPath string, sockets []*os.File, env ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" serve -c "$1"`, os.Args[0], cfgPath)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "LISTEN_")
	}), append(env, runMainEnv+"=1")...)
	cmd.ExtraFiles = sockets
	return cmd, startLogging(t, cmd)
}

// startLogging starts cmd, kills it when the test ends, and returns its
// standard error line by line.
func startLogging(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines
}

// waitLine returns the first line containing s, or fails when the log
// ends or a minute passes.
func waitLine(t *testing.T, lines <-chan string, s string) string {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the log ended before a line with %q", s)
			}
			if strings.Contains(l, s) {
				return l
			}
		case <-timeout:
			t.Fatalf("no line with %q within a minute", s)
		}
	}
}

// TestServeSocketActivation: serve takes the LDAP socket systemd passes
// (and keeps it through its own re-execution, sysmon_linux.go) instead of
// listening on ldap.listen.
func TestServeSocketActivation(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	cmd, lines := startActivated(t, cfgPath, []*os.File{f}, "LISTEN_FDS=1", "LISTEN_FDNAMES=ldapgate.socket")
	f.Close()
	l.Close() // the server's copy stays open
	// The start-up log names the build.
	if line := waitLine(t, lines, "ldapgate starting"); !strings.Contains(line, "version=") || !strings.Contains(line, "revision=") || !strings.Contains(line, "modified=") {
		t.Errorf("start-up log: %s, want the version, revision and modified", line)
	}
	if line := waitLine(t, lines, "serving on a socket passed by systemd"); !strings.Contains(line, addr) {
		t.Errorf("log: %s, want the address %s", line, addr)
	}
	waitLine(t, lines, "serving LDAP")

	c, err := ldap.DialURL("ldap://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind("cn=archive,ou=services,dc=example,dc=com", "archive-demo"); err != nil {
		t.Fatalf("bind on the passed socket: %v", err)
	}
	r, err := c.Search(ldap.NewSearchRequest("dc=example,dc=com", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(uid=daniel.kim)", []string{"mail"}, nil))
	if err != nil || len(r.Entries) != 1 {
		t.Fatalf("search on the passed socket: %v, %v", r, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve did not stop cleanly: %v", err)
	}
}

// TestServeSocketActivationErrors: sockets serve cannot place stop it
// with a message that says what to fix.
func TestServeSocketActivationErrors(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	listener := func() *os.File {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"unnamed", []string{"LISTEN_FDS=2"}, "name each with FileDescriptorName="},
		{"not configured", []string{"LISTEN_FDS=2", "LISTEN_FDNAMES=ldap:metrics"}, "socket named metrics, but metrics.listen is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, lines := startActivated(t, cfgPath, []*os.File{listener(), listener()}, tc.env...)
			waitLine(t, lines, tc.want)
			if err := cmd.Wait(); err == nil {
				t.Error("serve exited 0")
			}
		})
	}
}
