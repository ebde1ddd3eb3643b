package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ldapgate/ldapgate/connect"
)

// startApache runs Apache httpd with mod_authnz_ldap on 127.0.0.1 and the
// apache guide's locations: basic authentication against ldapgate (search
// as the archive service account, then bind as the user), requiring groups
// (Require ldap-group, which Apache checks with LDAP Compare operations
// and, for nested groups, searches). It returns the base URL.
//
// Apache binds its own listener (it can only inherit one from systemd), so
// the harness picks a port that was free a moment ago; if another process
// takes it first, Apache fails to bind and the whole start is retried
// with a new port.
func startApache(t *testing.T, d *directory) string {
	t.Helper()
	bins := need(t, "apache2")
	usr, grp := serviceUser(t, "www-data")
	mods := "/usr/lib/apache2/modules"
	for attempt := 1; ; attempt++ {
		dir := daemonDir(t)
		docs := filepath.Join(dir, "htdocs")
		for _, loc := range []string{"engineering", "all-staff", "management", "user"} {
			if err := os.MkdirAll(filepath.Join(docs, loc), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(docs, loc, "index.txt"), "welcome to "+loc+"\n", 0o644)
		}
		addr := freePort(t)
		// Each location is the apache guide's, for its group; /user
		// requires Daniel by name instead.
		location := func(path, group, require string) string {
			g := d.guide(t, "apache", func(s *connect.Settings) { s.Group = group })
			loc := strings.Replace(g.File("site configuration"), "<Location /protected>", "<Location "+path+">", 1)
			if require != "" {
				loc = strings.Replace(loc, "Require ldap-group cn="+group+",ou=groups,"+baseDN, require, 1)
			}
			return loc
		}
		conf := filepath.Join(dir, "httpd.conf")
		writeFile(t, conf, fmt.Sprintf(`ServerRoot %[1]s
ServerName 127.0.0.1
Listen %[2]s
PidFile %[1]s/httpd.pid
DefaultRuntimeDir %[1]s
Mutex file:%[1]s default
ErrorLog %[1]s/error.log
LogLevel warn authnz_ldap:debug ldap:debug
LoadModule mpm_event_module %[3]s/mod_mpm_event.so
LoadModule authn_core_module %[3]s/mod_authn_core.so
LoadModule authz_core_module %[3]s/mod_authz_core.so
LoadModule authz_user_module %[3]s/mod_authz_user.so
LoadModule auth_basic_module %[3]s/mod_auth_basic.so
LoadModule ldap_module %[3]s/mod_ldap.so
LoadModule authnz_ldap_module %[3]s/mod_authnz_ldap.so
User %[5]s
Group %[6]s
LDAPCacheEntries 0
LDAPOpCacheEntries 0
LDAPTrustedMode NONE
DocumentRoot %[4]s
<Directory />
  AllowOverride None
</Directory>
<Directory %[4]s>
  Require all granted
</Directory>
%[7]s%[8]s%[9]s%[10]s`, dir, addr, mods, docs, usr, grp,
			location("/engineering", "engineering", ""),
			location("/all-staff", "all-staff", ""),
			location("/management", "management", ""),
			location("/user", "engineering", "Require ldap-user "+danielUID)), 0o644)
		p := startProcess(t, bins["apache2"], "-f", conf, "-DFOREGROUND")
		base := "http://" + addr
		err := p.waitFor(func() bool {
			resp, err := http.Get(base + "/")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return true
		})
		if err == nil {
			t.Cleanup(func() {
				if t.Failed() {
					log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
					t.Logf("apache error log:\n%s", log)
				}
			})
			return base
		}
		p.stop()
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		out := p.out.String() + string(log)
		if attempt < 5 && strings.Contains(out, "could not bind") {
			t.Logf("apache: port %s taken, retrying: %s", addr, out)
			continue
		}
		t.Fatalf("apache: %v\n%s", err, out)
	}
}

func TestApacheLDAPGroup(t *testing.T) {
	d := startDirectory(t)
	base := startApache(t, d)
	get := func(path, user, pw string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	tests := []struct {
		name, path, user, pw string
		want                 int
	}{
		{"direct member", "/engineering/index.txt", danielUID, d.danielPW, http.StatusOK},
		{"nested member", "/all-staff/index.txt", danielUID, d.danielPW, http.StatusOK},
		{"not a member", "/management/index.txt", danielUID, d.danielPW, http.StatusUnauthorized},
		{"ldap-user", "/user/index.txt", danielUID, d.danielPW, http.StatusOK},
		{"wrong password", "/engineering/index.txt", danielUID, "wrong-password-123", http.StatusUnauthorized},
		{"unknown user", "/engineering/index.txt", "nobody.here", d.danielPW, http.StatusUnauthorized},
		{"no credentials", "/engineering/index.txt", "", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(tt.path, tt.user, tt.pw)
			if code != tt.want {
				t.Errorf("GET %s as %q: %d, want %d\n%s", tt.path, tt.user, code, tt.want, body)
			}
			if code == http.StatusOK && !strings.HasPrefix(body, "welcome") {
				t.Errorf("body %q", body)
			}
		})
	}
	// Apache checked the groups with Compare.
	if log := d.log.String(); !strings.Contains(log, "compare") {
		t.Errorf("no compare in ldapgate's log:\n%s", log)
	}
}

// TestApacheStartTLS: the apache guide's TLS settings (STARTTLS in
// AuthLDAPURL, LDAPTrustedGlobalCert) against a directory that requires
// TLS.
func TestApacheStartTLS(t *testing.T) {
	d := startDirectoryTLS(t, startTLS)
	base := startApache(t, d)
	for _, tt := range []struct {
		pw   string
		want int
	}{{d.danielPW, http.StatusOK}, {"wrong-password-123", http.StatusUnauthorized}} {
		req, err := http.NewRequest("GET", base+"/engineering/index.txt", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(danielUID, tt.pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET /engineering over StartTLS with password %q: %d, want %d", tt.pw, resp.StatusCode, tt.want)
		}
	}
}
