package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func testLeases(t *testing.T, be backend) {
	ctx := t.Context()
	where := be.fresh(t)
	a, b := be.openAt(t, where), be.openAt(t, where) // two ldapgates
	clk := &clock{t: t0}
	a.Now, b.Now = clk.now, clk.now
	const ttl = time.Minute

	l, err := a.TakeLease(ctx, "scheduler", "a", ttl)
	if err != nil || l.Holder != "a" || !l.Expires.Equal(t0.Add(ttl)) {
		t.Fatalf("TakeLease of a free lease = %+v, %v", l, err)
	}
	cur, err := b.TakeLease(ctx, "scheduler", "b", ttl)
	if !errors.Is(err, ErrLeaseHeld) || cur.Holder != "a" || !cur.Expires.Equal(t0.Add(ttl)) {
		t.Fatalf("TakeLease of a's lease by b = %+v, %v; want a's lease and ErrLeaseHeld", cur, err)
	}
	// Another name is another lease.
	if _, err := b.TakeLease(ctx, "sync", "b", ttl); err != nil {
		t.Fatalf("TakeLease of another name: %v", err)
	}

	clk.t = t0.Add(ttl / 2)
	if l, err := a.TakeLease(ctx, "scheduler", "a", ttl); err != nil || !l.Expires.Equal(clk.t.Add(ttl)) {
		t.Fatalf("renewal = %+v, %v", l, err)
	}
	clk.t = t0.Add(ttl + time.Second) // before the renewed expiry
	if _, err := b.TakeLease(ctx, "scheduler", "b", ttl); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("TakeLease of a renewed lease: %v, want ErrLeaseHeld", err)
	}

	// a stops renewing (it died): the lease lapses and b takes it.
	clk.t = t0.Add(ttl/2 + ttl)
	if l, err := b.TakeLease(ctx, "scheduler", "b", ttl); err != nil || l.Holder != "b" {
		t.Fatalf("TakeLease of an expired lease = %+v, %v", l, err)
	}
	if _, err := a.TakeLease(ctx, "scheduler", "a", ttl); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("a renews a lease b took: %v, want ErrLeaseHeld", err)
	}

	// Dropping another's lease does nothing; dropping one's own frees it.
	if err := a.DropLease(ctx, "scheduler", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.TakeLease(ctx, "scheduler", "a", ttl); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("TakeLease after dropping a lease not held: %v, want ErrLeaseHeld", err)
	}
	if err := b.DropLease(ctx, "scheduler", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.TakeLease(ctx, "scheduler", "a", ttl); err != nil {
		t.Fatalf("TakeLease of a dropped lease: %v", err)
	}

	// Many takers at once on a free lease: exactly one gets it.
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won []string
	)
	for i := range 8 {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Go(func() {
			holder := fmt.Sprintf("h%d", i)
			_, err := db.TakeLease(ctx, "race", holder, ttl)
			switch {
			case err == nil:
				mu.Lock()
				won = append(won, holder)
				mu.Unlock()
			case !errors.Is(err, ErrLeaseHeld):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 {
		t.Errorf("%d takers got one free lease at once: %v", len(won), won)
	}
}
