package googletest

import (
	"fmt"
	"strconv"

	admin "google.golang.org/api/admin/directory/v1"
)

// Org is the shape of a generated organisation (FillOrg): Users users
// (user000000@example.com, …; ids 1%08d), Groups groups
// (group00000@example.com, …) and Members direct user memberships in all.
// BigGroups of the groups hold BigSize members each (several pages of
// members); the others share the rest evenly. Members are handed out
// round-robin over the users.
type Org struct {
	Users, Groups, Members int
	BigGroups, BigSize     int
}

// Listing is what reading a whole organisation takes at the largest page
// sizes the API allows (500 users, 200 groups, 200 members a page), which
// are ldapgate's.
type Listing struct {
	// MinCalls is the number of list calls at the least.
	MinCalls int
	// Chain is the longest chain of pages that must be fetched one after
	// another (each page's token comes with the page before): the users'
	// pages, or the groups' pages and then the largest group's members.
	Chain int
}

// FillOrg replaces the server's users, groups and memberships with the
// organisation o (without events), and returns what listing it takes.
func (s *Server) FillOrg(o Org) Listing {
	const usersPage, groupsPage, membersPage = 500, 200, 200
	pages := func(n, size int) int { return max(1, (n+size-1)/size) }
	users := make([]*admin.User, o.Users)
	for i := range users {
		users[i] = &admin.User{
			Id: fmt.Sprintf("1%08d", i), PrimaryEmail: fmt.Sprintf("user%06d@example.com", i),
			Aliases:     []string{fmt.Sprintf("u%06d@example.com", i)},
			Name:        &admin.UserName{GivenName: "User", FamilyName: strconv.Itoa(i), FullName: "User " + strconv.Itoa(i)},
			OrgUnitPath: "/Staff", CreationTime: "2021-03-04T05:06:07.000Z", LastLoginTime: "2026-11-01T00:00:00.000Z",
			// Fields ldapgate does not ask for, which the partial response drops.
			Emails: []any{map[string]any{"address": fmt.Sprintf("user%06d@example.com", i), "primary": true}},
			Phones: []any{map[string]any{"value": "+1 555 0100", "type": "work"}},
		}
	}
	groups := make([]*admin.Group, o.Groups)
	members := make(map[string][]*admin.Member, o.Groups)
	small := o.Groups - o.BigGroups
	rest := max(o.Members-o.BigGroups*o.BigSize, 0)
	next, memberPages, largest := 0, 0, 0
	for i := range groups {
		id := fmt.Sprintf("g%05d", i)
		groups[i] = &admin.Group{Id: id, Email: fmt.Sprintf("group%05d@example.com", i), Name: "Group " + strconv.Itoa(i), DirectMembersCount: 1}
		var n int
		switch {
		case i < o.BigGroups:
			n = o.BigSize
		case small > 0:
			n = rest / small
			if i-o.BigGroups < rest%small {
				n++
			}
		}
		ms := make([]*admin.Member, n)
		for j := range ms {
			u := users[next%len(users)]
			next++
			ms[j] = &admin.Member{Type: "USER", Id: u.Id, Email: u.PrimaryEmail, Role: "MEMBER", Status: "ACTIVE"}
		}
		members[id] = ms
		memberPages += pages(n, membersPage)
		largest = max(largest, n)
	}
	s.SetUsers(users)
	s.SetGroups(groups)
	s.SetAllMembers(members)
	userPages, groupPages := pages(o.Users, usersPage), pages(o.Groups, groupsPage)
	return Listing{
		MinCalls: userPages + groupPages + memberPages,
		Chain:    max(userPages, groupPages+pages(largest, membersPage)),
	}
}
