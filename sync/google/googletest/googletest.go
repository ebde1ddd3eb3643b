// Package googletest is a fake of Google's OAuth token endpoint, of the
// Admin SDK Directory API (users, groups, members, org units) and of the
// Reports API's admin activities, served by httptest for the Google
// source's tests and benchmarks.
//
// It checks what Google checks: the JWT assertion's RS256 signature
// against the service account's registered public key, its iss, sub, aud,
// scope, iat and exp; domain-wide delegation of each scope; that the
// impersonated user is an administrator; the bearer token and its scopes.
// It pages with opaque page tokens, enforces the maxResults limits, honours
// `fields` partial responses, and injects faults. Changes made through
// PutUser, DeleteUser, PutGroup, DeleteGroup and SetMembers are recorded as
// admin events (activities.list), visible after the report lag.
package googletest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admin "google.golang.org/api/admin/directory/v1"
)

// Scopes.
const (
	ScopeUsers   = admin.AdminDirectoryUserReadonlyScope
	ScopeGroups  = admin.AdminDirectoryGroupReadonlyScope
	ScopeMembers = admin.AdminDirectoryGroupMemberReadonlyScope
	ScopeOrgUnit = admin.AdminDirectoryOrgunitReadonlyScope
)

// AllScopes are the scopes ldapgate may ask for.
var AllScopes = []string{ScopeUsers, ScopeGroups, ScopeMembers, ScopeOrgUnit, ScopeReports}

// Server is the fake. Its exported fields may be set before the first call.
type Server struct {
	// URL is the server's base URL; APIEndpoint the Directory API base
	// (URL + "/") and TokenURL the token endpoint.
	URL, APIEndpoint, TokenURL string
	// CustomerID is the organisation's customer ID (my_customer works too).
	CustomerID string
	// Audience is the aud the token endpoint accepts in JWT assertions
	// (default TokenURL). Google's token URL here makes the fake a private
	// token endpoint in front of Google.
	Audience string

	srv *httptest.Server

	mu          sync.Mutex
	latency     time.Duration
	now         func() time.Time
	accounts    map[string]*account // by email
	admins      map[string]bool     // lower-case emails
	apiDisabled bool
	users       []*admin.User
	groups      []*admin.Group
	members     map[string][]*admin.Member // by group id
	orgUnits    map[string]bool            // lower-case paths
	domains     []string
	faults      []*Fault
	tokens      map[string]*grant
	epoch       int // page tokens of older epochs have expired
	calls       map[string]int
	requests    []Request
	maxInFlight int
	inFlight    int
	quota       Quota
	quotaTokens float64
	quotaAt     time.Time
	refused     int // calls refused by the quota
	// docs holds each stored object as generic JSON, made when it is
	// stored, so that a partial response only copies the fields asked for.
	docs map[any]map[string]any

	activities []activity // admin events, in the order recorded
	eventSeq   int64
	reportLag  time.Duration
	noAudit    bool
}

type account struct {
	sa        *ServiceAccount
	keys      map[string]*rsa.PublicKey // by key id
	delegated map[string]bool           // scopes
}

type grant struct {
	subject string
	scopes  map[string]bool
	expiry  time.Time
}

// Request is one API or token call the server answered.
type Request struct {
	Call  string // token, users.list, users.get, groups.list, groups.get, members.list, orgunits.get, activities.list
	Query url.Values
	// Subject is the user the access token acts as.
	Subject string
	Status  int
}

// New starts a fake with domain example.com, customer ID C0test, and no
// data; it is closed when the test ends.
func New(tb testing.TB) *Server {
	s := Start()
	tb.Cleanup(s.Close)
	return s
}

