package bindproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/store"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeMethod accepts one password, or says it is not for it.
type fakeMethod struct {
	name, accept, applies string // applies: prefix of the passwords it handles
	cred                  Credential
	calls                 int
	valid                 bool // for stillValid
}

func (m *fakeMethod) Name() string { return m.name }
func (m *fakeMethod) Authenticate(_ context.Context, _ *store.ViewUser, pw string, _ net.Addr) (Credential, error) {
	m.calls++
	if !strings.HasPrefix(pw, m.applies) {
		return Credential{}, ErrNotApplicable
	}
	if pw != m.accept {
		return Credential{}, directory.Refused("wrong")
	}
	return m.cred, nil
}

type recheckMethod struct{ *fakeMethod }

func (m recheckMethod) stillValid(context.Context, string, Credential) (bool, error) {
	return m.valid, nil
}

var (
	alice  = &store.ViewUser{User: store.User{ID: "u1", UID: "alice", PrimaryEmail: "alice@example.com"}}
	bob    = &store.ViewUser{User: store.User{ID: "u2", UID: "bob", PrimaryEmail: "bob@example.com"}}
	client = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 4242}
)

func TestChainOrderAndLog(t *testing.T) {
	a := &fakeMethod{name: "a", applies: "a-", accept: "a-good"}
	b := &fakeMethod{name: "b", applies: "", accept: "a-other"}
	var buf bytes.Buffer
	c := NewChain([]Method{a, b}, Options{Log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx := context.Background()
	if err := c.AuthenticateUser(ctx, alice, "a-good", client); err != nil {
		t.Fatalf("first method's password: %v", err)
	}
	if b.calls != 0 {
		t.Error("the chain went on after a method accepted")
	}
	if err := c.AuthenticateUser(ctx, alice, "a-other", client); err != nil {
		t.Fatalf("second method's password: %v", err)
	}
	if err := c.AuthenticateUser(ctx, alice, "zzz", client); !errors.Is(err, ErrNoMethod) {
		t.Errorf("wrong password: %v, want ErrNoMethod", err)
	}
	if err := c.AuthenticateUser(ctx, alice, "", client); err == nil {
		t.Error("empty password accepted")
	}
	log := buf.String()
	for _, want := range []string{"user=alice method=a result=accepted client=192.0.2.7:4242",
		"method=a result=refused", "method=b result=accepted", "method=a result=not_applicable"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	wantCounts := map[string]uint64{"a accepted": 1, "a refused": 1, "a not_applicable": 1, "b accepted": 1, "b refused": 1}
	if diff := cmp.Diff(c.Counts(), wantCounts); diff != "" {
		t.Errorf("counts (-got +want):\n%s", diff)
	}
	for _, secret := range []string{"a-good", "a-other", "zzz"} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains the password %q", secret)
		}
	}
}

func TestChainCache(t *testing.T) {
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	ctx := context.Background()
	newChain := func(ms ...Method) *Chain {
		return NewChain(ms, Options{CacheTTL: time.Minute, Now: clk.now})
	}

	t.Run("hit, expiry, other user, other password", func(t *testing.T) {
		m := &fakeMethod{name: "m", accept: "pw"}
		c := newChain(m)
		for range 3 {
			if err := c.AuthenticateUser(ctx, alice, "pw", client); err != nil {
				t.Fatal(err)
			}
		}
		if m.calls != 1 {
			t.Errorf("method called %d times for 3 binds, want 1 (cached)", m.calls)
		}
		if err := c.AuthenticateUser(ctx, bob, "pw", client); err != nil || m.calls != 2 {
			t.Errorf("another user's bind: err %v, calls %d; want a real check", err, m.calls)
		}
		if err := c.AuthenticateUser(ctx, alice, "pw2", client); err == nil {
			t.Error("another password accepted")
		}
		clk.add(time.Minute)
		if err := c.AuthenticateUser(ctx, alice, "pw", client); err != nil || m.calls != 4 {
			t.Errorf("after the TTL: err %v, calls %d; want a real check", err, m.calls)
		}
	})

	t.Run("credential expiry bounds the cache", func(t *testing.T) {
		m := &fakeMethod{name: "m", accept: "pw", cred: Credential{Expires: clk.now().Add(10 * time.Second)}}
		c := newChain(m)
		_ = c.AuthenticateUser(ctx, alice, "pw", client)
		clk.add(10 * time.Second)
		_ = c.AuthenticateUser(ctx, alice, "pw", client)
		if m.calls != 2 {
			t.Errorf("calls %d, want 2: the cache outlived the credential", m.calls)
		}
	})

	t.Run("revocation", func(t *testing.T) {
		m := &fakeMethod{name: "m", accept: "pw", cred: Credential{AppPasswordID: 7}}
		c := newChain(m)
		_ = c.AuthenticateUser(ctx, alice, "pw", client)
		c.Revoked(8)
		if c.CacheLen() != 1 {
			t.Error("revoking another app password dropped the entry")
		}
		c.Revoked(7)
		if c.CacheLen() != 0 {
			t.Error("revocation left the entry")
		}
	})

	t.Run("recheck on hit", func(t *testing.T) {
		m := recheckMethod{&fakeMethod{name: "m", accept: "pw", valid: true}}
		c := newChain(m)
		_ = c.AuthenticateUser(ctx, alice, "pw", client)
		_ = c.AuthenticateUser(ctx, alice, "pw", client)
		if m.calls != 1 {
			t.Fatalf("calls %d, want 1", m.calls)
		}
		m.valid, m.accept = false, "revoked"
		if err := c.AuthenticateUser(ctx, alice, "pw", client); err == nil {
			t.Error("a cached bind whose credential is no longer valid was accepted")
		}
	})

	t.Run("view change and reset", func(t *testing.T) {
		m := &fakeMethod{name: "m", accept: "pw"}
		c := newChain(m)
		_ = c.AuthenticateUser(ctx, alice, "pw", client)
		_ = c.AuthenticateUser(ctx, bob, "pw", client)
		suspended := alice.User
		suspended.Suspended = true
		c.ViewChanged(store.NewView(&store.State{Users: []store.User{suspended, bob.User}}, nil, clk.now()))
		if c.CacheLen() != 1 {
			t.Errorf("after alice was suspended: %d entries, want 1 (bob's)", c.CacheLen())
		}
		c.ViewChanged(store.NewView(&store.State{}, nil, clk.now()))
		if c.CacheLen() != 0 {
			t.Errorf("after everyone left: %d entries", c.CacheLen())
		}
		_ = c.AuthenticateUser(ctx, bob, "pw", client)
		c.Reset()
		if c.CacheLen() != 0 {
			t.Error("Reset left entries")
		}
	})

	t.Run("disabled", func(t *testing.T) {
		m := &fakeMethod{name: "m", accept: "pw"}
		c := NewChain([]Method{m}, Options{})
		_ = c.AuthenticateUser(ctx, alice, "pw", client)
		_ = c.AuthenticateUser(ctx, alice, "pw", client)
		if m.calls != 2 || c.CacheLen() != 0 {
			t.Errorf("TTL 0: calls %d, entries %d; want 2 and 0", m.calls, c.CacheLen())
		}
	})

	t.Run("bounded", func(t *testing.T) {
		m := &fakeMethod{name: "m", applies: "", accept: ""}
		m.accept = "x"
		c := NewChain([]Method{m}, Options{CacheTTL: time.Minute, MaxCacheEntries: 2, Now: clk.now})
		for _, u := range []*store.ViewUser{alice, bob, {User: store.User{ID: "u3"}}} {
			_ = c.AuthenticateUser(ctx, u, "x", client)
		}
		if c.CacheLen() != 2 {
			t.Errorf("%d entries, want the bound 2", c.CacheLen())
		}
	})
}

func BenchmarkCachedBind(b *testing.B) {
	m := &fakeMethod{name: "m", accept: "pw"}
	c := NewChain([]Method{m}, Options{CacheTTL: time.Hour})
	ctx := context.Background()
	_ = c.AuthenticateUser(ctx, alice, "pw", client)
	for b.Loop() {
		if err := c.AuthenticateUser(ctx, alice, "pw", client); err != nil {
			b.Fatal(err)
		}
	}
}

// failingMethod cannot check anything: its dependency is down.
type failingMethod struct{ err error }

func (m failingMethod) Name() string { return "down" }
func (m failingMethod) Authenticate(context.Context, *store.ViewUser, string, net.Addr) (Credential, error) {
	return Credential{}, m.err
}

// A password is refused only when every method that applies refused it.
func TestChainThreeOutcomes(t *testing.T) {
	ctx := context.Background()
	refuser := &fakeMethod{name: "a", applies: "", accept: "right"}
	outage := errors.New("dial tcp: connection refused")
	for _, tc := range []struct {
		name    string
		methods []Method
		refused bool
		busy    bool
	}{
		{"one refuses", []Method{refuser}, true, false},
		{"one refuses, one is down", []Method{refuser, failingMethod{outage}}, false, false},
		{"one is down, one refuses", []Method{failingMethod{outage}, refuser}, false, false},
		{"one refuses, one is busy", []Method{refuser, failingMethod{fmt.Errorf("rate: %w", directory.ErrBusy)}}, false, true},
		{"hash gate full", []Method{failingMethod{passhash.ErrBusy}}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewChain(tc.methods, Options{}).AuthenticateUser(ctx, alice, "wrong", client)
			if got := errors.Is(err, directory.ErrRefused); got != tc.refused {
				t.Errorf("%v: refused %v, want %v", err, got, tc.refused)
			}
			if got := errors.Is(err, directory.ErrBusy) || errors.Is(err, passhash.ErrBusy); got != tc.busy {
				t.Errorf("%v: busy %v, want %v", err, got, tc.busy)
			}
		})
	}
	// A cached bind whose credential cannot be rechecked is not refused.
	m := recheckMethod{&fakeMethod{name: "m", accept: "pw", valid: true}}
	c := NewChain([]Method{failingRecheck{m}}, Options{CacheTTL: time.Minute})
	if err := c.AuthenticateUser(ctx, alice, "pw", client); err != nil {
		t.Fatal(err)
	}
	if err := c.AuthenticateUser(ctx, alice, "pw", client); err == nil || errors.Is(err, directory.ErrRefused) {
		t.Errorf("recheck failed: %v, want could not check", err)
	}
	if c.CacheLen() != 1 {
		t.Error("a recheck that failed dropped the cached bind")
	}
}

// failingRecheck's store cannot say whether a cached credential holds.
type failingRecheck struct{ recheckMethod }

func (failingRecheck) stillValid(context.Context, string, Credential) (bool, error) {
	return false, errors.New("database is locked")
}

// When no method applies, the refusal still costs one hash comparison,
// like a method's refusal.
func TestChainNoMethodCostsAComparison(t *testing.T) {
	c := NewChain([]Method{&fakeMethod{name: "a", applies: "a-", accept: "a-good"}}, Options{})
	var n int
	c.verify = func(ctx context.Context, hash, pw string) (bool, error) {
		n++
		return passhash.Verify(ctx, hash, pw)
	}
	if err := c.AuthenticateUser(context.Background(), alice, "plain password", client); !errors.Is(err, ErrNoMethod) {
		t.Fatalf("no method applies: %v, want ErrNoMethod", err)
	}
	if n != 1 {
		t.Errorf("%d comparisons, want 1", n)
	}
	c.verify = func(context.Context, string, string) (bool, error) { return false, passhash.ErrBusy }
	if err := c.AuthenticateUser(context.Background(), alice, "plain password", client); !errors.Is(err, passhash.ErrBusy) {
		t.Errorf("gate full: %v, want busy", err)
	}
}
