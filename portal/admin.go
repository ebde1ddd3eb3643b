package portal

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ldapgate/ldapgate/connect"
	"github.com/ldapgate/ldapgate/internal/numfmt"
	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/planfmt"
)

// Admin is what the admin page (/admin) needs from the running gateway.
type Admin interface {
	// IsAdmin reports whether the signed-in user u may use the admin page.
	IsAdmin(u *store.ViewUser, v *store.View) bool
	// Status returns the state shown at the top of the admin page.
	Status(ctx context.Context) (AdminStatus, error)
	// SyncRun returns one sync run with its plan (error: store.ErrNotFound).
	SyncRun(ctx context.Context, id int64) (store.SyncRun, error)
	// GuardRefused reports whether run was refused by the deletion guard
	// (and may be applied anyway).
	GuardRefused(run store.SyncRun) bool
	// Sync runs a sync now, or a dry run ("Test settings").
	Sync(ctx context.Context, req SyncRequest) SyncOutcome
	// Binds returns the user's recent bind outcomes, newest first.
	Binds(userID string) []BindOutcome
	// Grant and Revoke change a user's admin grants; they persist across
	// syncs.
	Grant(ctx context.Context, userID, privilege string) error
	Revoke(ctx context.Context, userID, privilege string) error
	// Connect returns every client's settings for the running config, as
	// `ldapgate clients` prints them; host, if not "", is the name clients
	// reach ldapgate by.
	Connect(host string) []connect.Guide
}

// AdminStatus is the top of the admin page.
type AdminStatus struct {
	Runs          []store.SyncRun // newest first
	NextSync      time.Time
	LastSuccess   time.Time
	ConfigOK      bool
	ConfigError   string
	ConfigAt      time.Time
	RestartNeeded []string
	Privileges    []string // privilege names known from the config
	Version       string   // the running build, as ldapgate version prints it
}

// SyncRequest is what the admin asked for: "Test settings" is a dry run;
// Force applies a plan the deletion guard refused (the admin confirmed it).
type SyncRequest struct {
	DryRun, Force bool
	// Deletes, with Force, is the number of user deletions the admin
	// confirmed: a plan made again that deletes more is refused.
	Deletes int
}

// SyncOutcome is the result of "Test settings" or "Synchronize now".
type SyncOutcome struct {
	DryRun bool
	// Refused means the deletion guard refused the plan; Deletes is how
	// many users it deletes, the number the admin types to apply it anyway.
	Refused bool
	Deletes int
	// Filter counts the users fetched, kept, and left out by reason.
	Filter *store.FilterStats
	Checks []Check // connection checks (Google source), may be empty
	Plan   string  // the plan's summary as text (planfmt.WriteSummary)
	Counts string  // summary line
	Error  string
	RunID  int64
	// Pending means the sync goes on after the answer; its result shows
	// in the overview when done.
	Pending bool
}

// Check is one connection check of "Test settings".
type Check struct{ Name, Status, Detail, Fix string }

// BindOutcome is one recent user bind.
type BindOutcome struct {
	At     time.Time
	OK     bool
	Client string
	Reason string
}

// adminPage is what the admin templates render.
type adminPage struct {
	Title    string
	Error    string
	Notice   string
	SignedIn bool
	CSRF     string
	Email    string

	Status AdminStatus
	Query  string
	Users  []adminUser
	Pager  *pager
	User   *adminUser
	Groups []adminGroup
	Group  *adminGroup
	// Passwords are the user's app passwords; Revoking the one the
	// confirmation page names.
	Passwords []store.AppPassword
	Revoking  *store.AppPassword
	Binds     []BindOutcome
	Run       *store.SyncRun
	RunView   *runView
	Outcome   *SyncOutcome
	Guides    []connect.Guide // the Connect page's clients
	Guide     *connect.Guide  // the one shown
	Host      string
}

// runView is a sync run's plan on the admin page: its summary, then one
// page of its changes, filtered by kind and user. A first sync of 100k
// users has ~500k changes: the page never holds them all.
type runView struct {
	Summary         string
	Kinds           []string
	Kind, Who       string
	Lines           []string
	From, To, Total string
	Prev, Next      string // links to the pages around, "" at either end
}

// runPageSize is how many changes a page of a run's plan shows.
const runPageSize = 200

type adminUser struct {
	ID, UID, Email, Name, DN string
	Enabled                  bool
	Groups                   []adminGroup
	Privileges               []string
	Grantable                []string
}

