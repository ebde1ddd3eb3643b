package directory

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/internal/clientlog"
	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/store"
)

// countVerify counts password hash comparisons.
func countVerify(d *Directory) *atomic.Int32 {
	var n atomic.Int32
	d.verify = func(ctx context.Context, hash, pw string) (bool, error) {
		n.Add(1)
		return passhash.Verify(ctx, hash, pw)
	}
	return &n
}

type fakeUsers struct {
	calls    atomic.Int32
	password string
	// err, if set, is returned for every other password: a dependency
	// that fails.
	err error
}

func (f *fakeUsers) AuthenticateUser(_ context.Context, u *store.ViewUser, pw string, _ net.Addr) error {
	f.calls.Add(1)
	switch {
	case pw == f.password:
		return nil
	case f.err != nil:
		return f.err
	}
	return Refused("app password does not match")
}

func TestBind(t *testing.T) {
	users := &fakeUsers{password: "user-app-pw"}
	d, _ := newTestDirectory(t, WithUserAuthenticator(users))
	verifies := countVerify(d)
	tests := []struct {
		name     string
		dn, pw   string
		code     ResultCode
		kind     IdentityKind
		identDN  string
		verifies int32 // hash comparisons expected
		userAuth int32 // UserAuthenticator calls expected
	}{
		{"anonymous", "", "", ResultSuccess, IdentityAnonymous, "", 0, 0},
		{"argon2id service account", archiveDN, archivePW, ResultSuccess, IdentityService, archiveDN, 1, 0},
		// The verified password is remembered (bindcache.go): no comparison.
		{"service DN any case", "CN=Archive, OU=Services,DC=Example,DC=Com", archivePW, ResultSuccess, IdentityService, archiveDN, 0, 0},
		{"bcrypt service account", backupDN, backupPW, ResultSuccess, IdentityService, backupDN, 1, 0},
		{"wrong password", archiveDN, "nope", ResultInvalidCredentials, IdentityAnonymous, "", 1, 0},
		{"other account's password", backupDN, archivePW, ResultInvalidCredentials, IdentityAnonymous, "", 1, 0},
		{"empty password", archiveDN, "", ResultUnwillingToPerform, IdentityAnonymous, "", 0, 0},
		{"password without name", "", archivePW, ResultInvalidCredentials, IdentityAnonymous, "", 0, 0},
		{"service by bare name", "archive", archivePW, ResultInvalidCredentials, IdentityAnonymous, "", 1, 0},
		{"unknown DN", "cn=nobody,ou=services,dc=example,dc=com", archivePW, ResultInvalidCredentials, IdentityAnonymous, "", 1, 0},
		{"group DN", staffDN, "x", ResultInvalidCredentials, IdentityAnonymous, "", 1, 0},
		{"invalid DN", "cn=,,", "x", ResultInvalidCredentials, IdentityAnonymous, "", 1, 0},
		{"user by DN", "UID=Alice,OU=People,DC=example,DC=com", "user-app-pw", ResultSuccess, IdentityUser, aliceDN, 0, 1},
		{"user by uid", "alice", "user-app-pw", ResultSuccess, IdentityUser, aliceDN, 0, 1},
		{"user by mail", "Alice@Example.com", "user-app-pw", ResultSuccess, IdentityUser, aliceDN, 0, 1},
		{"user by alias", "alice@alias.example.org", "user-app-pw", ResultSuccess, IdentityUser, aliceDN, 0, 1},
		{"user wrong password", "alice", "wrong", ResultInvalidCredentials, IdentityAnonymous, "", 0, 1},
		{"suspended user", "bob", "user-app-pw", ResultInvalidCredentials, IdentityAnonymous, "", 1, 0},
		{"archived user", "dave@example.com", "user-app-pw", ResultInvalidCredentials, IdentityAnonymous, "", 1, 0},
		{"unknown user", "mallory@example.com", "user-app-pw", ResultInvalidCredentials, IdentityAnonymous, "", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v0, u0 := verifies.Load(), users.calls.Load()
			id, err := d.Bind(context.Background(), tt.dn, tt.pw, nil)
			if code := resultCode(err); code != tt.code {
				t.Fatalf("result %v (%v), want %v", code, err, tt.code)
			}
			if id.Kind != tt.kind || id.DN != tt.identDN {
				t.Errorf("identity %+v, want %v %q", id, tt.kind, tt.identDN)
			}
			if got := verifies.Load() - v0; got != tt.verifies {
				t.Errorf("%d hash comparisons, want %d", got, tt.verifies)
			}
			if got := users.calls.Load() - u0; got != tt.userAuth {
				t.Errorf("%d user authenticator calls, want %d", got, tt.userAuth)
			}
			var le *Error
			if err != nil && errors.As(err, &le) && le.Code == ResultInvalidCredentials && le.Message != "invalid credentials" {
				t.Errorf("client sees %q", le.Message)
			}
		})
	}
}