// Start starts a fake like New, outside a test (e.g. in a benchmark's
// helper process); Close stops it. It also serves GET /_stats (the calls
// answered, as JSON) and POST /_reset (ResetCounts).
func Start() *Server {
	s := &Server{
		CustomerID: "C0test",
		now:        time.Now,
		accounts:   make(map[string]*account),
		admins:     make(map[string]bool),
		members:    make(map[string][]*admin.Member),
		orgUnits:   make(map[string]bool),
		domains:    []string{"example.com"},
		tokens:     make(map[string]*grant),
		calls:      make(map[string]int),
		docs:       make(map[any]map[string]any),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("GET /admin/directory/v1/users", s.api("users.list", s.listUsers))
	mux.HandleFunc("GET /admin/directory/v1/users/{key}", s.api("users.get", s.getUser))
	mux.HandleFunc("GET /admin/directory/v1/groups", s.api("groups.list", s.listGroups))
	mux.HandleFunc("GET /admin/directory/v1/groups/{key}", s.api("groups.get", s.getGroup))
	mux.HandleFunc("GET /admin/directory/v1/groups/{key}/members", s.api("members.list", s.listMembers))
	mux.HandleFunc("GET /admin/directory/v1/customer/{customer}/orgunits/{path...}", s.api("orgunits.get", s.getOrgUnit))
	mux.HandleFunc("GET /admin/reports/v1/activity/users/{userKey}/applications/{app}", s.api("activities.list", s.listActivities))
	mux.HandleFunc("GET /_stats", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(Stats{Calls: s.Calls(), MaxInFlight: s.MaxInFlight(), QuotaRefused: s.QuotaRefused()})
	})
	mux.HandleFunc("POST /_reset", func(w http.ResponseWriter, _ *http.Request) { s.ResetCounts() })
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	s.APIEndpoint = s.srv.URL + "/"
	s.TokenURL = s.srv.URL + "/token"
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Stats is what GET /_stats answers.
type Stats struct {
	Calls        map[string]int `json:"calls"`
	MaxInFlight  int            `json:"maxInFlight"`
	QuotaRefused int            `json:"quotaRefused"`
}

// APICalls counts the Directory API calls (not token calls).
func (st Stats) APICalls() int {
	n := 0
	for k, v := range st.Calls {
		if k != "token" {
			n += v
		}
	}
	return n
}

// SetLatency adds d to every call.
func (s *Server) SetLatency(d time.Duration) { s.mu.Lock(); s.latency = d; s.mu.Unlock() }

// SetNow sets the server's clock (token expiry and JWT checks).
func (s *Server) SetNow(now func() time.Time) { s.mu.Lock(); s.now = now; s.mu.Unlock() }

// Quota is a per-minute quota like the Directory API's (queries per minute
// per user per project): a token bucket of Calls, refilled evenly over Per.
// Others is the share of it that something else (another tool of the same
// project) uses all along. Calls beyond it are answered as Google does:
// 403, reason userRateLimitExceeded.
type Quota struct {
	Calls  int
	Per    time.Duration
	Others float64
}

// SetQuota enforces q on Directory API calls (not token calls), starting
// with a full bucket (less the others' share); a zero Quota turns it off.
func (s *Server) SetQuota(q Quota) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quota = q
	s.quotaTokens = q.ours()
	s.quotaAt = s.now()
}

// ours is the bucket's size left to ldapgate.
func (q Quota) ours() float64 { return float64(q.Calls) * (1 - q.Others) }

// takeQuota reports whether a call fits in the quota, and counts it. s.mu
// is held.
func (s *Server) takeQuota() bool {
	q := s.quota
	if q.Calls <= 0 || q.Per <= 0 {
		return true
	}
	now := s.now()
	s.quotaTokens = min(q.ours(), s.quotaTokens+now.Sub(s.quotaAt).Seconds()*q.ours()/q.Per.Seconds())
	s.quotaAt = now
	if s.quotaTokens < 1 {
		s.refused++
		return false
	}
	s.quotaTokens--
	return true
}

// QuotaRefused returns how many calls the quota refused.
func (s *Server) QuotaRefused() int { s.mu.Lock(); defer s.mu.Unlock(); return s.refused }

// AddServiceAccount registers sa and its current public key. Call it again
// with sa.WithNewKey to add a second key.
func (s *Server) AddServiceAccount(sa *ServiceAccount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[sa.Email]
	if a == nil {
		a = &account{sa: sa, keys: make(map[string]*rsa.PublicKey), delegated: make(map[string]bool)}
		s.accounts[sa.Email] = a
	}
	a.keys[sa.KeyID] = &sa.Key.PublicKey
}

// DeleteKey revokes one key of a service account.
func (s *Server) DeleteKey(sa *ServiceAccount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[sa.Email]; a != nil {
		delete(a.keys, sa.KeyID)
	}
}

// Delegate sets the scopes of the service account's domain-wide
// delegation (the Admin console's list for its client ID); none removes it.
func (s *Server) Delegate(sa *ServiceAccount, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[sa.Email]
	if a == nil {
		panic("googletest: Delegate before AddServiceAccount")
	}
	a.delegated = make(map[string]bool)
	for _, sc := range scopes {
		a.delegated[sc] = true
	}
}

// SetAPIEnabled enables or disables the Admin SDK API in the project.
func (s *Server) SetAPIEnabled(on bool) { s.mu.Lock(); s.apiDisabled = !on; s.mu.Unlock() }

// SetAdmin makes the user with this email an administrator (or not).
func (s *Server) SetAdmin(email string, isAdmin bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.admins[strings.ToLower(email)] = isAdmin
}

// AddDomain adds a secondary domain.
func (s *Server) AddDomain(d string) { s.mu.Lock(); s.domains = append(s.domains, d); s.mu.Unlock() }

// AddOrgUnit adds an org unit path such as /Sales/EMEA.
func (s *Server) AddOrgUnit(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orgUnits[strings.ToLower(strings.Trim(path, "/"))] = true
}