// adminGroup is a group on the admin page: the groups list shows its
// counts, its own page its members.
type adminGroup struct {
	ID, CN, Email, Name string
	Users, Groups       string // direct members, thousands separated
	MemberUsers         []adminUser
	MemberGroups        []adminGroup
}

// adminPageSize is how many rows a page of users, groups or members
// shows: a directory of 100k users is never one page.
const adminPageSize = 200

// pager is one page of a list: which rows it shows of how many, and
// links to the pages around ("" at either end).
type pager struct {
	From, To, Total string
	Prev, Next      string
}

// paginate returns the page of a list of total rows that r asks for (its
// "page" parameter; past the end, the last page), as rows [start, end),
// with links that keep keep's parameters.
func paginate(r *http.Request, total int, keep url.Values) (p *pager, start, end int) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	last := max((total+adminPageSize-1)/adminPageSize, 1)
	page = min(max(page, 1), last)
	start, end = (page-1)*adminPageSize, min(page*adminPageSize, total)
	p = &pager{From: numfmt.Thousands(min(start+1, total)), To: numfmt.Thousands(end), Total: numfmt.Thousands(total)}
	link := func(page int) string {
		q := url.Values{"page": {strconv.Itoa(page)}}
		for k, v := range keep {
			if len(v) > 0 && v[0] != "" {
				q[k] = v
			}
		}
		return r.URL.Path + "?" + q.Encode()
	}
	if page > 1 {
		p.Prev = link(page - 1)
	}
	if page < last {
		p.Next = link(page + 1)
	}
	return p, start, end
}

func (s *Server) adminRoutes() {
	s.mux.HandleFunc("GET /admin", s.adminHome)
	s.mux.HandleFunc("GET /admin/runs/{id}", s.adminRun)
	s.mux.HandleFunc("POST /admin/sync", s.adminSync)
	s.mux.HandleFunc("GET /admin/users", s.adminUsers)
	s.mux.HandleFunc("GET /admin/users/{id}", s.adminUser)
	s.mux.HandleFunc("POST /admin/users/{id}/grant", s.adminGrant)
	s.mux.HandleFunc("POST /admin/users/{id}/revoke", s.adminRevoke)
	s.mux.HandleFunc("GET /admin/connect", s.adminConnect)
	s.mux.HandleFunc("GET /admin/users/{id}/app-passwords/{ap}/revoke", s.adminRevokeAppPasswordConfirm)
	s.mux.HandleFunc("POST /admin/users/{id}/app-passwords/{ap}/revoke", s.adminRevokeAppPassword)
	s.mux.HandleFunc("GET /admin/groups", s.adminGroups)
	s.mux.HandleFunc("GET /admin/groups/{id}", s.adminGroup)
}

// adminConnect is the Connect page: what to type into each client.
func (s *Server) adminConnect(w http.ResponseWriter, r *http.Request) {
	sess, u, _, ok := s.admin(w, r)
	if !ok {
		return
	}
	host := strings.TrimSpace(r.URL.Query().Get("host"))
	p := adminPage{Title: "Connect your server", SignedIn: true, CSRF: sess.csrf, Email: u.PrimaryEmail,
		Guides: s.cfg.Admin.Connect(host), Host: host}
	name := r.URL.Query().Get("client")
	if name == "" {
		name = "mailstore"
	}
	for i := range p.Guides {
		if p.Guides[i].Name == name {
			p.Guide = &p.Guides[i]
		}
	}
	status := http.StatusOK
	if p.Guide == nil {
		status, p.Error = http.StatusNotFound, "No such client."
	}
	s.renderAdmin(w, status, "admin_connect", p)
}

// admin returns the signed-in admin, or answers the request itself: the
// sign-in page without a session, 403 for a user who is not an admin.
func (s *Server) admin(w http.ResponseWriter, r *http.Request) (*session, *store.ViewUser, *store.View, bool) {
	var sess *session
	var u *store.ViewUser
	var v *store.View
	if r.Method == http.MethodPost {
		var ok bool
		if sess, u, v, ok = s.checkForm(w, r); !ok {
			return nil, nil, nil, false
		}
	} else if sess, u, v = s.current(r); sess == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil, nil, nil, false
	}
	if !s.cfg.Admin.IsAdmin(u, v) {
		s.cfg.Log.Warn("admin page refused: not an admin", "user", u.UID, "path", r.URL.Path, "client", r.RemoteAddr)
		s.renderAdmin(w, http.StatusForbidden, "admin_denied", adminPage{Title: "Not an administrator", SignedIn: true, CSRF: sess.csrf, Email: u.PrimaryEmail})
		return nil, nil, nil, false
	}
	return sess, u, v, true
}

