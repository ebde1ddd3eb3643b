package engine

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/planfmt"
)

// Reasons given in plans.
const (
	ReasonNew            = "new in source"
	ReasonChanged        = planfmt.ReasonChanged
	ReasonDeleted        = "deleted in the source"
	ReasonDefault        = "default privilege for new users"
	ReasonMember         = "member in the source"
	ReasonNotMember      = "no longer a member in the source"
	ReasonReturned       = "returned within sync.deleted_retention: UID, default and admin privileges and app passwords restored"
	reasonKeptOutOfScope = "kept because sync.delete_users is false"
)

// Plan computes the changes that make the store's state match the filtered
// snapshot. It is a pure function of its arguments; the second result are
// warnings for the log (things the plan leaves alone on purpose).
//
// Users are matched by their immutable id, so a rename (new primary email)
// is an update. Only users of origin directory are updated or deleted;
// local users are never touched. With opts.DeleteUsers false no user is
// deleted: users out of scope but still in the source are kept and updated.
// Groups gone from the scope are always deleted. Deleting a user or a group
// deletes its memberships and grants with it (the store cascades), so the
// plan lists no member or grant changes for them.
//
// A new user's UID is the local part of its address, in lower case, unless
// a stored user or another user of the plan has it (ignoring case): then
// users of opts.PrimaryDomain win over the others, then the lower address;
// the losers get "<local part>.<domain with dots as dashes>"
// (alice@example.org: "alice.example-org"). Stored users keep their UID
// until the local part of their address changes, when it is assigned anew
// by the same rule; the old one stays taken for that run. Group CNs are
// assigned the same way. A source user whose address belongs to a local
// user is not mirrored (a warning says so).
//
// New users get opts.DefaultPrivileges (origin default); existing users
// never get them again. Mapped grants follow opts.Rules for every user
// still in the store; admin grants are never touched.
//
// The plan is sorted: adds, updates, deletes, each by address.
func Plan(st *store.State, in *Filtered, opts Options) (*store.Plan, []string) {
	p := &planner{st: st, in: in, opts: opts, plan: &store.Plan{}}
	p.users()
	// The plan holds copies of the users now: the planner lets go of the
	// snapshot's, so that a caller that keeps no reference to in lets the
	// garbage collector have them while the memberships are planned.
	rest := *p.in
	rest.Snapshot = &store.Snapshot{Groups: in.Snapshot.Groups, Members: in.Snapshot.Members}
	p.in = &rest
	p.groups()
	p.members()
	p.grants()
	p.sort()
	return p.plan, p.warnings
}

type planner struct {
	st       *store.State
	in       *Filtered
	opts     Options
	plan     *store.Plan
	warnings []string

	// final maps the id of every user in the store after the plan is
	// applied to its address there.
	final map[string]string
	// inScope holds the ids of in-scope users that the plan mirrors
	// (skipped ones left out).
	inScope map[string]bool
	// frozen holds the ids of stored users whose memberships and grants the
	// plan leaves alone: local users, and users skipped for a conflict.
	frozen map[string]bool
	// deleted holds the ids of users and groups the plan deletes.
	deletedUsers  map[string]bool
	deletedGroups map[string]bool
	// groupEmail maps the id of every group after the plan to its address.
	groupEmail map[string]string
	// restored holds the ids of users the plan adds back from their
	// tombstones (store.DeletedUser).
	restored map[string]bool
}

