package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServiceSteps runs the README's "Run as a service" steps under a
// scratch root, with the real binary built as the README says, then the
// unit's ExecStartPre and ExecStart as its user, as systemd would. Steps
// that change the machine itself (useradd, systemctl, journalctl) are left
// out: user nobody stands in for ldapgate, and the test makes the
// StateDirectory as systemd does. Run as root, it also checks that config
// check reports a store the service user cannot write.
func TestServiceSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not in PATH")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.MkdirTemp("", "ldapgate-service-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	// What a machine has before the steps (the service user must reach
	// everything under the scratch root, as it does under /).
	for _, d := range []string{"usr/local/bin", "etc/systemd/system", "var/lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	asRoot := os.Getuid() == 0
	group := "nogroup"
	if !asRoot {
		t.Log("not root: the steps run as the current user, without -o/-g and the read-only check")
	}

	paths := strings.NewReplacer(
		"/usr/local/bin", root+"/usr/local/bin", "/etc/ldapgate", root+"/etc/ldapgate",
		"/etc/systemd/system", root+"/etc/systemd/system", "/var/lib/ldapgate", root+"/var/lib/ldapgate",
		// The binary is built into the scratch root, not the work tree.
		"-o ldapgate ", "-o "+root+"/ldapgate ", "0755 ldapgate ", "0755 "+root+"/ldapgate ")
	for _, line := range readmeServiceSteps(t, filepath.Join(repo, "README.md")) {
		if first := strings.Fields(line)[0]; first == "useradd" || first == "systemctl" || first == "journalctl" {
			continue
		}
		line = paths.Replace(line)
		if asRoot {
			line = strings.ReplaceAll(line, "-g ldapgate", "-g "+group)
		} else {
			line = strings.ReplaceAll(strings.ReplaceAll(line, "-o root ", ""), "-g ldapgate ", "")
		}
		cmd := exec.Command("/bin/sh", "-ec", line)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(goBin)+":"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("README step %q: %v\n%s", line, err, out)
		}
	}

	unit := readUnit(t, filepath.Join(root, "etc/systemd/system/ldapgate.service"))
	var cred *syscall.Credential
	if asRoot {
		if unit["User"] != "ldapgate" {
			t.Fatalf("the unit runs as %q, want ldapgate", unit["User"])
		}
		cred = &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}
	}
	// systemd makes StateDirectory, owned by the unit's user.
	state := filepath.Join(root, "var/lib", unit["StateDirectory"])
	if err := os.Mkdir(state, 0o750); err != nil {
		t.Fatal(err)
	}
	if asRoot {
		if err := os.Chown(state, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	// The admin's edit: a free port instead of 3389, which the test
	// machine may have taken.
	cfgPath := filepath.Join(root, "etc/ldapgate/ldapgate.yaml")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, bytes.Replace(data, []byte("listen: 127.0.0.1:3389"), []byte("listen: 127.0.0.1:0"), 1), 0o640); err != nil {
		t.Fatal(err)
	}
	asService := func(line string) *exec.Cmd {
		args := strings.Fields(paths.Replace(line))
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = paths.Replace(unit["WorkingDirectory"])
		cmd.Env = []string{"PATH=/usr/bin:/bin", "GOMEMLIMIT=800MiB"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return cmd
	}

	if out, err := asService(unit["ExecStartPre"]).CombinedOutput(); err != nil {
		t.Fatalf("ExecStartPre %s: %v\n%s", unit["ExecStartPre"], err, out)
	}
	serve := asService(unit["ExecStart"])
	lines := startLogging(t, serve)
	waitLine(t, lines, `msg="sync done"`)
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop within a minute of SIGTERM")
	}
	dbPath := filepath.Join(state, "ldapgate.db")
	if _, err := os.Stat(dbPath); err != nil {
		t.Fatalf("no store in the state directory: %v", err)
	}
	if !asRoot {
		return
	}

	// A store the service user cannot write (restored from a backup as
	// root, say) is reported by the unit's check, with the path, the user
	// and what to do, instead of failing every sync.
	if err := os.Chmod(dbPath, 0o440); err != nil {
		t.Fatal(err)
	}
	out, err := asService(unit["ExecStartPre"]).CombinedOutput()
	want := "store.path: " + dbPath + " is not writable by user nobody (uid 65534): permission denied; give it to that user (chown nobody " + dbPath + ")"
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("config check of a read-only store: %v\n%s\nwant %q", err, out, want)
	}
}

// readmeServiceSteps returns the commands of the first sh block under
// "## Run as a service", comments removed.
func readmeServiceSteps(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Run as a service\n")
	if !ok {
		t.Fatal("README has no section Run as a service")
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatal("Run as a service has no sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	var out []string
	for _, line := range strings.Split(block, "\n") {
		if i := strings.Index(line, "  #"); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	if len(out) < 5 {
		t.Fatalf("Run as a service has %d steps: %q", len(out), out)
	}
	return out
}

// readUnit reads the Key=Value lines of a systemd unit (the last of a
// repeated key wins).
func readUnit(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string)
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}