// Without a UserAuthenticator user binds fail, after the same hash work.
func TestUserBindDisabledByDefault(t *testing.T) {
	d, _ := newTestDirectory(t)
	verifies := countVerify(d)
	_, err := d.Bind(context.Background(), aliceDN, "anything", nil)
	if resultCode(err) != ResultInvalidCredentials || !errors.Is(err, errNoUserBinds) {
		t.Errorf("user bind: %v", err)
	}
	if verifies.Load() != 1 {
		t.Errorf("%d hash comparisons, want 1", verifies.Load())
	}
}

func TestBindLogs(t *testing.T) {
	log, buf := newTestLogger()
	d, err := NewDirectory(testConfig(t), testLive(), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := clientlog.WithConn(context.Background(), 42)
	client := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 4242}
	_, _ = d.Bind(ctx, archiveDN, "canary-wrong-password", client)
	_, _ = d.Bind(ctx, archiveDN, archivePW, client)
	out := buf.String()
	for _, want := range []string{
		`msg="ldap bind" dn=` + `"` + archiveDN + `" method=service_account result=invalidCredentials client=192.0.2.7:4242 conn=42 reason="wrong password"`,
		`msg="ldap bind" dn=` + `"` + archiveDN + `" method=service_account result=success client=192.0.2.7:4242 conn=42`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s\nlog:\n%s", want, out)
		}
	}
	if strings.Contains(out, "canary-wrong-password") || strings.Contains(out, archivePW) {
		t.Errorf("log holds a password:\n%s", out)
	}
}

// limitTest is a directory with small bind limits, a fake clock and
// refusal delays recorded instead of waited.
type limitTest struct {
	t      *testing.T
	d      *Directory
	clock  *fakeClock
	users  *fakeUsers
	delays []time.Duration
}

func newLimitTest(t *testing.T, lim BindLimit) *limitTest {
	lt := &limitTest{t: t, clock: newFakeClock(), users: &fakeUsers{password: "user-app-pw"}}
	cfg := testConfig(t)
	cfg.BindLimit = lim
	d, err := NewDirectory(cfg, testLive(), nil, WithClock(lt.clock.Now), WithUserAuthenticator(lt.users))
	if err != nil {
		t.Fatal(err)
	}
	d.pauseHook = func(delay time.Duration) { lt.delays = append(lt.delays, delay) }
	lt.d = d
	return lt
}

func (lt *limitTest) bind(dn, pw string, a net.Addr) error {
	_, err := lt.d.Bind(context.Background(), dn, pw, a)
	return err
}

// lastDelay returns the delay of the last refusal.
func (lt *limitTest) lastDelay() time.Duration {
	if len(lt.delays) == 0 {
		return 0
	}
	return lt.delays[len(lt.delays)-1]
}

func tcpAddr(last byte) net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, last), Port: 1000} }

