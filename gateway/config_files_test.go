package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckFiles: what the config points at is checked, each problem
// named by its key and line, with the path and the user.
func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	text := demoConfigText(t, dir)
	path := filepath.Join(dir, "ldapgate.yaml")
	writeFile(t, path, text)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if errs := cfg.CheckFiles(); len(errs) > 0 {
		t.Fatalf("CheckFiles of the demo: %v", errs)
	}
	// The directory file gone, a certificate that does not parse, and a
	// store whose folder cannot be made (its parent is a file).
	if err := os.Remove(cfg.SourceFile()); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "ldap.crt"), "not a certificate")
	writeFile(t, filepath.Join(dir, "ldap.key"), "not a key")
	writeFile(t, filepath.Join(dir, "blocker"), "")
	text = strings.Replace(text, "path: "+filepath.Join(dir, "ldapgate.db"), "path: "+filepath.Join(dir, "blocker", "data", "ldapgate.db"), 1)
	text = strings.Replace(text, "ldap:\n", "ldap:\n  tls: {cert_file: ldap.crt, key_file: ldap.key}\n", 1)
	writeFile(t, path, text)
	if cfg, err = LoadConfig(path); err != nil {
		t.Fatal(err)
	}
	_, who := runningUser()
	errs := cfg.CheckFiles()
	for _, want := range []string{
		"source.file: open " + cfg.SourceFile() + ": no such file or directory (as " + who + ")",
		"ldap.tls: tls: failed to find any PEM data",
		"store.path: folder " + filepath.Join(dir, "blocker") + " is not writable by " + who,
		"audit.file: folder " + filepath.Join(dir, "blocker"),
	} {
		if !strings.Contains(errs.Error(), want) {
			t.Errorf("CheckFiles does not say %q:\n%v", want, errs)
		}
	}
	line := 1 + strings.Count(text[:strings.Index(text, "  file: ")], "\n")
	if errs[0].Line != line {
		t.Errorf("source.file reported at line %d, want %d", errs[0].Line, line)
	}
}