func (s *Server) adminHome(w http.ResponseWriter, r *http.Request) {
	sess, u, _, ok := s.admin(w, r)
	if !ok {
		return
	}
	s.renderHome(w, r, http.StatusOK, sess, u, adminPage{})
}

func (s *Server) renderHome(w http.ResponseWriter, r *http.Request, status int, sess *session, u *store.ViewUser, p adminPage) {
	st, err := s.cfg.Admin.Status(r.Context())
	if err != nil {
		p.Error = "Cannot read the sync runs: " + err.Error()
	}
	p.Title, p.SignedIn, p.CSRF, p.Email, p.Status = "Administration", true, sess.csrf, u.PrimaryEmail, st
	s.renderAdmin(w, status, "admin_home", p)
}

func (s *Server) adminRun(w http.ResponseWriter, r *http.Request) {
	sess, u, _, ok := s.admin(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var run store.SyncRun
	if err == nil {
		run, err = s.cfg.Admin.SyncRun(r.Context(), id)
	}
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, strconv.ErrSyntax) {
			status = http.StatusNotFound
		}
		s.renderHome(w, r, status, sess, u, adminPage{Error: "No such sync run."})
		return
	}
	p := adminPage{Title: "Sync run " + strconv.FormatInt(id, 10), SignedIn: true,
		CSRF: sess.csrf, Email: u.PrimaryEmail, Run: &run, RunView: newRunView(r, run)}
	// A scheduled sync the guard refused is applied anyway from here.
	if s.forceable(r.Context(), run) == "" {
		p.Outcome = &SyncOutcome{Refused: true, RunID: run.ID, Deletes: run.Plan.Counts().UsersDeleted}
	}
	s.renderAdmin(w, http.StatusOK, "admin_run", p)
}

func newRunView(r *http.Request, run store.SyncRun) *runView {
	q := r.URL.Query()
	v := &runView{Kinds: planfmt.Kinds, Kind: q.Get("kind"), Who: strings.TrimSpace(q.Get("user"))}
	if !slices.Contains(v.Kinds, v.Kind) {
		v.Kind = ""
	}
	if run.Plan == nil || run.Plan.Empty() {
		return v
	}
	var b strings.Builder
	planfmt.WriteSummary(&b, run.Plan, 5)
	v.Summary = b.String()
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	lines, total := planfmt.Page(run.Plan, v.Kind, v.Who, (page-1)*runPageSize, runPageSize)
	if len(lines) == 0 && total > 0 { // past the end: the last page
		page = (total + runPageSize - 1) / runPageSize
		lines, _ = planfmt.Page(run.Plan, v.Kind, v.Who, (page-1)*runPageSize, runPageSize)
	}
	v.Lines, v.Total = lines, numfmt.Thousands(total)
	from := (page-1)*runPageSize + 1
	v.From, v.To = numfmt.Thousands(from), numfmt.Thousands(from+len(lines)-1)
	link := func(page int) string {
		q := url.Values{"page": {strconv.Itoa(page)}}
		if v.Kind != "" {
			q.Set("kind", v.Kind)
		}
		if v.Who != "" {
			q.Set("user", v.Who)
		}
		return r.URL.Path + "?" + q.Encode()
	}
	if page > 1 {
		v.Prev = link(page - 1)
	}
	if page*runPageSize < total {
		v.Next = link(page + 1)
	}
	return v
}

func (s *Server) adminSync(w http.ResponseWriter, r *http.Request) {
	sess, u, _, ok := s.admin(w, r)
	if !ok {
		return
	}
	req := SyncRequest{DryRun: r.PostForm.Get("dry_run") == "1", Force: r.PostForm.Get("force") == "1"}
	title := "Synchronize now"
	if req.DryRun {
		title = "Test settings"
	}
	p := adminPage{Title: title, SignedIn: true, CSRF: sess.csrf, Email: u.PrimaryEmail}
	if req.Force {
		req.DryRun, p.Title = false, "Apply anyway"
		var msg string
		if req.Deletes, msg = s.checkForce(r); msg != "" {
			s.cfg.Log.Warn("admin forced sync refused", "admin", u.UID, "why", msg)
			p.Error = msg
			s.renderAdmin(w, http.StatusBadRequest, "admin_sync", p)
			return
		}
	}
	s.cfg.Log.Info("admin sync", "admin", u.UID, "dry_run", req.DryRun, "force", req.Force, "audit", true)
	out := s.cfg.Admin.Sync(r.Context(), req)
	p.Outcome = &out
	s.renderAdmin(w, http.StatusOK, "admin_sync", p)
}

