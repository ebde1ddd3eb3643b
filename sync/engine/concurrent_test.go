package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/store"
)

// pausingStore holds its first LoadState until release is closed, after
// telling loaded: a run that planned against a state another run then
// changes.
type pausingStore struct {
	*store.DB
	loaded  chan struct{}
	release chan struct{}
	paused  bool
}

func (p *pausingStore) LoadState(ctx context.Context) (*store.State, error) {
	st, err := p.DB.LoadState(ctx)
	if !p.paused {
		p.paused = true
		close(p.loaded)
		<-p.release
	}
	return st, err
}

// Two syncs on one store: the second planned before the first applied.
// It must plan again against what the first left instead of failing on a
// user the first already deleted (or adding one the first already added).
func TestConcurrentSyncsPlanAgain(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	opts := Options{DeleteUsers: true, MaxDeletePercent: 100, DefaultPrivileges: []string{"login"}}
	var all, fewer store.Snapshot
	for i := range 6 {
		u := usr(fmt.Sprint("u", i), fmt.Sprintf("user%d@example.com", i))
		all.Users = append(all.Users, u)
		if i < 4 {
			fewer.Users = append(fewer.Users, u)
		}
	}
	fewer.Users = append(fewer.Users, usr("new", "new@example.com"))
	if _, err := New(&snapSource{snap: &all}, db, opts, nil).Run(ctx, RunOptions{}); err != nil {
		t.Fatal(err)
	}

	ps := &pausingStore{DB: db, loaded: make(chan struct{}), release: make(chan struct{})}
	type outcome struct {
		res *Result
		err error
	}
	second := make(chan outcome, 1)
	go func() {
		res, err := New(&snapSource{snap: &fewer}, ps, opts, nil).Run(ctx, RunOptions{})
		second <- outcome{res, err}
	}()
	<-ps.loaded
	first, err := New(&snapSource{snap: &fewer}, db, opts, nil).Run(ctx, RunOptions{})
	if err != nil {
		t.Fatalf("first sync: %v", err)
	}
	if c := first.Counts; c.UsersDeleted != 2 || c.UsersAdded != 1 {
		t.Fatalf("first sync counts %+v, want 2 deleted and 1 added", c)
	}
	close(ps.release)
	out := <-second
	if out.err != nil {
		t.Fatalf("second sync: %v", out.err)
	}
	if !out.res.Applied || !out.res.Plan.Empty() {
		t.Errorf("second sync: applied %v, plan %+v; want an applied empty plan", out.res.Applied, out.res.Counts)
	}
	st, runs := contents(t, db)
	if len(st.Users) != 5 {
		t.Errorf("store holds %d users, want 5", len(st.Users))
	}
	for _, r := range runs {
		if r.Error != "" {
			t.Errorf("run %d recorded error %q", r.ID, r.Error)
		}
	}
}

// busyOnce fails its first Apply as a store held by another writer past
// the busy timeout does.
type busyOnce struct {
	*store.DB
	applies int
}

func (b *busyOnce) Apply(ctx context.Context, p *store.Plan, run store.SyncRun) (int64, error) {
	b.applies++
	if b.applies == 1 {
		return 0, fmt.Errorf("store: apply: %w: database is locked", store.ErrBusy)
	}
	return b.DB.Apply(ctx, p, run)
}

// A run that finds the store busy with another sync's long apply plans
// again and applies, instead of failing with "database is locked".
func TestSyncWaitsForABusyStore(t *testing.T) {
	db := openStore(t)
	bs := &busyOnce{DB: db}
	snap := &store.Snapshot{Users: []store.User{usr("u1", "one@example.com")}}
	res, err := New(&snapSource{snap: snap}, bs, Options{DeleteUsers: true}, nil).Run(context.Background(), RunOptions{})
	if err != nil || !res.Applied || bs.applies != 2 {
		t.Fatalf("run on a busy store: applied %v after %d applies, err %v; want applied on the second", res != nil && res.Applied, bs.applies, err)
	}
}

// notifyingStore tells loaded when its state was first read.
type notifyingStore struct {
	*store.DB
	loaded chan struct{}
	once   sync.Once
}

func (n *notifyingStore) LoadState(ctx context.Context) (*store.State, error) {
	st, err := n.DB.LoadState(ctx)
	n.once.Do(func() { close(n.loaded) })
	return st, err
}

// fetchAfterLoad's fetch ends only once the store was read.
type fetchAfterLoad struct {
	snapSource
	loaded <-chan struct{}
}

func (f *fetchAfterLoad) Fetch(ctx context.Context) (*store.Snapshot, error) {
	select {
	case <-f.loaded:
		return f.snapSource.Fetch(ctx)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// A run reads the store while the source fetches (which mostly waits on
// the network), not after: a sync with nothing to change then takes little
// more than its fetch.
func TestRunReadsTheStoreBesideTheFetch(t *testing.T) {
	ns := &notifyingStore{DB: openStore(t), loaded: make(chan struct{})}
	src := &fetchAfterLoad{snapSource: snapSource{snap: &store.Snapshot{Users: []store.User{usr("u1", "one@example.com")}}}, loaded: ns.loaded}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a run that reads after the fetch waits this long
	defer cancel()
	res, err := New(src, ns, Options{DeleteUsers: true}, nil).Run(ctx, RunOptions{})
	if err != nil || !res.Applied {
		t.Fatalf("a fetch that ends after the store's read: %v", err)
	}
}
