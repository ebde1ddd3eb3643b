// Package connect renders, from the settings of one ldapgate, what to type
// into each LDAP client (MailStore Server, Nextcloud, Dovecot, SSSD, ...):
// the fields of its dialog and the files of its config. The command line
// (ldapgate clients) and the admin page's Connect page show the same
// guides, and the end-to-end tests in ldapserver/e2e configure the real
// clients from them, so a guide cannot drift from what was tested.
package connect

import (
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"text/template"
)

// Settings are the parts of an ldapgate config that a client's settings
// depend on.
type Settings struct {
	BaseDN      string
	Listen      string // ldap.listen, host:port
	LDAPSListen string // ldap.ldaps_listen, "" = no LDAPS
	TLS         bool   // ldap.tls is set: StartTLS on Listen, LDAPS on LDAPSListen
	RequireTLS  bool
	// ServiceAccounts are the names of the configured service accounts;
	// guides use the first unless ServiceAccount names one.
	ServiceAccounts []string
	ServiceAccount  string
	POSIX           bool // ldap.posix.enabled
	ActiveDirectory bool // ldap.active_directory
	Binds           []string
	Privileges      []string // privilege names the config mentions
	PortalURL       string   // http.public_url, where users make app passwords

	// Host is the name clients connect to; "" takes the listen address's
	// host, or a placeholder when ldapgate listens on every address.
	Host string
	// BindPassword is the service account's password; "" writes a
	// placeholder (the config holds only its hash).
	BindPassword string
	// Group is the cn of the group a client's examples restrict logons
	// to; "" writes a placeholder.
	Group string
}

// Guide is one client's settings.
type Guide struct {
	Name  string // as on the command line: mailstore, nextcloud, ...
	Title string
	Where string // where the settings go in the client
	// Fields are the values to type into the client's dialog, in its order.
	Fields []Field
	// Files are config files (or commands) to write on the client.
	Files []File
	Notes []string
	// Warnings are values this client cannot use as they are.
	Warnings []string
}

// Field is one setting of a client's dialog. Key is the client's own name
// for it where it has one (Nextcloud's occ keys), else "".
type Field struct{ Label, Key, Value string }

// File is a config file, or a command, for the client.
type File struct{ Path, Text string }

// Value returns the value of the field labelled or keyed name, or "".
func (g Guide) Value(name string) string {
	for _, f := range g.Fields {
		if f.Label == name || (f.Key != "" && f.Key == name) {
			return f.Value
		}
	}
	return ""
}

// File returns the text of the file at path, or "".
func (g Guide) File(path string) string {
	for _, f := range g.Files {
		if f.Path == path {
			return f.Text
		}
	}
	return ""
}

// Names lists the clients, in the order of List.
func Names() []string {
	out := make([]string, len(clients))
	for i, c := range clients {
		out[i] = c.name
	}
	return out
}

// List returns every client's guide for s.
func List(s Settings) []Guide {
	p := newParams(s)
	out := make([]Guide, len(clients))
	for i := range clients {
		out[i] = clients[i].render(p)
	}
	return out
}

// For returns the guide of the client named name (see Names).
func For(name string, s Settings) (Guide, error) {
	for i := range clients {
		if clients[i].name == name {
			return clients[i].render(newParams(s)), nil
		}
	}
	return Guide{}, fmt.Errorf("no client %q (expected one of %s)", name, strings.Join(Names(), ", "))
}

// Placeholders written where the config does not tell.
const (
	hostPlaceholder     = "HOSTNAME"
	passwordPlaceholder = "SERVICE-ACCOUNT-PASSWORD"
	groupPlaceholder    = "GROUP"
)

// params are what the templates of clients.go see.
type params struct {
	Settings
	Host, Port           string
	Mode                 string // plain, starttls or ldaps
	StartTLS, LDAPS, TLS bool
	Scheme, URI          string // ldap or ldaps; scheme://host:port
	PeopleDN, GroupsDN   string
	PrivilegesDN         string
	BindDN, BindPassword string
	Group, GroupDN       string
	// LoginDN is the privilege group cn=login when the config grants
	// that privilege: clients can restrict logons to its members.
	LoginDN string
	// Passwords are the passwords users log on with, from the bind
	// methods; Logon is the whole sentence.
	Passwords, Logon string
	// general are the warnings every client shares.
	general []string
}

