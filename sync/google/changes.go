package google

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	reports "google.golang.org/api/admin/reports/v1"
	"google.golang.org/api/googleapi"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/dirapi"
	"github.com/ldapgate/ldapgate/sync/engine"
)

// ScopeReports is the Reports API's read-only audit scope, for the admin
// events that incremental sync polls.
const ScopeReports = reports.AdminReportsAuditReadonlyScope

// DefaultChangesOverlap is how far before the previous poll each poll of
// the admin events starts: Google reports an event some time after it
// happened (usually seconds, at times minutes), so a poll that started
// where the last one did would miss those reported late. Events seen
// twice are recognised by their id.
const DefaultChangesOverlap = 10 * time.Minute

// Page size of activities.list (Google's maximum).
const maxActivitiesPage = 1000

// reportsTime is the Reports API's time format (RFC 3339, milliseconds).
const reportsTime = "2006-01-02T15:04:05.000Z07:00"

// changesConnAge bounds how long the poll's connection (its key and
// token) is reused: a rotated key file is picked up within it.
const changesConnAge = time.Hour

// changeCursor is where the admin events stand: the start of the last
// successful poll, and the events seen since its overlap began. It
// survives a reload (ContinueChanges), so no event falls between two
// sources.
type changeCursor struct {
	mu    sync.Mutex
	since time.Time
	seen  map[string]time.Time // activity id -> its time
	// floor is when the fetch of the last full sync applied started (less
	// fullSyncMargin): what happened before is in the store already.
	// fetched is the start of the last fetch, until SyncApplied.
	floor, fetched time.Time
	// customer holds the ids of the groups that had the organisation's
	// customer-wide member at the last fetch: a user new to the store is
	// one of their members (the store keeps such memberships expanded).
	customer map[string]bool
	conn     *conn
	connAt   time.Time
}

// fullSyncMargin allows for the clocks of ldapgate and Google to differ:
// events of the minute before a full sync's fetch are still applied.
const fullSyncMargin = time.Minute

// fetchStarted notes the start of a full fetch; customer are the groups
// with a customer-wide member it found (nil: the fetch failed).
func (cur *changeCursor) fetchStarted(at time.Time) {
	cur.mu.Lock()
	cur.fetched = at
	cur.mu.Unlock()
}

func (cur *changeCursor) fetchDone(customer map[string]bool) {
	cur.mu.Lock()
	cur.customer = customer
	cur.mu.Unlock()
}

// SyncApplied tells the source that the plan of its last Fetch was
// applied (or had nothing to change): admin events from before that fetch
// need no polling.
func (s *Source) SyncApplied() {
	cur := s.changes
	cur.mu.Lock()
	defer cur.mu.Unlock()
	if f := cur.fetched.Add(-fullSyncMargin); !cur.fetched.IsZero() && f.After(cur.floor) {
		cur.floor = f
	}
}

// ContinueChanges makes s poll the admin events from where old stopped
// (after a reload built s).
func (s *Source) ContinueChanges(old *Source) {
	old.changes.mu.Lock()
	defer old.changes.mu.Unlock()
	s.changes.mu.Lock()
	defer s.changes.mu.Unlock()
	s.changes.since = old.changes.since
	s.changes.seen = old.changes.seen
	s.changes.floor = old.changes.floor
	s.changes.customer = old.changes.customer
}

// Changes are the admin events new since the last poll, as the steps of
// an incremental sync.
type Changes struct {
	// Events counts the new activities (including those that touch
	// nothing ldapgate mirrors).
	Events int
	// Steps fetch what the events touch, to apply one after the other:
	// first the users suspended, archived or deleted, the groups deleted
	// and the memberships removed (access taken away, so it goes first and
	// lands even when the rest fails), then everything else. There is no
	// step for what the events do not touch; events that touch nothing
	// ldapgate mirrors give no step at all.
	Steps []engine.DeltaFunc

	commit func()
}

// Done records the events as applied: the next polls skip them. Until it
// is called, they are polled again (a step failed, or ldapgate stopped).
func (c *Changes) Done() { c.commit() }