// PutUser adds u, or replaces the user with its id, and records the admin
// events of the change. It keeps a copy.
// Every field is served as Google serves it, and `fields` selects among
// them like among the others: u.PosixAccounts as []*admin.UserPosixAccount,
// for instance, comes out as posixAccounts with uid and gid as JSON strings.
func (s *Server) PutUser(u *admin.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old *admin.User
	if i := slices.IndexFunc(s.users, func(x *admin.User) bool { return x.Id == u.Id }); i >= 0 {
		old = s.users[i]
	}
	s.auditUser(old, u)
	s.users = put(s, s.users, u, func(x *admin.User) bool { return x.Id == u.Id })
}

// SetUsers replaces all users (without copying, without events: for big
// benchmarks).
func (s *Server) SetUsers(us []*admin.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = setAll(s, us)
}

// put adds a copy of v to list, or puts it in place of the element same
// finds, and keeps the copy's JSON. s.mu is held.
func put[T any](s *Server, list []*T, v *T, same func(*T) bool) []*T {
	c := clone(v)
	s.docs[c] = toDoc(c)
	if i := slices.IndexFunc(list, same); i >= 0 {
		delete(s.docs, list[i])
		list[i] = c
		return list
	}
	return append(list, c)
}

// setAll keeps the JSON of every element of list and returns it. s.mu is
// held.
func setAll[T any](s *Server, list []*T) []*T {
	for _, v := range list {
		s.docs[v] = toDoc(v)
	}
	return list
}

// toDoc turns v into generic JSON.
func toDoc(v any) map[string]any {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		panic(err)
	}
	return m
}

// doc returns v's generic JSON. s.mu is held.
func (s *Server) doc(v any) map[string]any {
	d, ok := s.docs[v]
	if !ok {
		d = toDoc(v)
		s.docs[v] = d
	}
	return d
}

// User returns a copy of the user with this id, or nil.
func (s *Server) User(id string) *admin.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.IndexFunc(s.users, func(x *admin.User) bool { return x.Id == id }); i >= 0 {
		return clone(s.users[i])
	}
	return nil
}

// DeleteUser deletes the user with this id, and its memberships, and
// records DELETE_USER.
func (s *Server) DeleteUser(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.IndexFunc(s.users, func(x *admin.User) bool { return x.Id == id }); i >= 0 {
		s.audit(TypeUserSettings, "DELETE_USER", "USER_EMAIL", s.users[i].PrimaryEmail)
	}
	// Copies, not in place: a call being answered may hold the old lists.
	s.users = slices.DeleteFunc(slices.Clone(s.users), func(x *admin.User) bool { return x.Id == id })
	for g, ms := range s.members {
		if slices.ContainsFunc(ms, func(m *admin.Member) bool { return m.Id == id }) {
			s.members[g] = slices.DeleteFunc(slices.Clone(ms), func(m *admin.Member) bool { return m.Id == id })
		}
	}
}

// PutGroup adds g, or replaces the group with its id, and records the
// admin event of the change.
func (s *Server) PutGroup(g *admin.Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old *admin.Group
	if i := slices.IndexFunc(s.groups, func(x *admin.Group) bool { return x.Id == g.Id }); i >= 0 {
		old = s.groups[i]
	}
	s.auditGroup(old, g)
	s.groups = put(s, s.groups, g, func(x *admin.Group) bool { return x.Id == g.Id })
}

// SetGroups replaces all groups (without copying).
func (s *Server) SetGroups(gs []*admin.Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = setAll(s, gs)
}

// DeleteGroup deletes the group with this id, and records DELETE_GROUP.
func (s *Server) DeleteGroup(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.findGroup(id); g != nil {
		s.audit(TypeGroupSettings, "DELETE_GROUP", "GROUP_EMAIL", g.Email)
	}
	s.groups = slices.DeleteFunc(slices.Clone(s.groups), func(x *admin.Group) bool { return x.Id == id })
	delete(s.members, id)
}

// SetMembers sets the direct members of the group with this id, and
// records ADD_GROUP_MEMBER and REMOVE_GROUP_MEMBER for the difference. A
// member with only an email is completed with the id of that user or group.
func (s *Server) SetMembers(groupID string, ms ...*admin.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*admin.Member, len(ms))
	for i, m := range ms {
		c := clone(m)
		if c.Id == "" {
			for _, u := range s.users {
				if strings.EqualFold(u.PrimaryEmail, c.Email) {
					c.Id, c.Type = u.Id, "USER"
				}
			}
			for _, g := range s.groups {
				if strings.EqualFold(g.Email, c.Email) {
					c.Id, c.Type = g.Id, "GROUP"
				}
			}
		}
		if c.Role == "" {
			c.Role = "MEMBER"
		}
		out[i] = c
		s.docs[c] = toDoc(c)
	}
	s.auditMembers(groupID, s.members[groupID], out)
	s.members[groupID] = out
}

