// Package portal is ldapgate's web portal: users sign in with their OIDC
// provider (Google) through oidc.SignIn, see their LDAP entry (DN, groups, privileges), and create, see and
// revoke their app passwords. Server-rendered HTML, no JavaScript.
//
// Sessions live in memory (a restart signs everyone out) behind an
// HttpOnly, SameSite=Lax cookie that is Secure when the public URL is
// https; every form carries the session's CSRF token.
package portal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ldapgate/ldapgate/internal/apppassword"
	"github.com/ldapgate/ldapgate/internal/numfmt"
	"github.com/ldapgate/ldapgate/oidc"
	"github.com/ldapgate/ldapgate/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Store is what the portal needs from the store.
type Store interface {
	// AppPasswords lists a user's app passwords, revoked ones included.
	AppPasswords(ctx context.Context, userID string) ([]store.AppPassword, error)
	// CreateAppPassword stores a new app password (errors: store.ErrConflict,
	// store.ErrLimit, store.ErrNotFound).
	CreateAppPassword(ctx context.Context, ap store.AppPassword) (store.AppPassword, error)
	// RevokeAppPassword revokes one (error: store.ErrNotFound).
	RevokeAppPassword(ctx context.Context, userID string, id int64) error
}

// Config configures the portal.
type Config struct {
	// PublicURL is the portal's address as browsers see it; the redirect
	// URL is PublicURL + "/auth/callback".
	PublicURL    string
	ClientID     string
	ClientSecret string
	Provider     *oidc.Provider
	// HTTPClient talks to the provider's token endpoint (nil: default).
	HTTPClient *http.Client
	Store      Store
	Live       *store.Live
	// UserDN gives a user's LDAP DN from their UID.
	UserDN func(uid string) string
	// Services are the names app passwords may be bound to.
	Services []string
	// SessionTTL is how long a sign-in lasts.
	SessionTTL time.Duration
	// Revoked is told of each revocation (the bind cache forgets it).
	Revoked func(id int64)
	// KeepOnSuspend reports whether app passwords outlive a suspension
	// (sync.keep_app_passwords_on_suspend); the page tells the user which.
	// Nil: they do not.
	KeepOnSuspend func() bool
	// Admin, when set, serves the admin page at /admin (admin.go).
	Admin Admin
	// Sessions keeps the signed-in sessions; nil keeps them in this
	// process (sessions.go).
	Sessions Sessions
	// StateKey seals sign-ins in progress (32 bytes, the same for every
	// instance behind one address); nil: a random key of this process.
	StateKey []byte
	Log      *slog.Logger
	Now      func() time.Time
}

// Server is the portal's http.Handler.
type Server struct {
	cfg    Config
	secure bool
	cookie string // session cookie name
	tmpl   *template.Template
	mux    *http.ServeMux
	signIn *oidc.SignIn

	sessions Sessions // by sha256 of the cookie value
}

type session struct {
	userID, email string
	csrf          string
	expires       time.Time
}

// New returns the portal of cfg.
func New(cfg Config) (*Server, error) {
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("portal: bad public URL %q", cfg.PublicURL)
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.Revoked == nil {
		cfg.Revoked = func(int64) {}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"num":     numfmt.Thousands[int],
		"whenSec": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"took": func(a, b time.Time) string {
			if a.IsZero() || b.IsZero() {
				return "–"
			}
			return b.Sub(a).Round(time.Millisecond).String()
		},
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("portal: templates: %w", err)
	}
	secure := u.Scheme == "https"
	signIn, err := oidc.NewSignIn(cfg.Provider, oidc.SignInConfig{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		RedirectURL: cfg.PublicURL + "/auth/callback", CookiePath: "/auth/", Secure: secure, HTTPClient: cfg.HTTPClient,
		Now: cfg.Now, StateKey: cfg.StateKey})
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	s := &Server{cfg: cfg, secure: secure, tmpl: tmpl, mux: http.NewServeMux(), signIn: signIn, sessions: cfg.Sessions}
	if s.sessions == nil {
		s.sessions = newMemSessions(cfg.Now)
	}
	s.cookie = "ldapgate_session"
	if s.secure {
		s.cookie = "__Host-ldapgate_session"
	}
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.home)
	s.mux.HandleFunc("GET /auth/login", s.login)
	s.mux.HandleFunc("GET /auth/callback", s.callback)
	s.mux.HandleFunc("POST /auth/logout", s.logout)
	s.mux.HandleFunc("POST /app-passwords", s.create)
	s.mux.HandleFunc("POST /app-passwords/{id}/revoke", s.revoke)
	if cfg.Admin != nil {
		s.adminRoutes()
	}
	return s, nil
}

