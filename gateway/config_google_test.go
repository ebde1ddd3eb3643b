package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ldapgate/ldapgate/sync/dirapi"
	"github.com/ldapgate/ldapgate/sync/google"
)

// minimalGoogle is minimal with the Google source.
var minimalGoogle = strings.Replace(minimal, "  type: file\n  file: dir.json\n", `  type: google
  google:
    service_account_key: keys/ldapgate.json
    admin_email: admin@example.com
    request_timeout: 30s
`, 1)

func TestParseConfigGoogle(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	cfg, err := ParseConfig("/etc/ldapgate/ldapgate.yaml", []byte(minimalGoogle))
	if err != nil {
		t.Fatal(err)
	}
	got := GoogleSourceConfig(cfg, nil)
	want := google.Config{
		KeyFile:        "/etc/ldapgate/keys/ldapgate.json",
		AdminEmail:     "admin@example.com",
		RequestTimeout: 30 * time.Second,
		Groups:         []string{"archive-users@example.com"},
		RuleGroups:     []string{"archive-admins@example.com"},
	}
	if diff := cmp.Diff(got, want, cmpopts.IgnoreFields(google.Config{}, "Log")); diff != "" {
		t.Errorf("google config (-got +want):\n%s", diff)
	}
	src := NewSource(cfg)
	gs, ok := src.(*google.Source)
	if !ok {
		t.Fatalf("NewSource returned %T, want *google.Source", src)
	}
	if gs.Name() != "google:my_customer" {
		t.Errorf("Name() = %q", gs.Name())
	}
}

func TestParseConfigGoogleErrors(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	tests := []struct {
		name    string
		replace [2]string
		want    []string
	}{
		{"no key", [2]string{"    service_account_key: keys/ldapgate.json\n", ""}, []string{"source.google.service_account_key: required"}},
		{"no admin", [2]string{"    admin_email: admin@example.com\n", ""}, []string{"source.google.admin_email: required"}},
		{"admin not an email", [2]string{"admin_email: admin@example.com", "admin_email: admin"}, []string{"cfg.yaml:6:", "expected an email address"}},
		{"p12 without email", [2]string{"keys/ldapgate.json", "keys/ldapgate.p12"}, []string{"service_account_email: required with a P12 key"}},
		{"customer and domain", [2]string{"    request_timeout: 30s\n", "    customer: C123\n    domain: example.com\n"}, []string{"source.google.domain: set customer or domain, not both"}},
		{"bad endpoint", [2]string{"    request_timeout: 30s\n", "    api_endpoint: admin.example.net\n"}, []string{"cfg.yaml:7:", "api_endpoint: expected an http:// or https:// URL"}},
		{"bad proxy", [2]string{"    request_timeout: 30s\n", "    http_proxy: ://x\n"}, []string{"http_proxy: expected an http"}},
		{"concurrency", [2]string{"    request_timeout: 30s\n", "    max_concurrency: 1000\n"}, []string{"max_concurrency: expected 1 to 100"}},
		{"timeout", [2]string{"request_timeout: 30s", "request_timeout: 10ms"}, []string{"request_timeout: must be at least 1s"}},
		{"unset p12 env", [2]string{"    request_timeout: 30s\n", "    p12_password_env: TEST_NO_SUCH_P12_ENV\n"}, []string{"TEST_NO_SUCH_P12_ENV is not set"}},
		{"typo", [2]string{"admin_email:", "admin_mail:"}, []string{`unknown key "admin_mail" in source.google`, `did you mean "admin_email"?`}},
		{"custom attribute", [2]string{"    request_timeout: 30s\n", "    custom_attributes:\n      - {schema: Employment, field: EmployeeID, attribute: mail}\n      - {schema: '', attribute: title}\n"},
			[]string{"cfg.yaml:8: source.google.custom_attributes[0].attribute: expected one of", "employeeNumber", `got "mail"`,
				"cfg.yaml:9: source.google.custom_attributes[1].schema: required", "custom_attributes[1].field: required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(minimalGoogle, tt.replace[0], tt.replace[1], 1)
			if text == minimalGoogle {
				t.Fatalf("replacement %q not found", tt.replace[0])
			}
			_, err := ParseConfig("cfg.yaml", []byte(text))
			if err == nil {
				t.Fatal("ParseConfig succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// The example config is valid (with a hash file that exists here).
func TestExampleGoogleConfig(t *testing.T) {
	data, err := os.ReadFile("../configs/example-google.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hashFile := filepath.Join(t.TempDir(), "archive.hash")
	if err := os.WriteFile(hashFile, []byte(testHash(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "/etc/ldapgate/archive.hash", hashFile, 1)
	cfg, err := ParseConfig("example-google.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := NewSource(cfg).(*google.Source); !ok {
		t.Error("the example's source is not Google")
	}
	if !cfg.LDAP.RequireTLS {
		t.Error("the example does not require TLS")
	}
}

func TestCustomAttributesConfig(t *testing.T) {
	t.Setenv("TEST_ARCHIVE_HASH", testHash(t))
	text := strings.Replace(minimalGoogle, "    request_timeout: 30s\n", `    custom_attributes:
      - {schema: Employment, field: EmployeeID, attribute: EMPLOYEENUMBER}
      - {schema: Contact, field: Desk, attribute: 2.5.4.20}
`, 1)
	cfg, err := ParseConfig("cfg.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []dirapi.CustomAttribute{
		{Schema: "Employment", Field: "EmployeeID", Attribute: "employeeNumber"},
		{Schema: "Contact", Field: "Desk", Attribute: "telephoneNumber"},
	}
	if diff := cmp.Diff(GoogleSourceConfig(cfg, nil).CustomAttributes, want); diff != "" {
		t.Errorf("custom attributes (-got +want):\n%s", diff)
	}
}
