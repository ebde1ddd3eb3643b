package bindproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/store"
)

// UpstreamConfig configures the upstream LDAP pass-through.
type UpstreamConfig struct {
	// URL is the upstream directory, ldaps://host:636 (or ldap:// for tests
	// and trusted networks).
	URL string
	// BindDN is the user's DN upstream, with {uid} (ldapgate's uid),
	// {email} (primary address) and {local} (its local part) replaced,
	// e.g. "uid={local},ou=Users,dc=example,dc=com" for Google's Secure LDAP.
	BindDN string
	// TLS holds the client certificate (Google's Secure LDAP demands one)
	// and the trusted roots (nil: the system's).
	TLS *tls.Config
	// MaxConns bounds the pooled upstream connections (default 4).
	MaxConns int
	// Rate and Burst bound upstream binds per second (default 4 and 4:
	// Google's Secure LDAP quota is 4 binds per second per customer).
	Rate  float64
	Burst int
	// Wait is how long a bind may wait for the rate limit before it is
	// refused as busy (default 2s).
	Wait time.Duration
	// Timeout bounds each upstream operation (default 10s).
	Timeout time.Duration
}

// ErrBusy means the upstream rate limit is reached: the bind was refused
// without asking the upstream directory.
// It wraps directory.ErrBusy, so the client gets busy (51).
var ErrBusy = fmt.Errorf("upstream directory bind rate limit reached: %w", directory.ErrBusy)

// UpstreamMethod passes binds through to an upstream directory. Successful
// results are cached by the chain, so the upstream quota is spent only on
// new (user, password) pairs.
type UpstreamMethod struct {
	cfg  UpstreamConfig
	pool chan *ldap.Conn
	sem  chan struct{} // one slot per connection, pooled or in use
	rate *bucket
}

var _ Method = (*UpstreamMethod)(nil)

// NewUpstreamMethod returns the pass-through to cfg.URL. It does not
// connect until the first bind.
func NewUpstreamMethod(cfg UpstreamConfig) (*UpstreamMethod, error) {
	if !strings.HasPrefix(cfg.URL, "ldaps://") && !strings.HasPrefix(cfg.URL, "ldap://") {
		return nil, fmt.Errorf("upstream ldap: url %q: want ldaps://host:port", cfg.URL)
	}
	if !strings.Contains(cfg.BindDN, "{") {
		return nil, errors.New("upstream ldap: bind_dn has no {uid}, {email} or {local}")
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 4
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 4
	}
	if cfg.Burst <= 0 {
		cfg.Burst = max(1, int(cfg.Rate))
	}
	if cfg.Wait < 0 {
		cfg.Wait = 0
	} else if cfg.Wait == 0 {
		cfg.Wait = 2 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &UpstreamMethod{cfg: cfg, pool: make(chan *ldap.Conn, cfg.MaxConns), sem: make(chan struct{}, cfg.MaxConns),
		rate: newBucket(cfg.Rate, cfg.Burst, time.Now)}, nil
}

// Name is "upstream_ldap".
func (m *UpstreamMethod) Name() string { return MethodUpstreamLDAP }

// userDN is u's DN upstream.
func (m *UpstreamMethod) userDN(u *store.ViewUser) string {
	local, _, _ := strings.Cut(u.PrimaryEmail, "@")
	return strings.NewReplacer("{uid}", ldap.EscapeDN(u.UID), "{email}", ldap.EscapeDN(u.PrimaryEmail),
		"{local}", ldap.EscapeDN(local)).Replace(m.cfg.BindDN)
}

// Authenticate binds upstream as u with password. Only the upstream's
// invalidCredentials refuses; its other answers, a failed connection and
// the rate limit mean the password could not be checked.
func (m *UpstreamMethod) Authenticate(ctx context.Context, u *store.ViewUser, password string, _ net.Addr) (Credential, error) {
	if !m.rate.take(ctx, m.cfg.Wait) {
		return Credential{}, ErrBusy
	}
	select {
	case m.sem <- struct{}{}:
		defer func() { <-m.sem }()
	case <-ctx.Done():
		return Credential{}, ctx.Err()
	}
	conn, err := m.conn()
	if err != nil {
		return Credential{}, err
	}
	dn := m.userDN(u)
	err = conn.Bind(dn, password)
	switch {
	case err == nil:
		m.put(conn)
		return Credential{Label: dn}, nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		m.put(conn) // still usable, now anonymous
		return Credential{}, directory.Refused("upstream refused the password for " + dn)
	}
	conn.Close()
	return Credential{}, fmt.Errorf("upstream bind: %w", err)
}

// conn returns a pooled connection or dials a new one.
func (m *UpstreamMethod) conn() (*ldap.Conn, error) {
	for {
		select {
		case c := <-m.pool:
			if c.IsClosing() {
				c.Close()
				continue
			}
			return c, nil
		default:
		}
		c, err := ldap.DialURL(m.cfg.URL, ldap.DialWithTLSConfig(m.cfg.TLS),
			ldap.DialWithDialer(&net.Dialer{Timeout: m.cfg.Timeout}))
		if err != nil {
			return nil, fmt.Errorf("upstream dial: %w", err)
		}
		c.SetTimeout(m.cfg.Timeout)
		return c, nil
	}
}

func (m *UpstreamMethod) put(c *ldap.Conn) {
	select {
	case m.pool <- c:
	default:
		c.Close()
	}
}

// Close closes the pooled connections.
func (m *UpstreamMethod) Close() error {
	for {
		select {
		case c := <-m.pool:
			c.Close()
		default:
			return nil
		}
	}
}

// bucket is a token bucket: rate tokens a second, at most burst.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newBucket(rate float64, burst int, now func() time.Time) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now(), now: now}
}

// take takes a token, waiting at most wait for one; it reports whether it
// got one.
func (b *bucket) take(ctx context.Context, wait time.Duration) bool {
	b.mu.Lock()
	now := b.now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		b.mu.Unlock()
		return true
	}
	delay := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	if delay > wait {
		b.mu.Unlock()
		return false
	}
	b.tokens-- // reserved: goes negative until refilled
	b.mu.Unlock()
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		b.mu.Lock()
		b.tokens++
		b.mu.Unlock()
		return false
	}
}
