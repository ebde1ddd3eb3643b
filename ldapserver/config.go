package ldapserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/ldapgate/ldapgate/directory"
)

// Config configures a Server: what it serves (Directory) and its
// connections. The zero values of the optional fields select the
// documented defaults.
type Config struct {
	// Directory is what the server serves: the tree's names, service
	// accounts, limits and views. Its Controls, Extensions and
	// SASLMechanisms are the server's to set, from what it implements.
	Directory directory.Config
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
)

// withDefaults returns c with the zero optional fields of the connection
// layer filled in (the directory fills in its own).
func (c Config) withDefaults() Config {
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
	return c
}

// Validate reports the first problem with c: the directory's (see
// directory.Config.Validate), LDAPS, RequireTLS or a service account's
// client certificate without TLS.
func (c Config) Validate() error {
	if err := c.directory().Validate(); err != nil {
		return err
	}
	for _, sa := range c.Directory.ServiceAccounts {
		if sa.ClientCertSHA256 != "" && c.TLS == nil {
			return fmt.Errorf("service account %q: a client certificate needs a TLS configuration", sa.Name)
		}
	}
	if c.LDAPS && c.TLS == nil {
		return errors.New("ldaps requires a TLS configuration")
	}
	if c.RequireTLS && c.TLS == nil {
		return errors.New("require TLS needs a TLS configuration")
	}
	return nil
}

// directory returns the directory's part of c, with what the RootDSE
// announces of this server.
func (c *Config) directory() directory.Config {
	ext := []string{oidWhoAmI}
	var sasl []string
	if c.TLS != nil {
		if !c.LDAPS {
			ext = []string{oidStartTLS, oidWhoAmI}
		}
		sasl = []string{saslExternal}
	}
	d := c.Directory
	d.Controls, d.Extensions, d.SASLMechanisms = []string{oidPagedResults, oidSortRequest}, ext, sasl
	return d
}
