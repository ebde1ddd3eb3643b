package googletest

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	admin "google.golang.org/api/admin/directory/v1"
	reports "google.golang.org/api/admin/reports/v1"
)

// ScopeReports is the Reports API's read-only audit scope.
const ScopeReports = reports.AdminReportsAuditReadonlyScope

// Event types and names of the admin application, as Google's event
// reference names them (USER_SETTINGS and GROUP_SETTINGS).
const (
	TypeUserSettings  = "USER_SETTINGS"
	TypeGroupSettings = "GROUP_SETTINGS"
)

// An activity as the fake keeps it.
type activity struct {
	at time.Time // the event's time
	a  *reports.Activity
}

// Event is one admin event to record with AddEvent.
type Event struct {
	Type, Name string
	// Params are the event's parameters (USER_EMAIL, GROUP_EMAIL, ...).
	Params map[string]string
	// At is the event's time; zero means now.
	At time.Time
	// ID, if not 0, is the activity's uniqueQualifier: two events with the
	// same ID and time are one activity reported twice.
	ID int64
}

// SetReportLag makes recorded events visible to activities.list only d
// after they happen, as Google's reports lag behind the changes.
func (s *Server) SetReportLag(d time.Duration) { s.mu.Lock(); s.reportLag = d; s.mu.Unlock() }

// SetAuditing turns the recording of events for the fake's changes on (the
// default) or off; off, changes happen without an event, as when events
// are lost.
func (s *Server) SetAuditing(on bool) { s.mu.Lock(); s.noAudit = !on; s.mu.Unlock() }

// AddEvent records an admin event (a duplicate when e.ID repeats one) and
// returns its uniqueQualifier.
func (s *Server) AddEvent(e Event) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addEvent(e)
}

// EventNames returns the names of the events recorded so far, oldest
// first.
func (s *Server) EventNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range s.activities {
		for _, e := range a.a.Events {
			out = append(out, e.Name)
		}
	}
	return out
}

// addEvent records e. s.mu is held.
func (s *Server) addEvent(e Event) int64 {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if e.ID == 0 {
		s.eventSeq++
		e.ID = e.At.UnixNano()/1000 + s.eventSeq
	}
	params := make([]*reports.ActivityEventsParameters, 0, len(e.Params))
	for _, k := range slices.Sorted(maps.Keys(e.Params)) {
		params = append(params, &reports.ActivityEventsParameters{Name: k, Value: e.Params[k]})
	}
	actor := "admin@example.com"
	for a, ok := range s.admins {
		if ok {
			actor = a
			break
		}
	}
	a := &reports.Activity{
		Kind: "admin#reports#activity",
		Id: &reports.ActivityId{
			Time: e.At.UTC().Format("2006-01-02T15:04:05.000Z"), UniqueQualifier: e.ID,
			ApplicationName: "admin", CustomerId: s.CustomerID,
		},
		Actor:  &reports.ActivityActor{Email: actor, CallerType: "USER"},
		Events: []*reports.ActivityEvents{{Type: e.Type, Name: e.Name, Parameters: params}},
	}
	s.activities = append(s.activities, activity{at: e.At, a: a})
	return e.ID
}

// audit records the event of a change made through the fake, unless
// auditing is off. s.mu is held.
func (s *Server) audit(typ, name string, params ...string) {
	if s.noAudit {
		return
	}
	m := make(map[string]string, len(params)/2)
	for i := 0; i+1 < len(params); i += 2 {
		m[params[i]] = params[i+1]
	}
	s.addEvent(Event{Type: typ, Name: name, Params: m})
}