// Changes polls the admin events (Reports API activities.list, application
// admin) since the last successful poll, less the overlap. It returns nil
// when there is nothing new: one call, and a token call now and then.
func (s *Source) Changes(ctx context.Context) (*Changes, error) {
	cur := s.changes
	cur.mu.Lock()
	defer cur.mu.Unlock()
	c, err := s.changesConn(ctx)
	if err != nil {
		return nil, err
	}
	pollStart := s.cfg.Now().UTC()
	start := cur.since.Add(-s.cfg.ChangesOverlap)
	if cur.floor.After(start) {
		start = cur.floor
	}
	var acts []*reports.Activity
	what := "activities.list (admin events since " + start.Format(time.RFC3339) + ")"
	err = c.pages(ctx, what, func() { acts = acts[:0] }, func(ctx context.Context, token string) (string, error) {
		call := c.rep.Activities.List("all", "admin").StartTime(start.Format(reportsTime)).
			MaxResults(maxActivitiesPage).Context(ctx).
			Fields("nextPageToken", "items(id(time,uniqueQualifier),events(type,name,parameters(name,value)))")
		if s.cfg.Customer != "" && s.cfg.Customer != DefaultCustomer {
			call = call.CustomerId(s.cfg.Customer)
		}
		if token != "" {
			call = call.PageToken(token)
		}
		res, err := call.Do()
		if err != nil {
			return "", err
		}
		acts = append(acts, res.Items...)
		return res.NextPageToken, nil
	})
	if err != nil {
		cur.conn = nil // a new key and token next time
		return nil, err
	}

	t := newTouches()
	fresh := make(map[string]bool)
	names := make(map[string]int)
	for _, a := range acts {
		id, _ := activityID(a)
		if _, seen := cur.seen[id]; id == "" || seen || fresh[id] {
			continue // a duplicate, or seen in an earlier poll's overlap
		}
		fresh[id] = true
		for _, e := range a.Events {
			if e != nil {
				t.add(e)
				names[e.Name]++
			}
		}
	}
	// commitLocked records the events as seen and the poll as the start
	// of the next. cur.mu is held.
	commitLocked := func() {
		for _, a := range acts {
			if id, at := activityID(a); id != "" {
				cur.seen[id] = at
			}
		}
		cur.since = pollStart
		for id, at := range cur.seen {
			if at.Before(pollStart.Add(-s.cfg.ChangesOverlap)) {
				delete(cur.seen, id) // outside every later poll's window
			}
		}
	}
	if len(fresh) == 0 {
		commitLocked()
		return nil, nil
	}
	var summary []string
	for _, n := range slices.Sorted(maps.Keys(names)) {
		summary = append(summary, fmt.Sprintf("%s=%d", n, names[n]))
	}
	s.log.Info("admin events", "new", len(fresh), "events", strings.Join(summary, ","))
	ch := &Changes{
		Events: len(fresh),
		commit: func() {
			cur.mu.Lock()
			defer cur.mu.Unlock()
			commitLocked()
		},
	}
	// A step only for touches there are: each step loads the store's
	// state, seconds with 100,000 users.
	for _, urgent := range []bool{true, false} {
		if t.any(urgent) {
			ch.Steps = append(ch.Steps, func(ctx context.Context, known *store.State) (*engine.Delta, error) {
				return s.fetchDelta(ctx, known, t, urgent)
			})
		}
	}
	return ch, nil
}

// changesConn returns the poll's connection, made anew when it is old.
// s.changes.mu is held.
func (s *Source) changesConn(ctx context.Context) (*conn, error) {
	cur := s.changes
	if cur.conn != nil && s.cfg.Now().Sub(cur.connAt) < changesConnAge {
		return cur.conn, nil
	}
	c, err := s.connect(ctx, []string{ScopeUsers, ScopeGroups, ScopeMembers, ScopeReports}, false)
	if err != nil {
		return nil, err
	}
	cur.conn, cur.connAt = c, s.cfg.Now()
	return c, nil
}