// SetAllMembers replaces all memberships (without copying, without
// events).
func (s *Server) SetAllMembers(ms map[string][]*admin.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members = ms
	for _, list := range ms {
		for _, m := range list {
			s.docs[m] = toDoc(m)
		}
	}
}

// ExpirePageTokens makes every page token issued so far invalid.
func (s *Server) ExpirePageTokens() { s.mu.Lock(); s.epoch++; s.mu.Unlock() }

// Calls returns how many calls of each kind the server answered (token
// calls under "token"), faults included.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// APICalls returns the number of Directory API calls answered.
func (s *Server) APICalls() int {
	n := 0
	for k, v := range s.Calls() {
		if k != "token" {
			n += v
		}
	}
	return n
}

// MaxInFlight returns the largest number of API calls served at once.
func (s *Server) MaxInFlight() int { s.mu.Lock(); defer s.mu.Unlock(); return s.maxInFlight }

// Requests returns the calls answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ResetCounts forgets the calls and requests seen so far.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
	s.requests = nil
	s.maxInFlight = 0
	s.refused = 0
}

// AccessTokens returns the access tokens issued so far (to check they
// never leak into logs or errors).
func (s *Server) AccessTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for t := range s.tokens {
		out = append(out, t)
	}
	return out
}

func clone[T any](v *T) *T {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out := new(T)
	if err := json.Unmarshal(data, out); err != nil {
		panic(err)
	}
	return out
}

// ---- faults ----

// LastPage, as Fault.Page, matches the last page of a listing.
const LastPage = -1

// Fault makes matching calls fail (or slow).
type Fault struct {
	// Call is the kind of call: token, users.list, users.get, groups.list,
	// groups.get, members.list, orgunits.get, activities.list; "" matches
	// every API call (not token).
	Call string
	// Page is the page number (1 is the first), LastPage, or 0 for any.
	Page int
	// Times is how many matching calls the fault hits; 0 means all.
	Times int
	// Status and Reason make the error response ({"error": {"code",
	// "message", "errors": [{"reason"}]}}); Message defaults to the
	// status text. RetryAfter sets the Retry-After header.
	Status     int
	Reason     string
	Message    string
	RetryAfter string
	// Delay holds the response back (slow responses); with Status 0 the
	// call then succeeds.
	Delay time.Duration
	// ExpirePageToken answers a call carrying a page token with Google's
	// "invalid page token" error, as when a token has expired.
	ExpirePageToken bool
	// Do runs when the fault hits, before the call is answered: e.g. it
	// deletes a group between two pages of a sync.
	Do func()

	hits int
}

// Inject adds a fault; the returned pointer reports its hits.
func (s *Server) Inject(f Fault) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &f
	s.faults = append(s.faults, p)
	return p
}

// Hits returns how many calls the fault has hit.
func (f *Fault) Hits(s *Server) int { s.mu.Lock(); defer s.mu.Unlock(); return f.hits }

// ClearFaults removes all faults.
func (s *Server) ClearFaults() { s.mu.Lock(); s.faults = nil; s.mu.Unlock() }

// fault returns the fault hitting this call, if any. s.mu is held.
func (s *Server) fault(call string, page int, last bool, hasToken bool) *Fault {
	for _, f := range s.faults {
		switch {
		case f.Call == "" && call == "token", f.Call != "" && f.Call != call:
			continue
		case f.Page > 0 && f.Page != page, f.Page == LastPage && !last:
			continue
		case f.ExpirePageToken && !hasToken:
			continue
		case f.Times > 0 && f.hits >= f.Times:
			continue
		}
		f.hits++
		return f
	}
	return nil
}

// ---- HTTP plumbing ----

type apiErrorItem struct {
	Message string `json:"message"`
	Domain  string `json:"domain"`
	Reason  string `json:"reason"`
}

func writeAPIError(w http.ResponseWriter, code int, reason, msg string, extra map[string]any) {
	if msg == "" {
		msg = http.StatusText(code)
	}
	domain := "global"
	if strings.Contains(reason, "Limit") || reason == "quotaExceeded" || reason == "accessNotConfigured" {
		domain = "usageLimits"
	}
	body := map[string]any{"code": code, "message": msg, "errors": []apiErrorItem{{Message: msg, Domain: domain, Reason: reason}}}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": body})
}

// apiCall is what a handler sees of a call.
type apiCall struct {
	r      *http.Request
	grant  *grant
	w      http.ResponseWriter
	status int
	page   int  // set by listing handlers
	last   bool // set by listing handlers
	token  bool // the call carries a page token
	name   string
}

