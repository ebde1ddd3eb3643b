package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ldapgate/ldapgate/store"
)

// Filter limits which users of the source are mirrored. The zero Filter
// keeps every user that is neither suspended nor archived, and every group.
type Filter struct {
	// Groups are group email addresses: only their members are kept (nested
	// membership counts). Empty means no group filter.
	Groups []string
	// OrgUnits are org unit paths: only users in one of them or below are
	// kept. Empty means no org unit filter.
	OrgUnits []string
	// IncludeSuspended and IncludeArchived keep suspended and archived users.
	IncludeSuspended bool
	IncludeArchived  bool
}

// Filtered is a snapshot cut down to the filter's scope.
type Filtered struct {
	// Snapshot holds the users and groups in scope and the memberships
	// whose both ends are in scope. Customer-wide members are expanded to
	// the users in scope, so Members holds user and group members only.
	// Its Users may share the slice of the snapshot filtered: neither is to
	// be modified.
	Snapshot *store.Snapshot
	// Excluded holds the users of the source left out, by id, with the reason.
	Excluded map[string]Exclusion
	// ExcludedGroups maps the ids of the groups of the source left out to the reason.
	ExcludedGroups map[string]string
	Stats          store.FilterStats
}

// Exclusion is a user of the source the filter left out, and why.
type Exclusion struct {
	User   store.User
	Reason string
}

// FilterSnapshot applies f to snap. rules matter only with a group filter:
// the groups of privilege rules (and their subgroups) stay in scope so that
// their memberships can be mirrored, though they bring no users in.
//
// A filter group that is not in the snapshot is an error (most likely a
// typo in the config), not an empty scope. A rule group that is not in the
// snapshot is ignored here; Plan warns about it.
func FilterSnapshot(snap *store.Snapshot, f Filter, rules []Rule) (*Filtered, error) {
	ix := newGroupIndex(snap)
	out := &Filtered{
		Snapshot:       &store.Snapshot{Members: make(map[string][]store.Member)},
		Excluded:       make(map[string]Exclusion),
		ExcludedGroups: make(map[string]string),
		Stats:          store.FilterStats{UsersFetched: len(snap.Users), GroupsFetched: len(snap.Groups)},
	}

	// The filter groups and what they reach.
	var filterGroups []string // ids
	for _, email := range f.Groups {
		id, ok := ix.byAddr[strings.ToLower(strings.TrimSpace(email))]
		if !ok {
			return nil, fmt.Errorf("filter group %s: no such group in the source", email)
		}
		filterGroups = append(filterGroups, id)
	}
	var members map[string]bool // user ids reached from the filter groups
	allMembers := false         // a filter group reaches a customer-wide member
	if len(f.Groups) > 0 {
		members, allMembers = ix.usersUnder(ix.closure(filterGroups))
	}

	orgUnits := make([]string, len(f.OrgUnits))
	for i, ou := range f.OrgUnits {
		orgUnits[i] = normOrgUnit(ou)
	}

	// inScope maps the ids of the users in scope to their addresses. The
	// users in scope share snap's slice until one is left out (so a sync
	// without filters holds its 100,000 users once, not twice).
	inScope := make(map[string]string, len(snap.Users))
	shared := true
	for i, u := range snap.Users {
		reason := ""
		switch {
		case u.Suspended && !f.IncludeSuspended:
			reason = "suspended (filter.include_suspended is false)"
			out.Stats.ExcludedSuspended++
		case u.Archived && !f.IncludeArchived:
			reason = "archived (filter.include_archived is false)"
			out.Stats.ExcludedArchived++
		case len(orgUnits) > 0 && !inOrgUnits(u.OrgUnitPath, orgUnits):
			reason = fmt.Sprintf("not in org units [%s]", strings.Join(f.OrgUnits, ", "))
			out.Stats.ExcludedOrgUnit++
		case len(f.Groups) > 0 && !allMembers && !members[u.ID]:
			reason = fmt.Sprintf("not a member of [%s]", strings.Join(f.Groups, ", "))
			out.Stats.ExcludedGroup++
		}
		if reason != "" {
			out.Excluded[u.ID] = Exclusion{User: u, Reason: reason}
			if shared {
				shared = false
				out.Snapshot.Users = append(make([]store.User, 0, len(snap.Users)-1), snap.Users[:i]...)
			}
			continue
		}
		inScope[u.ID] = u.PrimaryEmail
		if !shared {
			out.Snapshot.Users = append(out.Snapshot.Users, u)
		}
	}
	if shared {
		out.Snapshot.Users = snap.Users
	}
	out.Stats.UsersInScope = len(out.Snapshot.Users)

	// Groups in scope: all of them, or with a group filter the filter
	// groups, the rule groups, and everything nested in them.
	groupScope := make(map[string]bool, len(snap.Groups))
	if len(f.Groups) == 0 {
		for _, g := range snap.Groups {
			groupScope[g.ID] = true
		}
	} else {
		roots := slices.Clone(filterGroups)
		for _, r := range rules {
			if id, ok := ix.byAddr[strings.ToLower(strings.TrimSpace(r.Group))]; ok {
				roots = append(roots, id)
			}
		}
		groupScope = ix.closure(roots)
	}
	for _, g := range snap.Groups {
		if groupScope[g.ID] {
			out.Snapshot.Groups = append(out.Snapshot.Groups, g)
		} else {
			out.ExcludedGroups[g.ID] = fmt.Sprintf("out of scope (not nested in [%s] or a privilege rule's group)", strings.Join(f.Groups, ", "))
		}
	}
	out.Stats.GroupsInScope = len(out.Snapshot.Groups)

	// Memberships with both ends in scope; customer-wide members expanded.
	for _, g := range out.Snapshot.Groups {
		seen := make(map[memberKey]bool)
		ms := make([]store.Member, 0, len(snap.Members[g.ID]))
		add := func(m store.Member) {
			k := memberKey{m.Type, m.ID}
			if !seen[k] {
				seen[k] = true
				ms = append(ms, m)
			}
		}
		for _, m := range snap.Members[g.ID] {
			switch m.Type {
			case store.MemberUser:
				if email, ok := inScope[m.ID]; ok {
					add(store.Member{Type: store.MemberUser, ID: m.ID, Email: email})
				}
			case store.MemberGroup:
				if groupScope[m.ID] && m.ID != g.ID {
					add(store.Member{Type: store.MemberGroup, ID: m.ID, Email: ix.groups[m.ID].Email})
				}
			case store.MemberCustomer:
				for _, u := range out.Snapshot.Users {
					add(store.Member{Type: store.MemberUser, ID: u.ID, Email: u.PrimaryEmail})
				}
			}
		}
		if len(ms) > 0 {
			sortMembers(ms)
			out.Snapshot.Members[g.ID] = ms
		}
	}
	return out, nil
}

