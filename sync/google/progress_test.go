package google_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/google/googletest"
	"github.com/ldapgate/ldapgate/sync/progress"
)

// fetchWithProgress fetches from src with a Progress, reading it all along
// as a display would, and checks every reading is sane.
func fetchWithProgress(t *testing.T, src engine.Source) (*store.Snapshot, progress.Counts) {
	t.Helper()
	p := new(progress.Progress)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var last progress.Counts
		for {
			c := p.Load()
			if c.MemberLists > c.GroupsInScope {
				t.Errorf("reading %+v: more member lists than groups in scope", c)
			}
			if c.MemberLists < last.MemberLists || c.GroupsInScope < last.GroupsInScope || (last.ScopeKnown && !c.ScopeKnown) {
				t.Errorf("reading %+v after %+v: went backwards", c, last)
			}
			last = c
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	snap, err := src.Fetch(progress.With(ctx, p))
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return snap, p.Load()
}

// wantCounts are the final counts a fetch of snap must leave.
func wantCounts(snap *store.Snapshot) progress.Counts {
	c := progress.Counts{Users: int64(len(snap.Users)), Groups: int64(len(snap.Groups)),
		MemberLists: int64(len(snap.Members)), GroupsInScope: int64(len(snap.Members)), ScopeKnown: true}
	for _, ms := range snap.Members {
		c.Members += int64(len(ms))
	}
	return c
}

func TestProgress(t *testing.T) {
	t.Run("all groups", func(t *testing.T) {
		f := newFixture(t)
		snap, got := fetchWithProgress(t, f.source())
		want := wantCounts(snap)
		// 5 named users and the bulk; 6 groups, all listed;
		// 3+3+1+1+450+0 members (the external one left out).
		if fixed := (progress.Counts{Users: 5 + extraUsers, Groups: 6, MemberLists: 6, GroupsInScope: 6,
			ScopeKnown: true, Members: 458}); want != fixed {
			t.Fatalf("snapshot counts %+v, want %+v", want, fixed)
		}
		if got != want {
			t.Errorf("progress %+v, want %+v", got, want)
		}
	})
	t.Run("group filter", func(t *testing.T) {
		f := newFixture(t)
		f.cfg.Groups = []string{"everyone@example.com"}
		f.cfg.RuleGroups = []string{"archive-admins@example.com", "missing@example.com"}
		snap, got := fetchWithProgress(t, f.source())
		want := wantCounts(snap)
		if want.MemberLists != 3 { // staff, eng nested in it, archive-admins
			t.Fatalf("snapshot has %d member lists, want 3", want.MemberLists)
		}
		if got != want {
			t.Errorf("progress %+v, want %+v", got, want)
		}
	})
	t.Run("page tokens expire", func(t *testing.T) {
		// Listings that start over must not count twice.
		f := newFixture(t)
		var faults []*googletest.Fault
		for _, call := range []string{"users.list", "members.list"} {
			faults = append(faults, f.srv.Inject(googletest.Fault{Call: call, Page: 2, Times: 1, ExpirePageToken: true}))
		}
		snap, got := fetchWithProgress(t, f.source())
		for _, fault := range faults {
			if fault.Hits(f.srv) != 1 {
				t.Fatalf("fault %+v hit %d times, want 1", fault, fault.Hits(f.srv))
			}
		}
		if want := wantCounts(snap); got != want {
			t.Errorf("progress %+v, want %+v", got, want)
		}
		if got.Members != 458 {
			t.Errorf("progress counts %d members, want 458", got.Members)
		}
	})
	t.Run("through the engine", func(t *testing.T) {
		f := newFixture(t)
		p := new(progress.Progress)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := engine.New(f.source(), openStore(t), syncOptions, nil).Run(ctx, engine.RunOptions{Progress: p}); err != nil {
			t.Fatal(err)
		}
		if got := p.Load(); got.Users != 5+extraUsers || got.MemberLists != 6 || !got.ScopeKnown {
			t.Errorf("progress %+v after a sync", got)
		}
	})
}
