// Package bindproxy decides the LDAP simple binds of directory users: the
// bind chain. It tries the configured methods (app passwords, ID tokens,
// ...) in order, the first that accepts wins, logs every outcome, and
// caches verified binds for a short time as keyed hashes so the archive
// server's repeated binds cost microseconds.
//
// A Chain is an directory.UserAuthenticator: the directory resolves the
// bind name to a user and checks that the user is enabled before asking it.
package bindproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/keyedhash"
	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/store"
)

// Method names, as the config's binds list spells them.
const (
	MethodAppPassword   = "app_password"
	MethodIDToken       = "id_token"
	MethodPasswordGrant = "password_grant"
	MethodUpstreamLDAP  = "upstream_ldap"
)

// Method is one way to check a user's bind password.
type Method interface {
	// Name is the method's name in the config and the log.
	Name() string
	// Authenticate returns the credential that proves the caller is u, or
	// an error: ErrNotApplicable if password cannot be meant for this
	// method (the chain goes on quietly); one wrapping
	// directory.ErrRefused if the password was checked and is wrong; any
	// other if it could not be checked (a dependency failed; wrapping
	// directory.ErrBusy or passhash.ErrBusy for lack of capacity).
	Authenticate(ctx context.Context, u *store.ViewUser, password string, client net.Addr) (Credential, error)
}

// Credential is what accepted a bind.
type Credential struct {
	// AppPasswordID is the app password that matched (0 for other methods).
	AppPasswordID int64
	// Label names the credential in the log (app password name, token email).
	Label string
	// Expires, if set, bounds how long the bind may be cached.
	Expires time.Time
}

// rechecker is a method whose cached binds must be checked again on each
// use (app passwords: revocation by another process). An error means the
// credential could not be checked.
type rechecker interface {
	stillValid(ctx context.Context, userID string, c Credential) (bool, error)
}

// Errors.
var (
	// ErrNotApplicable means a method does not handle this kind of password.
	ErrNotApplicable = errors.New("not applicable")
	// ErrNoMethod means no method accepted the password, and each that
	// applied refused it (it wraps directory.ErrRefused).
	ErrNoMethod = directory.Refused("no bind method accepted the password")

	errNoAppPasswords   = directory.Refused("user has no active app password")
	errWrongAppPassword = directory.Refused("no active app password matches")
	errWrongService     = directory.Refused("app password is bound to a service not allowed from this client")
	errWrongUser        = directory.Refused("token is for another user")
)

// Options configure a Chain.
type Options struct {
	// CacheTTL is how long a verified bind is remembered; 0 disables the cache.
	CacheTTL time.Duration
	// MaxCacheEntries bounds the cache (default 100000).
	MaxCacheEntries int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives one record per method outcome (default: discard).
	Log *slog.Logger
}

// Chain is the bind chain. It is safe for concurrent use.
type Chain struct {
	methods []Method
	opts    Options
	log     *slog.Logger

	mu    sync.RWMutex
	keys  *keyedhash.Hasher // a new key per process and per Reset
	cache map[keyedhash.Sum]cacheEntry

	countMu sync.Mutex
	counts  map[countKey]uint64

	// verify is passhash.Verify; tests count comparisons.
	verify func(ctx context.Context, hash, pw string) (bool, error)
}

// countKey names a counter of Counts.
type countKey struct {
	method, result string
	cached         bool
}

type cacheEntry struct {
	userID  string
	method  Method
	cred    Credential
	expires time.Time
}

var _ directory.UserAuthenticator = (*Chain)(nil)

// NewChain returns the chain of methods, tried in order.
func NewChain(methods []Method, opts Options) *Chain {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.MaxCacheEntries <= 0 {
		opts.MaxCacheEntries = 100000
	}
	c := &Chain{methods: methods, opts: opts, log: opts.Log, counts: make(map[countKey]uint64), verify: passhash.Verify}
	c.Reset()
	return c
}

// Methods returns the names of the chain's methods, in order.
func (c *Chain) Methods() []string {
	out := make([]string, len(c.methods))
	for i, m := range c.methods {
		out[i] = m.Name()
	}
	return out
}

// HasMethods reports whether the chain has any method.
func (c *Chain) HasMethods() bool { return len(c.methods) > 0 }

// AuthenticateUser implements directory.UserAuthenticator: a cached
// verified bind, else the first method that accepts. The password is never
// logged or stored; the cache holds HMAC(key, user id, password).
//
// A password is refused only when every method that applies refused it:
// if one could not check it (its dependency failed), it might have
// accepted, so the bind could not be checked. When no method applies,
// the password is compared with a dummy hash first, so that such a
// refusal costs what a method's does.
func (c *Chain) AuthenticateUser(ctx context.Context, u *store.ViewUser, password string, client net.Addr) error {
	if password == "" {
		return directory.Refused("empty password")
	}
	k := c.cacheKey(u.ID, password)
	if e, ok := c.lookup(k, u.ID); ok {
		valid, err := true, error(nil)
		if rc, recheck := e.method.(rechecker); recheck {
			valid, err = rc.stillValid(ctx, u.ID, e.cred)
		}
		if err != nil {
			c.logOutcome(ctx, u, e.method.Name(), e.cred, err, client, true)
			return fmt.Errorf("%s: %w", e.method.Name(), err)
		}
		if valid {
			c.logOutcome(ctx, u, e.method.Name(), e.cred, nil, client, true)
			return nil
		}
		c.drop(k)
	}
	var refusals, unchecked []error
	for _, m := range c.methods {
		cred, err := m.Authenticate(ctx, u, password, client)
		c.logOutcome(ctx, u, m.Name(), cred, err, client, false)
		switch {
		case err == nil:
			c.store(k, u.ID, m, cred)
			return nil
		case errors.Is(err, ErrNotApplicable):
		case errors.Is(err, directory.ErrRefused):
			refusals = append(refusals, fmt.Errorf("%s: %w", m.Name(), err))
		default:
			unchecked = append(unchecked, fmt.Errorf("%s: %w", m.Name(), err))
		}
	}
	switch {
	case len(unchecked) > 0:
		return fmt.Errorf("could not check: %w", errors.Join(unchecked...))
	case len(refusals) > 0:
		return fmt.Errorf("%w: %w", ErrNoMethod, errors.Join(refusals...))
	}
	if _, err := c.verify(ctx, passhash.Dummy(), password); errors.Is(err, passhash.ErrBusy) {
		return err
	}
	return ErrNoMethod
}

