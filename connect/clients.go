package connect

// The clients, as templates over params (connect.go). Filters name the
// object classes every ldapgate entry has; logins accept the uid, the
// primary address or an alias, as ldapgate's binds do.

// userFilter and loginFilter are shared by most clients; %s is the
// client's own placeholder for the name typed.
const (
	userFilter  = `{{if .LoginDN}}(&(objectClass=inetOrgPerson)(memberOf={{.LoginDN}})){{else}}(objectClass=inetOrgPerson){{end}}`
	groupFilter = `(objectClass=groupOfNames)`
)

func loginFilter(ph string) string {
	return `(&(objectClass=inetOrgPerson)(|(uid=` + ph + `)(mail=` + ph + `)(mailAlternateAddress=` + ph + `)))`
}

// needTLSForPasswords is the warning of clients that refuse to send
// passwords in the clear.
func needTLSForPasswords(who string) func(p *params) []string {
	return func(p *params) []string {
		if p.TLS {
			return nil
		}
		return []string{who + " refuses to check passwords over plain LDAP: without ldap.tls only its lookups work"}
	}
}

// needPOSIX is the warning of NSS clients.
func needPOSIX(who string) func(p *params) []string {
	return func(p *params) []string {
		if p.POSIX {
			return nil
		}
		return []string{"ldap.posix.enabled is false: " + who + " finds no users or groups without the POSIX attributes"}
	}
}

func checks(fs ...func(p *params) []string) func(p *params) []string {
	return func(p *params) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f(p)...)
		}
		return out
	}
}

const caNote = `{{if .TLS}}The client must trust ldapgate's certificate (ldap.tls.cert_file): install the CA that signed it on the client machine, at the CA path of these settings.{{end}}`