// api wraps a Directory API handler: latency, auth, API enablement,
// faults, request log.
func (s *Server) api(name string, h func(*apiCall)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		lat := s.latency
		s.inFlight++
		s.maxInFlight = max(s.maxInFlight, s.inFlight)
		s.mu.Unlock()
		defer func() { s.mu.Lock(); s.inFlight--; s.mu.Unlock() }()
		if lat > 0 {
			time.Sleep(lat)
		}
		c := &apiCall{r: r, w: w, name: name, status: 200}
		defer func() {
			s.mu.Lock()
			s.calls[name]++
			sub := ""
			if c.grant != nil {
				sub = c.grant.subject
			}
			s.requests = append(s.requests, Request{Call: name, Query: r.URL.Query(), Subject: sub, Status: c.status})
			s.mu.Unlock()
		}()

		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		g := s.tokens[tok]
		now := s.now()
		disabled := s.apiDisabled
		s.mu.Unlock()
		if !ok || g == nil || now.After(g.expiry) {
			c.fail(401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", map[string]any{"status": "UNAUTHENTICATED"})
			return
		}
		c.grant = g
		if disabled {
			msg := "Admin SDK API has not been used in project 123456 before or it is disabled. Enable it by visiting the Google Cloud console then retry."
			c.fail(403, "accessNotConfigured", msg, map[string]any{
				"status": "PERMISSION_DENIED",
				"details": []any{map[string]any{
					"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED", "domain": "googleapis.com",
					"metadata": map[string]string{"service": "admin.googleapis.com", "consumer": "projects/123456"},
				}},
			})
			return
		}
		if g.subject == "" || !s.isAdmin(g.subject) {
			c.fail(403, "forbidden", "Not Authorized to access this resource/api", nil)
			return
		}
		s.mu.Lock()
		fits := s.takeQuota()
		s.mu.Unlock()
		if !fits {
			c.fail(403, "userRateLimitExceeded", "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'admin.googleapis.com' for consumer 'project_number:123456'.",
				map[string]any{"status": "PERMISSION_DENIED"})
			return
		}
		h(c)
	}
}

func (s *Server) isAdmin(email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admins[strings.ToLower(email)]
}

func (c *apiCall) fail(code int, reason, msg string, extra map[string]any) {
	c.status = code
	writeAPIError(c.w, code, reason, msg, extra)
}

// needScope fails the call unless the token has one of scopes.
func (c *apiCall) needScope(scopes ...string) bool {
	for _, sc := range scopes {
		if c.grant.scopes[sc] {
			return true
		}
	}
	c.fail(403, "insufficientPermissions", "Request had insufficient authentication scopes.", map[string]any{"status": "PERMISSION_DENIED"})
	return false
}

// applyFault applies a matching fault; it reports whether the call is done.
func (s *Server) applyFault(c *apiCall) bool {
	s.mu.Lock()
	f := s.fault(c.name, c.page, c.last, c.token)
	var ff Fault
	if f != nil {
		ff = *f
	}
	s.mu.Unlock()
	if f == nil {
		return false
	}
	if ff.Do != nil {
		ff.Do()
	}
	if ff.Delay > 0 {
		select {
		case <-time.After(ff.Delay):
		case <-c.r.Context().Done():
			c.status = 499
			return true
		}
	}
	if ff.ExpirePageToken {
		c.fail(400, "invalidPageToken", "Invalid pageToken", nil)
		return true
	}
	if ff.Status == 0 {
		return false
	}
	if ff.RetryAfter != "" {
		c.w.Header().Set("Retry-After", ff.RetryAfter)
	}
	reason := ff.Reason
	if reason == "" {
		reason = "backendError"
		if ff.Status == 429 {
			reason = "rateLimitExceeded"
		} else if ff.Status < 500 {
			reason = "invalid"
		}
	}
	c.fail(ff.Status, reason, ff.Message, nil)
	return true
}

// reply writes v, honouring the fields parameter.
func (c *apiCall) reply(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		c.fail(500, "backendError", err.Error(), nil)
		return
	}
	if f := c.r.URL.Query().Get("fields"); f != "" {
		tree, err := parseFields(f)
		if err != nil {
			c.fail(400, "invalidParameter", "Invalid field selection "+f, nil)
			return
		}
		var generic any
		if err := json.Unmarshal(data, &generic); err != nil {
			c.fail(500, "backendError", err.Error(), nil)
			return
		}
		data, _ = json.Marshal(prune(generic, tree))
	}
	c.w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	c.w.Write(data)
}

// docsOf returns the generic JSON of items.
func docsOf[T any](s *Server, items []*T) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = s.doc(it)
	}
	return out
}

// replyList writes one page of a listing, honouring the fields parameter.
// It never changes the stored docs.
func (c *apiCall) replyList(kind, key string, items []any, next string) {
	env := map[string]any{"kind": kind, key: items}
	if next != "" {
		env["nextPageToken"] = next
	}
	var out any = env
	if f := c.r.URL.Query().Get("fields"); f != "" {
		tree, err := parseFields(f)
		if err != nil {
			c.fail(400, "invalidParameter", "Invalid field selection "+f, nil)
			return
		}
		out = prune(env, tree)
	}
	data, err := json.Marshal(out)
	if err != nil {
		c.fail(500, "backendError", err.Error(), nil)
		return
	}
	c.w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	c.w.Write(data)
}