// activityID returns the activity's id (time and unique qualifier) and its
// time.
func activityID(a *reports.Activity) (string, time.Time) {
	if a == nil || a.Id == nil || a.Id.Time == "" {
		return "", time.Time{}
	}
	at, err := time.Parse(time.RFC3339Nano, a.Id.Time)
	if err != nil {
		return "", time.Time{}
	}
	return a.Id.Time + "/" + strconv.FormatInt(a.Id.UniqueQualifier, 10), at
}

// touches are the users and groups some events touched, by lower-case
// address.
type touches struct {
	users  map[string]*userTouch
	groups map[string]*groupTouch
}

type userTouch struct {
	urgent bool
	// alt is the address to fetch by when the one touched is not stored
	// (a rename's new address).
	alt string
	// ifNew: only when the store does not hold the user (a member added to
	// a group may bring a user into the filter's scope).
	ifNew bool
}

type groupTouch struct {
	urgent  bool
	alt     string
	record  bool // the group itself (name, address) changed
	members bool // its members changed
}

func newTouches() *touches {
	return &touches{users: make(map[string]*userTouch), groups: make(map[string]*groupTouch)}
}

// any reports whether some touch is urgent (or not).
func (t *touches) any(urgent bool) bool {
	for _, u := range t.users {
		if u.urgent == urgent {
			return true
		}
	}
	for _, g := range t.groups {
		if g.urgent == urgent {
			return true
		}
	}
	return false
}

func (t *touches) user(email string, urgent, ifNew bool, alt string) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return
	}
	u := t.users[email]
	if u == nil {
		u = &userTouch{ifNew: ifNew}
		t.users[email] = u
	}
	u.urgent = u.urgent || urgent
	u.ifNew = u.ifNew && ifNew
	if alt != "" {
		u.alt = strings.ToLower(strings.TrimSpace(alt))
	}
}

func (t *touches) group(email string, urgent, record, members bool, alt string) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return
	}
	g := t.groups[email]
	if g == nil {
		g = &groupTouch{}
		t.groups[email] = g
	}
	g.urgent = g.urgent || urgent
	g.record = g.record || record
	g.members = g.members || members
	if alt != "" {
		g.alt = strings.ToLower(strings.TrimSpace(alt))
	}
}

// add notes what one admin event touches. The events are hints only: what
// is applied is what Google has now, fetched by fetchDelta, so events
// that come late, twice or out of order do no harm.
func (t *touches) add(e *reports.ActivityEvents) {
	p := func(name string) string {
		for _, x := range e.Parameters {
			if x != nil && x.Name == name {
				return x.Value
			}
		}
		return ""
	}
	switch e.Name {
	// USER_SETTINGS: access taken away.
	case "SUSPEND_USER", "DELETE_USER", "ARCHIVE_USER":
		t.user(p("USER_EMAIL"), true, false, "")
	// USER_SETTINGS: the user is back or changed.
	case "CREATE_USER", "UNDELETE_USER", "UNSUSPEND_USER", "UNARCHIVE_USER",
		"CHANGE_FIRST_NAME", "CHANGE_LAST_NAME", "MOVE_USER_TO_ORG_UNIT",
		"ADD_NICKNAME", "REMOVE_NICKNAME", "GRANT_ADMIN_PRIVILEGE", "REVOKE_ADMIN_PRIVILEGE":
		t.user(p("USER_EMAIL"), false, false, "")
	case "RENAME_USER":
		t.user(p("USER_EMAIL"), false, false, p("NEW_VALUE"))
	// GROUP_SETTINGS.
	case "DELETE_GROUP":
		t.group(p("GROUP_EMAIL"), true, true, true, "")
	case "REMOVE_GROUP_MEMBER":
		t.group(p("GROUP_EMAIL"), true, false, true, "")
	case "ADD_GROUP_MEMBER":
		t.group(p("GROUP_EMAIL"), false, false, true, "")
		t.user(p("USER_EMAIL"), false, true, "")
	case "CREATE_GROUP":
		t.group(p("GROUP_EMAIL"), false, true, true, "")
	case "CHANGE_GROUP_EMAIL":
		t.group(p("GROUP_EMAIL"), false, true, false, p("NEW_VALUE"))
	case "CHANGE_GROUP_NAME", "CHANGE_GROUP_DESCRIPTION":
		t.group(p("GROUP_EMAIL"), false, true, false, "")
	}
}

