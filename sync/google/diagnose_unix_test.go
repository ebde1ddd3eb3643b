//go:build unix

package google_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDiagnoseKeyFileUnreadable: a key file the user ldapgate runs as
// cannot read is diagnosed as such, with the fix naming that user. Root
// reads every file, so as root (CI) the test runs again as nobody.
func TestDiagnoseKeyFileUnreadable(t *testing.T) {
	if os.Getuid() == 0 {
		runAsNobody(t)
		return
	}
	f := newFixture(t)
	if err := os.Chmod(f.keyFile, 0); err != nil {
		t.Fatal(err)
	}
	d := f.source().Diagnose(context.Background())
	failed := d.Failed()
	if failed == nil {
		t.Fatalf("no check failed, want the key file's:\n%s", statuses(d))
	}
	if failed.Name != "key file" || !strings.Contains(failed.Detail, "permission denied") {
		t.Errorf("failed check %q: %s; want key file: permission denied", failed.Name, failed.Detail)
	}
	if uid := fmt.Sprintf("(uid %d)", os.Getuid()); !strings.Contains(failed.Fix, uid) || !strings.Contains(failed.Fix, "chmod 600") {
		t.Errorf("fix = %q, want it to name %s and chmod 600", failed.Fix, uid)
	}
}

// runAsNobody runs the test t again in this test binary as uid and gid
// 65534, and fails t if that run does not pass. The binary is copied to a
// folder of that user's (go test's own folder is root's alone), which is
// also the run's TMPDIR and working folder.
func runAsNobody(t *testing.T) {
	t.Helper()
	const nobody = 65534
	dir, err := os.MkdirTemp("", "ldapgate-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "google.test")
	if err := copyFile(bin, exe); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+dir, "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the run as uid %d: %v\n%s", nobody, err, out)
	}
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