// page reads maxResults and pageToken for a listing of n items with the
// given default and maximum page sizes, and returns the range to serve and
// the next token. ok is false if it answered the call with an error.
func (s *Server) page(c *apiCall, list string, n, def, maxSize int) (from, to int, next string, ok bool) {
	q := c.r.URL.Query()
	size := def
	if v := q.Get("maxResults"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 || m > maxSize {
			c.fail(400, "invalid", fmt.Sprintf("Invalid value '%s'. Values must be within the range: [1, %d]", v, maxSize), nil)
			return 0, 0, "", false
		}
		size = m
	}
	if t := q.Get("pageToken"); t != "" {
		c.token = true
		raw, err := base64.RawURLEncoding.DecodeString(t)
		parts := strings.Split(string(raw), "|")
		s.mu.Lock()
		epoch := s.epoch
		s.mu.Unlock()
		if err != nil || len(parts) != 3 || parts[0] != list || parts[2] != strconv.Itoa(epoch) {
			c.fail(400, "invalidPageToken", "Invalid pageToken", nil)
			return 0, 0, "", false
		}
		from, _ = strconv.Atoi(parts[1])
	}
	from = min(from, n)
	to = min(from+size, n)
	c.page = from/size + 1
	c.last = to >= n
	if s.applyFault(c) {
		return 0, 0, "", false
	}
	if to < n {
		s.mu.Lock()
		epoch := s.epoch
		s.mu.Unlock()
		next = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s|%d|%d", list, to, epoch))
	}
	return from, to, next, true
}

// scopeParams checks customer/domain; it returns the domain ("" for all).
func (s *Server) scopeParams(c *apiCall) (string, bool) {
	q := c.r.URL.Query()
	cust, dom := q.Get("customer"), q.Get("domain")
	switch {
	case dom != "":
		s.mu.Lock()
		known := slices.ContainsFunc(s.domains, func(d string) bool { return strings.EqualFold(d, dom) })
		s.mu.Unlock()
		if !known {
			c.fail(404, "notFound", "Domain not found.", nil)
			return "", false
		}
		return strings.ToLower(dom), true
	case cust == "my_customer" || cust == s.CustomerID:
		return "", true
	case cust == "":
		c.fail(400, "badRequest", "Bad Request", nil)
		return "", false
	default:
		c.fail(400, "badRequest", "Bad Request", nil)
		return "", false
	}
}

func inDomain(email, dom string) bool {
	return dom == "" || strings.HasSuffix(strings.ToLower(email), "@"+dom)
}

func (s *Server) listUsers(c *apiCall) {
	if !c.needScope(ScopeUsers, admin.AdminDirectoryUserScope) {
		return
	}
	dom, ok := s.scopeParams(c)
	if !ok {
		return
	}
	s.mu.Lock()
	users := s.users
	if dom != "" {
		users = slices.DeleteFunc(slices.Clone(users), func(u *admin.User) bool { return !inDomain(u.PrimaryEmail, dom) })
	}
	s.mu.Unlock()
	q := c.r.URL.Query()
	var schemas []string // custom schemas to show; nil: none
	switch p := q.Get("projection"); p {
	case "", "basic":
	case "full":
		schemas = []string{"*"}
	case "custom":
		mask := q.Get("customFieldMask")
		if mask == "" {
			c.fail(400, "invalid", "Custom field mask is required when projection is custom", nil)
			return
		}
		schemas = strings.Split(mask, ",")
	default:
		c.fail(400, "invalid", fmt.Sprintf("Invalid value for projection: %s", p), nil)
		return
	}
	from, to, next, ok := s.page(c, "users", len(users), 100, 500)
	if !ok {
		return
	}
	docs := docsOf(s, users[from:to])
	for i, d := range docs {
		docs[i] = withSchemas(d.(map[string]any), schemas)
	}
	c.replyList("admin#directory#users", "users", docs, next)
}

// withSchemas returns the user doc d showing only the custom schemas named
// (all for "*"), as projection basic, custom and full do. It never changes d.
func withSchemas(d map[string]any, schemas []string) map[string]any {
	cs, ok := d["customSchemas"].(map[string]any)
	if !ok || slices.Contains(schemas, "*") {
		return d
	}
	out := maps.Clone(d)
	delete(out, "customSchemas")
	kept := make(map[string]any)
	for name, v := range cs {
		if slices.Contains(schemas, name) {
			kept[name] = v
		}
	}
	if len(kept) > 0 {
		out["customSchemas"] = kept
	}
	return out
}

