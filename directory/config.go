package directory

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/internal/passhash"
)

// Config configures the directory. The zero values of the optional fields
// select the documented defaults.
type Config struct {
	// BaseDN is the naming context, e.g. "dc=example,dc=com". Its first RDN
	// must be dc, o, ou or c (the base entry's class follows from it).
	BaseDN string
	// OU names under BaseDN; defaults people, groups, privileges, services.
	PeopleOU, GroupsOU, PrivilegesOU, ServicesOU string
	// ServiceAccounts may bind as cn=<Name>,ou=<ServicesOU>,<BaseDN> and read
	// the whole directory.
	ServiceAccounts []ServiceAccount
	// SizeLimit is the server's maximum number of entries per search; 0 means
	// none. A search returns at most min(client limit, SizeLimit) entries.
	SizeLimit int
	// VendorVersion is shown in the RootDSE.
	VendorVersion string
	// Controls, Extensions and SASLMechanisms are what the protocol layer
	// implements, for the RootDSE to announce (supportedControl,
	// supportedExtension, supportedSASLMechanisms).
	Controls, Extensions, SASLMechanisms []string
	// BindLimit throttles failed binds.
	BindLimit BindLimit
	// POSIX adds the RFC 2307bis attributes (see POSIX).
	POSIX POSIX
	// ActiveDirectory adds an Active-Directory-flavoured view for clients
	// configured for AD: users get objectClass user, sAMAccountName (the
	// uid), userPrincipalName (the primary address) and userAccountControl
	// (512, or 514 while suspended or archived); groups and privilege
	// groups get objectClass group and sAMAccountName (the cn).
	ActiveDirectory bool
}

// ServiceAccount is an account for the archive server (or another consumer)
// to bind with. PasswordHash is bcrypt ($2a$, $2b$, $2y$) or argon2id in PHC
// form (see internal/passhash).
type ServiceAccount struct {
	Name         string
	PasswordHash string
	// ClientCertSHA256, if set, is the SHA-256 fingerprint of a client
	// certificate (hex, colons allowed; see ParseCertFingerprint) that
	// binds as this account with SASL EXTERNAL over TLS.
	ClientCertSHA256 string
}

// BindLimit configures the failed-bind limits. Within Window, failures
// are counted
//
//   - per name and client address: PerName of them block that name from
//     that address;
//   - per name from every address: PerNameTotal block the name everywhere
//     (user and unknown names only: a service account is counted per
//     address alone, so nobody can lock the archive server out of its own
//     account);
//   - per client address, the distinct names that failed from it: PerAddress
//     of them (a spray of guesses over many names) block the address for
//     every name but service accounts. Addresses in TrustedNetworks, the
//     archive servers that relay every user's bind, are never blocked as
//     such: their users' typos must not lock out the other users.
//
// A block lasts Backoff; a blocked bind is refused without checking the
// password. Every refused bind is answered after FailureDelay, whatever
// the reason (so that the time taken tells nothing about the name),
// doubled as the most-used of its counters nears its limit, up to 8 times:
// guessing slows down before it is refused. Zero fields take the defaults
// (5, 20, 50, 5m, 5m, 500ms); a negative limit disables that limit, a
// negative FailureDelay the delay.
type BindLimit struct {
	PerName         int
	PerNameTotal    int
	PerAddress      int
	Window          time.Duration
	Backoff         time.Duration
	TrustedNetworks []netip.Prefix
	FailureDelay    time.Duration
}