func TestBindLimiter(t *testing.T) {
	lt := newLimitTest(t, BindLimit{PerName: 3, PerNameTotal: 5, PerAddress: 4, Window: time.Minute,
		Backoff: 10 * time.Minute, FailureDelay: -1})
	bind := lt.bind
	addr1, addr2, addr3 := tcpAddr(1), tcpAddr(2), tcpAddr(3)

	// Failures spread over more than a window do not add up.
	for range 2 {
		if err := bind(archiveDN, "wrong", addr1); resultCode(err) != ResultInvalidCredentials {
			t.Fatal(err)
		}
	}
	lt.clock.Advance(2 * time.Minute)
	if err := bind(archiveDN, "wrong", addr1); !errors.Is(err, errWrongPassword) {
		t.Fatal(err)
	}
	if err := bind(archiveDN, archivePW, addr1); err != nil {
		t.Fatalf("after failures in separate windows: %v", err)
	}

	// Three failures within the window block a service account from that
	// address, without a hash comparison, even with the right password;
	// from another address (the archive server's) it still binds, so a
	// stranger cannot lock the archive server out of its account, however
	// many addresses the stranger has.
	for _, a := range []net.Addr{addr1, addr3} {
		for range 3 {
			_ = bind(archiveDN, "wrong", a)
		}
	}
	verifies := countVerify(lt.d)
	err := bind(archiveDN, archivePW, addr1)
	if resultCode(err) != ResultInvalidCredentials || !errors.Is(err, errRateLimited) {
		t.Fatalf("blocked bind: %v", err)
	}
	if verifies.Load() != 0 {
		t.Error("blocked bind compared a hash")
	}
	if err := bind(archiveDN, archivePW, addr2); err != nil {
		t.Fatalf("same account from another address: %v", err)
	}
	if err := bind(backupDN, backupPW, addr1); err != nil {
		t.Fatalf("other name: %v", err)
	}
	// Names in other spellings share the counter.
	if err := bind("CN=ARCHIVE,OU=SERVICES,DC=EXAMPLE,DC=COM", archivePW, addr1); !errors.Is(err, errRateLimited) {
		t.Fatalf("other spelling: %v", err)
	}
	lt.clock.Advance(9 * time.Minute)
	if err := bind(archiveDN, archivePW, addr1); !errors.Is(err, errRateLimited) {
		t.Fatalf("within back-off: %v", err)
	}
	lt.clock.Advance(2 * time.Minute)
	if err := bind(archiveDN, archivePW, addr1); err != nil {
		t.Fatalf("after back-off: %v", err)
	}

	// A user is protected from every address: three failures block the
	// user from that address; five in all, from anywhere, block the user.
	for range 3 {
		_ = bind("alice", "guess", addr1)
	}
	if err := bind("alice", "user-app-pw", addr1); !errors.Is(err, errRateLimited) {
		t.Fatalf("user from the guessing address: %v", err)
	}
	if err := bind("alice", "user-app-pw", addr2); err != nil {
		t.Fatalf("user from another address after 3 failures: %v", err)
	}
	// A success forgets the user's failures from that address and in all.
	for range 2 {
		_ = bind("alice", "guess", addr2)
	}
	for range 2 {
		_ = bind("alice", "guess", addr3)
	}
	if err := bind("alice", "user-app-pw", addr2); err != nil {
		t.Fatalf("4 failures in all: %v", err)
	}
	lt.clock.Advance(11 * time.Minute)
	for _, a := range []net.Addr{addr1, addr2, addr3, addr1, addr2} {
		_ = bind("alice@example.com", "guess", a)
	}
	if err := bind("alice", "user-app-pw", tcpAddr(9)); !errors.Is(err, errRateLimited) {
		t.Fatalf("user after 5 failures from 3 addresses: %v", err)
	}
}

// The archive server relays every user's bind from one address. Fifty
// typos of fifty users lock neither its service account nor, when it is a
// trusted network, the other users; the same spray from an untrusted
// address blocks that address for user names, slowing it down first.
func TestBindLimiterRelayAndSpray(t *testing.T) {
	relay := tcpAddr(10)
	lt := newLimitTest(t, BindLimit{PerAddress: 50, Window: 5 * time.Minute, Backoff: 5 * time.Minute,
		TrustedNetworks: []netip.Prefix{netip.MustParsePrefix("192.0.2.8/29")}, FailureDelay: 100 * time.Millisecond})
	for i := range 55 {
		if err := lt.bind("user"+strconv.Itoa(i)+"@example.com", "typo", relay); !errors.Is(err, errUnknownName) {
			t.Fatalf("typo %d: %v", i, err)
		}
	}
	if err := lt.bind(archiveDN, archivePW, relay); err != nil {
		t.Errorf("service account from the relay after 55 typos: %v", err)
	}
	if err := lt.bind("alice", "user-app-pw", relay); err != nil {
		t.Errorf("user from the trusted relay after 55 typos: %v", err)
	}
	// Every first refusal took the same time, whatever the name.
	for i, d := range lt.delays {
		if d != 100*time.Millisecond {
			t.Fatalf("refusal %d delayed %v, want 100ms", i, d)
		}
	}

	// A spray of 1,000 unknown names from one untrusted address.
	lt.delays = nil
	sprayer := tcpAddr(200)
	verifies := countVerify(lt.d)
	var refused, blocked int
	for i := range 1000 {
		err := lt.bind("guess"+strconv.Itoa(i), "Winter2026!", sprayer)
		switch {
		case errors.Is(err, errRateLimited):
			blocked++
		case errors.Is(err, errUnknownName):
			refused++
		default:
			t.Fatalf("spray %d: %v", i, err)
		}
		if i%100 == 0 {
			if err := lt.bind(archiveDN, archivePW, relay); err != nil {
				t.Fatalf("service account from the relay during the spray: %v", err)
			}
		}
	}
	if refused != 50 || blocked != 950 {
		t.Errorf("spray: %d refused after a check, %d blocked; want 50 and 950", refused, blocked)
	}
	if n := verifies.Load(); n != 50 {
		t.Errorf("spray cost %d hash comparisons, want 50", n)
	}
	// Slowed before it was refused: the delay doubled up to 8 times.
	if lt.delays[0] != 100*time.Millisecond || lt.delays[30] != 400*time.Millisecond ||
		lt.delays[45] != 800*time.Millisecond || lt.lastDelay() != 800*time.Millisecond {
		t.Errorf("spray delays: first %v, 31st %v, 46th %v, last %v; want 100ms, 400ms, 800ms, 800ms",
			lt.delays[0], lt.delays[30], lt.delays[45], lt.lastDelay())
	}
	// The sprayer's address is blocked for users, right password or not,
	// but a service account still binds from it.
	if err := lt.bind("alice", "user-app-pw", sprayer); !errors.Is(err, errRateLimited) {
		t.Errorf("user from the spraying address: %v", err)
	}
	if err := lt.bind(archiveDN, archivePW, sprayer); err != nil {
		t.Errorf("service account from the spraying address: %v", err)
	}

	// One user's repeated typos from an untrusted address count once
	// toward the address.
	lt.clock.Advance(6 * time.Minute)
	other := tcpAddr(201)
	for range 4 {
		_ = lt.bind("alice", "typo", other)
	}
	if n := lt.d.limiter.count("addr:192.0.2.201"); n != 1 {
		t.Errorf("4 failures of one name counted %d times against the address, want 1", n)
	}
}

