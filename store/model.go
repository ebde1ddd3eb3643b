// Package store holds ldapgate's directory model (users, groups, memberships,
// privileges, sync runs), the SQLite store that persists it, and the immutable
// in-memory directory view that the LDAP side reads.
//
// It imports no other ldapgate package: the sync sources, the sync engine and
// the LDAP server all talk in the types defined here.
package store

import (
	"errors"
	"time"
)

// Origin says where a user came from. Only users whose origin is the
// directory are ever deleted by a sync.
type Origin string

const (
	// OriginDirectory marks a user mirrored from the directory source.
	OriginDirectory Origin = "directory"
	// OriginLocal marks a user created in ldapgate itself; syncs never touch it.
	OriginLocal Origin = "local"
)

// User is a person in the directory.
type User struct {
	// ID is the source's immutable id (Google's user id); it survives renames.
	ID string `json:"id"`
	// UID is the RDN value under ou=people. It is assigned by the sync engine
	// when the user is first added and stays stable (see engine.Plan).
	UID          string   `json:"uid"`
	PrimaryEmail string   `json:"primaryEmail"`
	Aliases      []string `json:"aliases,omitempty"` // every alias, editable or not
	GivenName    string   `json:"givenName,omitempty"`
	FamilyName   string   `json:"familyName,omitempty"`
	DisplayName  string   `json:"displayName,omitempty"`
	OrgUnitPath  string   `json:"orgUnitPath,omitempty"`
	Suspended    bool     `json:"suspended,omitempty"`
	Archived     bool     `json:"archived,omitempty"`
	IsAdmin      bool     `json:"isAdmin,omitempty"`
	// SourceCreated and LastLogin are the source's own timestamps (zero if unknown).
	SourceCreated time.Time `json:"sourceCreated,omitzero"`
	LastLogin     time.Time `json:"lastLogin,omitzero"`
	// Attributes are extra LDAP attributes of the user's entry, by
	// attribute name, from the source's custom fields as the config maps
	// them (source.google.custom_attributes).
	Attributes map[string][]string `json:"attributes,omitempty"`
	// POSIX is the source's POSIX account of the user (Google's
	// posixAccounts); zero if it has none.
	POSIX  POSIXAccount `json:"posix,omitzero"`
	Origin Origin       `json:"origin"`
	// CreatedAt and UpdatedAt are set by the store when the row is written.
	CreatedAt time.Time `json:"createdAt,omitzero"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// Enabled reports whether the user may log on (neither suspended nor archived).
func (u *User) Enabled() bool { return !u.Suspended && !u.Archived }

// POSIXAccount is the POSIX account a source keeps for a user: of Google's
// posixAccounts, the primary one, else the first, never one with uid 0.
// Only what the directory serves is kept. UID is never 0 in an account the
// user has; GID 0 and empty strings mean not set.
type POSIXAccount struct {
	UID           uint32 `json:"uid,omitempty"`
	GID           uint32 `json:"gid,omitempty"`
	HomeDirectory string `json:"homeDirectory,omitempty"`
	Shell         string `json:"shell,omitempty"`
	Gecos         string `json:"gecos,omitempty"`
}

// Group is a directory group.
type Group struct {
	ID string `json:"id"`
	// CN is the RDN value under ou=groups, assigned like User.UID.
	CN          string    `json:"cn"`
	Email       string    `json:"email"`
	Name        string    `json:"name,omitempty"`
	Description string    `json:"description,omitempty"`
	Aliases     []string  `json:"aliases,omitempty"`
	CreatedAt   time.Time `json:"createdAt,omitzero"`
	UpdatedAt   time.Time `json:"updatedAt,omitzero"`
}

// MemberType is the kind of a group member.
type MemberType string

const (
	MemberUser  MemberType = "user"
	MemberGroup MemberType = "group"
	// MemberCustomer means "every user of the organisation" (the Directory
	// API's CUSTOMER member type). It only appears in snapshots; the engine
	// expands it to user members.
	MemberCustomer MemberType = "customer"
)

// Member is one direct member of a group.
type Member struct {
	Type MemberType `json:"type"`
	ID   string     `json:"id"`
	// Email is informational (plans and logs); membership is keyed by ID.
	Email string `json:"email,omitempty"`
}

// GrantOrigin says why a user holds a privilege.
type GrantOrigin string

const (
	// GrantDefault grants were given when the user was created (sync.default_privileges).
	GrantDefault GrantOrigin = "default"
	// GrantMapped grants follow a privilege rule and last while the user is in the rule's group.
	GrantMapped GrantOrigin = "mapped"
	// GrantAdmin grants were made by an administrator and persist across syncs.
	GrantAdmin GrantOrigin = "admin"
)

// Grant is one privilege held by one user for one reason. A user may hold the
// same privilege for several reasons (several grants).
type Grant struct {
	UserID    string      `json:"userId"`
	Privilege string      `json:"privilege"`
	Origin    GrantOrigin `json:"origin"`
	// Rule names the group of a mapped grant (its email), for plans and audit.
	Rule      string    `json:"rule,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
}

