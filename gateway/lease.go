package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/ldapgate/ldapgate/store"
)

// The leases ldapgates sharing a store take (store.Lease).
const (
	// leaseScheduler is held by the one instance that runs the scheduled
	// syncs; it renews it while it runs.
	leaseScheduler = "scheduler"
	// leaseSync is held by whoever is syncing (an instance, the CLI), for
	// the length of the sync.
	leaseSync = "sync"
)

// DefaultLeaseTTL is sync.lease_ttl's default.
const DefaultLeaseTTL = time.Minute

// ErrSyncRunning means another ldapgate is syncing the same store.
var ErrSyncRunning = errors.New("another ldapgate is syncing this store")

// leases is this instance's part in the leases.
type leases struct {
	holder string // this process, as leases name it
	// every is how often the leases are renewed: a third of the TTL, so
	// that two renewals may fail before a lease lapses.
	every  time.Duration
	leader atomic.Bool // holds leaseScheduler
	// before is who held leaseScheduler when this instance last found it
	// taken by another (nil if it never did).
	before atomic.Pointer[string]
}

// newHolder names this process in leases: host, pid and a random part
// (pids repeat across containers).
func newHolder() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}

// leaseTTL is the TTL of the leases this instance takes.
func (g *Gateway) leaseTTL() time.Duration { return g.config().LeaseTTL() }

// IsLeader reports whether this instance runs the scheduled syncs.
func (g *Gateway) IsLeader() bool { return g.leases.leader.Load() }

// campaign takes or renews the scheduler lease and notes the outcome,
// logging a change of role. It reports whether this instance took the lease
// over just now.
func (g *Gateway) campaign(ctx context.Context) bool {
	l, err := g.db.TakeLease(ctx, leaseScheduler, g.leases.holder, g.leaseTTL())
	lead := err == nil
	if errors.Is(err, store.ErrLeaseHeld) {
		holder := l.Holder
		g.leases.before.Store(&holder)
	}
	if err != nil && !errors.Is(err, store.ErrLeaseHeld) {
		// The lease may lapse meanwhile: stop syncing on the schedule
		// rather than risk two schedulers (applies stay safe either way).
		g.log.Warn("cannot renew the scheduler lease", "err", err)
	}
	was := g.leases.leader.Swap(lead)
	if was != lead {
		if lead {
			g.log.Info("this instance runs the scheduled syncs (holds the scheduler lease)", "until", l.Expires.Format(time.RFC3339))
		} else {
			g.log.Info("another instance runs the scheduled syncs", "holder", l.Holder, "until", l.Expires.Format(time.RFC3339))
		}
	}
	return lead && !was
}

// keepCampaigning renews (or tries to take) the scheduler lease every
// leases.every until ctx ends, then gives it up so that another instance
// takes over at once rather than when it lapses.
func (g *Gateway) keepCampaigning(ctx context.Context) {
	t := time.NewTicker(g.leases.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			g.dropLease(leaseScheduler)
			g.leases.leader.Store(false)
			return
		case <-t.C:
			if g.campaign(ctx) {
				g.takeOverSchedule(ctx)
			}
		}
	}
}

// takeOverSchedule carries on the schedule of the instance this one took
// the scheduler lease from: the next sync is due sync.interval after the
// last successful one in the store (at once if that is past, or if there
// is none), not sync.interval after this instance's own skipped tick.
//
// That instance let its scheduler lease lapse: it died, or lost the
// database, maybe in the middle of a sync. Its sync lease, renewed on a
// ticker of its own, can outlast the scheduler lease by up to a renewal
// period, and would make the sync due now skip, leaving the schedule a
// whole interval behind. It is given up here: if that instance still runs
// a sync, its apply takes the write lock and is refused as stale should
// this one apply first, so the data stay whole.
func (g *Gateway) takeOverSchedule(ctx context.Context) {
	if before := g.leases.before.Load(); before != nil {
		if err := g.db.DropLease(ctx, leaseSync, *before); err != nil {
			g.log.Warn("cannot give up the sync lease of the instance that ran the scheduled syncs; the next sync waits for it to lapse",
				"holder", *before, "err", err)
		}
	}
	g.sched.started(g.LastSuccessfulSync())
	poke(g.sched.changed)
}

// dropLease gives up a lease, on a context of its own: the one of the
// work it guarded may have ended.
func (g *Gateway) dropLease(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.db.DropLease(ctx, name, g.leases.holder); err != nil {
		g.log.Warn("cannot give up a lease; it lapses by itself", "lease", name, "err", err)
	}
}

// holdSyncLease takes the sync lease for a sync and renews it until the
// returned func is called, which gives it up. It fails with ErrSyncRunning
// while another ldapgate syncs.
func (g *Gateway) holdSyncLease(ctx context.Context) (func(), error) {
	ttl := g.leaseTTL()
	l, err := g.db.TakeLease(ctx, leaseSync, g.leases.holder, ttl)
	if errors.Is(err, store.ErrLeaseHeld) {
		return nil, fmt.Errorf("%w (%s, lease until %s): try again when it is done", ErrSyncRunning, l.Holder, l.Expires.Format(time.RFC3339))
	}
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(g.leases.every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if _, err := g.db.TakeLease(ctx, leaseSync, g.leases.holder, ttl); err != nil {
					g.log.Warn("cannot renew the sync lease", "err", err)
				}
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		g.dropLease(leaseSync)
	}, nil
}
