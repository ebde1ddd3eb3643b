package main

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReleaseScript runs packaging/release.sh for linux/amd64 on a clone
// of the repository (go build records the commit only in a checkout whose
// .git is a folder, not in a git worktree) and checks its output: a static
// binary whose `version` names the commit, listed in SHA256SUMS with its
// checksum. Cross-compiling ldapgate without cgo takes minutes on a cold
// build cache, so it runs only with LDAPGATE_RELEASE_TEST=1:
//
//	LDAPGATE_RELEASE_TEST=1 go test -run TestReleaseScript ./cmd/ldapgate
func TestReleaseScript(t *testing.T) {
	if os.Getenv("LDAPGATE_RELEASE_TEST") == "" {
		t.Skip("set LDAPGATE_RELEASE_TEST=1 to build a release (minutes on a cold build cache)")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	clone := filepath.Join(t.TempDir(), "ldapgate")
	runIn(t, ".", "git", "clone", "-q", "--no-local", "../..", clone)
	head := strings.TrimSpace(runIn(t, clone, "git", "rev-parse", "HEAD"))
	out := filepath.Join(t.TempDir(), "dist")
	cmd := exec.Command("bash", "packaging/release.sh", out)
	cmd.Dir = clone
	cmd.Env = append(os.Environ(), "ARCHES=amd64", "GOFLAGS=-buildvcs=false") // the script must win over it
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, b)
	}

	name := "ldapgate-" + head[:12] + "-linux-amd64"
	bin := filepath.Join(out, name)
	sums, err := os.Open(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer sums.Close()
	var lines []string
	for sc := bufio.NewScanner(sums); sc.Scan(); {
		lines = append(lines, sc.Text())
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := hex.EncodeToString(sum[:]) + "  " + name; len(lines) != 1 || lines[0] != want {
		t.Errorf("SHA256SUMS: %q, want %q", lines, want)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("machine %v, want x86-64", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	v := runIn(t, out, bin, "version")
	if !strings.Contains(v, "(commit "+head[:12]+", ") || strings.Contains(v, "modified") {
		t.Errorf("version of the release binary: %q, want commit %s, not modified", v, head[:12])
	}
}

func runIn(t *testing.T, dir, prog string, args ...string) string {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", prog, args, err, b)
	}
	return string(b)
}