// Outcomes of a method, as logged and counted.
const (
	resultAccepted      = "accepted"
	resultRefused       = "refused"
	resultNotApplicable = "not_applicable"
	resultBusy          = "busy"
	resultUnavailable   = "unavailable"
)

// result names the outcome err of a method.
func result(err error) string {
	switch {
	case err == nil:
		return resultAccepted
	case errors.Is(err, ErrNotApplicable):
		return resultNotApplicable
	case errors.Is(err, directory.ErrRefused):
		return resultRefused
	case errors.Is(err, directory.ErrBusy), errors.Is(err, passhash.ErrBusy):
		return resultBusy
	}
	return resultUnavailable
}

func (c *Chain) logOutcome(ctx context.Context, u *store.ViewUser, method string, cred Credential, err error, client net.Addr, cached bool) {
	// A cached acceptance is logged at debug: it repeats an earlier
	// acceptance, and the gateway's audit record has the bind. A method
	// that could not check is an error of ldapgate's dependencies.
	r := result(err)
	level := map[string]slog.Level{resultAccepted: slog.LevelInfo, resultRefused: slog.LevelWarn,
		resultNotApplicable: slog.LevelDebug, resultBusy: slog.LevelWarn, resultUnavailable: slog.LevelError}[r]
	if cached && err == nil {
		level = slog.LevelDebug
	}
	if c.log.Enabled(ctx, level) {
		attrs := make([]slog.Attr, 0, 6)
		attrs = append(attrs, slog.String("user", u.UID), slog.String("method", method), slog.String("result", r))
		if client != nil {
			attrs = append(attrs, slog.String("client", client.String()))
		}
		if cached {
			attrs = append(attrs, slog.Bool("cached", true))
		}
		if err == nil && cred.Label != "" {
			attrs = append(attrs, slog.String("credential", cred.Label))
		}
		if err != nil && level >= slog.LevelWarn {
			attrs = append(attrs, slog.String("reason", err.Error()))
		}
		c.log.LogAttrs(ctx, level, "bind method", attrs...)
	}
	c.countMu.Lock()
	c.counts[countKey{method, r, cached}]++
	c.countMu.Unlock()
}

// Counts returns how many times each method gave each result, keyed
// "method result" (with " cached" for cache hits), e.g.
// "app_password accepted cached".
func (c *Chain) Counts() map[string]uint64 {
	c.countMu.Lock()
	defer c.countMu.Unlock()
	out := make(map[string]uint64, len(c.counts))
	for k, n := range c.counts {
		key := k.method + " " + k.result
		if k.cached {
			key += " cached"
		}
		out[key] = n
	}
	return out
}

func (c *Chain) cacheKey(userID, password string) keyedhash.Sum {
	c.mu.RLock()
	keys := c.keys
	c.mu.RUnlock()
	return keys.Sum(userID, password)
}

func (c *Chain) lookup(k keyedhash.Sum, userID string) (cacheEntry, bool) {
	if c.opts.CacheTTL <= 0 {
		return cacheEntry{}, false
	}
	c.mu.RLock()
	e, ok := c.cache[k]
	c.mu.RUnlock()
	if !ok || e.userID != userID || !c.opts.Now().Before(e.expires) {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *Chain) store(k keyedhash.Sum, userID string, m Method, cred Credential) {
	if c.opts.CacheTTL <= 0 {
		return
	}
	now := c.opts.Now()
	exp := now.Add(c.opts.CacheTTL)
	if !cred.Expires.IsZero() && cred.Expires.Before(exp) {
		exp = cred.Expires
	}
	if !now.Before(exp) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cache) >= c.opts.MaxCacheEntries {
		for ck, e := range c.cache {
			if !now.Before(e.expires) {
				delete(c.cache, ck)
			}
		}
		if len(c.cache) >= c.opts.MaxCacheEntries {
			return
		}
	}
	c.cache[k] = cacheEntry{userID: userID, method: m, cred: cred, expires: exp}
}

func (c *Chain) drop(k keyedhash.Sum) {
	c.mu.Lock()
	delete(c.cache, k)
	c.mu.Unlock()
}

// Revoked forgets the cached binds of app password id.
func (c *Chain) Revoked(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.cache {
		if e.cred.AppPasswordID == id {
			delete(c.cache, k)
		}
	}
}

// ViewChanged forgets the cached binds of users that v no longer has or
// that v shows suspended or archived. Call it after each new view.
func (c *Chain) ViewChanged(v *store.View) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.cache {
		if u, ok := v.UserByID(e.userID); !ok || !u.Enabled() {
			delete(c.cache, k)
		}
	}
}

// Reset forgets every cached bind and draws a new cache key (config
// reload).
func (c *Chain) Reset() {
	keys := keyedhash.New()
	c.mu.Lock()
	c.keys = keys
	c.cache = make(map[keyedhash.Sum]cacheEntry)
	c.mu.Unlock()
}

// CacheLen returns the number of cached binds (tests, metrics).
func (c *Chain) CacheLen() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.cache)
}
