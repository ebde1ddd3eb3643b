package connect

import (
	"slices"
	"strings"
	"testing"
)

func demo() Settings {
	return Settings{
		BaseDN: "dc=example,dc=com", Listen: "127.0.0.1:3389",
		ServiceAccounts: []string{"archive"}, POSIX: true,
		Binds: []string{"app_password"}, Privileges: []string{"login", "read-own-archive"},
		PortalURL: "https://ldapgate.example.com",
	}
}

// TestEveryGuideRenders renders every template of the table in every mode,
// so a broken template fails here and not on a user's screen.
func TestEveryGuideRenders(t *testing.T) {
	modes := map[string]func(*Settings){
		"plain":    func(*Settings) {},
		"starttls": func(s *Settings) { s.TLS, s.RequireTLS, s.Listen = true, true, "0.0.0.0:389" },
		"ldaps":    func(s *Settings) { s.TLS, s.LDAPSListen, s.Host = true, "0.0.0.0:636", "ldap.example.com" },
		"bare":     func(s *Settings) { *s = Settings{BaseDN: "dc=example,dc=com", Listen: ":389"} },
	}
	for mode, set := range modes {
		s := demo()
		set(&s)
		guides := List(s)
		if len(guides) != len(Names()) {
			t.Fatalf("%s: %d guides for %d names", mode, len(guides), len(Names()))
		}
		for _, g := range guides {
			if g.Title == "" || g.Where == "" || len(g.Fields)+len(g.Files) == 0 {
				t.Errorf("%s: %s: an empty guide: %+v", mode, g.Name, g)
			}
			var b strings.Builder
			if err := g.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), "<no value>") {
				t.Errorf("%s: %s renders a missing value:\n%s", mode, g.Name, b.String())
			}
		}
	}
}

func TestMailStore(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Settings)
		want map[string]string
		warn []string // substrings of the warnings, each must appear
		none bool     // no warnings at all
	}{
		{
			name: "demo on loopback, plain",
			set:  func(*Settings) {},
			want: map[string]string{
				"Server Name": "127.0.0.1", "Protocol": "LDAP", "Administrative DN": "cn=archive,ou=services,dc=example,dc=com",
				"Password": passwordPlaceholder, "Base DN": "dc=example,dc=com",
				"User Filter": "(&(objectClass=inetOrgPerson)(memberOf=cn=login,ou=privileges,dc=example,dc=com))",
				"User Name":   "uid", "Full Name": "displayName", "E-mail Address": "mail", "E-mail Aliases": "mailAlternateAddress",
				"Group Filter": "(objectClass=groupOfNames)",
			},
			warn: []string{"loopback", "in the clear", "port 389", "port 3389"},
		},
		{
			name: "StartTLS on every address",
			set: func(s *Settings) {
				s.Listen, s.TLS, s.RequireTLS, s.Host, s.Privileges = "0.0.0.0:389", true, true, "ldap.example.com", nil
			},
			want: map[string]string{"Server Name": "ldap.example.com", "Protocol": "LDAP-TLS", "User Filter": "(objectClass=inetOrgPerson)"},
			none: true,
		},
		{
			name: "LDAPS wins over StartTLS",
			set: func(s *Settings) {
				s.Listen, s.LDAPSListen, s.TLS, s.RequireTLS, s.Host = "0.0.0.0:389", "0.0.0.0:636", true, true, "ldap.example.com"
			},
			want: map[string]string{"Protocol": "LDAP-SSL"},
			none: true,
		},
		{
			name: "every address, no host given",
			set:  func(s *Settings) { s.Listen, s.TLS, s.RequireTLS = "[::]:389", true, true },
			want: map[string]string{"Server Name": hostPlaceholder},
			warn: []string{"every address", "--host"},
		},
		{
			name: "TLS offered, not required",
			set:  func(s *Settings) { s.Listen, s.TLS, s.Host = "192.0.2.1:389", true, "" },
			want: map[string]string{"Server Name": "192.0.2.1", "Protocol": "LDAP-TLS"},
			warn: []string{"require_tls is false"},
		},
		{
			name: "no binds, no service account",
			set: func(s *Settings) {
				s.Listen, s.TLS, s.RequireTLS, s.Binds, s.ServiceAccounts = "192.0.2.1:389", true, true, nil, nil
			},
			warn: []string{"binds is empty", "no service_accounts"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := demo()
			tt.set(&s)
			g, err := For("mailstore", s)
			if err != nil {
				t.Fatal(err)
			}
			for label, want := range tt.want {
				if got := g.Value(label); got != want {
					t.Errorf("%s = %q, want %q", label, got, want)
				}
			}
			all := strings.Join(g.Warnings, "\n")
			for _, w := range tt.warn {
				if !strings.Contains(all, w) {
					t.Errorf("no warning with %q in:\n%s", w, all)
				}
			}
			if tt.none && len(g.Warnings) > 0 {
				t.Errorf("warnings for a good config:\n%s", all)
			}
		})
	}
}

