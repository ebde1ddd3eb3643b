package ldapserver

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ldapgate/ldapgate/store"
)

// countVerify counts password hash comparisons.
func countVerify(d *Directory) *atomic.Int32 {
	var n atomic.Int32
	d.verify = func(hash, pw string) (bool, error) {
		n.Add(1)
		return verifyPassword(hash, pw)
	}
	return &n
}

type fakeUsers struct {
	calls    atomic.Int32
	password string
}

func (f *fakeUsers) AuthenticateUser(_ context.Context, u *store.ViewUser, pw string, _ net.Addr) error {
	f.calls.Add(1)
	if pw != f.password {
		return errors.New("app password does not match")
	}
	return nil
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

// Binds to unknown names cost a real hash comparison even with no service
// accounts (a generated dummy).
func TestDummyHashWithoutAccounts(t *testing.T) {
	cfg := testConfig(t)
	cfg.ServiceAccounts = nil
	d, err := NewDirectory(cfg, testLive(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPasswordHash(d.dummyHash()); err != nil || !strings.HasPrefix(d.dummyHash(), "$argon2id$") {
		t.Errorf("dummy hash %q: %v", d.dummyHash(), err)
	}
	// With accounts, the first account's hash is used.
	d2, _ := newTestDirectory(t)
	if a, _ := testHashes(t); d2.dummyHash() != a {
		t.Error("dummy hash is not the first account's")
	}
}

func TestBindLogs(t *testing.T) {
	log, buf := newTestLogger()
	d, err := NewDirectory(testConfig(t), testLive(), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := withConn(context.Background(), 42)
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

func TestBindLimiter(t *testing.T) {
	clock := newFakeClock()
	cfg := testConfig(t)
	cfg.BindLimit = BindLimit{PerName: 3, PerAddress: 5, Window: time.Minute, Backoff: 10 * time.Minute}
	d, err := NewDirectory(cfg, testLive(), nil, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	verifies := countVerify(d)
	ctx := context.Background()
	addr1 := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1000}
	addr2 := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 1000}
	bind := func(dn, pw string, a net.Addr) error {
		_, err := d.Bind(ctx, dn, pw, a)
		return err
	}

	// Failures spread over more than a window do not add up.
	for range 2 {
		if err := bind(archiveDN, "wrong", addr1); resultCode(err) != ResultInvalidCredentials {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Minute)
	if err := bind(archiveDN, "wrong", addr1); !errors.Is(err, errWrongPassword) {
		t.Fatal(err)
	}
	if err := bind(archiveDN, archivePW, addr1); err != nil {
		t.Fatalf("after failures in separate windows: %v", err)
	}

	// Three failures within the window block a service account from that
	// address, without a hash comparison, even with the right password;
	// from another address (the archive server's) it still binds, so a
	// stranger cannot lock the archive server out of its account.
	for range 3 {
		_ = bind(archiveDN, "wrong", addr1)
	}
	n := verifies.Load()
	err = bind(archiveDN, archivePW, addr1)
	if resultCode(err) != ResultInvalidCredentials || !errors.Is(err, errRateLimited) {
		t.Fatalf("blocked bind: %v", err)
	}
	if verifies.Load() != n {
		t.Error("blocked bind compared a hash")
	}
	if err := bind(archiveDN, archivePW, addr2); err != nil {
		t.Fatalf("same account from another address: %v", err)
	}
	// Another name is not blocked.
	if err := bind(backupDN, backupPW, addr1); err != nil {
		t.Fatalf("other name: %v", err)
	}
	// Names in other spellings share the counter.
	if err := bind("CN=ARCHIVE,OU=SERVICES,DC=EXAMPLE,DC=COM", archivePW, addr1); !errors.Is(err, errRateLimited) {
		t.Fatalf("other spelling: %v", err)
	}
	clock.Advance(9 * time.Minute)
	if err := bind(archiveDN, archivePW, addr1); !errors.Is(err, errRateLimited) {
		t.Fatalf("within back-off: %v", err)
	}
	clock.Advance(2 * time.Minute)
	if err := bind(archiveDN, archivePW, addr1); err != nil {
		t.Fatalf("after back-off: %v", err)
	}

	// Five failures from one address (over several names) block the
	// address, for every name.
	for i := range 5 {
		_ = bind("cn=guess"+string(rune('a'+i))+",ou=services,dc=example,dc=com", "x", addr2)
	}
	if err := bind(backupDN, backupPW, addr2); !errors.Is(err, errRateLimited) {
		t.Fatalf("blocked address: %v", err)
	}
	if err := bind(backupDN, backupPW, addr1); err != nil {
		t.Fatalf("other address: %v", err)
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

func TestPasswordHashes(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Errorf("HashPassword = %q", h)
	}
	if err := CheckPasswordHash(h); err != nil {
		t.Errorf("CheckPasswordHash(HashPassword) = %v", err)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horse ": false, "": false} {
		if ok, err := verifyPassword(h, pw); ok != want || err != nil {
			t.Errorf("verify %q = %v, %v; want %v", pw, ok, err, want)
		}
	}
	if _, err := HashPassword(""); err == nil {
		t.Error("HashPassword(\"\") succeeded")
	}
	h2, _ := HashPassword("correct horse")
	if h2 == h {
		t.Error("two hashes are equal: no salt")
	}

	b, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		hb := prefix + string(b[4:])
		if err := CheckPasswordHash(hb); err != nil {
			t.Errorf("CheckPasswordHash(%s...) = %v", prefix, err)
		}
		if ok, err := verifyPassword(hb, "pw"); !ok || err != nil {
			t.Errorf("verify %s... = %v, %v", prefix, ok, err)
		}
	}
	// bcrypt looks at 72 bytes only; longer passwords are refused.
	long := strings.Repeat("a", 72)
	bl, _ := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	if ok, _ := verifyPassword(string(bl), long); !ok {
		t.Error("72-byte password refused")
	}
	if ok, _ := verifyPassword(string(bl), long+"b"); ok {
		t.Error("73-byte password accepted by its 72-byte prefix")
	}

	// A test vector of the argon2 reference implementation (test.c):
	// password "password", salt "somesalt", t=2, m=2^16, p=1, giving
	// 09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7.
	const vector = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	if ok, err := verifyPassword(vector, "password"); !ok || err != nil {
		t.Errorf("argon2 reference vector: %v, %v", ok, err)
	}

	for _, bad := range []string{
		"",
		"plain",
		"{SSHA}abcdef",
		"$argon2i$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=65536,t=3,p=4$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$t=3,m=65536,p=4$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4,t=3,p=4$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=3,p=4$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=65536,t=0,p=4$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=65536,t=3,p=0$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", // 4-byte salt
		"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$aGFzaA",            // 4-byte hash
		"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$!!!!",
		"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ",
		"$2a$10$short",
		"$2a$99$" + strings.Repeat("a", 53),
	} {
		if err := CheckPasswordHash(bad); err == nil {
			t.Errorf("CheckPasswordHash(%q) = nil", bad)
		}
		if ok, err := verifyPassword(bad, "password"); ok || err == nil {
			t.Errorf("verifyPassword(%q) = %v, %v", bad, ok, err)
		}
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
