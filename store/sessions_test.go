package store

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func testPortalSessions(t *testing.T, be backend) {
	ctx := t.Context()
	where := be.fresh(t)
	a, b := be.openAt(t, where), be.openAt(t, where) // two ldapgates
	clk := &clock{t: t0}
	a.Now, b.Now = clk.now, clk.now

	s := PortalSession{Key: "k1", UserID: "u1", Email: "alice@example.com", CSRF: "c1", Expires: t0.Add(time.Hour)}
	if err := a.PutPortalSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := b.PortalSession(ctx, "k1")
	if err != nil || got != s {
		t.Fatalf("the other instance reads %+v, %v; want %+v", got, err, s)
	}
	if _, err := b.PortalSession(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown session: %v, want ErrNotFound", err)
	}
	clk.t = t0.Add(time.Hour)
	if _, err := b.PortalSession(ctx, "k1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired session: %v, want ErrNotFound", err)
	}
	clk.t = t0
	if err := b.DeletePortalSession(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PortalSession(ctx, "k1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted session: %v, want ErrNotFound", err)
	}

	k1, err := a.PortalSecret(ctx, "state", 32)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := b.PortalSecret(ctx, "state", 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 || !bytes.Equal(k1, k2) {
		t.Errorf("secrets of two instances: %x and %x, want the same 32 bytes", k1, k2)
	}
}