// checkForce checks the typed confirmation of "apply anyway": the number
// of user deletions of the refused run the form names. It returns that
// number, or what is wrong.
func (s *Server) checkForce(r *http.Request) (int, string) {
	id, err := strconv.ParseInt(r.PostForm.Get("run"), 10, 64)
	if err != nil {
		return 0, "Which refused sync to apply is missing: start again from Synchronize now."
	}
	run, err := s.cfg.Admin.SyncRun(r.Context(), id)
	if err != nil {
		return 0, "No such sync run: start again from Synchronize now."
	}
	if msg := s.forceable(r.Context(), run); msg != "" {
		return 0, msg
	}
	want := run.Plan.Counts().UsersDeleted
	typed := strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("confirm")), ",", "")
	if typed != strconv.Itoa(want) {
		return 0, "Type the number of users the sync deletes (" + numfmt.Thousands(want) + ") to apply it anyway. Nothing was changed."
	}
	return want, ""
}

// forceable returns why run cannot be applied anyway, or "": it must be
// the deletion guard's refusal, and the newest run (a later one planned
// from a newer fetch).
func (s *Server) forceable(ctx context.Context, run store.SyncRun) string {
	if !s.cfg.Admin.GuardRefused(run) || run.Plan == nil {
		return "That sync run was not refused by the deletion guard: start again from Synchronize now."
	}
	st, err := s.cfg.Admin.Status(ctx)
	if err != nil || len(st.Runs) == 0 || st.Runs[0].ID != run.ID {
		return "Another sync ran since: start again from Synchronize now."
	}
	return ""
}

