package progress

import (
	"context"
	"testing"
)

func TestCounts(t *testing.T) {
	p := new(Progress)
	p.SetUsers(500)
	p.SetUsers(1000)
	p.SetGroups(3)
	for range 3 {
		p.GroupQueued()
	}
	p.AddMembers(7)
	p.AddMembers(-2)
	p.GroupListed()
	p.GroupListed()
	want := Counts{Users: 1000, Groups: 3, MemberLists: 2, GroupsInScope: 3, Members: 5}
	if got := p.Load(); got != want {
		t.Errorf("Load() = %+v, want %+v", got, want)
	}
	p.ScopeKnown()
	want.ScopeKnown = true
	if got := p.Load(); got != want {
		t.Errorf("Load() = %+v, want %+v", got, want)
	}
}

func TestProgressNil(t *testing.T) {
	var p *Progress
	p.SetUsers(1)
	p.SetGroups(1)
	p.GroupQueued()
	p.AddMembers(1)
	p.GroupListed()
	p.ScopeKnown()
	if got := p.Load(); got != (Counts{}) {
		t.Errorf("nil Load() = %+v", got)
	}
	if got := From(context.Background()); got != nil {
		t.Errorf("From(no progress) = %p", got)
	}
	q := new(Progress)
	if got := From(With(context.Background(), q)); got != q {
		t.Errorf("From(With(q)) = %p, want %p", got, q)
	}
}

// TestProgressAllocs checks that counting allocates nothing, with a
// Progress and without one.
func TestProgressAllocs(t *testing.T) {
	p := new(Progress)
	var none *Progress
	if n := testing.AllocsPerRun(100, func() {
		for _, q := range []*Progress{p, none} {
			q.GroupQueued()
			q.AddMembers(3)
			q.GroupListed()
			q.SetUsers(5)
			q.SetGroups(1)
			_ = q.Load()
		}
	}); n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}
