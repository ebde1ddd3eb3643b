package ldapserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/ldapgate/ldapgate/store"
)

// UserAuthenticator decides the simple binds of directory users (app
// passwords, ID tokens, an upstream LDAP, ... — the bind chain).
type UserAuthenticator interface {
	// AuthenticateUser returns nil if password proves the caller is user,
	// and an error saying why not otherwise. The client sees only
	// invalidCredentials; the error is logged. The directory has already
	// checked that user is enabled and password is not empty.
	AuthenticateUser(ctx context.Context, user *store.ViewUser, password string, client net.Addr) error
}

// ErrBusy, wrapped in a UserAuthenticator's error, makes the bind answer
// busy (51) instead of invalidCredentials, without counting as a failed
// bind: the password was not checked (e.g. an upstream's rate limit).
var ErrBusy = errors.New("busy")

// Causes of failed binds, for the log.
var (
	errUnknownName     = errors.New("no such service account or user")
	errWrongPassword   = errors.New("wrong password")
	errRateLimited     = errors.New("too many failed binds, backing off")
	errUserDisabled    = errors.New("user is suspended or archived")
	errNoUserBinds     = errors.New("user binds are not enabled")
	errNameWithoutDN   = errors.New("password given without a name")
	errUnauthenticated = errors.New("unauthenticated bind: name without password (RFC 4513 §5.1.2)")
)

func invalidCredentials(cause error) *Error {
	return &Error{Code: ResultInvalidCredentials, Message: "invalid credentials", Err: cause}
}

// Bind decides a simple bind (RFC 4513 §5.1):
//
//   - empty name and password: anonymous, always allowed;
//   - a name with an empty password (an "unauthenticated bind"): refused
//     with unwillingToPerform, as RFC 4513 §5.1.2 recommends, so a client
//     that lost its password never mistakes it for a successful login;
//   - a service account, named by its DN only
//     (cn=<name>,ou=services,<base>): its password hash decides;
//   - a user, named by DN, uid or mail address: must be enabled, then the
//     UserAuthenticator decides (without one, user binds fail).
//
// Every failure is *Error with invalidCredentials (unwillingToPerform for
// the unauthenticated case) and the message "invalid credentials"; the
// cause is wrapped for the log. Names that do not exist are compared
// against a real hash anyway, so the time taken does not tell whether a
// name exists. After too many failures for one name or from one client
// address (see BindLimit) binds are refused without a check.
// client may be nil when the transport does not know it.
func (d *Directory) Bind(ctx context.Context, name, password string, client net.Addr) (Identity, error) {
	id, method, err := d.bind(ctx, name, password, client)
	d.logBind(ctx, method, name, client, err)
	return id, err
}

// logBind logs a bind of name by method with its result err, and tells the
// observer.
func (d *Directory) logBind(ctx context.Context, method, name string, client net.Addr, err error) {
	r := resultOf(err)
	// A success is logged at debug: the observer's record (the gateway's
	// audit log) has it at info.
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelWarn
	}
	if d.log.Enabled(ctx, level) {
		attrs := make([]slog.Attr, 0, 6)
		attrs = append(attrs, slog.String("dn", name), slog.String("method", method), slog.String("result", r.Code.String()))
		if client != nil {
			attrs = append(attrs, slog.String("client", client.String()))
		}
		attrs = append(attrs, connAttr(ctx))
		if r.Err != nil {
			attrs = append(attrs, slog.String("reason", r.Err.Error()))
		}
		d.log.LogAttrs(ctx, level, "ldap bind", attrs...)
	}
	if o := d.ext.obs; o != nil {
		o.Bind(method, r.Code.String(), name, client)
	}
}

// bindTarget is what a bind name resolves to.
type bindTarget struct {
	method string // "service_account", "user" or "unknown"
	// The failed-bind limiter key is keyKind+keyName (see key): built
	// only when the limiter needs it.
	keyKind, keyName string
	hash             string
	user             *store.ViewUser
	id               Identity
}

// key returns the failed-bind limiter key of tg for a client at addr (see
// addrKey).
func (tg *bindTarget) key(addr string) string {
	if tg.method == "service_account" && addr != "" {
		// A service account is counted per client address: a stranger's
		// wrong guesses must not lock the archive server out of its own
		// account. Guessing is still bounded per address.
		return tg.keyKind + tg.keyName + "|" + addr
	}
	return tg.keyKind + tg.keyName
}