// Trusted reports whether ip is in b.TrustedNetworks.
func (b *BindLimit) Trusted(ip netip.Addr) bool {
	for _, p := range b.TrustedNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// DefaultFailureDelay is BindLimit.FailureDelay's default.
const DefaultFailureDelay = 500 * time.Millisecond

const (
	defaultPeopleOU     = "people"
	defaultGroupsOU     = "groups"
	defaultPrivilegesOU = "privileges"
	defaultServicesOU   = "services"
)

// withDefaults returns c with the zero optional fields filled in.
func (c Config) withDefaults() Config {
	c.BaseDN = strings.TrimSpace(c.BaseDN)
	def := func(s *string, d string) {
		*s = strings.TrimSpace(*s)
		if *s == "" {
			*s = d
		}
	}
	def(&c.PeopleOU, defaultPeopleOU)
	def(&c.GroupsOU, defaultGroupsOU)
	def(&c.PrivilegesOU, defaultPrivilegesOU)
	def(&c.ServicesOU, defaultServicesOU)
	if c.BindLimit.PerName == 0 {
		c.BindLimit.PerName = 5
	}
	if c.BindLimit.PerNameTotal == 0 {
		c.BindLimit.PerNameTotal = 20
	}
	if c.BindLimit.PerAddress == 0 {
		c.BindLimit.PerAddress = 50
	}
	if c.BindLimit.FailureDelay == 0 {
		c.BindLimit.FailureDelay = DefaultFailureDelay
	}
	if c.BindLimit.Window <= 0 {
		c.BindLimit.Window = 5 * time.Minute
	}
	if c.BindLimit.Backoff <= 0 {
		c.BindLimit.Backoff = 5 * time.Minute
	}
	c.POSIX = c.POSIX.withDefaults()
	return c
}

// Validate reports the first problem with c: a base DN that does not parse
// or has an unsupported first RDN, clashing OU names, empty or duplicate
// service account names, unusable password hashes or certificate
// fingerprints.
func (c Config) Validate() error {
	c = c.withDefaults()
	d, err := ldap.ParseDN(c.BaseDN)
	if err != nil || len(d.RDNs) == 0 {
		return fmt.Errorf("ldap base DN %q: not a DN", c.BaseDN)
	}
	first := d.RDNs[0]
	if len(first.Attributes) != 1 {
		return fmt.Errorf("ldap base DN %q: multi-valued first RDN", c.BaseDN)
	}
	switch strings.ToLower(first.Attributes[0].Type) {
	case "dc", "o", "ou", "c":
	default:
		return fmt.Errorf("ldap base DN %q: first RDN must be dc, o, ou or c", c.BaseDN)
	}
	ous := map[string]string{}
	for _, ou := range []struct{ field, name string }{
		{"people", c.PeopleOU}, {"groups", c.GroupsOU}, {"privileges", c.PrivilegesOU}, {"services", c.ServicesOU},
	} {
		n := normString(ou.name)
		if prev, dup := ous[n]; dup {
			return fmt.Errorf("ldap OU names: %s and %s are both %q", prev, ou.field, ou.name)
		}
		ous[n] = ou.field
	}
	names := map[string]bool{}
	certs := map[[sha256.Size]byte]string{}
	for i, sa := range c.ServiceAccounts {
		n := normString(sa.Name)
		if n == "" {
			return fmt.Errorf("service account %d: empty name", i+1)
		}
		if names[n] {
			return fmt.Errorf("service account %q: duplicate name", sa.Name)
		}
		names[n] = true
		if err := passhash.Check(sa.PasswordHash); err != nil {
			return fmt.Errorf("service account %q: %w", sa.Name, err)
		}
		if sa.ClientCertSHA256 == "" {
			continue
		}
		fp, err := ParseCertFingerprint(sa.ClientCertSHA256)
		if err != nil {
			return fmt.Errorf("service account %q: %w", sa.Name, err)
		}
		if other, dup := certs[fp]; dup {
			return fmt.Errorf("service accounts %q and %q have the same client certificate", other, sa.Name)
		}
		certs[fp] = sa.Name
	}
	if c.SizeLimit < 0 {
		return fmt.Errorf("ldap size limit %d: must not be negative", c.SizeLimit)
	}
	if c.POSIX.Enabled {
		if err := c.POSIX.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// UserDN returns the DN of the user whose UID is uid in a directory of base
// DN baseDN with the default OUs, as the gateway serves it: the one way the
// portal and the CLI name a user.
func UserDN(baseDN, uid string) string {
	return makeRDN("uid", uid) + "," + makeRDN("ou", defaultPeopleOU) + "," + strings.TrimSpace(baseDN)
}

// ParseCertFingerprint parses a certificate's SHA-256 fingerprint: 64 hex
// digits, in pairs separated by colons or not (as `openssl x509
// -fingerprint -sha256` prints it, after "sha256 Fingerprint=").
func ParseCertFingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	h := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	if len(h) != 2*sha256.Size {
		return fp, fmt.Errorf("client certificate fingerprint: expected 64 hex digits (SHA-256), got %d", len(h))
	}
	if _, err := hex.Decode(fp[:], []byte(h)); err != nil {
		return fp, fmt.Errorf("client certificate fingerprint: expected hex digits: %w", err)
	}
	return fp, nil
}
