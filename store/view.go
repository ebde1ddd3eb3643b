package store

import (
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// View is an immutable, indexed, in-memory image of the store's directory
// data, with nested memberships resolved. It is built after each apply and
// swapped atomically (see Live); LDAP searches read only a View, never SQLite.
//
// A View and everything reachable from it must not be modified after NewView
// returns.
type View struct {
	// Users sorted by UID, Groups by CN, Privileges by name.
	Users      []*ViewUser
	Groups     []*ViewGroup
	Privileges []*ViewPrivilege
	BuiltAt    time.Time
	// NeverSynced is State.NeverSynced: LDAP answers unavailable for the
	// directory's entries rather than serve them as the truth.
	NeverSynced bool

	usersByID   map[string]*ViewUser
	usersByMail map[string]*ViewUser // lowercased primary email and aliases
	usersByUID  map[string]*ViewUser // lowercased UID
	groupsByID  map[string]*ViewGroup
	privByName  map[string]*ViewPrivilege
}

// ViewUser is a user with its resolved memberships.
type ViewUser struct {
	User
	// DirectGroups are the IDs of the groups the user is a direct member of;
	// Groups adds every group reached through nesting. Both sorted by group CN.
	DirectGroups []string
	Groups       []string
	// Privileges are the names of the privileges the user holds, sorted.
	Privileges []string
}

// HasAddress reports whether addr is u's primary address or one of its
// aliases (case-insensitive).
func (u *ViewUser) HasAddress(addr string) bool {
	if strings.EqualFold(u.PrimaryEmail, addr) {
		return true
	}
	for _, a := range u.Aliases {
		if strings.EqualFold(a, addr) {
			return true
		}
	}
	return false
}

// ViewGroup is a group with its direct members and resolved parents.
type ViewGroup struct {
	Group
	// MemberUsers and MemberGroups are the direct members' IDs, sorted by UID/CN.
	MemberUsers  []string
	MemberGroups []string
	// MemberOf are the IDs of every group containing this one, directly or
	// through nesting, sorted by CN.
	MemberOf []string
}

// ViewPrivilege is a privilege and the users holding it.
type ViewPrivilege struct {
	Name string
	// Users are the IDs of the holders, sorted by UID.
	Users []string
}

// NewView builds a view from st. knownPrivileges are privilege names that
// exist even when nobody holds them (from the config); privileges held by
// users are always included.
func NewView(st *State, knownPrivileges []string, builtAt time.Time) *View {
	v := &View{
		BuiltAt:     builtAt,
		NeverSynced: st.NeverSynced,
		usersByID:   make(map[string]*ViewUser, len(st.Users)),
		usersByMail: make(map[string]*ViewUser, len(st.Users)),
		usersByUID:  make(map[string]*ViewUser, len(st.Users)),
		groupsByID:  make(map[string]*ViewGroup, len(st.Groups)),
		privByName:  make(map[string]*ViewPrivilege),
	}
	slab := make([]ViewUser, len(st.Users)) // one allocation for all users
	v.Users = make([]*ViewUser, 0, len(st.Users))
	nAliases := 0
	for i := range st.Users {
		nAliases += len(st.Users[i].Aliases)
	}
	var strs stringArena
	aliases := make([]string, 0, nAliases)
	for i := range st.Users {
		u := &slab[i]
		u.User = st.Users[i]
		u.copyStrings(&strs, &aliases)
		v.Users = append(v.Users, u)
		v.usersByID[u.ID] = u
		v.usersByUID[strings.ToLower(u.UID)] = u
	}
	// Mail lookups: primary addresses win over aliases when both collide.
	for _, u := range v.Users {
		for _, a := range u.Aliases {
			v.usersByMail[strings.ToLower(a)] = u
		}
	}
	for _, u := range v.Users {
		v.usersByMail[strings.ToLower(u.PrimaryEmail)] = u
	}
	for i := range st.Groups {
		g := &ViewGroup{Group: st.Groups[i]}
		v.Groups = append(v.Groups, g)
		v.groupsByID[g.ID] = g
	}
	sort.Slice(v.Users, func(i, j int) bool { return v.Users[i].UID < v.Users[j].UID })
	sort.Slice(v.Groups, func(i, j int) bool { return v.Groups[i].CN < v.Groups[j].CN })

	// Direct memberships; members that are not in the state are skipped.
	parents := make(map[string][]string) // group ID -> IDs of groups it is a direct member of
	for gid, members := range st.Members {
		g, ok := v.groupsByID[gid]
		if !ok {
			continue
		}
		for _, m := range members {
			switch m.Type {
			case MemberUser:
				if u, ok := v.usersByID[m.ID]; ok {
					g.MemberUsers = append(g.MemberUsers, u.ID) // the view's copy: m.ID goes with st
					u.DirectGroups = append(u.DirectGroups, gid)
				}
			case MemberGroup:
				if _, ok := v.groupsByID[m.ID]; ok && m.ID != gid {
					g.MemberGroups = append(g.MemberGroups, m.ID)
					parents[m.ID] = append(parents[m.ID], gid)
				}
			}
		}
	}

	// Ancestors of each group, cycle-safe (a visited set per walk).
	ancestors := make(map[string][]string, len(v.Groups))
	for _, g := range v.Groups {
		seen := map[string]bool{g.ID: true}
		stack := slices.Clone(parents[g.ID])
		var out []string
		for len(stack) > 0 {
			id := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, id)
			stack = append(stack, parents[id]...)
		}
		ancestors[g.ID] = out
		g.MemberOf = v.sortGroupIDs(out)
	}
	for _, g := range v.Groups {
		g.MemberUsers = v.sortUserIDs(g.MemberUsers)
		g.MemberGroups = v.sortGroupIDs(g.MemberGroups)
	}
	lists := make(idLists)
	for _, u := range v.Users {
		all := make(map[string]bool)
		for _, gid := range u.DirectGroups {
			all[gid] = true
			for _, a := range ancestors[gid] {
				all[a] = true
			}
		}
		u.DirectGroups = lists.intern(v.sortGroupIDs(u.DirectGroups))
		if len(all) == len(u.DirectGroups) {
			u.Groups = u.DirectGroups // no nesting: one slice for both
			continue
		}
		groups := make([]string, 0, len(all))
		for gid := range all {
			groups = append(groups, gid)
		}
		u.Groups = lists.intern(v.sortGroupIDs(groups))
	}

	// Privileges: known names first, then every granted one.
	for _, name := range knownPrivileges {
		if _, ok := v.privByName[name]; !ok {
			p := &ViewPrivilege{Name: name}
			v.privByName[name] = p
			v.Privileges = append(v.Privileges, p)
		}
	}
	held := make(map[[2]string]bool)
	for _, gr := range st.Grants {
		u, ok := v.usersByID[gr.UserID]
		if !ok || held[[2]string{gr.UserID, gr.Privilege}] {
			continue
		}
		held[[2]string{gr.UserID, gr.Privilege}] = true
		p, ok := v.privByName[gr.Privilege]
		if !ok {
			p = &ViewPrivilege{Name: gr.Privilege}
			v.privByName[gr.Privilege] = p
			v.Privileges = append(v.Privileges, p)
		}
		p.Users = append(p.Users, u.ID)
		u.Privileges = append(u.Privileges, gr.Privilege)
	}
	sort.Slice(v.Privileges, func(i, j int) bool { return v.Privileges[i].Name < v.Privileges[j].Name })
	for _, p := range v.Privileges {
		p.Users = v.sortUserIDs(p.Users)
	}
	for _, u := range v.Users {
		slices.Sort(u.Privileges)
		u.Privileges = lists.intern(u.Privileges)
	}
	return v
}

