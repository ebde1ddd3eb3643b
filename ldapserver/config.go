package ldapserver

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/internal/passhash"
)

// Config configures the directory and its LDAP listener. The zero values of
// the optional fields select the documented defaults.
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
	// TLS, when set, enables TLS: LDAPS on the whole listener if LDAPS is
	// true, otherwise the StartTLS extended operation.
	TLS   *tls.Config
	LDAPS bool
	// RequireTLS refuses every operation but StartTLS and RootDSE reads
	// (confidentialityRequired) on a connection without TLS. It needs TLS.
	RequireTLS bool
	// MaxMessageBytes bounds one incoming LDAP message (default 1 MiB); a
	// larger message ends the connection. The bound is per server.
	MaxMessageBytes int64
	// MaxConnections bounds the open client connections (default 4096).
	// A new connection beyond it closes the oldest one that has not bound
	// yet (and is not from BindLimit.TrustedNetworks) with a Notice of
	// Disconnection (busy), or, if every one has bound, gets that notice
	// itself. Negative means no limit.
	MaxConnections int
	// MaxConnectionsPerAddress bounds the open connections from one client
	// address (default 128) on the listener, so that one client cannot
	// take every slot of MaxConnections. Addresses in
	// BindLimit.TrustedNetworks are exempt. Negative means no limit.
	MaxConnectionsPerAddress int
	// MaxUnboundMessageBytes bounds one incoming message on a connection
	// that has not bound successfully yet (default 64 KiB, at most
	// MaxMessageBytes): a bind or a RootDSE read is small.
	MaxUnboundMessageBytes int64
	// MaxUnfinishedBytes bounds the bytes held by messages still arriving,
	// over all connections of the server and of the servers Beside it
	// (default 64 MiB). A connection whose message would take more is
	// told busy and closed.
	MaxUnfinishedBytes int64
	// MessageTimeout bounds receiving one message once its first byte
	// came (default 30s): a client that sends half a message and stalls
	// is not idle, and the idle timeout does not apply to it.
	MessageTimeout time.Duration
	// FirstBindTimeout closes a connection that has not bound successfully
	// this long after it opened (default 30s). Negative means never.
	FirstBindTimeout time.Duration
	// MaxRequestsPerConn bounds the requests in flight on one connection
	// (default 32); the server stops reading from a connection that has
	// that many until one finishes.
	MaxRequestsPerConn int
	// IdleTimeout closes a connection with no request in flight that sent
	// nothing for this long (default 15m). Negative means never.
	IdleTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake of LDAPS and StartTLS
	// (default 10s).
	TLSHandshakeTimeout time.Duration
	// WriteTimeout bounds writing one batch of responses to a client that
	// does not read (default 60s).
	WriteTimeout time.Duration
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

// Defaults.
const (
	DefaultMaxMessageBytes     = 1 << 20
	DefaultMaxConnections      = 4096
	DefaultMaxRequestsPerConn  = 32
	DefaultMaxConnsPerAddress  = 128
	DefaultMaxUnboundMessage   = 64 << 10
	DefaultMaxUnfinishedBytes  = 64 << 20
	DefaultMessageTimeout      = 30 * time.Second
	DefaultFirstBindTimeout    = 30 * time.Second
	DefaultIdleTimeout         = 15 * time.Minute
	DefaultTLSHandshakeTimeout = 10 * time.Second
	DefaultWriteTimeout        = 60 * time.Second
	DefaultFailureDelay        = 500 * time.Millisecond
	defaultPeopleOU            = "people"
	defaultGroupsOU            = "groups"
	defaultPrivilegesOU        = "privileges"
	defaultServicesOU          = "services"
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
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxConnectionsPerAddress == 0 {
		c.MaxConnectionsPerAddress = DefaultMaxConnsPerAddress
	}
	if c.MaxUnboundMessageBytes <= 0 {
		c.MaxUnboundMessageBytes = DefaultMaxUnboundMessage
	}
	c.MaxUnboundMessageBytes = min(c.MaxUnboundMessageBytes, c.MaxMessageBytes)
	if c.MaxUnfinishedBytes <= 0 {
		c.MaxUnfinishedBytes = DefaultMaxUnfinishedBytes
	}
	if c.MessageTimeout <= 0 {
		c.MessageTimeout = DefaultMessageTimeout
	}
	if c.FirstBindTimeout == 0 {
		c.FirstBindTimeout = DefaultFirstBindTimeout
	}
	if c.MaxRequestsPerConn <= 0 {
		c.MaxRequestsPerConn = DefaultMaxRequestsPerConn
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.TLSHandshakeTimeout <= 0 {
		c.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
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
// service account names, unusable password hashes, LDAPS without TLS.
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
		if c.TLS == nil {
			return fmt.Errorf("service account %q: a client certificate needs a TLS configuration", sa.Name)
		}
		if other, dup := certs[fp]; dup {
			return fmt.Errorf("service accounts %q and %q have the same client certificate", other, sa.Name)
		}
		certs[fp] = sa.Name
	}
	if c.LDAPS && c.TLS == nil {
		return errors.New("ldaps requires a TLS configuration")
	}
	if c.RequireTLS && c.TLS == nil {
		return errors.New("require TLS needs a TLS configuration")
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
