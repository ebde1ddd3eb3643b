// Package google is the Google Workspace directory source: it reads users,
// groups and group members from the Admin SDK Directory API with a service
// account that has domain-wide delegation and acts as an administrator.
//
// Everything after the fetch (conversion through sync/dirapi, filtering,
// planning) is shared with the directory file source. Diagnose checks the
// connection step by step for `ldapgate sync --dry-run`.
package google

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	admin "google.golang.org/api/admin/directory/v1"
	reports "google.golang.org/api/admin/reports/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/dirapi"
	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/progress"
)

// The read-only scopes ldapgate asks for.
const (
	ScopeUsers   = admin.AdminDirectoryUserReadonlyScope
	ScopeGroups  = admin.AdminDirectoryGroupReadonlyScope
	ScopeMembers = admin.AdminDirectoryGroupMemberReadonlyScope
	ScopeOrgUnit = admin.AdminDirectoryOrgunitReadonlyScope
)

// Page size limits of the Directory API.
const (
	MaxUsersPage   = 500
	MaxGroupsPage  = 200
	MaxMembersPage = 200
)

// Partial responses: only what ldapgate stores.
const (
	usersFields = "nextPageToken,users(" + userFields + ")"
	userFields  = "id,primaryEmail,aliases,nonEditableAliases,name(givenName,familyName,fullName,displayName),suspended,archived,orgUnitPath,isAdmin,creationTime,lastLoginTime," +
		"posixAccounts(primary,uid,gid,homeDirectory,shell,gecos)"
	// With custom attributes: the custom schemas too (projection custom).
	usersCustomFields = "nextPageToken,users(" + userFields + ",customSchemas)"
	groupsFields      = "nextPageToken,groups(" + groupFields + ")"
	groupFields       = "id,email,name,description,aliases,nonEditableAliases"
	membersFields     = "nextPageToken,members(id,email,type)"
)

// Defaults.
const (
	DefaultCustomer       = "my_customer"
	DefaultConcurrency    = 24
	DefaultRequestTimeout = time.Minute
	DefaultMaxAttempts    = 8
)

// Config configures the Google source.
type Config struct {
	// KeyFile is the service account key: a JSON key, or a P12 key together
	// with ServiceAccountEmail.
	KeyFile             string
	ServiceAccountEmail string
	// P12Password opens a P12 key; empty means Google's "notasecret".
	P12Password string
	// AdminEmail is the administrator the service account acts as.
	AdminEmail string
	// Customer is the customer ID ("my_customer", the default, means the
	// admin's own). Domain, if set, limits users and groups to one domain.
	Customer string
	Domain   string
	// APIEndpoint overrides the Directory API base URL, TokenURL the OAuth
	// token URL (default: the key's token_uri).
	APIEndpoint string
	TokenURL    string
	// TokenAudience is the JWT assertion's aud (default: the key's
	// token_uri, Google's token URL, also when TokenURL points elsewhere,
	// as Google's own libraries do).
	TokenAudience string
	// Proxy is the outbound HTTP proxy; nil means the environment's
	// (HTTPS_PROXY, NO_PROXY).
	Proxy *url.URL
	// Concurrency bounds the member listings running at once.
	Concurrency int
	// RequestTimeout bounds one HTTP call (a slower one is retried).
	RequestTimeout time.Duration
	// KeepRoutingAliases keeps the non-editable aliases in Google's routing
	// domains (*.test-google-a.com, *.goog) among the users' and groups'
	// aliases; by default they are left out, as they are no one's address.
	KeepRoutingAliases bool
	// MaxCallsPerMinute paces all Directory API calls of the source
	// (0: DefaultMaxCallsPerMinute; negative: no pace, for tests); a
	// rate-limit answer slows them down further for a while.
	MaxCallsPerMinute int

	// Groups are the filter's groups and RuleGroups the privilege rules'
	// groups (email addresses). With Groups set, only the members of the
	// groups in scope (these, the rule groups and the groups nested in
	// them) are fetched.
	Groups     []string
	RuleGroups []string
	// OrgUnits are the filter's org units; Diagnose checks they exist, and
	// the org unit scope is asked for only when there are some.
	OrgUnits []string
	// CustomAttributes map custom schema fields to LDAP attributes; the
	// users are listed with their custom schemas when there are some
	// (projection custom, only the schemas named here).
	CustomAttributes []dirapi.CustomAttribute

	// Changes turns on incremental sync: Scopes and Diagnose then include
	// the Reports API's audit scope, which Changes polls.
	Changes bool
	// ChangesOverlap is how far before the previous poll each poll of the
	// admin events starts (0: DefaultChangesOverlap).
	ChangesOverlap time.Duration

	// Log receives retries and warnings; nil discards.
	Log *slog.Logger

	// Retry settings and hooks; zero values take the defaults. Tests set
	// Sleep and Now so they never wait.
	MaxAttempts int
	BackoffBase time.Duration // default 1s
	BackoffMax  time.Duration // default 32s
	Sleep       func(ctx context.Context, d time.Duration) error
	Now         func() time.Time
	// Transport is the base HTTP transport (tests); nil builds one.
	Transport http.RoundTripper
}