// State is the directory data held in the store: what a sync compares against
// and what a view is built from.
type State struct {
	Users  []User
	Groups []Group
	// Members maps a group ID to its direct members (users and groups only).
	Members map[string][]Member
	Grants  []Grant
	// NeverSynced reports that no sync has succeeded yet: the directory is
	// not known, however empty it looks.
	NeverSynced bool
	// Deleted are the tombstones of deleted directory users that have not
	// expired, by ID.
	Deleted []DeletedUser
	// Generation is the directory generation the state was read at: every
	// write to the directory raises it (see Changes).
	Generation int64
}

// Snapshot is what a source returns: a complete, consistent picture of the
// source directory, before filtering.
type Snapshot struct {
	Users  []User
	Groups []Group
	// Members maps a group ID to its direct members as the source lists them
	// (users, groups, and customer-wide members).
	Members map[string][]Member
}

// Action is what a plan does to one object.
type Action string

const (
	ActionAdd    Action = "add"
	ActionUpdate Action = "update"
	ActionDelete Action = "delete"
)

// UserChange is one planned change to a user. User is the new state for add
// and update, and the stored state for delete.
type UserChange struct {
	Action Action   `json:"action"`
	User   User     `json:"user"`
	Fields []string `json:"fields,omitempty"` // changed fields, for updates
	Reason string   `json:"reason"`
	// Restore, on an add, brings back what the user's tombstone kept (see
	// DeletedUser): its created_at, default and admin grants and app
	// passwords. The apply fails with ErrStale if the tombstone is gone.
	Restore bool `json:"restore,omitempty"`
	// RevokeAppPasswords revokes the user's active app passwords with the
	// change: the user is suspended or archived (an add restores them
	// from a tombstone first, a delete revokes them before it keeps one).
	RevokeAppPasswords bool `json:"revokeAppPasswords,omitempty"`
}

// GroupChange is one planned change to a group, like UserChange.
type GroupChange struct {
	Action Action   `json:"action"`
	Group  Group    `json:"group"`
	Fields []string `json:"fields,omitempty"`
	Reason string   `json:"reason"`
}

// MemberChange adds or removes one direct member of a group.
type MemberChange struct {
	Action     Action `json:"action"` // add or delete
	GroupID    string `json:"groupId"`
	GroupEmail string `json:"groupEmail"`
	Member     Member `json:"member"`
	Reason     string `json:"reason"`
}

// GrantChange adds or removes one grant.
type GrantChange struct {
	Action    Action `json:"action"` // add or delete
	Grant     Grant  `json:"grant"`
	UserEmail string `json:"userEmail"`
	Reason    string `json:"reason"`
}

// Plan is the difference between the filtered source snapshot and the store.
type Plan struct {
	Users   []UserChange   `json:"users,omitempty"`
	Groups  []GroupChange  `json:"groups,omitempty"`
	Members []MemberChange `json:"members,omitempty"`
	Grants  []GrantChange  `json:"grants,omitempty"`
	// Generation, if set, is the State.Generation the plan was made
	// against: Apply refuses the plan with ErrStale if another writer (a
	// second sync) changed the directory since.
	Generation *int64 `json:"-"`
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	return len(p.Users) == 0 && len(p.Groups) == 0 && len(p.Members) == 0 && len(p.Grants) == 0
}