func (s *Server) listGroups(c *apiCall) {
	if !c.needScope(ScopeGroups, admin.AdminDirectoryGroupScope) {
		return
	}
	if key := c.r.URL.Query().Get("userKey"); key != "" {
		s.groupsOfUser(c, key)
		return
	}
	dom, ok := s.scopeParams(c)
	if !ok {
		return
	}
	s.mu.Lock()
	groups := s.groups
	if dom != "" {
		groups = slices.DeleteFunc(slices.Clone(groups), func(g *admin.Group) bool { return !inDomain(g.Email, dom) })
	}
	s.mu.Unlock()
	from, to, next, ok := s.page(c, "groups", len(groups), 200, 200)
	if !ok {
		return
	}
	c.replyList("admin#directory#groups", "groups", docsOf(s, groups[from:to]), next)
}

// findGroup finds a group by id, email or alias. s.mu is held.
func (s *Server) findGroup(key string) *admin.Group {
	for _, g := range s.groups {
		if g.Id == key || strings.EqualFold(g.Email, key) || slices.ContainsFunc(g.Aliases, func(a string) bool { return strings.EqualFold(a, key) }) {
			return g
		}
	}
	return nil
}

func (s *Server) getGroup(c *apiCall) {
	if !c.needScope(ScopeGroups, admin.AdminDirectoryGroupScope) {
		return
	}
	if s.applyFault(c) {
		return
	}
	s.mu.Lock()
	g := s.findGroup(c.r.PathValue("key"))
	s.mu.Unlock()
	if g == nil {
		c.fail(404, "notFound", "Resource Not Found: groupKey", nil)
		return
	}
	c.reply(g)
}

func (s *Server) listMembers(c *apiCall) {
	if !c.needScope(ScopeMembers, ScopeGroups, admin.AdminDirectoryGroupScope, admin.AdminDirectoryGroupMemberScope) {
		return
	}
	s.mu.Lock()
	g := s.findGroup(c.r.PathValue("key"))
	var ms []*admin.Member
	if g != nil {
		ms = s.members[g.Id]
	}
	s.mu.Unlock()
	if g == nil {
		c.fail(404, "notFound", "Resource Not Found: groupKey", nil)
		return
	}
	from, to, next, ok := s.page(c, "members:"+g.Id, len(ms), 200, 200)
	if !ok {
		return
	}
	c.replyList("admin#directory#members", "members", docsOf(s, ms[from:to]), next)
}

func (s *Server) getOrgUnit(c *apiCall) {
	if !c.needScope(ScopeOrgUnit, admin.AdminDirectoryOrgunitScope) {
		return
	}
	if cust := c.r.PathValue("customer"); cust != "my_customer" && cust != s.CustomerID {
		c.fail(400, "badRequest", "Bad Request", nil)
		return
	}
	if s.applyFault(c) {
		return
	}
	p := strings.ToLower(strings.Trim(c.r.PathValue("path"), "/"))
	s.mu.Lock()
	ok := s.orgUnits[p]
	s.mu.Unlock()
	if !ok {
		c.fail(404, "notFound", "Org unit not found", nil)
		return
	}
	c.reply(&admin.OrgUnit{OrgUnitPath: "/" + c.r.PathValue("path")})
}

// ---- token endpoint ----

