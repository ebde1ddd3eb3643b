package gateway

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/sync/dirapi"
	"github.com/ldapgate/ldapgate/sync/google"
)

// GoogleConfig is source.google: the Google Workspace source.
type GoogleConfig struct {
	// ServiceAccountKey is the service account's key file: a JSON key, or
	// a P12 key together with ServiceAccountEmail.
	ServiceAccountKey   string `yaml:"service_account_key"`
	ServiceAccountEmail string `yaml:"service_account_email"`
	// P12PasswordEnv names the environment variable holding a P12 key's
	// password, when it is not Google's "notasecret".
	P12PasswordEnv string `yaml:"p12_password_env"`
	// AdminEmail is the administrator the service account acts as.
	AdminEmail string `yaml:"admin_email"`
	// Customer is the customer ID (default my_customer: the admin's own
	// organisation, every domain); Domain limits the sync to one domain.
	Customer string `yaml:"customer"`
	Domain   string `yaml:"domain"`
	// APIEndpoint and TokenURL override the Directory API base URL and the
	// OAuth token URL (egress proxies, private endpoints).
	APIEndpoint string `yaml:"api_endpoint"`
	TokenURL    string `yaml:"token_url"`
	// TokenAudience is the aud of the service account's JWT (default: the
	// key's token_uri, Google's token URL, also with token_url set).
	TokenAudience string `yaml:"token_audience"`
	// HTTPProxy is the outbound proxy (default: HTTPS_PROXY and NO_PROXY
	// from the environment).
	HTTPProxy string `yaml:"http_proxy"`
	// MaxConcurrency bounds the group member listings running at once.
	MaxConcurrency int `yaml:"max_concurrency"`
	// RequestTimeout bounds one call to Google (a slower call is retried).
	RequestTimeout Duration `yaml:"request_timeout"`
	// MaxCallsPerMinute paces the calls to the Directory API (default
	// 2,000, under Google's default quota of 2,400 a minute).
	MaxCallsPerMinute int `yaml:"max_calls_per_minute"`
	// KeepRoutingAliases serves the aliases in Google's routing domains
	// (*.test-google-a.com, *.goog) like the others.
	KeepRoutingAliases bool `yaml:"keep_routing_aliases"`
	// CustomAttributes map fields of custom user schemas to LDAP attributes
	// of the users' entries. A directory file (source.type file) holds
	// users in the Directory API's shape and honours them too.
	CustomAttributes []CustomAttributeConfig `yaml:"custom_attributes"`
}

// CustomAttributeConfig maps one custom schema field to an LDAP attribute.
type CustomAttributeConfig struct {
	Schema    string `yaml:"schema"`    // custom schema name, e.g. Employment
	Field     string `yaml:"field"`     // field of the schema, e.g. EmployeeID
	Attribute string `yaml:"attribute"` // e.g. employeeNumber (directory.UserAttributes)
}

// CustomAttributes returns source.google.custom_attributes for the
// sources, with the attributes' canonical names.
func (c *Config) CustomAttributes() []dirapi.CustomAttribute {
	var out []dirapi.CustomAttribute
	for _, a := range c.Source.Google.CustomAttributes {
		name, ok := directory.UserAttribute(a.Attribute)
		if !ok {
			continue // refused by validateCustomAttributes
		}
		out = append(out, dirapi.CustomAttribute{Schema: strings.TrimSpace(a.Schema), Field: strings.TrimSpace(a.Field), Attribute: name})
	}
	return out
}

// validateCustomAttributes checks source.google.custom_attributes, for the
// Google source and the directory file alike.
func (c *Config) validateCustomAttributes(root *yaml.Node) ConfigErrors {
	var errs ConfigErrors
	for i, a := range c.Source.Google.CustomAttributes {
		bad := func(field, format string, args ...any) {
			key := fmt.Sprintf("source.google.custom_attributes[%d].%s", i, field)
			errs = append(errs, &ConfigError{File: c.path, Line: lineOf(root, key), Msg: key + ": " + fmt.Sprintf(format, args...)})
		}
		if strings.TrimSpace(a.Schema) == "" {
			bad("schema", "required: the custom schema's name (Admin console: Directory > Users > More options > Manage custom attributes)")
		}
		if strings.TrimSpace(a.Field) == "" {
			bad("field", "required: the field's name in the schema")
		}
		if _, ok := directory.UserAttribute(a.Attribute); !ok {
			bad("attribute", "expected one of %s, got %q", strings.Join(directory.UserAttributes(), ", "), a.Attribute)
		}
	}
	return errs
}

// GoogleKeyFile is the Google key file's path, resolved against the
// config's directory.
func (c *Config) GoogleKeyFile() string { return c.resolve(c.Source.Google.ServiceAccountKey) }

