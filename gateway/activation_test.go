package gateway

import (
	"slices"
	"strings"
	"testing"
)

func TestListenFDNames(t *testing.T) {
	const pid = 4242
	for _, tc := range []struct {
		name  string
		env   map[string]string
		want  []string
		error string
	}{
		{"no activation", map[string]string{}, nil, ""},
		{"for another process", map[string]string{"LISTEN_PID": "17", "LISTEN_FDS": "1"}, nil, ""},
		{"one socket is LDAP whatever its name", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "ldapgate.socket"}, []string{"ldap"}, ""},
		{"named sockets", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "3", "LISTEN_FDNAMES": "ldaps:ldap:metrics"}, []string{"ldaps", "ldap", "metrics"}, ""},
		{"none", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "0"}, nil, ""},
		{"names missing", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "2"}, nil, "2 sockets but LISTEN_FDNAMES names 1"},
		{"unknown name", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "ldap:ldapgate.socket"}, nil, `socket named "ldapgate.socket"`},
		{"not a number", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "two"}, nil, `LISTEN_FDS="two"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := listenFDNames(func(k string) string { return tc.env[k] }, pid)
			if tc.error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("got %q, %v; want an error with %q", got, err, tc.error)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
