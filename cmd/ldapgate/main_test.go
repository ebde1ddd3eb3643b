package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/internal/pgtest"
)

// cli runs ldapgate in-process with args and returns its exit code and outputs.
func cli(t testing.TB, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errw bytes.Buffer
	code = execute(context.Background(), args, strings.NewReader(stdin), &out, &errw)
	return code, out.String(), errw.String()
}

// demoSetup writes a config like the demo's into a temporary folder, with a
// private copy of the demo directory file and a store in that folder. It
// returns the config path and the directory file path.
func demoSetup(t testing.TB) (configPath, dirFile string) {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile("../../configs/demo-directory.json")
	if err != nil {
		t.Fatal(err)
	}
	dirFile = filepath.Join(dir, "directory.json")
	if err := os.WriteFile(dirFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	demo, err := os.ReadFile("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer(
		"file: demo-directory.json", "file: directory.json",
		"path: ../data/ldapgate.db", "path: store/ldapgate.db",
		"listen: 127.0.0.1:3389", "listen: 127.0.0.1:0",
	).Replace(string(demo))
	configPath = filepath.Join(dir, "ldapgate.yaml")
	if err := os.WriteFile(configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return configPath, dirFile
}

func TestConfigCheck(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	code, out, errOut := cli(t, "", "config", "check", cfgPath)
	if code != exitOK || !strings.Contains(out, ": OK") {
		t.Fatalf("config check of a valid file: code %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	typo := strings.Replace(string(data), "  max_delete_percent:", "  max_delete_precent:", 1)
	bad := filepath.Join(t.TempDir(), "typo.yaml")
	if err := os.WriteFile(bad, []byte(typo), 0o600); err != nil {
		t.Fatal(err)
	}
	line := 1 + strings.Count(typo[:strings.Index(typo, "max_delete_precent")], "\n")
	code, _, errOut = cli(t, "", "config", "check", bad)
	if code != exitConfig {
		t.Errorf("config check of a typo: exit %d, want %d", code, exitConfig)
	}
	for _, want := range []string{bad + ":" + strconv.Itoa(line) + ":", `unknown key "max_delete_precent" in sync`, `did you mean "max_delete_percent"?`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not contain %q", errOut, want)
		}
	}

	// Several files (config check configs/*.yaml): each checked, the bad
	// one reported once, exit 3.
	code, out, errOut = cli(t, "", "config", "check", cfgPath, bad)
	if code != exitConfig || !strings.Contains(out, cfgPath+": OK") || strings.Count(errOut, "max_delete_precent") != 1 {
		t.Errorf("config check of a good and a bad file: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

func TestSyncDryRunThenApply(t *testing.T) {
	cfgPath, _ := demoSetup(t)

	code, out, errOut := cli(t, "", "sync", "--config", cfgPath, "--dry-run")
	if code != exitOK {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"+ user alice@example.com", "Dry run: nothing was changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output does not contain %q:\n%s", want, out)
		}
	}
	// The dry run wrote nothing, not even an empty store.
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfgPath), "store")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after a dry run the store folder exists (%v)", err)
	}

	code, out, errOut = cli(t, "", "sync", "--config", cfgPath)
	if code != exitOK || !strings.Contains(out, "Applied as sync run") {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errOut)
	}

	code, out, _ = cli(t, "", "users", "show", "alice@example.com", "--config", cfgPath, "--json")
	if code != exitOK {
		t.Fatalf("users show: exit %d", code)
	}
	var alice userReport
	if err := json.Unmarshal([]byte(out), &alice); err != nil {
		t.Fatal(err)
	}
	if alice.DN != "uid=alice,ou=people,dc=example,dc=com" || len(alice.Groups) == 0 || !slices.Contains(alice.Privileges, "login") {
		t.Errorf("alice after sync: %+v", alice)
	}

	// A second sync finds nothing to do.
	code, out, _ = cli(t, "", "sync", "--config", cfgPath, "--json")
	if code != exitOK {
		t.Fatalf("second sync: exit %d\n%s", code, out)
	}
	var rep syncReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Applied || rep.Result == nil || !rep.Result.Plan.Empty() {
		t.Errorf("second sync is not an empty applied plan: %s", out)
	}
}

