package gateway

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ldapgate/ldapgate/sync/engine"
)

// TestRotatingFile: records are never split between files, no file grows
// past the bound, and rotation keeps the newest max files beside the
// current one, in order.
func TestRotatingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	r, err := openRotatingFile(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := fmt.Fprintf(r, "record %02d %s\n", i, strings.Repeat("x", 20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, name := range []string{path + ".2", path + ".1", path} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 100 {
			t.Errorf("%s: %d bytes, want at most 100", name, len(data))
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			got = append(got, line[:len("record 00")])
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("%s.3 exists (%v); want only 2 rotated files", path, err)
	}
	// 31 bytes a record, 3 to a file: the last 8 records are kept.
	want := []string{"record 12", "record 13", "record 14", "record 15", "record 16", "record 17", "record 18", "record 19"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("records kept %v, want %v", got, want)
	}
}

// TestRotatingFileReopens: a restarted ldapgate appends to the file and
// counts what is already in it.
func TestRotatingFileReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), 90), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := openRotatingFile(path, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Write([]byte("a record that does not fit\n")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if old, err := os.ReadFile(path + ".1"); err != nil || len(old) != 90 {
		t.Errorf("rotated file: %d bytes, %v; want the 90 bytes that were there", len(old), err)
	}
}

// TestAuditWriteErrorReported: a record the file could not take is not
// lost silently: the sync says so in the log.
func TestAuditWriteErrorReported(t *testing.T) {
	var buf syncBuffer
	fg := startFileGatewayLog(t, "", "", &buf)
	fg.g.auditSink.Close() // every write now fails
	fg.g.auditPlan(t.Context(), &engine.Result{RunID: 9, Plan: demoPlan()})
	if !bytes.Contains(buf.Bytes(), []byte("audit records of the sync not written")) {
		t.Errorf("no error logged for the lost audit records:\n%s", buf.Bytes())
	}
}

func TestAuditConfig(t *testing.T) {
	dir := t.TempDir()
	text := demoConfigText(t, dir)
	cfg, err := ParseConfig(filepath.Join(dir, "ldapgate.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.AuditFile(), filepath.Join(filepath.Dir(cfg.StorePath()), "audit.jsonl"); got != want {
		t.Errorf("default audit file %s, want %s (beside the store)", got, want)
	}
	// A PostgreSQL store has no folder: beside the config file, never in
	// the working directory.
	cfg.Store = StoreConfig{Driver: DriverPostgres, DSN: "postgres:///ldapgate"}
	if got, want := cfg.AuditFile(), filepath.Join(dir, "audit.jsonl"); got != want {
		t.Errorf("default audit file with PostgreSQL %s, want %s (beside the config)", got, want)
	}
	_, err = ParseConfig(filepath.Join(dir, "ldapgate.yaml"), []byte(text+"audit:\n  max_files: -1\n"))
	if err == nil || !strings.Contains(err.Error(), "audit.max_files: expected 1 or more") {
		t.Errorf("negative audit.max_files: %v, want an error naming the key", err)
	}
}
