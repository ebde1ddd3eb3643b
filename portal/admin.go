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
	// Sync runs a sync now, or a dry run ("Test settings").
	Sync(ctx context.Context, dryRun bool) SyncOutcome
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

// SyncOutcome is the result of "Test settings" or "Synchronize now".
type SyncOutcome struct {
	DryRun bool
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

	Status  AdminStatus
	Query   string
	Users   []adminUser
	More    bool
	User    *adminUser
	Binds   []BindOutcome
	Run     *store.SyncRun
	RunView *runView
	Outcome *SyncOutcome
	Guides  []connect.Guide // the Connect page's clients
	Guide   *connect.Guide  // the one shown
	Host    string
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
	Groups, Privileges       []string
	Grantable                []string
}

const maxAdminUsers = 200

func (s *Server) adminRoutes() {
	s.mux.HandleFunc("GET /admin", s.adminHome)
	s.mux.HandleFunc("GET /admin/runs/{id}", s.adminRun)
	s.mux.HandleFunc("POST /admin/sync", s.adminSync)
	s.mux.HandleFunc("GET /admin/users", s.adminUsers)
	s.mux.HandleFunc("GET /admin/users/{id}", s.adminUser)
	s.mux.HandleFunc("POST /admin/users/{id}/grant", s.adminGrant)
	s.mux.HandleFunc("POST /admin/users/{id}/revoke", s.adminRevoke)
	s.mux.HandleFunc("GET /admin/connect", s.adminConnect)
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
	s.renderAdmin(w, http.StatusOK, "admin_run", adminPage{Title: "Sync run " + strconv.FormatInt(id, 10), SignedIn: true,
		CSRF: sess.csrf, Email: u.PrimaryEmail, Run: &run, RunView: newRunView(r, run)})
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
	dry := r.PostForm.Get("dry_run") == "1"
	s.cfg.Log.Info("admin sync", "admin", u.UID, "dry_run", dry, "audit", true)
	out := s.cfg.Admin.Sync(r.Context(), dry)
	title := "Synchronize now"
	if dry {
		title = "Test settings"
	}
	s.renderAdmin(w, http.StatusOK, "admin_sync", adminPage{Title: title, SignedIn: true, CSRF: sess.csrf, Email: u.PrimaryEmail, Outcome: &out})
}

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request) {
	sess, u, v, ok := s.admin(w, r)
	if !ok {
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	p := adminPage{Title: "Users", SignedIn: true, CSRF: sess.csrf, Email: u.PrimaryEmail, Query: q}
	lq := strings.ToLower(q)
	for _, vu := range v.Users {
		if lq != "" && !matches(vu, lq) {
			continue
		}
		if len(p.Users) == maxAdminUsers {
			p.More = true
			break
		}
		p.Users = append(p.Users, s.adminUserOf(vu, v, nil))
	}
	s.renderAdmin(w, http.StatusOK, "admin_users", p)
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
			au.Groups = append(au.Groups, g.Email)
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
	s.renderAdmin(w, status, "admin_user", adminPage{Title: vu.PrimaryEmail, SignedIn: true, CSRF: sess.csrf, Email: u.PrimaryEmail,
		User: &au, Binds: s.cfg.Admin.Binds(vu.ID), Notice: notice, Error: errMsg})
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