// ServeHTTP serves the portal with security headers on every answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if s.secure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
	}
	s.mux.ServeHTTP(w, r)
}

// login starts a sign-in at the provider (oidc.SignIn).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := s.signIn.Start(w, r); err != nil {
		if errors.Is(err, oidc.ErrUnreachable) {
			s.fail(w, r, http.StatusServiceUnavailable, "The sign-in provider cannot be reached. Try again later.", err)
			return
		}
		s.fail(w, r, http.StatusInternalServerError, "Sign-in failed. Please try again.", err)
	}
}

// callback ends a sign-in (oidc.SignIn verifies state, code, token and
// nonce) and requires the email to be a synced, enabled user.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	claims, err := s.signIn.Finish(w, r)
	if err != nil {
		status, msg := signInRefusal(err)
		s.fail(w, r, status, msg, err)
		return
	}
	u, ok := s.cfg.Live.Load().UserByMail(claims.Email)
	if !ok || !u.Enabled() || !u.HasAddress(claims.Email) {
		s.fail(w, r, http.StatusForbidden, "Your account is not in the directory ldapgate serves, or it is suspended. Ask your administrator.",
			fmt.Errorf("%s: not a synced, enabled user", claims.Email))
		return
	}
	id := rand.Text() + rand.Text()
	sess := store.PortalSession{Key: hashID(id), UserID: u.ID, Email: u.PrimaryEmail, CSRF: rand.Text(), Expires: s.cfg.Now().Add(s.cfg.SessionTTL)}
	if err := s.sessions.PutPortalSession(r.Context(), sess); err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, "Sign-in failed: the session could not be kept. Try again later.", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: id, Path: "/", MaxAge: int(s.cfg.SessionTTL / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	s.cfg.Log.Info("portal sign-in", "user", u.UID, "email", claims.Email, "client", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// signInRefusal is what the user is told, and with which status, when a
// sign-in does not finish; the log gets the error.
func signInRefusal(err error) (int, string) {
	switch {
	case errors.Is(err, oidc.ErrBadState):
		return http.StatusBadRequest, "This sign-in link is not valid (or is from another browser). Please sign in again."
	case errors.Is(err, oidc.ErrStateExpired):
		return http.StatusBadRequest, "This sign-in has expired. Please sign in again."
	case errors.Is(err, oidc.ErrRefused):
		return http.StatusForbidden, "Sign-in was cancelled or refused."
	case errors.Is(err, oidc.ErrToken):
		return http.StatusForbidden, "This account cannot sign in here."
	case errors.Is(err, oidc.ErrUnreachable):
		return http.StatusServiceUnavailable, "The sign-in provider cannot be reached. Try again later."
	case errors.Is(err, oidc.ErrNonce):
		return http.StatusBadRequest, "Sign-in failed. Please try again."
	default: // oidc.ErrExchange
		return http.StatusBadGateway, "Sign-in failed. Please try again."
	}
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// current returns the signed-in user, whose session must be live and who
// must still be in the view and enabled (a sync may have suspended them).
func (s *Server) current(r *http.Request) (*session, *store.ViewUser, *store.View) {
	c, err := r.Cookie(s.cookie)
	if err != nil || c.Value == "" {
		return nil, nil, nil
	}
	key := hashID(c.Value)
	ps, err := s.sessions.PortalSession(r.Context(), key)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.cfg.Log.Warn("portal session not read; the user is asked to sign in", "err", err)
		}
		return nil, nil, nil
	}
	sess := &session{userID: ps.UserID, email: ps.Email, csrf: ps.CSRF, expires: ps.Expires}
	v := s.cfg.Live.Load()
	u, ok := v.UserByID(sess.userID)
	if s.cfg.Now().After(sess.expires) || !ok || !u.Enabled() {
		if err := s.sessions.DeletePortalSession(r.Context(), key); err != nil {
			s.cfg.Log.Warn("portal session not ended", "err", err)
		}
		return nil, nil, nil
	}
	return sess, u, v
}

// checkForm parses a POST form and checks its CSRF token and origin.
func (s *Server) checkForm(w http.ResponseWriter, r *http.Request) (*session, *store.ViewUser, *store.View, bool) {
	sess, u, v := s.current(r)
	if sess == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil, nil, nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "Bad form.", err)
		return nil, nil, nil, false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != s.cfg.PublicURL {
		s.fail(w, r, http.StatusForbidden, "This form was sent from another site.", fmt.Errorf("origin %q", o))
		return nil, nil, nil, false
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(sess.csrf)) != 1 {
		s.fail(w, r, http.StatusForbidden, "This form has expired. Go back, reload the page and try again.", errors.New("CSRF token mismatch"))
		return nil, nil, nil, false
	}
	return sess, u, v, true
}