// auditUser records the events Google records when old becomes u (old nil:
// created). s.mu is held.
func (s *Server) auditUser(old, u *admin.User) {
	if old == nil {
		s.audit(TypeUserSettings, "CREATE_USER", "USER_EMAIL", u.PrimaryEmail)
		return
	}
	email := old.PrimaryEmail
	if !strings.EqualFold(old.PrimaryEmail, u.PrimaryEmail) {
		s.audit(TypeUserSettings, "RENAME_USER", "USER_EMAIL", old.PrimaryEmail, "NEW_VALUE", u.PrimaryEmail)
		email = u.PrimaryEmail
	}
	if old.Suspended != u.Suspended {
		name := "SUSPEND_USER"
		if !u.Suspended {
			name = "UNSUSPEND_USER"
		}
		s.audit(TypeUserSettings, name, "USER_EMAIL", email)
	}
	if old.Archived != u.Archived {
		name := "ARCHIVE_USER"
		if !u.Archived {
			name = "UNARCHIVE_USER"
		}
		s.audit(TypeUserSettings, name, "USER_EMAIL", email)
	}
	if old.OrgUnitPath != u.OrgUnitPath {
		s.audit(TypeUserSettings, "MOVE_USER_TO_ORG_UNIT", "USER_EMAIL", email, "ORG_UNIT_NAME", old.OrgUnitPath, "NEW_VALUE", u.OrgUnitPath)
	}
	on, nn := nameOf(old), nameOf(u)
	if on.GivenName != nn.GivenName {
		s.audit(TypeUserSettings, "CHANGE_FIRST_NAME", "USER_EMAIL", email, "NEW_VALUE", nn.GivenName)
	}
	if on.FamilyName != nn.FamilyName {
		s.audit(TypeUserSettings, "CHANGE_LAST_NAME", "USER_EMAIL", email, "NEW_VALUE", nn.FamilyName)
	}
	for _, a := range u.Aliases {
		if !containsFold(old.Aliases, a) {
			s.audit(TypeUserSettings, "ADD_NICKNAME", "USER_EMAIL", email, "USER_NICKNAME", a)
		}
	}
	for _, a := range old.Aliases {
		if !containsFold(u.Aliases, a) {
			s.audit(TypeUserSettings, "REMOVE_NICKNAME", "USER_EMAIL", email, "USER_NICKNAME", a)
		}
	}
}

func nameOf(u *admin.User) admin.UserName {
	if u.Name == nil {
		return admin.UserName{}
	}
	return *u.Name
}

func containsFold(l []string, s string) bool {
	return slices.ContainsFunc(l, func(x string) bool { return strings.EqualFold(x, s) })
}

// auditGroup records the events of old becoming g (old nil: created).
// s.mu is held.
func (s *Server) auditGroup(old, g *admin.Group) {
	switch {
	case old == nil:
		s.audit(TypeGroupSettings, "CREATE_GROUP", "GROUP_EMAIL", g.Email)
	case !strings.EqualFold(old.Email, g.Email):
		s.audit(TypeGroupSettings, "CHANGE_GROUP_EMAIL", "GROUP_EMAIL", old.Email, "NEW_VALUE", g.Email)
	case old.Name != g.Name:
		s.audit(TypeGroupSettings, "CHANGE_GROUP_NAME", "GROUP_EMAIL", g.Email, "NEW_VALUE", g.Name)
	}
}

// auditMembers records the membership events of a group's member list
// changing from old to ms. s.mu is held.
func (s *Server) auditMembers(groupID string, old, ms []*admin.Member) {
	g := s.findGroup(groupID)
	if g == nil {
		return
	}
	has := func(l []*admin.Member, m *admin.Member) bool {
		return slices.ContainsFunc(l, func(x *admin.Member) bool { return x.Id == m.Id })
	}
	for _, m := range ms {
		if !has(old, m) {
			s.audit(TypeGroupSettings, "ADD_GROUP_MEMBER", "USER_EMAIL", m.Email, "GROUP_EMAIL", g.Email)
		}
	}
	for _, m := range old {
		if !has(ms, m) {
			s.audit(TypeGroupSettings, "REMOVE_GROUP_MEMBER", "USER_EMAIL", m.Email, "GROUP_EMAIL", g.Email)
		}
	}
}

// Page sizes of activities.list.
const (
	defaultActivitiesPage = 1000
	maxActivitiesPage     = 1000
)

