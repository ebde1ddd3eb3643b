// Package dirfile is a directory source that reads a JSON file in the Google
// Directory API's own shapes. It serves the demo, the tests and air-gapped
// installations.
//
// The file holds one users.list response, one groups.list response and, per
// group, one members.list response:
//
//	{
//	  "users":   {"kind": "admin#directory#users", "users": [...]},
//	  "groups":  {"kind": "admin#directory#groups", "groups": [...]},
//	  "members": {"sales@example.com": {"kind": "admin#directory#members", "members": [...]}}
//	}
//
// A members key is a group's email address or id. Each list must be complete
// (no nextPageToken).
package dirfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/dirapi"
	"github.com/ldapgate/ldapgate/sync/progress"
)

// Source reads a directory file. It holds no state: every Fetch reads the
// file afresh.
type Source struct {
	path   string
	custom []dirapi.CustomAttribute
}

// Option configures a Source.
type Option func(*Source)

// WithCustomAttributes maps the users' custom schema fields ("customSchemas",
// as the Directory API gives them) to LDAP attributes.
func WithCustomAttributes(m []dirapi.CustomAttribute) Option {
	return func(s *Source) { s.custom = m }
}

// New returns a source reading the directory file at path.
func New(path string, opts ...Option) *Source {
	s := &Source{path: path}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name returns "file:" followed by the file's path.
func (s *Source) Name() string { return "file:" + s.path }

// file is the directory file's top level.
type file struct {
	Users   *admin.Users              `json:"users"`
	Groups  *admin.Groups             `json:"groups"`
	Members map[string]*admin.Members `json:"members"`
}

// Fetch reads and checks the file and returns its snapshot. Any problem (an
// unreadable file, invalid JSON, a members key naming no group, a member
// naming no user or group, a duplicate id or address, an incomplete list)
// is an error naming the file, and no snapshot is returned.
func (s *Source) Fetch(ctx context.Context) (*store.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("directory file: %w", err)
	}
	snap, err := parse(data, s.custom)
	if err != nil {
		var pe *posError
		if errors.As(err, &pe) {
			line, col := position(data, pe.offset)
			return nil, fmt.Errorf("directory file %s:%d:%d: %w", s.path, line, col, pe.err)
		}
		return nil, fmt.Errorf("directory file %s: %w", s.path, err)
	}
	report(progress.From(ctx), snap)
	return snap, nil
}

// report publishes a snapshot's counts to p: the file is read in one go,
// so there is nothing to report before.
func report(p *progress.Progress, snap *store.Snapshot) {
	if p == nil {
		return
	}
	p.SetUsers(len(snap.Users))
	p.SetGroups(len(snap.Groups))
	for _, ms := range snap.Members {
		p.GroupQueued()
		p.AddMembers(len(ms))
		p.GroupListed()
	}
	p.ScopeKnown()
}

// posError is an error at a byte offset of the file.
type posError struct {
	offset int64
	err    error
}

func (e *posError) Error() string { return e.err.Error() }
func (e *posError) Unwrap() error { return e.err }