func (p *planner) warnf(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

func (p *planner) users() {
	stored := make(map[string]*store.User, len(p.st.Users))
	localAddr := make(map[string]*store.User) // lower-case primary email of local users
	taken := make(map[string]string)          // lower-case UID -> user id
	p.final = make(map[string]string, len(p.st.Users))
	p.frozen = make(map[string]bool)
	for i := range p.st.Users {
		u := &p.st.Users[i]
		stored[u.ID] = u
		taken[strings.ToLower(u.UID)] = u.ID
		if u.Origin != store.OriginDirectory {
			localAddr[strings.ToLower(u.PrimaryEmail)] = u
			p.final[u.ID] = u.PrimaryEmail
			p.frozen[u.ID] = true
		}
	}
	p.inScope = make(map[string]bool, len(p.in.Snapshot.Users))
	p.deletedUsers = make(map[string]bool)

	// want are the source users to mirror: those in scope, and with
	// DeleteUsers false the stored ones the filter left out.
	// They point into the filtered snapshot: a copy of each user is made
	// only for the plan.
	type want struct {
		u      *store.User
		reason string // for updates of kept users out of scope
	}
	wants := make([]want, 0, len(p.in.Snapshot.Users))
	for i := range p.in.Snapshot.Users {
		wants = append(wants, want{u: &p.in.Snapshot.Users[i]})
	}
	var kept []string // addresses of users kept with DeleteUsers false
	if !p.opts.DeleteUsers {
		for _, ex := range p.in.Excluded {
			if s := stored[ex.User.ID]; s != nil && s.Origin == store.OriginDirectory {
				wants = append(wants, want{u: &ex.User, reason: fmt.Sprintf("out of scope: %s; %s", ex.Reason, reasonKeptOutOfScope)})
				kept = append(kept, ex.User.PrimaryEmail)
			}
		}
	}

	var (
		mirror = wants[:0] // filtered in place
		names  []nameRequest
	)
	for _, w := range wants {
		u := w.u
		s := stored[u.ID]
		if s != nil && s.Origin != store.OriginDirectory {
			p.warnf("source user %s has the id of local user %s (uid=%s); left alone", u.PrimaryEmail, s.PrimaryEmail, s.UID)
			continue
		}
		if l := localAddr[strings.ToLower(u.PrimaryEmail)]; l != nil {
			p.warnf("source user %s (id %s) not mirrored: local user uid=%s has that address", u.PrimaryEmail, u.ID, l.UID)
			if s != nil { // leave the stored user as it is
				p.final[s.ID] = s.PrimaryEmail
				p.frozen[s.ID] = true
			}
			continue
		}
		mirror = append(mirror, w)
		if s == nil || !sameLocalPart(s.PrimaryEmail, u.PrimaryEmail) {
			names = append(names, nameRequest{ID: u.ID, Email: u.PrimaryEmail})
		}
	}
	// The UIDs of users this plan deletes are free again, so a user deleted
	// and recreated in Google under the same address keeps its DN. Old UIDs
	// of renamed users stay taken for this run, so that no other user takes
	// over a renamed user's DN in the same run.
	mirrored := make(map[string]bool, len(mirror))
	for _, w := range mirror {
		mirrored[w.u.ID] = true
	}
	for _, s := range stored {
		if s.Origin == store.OriginDirectory && !mirrored[s.ID] && !p.frozen[s.ID] {
			delete(taken, strings.ToLower(s.UID))
		}
	}
	// A returning user gets its old UID back if no one took it meanwhile.
	p.restored = make(map[string]bool)
	tombs := make(map[string]*store.DeletedUser, len(p.st.Deleted))
	for i := range p.st.Deleted {
		tombs[p.st.Deleted[i].ID] = &p.st.Deleted[i]
	}
	preset := make(map[string]string)
	names = slices.DeleteFunc(names, func(r nameRequest) bool {
		d := tombs[r.ID]
		if d == nil || stored[r.ID] != nil {
			return false
		}
		p.restored[r.ID] = true
		if _, ok := taken[strings.ToLower(d.UID)]; ok || d.UID == "" {
			return false
		}
		taken[strings.ToLower(d.UID)] = r.ID
		preset[r.ID] = d.UID
		return true
	})
	uids := assignNames(names, taken, p.opts.PrimaryDomain)
	maps.Copy(uids, preset)
	revoke := func(was, now bool) bool { return was && !now && !p.opts.KeepAppPasswordsOnSuspend }

	for _, w := range mirror {
		u := *w.u
		u.Origin = store.OriginDirectory
		u.CreatedAt, u.UpdatedAt = time.Time{}, time.Time{}
		if w.reason == "" {
			p.inScope[u.ID] = true
		}
		p.final[u.ID] = u.PrimaryEmail
		s := stored[u.ID]
		if s == nil {
			u.UID = uids[u.ID]
			c := store.UserChange{Action: store.ActionAdd, User: u, Reason: ReasonNew}
			if p.restored[u.ID] {
				c.Reason, c.Restore = ReasonReturned, true
				c.RevokeAppPasswords = revoke(true, u.Enabled())
			}
			p.plan.Users = append(p.plan.Users, c)
			continue
		}
		u.UID = s.UID
		if uid, ok := uids[u.ID]; ok {
			u.UID = uid
		}
		u.CreatedAt = s.CreatedAt
		fields := userFields(s, &u)
		if len(fields) == 0 {
			continue
		}
		reason := ReasonChanged
		if s.PrimaryEmail != u.PrimaryEmail {
			reason = "renamed from " + s.PrimaryEmail
		}
		if w.reason != "" {
			reason = w.reason
		}
		p.plan.Users = append(p.plan.Users, store.UserChange{Action: store.ActionUpdate, User: u, Fields: fields, Reason: reason,
			RevokeAppPasswords: revoke(s.Enabled(), u.Enabled())})
	}

	// Stored directory users not mirrored: gone from the source or out of scope.
	for _, s := range p.st.Users {
		if _, ok := p.final[s.ID]; ok {
			continue
		}
		if !p.opts.DeleteUsers {
			p.final[s.ID] = s.PrimaryEmail
			kept = append(kept, s.PrimaryEmail)
			continue
		}
		reason := ReasonDeleted
		// A user suspended in the source and so out of scope loses its
		// app passwords as one kept in scope would: its tombstone must not
		// bring them back when it is enabled again.
		disabled := false
		if ex, ok := p.in.Excluded[s.ID]; ok {
			reason = ex.Reason
			disabled = !ex.User.Enabled()
		}
		p.deletedUsers[s.ID] = true
		p.plan.Users = append(p.plan.Users, store.UserChange{Action: store.ActionDelete, User: s, Reason: reason,
			RevokeAppPasswords: revoke(s.Enabled(), !disabled)})
	}
	if len(kept) > 0 {
		slices.Sort(kept)
		p.warnf("sync.delete_users is false: keeping %d user(s) that are gone from the source or out of scope: %s",
			len(kept), strings.Join(kept, ", "))
	}
}

// userFields lists the fields in which stored user s and source user u
// differ, by their JSON names.
func userFields(s, u *store.User) []string {
	var f []string
	add := func(changed bool, name string) {
		if changed {
			f = append(f, name)
		}
	}
	add(s.PrimaryEmail != u.PrimaryEmail, "primaryEmail")
	add(s.UID != u.UID, "uid")
	add(!sameAddrs(s.Aliases, u.Aliases), "aliases")
	add(s.GivenName != u.GivenName, "givenName")
	add(s.FamilyName != u.FamilyName, "familyName")
	add(s.DisplayName != u.DisplayName, "displayName")
	add(s.OrgUnitPath != u.OrgUnitPath, "orgUnitPath")
	add(s.Suspended != u.Suspended, "suspended")
	add(s.Archived != u.Archived, "archived")
	add(s.IsAdmin != u.IsAdmin, "isAdmin")
	add(!sameTime(s.SourceCreated, u.SourceCreated), "sourceCreated")
	add(!sameTime(s.LastLogin, u.LastLogin), "lastLogin")
	add(!sameAttrs(s.Attributes, u.Attributes), "attributes")
	add(s.POSIX != u.POSIX, "posix")
	return f
}

// sameAttrs reports whether two sets of extra attributes hold the same
// values, ignoring the order of each attribute's values.
func sameAttrs(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for name, va := range a {
		vb, ok := b[name]
		if !ok || len(va) != len(vb) {
			return false
		}
		if !slices.Equal(va, vb) && !slices.Equal(slices.Sorted(slices.Values(va)), slices.Sorted(slices.Values(vb))) {
			return false
		}
	}
	return true
}

// sameAddrs reports whether two address lists hold the same addresses,
// ignoring case, order and duplicates.
func sameAddrs(a, b []string) bool {
	return slices.Equal(normAddrs(a), normAddrs(b))
}

func normAddrs(l []string) []string {
	out := make([]string, 0, len(l))
	for _, a := range l {
		out = append(out, strings.ToLower(strings.TrimSpace(a)))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// sameTime reports whether two timestamps are equal to the second (stores
// may keep less precision than the source); zero equals only zero or the
// Unix epoch.
func sameTime(a, b time.Time) bool {
	unknown := func(t time.Time) bool { return t.IsZero() || t.Unix() == 0 }
	if unknown(a) || unknown(b) {
		return unknown(a) == unknown(b)
	}
	return a.Unix() == b.Unix()
}

func (p *planner) groups() {
	stored := make(map[string]*store.Group, len(p.st.Groups))
	taken := make(map[string]string)
	for i := range p.st.Groups {
		g := &p.st.Groups[i]
		stored[g.ID] = g
		taken[strings.ToLower(g.CN)] = g.ID
	}
	p.groupEmail = make(map[string]string)
	p.deletedGroups = make(map[string]bool)
	var names []nameRequest
	for _, g := range p.in.Snapshot.Groups {
		if s := stored[g.ID]; s == nil || !sameLocalPart(s.Email, g.Email) {
			names = append(names, nameRequest{ID: g.ID, Email: g.Email})
		}
	}
	cns := assignNames(names, taken, p.opts.PrimaryDomain)
	source := make(map[string]bool)
	for _, g := range p.in.Snapshot.Groups {
		source[g.ID] = true
		p.groupEmail[g.ID] = g.Email
		g.CreatedAt, g.UpdatedAt = time.Time{}, time.Time{}
		s := stored[g.ID]
		if s == nil {
			g.CN = cns[g.ID]
			p.plan.Groups = append(p.plan.Groups, store.GroupChange{Action: store.ActionAdd, Group: g, Reason: ReasonNew})
			continue
		}
		g.CN = s.CN
		if cn, ok := cns[g.ID]; ok {
			g.CN = cn
		}
		g.CreatedAt = s.CreatedAt
		var fields []string
		add := func(changed bool, name string) {
			if changed {
				fields = append(fields, name)
			}
		}
		add(s.Email != g.Email, "email")
		add(s.CN != g.CN, "cn")
		add(s.Name != g.Name, "name")
		add(s.Description != g.Description, "description")
		add(!sameAddrs(s.Aliases, g.Aliases), "aliases")
		if len(fields) == 0 {
			continue
		}
		reason := ReasonChanged
		if s.Email != g.Email {
			reason = "renamed from " + s.Email
		}
		p.plan.Groups = append(p.plan.Groups, store.GroupChange{Action: store.ActionUpdate, Group: g, Fields: fields, Reason: reason})
	}
	for _, s := range p.st.Groups {
		if source[s.ID] {
			continue
		}
		reason := ReasonDeleted
		if r, ok := p.in.ExcludedGroups[s.ID]; ok {
			reason = r
		}
		p.deletedGroups[s.ID] = true
		p.plan.Groups = append(p.plan.Groups, store.GroupChange{Action: store.ActionDelete, Group: s, Reason: reason})
	}
}

func (p *planner) members() {
	exists := func(m store.Member) bool {
		switch m.Type {
		case store.MemberUser:
			_, ok := p.final[m.ID]
			return ok && !p.deletedUsers[m.ID]
		case store.MemberGroup:
			_, ok := p.groupEmail[m.ID]
			return ok
		}
		return false
	}
	// Addresses for display: the plan's, else the store's (for members
	// the plan deletes; looked up only when needed).
	var storedUsers, storedGroups map[string]string
	email := func(m store.Member) string {
		if m.Type == store.MemberGroup {
			if e, ok := p.groupEmail[m.ID]; ok {
				return e
			}
			if storedGroups == nil {
				storedGroups = make(map[string]string, len(p.st.Groups))
				for _, g := range p.st.Groups {
					storedGroups[g.ID] = g.Email
				}
			}
			return storedGroups[m.ID]
		}
		if e, ok := p.final[m.ID]; ok {
			return e
		}
		if storedUsers == nil {
			storedUsers = make(map[string]string, len(p.st.Users))
			for _, u := range p.st.Users {
				storedUsers[u.ID] = u.PrimaryEmail
			}
		}
		return storedUsers[m.ID]
	}
	for gid := range p.groupEmail {
		want := make(map[memberKey]store.Member)
		for _, m := range p.in.Snapshot.Members[gid] {
			// Members are in scope (the filter saw to it) but may have been
			// skipped by the plan (see users).
			if m.Type == store.MemberUser && !p.inScope[m.ID] {
				continue
			}
			if exists(m) {
				want[memberKey{m.Type, m.ID}] = m
			}
		}
		have := make(map[memberKey]bool)
		for _, m := range p.st.Members[gid] {
			k := memberKey{m.Type, m.ID}
			have[k] = true
			if _, ok := want[k]; ok {
				continue
			}
			if m.Type == store.MemberUser && (p.deletedUsers[m.ID] || p.frozen[m.ID]) {
				continue // goes with the deleted user, or left alone
			}
			if m.Type == store.MemberGroup && p.deletedGroups[m.ID] {
				continue // goes with the deleted group
			}
			reason := ReasonNotMember
			if ex, ok := p.in.Excluded[m.ID]; ok && m.Type == store.MemberUser {
				reason = "out of scope: " + ex.Reason
			}
			m.Email = email(m)
			p.plan.Members = append(p.plan.Members, store.MemberChange{
				Action: store.ActionDelete, GroupID: gid, GroupEmail: p.groupEmail[gid], Member: m, Reason: reason,
			})
		}
		for k, m := range want {
			if have[k] {
				continue
			}
			m.Email = email(m)
			p.plan.Members = append(p.plan.Members, store.MemberChange{
				Action: store.ActionAdd, GroupID: gid, GroupEmail: p.groupEmail[gid], Member: m, Reason: ReasonMember,
			})
		}
	}
}

type grantKey struct {
	UserID, Privilege, Rule string
}

func (p *planner) grants() {
	// Default privileges for new users.
	defaults := slices.Clone(p.opts.DefaultPrivileges)
	slices.Sort(defaults)
	defaults = slices.Compact(defaults)
	for _, c := range p.plan.Users {
		if c.Action != store.ActionAdd || p.restored[c.User.ID] {
			continue // returning users get their own grants back
		}
		for _, priv := range defaults {
			p.plan.Grants = append(p.plan.Grants, store.GrantChange{
				Action:    store.ActionAdd,
				Grant:     store.Grant{UserID: c.User.ID, Privilege: priv, Origin: store.GrantDefault},
				UserEmail: c.User.PrimaryEmail,
				Reason:    ReasonDefault,
			})
		}
	}

	// Mapped grants: what the rules give each user in scope ...
	ix := newGroupIndex(p.in.Snapshot)
	want := make(map[grantKey]bool)
	ruled := make(map[grantKey]bool) // (rule, privilege) pairs of the config, UserID empty
	for _, r := range p.opts.Rules {
		rule := ruleName(r.Group)
		for _, priv := range r.Privileges {
			ruled[grantKey{Privilege: priv, Rule: rule}] = true
		}
		gid, ok := ix.byAddr[rule]
		if !ok {
			p.warnf("privilege rule for group %s: no such group in the source; it grants nothing", r.Group)
			continue
		}
		users, _ := ix.usersUnder(ix.closure([]string{gid}))
		for uid := range users {
			if !p.inScope[uid] {
				continue
			}
			for _, priv := range r.Privileges {
				want[grantKey{uid, priv, rule}] = true
			}
		}
	}
	// ... against what the store holds for directory users that stay.
	have := make(map[grantKey]bool)
	for _, g := range p.st.Grants {
		if g.Origin != store.GrantMapped || p.frozen[g.UserID] || p.deletedUsers[g.UserID] {
			continue
		}
		k := grantKey{g.UserID, g.Privilege, g.Rule}
		have[k] = true
		if want[k] {
			continue
		}
		reason := "no longer a member of " + g.Rule
		switch {
		case !ruled[grantKey{Privilege: g.Privilege, Rule: g.Rule}]:
			reason = "no privilege rule grants it for " + g.Rule
		case !p.inScope[g.UserID]:
			reason = "user out of scope"
			if ex, ok := p.in.Excluded[g.UserID]; ok {
				reason = "out of scope: " + ex.Reason
			}
		}
		email, ok := p.final[g.UserID]
		if !ok {
			continue // the grant's user is not in the store; nothing to revoke
		}
		g.CreatedAt = time.Time{}
		p.plan.Grants = append(p.plan.Grants, store.GrantChange{Action: store.ActionDelete, Grant: g, UserEmail: email, Reason: reason})
	}
	for k := range want {
		if have[k] {
			continue
		}
		p.plan.Grants = append(p.plan.Grants, store.GrantChange{
			Action:    store.ActionAdd,
			Grant:     store.Grant{UserID: k.UserID, Privilege: k.Privilege, Origin: store.GrantMapped, Rule: k.Rule},
			UserEmail: p.final[k.UserID],
			Reason:    "member of " + k.Rule,
		})
	}
}

// ruleName is the form of a rule's group stored in mapped grants.
func ruleName(group string) string { return strings.ToLower(strings.TrimSpace(group)) }

var actionOrder = map[store.Action]int{store.ActionAdd: 0, store.ActionUpdate: 1, store.ActionDelete: 2}

func (p *planner) sort() {
	lower := strings.ToLower
	slices.SortFunc(p.plan.Users, func(a, b store.UserChange) int {
		return cmp.Or(
			cmp.Compare(actionOrder[a.Action], actionOrder[b.Action]),
			cmp.Compare(lower(a.User.PrimaryEmail), lower(b.User.PrimaryEmail)),
			cmp.Compare(a.User.ID, b.User.ID))
	})
	slices.SortFunc(p.plan.Groups, func(a, b store.GroupChange) int {
		return cmp.Or(
			cmp.Compare(actionOrder[a.Action], actionOrder[b.Action]),
			cmp.Compare(lower(a.Group.Email), lower(b.Group.Email)),
			cmp.Compare(a.Group.ID, b.Group.ID))
	})
	slices.SortFunc(p.plan.Members, func(a, b store.MemberChange) int {
		return cmp.Or(
			cmp.Compare(actionOrder[a.Action], actionOrder[b.Action]),
			cmp.Compare(lower(a.GroupEmail), lower(b.GroupEmail)),
			cmp.Compare(a.GroupID, b.GroupID),
			cmp.Compare(a.Member.Type, b.Member.Type),
			cmp.Compare(lower(a.Member.Email), lower(b.Member.Email)),
			cmp.Compare(a.Member.ID, b.Member.ID))
	})
	slices.SortFunc(p.plan.Grants, func(a, b store.GrantChange) int {
		return cmp.Or(
			cmp.Compare(actionOrder[a.Action], actionOrder[b.Action]),
			cmp.Compare(lower(a.UserEmail), lower(b.UserEmail)),
			cmp.Compare(a.Grant.UserID, b.Grant.UserID),
			cmp.Compare(a.Grant.Privilege, b.Grant.Privilege),
			cmp.Compare(a.Grant.Origin, b.Grant.Origin),
			cmp.Compare(a.Grant.Rule, b.Grant.Rule))
	})
}
