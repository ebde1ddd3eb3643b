package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"go.yaml.in/yaml/v3"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/store"
)

// Config is ldapgate's configuration file.
type Config struct {
	// Domain is the organisation's primary mail domain (example.com). It
	// gives the default base DN and wins UID clashes between domains.
	Domain          string           `yaml:"domain"`
	Source          SourceConfig     `yaml:"source"`
	Sync            SyncConfig       `yaml:"sync"`
	Store           StoreConfig      `yaml:"store"`
	LDAP            LDAPConfig       `yaml:"ldap"`
	ServiceAccounts []ServiceAccount `yaml:"service_accounts"`
	Log             LogConfig        `yaml:"log"`
	// DeclaredPrivileges declares every privilege name in use, so that a
	// grant of a misspelt one is refused instead of making a new privilege
	// group. Default: the names in sync.default_privileges and
	// privilege_rules (see Privileges).
	DeclaredPrivileges []string    `yaml:"privileges"`
	Audit              AuditConfig `yaml:"audit"` // audit.go
	// The bind chain and the web portal (see config_auth.go).
	Binds        []string           `yaml:"binds"`
	BindCacheTTL *Duration          `yaml:"bind_cache_ttl"`
	AppPasswords AppPasswordsConfig `yaml:"app_passwords"`
	OIDC         OIDCConfig         `yaml:"oidc"`
	HTTP         HTTPConfig         `yaml:"http"`
	UpstreamLDAP UpstreamLDAPConfig `yaml:"upstream_ldap"`
	// Monitoring and the admin page (see config_ops.go).
	Metrics MetricsConfig `yaml:"metrics"`
	Admin   AdminConfig   `yaml:"admin"`

	// path is the file the config was read from; relative paths in the
	// config are relative to its directory.
	path string
}

// SourceConfig says where users and groups come from.
type SourceConfig struct {
	Type   string       `yaml:"type"`   // file or google
	File   string       `yaml:"file"`   // directory file for type file
	Google GoogleConfig `yaml:"google"` // for type google (config_google.go)
	Filter FilterConfig `yaml:"filter"`
}

// FilterConfig limits which users are mirrored.
type FilterConfig struct {
	Groups           []string `yaml:"groups"`
	OrgUnits         []string `yaml:"org_units"`
	IncludeSuspended bool     `yaml:"include_suspended"`
	IncludeArchived  bool     `yaml:"include_archived"`
}

// SyncConfig controls the sync schedule and its safety rules.
type SyncConfig struct {
	Interval          Duration        `yaml:"interval"`
	Timeout           Duration        `yaml:"timeout"`
	DeleteUsers       *bool           `yaml:"delete_users"`
	MaxDeletePercent  *float64        `yaml:"max_delete_percent"`
	DefaultPrivileges []string        `yaml:"default_privileges"`
	PrivilegeRules    []PrivilegeRule `yaml:"privilege_rules"`
	// DeletedRetention is how long a deleted user's tombstone is kept
	// (store.DeletedUser); 0s keeps none.
	DeletedRetention *Duration `yaml:"deleted_retention"`
	// KeepAppPasswordsOnSuspend keeps the app passwords of users who are
	// suspended or archived in the source.
	KeepAppPasswordsOnSuspend bool `yaml:"keep_app_passwords_on_suspend"`
	// Incremental polls Google's admin events (Reports API) every
	// ChangesInterval and applies what they touch between full syncs.
	Incremental     bool     `yaml:"incremental"`
	ChangesInterval Duration `yaml:"changes_interval"`
	// LeaseTTL is how long the scheduler and sync leases last unless
	// renewed: an instance that dies hands over the scheduled syncs
	// within it.
	LeaseTTL Duration `yaml:"lease_ttl"`
}

// PrivilegeRule grants privileges to the members of a group.
type PrivilegeRule struct {
	Group      string   `yaml:"group"`
	Privileges []string `yaml:"privileges"`
}