// parse decodes and checks a directory file's contents. Errors carry no file
// name; decoding errors carry their offset (see posError).
func parse(data []byte, custom []dirapi.CustomAttribute) (*store.Snapshot, error) {
	var f file
	if err := decode(data, &f); err != nil {
		return nil, err
	}
	var top map[string]skipped // the keys only: a RawMessage would copy every list
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	for k := range top {
		if k != "users" && k != "groups" && k != "members" {
			return nil, fmt.Errorf("unknown key %q at the top level (expected users, groups, members)", k)
		}
	}
	if f.Users == nil {
		return nil, errors.New(`no "users" list (a users.list response)`)
	}
	if err := checkList("users", f.Users.Kind, "admin#directory#users", f.Users.NextPageToken); err != nil {
		return nil, err
	}
	if f.Groups == nil {
		f.Groups = &admin.Groups{}
	}
	if err := checkList("groups", f.Groups.Kind, "admin#directory#groups", f.Groups.NextPageToken); err != nil {
		return nil, err
	}

	snap := &store.Snapshot{Members: make(map[string][]store.Member)}
	ids := make(map[string]string)   // user or group id -> what it is, for duplicates
	addrs := make(map[string]string) // lower-case address -> its owner
	claim := func(owner string, a string) error {
		k := strings.ToLower(a)
		if prev, ok := addrs[k]; ok {
			return fmt.Errorf("%s: address %s is also used by %s", owner, a, prev)
		}
		addrs[k] = owner
		return nil
	}
	usersByID := make(map[string]*store.User)
	usersByAddr := make(map[string]string) // lower-case address -> user id
	snap.Users = make([]store.User, 0, len(f.Users.Users))
	for i, au := range f.Users.Users {
		f.Users.Users[i] = nil // converted: the API's much larger form can go
		u, err := dirapi.UserFromAPI(au)
		if err == nil {
			u.Attributes, err = dirapi.CustomAttributes(au, custom)
		}
		if err != nil {
			return nil, fmt.Errorf("users[%d]: %w", i, err)
		}
		owner := "user " + u.PrimaryEmail
		if prev, ok := ids[u.ID]; ok {
			return nil, fmt.Errorf("%s: id %s is also the id of %s", owner, u.ID, prev)
		}
		ids[u.ID] = owner
		for _, a := range append([]string{u.PrimaryEmail}, u.Aliases...) {
			if err := claim(owner, a); err != nil {
				return nil, err
			}
			usersByAddr[strings.ToLower(a)] = u.ID
		}
		snap.Users = append(snap.Users, u)
	}
	for i := range snap.Users {
		usersByID[snap.Users[i].ID] = &snap.Users[i]
	}

	groupsByID := make(map[string]*store.Group)
	groupsByAddr := make(map[string]string) // lower-case address -> group id
	for i, ag := range f.Groups.Groups {
		g, err := dirapi.GroupFromAPI(ag)
		if err != nil {
			return nil, fmt.Errorf("groups[%d]: %w", i, err)
		}
		owner := "group " + g.Email
		if prev, ok := ids[g.ID]; ok {
			return nil, fmt.Errorf("%s: id %s is also the id of %s", owner, g.ID, prev)
		}
		ids[g.ID] = owner
		for _, a := range append([]string{g.Email}, g.Aliases...) {
			if err := claim(owner, a); err != nil {
				return nil, err
			}
			groupsByAddr[strings.ToLower(a)] = g.ID
		}
		snap.Groups = append(snap.Groups, g)
	}
	for i := range snap.Groups {
		groupsByID[snap.Groups[i].ID] = &snap.Groups[i]
	}

	// Members, keyed by group email or id; walk the keys in order so the
	// first error is always the same one.
	keys := make([]string, 0, len(f.Members))
	for k := range f.Members {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		g := groupsByID[key]
		if g == nil {
			g = groupsByID[groupsByAddr[strings.ToLower(key)]]
		}
		if g == nil {
			return nil, fmt.Errorf("members[%q]: no group with that email or id", key)
		}
		if _, dup := snap.Members[g.ID]; dup {
			return nil, fmt.Errorf("members[%q]: group %s has more than one members list", key, g.Email)
		}
		list := f.Members[key]
		if list == nil {
			list = &admin.Members{}
		}
		where := fmt.Sprintf("members[%q]", key)
		if err := checkList(where, list.Kind, "admin#directory#members", list.NextPageToken); err != nil {
			return nil, err
		}
		seen := make(map[string]bool)
		members := make([]store.Member, 0, len(list.Members))
		for i, am := range list.Members {
			if am != nil && am.Id == "" && am.Email != "" && (strings.EqualFold(am.Type, "USER") || strings.EqualFold(am.Type, "GROUP")) {
				t := strings.ToUpper(am.Type)
				// Hand-written files may name members by address only.
				c := *am
				if t == "USER" {
					c.Id = usersByAddr[strings.ToLower(am.Email)]
				} else {
					c.Id = groupsByAddr[strings.ToLower(am.Email)]
				}
				if c.Id == "" {
					kind := strings.ToLower(t)
					return nil, fmt.Errorf("%s[%d]: %s member %s: no %s with that address", where, i, kind, am.Email, kind)
				}
				am = &c
			}
			m, err := dirapi.MemberFromAPI(am)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", where, i, err)
			}
			switch m.Type {
			case store.MemberUser:
				u, ok := usersByID[m.ID]
				if !ok {
					return nil, fmt.Errorf("%s[%d]: user member %s: no user with that id", where, i, memberName(m))
				}
				if m.Email == "" {
					m.Email = u.PrimaryEmail
				}
			case store.MemberGroup:
				sub, ok := groupsByID[m.ID]
				if !ok {
					return nil, fmt.Errorf("%s[%d]: group member %s: no group with that id", where, i, memberName(m))
				}
				if sub.ID == g.ID {
					return nil, fmt.Errorf("%s[%d]: group %s is a member of itself", where, i, g.Email)
				}
				if m.Email == "" {
					m.Email = sub.Email
				}
			}
			k := string(m.Type) + "\x00" + m.ID
			if seen[k] {
				return nil, fmt.Errorf("%s[%d]: %s is listed twice", where, i, memberName(m))
			}
			seen[k] = true
			members = append(members, m)
		}
		snap.Members[g.ID] = members
	}
	return snap, nil
}

// skipped is a JSON value that is checked but not kept.
type skipped struct{}

func (*skipped) UnmarshalJSON([]byte) error { return nil }

func memberName(m store.Member) string {
	if m.Email != "" {
		return m.Email
	}
	return m.ID
}

// checkList rejects a list of the wrong kind or one that is only a page.
func checkList(where, kind, want, nextPageToken string) error {
	if kind != "" && kind != want {
		return fmt.Errorf("%s: kind is %q, expected %q", where, kind, want)
	}
	if nextPageToken != "" {
		return fmt.Errorf("%s: has a nextPageToken, so it is only one page; merge all pages into one list", where)
	}
	return nil
}

// decode unmarshals data into v, turning syntax and type errors into
// errors with the offset where they occurred.
func decode(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return &posError{offset: se.Offset, err: fmt.Errorf("invalid JSON: %w", err)}
	case errors.As(err, &te):
		if te.Field == "" {
			return &posError{offset: te.Offset, err: fmt.Errorf("expected an object at the top level, got JSON %s", te.Value)}
		}
		return &posError{offset: te.Offset, err: fmt.Errorf("%s: expected %s, got JSON %s", te.Field, te.Type, te.Value)}
	default:
		return fmt.Errorf("invalid JSON: %w", err)
	}
}

// position returns the 1-based line and column (in bytes) of the byte just
// before offset: the decoder reports the offset after the offending byte.
func position(data []byte, offset int64) (line, col int) {
	i := min(max(offset-1, 0), int64(len(data)))
	before := data[:i]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(i) - bytes.LastIndexByte(before, '\n')
	return line, col
}