// page is what the templates render.
type page struct {
	Title      string
	Error      string
	SignedIn   bool
	CSRF       string
	Email      string
	Name       string
	DN         string
	UID        string
	Groups     []string
	Privileges []string
	Services   []string
	Passwords  []store.AppPassword
	// New is an app password just created, shown this once.
	New     string
	NewName string
	Notice  string
	// IsAdmin shows the link to the admin page (admin.go).
	IsAdmin bool
	// KeepOnSuspend: app passwords survive a suspension of the account.
	KeepOnSuspend bool
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	sess, u, v := s.current(r)
	if sess == nil {
		s.render(w, http.StatusOK, "signin.html", page{Title: "Sign in"})
		return
	}
	s.dashboard(w, r, http.StatusOK, sess, u, v, page{})
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, status int, sess *session, u *store.ViewUser, v *store.View, p page) {
	aps, err := s.cfg.Store.AppPasswords(r.Context(), u.ID)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "Something went wrong. Try again.", err)
		return
	}
	p.Title, p.SignedIn, p.CSRF = "Your directory account", true, sess.csrf
	p.Email, p.Name, p.UID, p.DN = u.PrimaryEmail, u.DisplayName, u.UID, s.cfg.UserDN(u.UID)
	p.Privileges, p.Services, p.Passwords = u.Privileges, s.cfg.Services, aps
	p.IsAdmin = s.cfg.Admin != nil && s.cfg.Admin.IsAdmin(u, v)
	p.KeepOnSuspend = s.cfg.KeepOnSuspend != nil && s.cfg.KeepOnSuspend()
	for _, gid := range u.Groups {
		if g, ok := v.GroupByID(gid); ok {
			p.Groups = append(p.Groups, g.Email)
		}
	}
	s.render(w, status, "home.html", p)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	sess, u, v, ok := s.checkForm(w, r)
	if !ok {
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	service := r.PostForm.Get("service")
	switch {
	case name == "" || len(name) > 100:
		s.dashboard(w, r, http.StatusBadRequest, sess, u, v, page{Error: "Give the app password a name of at most 100 characters."})
		return
	case service != "" && !slices.Contains(s.cfg.Services, service):
		s.dashboard(w, r, http.StatusBadRequest, sess, u, v, page{Error: "Unknown service."})
		return
	}
	pw, rec, err := apppassword.New(u.ID, name, service)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "Something went wrong. Try again.", err)
		return
	}
	ap, err := s.cfg.Store.CreateAppPassword(r.Context(), rec)
	switch {
	case errors.Is(err, store.ErrConflict):
		s.dashboard(w, r, http.StatusConflict, sess, u, v, page{Error: "You already have an app password with that name."})
		return
	case errors.Is(err, store.ErrLimit):
		s.dashboard(w, r, http.StatusConflict, sess, u, v, page{Error: fmt.Sprintf("You have %d app passwords already: revoke one first.", store.MaxActiveAppPasswords)})
		return
	case err != nil:
		s.fail(w, r, http.StatusInternalServerError, "Something went wrong. Try again.", err)
		return
	}
	s.cfg.Log.Info("app password created", "user", u.UID, "app_password", ap.ID, "name", ap.Name, "service", ap.Service, "client", r.RemoteAddr)
	// Shown in this answer only; never stored in clear.
	s.dashboard(w, r, http.StatusOK, sess, u, v, page{New: pw, NewName: ap.Name})
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	_, u, _, ok := s.checkForm(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, r, http.StatusNotFound, "No such app password.", err)
		return
	}
	if err := s.cfg.Store.RevokeAppPassword(r.Context(), u.ID, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.fail(w, r, http.StatusNotFound, "No such app password.", err)
			return
		}
		s.fail(w, r, http.StatusInternalServerError, "Something went wrong. Try again.", err)
		return
	}
	s.cfg.Revoked(id)
	s.cfg.Log.Info("app password revoked", "user", u.UID, "app_password", id, "client", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if _, _, _, ok := s.checkForm(w, r); !ok {
		return
	}
	c, _ := r.Cookie(s.cookie)
	if err := s.sessions.DeletePortalSession(r.Context(), hashID(c.Value)); err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, "Sign-out failed. Try again later.", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// fail logs err and shows the user msg, and nothing of err.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	s.cfg.Log.Warn("portal request refused", "path", r.URL.Path, "status", status, "client", r.RemoteAddr, "err", err)
	s.render(w, status, "signin.html", page{Title: "Sign in", Error: msg})
}

func (s *Server) render(w http.ResponseWriter, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.tmpl.ExecuteTemplate(w, name, p); err != nil {
		s.cfg.Log.Error("portal template", "template", name, "err", err)
	}
}