// Source is the Google Workspace directory source.
type Source struct {
	cfg     Config
	log     *slog.Logger
	pace    *pacer
	calls   atomic.Int64
	retries atomic.Int64
	changes *changeCursor
}

var _ engine.Source = (*Source)(nil)

// New returns a Google source. It reads nothing yet: the key is loaded at
// each Fetch and Diagnose, so that problems are reported there (and a
// rotated key is picked up).
func New(cfg Config) *Source {
	if cfg.Customer == "" && cfg.Domain == "" {
		cfg.Customer = DefaultCustomer
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 32 * time.Second
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxCallsPerMinute == 0 {
		cfg.MaxCallsPerMinute = DefaultMaxCallsPerMinute
	}
	if cfg.ChangesOverlap <= 0 {
		cfg.ChangesOverlap = DefaultChangesOverlap
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The admin events count from now: the source is made before the
	// full sync that starts from Google's state of now.
	changes := &changeCursor{since: cfg.Now().UTC(), seen: make(map[string]time.Time)}
	return &Source{cfg: cfg, log: log, pace: newPacer(cfg.MaxCallsPerMinute, cfg.BackoffBase, cfg.Now, cfg.Sleep), changes: changes}
}

// Name returns "google:" and the customer or domain.
func (s *Source) Name() string {
	if s.cfg.Domain != "" {
		return "google:" + s.cfg.Domain
	}
	return "google:" + s.cfg.Customer
}

// Calls returns the number of HTTP calls (attempts, token calls included)
// the source has made.
func (s *Source) Calls() int64 { return s.calls.Load() }

// Retries returns the number of calls the source has retried (each retry
// once), token calls included.
func (s *Source) Retries() int64 { return s.retries.Load() }

// RateLimited returns the number of rate-limit answers (429, or 403 with a
// rate or quota reason) the source has had from the Directory API.
func (s *Source) RateLimited() int64 { return s.pace.limited.Load() }

// Rate returns the pace the source's Directory API calls keep now, in
// calls per minute: MaxCallsPerMinute, or less for a while after a
// rate-limit answer.
func (s *Source) Rate() float64 { return s.pace.Rate() }

// Scopes returns the OAuth scopes to delegate to the service account, in
// the order the Admin console's domain-wide delegation page lists them. The
// org unit scope is among them when the filter names org units: Diagnose
// uses it to check they exist. The Reports API's audit scope is among them
// with incremental sync (Config.Changes). Fetch needs only the first three.
func (s *Source) Scopes() []string {
	sc := []string{ScopeUsers, ScopeGroups, ScopeMembers}
	if len(s.cfg.OrgUnits) > 0 {
		sc = append(sc, ScopeOrgUnit)
	}
	if s.cfg.Changes {
		sc = append(sc, ScopeReports)
	}
	return sc
}

// conn is one connection: a key, a token source and a Directory API client.
type conn struct {
	s   *Source
	key *key
	ts  oauth2.TokenSource
	svc *admin.Service
	// rep is the Reports API client, with the reports scope only.
	rep *reports.Service
	// retry runs Directory API calls (paced), tokenRetry token calls (not
	// paced: the token endpoint is not under the Directory API's quota).
	retry, tokenRetry *retrier
	// abort stops the whole fetch at the first error (set by Fetch).
	abort func(error)
	// progress counts what Fetch has listed so far; nil counts nothing.
	progress *progress.Progress
}

// diagnoseDialTimeout bounds connecting to Google in Diagnose, which must
// answer within seconds when Google cannot be reached.
const diagnoseDialTimeout = 5 * time.Second

// connect loads the key and builds the clients for scopes; it makes no call.
// For Diagnose (diagnosing), a failure to reach Google is not retried and
// connecting is bounded by diagnoseDialTimeout: the admin waits for the
// answer, while a scheduled sync may wait out a network blip.
func (s *Source) connect(ctx context.Context, scopes []string, diagnosing bool) (*conn, error) {
	k, err := loadKey(s.cfg.KeyFile, s.cfg.ServiceAccountEmail, s.cfg.P12Password, scopes, s.cfg.AdminEmail)
	if err != nil {
		return nil, err
	}
	// The audience stays the key's token_uri (Google's token URL) when the
	// token URL is overridden, as Google's own libraries keep it behind
	// private endpoints; token_audience is there for endpoints that differ.
	k.jwt.Audience = k.jwt.TokenURL
	if s.cfg.TokenAudience != "" {
		k.jwt.Audience = s.cfg.TokenAudience
	}
	if s.cfg.TokenURL != "" {
		k.jwt.TokenURL = s.cfg.TokenURL
	}
	tr := s.cfg.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if s.cfg.Proxy != nil {
			t.Proxy = http.ProxyURL(s.cfg.Proxy)
		}
		if diagnosing {
			t.DialContext = (&net.Dialer{Timeout: diagnoseDialTimeout, KeepAlive: 30 * time.Second}).DialContext
		}
		t.MaxIdleConnsPerHost = s.cfg.Concurrency + 4
		t.ForceAttemptHTTP2 = true
		tr = t
	}
	counting := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		s.calls.Add(1)
		return tr.RoundTrip(r)
	})
	// The token endpoint gets a client of its own with a timeout: the
	// oauth2 package does not pass request contexts to token calls.
	tokenClient := &http.Client{Transport: counting, Timeout: s.cfg.RequestTimeout}
	tctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, tokenClient)
	ts := k.jwt.TokenSource(tctx)
	hc := &http.Client{Transport: &oauth2.Transport{Source: ts, Base: counting}}
	opts := []option.ClientOption{option.WithHTTPClient(hc), option.WithUserAgent("ldapgate")}
	if s.cfg.APIEndpoint != "" {
		ep := s.cfg.APIEndpoint
		if !strings.HasSuffix(ep, "/") {
			ep += "/"
		}
		opts = append(opts, option.WithEndpoint(ep))
	}
	svc, err := admin.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("directory api client: %w", err)
	}
	c := &conn{s: s, key: k, ts: ts, svc: svc}
	if slices.Contains(scopes, ScopeReports) {
		if c.rep, err = reports.NewService(ctx, opts...); err != nil {
			return nil, fmt.Errorf("reports api client: %w", err)
		}
	}
	c.tokenRetry = &retrier{
		maxAttempts: s.cfg.MaxAttempts, base: s.cfg.BackoffBase, max: s.cfg.BackoffMax,
		timeout: s.cfg.RequestTimeout, sleep: s.cfg.Sleep, now: s.cfg.Now, jitter: defaultJitter,
		log: s.log, hint: func(call string, err error) string { return s.hint(k, scopes, call, err) },
		retries: &s.retries, noRetryNetwork: diagnosing,
	}
	api := *c.tokenRetry
	api.pace = s.pace
	c.retry = &api
	return c, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// token gets an access token (with retries), so that a token problem is