// copyStrings moves the user's strings into strs and its aliases into
// the shared slab aliases. The store's rows come as separate small strings,
// about ten a user; the collector marks every one of them at every cycle,
// for as long as the view lives. In a few large chunks it marks only the
// chunks.
func (u *ViewUser) copyStrings(strs *stringArena, aliases *[]string) {
	for _, f := range []*string{&u.ID, &u.UID, &u.PrimaryEmail, &u.GivenName, &u.FamilyName, &u.DisplayName,
		&u.OrgUnitPath, &u.POSIX.HomeDirectory, &u.POSIX.Shell, &u.POSIX.Gecos} {
		*f = strs.copy(*f)
	}
	if len(u.Aliases) > 0 {
		n := len(*aliases)
		for _, a := range u.Aliases {
			*aliases = append(*aliases, strs.copy(a))
		}
		u.Aliases = (*aliases)[n:len(*aliases):len(*aliases)]
	}
}

// stringArena copies strings into shared chunks. The chunks are never
// written again where a string was copied, so the strings stay immutable.
type stringArena struct{ chunk []byte }

const (
	arenaChunk = 64 << 10
	arenaMax   = 1 << 10 // longer strings are left as they are
)

func (a *stringArena) copy(s string) string {
	if s == "" || len(s) > arenaMax {
		return s
	}
	if cap(a.chunk)-len(a.chunk) < len(s) {
		a.chunk = make([]byte, 0, arenaChunk)
	}
	n := len(a.chunk)
	a.chunk = append(a.chunk, s...)
	return unsafe.String(&a.chunk[n], len(s))
}