// Binds from a trusted network (the archive server) compare with priority
// in the hash gate; others do not.
func TestBindTrustedPriority(t *testing.T) {
	lt := newLimitTest(t, BindLimit{TrustedNetworks: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")}, FailureDelay: -1})
	var prio []bool
	lt.d.verify = func(ctx context.Context, hash, pw string) (bool, error) {
		prio = append(prio, passhash.Priority(ctx))
		return passhash.Verify(ctx, hash, pw)
	}
	if err := lt.bind(backupDN, backupPW, tcpAddr(10)); err != nil {
		t.Fatal(err)
	}
	if err := lt.bind(archiveDN, archivePW, tcpAddr(11)); err != nil {
		t.Fatal(err)
	}
	if len(prio) != 2 || !prio[0] || prio[1] {
		t.Errorf("priority of a trusted and an untrusted bind: %v, want [true false]", prio)
	}
}

// A bind that could not be checked answers busy or unavailable, and never
// counts as a failure: an outage does not lock users out after it ends.
func TestBindCouldNotCheck(t *testing.T) {
	lt := newLimitTest(t, BindLimit{PerName: 2, PerNameTotal: 2, PerAddress: 2, Window: time.Minute, Backoff: time.Hour,
		FailureDelay: time.Second})
	lt.users.err = errors.New("store: database is locked")
	for range 5 {
		err := lt.bind("alice", "some-password", tcpAddr(1))
		var le *Error
		if !errors.As(err, &le) || le.Code != ResultUnavailable || !strings.Contains(le.Message, "could not be checked") {
			t.Fatalf("dependency down: %v, want unavailable", err)
		}
	}
	lt.users.err = fmt.Errorf("upstream: %w", ErrBusy)
	if err := lt.bind("alice", "some-password", tcpAddr(1)); resultCode(err) != ResultBusy {
		t.Fatalf("upstream busy: %v, want busy", err)
	}
	// The hash gate full for a service account: busy as well.
	lt.d.verify = func(context.Context, string, string) (bool, error) { return false, passhash.ErrBusy }
	if err := lt.bind(backupDN, "whatever", tcpAddr(1)); resultCode(err) != ResultBusy {
		t.Fatalf("hash gate full: %v, want busy", err)
	}
	if len(lt.delays) != 0 {
		t.Errorf("answers that checked nothing were delayed: %v", lt.delays)
	}
	if !lt.d.limiter.empty() {
		t.Error("answers that checked nothing were counted as failures")
	}
	lt.d.verify = passhash.Verify
	lt.users.err = nil
	if err := lt.bind("alice", "user-app-pw", tcpAddr(1)); err != nil {
		t.Errorf("after the outage: %v", err)
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	clock := newFakeClock()
	l := newBindLimiter(clock.Now, time.Minute, time.Minute)
	for i := range maxLimiterKeys + 10 {
		l.fail(strconv.Itoa(i), 5)
	}
	if len(l.keys) > maxLimiterKeys {
		t.Errorf("%d keys", len(l.keys))
	}
	clock.Advance(3 * time.Minute)
	l.fail("new", 5)
	if len(l.keys) != 1 {
		t.Errorf("%d keys after sweep, want 1", len(l.keys))
	}
}

func TestWriteRefused(t *testing.T) {
	d, _ := newTestDirectory(t)
	for _, op := range []string{"add", "modify", "delete", "modrdn"} {
		err := d.Write(context.Background(), serviceID, op, aliceDN)
		var le *Error
		if !errors.As(err, &le) || le.Code != ResultUnwillingToPerform || le.Message != "ldapgate is a read-only directory" || !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: %v", op, err)
		}
	}
}

// Before the first sync the directory is not known: reads of its entries
// and user binds answer unavailable, while the RootDSE, the schema and
// service accounts work.
func TestNeverSynced(t *testing.T) {
	st := testState()
	st.NeverSynced = true
	live := &store.Live{}
	live.Store(store.NewView(st, nil, t1))
	d, err := NewDirectory(testConfig(t), live, nil, WithUserAuthenticator(&fakeUsers{password: "user-app-pw"}))
	if err != nil {
		t.Fatal(err)
	}
	noData := func(what string, err error) {
		t.Helper()
		var le *Error
		if !errors.As(err, &le) || le.Code != ResultUnavailable || le.Message != "no directory data yet: first sync running" {
			t.Errorf("%s: %v, want unavailable: no directory data yet", what, err)
		}
	}
	for _, base := range []string{testBase, "ou=people," + testBase, aliceDN} {
		_, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: base, Scope: ScopeSub})
		noData("search "+base, err)
	}
	noData("compare", d.Compare(context.Background(), serviceID, aliceDN, "uid", "alice"))
	_, err = d.Bind(context.Background(), "alice", "user-app-pw", nil)
	noData("user bind", err)
	if _, err := d.Bind(context.Background(), archiveDN, archivePW, nil); err != nil {
		t.Errorf("service account bind: %v", err)
	}
	if es, err := searchAll(t, d, Identity{}, &SearchRequest{Scope: ScopeBase}); err != nil || len(es) != 1 {
		t.Errorf("RootDSE: %d entries, %v", len(es), err)
	}
	if es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: "cn=Subschema", Scope: ScopeBase}); err != nil || len(es) != 1 {
		t.Errorf("subschema: %d entries, %v", len(es), err)
	}

	// The first sync's view serves.
	st.NeverSynced = false
	live.Store(store.NewView(st, nil, t1))
	if es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: aliceDN, Scope: ScopeBase}); err != nil || len(es) != 1 {
		t.Errorf("after the first sync: %d entries, %v", len(es), err)
	}
}

