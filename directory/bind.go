package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/ldapgate/ldapgate/internal/clientlog"
	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/store"
)

// UserAuthenticator decides the simple binds of directory users (app
// passwords, ID tokens, an upstream LDAP, ... — the bind chain).
type UserAuthenticator interface {
	// AuthenticateUser returns nil if password proves the caller is user.
	// Otherwise its error says why, and what the client is told:
	//
	//   - an error that wraps ErrRefused: the password was checked and is
	//     wrong (invalidCredentials; it counts toward the bind limits);
	//   - one that wraps ErrBusy: not checked for lack of capacity (busy);
	//   - any other error: it could not be checked, a dependency failed
	//     (unavailable).
	//
	// Neither of the last two counts as a failed attempt. The client never
	// sees the error; it is logged. The directory has already checked that
	// user is enabled and password is not empty.
	AuthenticateUser(ctx context.Context, user *store.ViewUser, password string, client net.Addr) error
}

// The outcomes of a bind check besides acceptance (see UserAuthenticator).
var (
	// ErrRefused means the credentials were checked and are wrong.
	ErrRefused = errors.New("refused")
	// ErrBusy means they were not checked for lack of capacity (e.g. an
	// upstream's rate limit).
	ErrBusy = errors.New("busy")
)

// Refused returns an error that reads why and wraps ErrRefused.
func Refused(why string) error { return &refusal{errors.New(why)} }

// Refusal returns err, a finding that the credentials are wrong, wrapped
// in ErrRefused without changing its text.
func Refusal(err error) error { return &refusal{err} }

type refusal struct{ err error }

func (r *refusal) Error() string        { return r.err.Error() }
func (r *refusal) Unwrap() error        { return r.err }
func (r *refusal) Is(target error) bool { return target == ErrRefused }

// Causes of failed binds, for the log.
var (
	errUnknownName     = Refused("no such service account or user")
	errWrongPassword   = Refused("wrong password")
	errRateLimited     = Refused("too many failed binds, backing off")
	errUserDisabled    = Refused("user is suspended or archived")
	errNoUserBinds     = Refused("user binds are not enabled")
	errNameWithoutDN   = Refused("password given without a name")
	errNoDataYet       = errors.New("no directory data yet: first sync running")
	errUnauthenticated = errors.New("unauthenticated bind: name without password (RFC 4513 §5.1.2)")
)

func invalidCredentials(cause error) *Error {
	return &Error{Code: ResultInvalidCredentials, Message: "invalid credentials", Err: cause}
}

// couldNotCheck is the answer to a bind whose credentials were not
// checked: busy when capacity ran out (the client may retry at once),
// unavailable when a dependency failed.
func couldNotCheck(cause error) *Error {
	if errors.Is(cause, ErrBusy) || errors.Is(cause, passhash.ErrBusy) {
		return &Error{Code: ResultBusy, Message: "busy: the credentials could not be checked now, try again shortly", Err: cause}
	}
	return &Error{Code: ResultUnavailable, Message: "unavailable: the credentials could not be checked now, try again later", Err: cause}
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
// A bind has one of three outcomes. Accepted. Refused: *Error with
// invalidCredentials (unwillingToPerform for the unauthenticated case),
// the message "invalid credentials" and the cause wrapped for the log;
// it counts toward the limits of BindLimit and is answered after its
// FailureDelay, so the time taken does not tell whether a name exists.
// Or not checked: busy (51) or unavailable (52) with a diagnostic message
// (a dependency failed, the hash gate is full, or, for users, the first
// sync has not completed yet); these never count as failures.
// client may be nil when the transport does not know it.
func (d *Directory) Bind(ctx context.Context, name, password string, client net.Addr) (Identity, error) {
	id, method, err := d.bind(ctx, name, password, client)
	d.logBind(ctx, method, name, client, err)
	return id, err
}

// logBind logs a bind of name by method with its result err, and tells the
// observer. Refusals of a blocked client are logged once a minute per
// address, with the number held back.
func (d *Directory) logBind(ctx context.Context, method, name string, client net.Addr, err error) {
	r := ResultOf(err)
	name = clientlog.Text(name)
	// A success is logged at debug: the observer's record (the gateway's
	// audit log) has it at info.
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelWarn
	}
	if d.log.Enabled(ctx, level) {
		held, log := 0, true
		if errors.Is(err, errRateLimited) {
			key := ""
			if ip, ok := ClientIP(client); ok {
				key = ip.String()
			}
			log, held = d.quiet.Admit(key)
		}
		if log {
			attrs := make([]slog.Attr, 0, 7)
			attrs = append(attrs, slog.String("dn", name), slog.String("method", method), slog.String("result", r.Code.String()))
			if client != nil {
				attrs = append(attrs, slog.String("client", client.String()))
			}
			attrs = append(attrs, clientlog.ConnAttr(ctx))
			if r.Err != nil {
				attrs = append(attrs, slog.String("reason", r.Err.Error()))
			}
			if held > 0 {
				attrs = append(attrs, slog.Int("similar_not_logged", held))
			}
			d.log.LogAttrs(ctx, level, "ldap bind", attrs...)
		}
	}
	if o := d.ext.obs; o != nil {
		o.Bind(method, r.Code.String(), name, client)
	}
}

// bindTarget is what a bind name resolves to.
type bindTarget struct {
	method string // "service_account", "user" or "unknown"
	// The failed-bind limiter's name key is keyKind+keyName (see
	// limitKeys): built only when the limiter needs it.
	keyKind, keyName string
	hash             string
	user             *store.ViewUser
	id               Identity
}

// limitKeys are the limiter keys a bind counts against (see BindLimit).
type limitKeys struct {
	pair string // the name from this address
	name string // the name from every address; "" for service accounts
	addr string // the address; "" if unknown or trusted
}