// index maps the lower-case addresses of the stored directory users and
// groups to their ids.
type index struct {
	users, groups map[string]string
	userIDs       map[string]bool
	groupIDs      map[string]string // id -> email
}

func indexOf(st *store.State) *index {
	ix := &index{users: make(map[string]string), groups: make(map[string]string), userIDs: make(map[string]bool), groupIDs: make(map[string]string)}
	for _, u := range st.Users {
		if u.Origin != store.OriginDirectory {
			continue
		}
		ix.userIDs[u.ID] = true
		for _, a := range u.Aliases {
			ix.users[strings.ToLower(a)] = u.ID
		}
	}
	for _, u := range st.Users {
		if u.Origin == store.OriginDirectory {
			ix.users[strings.ToLower(u.PrimaryEmail)] = u.ID // wins over an alias
		}
	}
	for _, g := range st.Groups {
		ix.groupIDs[g.ID] = g.Email
		for _, a := range g.Aliases {
			ix.groups[strings.ToLower(a)] = g.ID
		}
	}
	for _, g := range st.Groups {
		ix.groups[strings.ToLower(g.Email)] = g.ID
	}
	return ix
}

// fetchDelta fetches what the touches of one step (urgent or not) name:
// users.get of each user (by stored id when known), groups.get of groups
// not stored or whose record changed, members.list of groups whose members
// changed; for a user not stored yet, the groups it is a member of
// (groups.list by userKey), and for a group newly nested, its record and
// members too. Users and groups Google no longer has are reported gone.
func (s *Source) fetchDelta(ctx context.Context, known *store.State, t *touches, urgent bool) (*engine.Delta, error) {
	s.changes.mu.Lock()
	c, err := s.changesConn(ctx)
	s.changes.mu.Unlock()
	if err != nil {
		return nil, err
	}
	ix := indexOf(known)
	d := &engine.Delta{Members: make(map[string][]store.Member), MemberOf: make(map[string][]string)}
	fetchedUsers := make(map[string]bool)
	for _, email := range slices.Sorted(maps.Keys(t.users)) {
		ut := t.users[email]
		if ut.urgent != urgent {
			continue
		}
		id, stored := ix.users[email]
		if !stored && ut.alt != "" {
			id, stored = ix.users[ut.alt]
		}
		if ut.ifNew && stored {
			continue
		}
		key := id
		if !stored {
			key = email
			if ut.alt != "" {
				key = ut.alt
			}
		}
		u, err := c.getUser(ctx, key)
		switch {
		case errors.Is(err, errNotFound):
			if stored {
				d.GoneUsers = append(d.GoneUsers, id)
			}
			continue
		case err != nil:
			return nil, err
		}
		if fetchedUsers[u.ID] {
			continue
		}
		fetchedUsers[u.ID] = true
		d.Users = append(d.Users, u)
		if !ix.userIDs[u.ID] {
			gids, err := c.groupsOf(ctx, u.ID, u.PrimaryEmail)
			if err != nil {
				return nil, err
			}
			s.changes.mu.Lock()
			for gid := range s.changes.customer {
				gids = append(gids, gid)
			}
			s.changes.mu.Unlock()
			d.MemberOf[u.ID] = gids
		}
	}

	type job struct {
		ref            groupRef
		stored, record bool
		members        bool
	}
	var queue []job
	for _, email := range slices.Sorted(maps.Keys(t.groups)) {
		gt := t.groups[email]
		if gt.urgent != urgent {
			continue
		}
		id, stored := ix.groups[email]
		if !stored && gt.alt != "" {
			id, stored = ix.groups[gt.alt]
		}
		key := id
		if !stored {
			key = email
			if gt.alt != "" {
				key = gt.alt
			}
		}
		queue = append(queue, job{ref: groupRef{key, email}, stored: stored, record: gt.record || !stored, members: gt.members || !stored})
	}
	done := make(map[string]bool)
	for len(queue) > 0 {
		j := queue[0]
		queue = queue[1:]
		if done[j.ref.id] {
			continue
		}
		done[j.ref.id] = true
		if j.record {
			g, err := c.getGroup(ctx, j.ref.id)
			switch {
			case errors.Is(err, errNotFound):
				if j.stored {
					d.GoneGroups = append(d.GoneGroups, j.ref.id)
				}
				continue
			case err != nil:
				return nil, err
			}
			j.ref = groupRef{g.ID, g.Email}
			done[g.ID] = true
			d.Groups = append(d.Groups, g)
		}
		if !j.members {
			continue
		}
		ms, err := c.listMembers(ctx, j.ref)
		switch {
		case errors.Is(err, errGroupDeleted):
			if j.stored {
				d.GoneGroups = append(d.GoneGroups, j.ref.id)
			}
			continue
		case err != nil:
			return nil, err
		}
		d.Members[j.ref.id] = ms
		for _, m := range ms {
			if m.Type == store.MemberGroup && ix.groupIDs[m.ID] == "" && !done[m.ID] {
				// Newly nested (or out of scope until now): the filter
				// needs its record and members to tell.
				queue = append(queue, job{ref: groupRef{m.ID, m.Email}, record: true, members: true})
			}
		}
	}
	return d, nil
}

