package engine

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/ldapgate/ldapgate/store"
)

// usr returns a directory user; mods change it.
func usr(id, email string, mods ...func(*store.User)) store.User {
	u := store.User{ID: id, PrimaryEmail: email, GivenName: "Given " + id, DisplayName: "User " + id, OrgUnitPath: "/", Origin: store.OriginDirectory}
	for _, m := range mods {
		m(&u)
	}
	return u
}

func withUID(uid string) func(*store.User)  { return func(u *store.User) { u.UID = uid } }
func inOU(ou string) func(*store.User)      { return func(u *store.User) { u.OrgUnitPath = ou } }
func suspended(u *store.User)               { u.Suspended = true }
func archived(u *store.User)                { u.Archived = true }
func local(u *store.User)                   { u.Origin = store.OriginLocal }
func aliases(a ...string) func(*store.User) { return func(u *store.User) { u.Aliases = a } }

func grp(id, email string) store.Group {
	return store.Group{ID: id, Email: email, Name: "Group " + id}
}

func mu(id string) store.Member { return store.Member{Type: store.MemberUser, ID: id} }
func mg(id string) store.Member { return store.Member{Type: store.MemberGroup, ID: id} }
func mc(id string) store.Member { return store.Member{Type: store.MemberCustomer, ID: id} }

// applyPlan applies p to st like the store does (deletes cascade to
// memberships and grants) and returns the new state.
func applyPlan(t testing.TB, st *store.State, p *store.Plan) *store.State {
	t.Helper()
	out := &store.State{Members: make(map[string][]store.Member)}
	users := slices.Clone(st.Users)
	groups := slices.Clone(st.Groups)
	members := make(map[string][]store.Member)
	for gid, ms := range st.Members {
		members[gid] = slices.Clone(ms)
	}
	grants := slices.Clone(st.Grants)
	deleteMember := func(keep func(gid string, m store.Member) bool) {
		for gid, ms := range members {
			members[gid] = slices.DeleteFunc(ms, func(m store.Member) bool { return !keep(gid, m) })
		}
	}
	for _, c := range p.Users {
		i := slices.IndexFunc(users, func(u store.User) bool { return u.ID == c.User.ID })
		switch c.Action {
		case store.ActionAdd:
			if i >= 0 {
				t.Fatalf("plan adds user %s twice", c.User.ID)
			}
			users = append(users, c.User)
		case store.ActionUpdate:
			if i < 0 {
				t.Fatalf("plan updates missing user %s", c.User.ID)
			}
			users[i] = c.User
		case store.ActionDelete:
			if i < 0 {
				t.Fatalf("plan deletes missing user %s", c.User.ID)
			}
			if users[i].Origin != store.OriginDirectory {
				t.Fatalf("plan deletes local user %s", c.User.ID)
			}
			users = slices.Delete(users, i, i+1)
			deleteMember(func(_ string, m store.Member) bool { return m.Type != store.MemberUser || m.ID != c.User.ID })
			grants = slices.DeleteFunc(grants, func(g store.Grant) bool { return g.UserID == c.User.ID })
		}
	}
	for _, c := range p.Groups {
		i := slices.IndexFunc(groups, func(g store.Group) bool { return g.ID == c.Group.ID })
		switch c.Action {
		case store.ActionAdd:
			if i >= 0 {
				t.Fatalf("plan adds group %s twice", c.Group.ID)
			}
			groups = append(groups, c.Group)
		case store.ActionUpdate:
			groups[i] = c.Group
		case store.ActionDelete:
			groups = slices.Delete(groups, i, i+1)
			delete(members, c.Group.ID)
			deleteMember(func(_ string, m store.Member) bool { return m.Type != store.MemberGroup || m.ID != c.Group.ID })
		}
	}
	for _, c := range p.Members {
		key := store.Member{Type: c.Member.Type, ID: c.Member.ID}
		i := slices.IndexFunc(members[c.GroupID], func(m store.Member) bool { return m.Type == key.Type && m.ID == key.ID })
		switch c.Action {
		case store.ActionAdd:
			if i >= 0 {
				t.Fatalf("plan adds member %s to %s twice", key.ID, c.GroupEmail)
			}
			members[c.GroupID] = append(members[c.GroupID], key)
		case store.ActionDelete:
			if i < 0 {
				t.Fatalf("plan deletes missing member %s of %s", key.ID, c.GroupEmail)
			}
			members[c.GroupID] = slices.Delete(members[c.GroupID], i, i+1)
		}
	}
	for _, c := range p.Grants {
		i := slices.IndexFunc(grants, func(g store.Grant) bool {
			return g.UserID == c.Grant.UserID && g.Privilege == c.Grant.Privilege && g.Origin == c.Grant.Origin && g.Rule == c.Grant.Rule
		})
		switch c.Action {
		case store.ActionAdd:
			if i >= 0 {
				t.Fatalf("plan adds grant %+v twice", c.Grant)
			}
			grants = append(grants, c.Grant)
		case store.ActionDelete:
			if i < 0 {
				t.Fatalf("plan deletes missing grant %+v", c.Grant)
			}
			grants = slices.Delete(grants, i, i+1)
		}
	}
	out.Users, out.Groups, out.Grants = users, groups, grants
	for gid, ms := range members {
		if len(ms) > 0 {
			out.Members[gid] = ms
		}
	}
	return out
}

// memStore is an in-memory Store that applies plans with applyPlan.
type memStore struct {
	t testing.TB

	mu      sync.Mutex
	state   *store.State
	runs    []store.SyncRun
	applied int
	loadErr error
}

var _ Store = (*memStore)(nil)

func (m *memStore) LoadState(context.Context) (*store.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loadErr != nil {
		return nil, m.loadErr
	}
	return m.state, nil
}

func (m *memStore) Apply(_ context.Context, p *store.Plan, run store.SyncRun) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state = applyPlan(m.t, m.state, p)
	m.applied++
	run.ID = int64(len(m.runs) + 1)
	m.runs = append(m.runs, run)
	return run.ID, nil
}

func (m *memStore) RecordRun(_ context.Context, run store.SyncRun) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	run.ID = int64(len(m.runs) + 1)
	m.runs = append(m.runs, run)
	return run.ID, nil
}

// snapSource is a Source returning a fixed snapshot or error.
type snapSource struct {
	snap *store.Snapshot
	err  error
}

func (s *snapSource) Name() string { return "test" }

func (s *snapSource) Fetch(context.Context) (*store.Snapshot, error) {
	if s.err != nil {
		return nil, s.err
	}
	return s.snap, nil
}
