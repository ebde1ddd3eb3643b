package dirapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/store"
)

func TestPOSIXFromAPI(t *testing.T) {
	tests := []struct {
		name    string
		in      any // posixAccounts: Go values, or JSON text as the API sends it
		want    store.POSIXAccount
		wantErr string
	}{
		{name: "none", in: nil},
		{name: "empty list", in: `[]`},
		{
			name: "primary wins over the first",
			in: []*admin.UserPosixAccount{
				{Uid: 1001, Gid: 1001, Username: "alice", HomeDirectory: "/home/a", Shell: "/bin/sh", SystemId: "lab"},
				{Uid: 2001, Gid: 100, Username: "alice", HomeDirectory: " /home/alice ", Shell: "/bin/zsh", Gecos: "Alice", Primary: true},
			},
			want: store.POSIXAccount{UID: 2001, GID: 100, HomeDirectory: "/home/alice", Shell: "/bin/zsh", Gecos: "Alice"},
		},
		{
			name: "else the first",
			in:   `[{"uid": "1001", "gid": "50", "homeDirectory": "/home/a"}, {"uid": "1002"}]`,
			want: store.POSIXAccount{UID: 1001, GID: 50, HomeDirectory: "/home/a"},
		},
		{
			name: "numbers as JSON numbers, no gid",
			in:   `[{"uid": 1003, "shell": "/bin/bash"}]`,
			want: store.POSIXAccount{UID: 1003, Shell: "/bin/bash"},
		},
		{
			name: "uid 0 is never taken, not even as the primary",
			in:   `[{"uid": "0", "gid": "0", "primary": true, "homeDirectory": "/root"}, {"uid": "1004", "gid": "0"}]`,
			want: store.POSIXAccount{UID: 1004},
		},
		{name: "only root", in: `[{"uid": "0", "primary": true}, {"username": "nouid"}]`},
		{
			name: "ids beyond 32 bits",
			in:   `[{"uid": "4294967295"}, {"uid": "4294967294", "gid": "4294967295"}]`,
			want: store.POSIXAccount{UID: 4294967294},
		},
		{name: "not a list", in: `{"uid": "1"}`, wantErr: "posixAccounts: not a list"},
		{name: "entry not an object", in: `["x"]`, wantErr: "posixAccounts[0]: not an object"},
		{name: "bad uid", in: `[{"uid": "-5"}]`, wantErr: "posixAccounts[0]: uid or gid is not a whole number"},
		{name: "bad shell", in: `[{"uid": "5", "shell": 7}]`, wantErr: "posixAccounts[0]: shell: expected string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &admin.User{Id: "1", PrimaryEmail: "alice@example.com", PosixAccounts: tt.in}
			if s, ok := tt.in.(string); ok {
				var v any
				if err := json.Unmarshal([]byte(s), &v); err != nil {
					t.Fatal(err)
				}
				u.PosixAccounts = v
			}
			got, err := UserFromAPI(u)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "alice@example.com") {
					t.Errorf("error %q does not name the user", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got.POSIX, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}