func tokenError(w http.ResponseWriter, code int, errCode, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": errCode, "error_description": desc})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	lat := s.latency
	now := s.now()
	f := s.fault("token", 0, false, false)
	var ff Fault
	if f != nil {
		ff = *f
	}
	s.calls["token"]++
	s.requests = append(s.requests, Request{Call: "token"})
	s.mu.Unlock()
	if lat > 0 {
		time.Sleep(lat)
	}
	if f != nil {
		if ff.Delay > 0 {
			select {
			case <-time.After(ff.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if ff.Status != 0 {
			if ff.RetryAfter != "" {
				w.Header().Set("Retry-After", ff.RetryAfter)
			}
			code := ff.Reason
			if code == "" {
				code = "internal_failure"
			}
			tokenError(w, ff.Status, code, ff.Message)
			return
		}
	}
	if err := r.ParseForm(); err != nil {
		tokenError(w, 400, "invalid_request", "cannot parse the form")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		tokenError(w, 400, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		tokenError(w, 400, "invalid_grant", "Invalid JWT: malformed")
		return
	}
	var hdr struct{ Alg, Typ, Kid string }
	var claims struct {
		Iss   string `json:"iss"`
		Sub   string `json:"sub"`
		Aud   string `json:"aud"`
		Scope string `json:"scope"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil || hdr.Alg != "RS256" {
		tokenError(w, 400, "invalid_grant", "Invalid JWT: bad header")
		return
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		tokenError(w, 400, "invalid_grant", "Invalid JWT: bad claims")
		return
	}
	s.mu.Lock()
	a := s.accounts[claims.Iss]
	var keys []*rsa.PublicKey
	if a != nil {
		if k, ok := a.keys[hdr.Kid]; ok {
			keys = append(keys, k)
		} else {
			for _, k := range a.keys {
				keys = append(keys, k)
			}
		}
	}
	s.mu.Unlock()
	if a == nil {
		tokenError(w, 400, "invalid_grant", "Invalid grant: account not found")
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	verified := false
	for _, k := range keys {
		if err == nil && rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil {
			verified = true
		}
	}
	if !verified {
		tokenError(w, 400, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	aud := s.Audience
	if aud == "" {
		aud = s.TokenURL
	}
	if claims.Aud != aud {
		tokenError(w, 400, "invalid_grant", "Invalid JWT: Failed audience check. The expected audience is "+aud+".")
		return
	}
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	if iat.After(now.Add(5*time.Minute)) || !exp.After(now) || exp.Sub(iat) > time.Hour {
		tokenError(w, 400, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
		return
	}
	scopes := strings.Fields(claims.Scope)
	if len(scopes) == 0 {
		tokenError(w, 400, "invalid_scope", "Empty or missing scope not allowed.")
		return
	}
	if claims.Sub != "" {
		s.mu.Lock()
		known := slices.ContainsFunc(s.users, func(u *admin.User) bool { return strings.EqualFold(u.PrimaryEmail, claims.Sub) })
		delegated := true
		for _, sc := range scopes {
			delegated = delegated && a.delegated[sc]
		}
		s.mu.Unlock()
		if !known {
			tokenError(w, 400, "invalid_grant", "Invalid email or User ID")
			return
		}
		if !delegated {
			tokenError(w, 401, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
			return
		}
	}
	var rb [24]byte
	rand.Read(rb[:])
	tok := "ya29.fake-" + hex.EncodeToString(rb[:])
	g := &grant{subject: claims.Sub, scopes: make(map[string]bool), expiry: now.Add(time.Hour)}
	for _, sc := range scopes {
		g.scopes[sc] = true
	}
	s.mu.Lock()
	s.tokens[tok] = g
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3599})
}

func decodeSegment(seg string, v any) error {
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// ---- partial responses ----

// fieldTree is a parsed fields parameter: a key maps to its sub-selection,
// or nil for everything under it.
type fieldTree map[string]fieldTree

// parseFields parses the fields syntax: "a,b(c,d/e),f/g".
func parseFields(s string) (fieldTree, error) {
	t, rest, err := parseFieldList(s)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("unexpected %q", rest)
	}
	return t, nil
}

func parseFieldList(s string) (fieldTree, string, error) {
	t := fieldTree{}
	for {
		i := strings.IndexAny(s, ",()/")
		name := s
		if i >= 0 {
			name = s[:i]
		}
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, s, fmt.Errorf("empty field name")
		}
		if i < 0 {
			t[name] = nil
			return t, "", nil
		}
		switch s[i] {
		case ',':
			t[name] = nil
			s = s[i+1:]
			continue
		case ')':
			t[name] = nil
			return t, s[i:], nil
		case '/':
			sub, rest, err := parseFieldPath(s[i+1:])
			if err != nil {
				return nil, "", err
			}
			t[name] = merge(t[name], sub)
			s = rest
		case '(':
			sub, rest, err := parseFieldList(s[i+1:])
			if err != nil {
				return nil, "", err
			}
			if !strings.HasPrefix(rest, ")") {
				return nil, "", fmt.Errorf("missing )")
			}
			t[name] = merge(t[name], sub)
			s = rest[1:]
		}
		if s == "" || strings.HasPrefix(s, ")") {
			return t, s, nil
		}
		if s[0] != ',' {
			return nil, "", fmt.Errorf("unexpected %q", s)
		}
		s = s[1:]
	}
}

// parseFieldPath parses the rest of a/b/c (or a/b(c,d)) up to , or ).
func parseFieldPath(s string) (fieldTree, string, error) {
	i := strings.IndexAny(s, ",()/")
	name := s
	if i >= 0 {
		name = s[:i]
	}
	if name == "" {
		return nil, "", fmt.Errorf("empty field name")
	}
	if i < 0 {
		return fieldTree{name: nil}, "", nil
	}
	switch s[i] {
	case '/':
		sub, rest, err := parseFieldPath(s[i+1:])
		return fieldTree{name: sub}, rest, err
	case '(':
		sub, rest, err := parseFieldList(s[i+1:])
		if err != nil {
			return nil, "", err
		}
		if !strings.HasPrefix(rest, ")") {
			return nil, "", fmt.Errorf("missing )")
		}
		return fieldTree{name: sub}, rest[1:], nil
	default:
		return fieldTree{name: nil}, s[i:], nil
	}
}

func merge(a, b fieldTree) fieldTree {
	if a == nil {
		return b
	}
	for k, v := range b {
		a[k] = merge(a[k], v)
	}
	return a
}

func prune(v any, t fieldTree) any {
	if t == nil {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, sub := range t {
			if val, ok := x[k]; ok {
				out[k] = prune(val, sub)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = prune(x[i], t)
		}
		return out
	default:
		return v
	}
}
