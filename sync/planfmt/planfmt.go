// Package planfmt writes sync plans (store.Plan) for people: in full, one
// line per change (ldapgate sync --plan); in summary, a few lines whatever
// the plan's size (ldapgate sync, the admin page); or a page of lines at a
// time (the admin page's sync run). It depends only on store, so the portal
// shows plans without importing the sync engine.
package planfmt

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ldapgate/ldapgate/internal/numfmt"
	"github.com/ldapgate/ldapgate/store"
)

// ReasonChanged is the usual reason of an update, which the lines leave
// out; the engine gives it to updates with no more particular reason.
const ReasonChanged = "changed in the source"

// Write writes p for people, one line per change (users, groups,
// memberships, privileges), then a summary line:
//
//	$ ldapgate sync --dry-run --plan
//	+ user alice@example.com (uid=alice): new in source
//	~ user bob@example.com: fields displayName, aliases
//	- user carol@example.com: deleted in the source
//	+ group sales@example.com (cn=sales): new in source
//	+ member alice@example.com → sales@example.com
//	+ privilege admin → alice@example.com (rule archive-admins@example.com)
//	users: 1 to add, 1 to update, 1 to delete; groups: ...
//
// Write errors are ignored, as with fmt.Fprintf.
func Write(w io.Writer, p *store.Plan) {
	var b strings.Builder
	for _, k := range planKinds(p) {
		for i := range k.n {
			b.WriteString(k.line(i))
		}
	}
	b.WriteString(Counts(p.Counts()))
	b.WriteByte('\n')
	io.WriteString(w, b.String()) //nolint:errcheck // best effort, like fmt.Fprint
}

// WriteSummary writes p in a few lines whatever its size: for each kind of
// object, its changes counted by action and by reason, and the first
// perKind of them as Write shows them; then the summary line.
//
//	users: 100,000 changes: 100,000 to add (new in source)
//	  + user user0000000@example.com (uid=user0000000): new in source
//	  … 99,999 more
//
// Write errors are ignored, as with fmt.Fprintf.
func WriteSummary(w io.Writer, p *store.Plan, perKind int) {
	var b strings.Builder
	for _, k := range planKinds(p) {
		if k.n == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s: %s %s:", k.name, numfmt.Thousands(k.n), plural(k.n, "change", "changes"))
		type group struct {
			action store.Action
			reason string
		}
		counts := make(map[group]int)
		var order []group
		for i := range k.n {
			g := group{k.action(i), k.reason(i)}
			if counts[g] == 0 {
				order = append(order, g)
			}
			counts[g]++
		}
		slices.SortStableFunc(order, func(a, b group) int {
			return cmp.Or(cmp.Compare(actionRank(a.action), actionRank(b.action)), cmp.Compare(counts[b], counts[a]))
		})
		for i, g := range order {
			if i > 0 {
				b.WriteByte(';')
			}
			fmt.Fprintf(&b, " %s %s", numfmt.Thousands(counts[g]), k.verbs[g.action])
			if g.reason != "" {
				fmt.Fprintf(&b, " (%s)", g.reason)
			}
		}
		b.WriteByte('\n')
		shown := min(perKind, k.n)
		for i := range shown {
			b.WriteString("  ")
			b.WriteString(k.line(i))
		}
		if k.n > shown {
			fmt.Fprintf(&b, "  … %s more\n", numfmt.Thousands(k.n-shown))
		}
	}
	b.WriteString(Counts(p.Counts()))
	b.WriteByte('\n')
	io.WriteString(w, b.String()) //nolint:errcheck // best effort, like fmt.Fprint
}

// Kinds are the kinds of change of a plan, in Write's order.
var Kinds = []string{"users", "groups", "memberships", "privileges"}

// Page returns the changes of p as Write shows them, one line each
// (without its newline), that are of kind (one of Kinds, or ""
// for all) and name who (a part of an address, UID or CN, any case; ""
// for all): limit of them from the offset-th on, and how many there are
// in all. It formats only the lines it returns.
func Page(p *store.Plan, kind, who string, offset, limit int) (lines []string, total int) {
	who = strings.ToLower(who)
	for _, k := range planKinds(p) {
		if kind != "" && k.name != kind {
			continue
		}
		for i := range k.n {
			if who != "" && !slices.ContainsFunc(k.names(i), func(n string) bool {
				return strings.Contains(strings.ToLower(n), who)
			}) {
				continue
			}
			if total >= offset && len(lines) < limit {
				lines = append(lines, strings.TrimSuffix(k.line(i), "\n"))
			}
			total++
		}
	}
	return lines, total
}

// planKind is one kind of change of a plan, seen through accessors so
// that the formatters treat the four kinds alike.
type planKind struct {
	name   string
	n      int
	verbs  map[store.Action]string
	action func(i int) store.Action
	reason func(i int) string
	line   func(i int) string   // with its newline
	names  func(i int) []string // what Page's who matches
}

