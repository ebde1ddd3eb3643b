package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestAppPasswordCommands(t *testing.T) {
	cfgPath, _ := demoSetup(t)
	// Without app_password in binds, create refuses: the password could
	// not be used.
	text, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(text), "binds: [app_password]\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cli(t, "", "sync", "-c", cfgPath); code != exitOK {
		t.Fatalf("sync: %d\n%s", code, errOut)
	}
	code, out, errOut := cli(t, "", "app-password", "create", "daniel.kim@example.com", "--name", "archive", "-c", cfgPath)
	if code != exitError || out != "" || !strings.Contains(errOut, "app password binds are off") {
		t.Errorf("create with app password binds off: exit %d, %q %q; want 1, no password", code, out, errOut)
	}
	if err := os.WriteFile(cfgPath, text, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cli(t, "", "app-password", "create", "daniel.kim@example.com", "--name", "archive", "-c", cfgPath)
	if code != exitOK {
		t.Fatalf("create: %d\n%s", code, errOut)
	}
	if !regexp.MustCompile(`^[a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}\n$`).MatchString(out) {
		t.Errorf("create printed %q, want only the app password", out)
	}
	if !strings.Contains(errOut, "shown only now") {
		t.Errorf("create said %q", errOut)
	}
	pw := strings.TrimSpace(out)

	if code, _, errOut := cli(t, "", "app-password", "create", "daniel.kim", "--name", "ARCHIVE", "-c", cfgPath); code == exitOK || !strings.Contains(errOut, "already has") {
		t.Errorf("duplicate name: %d %q", code, errOut)
	}
	if code, _, _ := cli(t, "", "app-password", "create", "daniel.kim", "--service", "nope", "-c", cfgPath); code != exitUsage {
		t.Errorf("unknown service: exit %d, want %d", code, exitUsage)
	}
	if code, _, errOut := cli(t, "", "app-password", "create", "nobody@example.com", "-c", cfgPath); code == exitOK || !strings.Contains(errOut, "no user") {
		t.Errorf("unknown user: %d %q", code, errOut)
	}

	code, out, _ = cli(t, "", "app-password", "list", "daniel.kim", "-c", cfgPath)
	if code != exitOK || !strings.Contains(out, "archive") || !strings.Contains(out, "never") || !strings.Contains(out, "active") {
		t.Errorf("list: %d\n%s", code, out)
	}
	if strings.Contains(out, pw) {
		t.Error("list shows the app password")
	}
	if code, _, errOut := cli(t, "", "app-password", "revoke", "daniel.kim", "archive", "-c", cfgPath); code != exitOK {
		t.Fatalf("revoke: %d %s", code, errOut)
	}
	code, out, _ = cli(t, "", "app-password", "list", "daniel.kim@example.com", "--json", "-c", cfgPath)
	var list []struct {
		Name    string
		Revoked bool
		Hash    string
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != exitOK {
		t.Fatalf("list --json: %d %v\n%s", code, err, out)
	}
	if len(list) != 1 || !list[0].Revoked || strings.Contains(out, "argon2") {
		t.Errorf("list --json after revoke: %s", out)
	}
	if code, _, _ := cli(t, "", "app-password", "revoke", "daniel.kim", "archive", "-c", cfgPath); code == exitOK {
		t.Error("revoking twice succeeded")
	}
}
