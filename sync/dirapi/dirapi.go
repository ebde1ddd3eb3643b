// Package dirapi converts Google Admin SDK Directory API objects into
// ldapgate's directory model. Every source that reads the Directory API's
// shapes (the live Google source and the directory file) converts through
// these functions, so they share every step after the fetch.
package dirapi

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/store"
)

// neverLoggedIn is the last login time Google reports for a user who never
// logged in.
var neverLoggedIn = time.Unix(0, 0)

// UserFromAPI converts a Directory API user. The result has origin
// directory and no UID (the sync engine assigns it). Aliases are the
// editable and non-editable aliases together, deduplicated without regard
// to case and sorted. POSIX is the account POSIXFromAPI picks. It fails if
// the user has no id or no primary email, if a timestamp is not RFC 3339, or
// if posixAccounts is malformed.
func UserFromAPI(u *admin.User) (store.User, error) {
	if u == nil {
		return store.User{}, errors.New("user: null entry")
	}
	if u.Id == "" {
		return store.User{}, fmt.Errorf("user %q: missing id", u.PrimaryEmail)
	}
	if u.PrimaryEmail == "" {
		return store.User{}, fmt.Errorf("user id %s: missing primaryEmail", u.Id)
	}
	out := store.User{
		ID:           u.Id,
		PrimaryEmail: u.PrimaryEmail,
		Aliases:      mergeAliases(u.PrimaryEmail, u.Aliases, u.NonEditableAliases),
		OrgUnitPath:  u.OrgUnitPath,
		Suspended:    u.Suspended,
		Archived:     u.Archived,
		IsAdmin:      u.IsAdmin,
		Origin:       store.OriginDirectory,
	}
	if n := u.Name; n != nil {
		out.GivenName = n.GivenName
		out.FamilyName = n.FamilyName
		out.DisplayName = n.DisplayName
		if out.DisplayName == "" {
			out.DisplayName = n.FullName
		}
	}
	if out.DisplayName == "" {
		out.DisplayName = strings.TrimSpace(out.GivenName + " " + out.FamilyName)
	}
	var err error
	if out.SourceCreated, err = parseTime(u.CreationTime); err != nil {
		return store.User{}, fmt.Errorf("user %s: creationTime: %w", u.PrimaryEmail, err)
	}
	if out.LastLogin, err = parseTime(u.LastLoginTime); err != nil {
		return store.User{}, fmt.Errorf("user %s: lastLoginTime: %w", u.PrimaryEmail, err)
	}
	if out.LastLogin.Equal(neverLoggedIn) {
		out.LastLogin = time.Time{}
	}
	if out.POSIX, err = POSIXFromAPI(u); err != nil {
		return store.User{}, err
	}
	return out, nil
}

// GroupFromAPI converts a Directory API group. The result has no CN (the
// sync engine assigns it). It fails if the group has no id or no email.
func GroupFromAPI(g *admin.Group) (store.Group, error) {
	if g == nil {
		return store.Group{}, errors.New("group: null entry")
	}
	if g.Id == "" {
		return store.Group{}, fmt.Errorf("group %q: missing id", g.Email)
	}
	if g.Email == "" {
		return store.Group{}, fmt.Errorf("group id %s: missing email", g.Id)
	}
	return store.Group{
		ID:          g.Id,
		Email:       g.Email,
		Name:        g.Name,
		Description: g.Description,
		Aliases:     mergeAliases(g.Email, g.Aliases, g.NonEditableAliases),
	}, nil
}

// MemberFromAPI converts one Directory API group member. The member types
// USER, GROUP and CUSTOMER become store.MemberUser, store.MemberGroup and
// store.MemberCustomer; any other type is an error naming it, as is a
// member without an id.
func MemberFromAPI(m *admin.Member) (store.Member, error) {
	if m == nil {
		return store.Member{}, errors.New("member: null entry")
	}
	var t store.MemberType
	switch strings.ToUpper(m.Type) {
	case "USER":
		t = store.MemberUser
	case "GROUP":
		t = store.MemberGroup
	case "CUSTOMER":
		t = store.MemberCustomer
	default:
		return store.Member{}, fmt.Errorf("member %q: unknown member type %q (expected USER, GROUP or CUSTOMER)", memberName(m), m.Type)
	}
	if m.Id == "" {
		return store.Member{}, fmt.Errorf("member %q: missing id", memberName(m))
	}
	return store.Member{Type: t, ID: m.Id, Email: m.Email}, nil
}

func memberName(m *admin.Member) string {
	if m.Email != "" {
		return m.Email
	}
	return m.Id
}

// mergeAliases joins alias lists, dropping empty entries, the primary
// address and duplicates (ignoring case; the first spelling wins), sorted
// by their lower-case form. It returns nil when nothing is left.
func mergeAliases(primary string, lists ...[]string) []string {
	seen := map[string]bool{strings.ToLower(primary): true}
	var out []string
	for _, l := range lists {
		for _, a := range l {
			a = strings.TrimSpace(a)
			k := strings.ToLower(a)
			if a == "" || seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out
}

// parseTime parses an RFC 3339 timestamp into UTC; empty means unknown (zero).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("not an RFC 3339 time: %q", s)
	}
	return t.UTC(), nil
}
