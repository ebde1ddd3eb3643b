package directory

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ldapgate/ldapgate/internal/clientlog"
	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/store"
)

// IdentityKind says who is bound on a connection.
type IdentityKind uint8

const (
	// IdentityAnonymous is a connection without a (successful) bind.
	IdentityAnonymous IdentityKind = iota
	// IdentityService is a bound service account.
	IdentityService
	// IdentityUser is a bound directory user.
	IdentityUser
)

func (k IdentityKind) String() string {
	switch k {
	case IdentityService:
		return "service_account"
	case IdentityUser:
		return "user"
	}
	return "anonymous"
}

// Identity is the outcome of a bind: who the connection acts as. The zero
// Identity is anonymous.
type Identity struct {
	Kind   IdentityKind
	DN     string // the bound entry's DN; "" for anonymous
	Name   string // service account name or user UID
	UserID string // store id of a user
}

// Option configures a Directory.
type Option func(*options)

type options struct {
	now      func() time.Time
	users    UserAuthenticator
	observer Observer // observe.go
	beside   *Directory
}

// Beside makes the directory a second listener's view of d (LDAPS beside
// LDAP), whose Config it must share apart from what the RootDSE announces.
// It serves d's trees, so the second listener costs no second tree (70 MB
// and a second's build for 100k users), and shares d's bind cache and
// failed-bind limiter, so a verified password is not hashed again
// (argon2id takes 64 MiB) and failures count across both. Reload both
// alike.
func Beside(d *Directory) Option { return func(o *options) { o.beside = d } }

// WithClock sets the clock of the failed-bind limiter and of certificate
// validity (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithUserAuthenticator lets users bind (see UserAuthenticator). Without
// it every user bind fails with invalidCredentials.
func WithUserAuthenticator(a UserAuthenticator) Option { return func(o *options) { o.users = a } }

// Directory is the protocol-neutral LDAP directory: binds, searches and
// refused writes over the view that live holds. It is safe for concurrent
// use.
type Directory struct {
	cfg     Config
	layout  *layout
	live    *store.Live
	log     *slog.Logger
	users   UserAuthenticator
	limiter *bindLimiter
	now     func() time.Time
	// verified caches successful service account binds (bindcache.go).
	verified *verifiedCache
	trees    *treeCache // shared with Beside
	bases    dnCache    // normalised search bases

	// quiet holds back repeated log records of blocked binds.
	quiet *clientlog.Quiet
	// accounts maps a service account entry's normalised DN to its account.
	accounts map[string]ServiceAccount

	rootDSE, subschema *Entry
	ext                extension // reload.go

	// verify is passhash.Verify; tests count comparisons.
	verify func(ctx context.Context, hash, pw string) (bool, error)
	// pauseHook, a test hook, replaces pausing a refusal.
	pauseHook func(time.Duration)
}

// NewDirectory returns the directory of cfg over the views live holds.
func NewDirectory(cfg Config, live *store.Live, log *slog.Logger, opts ...Option) (*Directory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	cfg = cfg.withDefaults()
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l, err := newLayout(&cfg)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	d := &Directory{
		cfg:      cfg,
		layout:   l,
		live:     live,
		log:      log,
		users:    o.users,
		limiter:  newBindLimiter(o.now, cfg.BindLimit.Window, cfg.BindLimit.Backoff),
		now:      o.now,
		verified: newVerifiedCache(o.now),
		quiet:    clientlog.NewQuiet(o.now, time.Minute),
		accounts: make(map[string]ServiceAccount, len(cfg.ServiceAccounts)),
		verify:   passhash.Verify,
	}
	svc := l.ous[ouServices]
	for _, sa := range cfg.ServiceAccounts {
		sa.Name = strings.TrimSpace(sa.Name)
		d.accounts[normAVA("cn", sa.Name)+","+svc.ndn] = sa
	}
	d.initExt(o)
	if b := o.beside; b != nil {
		d.trees, d.limiter, d.verified, d.quiet = b.trees, b.limiter, b.verified, b.quiet
	} else {
		d.trees = &treeCache{build: d.buildTree}
	}
	d.rootDSE = newRootDSE(&cfg, l)
	d.subschema = newSubschema()
	return d, nil
}

func (d *Directory) buildTree(v *store.View) *tree {
	start := time.Now()
	l := d.treeLayout()
	t := buildTree(v, l)
	d.log.Debug("ldap directory tree built", "entries", len(t.entries), "took", time.Since(start))
	if len(t.skipped) > 0 {
		d.log.Warn("ldap directory: objects left out, their DN clashes with another or is empty",
			"count", len(t.skipped), "objects", t.skipped)
	}
	if l.posix != nil {
		if clashes := posixUIDClashes(v); len(clashes) > 0 {
			d.log.Warn("ldap directory: users whose Google POSIX uid another user holds get derived numbers",
				"count", len(clashes), "users", clashes)
		}
	}
	return t
}

// Warm builds the tree of the current view now, so that the first search
// after a Live.Store does not wait for it (under a second for 100k users).
// Searches build it on demand anyway.
func (d *Directory) Warm() { d.trees.get(d.live) }

// Write refuses add, modify, delete and modrdn (op names which): ldapgate
// is read-only. The error is *Error with unwillingToPerform.
func (d *Directory) Write(ctx context.Context, id Identity, op, dn string) error {
	d.log.LogAttrs(ctx, slog.LevelInfo, "ldap write refused", slog.String("op", op), slog.String("dn", clientlog.Text(dn)),
		slog.String("bound", id.DN), clientlog.ConnAttr(ctx))
	return errReadOnly(op)
}