// limitKeys returns the keys of tg for a bind from the client at ip
// (invalid if unknown), trusted or not.
func (tg *bindTarget) limitKeys(ip netip.Addr, trusted bool) limitKeys {
	name := tg.keyKind + tg.keyName
	k := limitKeys{pair: name, name: name}
	if tg.method == "service_account" {
		// A stranger's wrong guesses must not lock the archive server out
		// of its own account: count them per address only.
		k.name = ""
	}
	if ip.IsValid() {
		a := "addr:" + ip.String()
		k.pair = name + "|" + a
		if !trusted {
			k.addr = a
		}
	}
	return k
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
	start := time.Now()
	t := d.trees.get(d.live)
	tg := d.resolve(t, name)
	if tg.method != "service_account" && t.view.NeverSynced {
		// Refusing would count users' right passwords as failures.
		return Identity{}, tg.method, errNoData()
	}
	lim := d.BindLimit()
	ip, _ := ClientIP(client)
	trusted := ip.IsValid() && lim.Trusted(ip)
	// The limiter's keys cost allocations; while it tracks no failures
	// (nearly always) nothing is blocked and nothing is to forget.
	var keys limitKeys
	tracking := !d.limiter.empty()
	if tracking {
		keys = tg.limitKeys(ip, trusted)
		if d.limiter.blocked(keys.pair) || d.limiter.blocked(keys.name) || (tg.method != "service_account" && d.limiter.blocked(keys.addr)) {
			d.pauseRefusal(ctx, start, lim.FailureDelay<<maxDelayLevel)
			return Identity{}, tg.method, invalidCredentials(errRateLimited)
		}
	}
	if trusted {
		// The archive server's binds keep a room in the hash gate that a
		// flood of failures from elsewhere cannot take.
		ctx = passhash.WithPriority(ctx)
	}
	err := d.check(ctx, &tg, password, client)
	switch {
	case err == nil:
		if tracking {
			d.limiter.succeed(keys.pair)
			d.limiter.succeed(keys.name)
		}
		return tg.id, tg.method, nil
	case !errors.Is(err, ErrRefused):
		return Identity{}, tg.method, couldNotCheck(err)
	}
	if !tracking {
		keys = tg.limitKeys(ip, trusted)
	}
	d.pauseRefusal(ctx, start, lim.FailureDelay<<d.countFailure(keys, &lim))
	return Identity{}, tg.method, invalidCredentials(err)
}

// maxDelayLevel bounds the doubling of FailureDelay: 2^3 = 8 times.
const maxDelayLevel = 3

// countFailure counts a refused bind against keys and returns how often
// its FailureDelay doubles: 0 for the first failures, up to maxDelayLevel
// as the fullest counter nears its limit.
func (d *Directory) countFailure(k limitKeys, lim *BindLimit) uint {
	level := func(n, limit int) uint {
		if limit <= 0 || n <= 0 {
			return 0
		}
		return uint(min(maxDelayLevel, 4*n/limit))
	}
	n := d.limiter.fail(k.pair, lim.PerName)
	lv := level(n, lim.PerName)
	if k.name != "" {
		lv = max(lv, level(d.limiter.fail(k.name, lim.PerNameTotal), lim.PerNameTotal))
	}
	if k.addr != "" {
		// An address is charged once per name that fails from it: one
		// user's typos are that user's business, many names are a spray.
		var a int
		if n == 1 {
			a = d.limiter.fail(k.addr, lim.PerAddress)
		} else {
			a = d.limiter.count(k.addr)
		}
		lv = max(lv, level(a, lim.PerAddress))
	}
	return lv
}

// pauseRefusal waits until delay has passed since start (or ctx ends), so
// that a refusal is answered no sooner whatever its cause.
func (d *Directory) pauseRefusal(ctx context.Context, start time.Time, delay time.Duration) {
	if d.pauseHook != nil {
		d.pauseHook(delay)
		return
	}
	wait := time.Until(start.Add(delay))
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
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

func userTarget(u *store.ViewUser, e *Entry) bindTarget {
	return bindTarget{method: "user", keyKind: "user:", keyName: u.ID, user: u,
		id: Identity{Kind: IdentityUser, DN: e.dn, Name: u.UID, UserID: u.ID}}
}

// check verifies password for tg: nil accepts, an error wrapping
// ErrRefused refuses, another error means it could not be checked.
func (d *Directory) check(ctx context.Context, tg *bindTarget, password string, client net.Addr) error {
	switch tg.method {
	case "service_account":
		if d.verified.verified(tg.hash, password) {
			return nil
		}
		ok, err := d.verify(ctx, tg.hash, password)
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
			return d.refuseAfterHash(ctx, password, errUserDisabled)
		}
		if d.users == nil {
			return d.refuseAfterHash(ctx, password, errNoUserBinds)
		}
		if err := d.users.AuthenticateUser(ctx, tg.user, password, client); err != nil {
			return fmt.Errorf("user %s: %w", tg.user.UID, err)
		}
		return nil
	}
	return d.refuseAfterHash(ctx, password, errUnknownName)
}

// refuseAfterHash compares password with a dummy hash and returns why: a
// refusal that needs no comparison costs what one that does costs, in CPU
// and in the hash gate's room (busy when it is full, like a real one).
func (d *Directory) refuseAfterHash(ctx context.Context, password string, why error) error {
	if _, err := d.verify(ctx, passhash.Dummy(), password); errors.Is(err, passhash.ErrBusy) {
		return err
	}
	return why
}

// ClientIP returns the IP address of a client (false if unknown), IPv4
// addresses in their 4-byte form.
func ClientIP(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case nil:
		return netip.Addr{}, false
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}