// search returns the items that match the lowercased query q (all for an
// empty one).
func search[T any](items []T, q string, match func(T, string) bool) []T {
	lq := strings.ToLower(q)
	if lq == "" {
		return items
	}
	var found []T
	for _, it := range items {
		if match(it, lq) {
			found = append(found, it)
		}
	}
	return found
}

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request) {
	sess, u, v, ok := s.admin(w, r)
	if !ok {
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	p := adminPage{Title: "Users", SignedIn: true, CSRF: sess.csrf, Email: u.PrimaryEmail, Query: q}
	found := search(v.Users, q, matches)
	var start, end int
	p.Pager, start, end = paginate(r, len(found), url.Values{"q": {q}})
	for _, vu := range found[start:end] {
		p.Users = append(p.Users, s.adminUserOf(vu, v, nil))
	}
	s.renderAdmin(w, http.StatusOK, "admin_users", p)
}

func (s *Server) adminGroups(w http.ResponseWriter, r *http.Request) {
	sess, u, v, ok := s.admin(w, r)
	if !ok {
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	p := adminPage{Title: "Groups", SignedIn: true, CSRF: sess.csrf, Email: u.PrimaryEmail, Query: q}
	found := search(v.Groups, q, func(g *store.ViewGroup, lq string) bool {
		return strings.Contains(strings.ToLower(g.CN), lq) || strings.Contains(strings.ToLower(g.Email), lq) ||
			strings.Contains(strings.ToLower(g.Name), lq)
	})
	var start, end int
	p.Pager, start, end = paginate(r, len(found), url.Values{"q": {q}})
	for _, g := range found[start:end] {
		p.Groups = append(p.Groups, s.adminGroupOf(g))
	}
	s.renderAdmin(w, http.StatusOK, "admin_groups", p)
}

func (s *Server) adminGroupOf(g *store.ViewGroup) adminGroup {
	return adminGroup{ID: g.ID, CN: g.CN, Email: g.Email, Name: g.Name,
		Users: numfmt.Thousands(len(g.MemberUsers)), Groups: numfmt.Thousands(len(g.MemberGroups))}
}

// adminGroup shows a group's direct members: its users a page at a time
// (a group of everyone has as many as the directory), its groups whole.
func (s *Server) adminGroup(w http.ResponseWriter, r *http.Request) {
	sess, u, v, ok := s.admin(w, r)
	if !ok {
		return
	}
	g, ok := v.GroupByID(r.PathValue("id"))
	if !ok {
		s.renderHome(w, r, http.StatusNotFound, sess, u, adminPage{Error: "No such group."})
		return
	}
	ag := s.adminGroupOf(g)
	pg, start, end := paginate(r, len(g.MemberUsers), nil)
	for _, id := range g.MemberUsers[start:end] {
		if mu, ok := v.UserByID(id); ok {
			ag.MemberUsers = append(ag.MemberUsers, s.adminUserOf(mu, v, nil))
		}
	}
	for _, id := range g.MemberGroups {
		if mg, ok := v.GroupByID(id); ok {
			ag.MemberGroups = append(ag.MemberGroups, s.adminGroupOf(mg))
		}
	}
	s.renderAdmin(w, http.StatusOK, "admin_group", adminPage{Title: g.Email, SignedIn: true, CSRF: sess.csrf, Email: u.PrimaryEmail,
		Group: &ag, Pager: pg})
}

func matches(u *store.ViewUser, q string) bool {
	if strings.Contains(strings.ToLower(u.UID), q) || strings.Contains(strings.ToLower(u.PrimaryEmail), q) ||
		strings.Contains(strings.ToLower(u.DisplayName), q) {
		return true
	}
	for _, a := range u.Aliases {
		if strings.Contains(strings.ToLower(a), q) {
			return true
		}
	}
	return false
}

func (s *Server) adminUserOf(vu *store.ViewUser, v *store.View, privileges []string) adminUser {
	au := adminUser{ID: vu.ID, UID: vu.UID, Email: vu.PrimaryEmail, Name: vu.DisplayName, DN: s.cfg.UserDN(vu.UID),
		Enabled: vu.Enabled(), Privileges: vu.Privileges}
	for _, gid := range vu.Groups {
		if g, ok := v.GroupByID(gid); ok {
			au.Groups = append(au.Groups, s.adminGroupOf(g))
		}
	}
	for _, p := range privileges {
		if !slices.Contains(vu.Privileges, p) {
			au.Grantable = append(au.Grantable, p)
		}
	}
	return au
}

func (s *Server) adminUser(w http.ResponseWriter, r *http.Request) {
	sess, u, v, ok := s.admin(w, r)
	if !ok {
		return
	}
	s.renderUser(w, r, http.StatusOK, sess, u, v, r.PathValue("id"), "", "")
}

func (s *Server) renderUser(w http.ResponseWriter, r *http.Request, status int, sess *session, u *store.ViewUser, v *store.View, id, notice, errMsg string) {
	vu, ok := v.UserByID(id)
	if !ok {
		s.renderHome(w, r, http.StatusNotFound, sess, u, adminPage{Error: "No such user."})
		return
	}
	st, _ := s.cfg.Admin.Status(r.Context())
	au := s.adminUserOf(vu, v, st.Privileges)
	aps, err := s.cfg.Store.AppPasswords(r.Context(), vu.ID)
	if err != nil {
		s.cfg.Log.Error("admin page: app passwords", "user", vu.UID, "err", err)
		if errMsg == "" {
			errMsg = "Cannot read the app passwords."
		}
	}
	s.renderAdmin(w, status, "admin_user", adminPage{Title: vu.PrimaryEmail, SignedIn: true, CSRF: sess.csrf, Email: u.PrimaryEmail,
		User: &au, Binds: s.cfg.Admin.Binds(vu.ID), Passwords: aps, Notice: notice, Error: errMsg})
}

// appPasswordOf returns the user's active app password that r names, or
// answers the request itself: 404 for an unknown user or app password, or
// one already revoked.
func (s *Server) appPasswordOf(w http.ResponseWriter, r *http.Request, sess *session, u *store.ViewUser, v *store.View) (*store.ViewUser, *store.AppPassword, bool) {
	target, ok := v.UserByID(r.PathValue("id"))
	if !ok {
		s.renderHome(w, r, http.StatusNotFound, sess, u, adminPage{Error: "No such user."})
		return nil, nil, false
	}
	id, err := strconv.ParseInt(r.PathValue("ap"), 10, 64)
	if err == nil {
		var aps []store.AppPassword
		if aps, err = s.cfg.Store.AppPasswords(r.Context(), target.ID); err != nil {
			s.cfg.Log.Error("admin page: app passwords", "user", target.UID, "err", err)
			s.renderUser(w, r, http.StatusInternalServerError, sess, u, v, target.ID, "", "Cannot read the app passwords.")
			return nil, nil, false
		}
		for i := range aps {
			if aps[i].ID == id && !aps[i].Revoked {
				return target, &aps[i], true
			}
		}
	}
	s.renderUser(w, r, http.StatusNotFound, sess, u, v, target.ID, "", "No such app password, or it is revoked already.")
	return nil, nil, false
}

// adminRevokeAppPasswordConfirm is the step before a revocation: it names
// what goes, so that a slip of the mouse revokes nothing.
func (s *Server) adminRevokeAppPasswordConfirm(w http.ResponseWriter, r *http.Request) {
	sess, u, v, ok := s.admin(w, r)
	if !ok {
		return
	}
	target, ap, ok := s.appPasswordOf(w, r, sess, u, v)
	if !ok {
		return
	}
	au := s.adminUserOf(target, v, nil)
	s.renderAdmin(w, http.StatusOK, "admin_revoke_app_password", adminPage{Title: "Revoke an app password", SignedIn: true,
		CSRF: sess.csrf, Email: u.PrimaryEmail, User: &au, Revoking: ap})
}

func (s *Server) adminRevokeAppPassword(w http.ResponseWriter, r *http.Request) {
	sess, u, v, ok := s.admin(w, r)
	if !ok {
		return
	}
	target, ap, ok := s.appPasswordOf(w, r, sess, u, v)
	if !ok {
		return
	}
	if err := s.cfg.Store.RevokeAppPassword(r.Context(), target.ID, ap.ID); err != nil {
		s.cfg.Log.Error("admin app password revocation failed", "admin", u.UID, "user", target.UID, "app_password", ap.ID, "err", err)
		s.renderUser(w, r, http.StatusInternalServerError, sess, u, v, target.ID, "", "The app password could not be revoked.")
		return
	}
	s.cfg.Revoked(ap.ID)
	s.cfg.Log.Info("admin app password revoked", "admin", u.UID, "user", target.UID, "app_password", ap.ID, "name", ap.Name, "audit", true)
	s.renderUser(w, r, http.StatusOK, sess, u, v, target.ID, "App password "+strconv.Quote(ap.Name)+" of "+target.PrimaryEmail+" revoked.", "")
}

func (s *Server) adminGrant(w http.ResponseWriter, r *http.Request)  { s.adminChange(w, r, true) }
func (s *Server) adminRevoke(w http.ResponseWriter, r *http.Request) { s.adminChange(w, r, false) }

func (s *Server) adminChange(w http.ResponseWriter, r *http.Request, grant bool) {
	sess, u, v, ok := s.admin(w, r)
	if !ok {
		return
	}
	id, priv := r.PathValue("id"), strings.TrimSpace(r.PostForm.Get("privilege"))
	target, ok := v.UserByID(id)
	if !ok {
		s.renderHome(w, r, http.StatusNotFound, sess, u, adminPage{Error: "No such user."})
		return
	}
	var err error
	verb := "granted to"
	if grant {
		err = s.cfg.Admin.Grant(r.Context(), id, priv)
	} else {
		verb = "revoked from"
		err = s.cfg.Admin.Revoke(r.Context(), id, priv)
	}
	if err != nil {
		s.cfg.Log.Warn("admin privilege change failed", "admin", u.UID, "user", target.UID, "privilege", priv, "grant", grant, "err", err)
		s.renderUser(w, r, http.StatusBadRequest, sess, u, v, id, "", "The privilege could not be changed: "+err.Error())
		return
	}
	s.cfg.Log.Info("admin privilege change", "admin", u.UID, "user", target.UID, "privilege", priv, "grant", grant, "audit", true)
	// The gateway rebuilt the view; show the new one.
	s.renderUser(w, r, http.StatusOK, sess, u, s.cfg.Live.Load(), id, "Privilege "+priv+" "+verb+" "+target.PrimaryEmail+".", "")
}

func (s *Server) renderAdmin(w http.ResponseWriter, status int, name string, p adminPage) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.tmpl.ExecuteTemplate(w, name, p); err != nil {
		s.cfg.Log.Error("portal template", "template", name, "err", err)
	}
}