// listActivities is activities.list: the admin application's events of
// every user (userKey all), newest first, between startTime and endTime,
// only those older than the report lag.
func (s *Server) listActivities(c *apiCall) {
	if !c.needScope(ScopeReports) {
		return
	}
	if app := c.r.PathValue("app"); app != "admin" {
		c.fail(400, "invalid", fmt.Sprintf("Invalid value '%s'. Values must match the following regular expression: '(admin)|(calendar)|(drive)|(login)|...'", app), nil)
		return
	}
	if key := c.r.PathValue("userKey"); key != "all" {
		c.fail(400, "invalid", "Only userKey all is served by the fake", nil)
		return
	}
	q := c.r.URL.Query()
	s.mu.Lock()
	now := s.now()
	lag := s.reportLag
	all := s.activities
	s.mu.Unlock()
	parse := func(name string) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, true
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			c.fail(400, "invalid", fmt.Sprintf("Invalid value '%s' for %s: must be in RFC 3339 format", v, name), nil)
			return time.Time{}, false
		}
		return t, true
	}
	start, ok := parse("startTime")
	if !ok {
		return
	}
	end, ok := parse("endTime")
	if !ok {
		return
	}
	if !start.IsZero() && start.After(now) {
		c.fail(400, "invalid", "Start time must be less than or equal to the current time.", nil)
		return
	}
	if !start.IsZero() && !end.IsZero() && start.After(end) {
		c.fail(400, "invalid", "Start time must be less than or equal to the end time.", nil)
		return
	}
	name := q.Get("eventName")
	var items []activity
	for _, a := range all {
		switch {
		case a.at.Add(lag).After(now): // not reported yet
		case !start.IsZero() && a.at.Before(start):
		case !end.IsZero() && !a.at.Before(end):
		case name != "" && a.a.Events[0].Name != name:
		default:
			items = append(items, a)
		}
	}
	slices.SortStableFunc(items, func(x, y activity) int { return y.at.Compare(x.at) })
	// Page tokens count from the newest event; the listing must not depend
	// on events still to come, so a token is tied to the listing's bounds.
	list := "activities:" + q.Get("startTime") + "," + q.Get("endTime") + "," + name
	from, to, next, ok := s.page(c, list, len(items), defaultActivitiesPage, maxActivitiesPage)
	if !ok {
		return
	}
	docs := make([]any, 0, to-from)
	for _, a := range items[from:to] {
		docs = append(docs, toDoc(a.a))
	}
	c.replyList("admin#reports#activities", "items", docs, next)
}

// getUser is users.get: by id, primary email or alias.
func (s *Server) getUser(c *apiCall) {
	if !c.needScope(ScopeUsers, admin.AdminDirectoryUserScope) {
		return
	}
	if s.applyFault(c) {
		return
	}
	key := c.r.PathValue("key")
	s.mu.Lock()
	var d map[string]any
	for _, u := range s.users {
		if u.Id == key || strings.EqualFold(u.PrimaryEmail, key) || containsFold(u.Aliases, key) {
			d = s.doc(u)
			break
		}
	}
	s.mu.Unlock()
	if d == nil {
		c.fail(404, "notFound", "Resource Not Found: userKey", nil)
		return
	}
	var schemas []string
	switch p := c.r.URL.Query().Get("projection"); p {
	case "", "basic":
	case "full":
		schemas = []string{"*"}
	case "custom":
		schemas = strings.Split(c.r.URL.Query().Get("customFieldMask"), ",")
	default:
		c.fail(400, "invalid", "Invalid value for projection: "+p, nil)
		return
	}
	c.reply(withSchemas(d, schemas))
}

// groupsOfUser is groups.list with userKey: the groups a user or group is
// a direct member of.
func (s *Server) groupsOfUser(c *apiCall, key string) {
	s.mu.Lock()
	id := key
	for _, u := range s.users {
		if strings.EqualFold(u.PrimaryEmail, key) || containsFold(u.Aliases, key) {
			id = u.Id
		}
	}
	var groups []*admin.Group
	for _, g := range s.groups {
		if slices.ContainsFunc(s.members[g.Id], func(m *admin.Member) bool { return m.Id == id }) {
			groups = append(groups, g)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(groups, func(a, b *admin.Group) int { return cmp.Compare(a.Email, b.Email) })
	from, to, next, ok := s.page(c, "groups:"+id, len(groups), 200, 200)
	if !ok {
		return
	}
	c.replyList("admin#directory#groups", "groups", docsOf(s, groups[from:to]), next)
}
