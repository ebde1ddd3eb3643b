package gateway

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/ldapgate/ldapgate/directory"
)

// POSIXConfig is ldap.posix: RFC 2307bis attributes for NSS/PAM clients
// (see directory.POSIX for the number rule). ldap.active_directory, a
// bool beside it, adds the Active Directory view (ldapserver.Config).
type POSIXConfig struct {
	Enabled       bool   `yaml:"enabled"`
	UIDMin        uint32 `yaml:"uid_min"`
	UIDMax        uint32 `yaml:"uid_max"`
	GIDMin        uint32 `yaml:"gid_min"`
	GIDMax        uint32 `yaml:"gid_max"`
	PrimaryGID    uint32 `yaml:"primary_gid"`
	HomeDirectory string `yaml:"home_directory"`
	LoginShell    string `yaml:"login_shell"`
}

// ldapPOSIX is ldap.posix for the directory.
func (c *Config) ldapPOSIX() directory.POSIX {
	p := c.LDAP.POSIX
	return directory.POSIX{
		Enabled: p.Enabled,
		UIDMin:  p.UIDMin, UIDMax: p.UIDMax, GIDMin: p.GIDMin, GIDMax: p.GIDMax,
		PrimaryGID:    p.PrimaryGID,
		HomeDirectory: p.HomeDirectory,
		LoginShell:    p.LoginShell,
	}
}

// validatePOSIX checks ldap.posix when it is enabled.
func (c *Config) validatePOSIX(root *yaml.Node) ConfigErrors {
	p := c.LDAP.POSIX
	if !p.Enabled {
		return nil
	}
	var errs ConfigErrors
	bad := func(key string, format string, args ...any) {
		key = "ldap.posix." + key
		errs = append(errs, &ConfigError{File: c.path, Line: lineOf(root, key), Msg: key + ": " + fmt.Sprintf(format, args...)})
	}
	if (p.UIDMin == 0) != (p.UIDMax == 0) {
		bad("uid_min", "uid_min and uid_max go together")
	}
	if (p.GIDMin == 0) != (p.GIDMax == 0) {
		bad("gid_min", "gid_min and gid_max go together")
	}
	if len(errs) == 0 {
		if err := c.ldapPOSIX().Validate(); err != nil {
			bad("enabled", "%v", err)
		}
	}
	return errs
}
