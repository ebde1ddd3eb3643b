package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrivilegesCommands(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	if code, _, errOut := cli(t, "", "sync", "-c", cfgPath); code != exitOK {
		t.Fatalf("sync: %d\n%s", code, errOut)
	}
	holders := func() map[string][]string {
		t.Helper()
		code, out, errOut := cli(t, "", "privileges", "list", "--json", "-c", cfgPath)
		if code != exitOK {
			t.Fatalf("list: %d %s", code, errOut)
		}
		var rs []privilegeReport
		if err := json.Unmarshal([]byte(out), &rs); err != nil {
			t.Fatal(err)
		}
		m := map[string][]string{}
		for _, r := range rs {
			m[r.Name] = r.Users
		}
		return m
	}
	if strings.Contains(strings.Join(holders()["auditor"], " "), "daniel.kim@example.com") {
		t.Fatal("daniel holds auditor before the grant")
	}
	if code, out, errOut := cli(t, "", "privileges", "grant", "daniel.kim", "auditor", "-c", cfgPath); code != exitOK || !strings.Contains(out, "Granted auditor") {
		t.Fatalf("grant: %d %q %q", code, out, errOut)
	}
	if !strings.Contains(strings.Join(holders()["auditor"], " "), "daniel.kim@example.com") {
		t.Error("grant not listed")
	}
	// A sync keeps the grant.
	if code, _, errOut := cli(t, "", "sync", "-c", cfgPath); code != exitOK {
		t.Fatalf("sync: %d\n%s", code, errOut)
	}
	if !strings.Contains(strings.Join(holders()["auditor"], " "), "daniel.kim@example.com") {
		t.Error("the sync dropped the grant")
	}
	if code, _, errOut := cli(t, "", "privileges", "revoke", "daniel.kim@example.com", "auditor", "-c", cfgPath); code != exitOK {
		t.Fatalf("revoke: %d %q", code, errOut)
	}
	if strings.Contains(strings.Join(holders()["auditor"], " "), "daniel.kim@example.com") {
		t.Error("revoked grant still listed")
	}
	if code, _, errOut := cli(t, "", "privileges", "grant", "nobody", "x", "-c", cfgPath); code == exitOK || !strings.Contains(errOut, "no user") {
		t.Errorf("grant to nobody: %d %q", code, errOut)
	}
}

// TestPrivilegesRefuseTypos: a misspelt privilege is refused with the name
// meant, and no privilege group of the typo appears; revoking what the
// user does not hold fails and says what it holds.
func TestPrivilegesRefuseTypos(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	if code, _, errOut := cli(t, "", "sync", "-c", cfgPath); code != exitOK {
		t.Fatalf("sync: %d\n%s", code, errOut)
	}
	code, out, errOut := cli(t, "", "privileges", "grant", "alice", "exprot", "-c", cfgPath)
	if code != exitError || !strings.Contains(errOut, `unknown privilege "exprot" (did you mean "export"?)`) {
		t.Errorf("grant exprot: exit %d, %q %q; want 1 and a did-you-mean", code, out, errOut)
	}
	if _, out, _ := cli(t, "", "privileges", "list", "-c", cfgPath); strings.Contains(out, "exprot") {
		t.Errorf("a refused grant made a privilege:\n%s", out)
	}
	code, out, errOut = cli(t, "", "privileges", "revoke", "daniel.kim", "auditor", "-c", cfgPath)
	if code != exitError || !strings.Contains(errOut, `daniel.kim@example.com does not hold privilege "auditor"`) ||
		!strings.Contains(errOut, "it holds login, read-own-archive") {
		t.Errorf("revoke of a privilege not held: exit %d, %q %q; want 1 and what daniel holds", code, out, errOut)
	}
	if strings.Contains(out, "Revoked") {
		t.Errorf("revoke of a privilege not held says %q", out)
	}
}

func TestConfigDiff(t *testing.T) {
	oldPath, _ := demoSetup(t)
	data, err := os.ReadFile(oldPath)
	if err != nil {
		t.Fatal(err)
	}
	newPath := filepath.Join(filepath.Dir(oldPath), "new.yaml")
	text := strings.Replace(strings.Replace(string(data), "interval: 15m", "interval: 30m", 1), "listen: 127.0.0.1:0", "listen: 127.0.0.1:389", 1)
	if err := os.WriteFile(newPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, "", "config", "diff", oldPath, newPath)
	if code != exitOK {
		t.Fatalf("diff: %d %s", code, errOut)
	}
	for _, want := range []string{"sync.interval", "15m0s", "30m0s", "now", "ldap.listen", "restart", "need a restart"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff output lacks %q:\n%s", want, out)
		}
	}
	if code, out, _ := cli(t, "", "config", "diff", oldPath, oldPath); code != exitOK || !strings.Contains(out, "No changes") {
		t.Errorf("diff of a file with itself: %d %q", code, out)
	}
}

func TestCompletion(t *testing.T) {
	code, out, errOut := cli(t, "", "completion", "bash")
	if code != exitOK || !strings.Contains(out, "__start_ldapgate") {
		t.Errorf("completion bash: %d %q %q", code, out[:min(len(out), 200)], errOut)
	}
}
