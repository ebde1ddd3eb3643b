package engine

import (
	"context"
	"fmt"
	"testing"

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