type memberKey struct {
	Type store.MemberType
	ID   string
}

func sortMembers(ms []store.Member) {
	slices.SortFunc(ms, func(a, b store.Member) int {
		if c := strings.Compare(string(a.Type), string(b.Type)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// groupIndex answers membership questions about a snapshot.
type groupIndex struct {
	groups  map[string]*store.Group // by id
	byAddr  map[string]string       // lower-case email or alias -> group id
	members map[string][]store.Member
}

func newGroupIndex(snap *store.Snapshot) *groupIndex {
	ix := &groupIndex{
		groups:  make(map[string]*store.Group, len(snap.Groups)),
		byAddr:  make(map[string]string, len(snap.Groups)),
		members: snap.Members,
	}
	for i := range snap.Groups {
		g := &snap.Groups[i]
		ix.groups[g.ID] = g
		for _, a := range g.Aliases {
			ix.byAddr[strings.ToLower(a)] = g.ID
		}
	}
	for _, g := range ix.groups { // primary addresses win over aliases
		ix.byAddr[strings.ToLower(g.Email)] = g.ID
	}
	return ix
}

// closure returns the ids of roots and of every group nested in them (at
// any depth); it is safe against cycles. Ids of unknown groups are skipped.
func (ix *groupIndex) closure(roots []string) map[string]bool {
	seen := make(map[string]bool)
	stack := slices.Clone(roots)
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[id] || ix.groups[id] == nil {
			continue
		}
		seen[id] = true
		for _, m := range ix.members[id] {
			if m.Type == store.MemberGroup && !seen[m.ID] {
				stack = append(stack, m.ID)
			}
		}
	}
	return seen
}

// usersUnder returns the ids of the direct user members of groups, and
// whether one of them has a customer-wide member (every user).
func (ix *groupIndex) usersUnder(groups map[string]bool) (users map[string]bool, all bool) {
	users = make(map[string]bool)
	for id := range groups {
		for _, m := range ix.members[id] {
			switch m.Type {
			case store.MemberUser:
				users[m.ID] = true
			case store.MemberCustomer:
				all = true
			}
		}
	}
	return users, all
}

// normOrgUnit cleans an org unit path for comparison: lower case, leading
// slash, no trailing slash (except for the root "/").
func normOrgUnit(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
		if p == "" {
			p = "/"
		}
	}
	return p
}

// inOrgUnits reports whether the org unit path is one of units or below
// one of them, on path segment boundaries: /Sales holds /Sales/EMEA but not
// /SalesOps. units must be normalised with normOrgUnit.
func inOrgUnits(path string, units []string) bool {
	p := normOrgUnit(path)
	for _, u := range units {
		if u == "/" || p == u || strings.HasPrefix(p, u+"/") {
			return true
		}
	}
	return false
}
