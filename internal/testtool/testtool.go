// Package testtool finds the programs tests drive (OpenLDAP's clients,
// Debian's chromium, Dovecot, Apache httpd) and makes the certificates they
// use. Outside CI a missing program skips the test; in CI (the environment
// variable CI is set) it fails it, because .ci/run must have installed it.
package testtool

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Find returns the path of the first of names that is installed, looking
// in PATH and then in /usr/sbin and /sbin (Debian keeps daemons there,
// which a user's PATH may lack). pkg names the Debian package that
// provides it, for the skip or failure message.
func Find(t testing.TB, pkg string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			p := filepath.Join(dir, name)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p
			}
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI is set: .ci/run must install %s", names[0], pkg)
	}
	t.Skipf("%s is not installed (apt-get install %s)", names[0], pkg)
	return ""
}
