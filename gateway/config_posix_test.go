package gateway

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/directory"
)

func TestParseConfigPOSIX(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	withPOSIX := func(s string) []byte {
		return []byte(strings.Replace(minimal, "  listen: 127.0.0.1:3389\n", "  listen: 127.0.0.1:3389\n"+s, 1))
	}
	cfg, err := ParseConfig("/etc/ldapgate/ldapgate.yaml", withPOSIX(`  active_directory: true
  posix:
    enabled: true
    uid_min: 100000
    uid_max: 199999
    home_directory: /home/{domain}/{local}
    login_shell: /bin/zsh
`))
	if err != nil {
		t.Fatal(err)
	}
	want := directory.POSIX{Enabled: true, UIDMin: 100000, UIDMax: 199999, HomeDirectory: "/home/{domain}/{local}", LoginShell: "/bin/zsh"}
	if diff := cmp.Diff(cfg.ldapPOSIX(), want); diff != "" {
		t.Errorf("posix (-got +want):\n%s", diff)
	}
	if !cfg.LDAP.ActiveDirectory {
		t.Error("active_directory not set")
	}

	for _, tt := range []struct{ yaml, want string }{
		{"  posix: {enabled: true, uid_min: 1000}\n", "ldap.posix.uid_min: uid_min and uid_max go together"},
		{"  posix: {enabled: true, uid_min: 1000, uid_max: 1100}\n", "must hold at least 1000 numbers"},
		{"  posix: {enabled: true, home_directory: \"/home/{user}\"}\n", "unknown placeholder"},
		{"  posix: {enabled: true, shell: /bin/sh}\n", "shell"},
	} {
		_, err := ParseConfig("/etc/ldapgate/ldapgate.yaml", withPOSIX(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