// reported as such and not as the failure of the first API call.
func (c *conn) token(ctx context.Context) error {
	call := fmt.Sprintf("access token for %s acting as %s", c.key.email, c.s.cfg.AdminEmail)
	return c.tokenRetry.do(ctx, call, func(context.Context) error {
		_, err := c.ts.Token()
		return err
	})
}

// Fetch lists users, groups and the members of the groups in scope, and
// returns them as a snapshot. Any call that still fails after its retries
// fails the whole fetch with a *CallError (or a *KeyError for the key); no
// partial snapshot is ever returned.
//
// Users and groups are listed in full even with a group filter: the
// Directory API cannot list users by group, and fetching the users in
// scope one by one (users.get) makes fewer calls than the pages of 500
// only when fewer than 1 in 500 of the organisation's users are in scope
// (likewise groups.get against pages of 200 groups). The organisation's
// size is unknown before it is listed, and the full listing also gives the
// filter its counts and the reason for each user left out.
func (s *Source) Fetch(ctx context.Context) (*store.Snapshot, error) {
	start := time.Now()
	s.changes.fetchStarted(s.cfg.Now().UTC())
	calls := s.calls.Load()
	c, err := s.connect(ctx, []string{ScopeUsers, ScopeGroups, ScopeMembers}, false)
	if err != nil {
		return nil, err
	}
	if err := c.token(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		once     sync.Once
		firstErr error
	)
	failed := func(err error) {
		once.Do(func() { firstErr = err; cancel(err) })
	}
	c.abort = failed
	c.progress = progress.From(ctx)

	var users []store.User
	var wg sync.WaitGroup
	wg.Go(func() {
		var err error
		if users, err = c.listUsers(ctx); err != nil {
			failed(err)
		}
	})
	groups, members, err := c.listGroupsAndMembers(ctx)
	if err != nil {
		failed(err)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	customer := make(map[string]bool)
	for gid, ms := range members {
		if slices.ContainsFunc(ms, func(m store.Member) bool { return m.Type == store.MemberCustomer }) {
			customer[gid] = true
		}
	}
	s.changes.fetchDone(customer)
	s.log.Info("fetched from google", "users", len(users), "groups", len(groups), "member_lists", len(members),
		"calls", s.calls.Load()-calls, "took", time.Since(start).Round(time.Millisecond).String())
	return &store.Snapshot{Users: users, Groups: groups, Members: members}, nil
}

// where names the listing's customer or domain, for errors.
func (s *Source) where() string {
	if s.cfg.Domain != "" {
		return "domain " + s.cfg.Domain
	}
	return "customer " + s.cfg.Customer
}

// pages runs a paged listing: page(token) fetches one page and returns the
// next token. An expired page token restarts the listing (at most twice;
// restart is called first so the caller drops what it collected).
func (c *conn) pages(ctx context.Context, what string, restart func(), page func(ctx context.Context, token string) (string, error)) error {
	restarts := 0
	token := ""
	for n := 1; ; n++ {
		var next string
		err := c.retry.do(ctx, fmt.Sprintf("%s page %d", what, n), func(ctx context.Context) error {
			var err error
			next, err = page(ctx, token)
			return err
		})
		if err != nil {
			if token != "" && restarts < 2 && pageTokenExpired(err) {
				restarts++
				c.s.log.Warn("page token expired; listing again from the first page", "call", what, "page", n)
				restart()
				token, n = "", 0
				continue
			}
			return err
		}
		if next == "" {
			return nil
		}
		token = next
	}
}

func (c *conn) listUsers(ctx context.Context) ([]store.User, error) {
	var users []store.User
	index := make(map[string]int) // id -> position, for users listed twice
	what := "users.list (" + c.s.where() + ")"
	err := c.pages(ctx, what, func() { users = users[:0]; clear(index) }, func(ctx context.Context, token string) (string, error) {
		call := c.svc.Users.List().MaxResults(MaxUsersPage).Context(ctx)
		if custom := c.s.cfg.CustomAttributes; len(custom) > 0 {
			call = call.Projection("custom").CustomFieldMask(strings.Join(dirapi.Schemas(custom), ",")).
				Fields(googleapi.Field(usersCustomFields))
		} else {
			call = call.Fields(googleapi.Field(usersFields))
		}
		if c.s.cfg.Domain != "" {
			call = call.Domain(c.s.cfg.Domain)
		} else {
			call = call.Customer(c.s.cfg.Customer)
		}
		if token != "" {
			call = call.PageToken(token)
		}
		res, err := call.Do()
		if err != nil {
			return "", err
		}
		for _, au := range res.Users {
			u, err := c.s.userFromAPI(au)
			if err != nil {
				return "", err
			}
			if i, ok := index[u.ID]; ok {
				users[i] = u
				continue
			}
			index[u.ID] = len(users)
			users = append(users, u)
		}
		c.progress.SetUsers(len(users))
		return res.NextPageToken, nil
	})
	return users, err
}

// userFromAPI converts a user of the Directory API; an error is
// permanent.
func (s *Source) userFromAPI(au *admin.User) (store.User, error) {
	if !s.cfg.KeepRoutingAliases {
		au.NonEditableAliases = slices.DeleteFunc(au.NonEditableAliases, routingAddress)
	}
	u, err := dirapi.UserFromAPI(au)
	if err == nil {
		u.Attributes, err = dirapi.CustomAttributes(au, s.cfg.CustomAttributes)
	}
	if err != nil {
		return store.User{}, &permanent{err}
	}
	return u, nil
}

// groupFromAPI converts a group of the Directory API; an error is
// permanent.
func (s *Source) groupFromAPI(ag *admin.Group) (store.Group, error) {
	if !s.cfg.KeepRoutingAliases {
		ag.NonEditableAliases = slices.DeleteFunc(ag.NonEditableAliases, routingAddress)
	}
	g, err := dirapi.GroupFromAPI(ag)
	if err != nil {
		return store.Group{}, &permanent{err}
	}
	return g, nil
}

// routingAddress reports whether addr is in one of the domains Google
// routes mail through (user@example.com.test-google-a.com, or *.goog for
// newer organisations): an alias Google adds that no one writes to.
func routingAddress(addr string) bool {
	_, domain, ok := strings.Cut(strings.ToLower(strings.TrimSpace(addr)), "@")
	return ok && (strings.HasSuffix(domain, ".test-google-a.com") || strings.HasSuffix(domain, ".goog"))
}

// permanent marks an error in a response's contents: never retried.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// listGroupsAndMembers lists the groups and, with bounded concurrency, the
// members of the groups in scope; member listings start while the group
// pages are still coming in.
func (c *conn) listGroupsAndMembers(ctx context.Context) ([]store.Group, map[string][]store.Member, error) {
	scoped := len(c.s.cfg.Groups) > 0
	mf := newMemberFetcher(c, scoped)
	for range c.s.cfg.Concurrency {
		mf.wg.Go(func() { mf.work(ctx) })
	}

	var groups []store.Group
	index := make(map[string]int)
	what := "groups.list (" + c.s.where() + ")"
	err := c.pages(ctx, what, func() { groups = groups[:0]; clear(index) }, func(ctx context.Context, token string) (string, error) {
		call := c.svc.Groups.List().MaxResults(MaxGroupsPage).Fields(googleapi.Field(groupsFields)).Context(ctx)
		if c.s.cfg.Domain != "" {
			call = call.Domain(c.s.cfg.Domain)
		} else {
			call = call.Customer(c.s.cfg.Customer)
		}
		if token != "" {
			call = call.PageToken(token)
		}
		res, err := call.Do()
		if err != nil {
			return "", err
		}
		for _, ag := range res.Groups {
			g, err := c.s.groupFromAPI(ag)
			if err != nil {
				return "", err
			}
			if i, ok := index[g.ID]; ok {
				groups[i] = g
				continue
			}
			index[g.ID] = len(groups)
			groups = append(groups, g)
			if !scoped {
				mf.submit(g.ID, g.Email)
			}
		}
		c.progress.SetGroups(len(groups))
		return res.NextPageToken, nil
	})
	if err != nil {
		mf.fail(err)
		mf.wg.Wait()
		return nil, nil, err
	}
	if scoped {
		byAddr := make(map[string]*store.Group, len(groups))
		for i := range groups {
			for _, a := range groups[i].Aliases {
				byAddr[strings.ToLower(a)] = &groups[i]
			}
		}
		for i := range groups {
			byAddr[strings.ToLower(groups[i].Email)] = &groups[i]
		}
		for _, addr := range append(append([]string(nil), c.s.cfg.Groups...), c.s.cfg.RuleGroups...) {
			// A group that does not exist is left for the engine's filter to
			// report (filter groups) or warn about (rule groups).
			if g := byAddr[strings.ToLower(strings.TrimSpace(addr))]; g != nil {
				mf.submit(g.ID, g.Email)
			}
		}
	}
	c.progress.ScopeKnown()
	mf.close()
	members, err := mf.wait()
	if err != nil {
		return nil, nil, err
	}
	if len(mf.gone) > 0 {
		// Dropped whole: the plan then deletes the group (if stored) and
		// every membership of and in it, never a part of them.
		groups = slices.DeleteFunc(groups, func(g store.Group) bool { return mf.gone[g.ID] })
	}
	return groups, members, nil
}

// memberFetcher lists the members of groups with a fixed number of
// workers. In scoped mode, the groups found among the members are listed
// too (each once, so cycles end).
type memberFetcher struct {
	c      *conn
	scoped bool
	wg     sync.WaitGroup

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []groupRef
	seen   map[string]bool
	active int
	closed bool
	err    error
	out    map[string][]store.Member
	gone   map[string]bool // deleted in Google while listed: left out whole
}

type groupRef struct{ id, email string }

func newMemberFetcher(c *conn, scoped bool) *memberFetcher {
	f := &memberFetcher{c: c, scoped: scoped, seen: make(map[string]bool), out: make(map[string][]store.Member), gone: make(map[string]bool)}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func (f *memberFetcher) submit(id, email string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submitLocked(id, email)
}

func (f *memberFetcher) submitLocked(id, email string) {
	if f.seen[id] {
		return
	}
	f.seen[id] = true
	f.c.progress.GroupQueued()
	f.queue = append(f.queue, groupRef{id, email})
	f.cond.Signal()
}

// close says no more groups come from outside.
func (f *memberFetcher) close() {
	f.mu.Lock()
	f.closed = true
	f.cond.Broadcast()
	f.mu.Unlock()
}

func (f *memberFetcher) fail(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.cond.Broadcast()
	f.mu.Unlock()
}

func (f *memberFetcher) wait() (map[string][]store.Member, error) {
	f.wg.Wait()
	return f.out, f.err
}

func (f *memberFetcher) work(ctx context.Context) {
	for {
		f.mu.Lock()
		for len(f.queue) == 0 && f.err == nil && !(f.closed && f.active == 0) {
			f.cond.Wait()
		}
		if f.err != nil || len(f.queue) == 0 {
			f.cond.Broadcast()
			f.mu.Unlock()
			return
		}
		ref := f.queue[0]
		f.queue[0] = groupRef{}
		f.queue = f.queue[1:]
		f.active++
		f.mu.Unlock()

		ms, err := f.c.listMembers(ctx, ref)

		f.mu.Lock()
		f.active--
		switch {
		case errors.Is(err, errGroupDeleted):
			f.gone[ref.id] = true
			f.c.progress.GroupListed()
		case err != nil && f.err == nil:
			f.err = err
			if f.c.abort != nil {
				f.c.abort(err) // stop the other listings too
			}
		case err == nil:
			f.out[ref.id] = ms
			f.c.progress.GroupListed()
			if f.scoped {
				for _, m := range ms {
					if m.Type == store.MemberGroup {
						f.submitLocked(m.ID, m.Email)
					}
				}
			}
		}
		f.cond.Broadcast()
		f.mu.Unlock()
	}
}

func (c *conn) listMembers(ctx context.Context, g groupRef) ([]store.Member, error) {
	var ms []store.Member
	seen := make(map[string]bool)
	what := "members.list (group " + g.email + ")"
	restart := func() {
		c.progress.AddMembers(-len(ms))
		ms = ms[:0]
		clear(seen)
	}
	err := c.pages(ctx, what, restart, func(ctx context.Context, token string) (string, error) {
		call := c.svc.Members.List(g.id).MaxResults(MaxMembersPage).Fields(googleapi.Field(membersFields)).Context(ctx)
		if token != "" {
			call = call.PageToken(token)
		}
		res, err := call.Do()
		if err != nil {
			return "", err
		}
		added := 0
		for _, am := range res.Members {
			if am != nil && strings.EqualFold(am.Type, "EXTERNAL") {
				continue // not a user of the organisation
			}
			m, err := dirapi.MemberFromAPI(am)
			if err != nil {
				return "", &permanent{err}
			}
			if m.Type == store.MemberGroup && m.ID == g.id {
				continue
			}
			k := string(m.Type) + "\x00" + m.ID
			if seen[k] {
				continue
			}
			seen[k] = true
			ms = append(ms, m)
			added++
		}
		c.progress.AddMembers(added)
		return res.NextPageToken, nil
	})
	if err != nil {
		c.progress.AddMembers(-len(ms))
		if ge := apiError(err); ge != nil && ge.Code == http.StatusNotFound {
			return nil, c.confirmGroupDeleted(ctx, g, err)
		}
		return nil, err
	}
	return ms, nil
}

// errGroupDeleted is a group deleted in Google after groups.list listed it:
// the fetch leaves it out whole rather than keep the pages it had.
var errGroupDeleted = errors.New("group deleted in google during the sync")

// confirmGroupDeleted asks groups.get whether a group whose members.list
// answered 404 (listErr) is really gone. It returns errGroupDeleted if so;
// otherwise an error that fails the fetch, because the member list it has
// is incomplete.
func (c *conn) confirmGroupDeleted(ctx context.Context, g groupRef, listErr error) error {
	err := c.retry.do(ctx, "groups.get "+g.email, func(ctx context.Context) error {
		_, err := c.svc.Groups.Get(g.id).Fields("id").Context(ctx).Do()
		return err
	})
	switch ge := apiError(err); {
	case err == nil:
		return fmt.Errorf("%w (groups.get still finds the group: its member list would be incomplete)", listErr)
	case ge != nil && ge.Code == http.StatusNotFound:
		c.s.log.Warn("group deleted in Google while its members were listed; left out of this sync whole", "group", g.email)
		return errGroupDeleted
	default:
		return err
	}
}