func TestLogonFromBinds(t *testing.T) {
	s := demo()
	g, _ := For("mailstore", s)
	if notes := strings.Join(g.Notes, "\n"); !strings.Contains(notes, "app password from the ldapgate portal (https://ldapgate.example.com)") {
		t.Errorf("MailStore notes do not tell users to log on with app passwords from the portal:\n%s", notes)
	}
	s.Binds = []string{"upstream_ldap"}
	g, _ = For("mailstore", s)
	if notes := strings.Join(g.Notes, "\n"); strings.Contains(notes, "app password") || !strings.Contains(notes, "Google password") {
		t.Errorf("with upstream_ldap only, the notes say:\n%s", notes)
	}
}

func TestClientSpecificWarnings(t *testing.T) {
	s := demo()
	s.Listen, s.TLS, s.RequireTLS, s.POSIX = "192.0.2.1:389", true, true, false
	for _, name := range []string{"sssd", "nslcd", "dovecot", "synology"} {
		g, _ := For(name, s)
		if !slices.ContainsFunc(g.Warnings, func(w string) bool { return strings.Contains(w, "ldap.posix.enabled is false") }) {
			t.Errorf("%s without POSIX: no warning in %q", name, g.Warnings)
		}
	}
	g, _ := For("jira", s)
	if !slices.ContainsFunc(g.Warnings, func(w string) bool { return strings.Contains(w, "not StartTLS") }) {
		t.Errorf("jira with StartTLS only: warnings %q", g.Warnings)
	}
	s.TLS = false
	g, _ = For("sssd", s)
	if !slices.ContainsFunc(g.Warnings, func(w string) bool { return strings.Contains(w, "SSSD refuses") }) {
		t.Errorf("sssd without TLS: warnings %q", g.Warnings)
	}
}

func TestTLSModesInFiles(t *testing.T) {
	s := demo()
	s.Listen, s.TLS, s.RequireTLS, s.BindPassword = "192.0.2.1:389", true, true, "s3cret"
	g, _ := For("sssd", s)
	conf := g.File("/etc/sssd/sssd.conf")
	for _, want := range []string{"ldap_uri = ldap://192.0.2.1:389\n", "ldap_id_use_start_tls = true\n", "ldap_tls_cacert", "ldap_default_authtok = s3cret\n"} {
		if !strings.Contains(conf, want) {
			t.Errorf("sssd.conf has no %q:\n%s", want, conf)
		}
	}
	g, _ = For("nslcd", s)
	if conf := g.File("/etc/nslcd.conf"); !strings.Contains(conf, "ssl start_tls\n") {
		t.Errorf("nslcd.conf with StartTLS:\n%s", conf)
	}
	s.LDAPSListen = "192.0.2.1:636"
	g, _ = For("nslcd", s)
	if conf := g.File("/etc/nslcd.conf"); !strings.Contains(conf, "uri ldaps://192.0.2.1:636/\n") || !strings.Contains(conf, "ssl on\n") {
		t.Errorf("nslcd.conf with LDAPS:\n%s", conf)
	}
	g, _ = For("apache", s)
	if conf := g.File("site configuration"); !strings.Contains(conf, `AuthLDAPURL "ldaps://192.0.2.1:636/ou=people,dc=example,dc=com?uid?sub?(objectClass=inetOrgPerson)" SSL`) {
		t.Errorf("apache with LDAPS:\n%s", conf)
	}
}

func TestUnknownClient(t *testing.T) {
	_, err := For("mailstor", demo())
	if err == nil || !strings.Contains(err.Error(), "mailstore") {
		t.Errorf("For(mailstor): %v, want an error listing the clients", err)
	}
}