func TestSyncGuardExitCode(t *testing.T) {
	cfgPath, dirFile := demoSetup(t)
	if code, out, errOut := cli(t, "", "sync", "-c", cfgPath); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s\n%s", code, out, errOut)
	}
	// Everyone leaves the source: far more than max_delete_percent.
	var doc map[string]json.RawMessage
	data, err := os.ReadFile(dirFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var users map[string]any
	if err := json.Unmarshal(doc["users"], &users); err != nil {
		t.Fatal(err)
	}
	all := users["users"].([]any)
	users["users"] = all[:len(all)/2]
	doc["users"], _ = json.Marshal(users)
	// Members that point at removed users would make the file invalid: keep
	// only the membership lists' group members and the remaining users.
	kept := make(map[string]bool)
	for _, u := range all[:len(all)/2] {
		kept[u.(map[string]any)["id"].(string)] = true
	}
	var members map[string]map[string]any
	if err := json.Unmarshal(doc["members"], &members); err != nil {
		t.Fatal(err)
	}
	for _, list := range members {
		ms, _ := list["members"].([]any)
		var out []any
		for _, m := range ms {
			mm := m.(map[string]any)
			if mm["type"] != "USER" || kept[mm["id"].(string)] {
				out = append(out, m)
			}
		}
		list["members"] = out
	}
	doc["members"], _ = json.Marshal(members)
	data, _ = json.Marshal(doc)
	if err := os.WriteFile(dirFile, data, 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := cli(t, "", "sync", "-c", cfgPath)
	if code != exitSyncRefused || !strings.Contains(errOut, "--force") {
		t.Fatalf("mass deletion: exit %d, want %d\n%s\n%s", code, exitSyncRefused, out, errOut)
	}
	code, out, _ = cli(t, "", "users", "list", "-c", cfgPath, "--json")
	var before []userReport
	if code != exitOK || json.Unmarshal([]byte(out), &before) != nil || len(before) < len(all)/2+2 {
		t.Fatalf("the refused sync changed the store: %d users", len(before))
	}
	if code, out, errOut := cli(t, "", "sync", "-c", cfgPath, "--force"); code != exitOK {
		t.Fatalf("forced sync: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestPasswordHash(t *testing.T) {
	code, out, errOut := cli(t, "correct horse\n", "password", "hash")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	h := strings.TrimSpace(out)
	if err := passhash.Check(h); err != nil || strings.Contains(h, "correct horse") {
		t.Errorf("hash %q: %v", h, err)
	}
	if code, _, _ := cli(t, "\n", "password", "hash"); code != exitUsage {
		t.Errorf("empty password: exit %d, want %d", code, exitUsage)
	}
}

// TestUsage: every bad command line exits 2 with the error once and the
// command's usage; unknown commands get a suggestion.
func TestUsage(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	tests := []struct {
		args    []string
		want    string // in stderr
		usageOf string // the command whose usage follows
	}{
		{[]string{"serv"}, `unknown command "serv" for "ldapgate" (did you mean "serve"?)`, "ldapgate"},
		{[]string{}, "ldapgate needs a command", "ldapgate"},
		{[]string{"config"}, "ldapgate config needs a command", "ldapgate config"},
		{[]string{"config", "chek", cfgPath}, `unknown command "chek" for "ldapgate config" (did you mean "check"?)`, "ldapgate config"},
		{[]string{"sync", "histroy", "-c", cfgPath}, `unknown command "histroy" for "ldapgate sync" (did you mean "history"?)`, "ldapgate sync"},
		{[]string{"users", "lst"}, `unknown command "lst" for "ldapgate users" (did you mean "list"?)`, "ldapgate users"},
		{[]string{"sync", "--no-such-flag"}, "unknown flag: --no-such-flag", "ldapgate sync"},
		{[]string{"serve", "extra"}, `unexpected argument "extra"`, "ldapgate serve"},
		{[]string{"users", "show"}, "ldapgate users show: expected 1 argument(s), got 0", "ldapgate users show"},
		{[]string{"config", "check", cfgPath, "-c", "other.yaml"}, "not both", "ldapgate config check"},
		{[]string{"config", "diff", cfgPath}, "expected OLD and NEW", "ldapgate config diff"},
		{[]string{"help", "confg"}, `unknown command "confg" for "ldapgate" (did you mean "config"?)`, "ldapgate help"},
		{[]string{"help", "config", "chek"}, `unknown command "chek" for "ldapgate config" (did you mean "check"?)`, "ldapgate help"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := cli(t, "", tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if strings.Count(errOut, tt.want) != 1 || strings.Count(errOut, "ldapgate: ") != 1 {
				t.Errorf("stderr does not hold %q once, as the only error:\n%s", tt.want, errOut)
			}
			if !strings.Contains(errOut, "Usage:\n  "+tt.usageOf+" ") {
				t.Errorf("no usage of %s in stderr:\n%s", tt.usageOf, errOut)
			}
			if out != "" {
				t.Errorf("stdout: %q", out)
			}
		})
	}
}

// TestConfigFlagEverywhere: every command that reads a config takes -c,
// config check and config diff included.
func TestConfigFlagEverywhere(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	for _, args := range [][]string{
		{"config", "check", "-c", cfgPath},
		{"config", "check", cfgPath},
		{"config", "check", cfgPath, cfgPath}, // config check configs/*.yaml
		{"config", "diff", "-c", cfgPath, cfgPath},
		{"clients", "-c", cfgPath},
	} {
		if code, out, errOut := cli(t, "", args...); code != exitOK {
			t.Errorf("%q: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}

// TestSyncErrorPrintedOnce: a failing sync's error is printed by the
// command alone, not a second time by the engine's log.
func TestSyncErrorPrintedOnce(t *testing.T) {
	cfgPath, dirFile := demoSetup(t)
	if err := os.WriteFile(dirFile, []byte(`{"users": 5}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := cli(t, "", "sync", "-c", cfgPath)
	if code != exitError || strings.Count(errOut, "expected admin.Users") != 1 {
		t.Errorf("sync of a broken directory file: exit %d, want %d with the error once:\n%s", code, exitError, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := cli(t, "", "version")
	if code != exitOK || !strings.HasPrefix(out, "ldapgate ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("version: exit %d %q", code, out)
	}
}

func TestStoreBackup(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	if code, out, errOut := cli(t, "", "sync", "-c", cfgPath); code != exitOK {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errOut)
	}
	dst := filepath.Join(t.TempDir(), "backup.db")
	if code, out, errOut := cli(t, "", "store", "backup", dst, "-c", cfgPath); code != exitOK {
		t.Fatalf("backup: exit %d\n%s\n%s", code, out, errOut)
	}
	// The backup is a working store: point a config at it and read it.
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(filepath.Dir(cfgPath), "restored.yaml")
	if err := os.WriteFile(restored, []byte(strings.Replace(string(data), "path: store/ldapgate.db", "path: "+dst, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, want, _ := cli(t, "", "users", "list", "-c", cfgPath, "--json")
	code, got, _ := cli(t, "", "users", "list", "-c", restored, "--json")
	if code != exitOK || got != want || !strings.Contains(got, "alice@example.com") {
		t.Errorf("users in the backup differ from the store (exit %d)", code)
	}
	if code, _, errOut := cli(t, "", "store", "backup", dst, "-c", cfgPath); code == exitOK || !strings.Contains(errOut, "already exists") {
		t.Errorf("second backup to the same file: exit %d, %s", code, errOut)
	}
}

// ldapgate sync builds no directory view: it serves none (at 100k users a
// view costs seconds and more memory than the sync). The gateway logs each
// view it builds at debug level and above.
func TestSyncBuildsNoView(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	debug := strings.Replace(string(data), "level: info", "level: debug", 1)
	if err := os.WriteFile(cfgPath, []byte(debug), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, "", "sync", "-c", cfgPath)
	if code != exitOK || !strings.Contains(out, "Applied as sync run 1") {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(errOut, "directory view updated") {
		t.Errorf("ldapgate sync built a view:\n%s", errOut)
	}
}

func TestSyncHistoryAndShow(t *testing.T) {
	cfgPath, dirFile := demoSetup(t)
	if code, out, errOut := cli(t, "", "sync", "-c", cfgPath); code != exitOK {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errOut)
	}
	// A broken source is recorded as a failed run.
	if err := os.WriteFile(dirFile, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := cli(t, "", "sync", "-c", cfgPath); code != exitError {
		t.Fatalf("sync of a broken file: exit %d, want %d", code, exitError)
	}

	code, out, _ := cli(t, "", "sync", "history", "-c", cfgPath)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 3 {
		t.Fatalf("history: exit %d\n%s", code, out)
	}
	if !strings.HasPrefix(lines[1], "2 ") || !strings.Contains(lines[1], "FAILED: ") {
		t.Errorf("newest run is not the failed one: %q", lines[1])
	}
	if !strings.HasPrefix(lines[2], "1 ") || !strings.Contains(lines[2], "users: 45 to add") {
		t.Errorf("oldest run: %q", lines[2])
	}

	if !strings.Contains(lines[0], "FETCH+PLAN+APPLY+FINISH") || !strings.Contains(lines[2], "s+") {
		t.Errorf("history shows no phases:\n%s", out)
	}

	code, out, _ = cli(t, "", "sync", "show", "1", "-c", cfgPath)
	if code != exitOK || !strings.Contains(out, "+ user alice@example.com (uid=alice)") || !strings.Contains(out, "phases: fetch ") {
		t.Errorf("show 1: exit %d\n%s", code, out)
	}
	if code, _, errOut := cli(t, "", "sync", "show", "99", "-c", cfgPath); code != exitError || !strings.Contains(errOut, "not found") {
		t.Errorf("show 99: exit %d %s", code, errOut)
	}
	if code, _, _ := cli(t, "", "sync", "show", "latest", "-c", cfgPath); code != exitUsage {
		t.Errorf("show latest: exit %d, want %d", code, exitUsage)
	}
}

// Users deleted by a narrower filter are listed as tombstones until purged.
func TestUsersDeletedAndPurge(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	if code, out, errOut := cli(t, "", "sync", "-c", cfgPath); code != exitOK {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errOut)
	}
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	narrow := strings.Replace(string(data), "groups: [archive-users@example.com]", "groups: [archive-admins@example.com]", 1)
	if err := os.WriteFile(cfgPath, []byte(narrow), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cli(t, "", "sync", "-c", cfgPath, "--force"); code != exitOK {
		t.Fatalf("narrowed sync: exit %d\n%s\n%s", code, out, errOut)
	}
	deleted := func() []string {
		t.Helper()
		code, out, errOut := cli(t, "", "users", "deleted", "-c", cfgPath, "--json")
		var ds []struct{ PrimaryEmail string }
		if code != exitOK || json.Unmarshal([]byte(out), &ds) != nil {
			t.Fatalf("users deleted: exit %d\n%s\n%s", code, out, errOut)
		}
		var out2 []string
		for _, d := range ds {
			out2 = append(out2, d.PrimaryEmail)
		}
		return out2
	}
	before := deleted()
	if !slices.Contains(before, "alice@example.com") {
		t.Fatalf("alice is not among the deleted users: %v", before)
	}
	if code, _, _ := cli(t, "", "users", "purge", "-c", cfgPath); code != exitUsage {
		t.Errorf("purge without users or --all: exit %d, want %d", code, exitUsage)
	}
	if code, out, errOut := cli(t, "", "users", "purge", "-c", cfgPath, "alice@example.com"); code != exitOK || !strings.Contains(out, "1 deleted users purged") {
		t.Fatalf("purge alice: exit %d\n%s\n%s", code, out, errOut)
	}
	if after := deleted(); len(after) != len(before)-1 || slices.Contains(after, "alice@example.com") {
		t.Errorf("after purging alice: %v", after)
	}
	if code, _, _ := cli(t, "", "users", "purge", "-c", cfgPath, "--all"); code != exitOK || len(deleted()) != 0 {
		t.Errorf("purge --all: exit %d, %d left", code, len(deleted()))
	}
}

// TestSyncPrintsSummary: sync prints a few changes of each kind and the
// counts; --plan prints every change.
func TestSyncPrintsSummary(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	code, out, errOut := cli(t, "", "sync", "-c", cfgPath, "--dry-run")
	if code != exitOK {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := strings.Count(out, "+ user "); n != planSample {
		t.Errorf("summary shows %d users, want %d:\n%s", n, planSample, out)
	}
	for _, want := range []string{"users: 45 changes: 45 to add (new in source)", "… 40 more", "Every change: --plan"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary does not contain %q:\n%s", want, out)
		}
	}
	code, out, errOut = cli(t, "", "sync", "-c", cfgPath, "--dry-run", "--plan")
	if code != exitOK {
		t.Fatalf("dry run --plan: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := strings.Count(out, "+ user "); n != 45 {
		t.Errorf("--plan shows %d users, want all 45", n)
	}
}

// store copy moves a synced SQLite store, app passwords included, to
// PostgreSQL; the copy serves the same users, and a second copy into it is
// refused unless --replace.
func TestStoreCopyToPostgres(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	if code, out, errOut := cli(t, "", "sync", "-c", cfgPath); code != exitOK {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := cli(t, "", "app-password", "create", "alice@example.com", "--name", "archive", "-c", cfgPath); code != exitOK {
		t.Fatalf("app-password create: exit %d\n%s\n%s", code, out, errOut)
	}
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_LDAPGATE_DSN", pgtest.DSN(t))
	pgPath := filepath.Join(filepath.Dir(cfgPath), "postgres.yaml")
	pgCfg := strings.Replace(string(data), "path: store/ldapgate.db", "driver: postgres\n  dsn_env: TEST_LDAPGATE_DSN", 1)
	if err := os.WriteFile(pgPath, []byte(pgCfg), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := cli(t, "", "store", "copy", "--to", pgPath, "-c", cfgPath)
	if code != exitOK || !strings.Contains(out, "app_passwords          1") {
		t.Fatalf("store copy: exit %d\n%s\n%s", code, out, errOut)
	}
	_, want, _ := cli(t, "", "users", "list", "-c", cfgPath, "--json")
	code, got, _ := cli(t, "", "users", "list", "-c", pgPath, "--json")
	if code != exitOK || got != want || !strings.Contains(got, "alice@example.com") {
		t.Errorf("users in the copy differ from the store (exit %d)", code)
	}
	_, wantAP, _ := cli(t, "", "app-password", "list", "alice@example.com", "-c", cfgPath, "--json")
	code, gotAP, _ := cli(t, "", "app-password", "list", "alice@example.com", "-c", pgPath, "--json")
	if code != exitOK || gotAP != wantAP || !strings.Contains(gotAP, "archive") {
		t.Errorf("app passwords in the copy differ (exit %d):\n%s\nwant\n%s", code, gotAP, wantAP)
	}
	if code, _, errOut := cli(t, "", "store", "copy", "--to", pgPath, "-c", cfgPath); code == exitOK || !strings.Contains(errOut, "--replace") {
		t.Errorf("second copy into the same store: exit %d, %s", code, errOut)
	}
	if code, out, errOut := cli(t, "", "store", "copy", "--to", pgPath, "--replace", "-c", cfgPath); code != exitOK {
		t.Errorf("copy with --replace: exit %d\n%s\n%s", code, out, errOut)
	}
}