// errNotFound is a 404 from users.get or groups.get.
var errNotFound = errors.New("not found in google")

// getUser is users.get: the user by id or address, as listUsers converts
// it, or errNotFound.
func (c *conn) getUser(ctx context.Context, key string) (store.User, error) {
	var u store.User
	err := c.retry.do(ctx, "users.get "+key, func(ctx context.Context) error {
		call := c.svc.Users.Get(key).Context(ctx)
		if custom := c.s.cfg.CustomAttributes; len(custom) > 0 {
			call = call.Projection("custom").CustomFieldMask(strings.Join(dirapi.Schemas(custom), ",")).Fields(googleapi.Field(userFields + ",customSchemas"))
		} else {
			call = call.Fields(googleapi.Field(userFields))
		}
		au, err := call.Do()
		if err != nil {
			return err
		}
		u, err = c.s.userFromAPI(au)
		return err
	})
	if ge := apiError(err); ge != nil && ge.Code == http.StatusNotFound {
		return store.User{}, errNotFound
	}
	return u, err
}

// getGroup is groups.get, or errNotFound.
func (c *conn) getGroup(ctx context.Context, key string) (store.Group, error) {
	var g store.Group
	err := c.retry.do(ctx, "groups.get "+key, func(ctx context.Context) error {
		ag, err := c.svc.Groups.Get(key).Fields(googleapi.Field(groupFields)).Context(ctx).Do()
		if err != nil {
			return err
		}
		g, err = c.s.groupFromAPI(ag)
		return err
	})
	if ge := apiError(err); ge != nil && ge.Code == http.StatusNotFound {
		return store.Group{}, errNotFound
	}
	return g, err
}

// groupsOf lists the ids of the groups a user is a direct member of.
func (c *conn) groupsOf(ctx context.Context, userID, email string) ([]string, error) {
	var ids []string
	err := c.pages(ctx, "groups.list (groups of "+email+")", func() { ids = ids[:0] }, func(ctx context.Context, token string) (string, error) {
		call := c.svc.Groups.List().UserKey(userID).MaxResults(MaxGroupsPage).Fields("nextPageToken,groups(id)").Context(ctx)
		if token != "" {
			call = call.PageToken(token)
		}
		res, err := call.Do()
		if err != nil {
			return "", err
		}
		for _, g := range res.Groups {
			ids = append(ids, g.Id)
		}
		return res.NextPageToken, nil
	})
	return ids, err
}