// A client cannot flood the log: DNs are cut to 256 bytes, and refusals
// of a blocked address are logged once a minute with a count.
func TestBindLogBounded(t *testing.T) {
	log, buf := newTestLogger()
	clock := newFakeClock()
	cfg := testConfig(t)
	cfg.BindLimit = BindLimit{PerName: 1, PerAddress: 1, Window: time.Hour, Backoff: time.Hour, FailureDelay: -1}
	d, err := NewDirectory(cfg, testLive(), log, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	huge := "uid=" + strings.Repeat("x", 900_000) + "," + testBase
	client := tcpAddr(66)
	for range 300 {
		_, _ = d.Bind(context.Background(), huge, "guess", client)
	}
	if n := len(buf.String()); n > 4096 {
		t.Errorf("300 refused binds with 900 KB DNs wrote %d bytes of log", n)
	}
	if got := strings.Count(buf.String(), `msg="ldap bind"`); got != 2 {
		t.Errorf("%d bind records, want 2 (the refusal, then the first blocked one)", got)
	}
	if !strings.Contains(buf.String(), "…(900022 bytes)") {
		t.Errorf("the cut DN does not say its length:\n%.600s", buf.String())
	}
	clock.Advance(time.Minute)
	_, _ = d.Bind(context.Background(), huge, "guess", client)
	if !strings.Contains(buf.String(), "similar_not_logged=298") {
		t.Errorf("a minute later the record does not count the 298 held back:\n%s", buf.String())
	}
}