func newParams(s Settings) *params {
	p := &params{Settings: s}
	listen := s.Listen
	switch {
	case s.TLS && s.LDAPSListen != "":
		p.Mode, p.LDAPS, p.Scheme, listen = "ldaps", true, "ldaps", s.LDAPSListen
	case s.TLS:
		p.Mode, p.StartTLS, p.Scheme = "starttls", true, "ldap"
	default:
		p.Mode, p.Scheme = "plain", "ldap"
	}
	p.TLS = p.StartTLS || p.LDAPS
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		host, port = listen, "389"
	}
	p.Port = port
	ip := net.ParseIP(host)
	switch {
	case s.Host != "":
		p.Host = s.Host
	case s.ListensEverywhere():
		p.Host = hostPlaceholder
		p.general = append(p.general, "ldapgate listens on every address ("+listen+"): replace "+hostPlaceholder+" with the name or address clients reach it by (ldapgate clients --host NAME)")
	default:
		p.Host = host
	}
	if ip != nil && ip.IsLoopback() {
		p.general = append(p.general, "ldapgate listens on "+listen+", a loopback address: only programs on the ldapgate machine can connect; for a client on another machine set "+listenKey(p)+" to an address it reaches (e.g. 0.0.0.0:"+port+")")
	}
	p.URI = p.Scheme + "://" + net.JoinHostPort(p.Host, p.Port)
	if !p.TLS {
		p.general = append(p.general, "no ldap.tls: the service account's password and users' passwords cross the network in the clear; set ldap.tls and ldap.require_tls: true, then use StartTLS or LDAPS in every client")
	} else if !s.RequireTLS {
		p.general = append(p.general, "ldap.require_tls is false: a client that skips TLS still works, sending passwords in the clear; set it to true once every client uses TLS")
	}
	base := s.BaseDN
	p.PeopleDN, p.GroupsDN, p.PrivilegesDN = "ou=people,"+base, "ou=groups,"+base, "ou=privileges,"+base
	sa := s.ServiceAccount
	if sa == "" && len(s.ServiceAccounts) > 0 {
		sa = s.ServiceAccounts[0]
	}
	if sa == "" {
		sa = "archive"
		p.general = append(p.general, "the config has no service_accounts: add one (ldapgate password hash) for the client to search with")
	}
	p.BindDN = "cn=" + sa + ",ou=services," + base
	p.BindPassword = s.BindPassword
	if p.BindPassword == "" {
		p.BindPassword = passwordPlaceholder
	}
	p.Group = s.Group
	if p.Group == "" {
		p.Group = groupPlaceholder
	}
	p.GroupDN = "cn=" + p.Group + "," + p.GroupsDN
	if slices.Contains(s.Privileges, "login") {
		p.LoginDN = "cn=login," + p.PrivilegesDN
	}
	p.Passwords = passwords(s)
	p.Logon = "their user name or e-mail address and " + p.Passwords
	if len(s.Binds) == 0 {
		p.general = append(p.general, "binds is empty: only service accounts can bind, directory users cannot log on; add app_password (and set up the portal)")
	}
	return p
}

// listenKey is the config key of the address clients use.
func listenKey(p *params) string {
	if p.LDAPS {
		return "ldap.ldaps_listen"
	}
	return "ldap.listen"
}

// passwords says which passwords directory users log on with.
func passwords(s Settings) string {
	var ways []string
	for _, b := range s.Binds {
		switch b {
		case "app_password":
			w := "an app password from the ldapgate portal"
			if s.PortalURL != "" {
				w += " (" + s.PortalURL + ")"
			}
			ways = append(ways, w)
		case "id_token":
			ways = append(ways, "an OIDC ID token")
		case "password_grant":
			ways = append(ways, "their identity provider's password")
		case "upstream_ldap":
			ways = append(ways, "their Google password (checked by the upstream LDAP)")
		}
	}
	if len(ways) == 0 {
		return "no password at all: no bind method is configured (binds)"
	}
	return strings.Join(ways, ", or ")
}

// client is one row of the table in clients.go: templates over params.
type client struct {
	name, title, where string
	fields             []fieldDef
	files              []fileDef
	notes              []string
	// check returns the warnings particular to this client.
	check func(p *params) []string
}

type fieldDef struct{ label, key, tmpl string }
type fileDef struct{ path, tmpl string }

func (c *client) render(p *params) Guide {
	g := Guide{Name: c.name, Title: c.title, Where: c.exec(c.where, p)}
	for _, f := range c.fields {
		if v := c.exec(f.tmpl, p); v != "" {
			g.Fields = append(g.Fields, Field{Label: f.label, Key: f.key, Value: v})
		}
	}
	for _, f := range c.files {
		g.Files = append(g.Files, File{Path: c.exec(f.path, p), Text: c.exec(f.tmpl, p)})
	}
	for _, n := range c.notes {
		if v := c.exec(n, p); v != "" {
			g.Notes = append(g.Notes, v)
		}
	}
	g.Warnings = slices.Clone(p.general)
	if c.check != nil {
		g.Warnings = append(g.Warnings, c.check(p)...)
	}
	return g
}

// exec runs one template of the table; the table is tested whole
// (TestEveryGuideRenders), so a broken template is a programming error.
func (c *client) exec(tmpl string, p *params) string {
	t := template.Must(template.New(c.name).Option("missingkey=error").Parse(tmpl))
	var b strings.Builder
	if err := t.Execute(&b, p); err != nil {
		panic(fmt.Sprintf("connect: client %s: %v", c.name, err))
	}
	return b.String()
}

// WriteText writes g as the command line prints it: the warnings first,
// then the fields, the files and the notes.
func (g *Guide) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n  in %s\n", g.Title, g.Where)
	if len(g.Warnings) > 0 {
		b.WriteString("\n")
	}
	for _, warn := range g.Warnings {
		fmt.Fprintf(&b, "  ! %s\n", warn)
	}
	if len(g.Fields) > 0 {
		width := 0
		for _, f := range g.Fields {
			width = max(width, len(f.Label))
		}
		b.WriteString("\n")
		for _, f := range g.Fields {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, f.Label, f.Value)
		}
	}
	for _, f := range g.Files {
		fmt.Fprintf(&b, "\n  %s:\n", f.Path)
		for _, line := range strings.Split(strings.TrimRight(f.Text, "\n"), "\n") {
			if line == "" {
				b.WriteString("\n")
				continue
			}
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	if len(g.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range g.Notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ListensEverywhere reports whether the address clients use is a wildcard
// (0.0.0.0, ::), which names no host a client could connect to.
func (s Settings) ListensEverywhere() bool {
	listen := s.Listen
	if s.TLS && s.LDAPSListen != "" {
		listen = s.LDAPSListen
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	ip := net.ParseIP(host)
	return host == "" || (ip != nil && ip.IsUnspecified())
}
