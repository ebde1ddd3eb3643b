package engine

import (
	"fmt"
	"io"
	"strings"

	"github.com/ldapgate/ldapgate/store"
)

// FormatPlan writes p for people, one line per change (users, groups,
// memberships, privileges), then a summary line:
//
//	$ ldapgate sync --dry-run
//	+ user alice@example.com (uid=alice): new in source
//	~ user bob@example.com: fields displayName, aliases
//	- user carol@example.com: deleted in the source
//	+ group sales@example.com (cn=sales): new in source
//	+ member alice@example.com → sales@example.com
//	+ privilege admin → alice@example.com (rule archive-admins@example.com)
//	users: 1 to add, 1 to update, 1 to delete; groups: ...
//
// Write errors are ignored, as with fmt.Fprintf.
func FormatPlan(w io.Writer, p *store.Plan) {
	var b strings.Builder
	for _, c := range p.Users {
		u := c.User
		switch c.Action {
		case store.ActionAdd:
			fmt.Fprintf(&b, "+ user %s (uid=%s): %s\n", u.PrimaryEmail, u.UID, c.Reason)
		case store.ActionUpdate:
			fmt.Fprintf(&b, "~ user %s: fields %s%s\n", u.PrimaryEmail, strings.Join(c.Fields, ", "), extraReason(c.Reason))
		case store.ActionDelete:
			fmt.Fprintf(&b, "- user %s: %s\n", u.PrimaryEmail, c.Reason)
		}
		if c.RevokeAppPasswords {
			fmt.Fprintf(&b, "  app passwords of %s revoked: suspended or archived\n", u.PrimaryEmail)
		}
	}
	for _, c := range p.Groups {
		g := c.Group
		switch c.Action {
		case store.ActionAdd:
			fmt.Fprintf(&b, "+ group %s (cn=%s): %s\n", g.Email, g.CN, c.Reason)
		case store.ActionUpdate:
			fmt.Fprintf(&b, "~ group %s: fields %s%s\n", g.Email, strings.Join(c.Fields, ", "), extraReason(c.Reason))
		case store.ActionDelete:
			fmt.Fprintf(&b, "- group %s: %s\n", g.Email, c.Reason)
		}
	}
	for _, c := range p.Members {
		who := c.Member.Email
		if who == "" {
			who = c.Member.ID
		}
		fmt.Fprintf(&b, "%s member %s → %s\n", sign(c.Action), who, c.GroupEmail)
	}
	for _, c := range p.Grants {
		why := string(c.Grant.Origin)
		if c.Grant.Origin == store.GrantMapped {
			why = "rule " + c.Grant.Rule
		}
		fmt.Fprintf(&b, "%s privilege %s → %s (%s)\n", sign(c.Action), c.Grant.Privilege, c.UserEmail, why)
	}
	b.WriteString(Summary(p.Counts()))
	b.WriteByte('\n')
	io.WriteString(w, b.String()) //nolint:errcheck // best effort, like fmt.Fprint
}

// Summary is a one-line account of plan counts, or "no changes".
func Summary(c store.Counts) string {
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