// idLists shares equal lists of IDs or names between users: most users
// hold the same privileges and many the same groups, and with 100k users a
// slice each is megabytes the collector walks.
type idLists map[string][]string

func (l idLists) intern(ids []string) []string {
	if len(ids) == 0 {
		return ids
	}
	k := strings.Join(ids, "\x00")
	if shared, ok := l[k]; ok {
		return shared
	}
	ids = slices.Clip(ids)
	l[k] = ids
	return ids
}

func (v *View) sortUserIDs(ids []string) []string {
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(v.usersByID[a].UID, v.usersByID[b].UID) })
	return slices.Compact(ids)
}

func (v *View) sortGroupIDs(ids []string) []string {
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(v.groupsByID[a].CN, v.groupsByID[b].CN) })
	return slices.Compact(ids)
}

// UserByID returns the user with the given immutable id.
func (v *View) UserByID(id string) (*ViewUser, bool) {
	u, ok := v.usersByID[id]
	return u, ok
}

// UserByMail returns the user whose primary address or alias is addr
// (case-insensitive).
func (v *View) UserByMail(addr string) (*ViewUser, bool) {
	u, ok := v.usersByMail[strings.ToLower(addr)]
	return u, ok
}

// UserByUID returns the user whose UID is uid (case-insensitive).
func (v *View) UserByUID(uid string) (*ViewUser, bool) {
	u, ok := v.usersByUID[strings.ToLower(uid)]
	return u, ok
}

// GroupByID returns the group with the given id.
func (v *View) GroupByID(id string) (*ViewGroup, bool) {
	g, ok := v.groupsByID[id]
	return g, ok
}

// Privilege returns the privilege called name.
func (v *View) Privilege(name string) (*ViewPrivilege, bool) {
	p, ok := v.privByName[name]
	return p, ok
}

// Live holds the current view. Readers call Load for each operation and keep
// using the view they got; writers Store a new one. Never blocks.
type Live struct{ p atomic.Pointer[View] }

// Load returns the current view, or an empty one if none was stored yet.
func (l *Live) Load() *View {
	if v := l.p.Load(); v != nil {
		return v
	}
	return emptyView
}

// Store makes v the current view.
func (l *Live) Store(v *View) { l.p.Store(v) }

var emptyView = NewView(&State{}, nil, time.Time{})
