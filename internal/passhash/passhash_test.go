package passhash

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// cheap are parameters for tests that only need a valid argon2id hash.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashAndCompare(t *testing.T) {
	h, err := Hash("correct horse", Default)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("Hash = %q", h)
	}
	if err := Check(h); err != nil {
		t.Errorf("Check(Hash) = %v", err)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horse ": false, "": false} {
		if ok, err := Compare(h, pw); ok != want || err != nil {
			t.Errorf("compare %q = %v, %v; want %v", pw, ok, err, want)
		}
	}
	if _, err := Hash("", Default); err == nil {
		t.Error(`Hash("") succeeded`)
	}
	if h2, _ := Hash("correct horse", Default); h2 == h {
		t.Error("two hashes are equal: no salt")
	}
	if err := Check(Dummy()); err != nil || !strings.HasPrefix(Dummy(), "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("Dummy() = %q: %v", Dummy(), err)
	}

	b, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		hb := prefix + string(b[4:])
		if err := Check(hb); err != nil {
			t.Errorf("Check(%s...) = %v", prefix, err)
		}
		if ok, err := Compare(hb, "pw"); !ok || err != nil {
			t.Errorf("compare %s... = %v, %v", prefix, ok, err)
		}
	}
	// bcrypt looks at 72 bytes only; longer passwords are refused.
	long := strings.Repeat("a", 72)
	bl, _ := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	if ok, _ := Compare(string(bl), long); !ok {
		t.Error("72-byte password refused")
	}
	if ok, _ := Compare(string(bl), long+"b"); ok {
		t.Error("73-byte password accepted by its 72-byte prefix")
	}

	// A test vector of the argon2 reference implementation (test.c):
	// password "password", salt "somesalt", t=2, m=2^16, p=1, giving
	// 09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7.
	const vector = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	if ok, err := Compare(vector, "password"); !ok || err != nil {
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
		if err := Check(bad); err == nil {
			t.Errorf("Check(%q) = nil", bad)
		}
		if ok, err := Compare(bad, "password"); ok || err == nil {
			t.Errorf("Compare(%q) = %v, %v", bad, ok, err)
		}
		if ok, err := NewGate(1024, 1, time.Second).Verify(context.Background(), bad, "password"); ok || err == nil {
			t.Errorf("Gate.Verify(%q) = %v, %v", bad, ok, err)
		}
	}
}

// A full gate answers ErrBusy after its wait, and no more comparisons than
// its concurrency run at once, whatever their cost.
func TestGate(t *testing.T) {
	h, err := Hash("pw", cheap)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGate(1024, 2, 50*time.Millisecond)
	// Hold the whole budget, as two comparisons in flight would.
	if !g.sem.TryAcquire(1024) {
		t.Fatal("empty gate refused its budget")
	}
	if ok, err := g.Verify(context.Background(), h, "pw"); ok || !errors.Is(err, ErrBusy) {
		t.Fatalf("full gate: %v, %v; want ErrBusy", ok, err)
	}
	if g.BusyTotal() != 1 {
		t.Errorf("BusyTotal = %d, want 1", g.BusyTotal())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g.wait = time.Hour
	if _, err := g.Verify(ctx, h, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
	g.sem.Release(1024)
	if ok, err := g.Verify(context.Background(), h, "pw"); !ok || err != nil {
		t.Fatalf("after release: %v, %v", ok, err)
	}

	// Cheap hashes (64 KiB) are charged budget/concurrency each: with many
	// goroutines at once, never more than two compare at a time.
	var mu sync.Mutex
	var most int64
	g.compare = func(hash, pw string) (bool, error) {
		mu.Lock()
		most = max(most, g.InFlight())
		mu.Unlock()
		return Compare(hash, pw)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 4 {
				if ok, err := g.Verify(context.Background(), h, "pw"); !ok || err != nil {
					t.Errorf("verify: %v, %v", ok, err)
				}
			}
		})
	}
	wg.Wait()
	if most < 2 {
		t.Errorf("at most %d comparisons in flight at once: the gate serialises", most)
	}
	if most > 2 {
		t.Errorf("%d comparisons in flight at once, want at most 2", most)
	}
	if g.InFlight() != 0 {
		t.Errorf("%d in flight after all returned", g.InFlight())
	}
}

// FuzzCompare: a stored hash never panics a bind and never makes it burn
// unbounded memory (parameters are bounded first).
func FuzzCompare(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=262145,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$2a$10$abc")
	f.Fuzz(func(t *testing.T, hash string) {
		if err := Check(hash); err == nil {
			if p, _, _, err := parseArgon2id(hash); err == nil && (p.Memory > maxMemory || p.Time > maxTime) {
				t.Fatalf("Check accepted %q beyond the bounds", hash)
			}
		}
		_, _ = Compare(hash, "abcdefghijklmnop")
	})
}