var (
	objectVerbs = map[store.Action]string{store.ActionAdd: "to add", store.ActionUpdate: "to update", store.ActionDelete: "to delete"}
	linkVerbs   = map[store.Action]string{store.ActionAdd: "to add", store.ActionDelete: "to remove"}
	grantVerbs  = map[store.Action]string{store.ActionAdd: "to grant", store.ActionDelete: "to revoke"}
)

func planKinds(p *store.Plan) []planKind {
	return []planKind{
		{name: "users", n: len(p.Users), verbs: objectVerbs,
			action: func(i int) store.Action { return p.Users[i].Action },
			reason: func(i int) string { return p.Users[i].Reason },
			line:   func(i int) string { return userLine(p.Users[i]) },
			names:  func(i int) []string { return []string{p.Users[i].User.PrimaryEmail, p.Users[i].User.UID} }},
		{name: "groups", n: len(p.Groups), verbs: objectVerbs,
			action: func(i int) store.Action { return p.Groups[i].Action },
			reason: func(i int) string { return p.Groups[i].Reason },
			line:   func(i int) string { return groupLine(p.Groups[i]) },
			names:  func(i int) []string { return []string{p.Groups[i].Group.Email, p.Groups[i].Group.CN} }},
		{name: "memberships", n: len(p.Members), verbs: linkVerbs,
			action: func(i int) store.Action { return p.Members[i].Action },
			reason: func(i int) string { return p.Members[i].Reason },
			line:   func(i int) string { return memberLine(p.Members[i]) },
			names:  func(i int) []string { return []string{p.Members[i].Member.Email, p.Members[i].GroupEmail} }},
		{name: "privileges", n: len(p.Grants), verbs: grantVerbs,
			action: func(i int) store.Action { return p.Grants[i].Action },
			reason: func(i int) string { return p.Grants[i].Reason },
			line:   func(i int) string { return grantLine(p.Grants[i]) },
			names:  func(i int) []string { return []string{p.Grants[i].UserEmail} }},
	}
}

func userLine(c store.UserChange) string {
	u := c.User
	var s string
	switch c.Action {
	case store.ActionAdd:
		s = fmt.Sprintf("+ user %s (uid=%s): %s\n", u.PrimaryEmail, u.UID, c.Reason)
	case store.ActionUpdate:
		s = fmt.Sprintf("~ user %s: fields %s%s\n", u.PrimaryEmail, strings.Join(c.Fields, ", "), extraReason(c.Reason))
	case store.ActionDelete:
		s = fmt.Sprintf("- user %s: %s\n", u.PrimaryEmail, c.Reason)
	}
	if c.RevokeAppPasswords {
		s += fmt.Sprintf("  app passwords of %s revoked: suspended or archived\n", u.PrimaryEmail)
	}
	return s
}

func groupLine(c store.GroupChange) string {
	g := c.Group
	switch c.Action {
	case store.ActionAdd:
		return fmt.Sprintf("+ group %s (cn=%s): %s\n", g.Email, g.CN, c.Reason)
	case store.ActionUpdate:
		return fmt.Sprintf("~ group %s: fields %s%s\n", g.Email, strings.Join(c.Fields, ", "), extraReason(c.Reason))
	}
	return fmt.Sprintf("- group %s: %s\n", g.Email, c.Reason)
}

func memberLine(c store.MemberChange) string {
	who := c.Member.Email
	if who == "" {
		who = c.Member.ID
	}
	return fmt.Sprintf("%s member %s → %s\n", sign(c.Action), who, c.GroupEmail)
}

func grantLine(c store.GrantChange) string {
	why := string(c.Grant.Origin)
	if c.Grant.Origin == store.GrantMapped {
		why = "rule " + c.Grant.Rule
	}
	return fmt.Sprintf("%s privilege %s → %s (%s)\n", sign(c.Action), c.Grant.Privilege, c.UserEmail, why)
}

func actionRank(a store.Action) int {
	switch a {
	case store.ActionAdd:
		return 0
	case store.ActionUpdate:
		return 1
	}
	return 2
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Counts is a one-line account of plan counts, or "no changes".
func Counts(c store.Counts) string {
	if c == (store.Counts{}) {
		return "no changes"
	}
	s := fmt.Sprintf("users: %d to add, %d to update, %d to delete; groups: %d to add, %d to update, %d to delete; "+
		"memberships: %d to add, %d to remove; privileges: %d to grant, %d to revoke",
		c.UsersAdded, c.UsersUpdated, c.UsersDeleted, c.GroupsAdded, c.GroupsUpdated, c.GroupsDeleted,
		c.MembersAdded, c.MembersDeleted, c.GrantsAdded, c.GrantsDeleted)
	if c.AppPasswordsRevoked > 0 {
		s += fmt.Sprintf("; app passwords revoked for %d suspended or archived user(s)", c.AppPasswordsRevoked)
	}
	return s
}

// extraReason shows an update's reason unless it is the usual one.
func extraReason(r string) string {
	if r == "" || r == ReasonChanged {
		return ""
	}
	return " (" + r + ")"
}

func sign(a store.Action) string {
	switch a {
	case store.ActionAdd:
		return "+"
	case store.ActionDelete:
		return "-"
	}
	return "~"
}