func (d *Directory) bind(ctx context.Context, name, password string, client net.Addr) (Identity, string, error) {
	switch {
	case name == "" && password == "":
		return Identity{}, "anonymous", nil
	case name == "":
		return Identity{}, "simple", invalidCredentials(errNameWithoutDN)
	case password == "":
		return Identity{}, "unauthenticated", &Error{Code: ResultUnwillingToPerform, Message: "unauthenticated bind (name without password) not allowed", Err: errUnauthenticated}
	}
	tg := d.resolve(d.trees.get(d.live), name)
	// The limiter's keys cost allocations; while it tracks no failures
	// (nearly always) nothing is blocked and nothing is to forget.
	tracking := !d.limiter.empty()
	var addr, key string
	if tracking {
		addr = addrKey(client)
		key = tg.key(addr)
		if d.limiter.blocked(key) || (addr != "" && d.limiter.blocked(addr)) {
			return Identity{}, tg.method, invalidCredentials(errRateLimited)
		}
	}
	if err := d.check(ctx, &tg, password, client); err != nil {
		if errors.Is(err, ErrBusy) {
			return Identity{}, tg.method, &Error{Code: ResultBusy, Message: "busy, try again shortly", Err: err}
		}
		if !tracking {
			addr = addrKey(client)
			key = tg.key(addr)
		}
		d.limiter.fail(key, d.bindLimit().PerName)
		if addr != "" {
			d.limiter.fail(addr, d.bindLimit().PerAddress)
		}
		return Identity{}, tg.method, invalidCredentials(err)
	}
	if !d.limiter.empty() {
		d.limiter.succeed(tg.key(addrKey(client)))
	}
	return tg.id, tg.method, nil
}

// resolve finds what name refers to: a DN (service account or user), else
// a mail address or uid (users only).
func (d *Directory) resolve(t *tree, name string) bindTarget {
	name = strings.TrimSpace(name)
	if strings.Contains(name, "=") {
		ndn, err := normDN(name)
		if err != nil {
			return bindTarget{method: "unknown", keyKind: "name:", keyName: normString(name)}
		}
		if e, ok := t.lookup(ndn); ok {
			switch e.kind {
			case kindService:
				if sa, ok := d.serviceAccount(ndn); ok {
					return bindTarget{method: "service_account", keyKind: "dn:", keyName: ndn, hash: sa.PasswordHash,
						id: Identity{Kind: IdentityService, DN: e.dn, Name: sa.Name}}
				}
			case kindUser:
				if u, ok := t.view.UserByID(e.userID); ok {
					return userTarget(u, e)
				}
			}
		}
		return bindTarget{method: "unknown", keyKind: "dn:", keyName: ndn}
	}
	var u *store.ViewUser
	var ok bool
	if strings.Contains(name, "@") {
		u, ok = t.view.UserByMail(name)
	} else {
		u, ok = t.view.UserByUID(name)
	}
	if ok {
		people := d.layout.ous[ouPeople]
		if e, found := t.lookup(normAVA("uid", u.UID) + "," + people.ndn); found && e.userID == u.ID {
			return userTarget(u, e)
		}
	}
	return bindTarget{method: "unknown", keyKind: "name:", keyName: normString(name)}
}

func userTarget(u *store.ViewUser, e *entry) bindTarget {
	return bindTarget{method: "user", keyKind: "user:", keyName: u.ID, user: u,
		id: Identity{Kind: IdentityUser, DN: e.dn, Name: u.UID, UserID: u.ID}}
}

// check verifies password for tg; nil means the bind succeeds.
func (d *Directory) check(ctx context.Context, tg *bindTarget, password string, client net.Addr) error {
	switch tg.method {
	case "service_account":
		if d.verified.verified(tg.hash, password) {
			return nil
		}
		ok, err := d.verify(tg.hash, password)
		if err != nil {
			return fmt.Errorf("service account %q: %w", tg.id.Name, err)
		}
		if !ok {
			return errWrongPassword
		}
		d.verified.add(tg.hash, password)
		return nil
	case "user":
		if !tg.user.Enabled() {
			d.spendHashTime(password)
			return errUserDisabled
		}
		if d.users == nil {
			d.spendHashTime(password)
			return errNoUserBinds
		}
		if err := d.users.AuthenticateUser(ctx, tg.user, password, client); err != nil {
			return fmt.Errorf("user %s: %w", tg.user.UID, err)
		}
		return nil
	}
	d.spendHashTime(password)
	return errUnknownName
}

// spendHashTime compares password with the dummy hash, so a failure that
// needs no comparison takes as long as one that does.
func (d *Directory) spendHashTime(password string) {
	_, _ = d.verify(d.dummyHash(), password)
}

// addrKey is the limiter key of a client address ("" if unknown).
func addrKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return "addr:" + t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return "addr:" + a.String()
	}
	return "addr:" + host
}