var clients = []client{
	{
		name: "mailstore", title: "MailStore Server",
		where: `MailStore Client > Administrative Tools > Users and Archives > Directory Services; directory service type "LDAP server" (Generic LDAP)`,
		fields: []fieldDef{
			{label: "Server Name", tmpl: `{{.Host}}`},
			{label: "Protocol", tmpl: `{{if .LDAPS}}LDAP-SSL{{else if .StartTLS}}LDAP-TLS{{else}}LDAP{{end}}`},
			{label: "Accept all certificates", tmpl: `{{if .TLS}}off; on only while ldapgate's certificate is self-signed and its CA is not installed on the MailStore machine{{else}}(only with LDAP-TLS or LDAP-SSL){{end}}`},
			{label: "Administrative DN", tmpl: `{{.BindDN}}`},
			{label: "Password", tmpl: `{{.BindPassword}}`},
			{label: "Base DN", tmpl: `{{.BaseDN}}`},
			{label: "User Filter", tmpl: userFilter},
			{label: "User Name", tmpl: `uid`},
			{label: "Full Name", tmpl: `displayName`},
			{label: "E-mail Address", tmpl: `mail`},
			{label: "E-mail Aliases", tmpl: `mailAlternateAddress`},
			{label: "Group Filter", tmpl: groupFilter},
			{label: "Authentication", tmpl: `Directory Services`},
		},
		notes: []string{
			`Users log on to MailStore with {{.Logon}}. MailStore checks the password by binding to ldapgate as the user.`,
			`{{if .LoginDN}}The user filter keeps the holders of the login privilege (ldapgate privileges grant USER login).{{end}}`,
			`Run "Synchronize" in the dialog: MailStore reads the users with the administrative DN and creates them; run it again (or on a schedule) after changes.`,
		},
		check: func(p *params) []string {
			if (p.LDAPS && p.Port != "636") || (!p.LDAPS && p.Port != "389") {
				return []string{"MailStore connects to port 389 (LDAP, LDAP-TLS) or 636 (LDAP-SSL); ldapgate listens on port " + p.Port + ": listen on the standard port or forward it"}
			}
			return nil
		},
	},
	{
		name: "nextcloud", title: "Nextcloud (user_ldap)",
		where: `Administration settings > LDAP/AD integration, or the occ commands below (occ ldap:show-config lists the configuration IDs)`,
		fields: []fieldDef{
			{label: "Host", key: "ldapHost", tmpl: `{{.Scheme}}://{{.Host}}`},
			{label: "Port", key: "ldapPort", tmpl: `{{.Port}}`},
			{label: "StartTLS", key: "ldapTLS", tmpl: `{{if .StartTLS}}1{{else}}0{{end}}`},
			{label: "User DN", key: "ldapAgentName", tmpl: `{{.BindDN}}`},
			{label: "Password", key: "ldapAgentPassword", tmpl: `{{.BindPassword}}`},
			{label: "Base DN", key: "ldapBase", tmpl: `{{.BaseDN}}`},
			{label: "Base user tree", key: "ldapBaseUsers", tmpl: `{{.PeopleDN}}`},
			{label: "Base group tree", key: "ldapBaseGroups", tmpl: `{{.GroupsDN}}`},
			{label: "User filter", key: "ldapUserFilter", tmpl: userFilter},
			{label: "Login filter", key: "ldapLoginFilter", tmpl: loginFilter("%uid")},
			{label: "Group filter", key: "ldapGroupFilter", tmpl: groupFilter},
			{label: "User display name field", key: "ldapUserDisplayName", tmpl: `displayName`},
			{label: "Email field", key: "ldapEmailAttribute", tmpl: `mail`},
			{label: "Group-member association", key: "ldapGroupMemberAssocAttr", tmpl: `member`},
			{label: "Nested groups", key: "ldapNestedGroups", tmpl: `0`},
			{label: "Paging chunk size", key: "ldapPagingSize", tmpl: `500`},
			{label: "UUID attribute for users", key: "ldapExpertUUIDUserAttr", tmpl: `entryUUID`},
			{label: "UUID attribute for groups", key: "ldapExpertUUIDGroupAttr", tmpl: `entryUUID`},
			{label: "Internal username attribute", key: "ldapExpertUsernameAttr", tmpl: `uid`},
		},
		files: []fileDef{{path: "occ commands", tmpl: `occ ldap:create-empty-config
# then, with the configuration ID it printed (s01 here):
occ ldap:set-config s01 ldapHost '{{.Scheme}}://{{.Host}}'
occ ldap:set-config s01 ldapPort '{{.Port}}'
occ ldap:set-config s01 ldapTLS '{{if .StartTLS}}1{{else}}0{{end}}'
occ ldap:set-config s01 ldapAgentName '{{.BindDN}}'
occ ldap:set-config s01 ldapAgentPassword '{{.BindPassword}}'
occ ldap:set-config s01 ldapBase '{{.BaseDN}}'
occ ldap:set-config s01 ldapBaseUsers '{{.PeopleDN}}'
occ ldap:set-config s01 ldapBaseGroups '{{.GroupsDN}}'
occ ldap:set-config s01 ldapUserFilter '` + userFilter + `'
occ ldap:set-config s01 ldapLoginFilter '` + loginFilter("%uid") + `'
occ ldap:set-config s01 ldapGroupFilter '` + groupFilter + `'
occ ldap:set-config s01 ldapUserDisplayName displayName
occ ldap:set-config s01 ldapEmailAttribute mail
occ ldap:set-config s01 ldapGroupMemberAssocAttr member
occ ldap:set-config s01 ldapNestedGroups 0
occ ldap:set-config s01 ldapPagingSize 500
occ ldap:set-config s01 ldapExpertUUIDUserAttr entryUUID
occ ldap:set-config s01 ldapExpertUUIDGroupAttr entryUUID
occ ldap:set-config s01 ldapExpertUsernameAttr uid
occ ldap:set-config s01 ldapConfigurationActive 1
occ ldap:test-config s01
`}},
		notes: []string{
			`Users log on with {{.Logon}}.`,
			`Nested groups stay off: ldapgate's member lists already hold the members of nested groups as DNs of groups, and memberOf holds every group, nested ones included.`,
			caNote,
		},
	},
	{
		name: "dovecot", title: "Dovecot 2.3 (passdb and userdb)",
		where: `/etc/dovecot/dovecot-ldap.conf.ext, and in conf.d/10-auth.conf "!include auth-ldap.conf.ext" instead of auth-system`,
		files: []fileDef{
			{path: "/etc/dovecot/dovecot-ldap.conf.ext", tmpl: `uris = {{.URI}}
dn = {{.BindDN}}
dnpass = {{.BindPassword}}
{{- if .StartTLS}}
tls = yes
{{- end}}
{{- if .TLS}}
tls_ca_cert_file = /etc/dovecot/ldapgate-ca.pem
tls_require_cert = demand
{{- end}}
# Passwords are checked by binding as the user: ldapgate decides the bind.
auth_bind = yes
ldap_version = 3
base = {{.PeopleDN}}
scope = subtree
user_filter = (&(objectClass=posixAccount)(|(uid=%u)(mail=%u)(mailAlternateAddress=%u)))
pass_filter = (&(objectClass=posixAccount)(|(uid=%u)(mail=%u)(mailAlternateAddress=%u)))
pass_attrs = uid=user
user_attrs = uid=user,homeDirectory=home,uidNumber=uid,gidNumber=gid
iterate_attrs = uid=user
iterate_filter = (objectClass=posixAccount)
`},
			{path: "/etc/dovecot/conf.d/auth-ldap.conf.ext", tmpl: `passdb {
  driver = ldap
  args = /etc/dovecot/dovecot-ldap.conf.ext
}
userdb {
  driver = ldap
  args = /etc/dovecot/dovecot-ldap.conf.ext
}
`},
		},
		notes: []string{
			`Users log on to IMAP with {{.Logon}}; the mailbox user is the uid.`,
			`Check with: doveadm auth test USER PASSWORD and doveadm user USER.`,
			caNote,
		},
		check: checks(needPOSIX("Dovecot's filters (objectClass=posixAccount)")),
	},
	{
		name: "apache", title: "Apache httpd (mod_authnz_ldap)",
		where: `a2enmod authnz_ldap; then in the site's configuration`,
		files: []fileDef{{path: "site configuration", tmpl: `{{- if .TLS}}# Server-wide: trust ldapgate's certificate.
LDAPTrustedGlobalCert CA_BASE64 /etc/apache2/ldapgate-ca.pem
{{end -}}
<Location /protected>
  AuthType Basic
  AuthName "ldapgate"
  AuthBasicProvider ldap
  AuthLDAPURL "{{.URI}}/{{.PeopleDN}}?uid?sub?(objectClass=inetOrgPerson)" {{if .LDAPS}}SSL{{else if .StartTLS}}STARTTLS{{else}}NONE{{end}}
  AuthLDAPBindDN "{{.BindDN}}"
  AuthLDAPBindPassword "{{.BindPassword}}"
  AuthLDAPGroupAttribute member
  AuthLDAPGroupAttributeIsDN on
  AuthLDAPMaxSubGroupDepth 3
  Require ldap-group {{.GroupDN}}
</Location>
`}},
		notes: []string{
			`Users log on with their uid and {{.Passwords}}.`,
			`Require ldap-group checks membership with LDAP compares, and nested groups with searches; "Require ldap-user NAME" and "Require valid-user" work too.`,
		},
	},
	{
		name: "sssd", title: "SSSD (sssd-ldap)",
		where: `/etc/sssd/sssd.conf (owner root, mode 0600); nsswitch.conf: passwd: files sss, group: files sss`,
		files: []fileDef{{path: "/etc/sssd/sssd.conf", tmpl: `[sssd]
services = nss, pam
domains = ldapgate

[domain/ldapgate]
id_provider = ldap
auth_provider = ldap
chpass_provider = none
ldap_uri = {{.URI}}
ldap_search_base = {{.BaseDN}}
ldap_schema = rfc2307bis
ldap_default_bind_dn = {{.BindDN}}
ldap_default_authtok = {{.BindPassword}}
ldap_id_use_start_tls = {{if .StartTLS}}true{{else}}false{{end}}
{{- if .TLS}}
ldap_tls_reqcert = demand
ldap_tls_cacert = /etc/sssd/ldapgate-ca.pem
{{- end}}
enumerate = false
`}},
		notes: []string{
			`With rfc2307bis SSSD resolves group members from the member DNs, ldap_group_nesting_level (default 2) deep; with deeper nesting use ldap_schema = rfc2307, which reads ldapgate's flattened memberUid.`,
			`Users log on (PAM) with {{.Logon}}.`,
			caNote,
		},
		check: checks(needPOSIX("SSSD"), needTLSForPasswords("SSSD")),
	},
	{
		name: "nslcd", title: "nslcd (nss-pam-ldapd)",
		where: `/etc/nslcd.conf (keep the package's uid and gid lines); nsswitch.conf: passwd: files ldap, group: files ldap`,
		files: []fileDef{{path: "/etc/nslcd.conf", tmpl: `uri {{.URI}}/
base {{.BaseDN}}
binddn {{.BindDN}}
bindpw {{.BindPassword}}
ldap_version 3
{{- if .LDAPS}}
ssl on
{{- else if .StartTLS}}
ssl start_tls
{{- end}}
{{- if .TLS}}
tls_reqcert demand
tls_cacertfile /etc/ssl/certs/ldapgate-ca.pem
{{- end}}
`}},
		notes: []string{
			`nslcd reads memberUid, which ldapgate serves with nested groups resolved. pam_ldap through nslcd checks passwords by binding as the user: {{.Logon}}.`,
			caNote,
		},
		check: checks(needPOSIX("nslcd")),
	},
	{
		name: "grafana", title: "Grafana",
		where: `grafana.ini: [auth.ldap] enabled = true, config_file = /etc/grafana/ldap.toml`,
		files: []fileDef{{path: "/etc/grafana/ldap.toml", tmpl: `[[servers]]
host = "{{.Host}}"
port = {{.Port}}
use_ssl = {{.TLS}}
start_tls = {{.StartTLS}}
{{- if .TLS}}
root_ca_cert = "/etc/grafana/ldapgate-ca.pem"
{{- end}}
bind_dn = "{{.BindDN}}"
bind_password = "{{.BindPassword}}"
search_filter = "` + loginFilter("%s") + `"
search_base_dns = ["{{.PeopleDN}}"]

[servers.attributes]
name = "givenName"
surname = "sn"
username = "uid"
member_of = "memberOf"
email = "mail"

[[servers.group_mappings]]
group_dn = "{{.GroupDN}}"
org_role = "Editor"

[[servers.group_mappings]]
group_dn = "*"
org_role = "Viewer"
`}},
		notes: []string{`Users log on with {{.Logon}}.`, `memberOf holds every group, nested ones included, so group_dn may name any group.`, caNote},
	},
	{
		name: "gitea", title: "Gitea / Forgejo",
		where: `Site Administration > Authentication Sources > Add: "LDAP (via BindDN)", or the command below (forgejo admin auth add-ldap takes the same flags)`,
		fields: []fieldDef{
			{label: "Security Protocol", tmpl: `{{if .LDAPS}}LDAPS{{else if .StartTLS}}StartTLS{{else}}Unencrypted{{end}}`},
			{label: "Host", tmpl: `{{.Host}}`},
			{label: "Port", tmpl: `{{.Port}}`},
			{label: "Bind DN", tmpl: `{{.BindDN}}`},
			{label: "Bind Password", tmpl: `{{.BindPassword}}`},
			{label: "User Search Base", tmpl: `{{.PeopleDN}}`},
			{label: "User Filter", tmpl: loginFilter("%[1]s")},
			{label: "Admin Filter", tmpl: `(memberOf={{.GroupDN}})`},
			{label: "Username Attribute", tmpl: `uid`},
			{label: "First Name Attribute", tmpl: `givenName`},
			{label: "Surname Attribute", tmpl: `sn`},
			{label: "Email Attribute", tmpl: `mail`},
		},
		files: []fileDef{{path: "command", tmpl: `gitea admin auth add-ldap --name ldapgate \
  --security-protocol {{if .LDAPS}}LDAPS{{else if .StartTLS}}StartTLS{{else}}Unencrypted{{end}} \
  --host '{{.Host}}' --port {{.Port}} \
  --bind-dn '{{.BindDN}}' --bind-password '{{.BindPassword}}' \
  --user-search-base '{{.PeopleDN}}' \
  --user-filter '` + loginFilter("%[1]s") + `' \
  --admin-filter '(memberOf={{.GroupDN}})' \
  --username-attribute uid --firstname-attribute givenName --surname-attribute sn --email-attribute mail \
  --synchronize-users
`}},
		notes: []string{`Users log on with {{.Logon}}.`, caNote},
	},
	{
		name: "jira", title: "Jira / Confluence",
		where: `Administration > User Management > User Directories > Add Directory > LDAP`,
		fields: []fieldDef{
			{label: "Directory Type", tmpl: `OpenLDAP`},
			{label: "Hostname", tmpl: `{{.Host}}`},
			{label: "Port", tmpl: `{{.Port}}`},
			{label: "Use SSL", tmpl: `{{if .LDAPS}}on{{else}}off{{end}}`},
			{label: "Username", tmpl: `{{.BindDN}}`},
			{label: "Password", tmpl: `{{.BindPassword}}`},
			{label: "Base DN", tmpl: `{{.BaseDN}}`},
			{label: "Additional User DN", tmpl: `ou=people`},
			{label: "Additional Group DN", tmpl: `ou=groups`},
			{label: "LDAP Permission", tmpl: `Read Only`},
			{label: "User Object Class", tmpl: `inetOrgPerson`},
			{label: "User Object Filter", tmpl: userFilter},
			{label: "User Name Attribute", tmpl: `uid`},
			{label: "User Name RDN Attribute", tmpl: `uid`},
			{label: "User First Name Attribute", tmpl: `givenName`},
			{label: "User Last Name Attribute", tmpl: `sn`},
			{label: "User Display Name Attribute", tmpl: `displayName`},
			{label: "User Email Attribute", tmpl: `mail`},
			{label: "User Unique ID Attribute", tmpl: `entryUUID`},
			{label: "Group Object Class", tmpl: `groupOfNames`},
			{label: "Group Object Filter", tmpl: groupFilter},
			{label: "Group Name Attribute", tmpl: `cn`},
			{label: "Group Description Attribute", tmpl: `description`},
			{label: "Group Members Attribute", tmpl: `member`},
			{label: "User Membership Attribute", tmpl: `memberOf`},
			{label: "Use the User Membership Attribute", tmpl: `on`},
			{label: "Enable Nested Groups", tmpl: `off`},
			{label: "Use Paged Results", tmpl: `on`},
		},
		notes: []string{`Users log on with their uid and {{.Passwords}}.`, `{{if .LDAPS}}Import ldapgate's CA into the Java truststore of Jira/Confluence.{{end}}`},
		check: func(p *params) []string {
			if p.StartTLS {
				return []string{"Jira and Confluence speak LDAPS or plain LDAP, not StartTLS: set ldap.ldaps_listen for them"}
			}
			return nil
		},
	},
	{
		name: "synology", title: "Synology DSM",
		where: `Control Panel > Domain/LDAP > LDAP > Join`,
		fields: []fieldDef{
			{label: "Server address", tmpl: `{{.Host}}{{if and (ne .Port "389") (ne .Port "636")}}:{{.Port}}{{end}}`},
			{label: "Encryption", tmpl: `{{if .LDAPS}}SSL/TLS{{else if .StartTLS}}StartTLS{{else}}None{{end}}`},
			{label: "Base DN", tmpl: `{{.BaseDN}}`},
			{label: "Profile", tmpl: `Standard`},
			{label: "Bind DN", tmpl: `{{.BindDN}}`},
			{label: "Password", tmpl: `{{.BindPassword}}`},
		},
		notes: []string{`DSM's Standard profile reads posixAccount, shadowAccount and posixGroup with memberUid, as ldapgate serves them with ldap.posix.enabled.`, `Users log on with their uid and {{.Passwords}}.`},
		check: checks(needPOSIX("DSM's Standard profile")),
	},
	{
		name: "pfsense", title: "pfSense / OPNsense",
		where: `pfSense: System > User Manager > Authentication Servers > Add; OPNsense: System > Access > Servers > Add; type LDAP`,
		fields: []fieldDef{
			{label: "Hostname or IP address", tmpl: `{{.Host}}`},
			{label: "Port value", tmpl: `{{.Port}}`},
			{label: "Transport", tmpl: `{{if .LDAPS}}SSL/TLS Encrypted{{else if .StartTLS}}STARTTLS Encrypted{{else}}Standard TCP{{end}}`},
			{label: "Protocol version", tmpl: `3`},
			{label: "Search scope", tmpl: `Entire Subtree`},
			{label: "Base DN", tmpl: `{{.BaseDN}}`},
			{label: "Authentication containers", tmpl: `{{.PeopleDN}}`},
			{label: "Extended query", tmpl: `{{if .LoginDN}}memberOf={{.LoginDN}}{{end}}`},
			{label: "Bind anonymous", tmpl: `off`},
			{label: "Bind credentials", tmpl: `{{.BindDN}} / {{.BindPassword}}`},
			{label: "User naming attribute", tmpl: `uid`},
			{label: "Group naming attribute", tmpl: `cn`},
			{label: "Group member attribute", tmpl: `memberOf`},
			{label: "RFC 2307 Groups", tmpl: `off`},
		},
		notes: []string{`Users log on with their uid and {{.Passwords}}.`, `{{if .TLS}}Import ldapgate's CA under System > Cert. Manager and pick it as Peer Certificate Authority.{{end}}`},
	},
	{
		name: "keycloak", title: "Keycloak (user federation)",
		where: `Realm > User federation > Add LDAP provider`,
		fields: []fieldDef{
			{label: "Vendor", tmpl: `Other`},
			{label: "Connection URL", tmpl: `{{.URI}}`},
			{label: "Enable StartTLS", tmpl: `{{if .StartTLS}}on{{else}}off{{end}}`},
			{label: "Bind type", tmpl: `simple`},
			{label: "Bind DN", tmpl: `{{.BindDN}}`},
			{label: "Bind credentials", tmpl: `{{.BindPassword}}`},
			{label: "Edit mode", tmpl: `READ_ONLY`},
			{label: "Users DN", tmpl: `{{.PeopleDN}}`},
			{label: "Username LDAP attribute", tmpl: `uid`},
			{label: "RDN LDAP attribute", tmpl: `uid`},
			{label: "UUID LDAP attribute", tmpl: `entryUUID`},
			{label: "User object classes", tmpl: `inetOrgPerson`},
			{label: "User LDAP filter", tmpl: `{{if .LoginDN}}(memberOf={{.LoginDN}}){{end}}`},
			{label: "Search scope", tmpl: `Subtree`},
			{label: "Pagination", tmpl: `on`},
			{label: "Import users", tmpl: `on`},
			{label: "Sync Registrations", tmpl: `off`},
			{label: "Group mapper: Groups DN", tmpl: `{{.GroupsDN}}`},
			{label: "Group mapper: Group Object Classes", tmpl: `groupOfNames`},
			{label: "Group mapper: Membership LDAP Attribute", tmpl: `member`},
			{label: "Group mapper: Membership Attribute Type", tmpl: `DN`},
			{label: "Group mapper: Mode", tmpl: `READ_ONLY`},
		},
		notes: []string{`Keycloak checks passwords by binding as the user: users log on with their uid and {{.Passwords}}.`, `{{if .TLS}}Add ldapgate's CA to Keycloak's truststore.{{end}}`},
	},
	{
		name: "generic", title: "Any LDAP client (python-ldap, PHP, ldapsearch)",
		where: `the client's LDAP settings`,
		fields: []fieldDef{
			{label: "URI", tmpl: `{{.URI}}`},
			{label: "StartTLS", tmpl: `{{if .StartTLS}}yes{{else}}no{{end}}`},
			{label: "Bind DN", tmpl: `{{.BindDN}}`},
			{label: "Bind password", tmpl: `{{.BindPassword}}`},
			{label: "Base DN", tmpl: `{{.BaseDN}}`},
			{label: "User base", tmpl: `{{.PeopleDN}}`},
			{label: "User filter", tmpl: userFilter},
			{label: "Login filter", tmpl: loginFilter("%s")},
			{label: "Group base", tmpl: `{{.GroupsDN}}`},
			{label: "Group filter", tmpl: groupFilter},
			{label: "Group member attribute", tmpl: `member (DNs)`},
			{label: "User's groups attribute", tmpl: `memberOf (nested groups included)`},
			{label: "User attributes", tmpl: `uid, cn, givenName, sn, displayName, mail, mailAlternateAddress, entryUUID{{if .POSIX}}, uidNumber, gidNumber, homeDirectory, loginShell{{end}}{{if .ActiveDirectory}}, sAMAccountName, userPrincipalName, userAccountControl{{end}}`},
		},
		files: []fileDef{{path: "ldapsearch", tmpl: `ldapsearch -x {{if .StartTLS}}-ZZ {{end}}-H {{.URI}} -D '{{.BindDN}}' -W \
  -b '{{.PeopleDN}}' '` + userFilter + `' uid mail memberOf
`}},
		notes: []string{`The service account searches; users bind with their DN, uid or address and {{.Passwords}}.`},
	},
}