// Counts summarises a plan.
func (p *Plan) Counts() Counts {
	var c Counts
	for _, u := range p.Users {
		if u.RevokeAppPasswords {
			c.AppPasswordsRevoked++
		}
		switch u.Action {
		case ActionAdd:
			c.UsersAdded++
		case ActionUpdate:
			c.UsersUpdated++
		case ActionDelete:
			c.UsersDeleted++
		}
	}
	for _, g := range p.Groups {
		switch g.Action {
		case ActionAdd:
			c.GroupsAdded++
		case ActionUpdate:
			c.GroupsUpdated++
		case ActionDelete:
			c.GroupsDeleted++
		}
	}
	for _, m := range p.Members {
		if m.Action == ActionAdd {
			c.MembersAdded++
		} else {
			c.MembersDeleted++
		}
	}
	for _, g := range p.Grants {
		if g.Action == ActionAdd {
			c.GrantsAdded++
		} else {
			c.GrantsDeleted++
		}
	}
	return c
}

// Counts is the size of a plan, per kind of change.
type Counts struct {
	UsersAdded     int `json:"usersAdded"`
	UsersUpdated   int `json:"usersUpdated"`
	UsersDeleted   int `json:"usersDeleted"`
	GroupsAdded    int `json:"groupsAdded"`
	GroupsUpdated  int `json:"groupsUpdated"`
	GroupsDeleted  int `json:"groupsDeleted"`
	MembersAdded   int `json:"membersAdded"`
	MembersDeleted int `json:"membersDeleted"`
	GrantsAdded    int `json:"grantsAdded"`
	GrantsDeleted  int `json:"grantsDeleted"`
	// AppPasswordsRevoked counts the users whose app passwords the plan
	// revokes because they were suspended or archived.
	AppPasswordsRevoked int `json:"appPasswordsRevoked,omitempty"`
}

// SyncRun is the record of one sync: written in the same transaction as the
// changes it applied, or alone when the sync failed.
type SyncRun struct {
	ID         int64     `json:"id"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	Source     string    `json:"source"` // e.g. "file:configs/demo-directory.json"
	// Kind is RunFull or RunIncremental; "" reads as RunFull.
	Kind   string `json:"kind,omitempty"`
	Forced bool   `json:"forced,omitempty"`
	Counts Counts `json:"counts"`
	Phases Phases `json:"phases"`
	Plan   *Plan  `json:"plan,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Phases are how long the parts of a sync run took, in milliseconds; a
// part the run did not reach is 0. The apply and the finish end after the
// run is recorded with its changes: they are added by SetRunPhases.
type Phases struct {
	// FetchMS is the fetch from the source.
	FetchMS int64 `json:"fetchMs"`
	// PlanMS is the filter, the store's state (what of its reading the
	// fetch did not hide), the plan and the guard.
	PlanMS int64 `json:"planMs"`
	// ApplyMS is the apply, its commit included.
	ApplyMS int64 `json:"applyMs"`
	// FinishMS is what a server does with an applied plan: the audit, the
	// new view and its LDAP trees. The command line builds no view.
	FinishMS int64 `json:"finishMs"`
}

// Kinds of sync runs.
const (
	// RunFull is a sync of the whole directory.
	RunFull = "full"
	// RunIncremental applies the changes a source reported since the last
	// run (Google's admin events): only the objects they touch.
	RunIncremental = "incremental"
)

// Sentinel errors of the store.
var (
	// ErrNotFound means the object asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a write would break a uniqueness rule (e.g. an email
	// or UID already taken).
	ErrConflict = errors.New("conflict")
	// ErrStale means a plan was made against a state of the directory that
	// another writer has changed since; make a new plan.
	ErrStale = errors.New("the directory changed since the plan was made")
)

// FilterStats counts what the filter kept and left out. A user left out for
// several reasons counts once, under the first of suspended, archived, org
// unit, group.
type FilterStats struct {
	UsersFetched      int `json:"usersFetched"`
	UsersInScope      int `json:"usersInScope"`
	ExcludedSuspended int `json:"excludedSuspended"`
	ExcludedArchived  int `json:"excludedArchived"`
	ExcludedOrgUnit   int `json:"excludedOrgUnit"`
	ExcludedGroup     int `json:"excludedGroup"`
	GroupsFetched     int `json:"groupsFetched"`
	GroupsInScope     int `json:"groupsInScope"`
}