// StoreConfig locates the store: a SQLite file (the default), or a
// PostgreSQL database that several ldapgates share.
type StoreConfig struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string `yaml:"driver"`
	Path   string `yaml:"path"` // sqlite
	// DSN, or the file or environment variable holding it, names the
	// PostgreSQL database (a postgres:// URL or libpq key=value string).
	// A password goes in the file, the variable, PGPASSWORD or ~/.pgpass,
	// never in the YAML.
	DSN     string `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
	DSNEnv  string `yaml:"dsn_env"`
}

// Store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// LDAPConfig configures the LDAP listener and the directory tree.
type LDAPConfig struct {
	Listen          string          `yaml:"listen"`
	LDAPSListen     string          `yaml:"ldaps_listen"`
	BaseDN          string          `yaml:"base_dn"`
	SizeLimit       int             `yaml:"size_limit"`
	MaxMessageBytes int64           `yaml:"max_message_bytes"`
	TLS             TLSConfig       `yaml:"tls"`
	RequireTLS      bool            `yaml:"require_tls"` // no binds or searches in the clear
	BindLimit       BindLimitConfig `yaml:"bind_limit"`  // config_ops.go

	// Connection limits (config_ops.go); zero selects ldapserver's default.
	MaxConnections           int      `yaml:"max_connections"`             // default 4096; -1 = no limit
	MaxConnectionsPerAddress int      `yaml:"max_connections_per_address"` // default 128; -1 = no limit
	IdleTimeout              Duration `yaml:"idle_timeout"`                // default 15m
	FirstBindTimeout         Duration `yaml:"first_bind_timeout"`          // default 30s

	POSIX           POSIXConfig `yaml:"posix"`            // config_posix.go
	ActiveDirectory bool        `yaml:"active_directory"` // config_posix.go
}

// TLSConfig names the certificate for StartTLS and LDAPS.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// ServiceAccount is an LDAP account for the archive server and other
// consumers. The password hash comes from exactly one of the three fields.
// With ClientCertSHA256 (a certificate's SHA-256 fingerprint) the account
// may also bind with SASL EXTERNAL and that client certificate over TLS.
type ServiceAccount struct {
	Name             string `yaml:"name"`
	PasswordHash     string `yaml:"password_hash"`
	PasswordHashFile string `yaml:"password_hash_file"`
	PasswordHashEnv  string `yaml:"password_hash_env"`
	ClientCertSHA256 string `yaml:"client_cert_sha256"`
}

// LogConfig sets the log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text, json
}

// Duration is a time.Duration written as "15m" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as 15m or 1h30m, got %q", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Defaults.
const (
	DefaultListen   = "127.0.0.1:3389"
	DefaultInterval = 15 * time.Minute
	// DefaultIncrementalInterval is sync.interval's default with
	// sync.incremental on: the full sync is then the reconciliation that
	// heals events Google never reported.
	DefaultIncrementalInterval = time.Hour
	DefaultChangesInterval     = time.Minute
	// minChangesInterval keeps polls of the admin events far under the
	// Reports API's quota.
	minChangesInterval      = 10 * time.Second
	DefaultTimeout          = 10 * time.Minute
	DefaultMaxDeletePercent = 10
	DefaultMaxMessageBytes  = 1 << 20
)

// Path returns the file the config was loaded from.
func (c *Config) Path() string { return c.path }

// resolve makes a path from the config relative to the config's directory.
func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.path), p)
}

// StorePath is the store's path, resolved against the config's directory.
func (c *Config) StorePath() string { return c.resolve(c.Store.Path) }

// StoreName names the store for messages and logs: the SQLite file, or
// where the PostgreSQL DSN comes from (never the DSN, which may hold the
// password).
func (c *Config) StoreName() string {
	s := c.Store
	switch {
	case s.Driver != DriverPostgres:
		return c.StorePath()
	case s.DSNFile != "":
		return "postgres (DSN in " + c.resolve(s.DSNFile) + ")"
	case s.DSNEnv != "":
		return "postgres (DSN in $" + s.DSNEnv + ")"
	}
	return "postgres (store.dsn)"
}

// StoreDSN returns the PostgreSQL DSN from store.dsn, its file or its
// environment variable. The error never contains the DSN.
func (c *Config) StoreDSN() (string, error) {
	s := c.Store
	switch {
	case s.DSNFile != "":
		b, err := os.ReadFile(c.resolve(s.DSNFile))
		if err != nil {
			return "", fmt.Errorf("store.dsn_file: %w", err)
		}
		if strings.TrimSpace(string(b)) == "" {
			return "", fmt.Errorf("store.dsn_file: %s is empty", c.resolve(s.DSNFile))
		}
		return strings.TrimSpace(string(b)), nil
	case s.DSNEnv != "":
		v, ok := os.LookupEnv(s.DSNEnv)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("store.dsn_env: environment variable %s is not set", s.DSNEnv)
		}
		return strings.TrimSpace(v), nil
	case s.DSN != "":
		return s.DSN, nil
	}
	return "", errors.New("store: no DSN: set store.dsn, store.dsn_file or store.dsn_env")
}

// dsnHasPassword reports whether dsn, a postgres:// URL or a libpq
// key=value string, carries a password.
func dsnHasPassword(dsn string) bool {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return true // unparsable: not echoed, and not trusted either
		}
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	// libpq allows spaces around the =.
	fields := strings.Fields(strings.ReplaceAll(dsn, "=", " = "))
	for i, f := range fields {
		if f == "password" && i+1 < len(fields) && fields[i+1] == "=" {
			return true
		}
	}
	return false
}

// SourceFile is the directory file's path, resolved.
func (c *Config) SourceFile() string { return c.resolve(c.Source.File) }

// DeleteUsers reports whether syncs delete users that left the source.
func (c *Config) DeleteUsers() bool { return c.Sync.DeleteUsers == nil || *c.Sync.DeleteUsers }

// LeaseTTL is the TTL of the scheduler and sync leases.
func (c *Config) LeaseTTL() time.Duration { return c.Sync.LeaseTTL.D() }

// DeletedRetention is how long the store keeps a deleted user's tombstone.
func (c *Config) DeletedRetention() time.Duration {
	if c.Sync.DeletedRetention == nil {
		return store.DefaultDeletedRetention
	}
	return c.Sync.DeletedRetention.D()
}

// MaxDeletePercent is the largest share of users one sync may delete.
func (c *Config) MaxDeletePercent() float64 {
	if c.Sync.MaxDeletePercent == nil {
		return DefaultMaxDeletePercent
	}
	return *c.Sync.MaxDeletePercent
}

// Privileges are the declared privilege names (privileges, by default the
// names default_privileges and privilege_rules use), sorted.
func (c *Config) Privileges() []string {
	var out []string
	if len(c.DeclaredPrivileges) > 0 {
		out = append(out, c.DeclaredPrivileges...)
	} else {
		out = append(out, c.Sync.DefaultPrivileges...)
		for _, r := range c.Sync.PrivilegeRules {
			out = append(out, r.Privileges...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CheckPrivilege returns an error unless name is a declared privilege
// (Privileges); the error suggests the closest declared name.
func (c *Config) CheckPrivilege(name string) error {
	known := c.Privileges()
	if slices.Contains(known, name) {
		return nil
	}
	msg := fmt.Sprintf("unknown privilege %q", name)
	if s := Closest(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	if len(known) == 0 {
		return fmt.Errorf("%s: the config declares no privileges; list them under privileges: in %s", msg, c.path)
	}
	return fmt.Errorf("%s: the privileges are %s; a new one is declared under privileges: in %s",
		msg, strings.Join(known, ", "), c.path)
}

// ConfigError is a problem at one place in a config file.
type ConfigError struct {
	File string
	Line int // 0 if unknown
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ConfigErrors are all the problems found in one file.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// LoadConfig reads, decodes and validates the config file at path. Errors
// name the file and line and say what was expected; they are ConfigErrors.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(path, data)
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// ParseConfig decodes and validates a config held in memory; path is used
// in errors and to resolve relative paths.
func ParseConfig(path string, data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, ConfigErrors{yamlError(path, err.Error())}
	}
	if len(doc.Content) == 0 {
		return nil, ConfigErrors{{File: path, Msg: "the file is empty; expected a YAML mapping (see configs/example.yaml)"}}
	}
	root := doc.Content[0]
	var errs ConfigErrors
	checkKeys(path, root, reflect.TypeFor[Config](), "", &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	cfg := &Config{path: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				errs = append(errs, yamlError(path, e))
			}
			return nil, errs
		}
		return nil, ConfigErrors{yamlError(path, err.Error())}
	}
	cfg.applyDefaults()
	if errs := cfg.validate(root); len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

func yamlError(path, msg string) *ConfigError {
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &ConfigError{File: path, Line: line, Msg: strings.Replace(m[2], "!!str", "a string", 1)}
	}
	return &ConfigError{File: path, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// checkKeys reports mapping keys that t has no field for, with the keys it
// does have, so a typo says what was expected.
func checkKeys(path string, n *yaml.Node, t reflect.Type, where string, errs *ConfigErrors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && t != reflect.TypeFor[Duration]():
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return
			}
			*errs = append(*errs, &ConfigError{File: path, Line: n.Line, Msg: fmt.Sprintf("%s: expected a mapping of %s", orTop(where), strings.Join(yamlKeys(t), ", "))})
			return
		}
		fields := make(map[string]reflect.Type)
		for i := range t.NumField() {
			f := t.Field(i)
			if name := yamlName(f); name != "" {
				fields[name] = f.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown key %q in %s; expected one of: %s", k.Value, orTop(where), strings.Join(yamlKeys(t), ", "))
				if s := Closest(k.Value, yamlKeys(t)); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				*errs = append(*errs, &ConfigError{File: path, Line: k.Line, Msg: msg})
				continue
			}
			checkKeys(path, v, ft, join(where, k.Value), errs)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			checkKeys(path, item, t.Elem(), fmt.Sprintf("%s[%d]", where, i), errs)
		}
	}
}

func orTop(where string) string {
	if where == "" {
		return "the top level"
	}
	return where
}

func join(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			keys = append(keys, name)
		}
	}
	return keys
}

// Closest returns the candidate within edit distance 2 of s, if any (for
// "did you mean" hints).
func Closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (c *Config) applyDefaults() {
	if c.Sync.Interval == 0 {
		c.Sync.Interval = Duration(DefaultInterval)
		if c.Sync.Incremental {
			c.Sync.Interval = Duration(DefaultIncrementalInterval)
		}
	}
	if c.Sync.ChangesInterval == 0 {
		c.Sync.ChangesInterval = Duration(DefaultChangesInterval)
	}
	if c.Sync.Timeout == 0 {
		c.Sync.Timeout = Duration(DefaultTimeout)
	}
	if c.Sync.LeaseTTL == 0 {
		c.Sync.LeaseTTL = Duration(DefaultLeaseTTL)
	}
	if c.Store.Driver == "" {
		c.Store.Driver = DriverSQLite
	}
	if c.Store.Path == "" && c.Store.Driver == DriverSQLite {
		c.Store.Path = "data/ldapgate.db"
	}
	if c.LDAP.Listen == "" {
		c.LDAP.Listen = DefaultListen
	}
	if c.LDAP.BaseDN == "" && c.Domain != "" {
		c.LDAP.BaseDN = "dc=" + strings.Join(strings.Split(strings.ToLower(c.Domain), "."), ",dc=")
	}
	if c.LDAP.MaxMessageBytes == 0 {
		c.LDAP.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
}

// validateStore checks the store's keys: a driver, and the keys of that
// driver only.
func (c *Config) validateStore(bad func(key, format string, args ...any)) {
	s := c.Store
	dsnKeys := 0
	for _, v := range []string{s.DSN, s.DSNFile, s.DSNEnv} {
		if v != "" {
			dsnKeys++
		}
	}
	switch s.Driver {
	case DriverSQLite:
		if dsnKeys > 0 {
			bad("store", "dsn, dsn_file and dsn_env go with driver: postgres; the sqlite store is store.path")
		}
	case DriverPostgres:
		if s.Path != "" {
			bad("store.path", "goes with driver: sqlite; a postgres store is named by dsn, dsn_file or dsn_env")
		}
		if dsnKeys != 1 {
			bad("store", "driver postgres needs exactly one of dsn, dsn_file, dsn_env (postgres://user@host/db)")
		} else if s.DSN == "" {
			// As with password hashes: an unset variable or a missing file
			// shows at config check, not at the first start.
			key := map[bool]string{true: "store.dsn_file", false: "store.dsn_env"}[s.DSNFile != ""]
			if _, err := c.StoreDSN(); err != nil {
				bad(key, "%s", strings.TrimPrefix(err.Error(), key+": "))
			}
		}
		if s.DSN != "" && dsnHasPassword(s.DSN) {
			// The DSN is not echoed: it holds the password.
			bad("store.dsn", "holds a password: put the DSN in dsn_file or dsn_env, or the password in PGPASSWORD or ~/.pgpass")
		}
	default:
		bad("store.driver", "expected %q or %q, got %q", DriverSQLite, DriverPostgres, s.Driver)
	}
}

// validate checks values; errors carry the line of the offending key.
func (c *Config) validate(root *yaml.Node) ConfigErrors {
	var errs ConfigErrors
	bad := func(key string, format string, args ...any) {
		errs = append(errs, &ConfigError{File: c.path, Line: lineOf(root, key), Msg: key + ": " + fmt.Sprintf(format, args...)})
	}
	if c.Domain == "" {
		bad("domain", "required: the primary mail domain, e.g. example.com")
	} else if strings.ContainsAny(c.Domain, "@ /") || !strings.Contains(c.Domain, ".") {
		bad("domain", "expected a domain name such as example.com, got %q", c.Domain)
	}
	switch c.Source.Type {
	case "file":
		if c.Source.File == "" {
			bad("source.file", "required with source.type file: the directory file (see configs/demo-directory.json)")
		}
	case "google": // checked by validateGoogle
	case "":
		bad("source.type", "required: expected \"file\" or \"google\"")
	default:
		bad("source.type", "expected \"file\" or \"google\", got %q", c.Source.Type)
	}
	c.validateStore(bad)
	for i, g := range c.Source.Filter.Groups {
		if !strings.Contains(g, "@") {
			bad(fmt.Sprintf("source.filter.groups[%d]", i), "expected a group email address, got %q", g)
		}
	}
	for i, ou := range c.Source.Filter.OrgUnits {
		if !strings.HasPrefix(ou, "/") {
			bad(fmt.Sprintf("source.filter.org_units[%d]", i), "expected an org unit path starting with /, got %q", ou)
		}
	}
	if c.Sync.Interval.D() < time.Minute {
		bad("sync.interval", "must be at least 1m, got %s", c.Sync.Interval.D())
	}
	if c.Sync.Incremental && c.Source.Type != "google" {
		bad("sync.incremental", "needs source.type google (it polls Google's admin events), got source.type %q", c.Source.Type)
	}
	if c.Sync.ChangesInterval.D() < minChangesInterval {
		bad("sync.changes_interval", "must be at least %s, got %s", minChangesInterval, c.Sync.ChangesInterval.D())
	}
	if c.Sync.Timeout.D() < time.Second {
		bad("sync.timeout", "must be at least 1s, got %s", c.Sync.Timeout.D())
	}
	if ttl := c.LeaseTTL(); ttl < 15*time.Second {
		bad("sync.lease_ttl", "must be at least 15s (a third of it is the renewal period), got %s", ttl)
	}
	if r := c.DeletedRetention(); r < 0 {
		bad("sync.deleted_retention", "expected a duration of 0s or more (e.g. 720h for 30 days), got %s", r)
	}
	if p := c.MaxDeletePercent(); p < 0 || p > 100 {
		bad("sync.max_delete_percent", "expected a percentage from 0 to 100, got %g", p)
	}
	for i, p := range c.DeclaredPrivileges {
		if !validName(p) {
			bad(fmt.Sprintf("privileges[%d]", i), "expected a privilege name of letters, digits, '.', '-' and '_', got %q", p)
		}
	}
	// With privileges declared, the sync settings use only those.
	declared := func(key, p string) {
		if len(c.DeclaredPrivileges) == 0 || slices.Contains(c.DeclaredPrivileges, p) {
			return
		}
		msg := fmt.Sprintf("privilege %q is not declared in privileges", p)
		if s := Closest(p, c.DeclaredPrivileges); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		bad(key, "%s", msg)
	}
	for i, p := range c.Sync.DefaultPrivileges {
		key := fmt.Sprintf("sync.default_privileges[%d]", i)
		if !validName(p) {
			bad(key, "expected a privilege name of letters, digits, '.', '-' and '_', got %q", p)
		} else {
			declared(key, p)
		}
	}
	for i, r := range c.Sync.PrivilegeRules {
		key := fmt.Sprintf("sync.privilege_rules[%d]", i)
		if !strings.Contains(r.Group, "@") {
			bad(key+".group", "expected a group email address, got %q", r.Group)
		}
		if len(r.Privileges) == 0 {
			bad(key+".privileges", "expected at least one privilege")
		}
		for j, p := range r.Privileges {
			pkey := fmt.Sprintf("%s.privileges[%d]", key, j)
			if !validName(p) {
				bad(pkey, "expected a privilege name of letters, digits, '.', '-' and '_', got %q", p)
			} else {
				declared(pkey, p)
			}
		}
	}
	if _, err := ldap.ParseDN(c.LDAP.BaseDN); err != nil || c.LDAP.BaseDN == "" {
		bad("ldap.base_dn", "expected a DN such as dc=example,dc=com, got %q", c.LDAP.BaseDN)
	} else if err := (directory.Config{BaseDN: c.LDAP.BaseDN}).Validate(); err != nil {
		bad("ldap.base_dn", "%v", err)
	}
	for _, l := range []struct{ key, addr string }{{"ldap.listen", c.LDAP.Listen}, {"ldap.ldaps_listen", c.LDAP.LDAPSListen}} {
		if l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			bad(l.key, "expected host:port such as 127.0.0.1:3389, got %q", l.addr)
		}
	}
	if (c.LDAP.TLS.CertFile == "") != (c.LDAP.TLS.KeyFile == "") {
		bad("ldap.tls", "cert_file and key_file go together")
	}
	if c.LDAP.LDAPSListen != "" && c.LDAP.TLS.CertFile == "" {
		bad("ldap.ldaps_listen", "needs ldap.tls.cert_file and key_file")
	}
	if c.LDAP.RequireTLS && c.LDAP.TLS.CertFile == "" {
		bad("ldap.require_tls", "needs ldap.tls.cert_file and key_file: clients must be able to use StartTLS or LDAPS")
	}
	if c.LDAP.SizeLimit < 0 {
		bad("ldap.size_limit", "must not be negative")
	}
	if c.LDAP.MaxMessageBytes < 1024 {
		bad("ldap.max_message_bytes", "must be at least 1024, got %d", c.LDAP.MaxMessageBytes)
	}
	seen := make(map[string]bool)
	for i, sa := range c.ServiceAccounts {
		key := fmt.Sprintf("service_accounts[%d]", i)
		if !validName(sa.Name) {
			bad(key+".name", "expected a name of letters, digits, '.', '-' and '_', got %q", sa.Name)
		}
		if seen[strings.ToLower(sa.Name)] {
			bad(key+".name", "duplicate service account %q", sa.Name)
		}
		seen[strings.ToLower(sa.Name)] = true
		n := 0
		for _, s := range []string{sa.PasswordHash, sa.PasswordHashFile, sa.PasswordHashEnv} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			bad(key, "expected exactly one of password_hash, password_hash_file, password_hash_env (make a hash with: ldapgate password hash)")
			continue
		}
		if _, err := c.ServiceAccountHash(sa); err != nil {
			bad(key, "%v", err)
		}
		if sa.ClientCertSHA256 != "" {
			if _, err := directory.ParseCertFingerprint(sa.ClientCertSHA256); err != nil {
				bad(key+".client_cert_sha256", "%v (openssl x509 -noout -fingerprint -sha256 -in client.pem prints it)", err)
			} else if c.LDAP.TLS.CertFile == "" {
				bad(key+".client_cert_sha256", "needs ldap.tls.cert_file and key_file: SASL EXTERNAL binds over TLS")
			}
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "expected debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "expected text or json, got %q", c.Log.Format)
	}
	errs = append(errs, c.validateAuth(root)...)
	errs = append(errs, c.validateGoogle(root)...)
	errs = append(errs, c.validatePOSIX(root)...)
	errs = append(errs, c.validateOps(root)...)
	errs = append(errs, c.validateAudit(root)...)
	return errs
}

// ServiceAccountHash reads sa's password hash from wherever the config says
// and checks its format. The error never contains the hash.
func (c *Config) ServiceAccountHash(sa ServiceAccount) (string, error) {
	var h string
	switch {
	case sa.PasswordHash != "":
		h = sa.PasswordHash
	case sa.PasswordHashFile != "":
		b, err := os.ReadFile(c.resolve(sa.PasswordHashFile))
		if err != nil {
			return "", fmt.Errorf("password_hash_file: %w", err)
		}
		h = strings.TrimSpace(string(b))
	case sa.PasswordHashEnv != "":
		v, ok := os.LookupEnv(sa.PasswordHashEnv)
		if !ok {
			return "", fmt.Errorf("password_hash_env: environment variable %s is not set", sa.PasswordHashEnv)
		}
		h = strings.TrimSpace(v)
	}
	if err := passhash.Check(h); err != nil {
		return "", fmt.Errorf("password hash of %q: %w", sa.Name, err)
	}
	return h, nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

var indexRE = regexp.MustCompile(`^(.*)\[(\d+)\]$`)

// lineOf finds the line of a dotted key path such as "sync.privilege_rules[0].group"
// in the document; for a missing key it returns the line of the nearest
// parent that exists (0 for the top level).
func lineOf(root *yaml.Node, key string) int {
	n, line := root, 0
	for _, part := range strings.Split(key, ".") {
		idx := -1
		if m := indexRE.FindStringSubmatch(part); m != nil {
			part = m[1]
			idx, _ = strconv.Atoi(m[2])
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				line, next = n.Content[i].Line, n.Content[i+1]
				break
			}
		}
		if next == nil {
			return line
		}
		n = next
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}