// validateGoogle checks source.google when source.type is google.
func (c *Config) validateGoogle(root *yaml.Node) ConfigErrors {
	errs := c.validateCustomAttributes(root)
	if c.Source.Type != "google" {
		return errs
	}
	bad := func(key string, format string, args ...any) {
		key = "source.google." + key
		errs = append(errs, &ConfigError{File: c.path, Line: lineOf(root, key), Msg: key + ": " + fmt.Sprintf(format, args...)})
	}
	g := c.Source.Google
	if g.ServiceAccountKey == "" {
		bad("service_account_key", "required with source.type google: the service account's JSON key file (or a .p12 with service_account_email)")
	}
	isP12 := strings.HasSuffix(strings.ToLower(g.ServiceAccountKey), ".p12")
	if isP12 && g.ServiceAccountEmail == "" {
		bad("service_account_email", "required with a P12 key: the service account's email (...@....iam.gserviceaccount.com)")
	}
	if g.ServiceAccountEmail != "" && !strings.Contains(g.ServiceAccountEmail, "@") {
		bad("service_account_email", "expected an email address, got %q", g.ServiceAccountEmail)
	}
	if g.P12PasswordEnv != "" {
		if _, ok := os.LookupEnv(g.P12PasswordEnv); !ok {
			bad("p12_password_env", "environment variable %s is not set", g.P12PasswordEnv)
		}
	}
	switch {
	case g.AdminEmail == "":
		bad("admin_email", "required: the email of an administrator the service account acts as")
	case !strings.Contains(g.AdminEmail, "@"):
		bad("admin_email", "expected an email address, got %q", g.AdminEmail)
	}
	if g.Customer != "" && g.Domain != "" {
		bad("domain", "set customer or domain, not both")
	}
	if strings.ContainsAny(g.Domain, "@ /") {
		bad("domain", "expected a domain name such as example.com, got %q", g.Domain)
	}
	for _, u := range []struct{ key, val string }{{"api_endpoint", g.APIEndpoint}, {"token_url", g.TokenURL}, {"token_audience", g.TokenAudience}, {"http_proxy", g.HTTPProxy}} {
		if u.val == "" {
			continue
		}
		if p, err := url.Parse(u.val); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad(u.key, "expected an http:// or https:// URL, got %q", u.val)
		}
	}
	if g.MaxConcurrency < 0 || g.MaxConcurrency > 100 {
		bad("max_concurrency", "expected 1 to 100 (0 for the default, %d), got %d", google.DefaultConcurrency, g.MaxConcurrency)
	}
	if g.MaxCallsPerMinute < 0 || g.MaxCallsPerMinute > maxCallsPerMinute {
		bad("max_calls_per_minute", "expected 1 to %d (0 for the default, %d; Google's default quota is 2400), got %d",
			maxCallsPerMinute, google.DefaultMaxCallsPerMinute, g.MaxCallsPerMinute)
	}
	if g.RequestTimeout != 0 && g.RequestTimeout.D() < time.Second {
		bad("request_timeout", "must be at least 1s, got %s", g.RequestTimeout.D())
	}
	return errs
}

// maxCallsPerMinute bounds source.google.max_calls_per_minute: far above
// any quota Google grants on request, so that a typo is caught.
const maxCallsPerMinute = 1_000_000

// GoogleSourceConfig turns the config into the Google source's settings.
// The source learns the filter's groups and the privilege rules' groups,
// so that it lists the members of the groups in scope only.
func GoogleSourceConfig(cfg *Config, log *slog.Logger) google.Config {
	g := cfg.Source.Google
	gc := google.Config{
		KeyFile:             cfg.GoogleKeyFile(),
		ServiceAccountEmail: g.ServiceAccountEmail,
		AdminEmail:          g.AdminEmail,
		Customer:            g.Customer,
		Domain:              g.Domain,
		APIEndpoint:         g.APIEndpoint,
		TokenURL:            g.TokenURL,
		TokenAudience:       g.TokenAudience,
		Concurrency:         g.MaxConcurrency,
		RequestTimeout:      g.RequestTimeout.D(),
		MaxCallsPerMinute:   g.MaxCallsPerMinute,
		KeepRoutingAliases:  g.KeepRoutingAliases,
		Groups:              cfg.Source.Filter.Groups,
		OrgUnits:            cfg.Source.Filter.OrgUnits,
		CustomAttributes:    cfg.CustomAttributes(),
		Changes:             cfg.Sync.Incremental,
		Log:                 log,
	}
	if g.P12PasswordEnv != "" {
		gc.P12Password = os.Getenv(g.P12PasswordEnv)
	}
	if g.HTTPProxy != "" {
		gc.Proxy, _ = url.Parse(g.HTTPProxy) // checked by validateGoogle
	}
	for _, r := range cfg.Sync.PrivilegeRules {
		gc.RuleGroups = append(gc.RuleGroups, r.Group)
	}
	return gc
}

// NewGoogleSource returns the Google source the config describes.
func NewGoogleSource(cfg *Config, log *slog.Logger) *google.Source {
	return google.New(GoogleSourceConfig(cfg, log))
}
