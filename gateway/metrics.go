package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ldapgate/ldapgate/bindproxy"
	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/google"
)

// metrics are the gateway's Prometheus metrics, in a registry of their own
// (served on /metrics) so that tests run gateways side by side.
type metrics struct {
	g   *Gateway
	reg *prometheus.Registry

	binds       *prometheus.CounterVec
	ops         *prometheus.HistogramVec
	searches    prometheus.Counter
	syncRuns    *prometheus.CounterVec
	changes     *prometheus.CounterVec
	syncTook    prometheus.Histogram
	lastSuccess atomic.Int64 // unix seconds; 0 = never
	reloads     *prometheus.CounterVec
	reloadOK    prometheus.Gauge

	mu      sync.Mutex
	src     engine.Source
	retired map[string]uint64 // bind chain counts of chains a reload replaced
	google  googleCalls       // counts of replaced Google sources
}

// googleCalls are a Google source's counters.
type googleCalls struct{ calls, retries, rateLimited int64 }

func googleCounts(gs *google.Source) googleCalls {
	return googleCalls{calls: gs.Calls(), retries: gs.Retries(), rateLimited: gs.RateLimited()}
}

func (c *googleCalls) add(d googleCalls) {
	c.calls += d.calls
	c.retries += d.retries
	c.rateLimited += d.rateLimited
}

var _ directory.Observer = (*metrics)(nil)

func newMetrics(g *Gateway) *metrics {
	m := &metrics{g: g, reg: prometheus.NewRegistry(), retired: map[string]uint64{}}
	m.binds = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ldapgate_ldap_binds_total",
		Help: "LDAP binds by kind of bind name (service_account, user, anonymous, unknown, ...) and LDAP result."}, []string{"method", "result"})
	m.ops = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ldapgate_ldap_operation_duration_seconds",
		Help: "LDAP operation latency by operation.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"op"})
	m.searches = prometheus.NewCounter(prometheus.CounterOpts{Name: "ldapgate_ldap_searches_total", Help: "LDAP search requests."})
	m.syncRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ldapgate_sync_runs_total",
		Help: "Sync runs by result: success, failure, refused (deletion guard); dry runs have dry_run in front."}, []string{"result"})
	m.changes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ldapgate_sync_changes_polls_total",
		Help: "Polls of Google's admin events (sync.incremental) by result: no_change, applied, failure, refused (deletion guard), waiting (no full sync yet)."}, []string{"result"})
	m.syncTook = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ldapgate_sync_duration_seconds",
		Help: "Duration of sync runs.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ldapgate_config_reloads_total",
		Help: "Config reloads by result (success, failure)."}, []string{"result"})
	m.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ldapgate_config_last_reload_successful",
		Help: "1 if the last config reload succeeded (or none happened), 0 if ldapgate runs on an older config."})
	m.reloadOK.Set(1)
	b := Build()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ldapgate_build_info",
		Help:        "1, labelled with the running binary's version, commit, commit time, whether its work tree was modified, and Go version.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "vcs_time": b.Time, "modified": strconv.FormatBool(b.Modified), "goversion": b.GoVersion}})
	buildInfo.Set(1)
	m.reg.MustRegister(m.binds, m.ops, m.searches, m.syncRuns, m.changes, m.syncTook, m.reloads, m.reloadOK, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ldapgate_ldap_open_connections",
		Help: "Open LDAP client connections."}, func() float64 {
		g.mu.Lock()
		defer g.mu.Unlock()
		n := 0
		for _, s := range g.servers {
			n += s.OpenConns()
		}
		return float64(n)
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ldapgate_store_users",
		Help: "Users in the directory view (the store as served)."}, func() float64 { return float64(viewLen(g.live.Load(), true)) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ldapgate_store_groups",
		Help: "Groups in the directory view."}, func() float64 { return float64(viewLen(g.live.Load(), false)) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ldapgate_last_successful_sync_timestamp_seconds",
		Help: "Unix time of the end of the last successful sync; 0 if none."}, func() float64 { return float64(m.lastSuccess.Load()) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ldapgate_store_up",
		Help: "1 if the store answered the last look for changes (every 2 s), else 0."}, func() float64 {
		if g.storeDown.Load() != nil {
			return 0
		}
		return 1
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ldapgate_store_disk_full",
		Help: "1 if a write found the store's disk full since the last successful sync, else 0."}, func() float64 {
		if _, full := g.db.DiskFull(); full {
			return 1
		}
		return 0
	}))
	gate := passhash.Shared()
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ldapgate_password_hashes_in_flight",
		Help: "Password hash comparisons running now (all binds share one bounded gate)."},
		func() float64 { return float64(gate.InFlight()) }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ldapgate_password_hash_busy_total",
		Help: "Binds answered busy because the password hash gate stayed full."},
		func() float64 { return float64(gate.BusyTotal()) }))
	m.reg.MustRegister(&chainCollector{m: m})
	return m
}

func viewLen(v *store.View, users bool) int {
	if v == nil {
		return 0
	}
	if users {
		return len(v.Users)
	}
	return len(v.Groups)
}

// Operation implements directory.Observer.
func (m *metrics) Operation(op string, took time.Duration) {
	m.ops.WithLabelValues(op).Observe(took.Seconds())
	if op == "search" {
		m.searches.Inc()
	}
}

// Bind implements directory.Observer; it also writes the audit record.
func (m *metrics) Bind(method, result, name string, client net.Addr) {
	m.binds.WithLabelValues(method, result).Inc()
	if method == "anonymous" || !m.g.audit.Enabled(context.Background(), slog.LevelInfo) {
		return // the record's arguments cost allocations
	}
	addr := ""
	if client != nil {
		addr = client.String()
	}
	m.g.audit.Info("bind", "dn", name, "kind", method, "result", result, "client", addr)
}

func (m *metrics) syncDone(opts engine.RunOptions, took time.Duration, err error) {
	result := "success"
	switch {
	case errors.Is(err, engine.ErrTooManyDeletes):
		result = "refused"
	case err != nil:
		result = "failure"
	}
	if opts.DryRun {
		result = "dry_run_" + result
	} else {
		m.syncTook.Observe(took.Seconds())
		if err == nil {
			m.lastSuccess.Store(time.Now().Unix())
		}
	}
	m.syncRuns.WithLabelValues(result).Inc()
}

func (m *metrics) changesPolled(result string) { m.changes.WithLabelValues(result).Inc() }

func (m *metrics) reloaded(ok bool) {
	if ok {
		m.reloads.WithLabelValues("success").Inc()
		m.reloadOK.Set(1)
		b := Build()
		buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ldapgate_build_info",
			Help:        "1, labelled with the running binary's version, commit, commit time, whether its work tree was modified, and Go version.",
			ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "vcs_time": b.Time, "modified": strconv.FormatBool(b.Modified), "goversion": b.GoVersion}})
		buildInfo.Set(1)
	} else {
		m.reloads.WithLabelValues("failure").Inc()
		m.reloadOK.Set(0)
	}
}

// setSource remembers the sync source, whose Google API calls are counted.
func (m *metrics) setSource(src engine.Source) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gs, ok := m.src.(*google.Source); ok && m.src != src {
		m.google.add(googleCounts(gs))
	}
	m.src = src
}

func (m *metrics) retireChain(c *bindproxy.Chain) {
	counts := c.Counts()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range counts {
		m.retired[k] += v
	}
}

// chainCollector exports the bind chain's counts and the Google calls.
type chainCollector struct{ m *metrics }

var (
	descChain = prometheus.NewDesc("ldapgate_bind_method_results_total",
		"User bind attempts by bind chain method and result (accepted, refused, not_applicable, busy, unavailable: could not check) and whether the bind cache answered.",
		[]string{"method", "result", "cached"}, nil)
	descGoogle = prometheus.NewDesc("ldapgate_google_api_calls_total",
		"HTTP calls to the Google Directory API (attempts, retries and token calls included).", nil, nil)
	descGoogleRetries = prometheus.NewDesc("ldapgate_google_api_retries_total",
		"Retries of Google calls (each retry once; token calls included).", nil, nil)
	descGoogleRateLimited = prometheus.NewDesc("ldapgate_google_api_rate_limited_total",
		"Rate-limit answers from the Google Directory API (429, or 403 with a rate or quota reason).", nil, nil)
	descGooglePace = prometheus.NewDesc("ldapgate_google_api_pace_calls_per_minute",
		"The pace Google Directory API calls keep now: source.google.max_calls_per_minute, or less for a while after rate-limit answers.", nil, nil)
)

func (c *chainCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descChain
	ch <- descGoogle
	ch <- descGoogleRetries
	ch <- descGoogleRateLimited
	ch <- descGooglePace
}

func (c *chainCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	counts := make(map[string]uint64, len(m.retired))
	for k, v := range m.retired {
		counts[k] = v
	}
	gc := m.google
	src := m.src
	m.mu.Unlock()
	if chain := m.g.users.chain(); chain != nil {
		for k, v := range chain.Counts() {
			counts[k] += v
		}
	}
	for k, v := range counts {
		f := strings.Fields(k)
		if len(f) < 2 {
			continue
		}
		cached := "false"
		if len(f) > 2 && f[2] == "cached" {
			cached = "true"
		}
		ch <- prometheus.MustNewConstMetric(descChain, prometheus.CounterValue, float64(v), f[0], f[1], cached)
	}
	gs, isGoogle := src.(*google.Source)
	if isGoogle {
		gc.add(googleCounts(gs))
	}
	ch <- prometheus.MustNewConstMetric(descGoogle, prometheus.CounterValue, float64(gc.calls))
	ch <- prometheus.MustNewConstMetric(descGoogleRetries, prometheus.CounterValue, float64(gc.retries))
	ch <- prometheus.MustNewConstMetric(descGoogleRateLimited, prometheus.CounterValue, float64(gc.rateLimited))
	if isGoogle {
		ch <- prometheus.MustNewConstMetric(descGooglePace, prometheus.GaugeValue, gs.Rate())
	}
}

// loadLastSuccess reads the time of the last successful sync from the
// store's run records, for /readyz and the metric after a restart.
func (g *Gateway) loadLastSuccess(ctx context.Context) {
	runs, err := g.db.SyncRuns(ctx, 100)
	if err != nil {
		g.log.Warn("cannot read the sync runs", "err", err)
		return
	}
	for _, r := range runs {
		// An incremental run says nothing of the full sync's age.
		if r.Error == "" && r.Kind != store.RunIncremental {
			g.metrics.lastSuccess.Store(r.FinishedAt.Unix())
			return
		}
	}
}

// LastSuccessfulSync returns when the last successful sync ended (zero if
// never).
func (g *Gateway) LastSuccessfulSync() time.Time {
	s := g.metrics.lastSuccess.Load()
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// health is the body of /healthz and /readyz.
type health struct {
	Status       string    `json:"status"` // ok or failing
	Users        int       `json:"users"`
	Groups       int       `json:"groups"`
	LastSync     time.Time `json:"lastSuccessfulSync,omitzero"`
	MaxAge       string    `json:"maxAge,omitempty"`
	Reasons      []string  `json:"reasons,omitempty"`
	ConfigOK     bool      `json:"configOK"`
	ConfigError  string    `json:"configError,omitempty"`
	ConfigReload time.Time `json:"configReloadAt,omitzero"`
	Restart      []string  `json:"restartNeededFor,omitempty"`
	// DiskFull says since when syncs cannot write for lack of disk space.
	// It does not fail /readyz by itself: the last good data is still
	// served, and ready_max_age turns it failing if it lasts.
	DiskFull string `json:"storeDiskFull,omitempty"`
	// StoreDown says since when the store (PostgreSQL, say) cannot be
	// reached. Unlike DiskFull it fails /readyz: the instance still serves
	// searches and cached binds from its view, but it cannot see an app
	// password revoked elsewhere, so a load balancer should prefer an
	// instance that can (README "Run several instances" keeps a fallback
	// for when none can).
	StoreDown string    `json:"storeUnreachable,omitempty"`
	Build     BuildInfo `json:"build"`
}

func (g *Gateway) health(ready bool) (health, bool) {
	v := g.live.Load()
	cfg := g.config()
	h := health{Status: "ok", Users: viewLen(v, true), Groups: viewLen(v, false), LastSync: g.LastSuccessfulSync(), ConfigOK: true, Build: Build()}
	rs := g.ReloadStatus()
	if !rs.At.IsZero() {
		h.ConfigReload, h.ConfigOK = rs.At, rs.OK
		if rs.Err != nil {
			h.ConfigError = rs.Err.Error()
		}
	}
	for _, c := range rs.Restart {
		h.Restart = append(h.Restart, c.Key)
	}
	if full, ok := g.db.DiskFull(); ok {
		h.DiskFull = fmt.Sprintf("since %s the store's disk is full: syncs cannot write and the last good data is served",
			full.Since.UTC().Format(time.RFC3339))
	}
	if down := g.storeDown.Load(); down != nil {
		h.StoreDown = fmt.Sprintf("since %s the store cannot be reached (%s): searches and cached binds are served from the last view; syncs fail, uncached user binds answer unavailable, and changes made through other instances are not seen",
			down.since.UTC().Format(time.RFC3339), down.err)
	}
	ok := true
	if ready {
		h.MaxAge = cfg.ReadyMaxAge().String()
		if h.StoreDown != "" {
			ok = false
			h.Reasons = append(h.Reasons, h.StoreDown)
		}
		if h.Users == 0 {
			ok = false
			h.Reasons = append(h.Reasons, "the store has no users")
		}
		switch {
		case h.LastSync.IsZero():
			ok = false
			h.Reasons = append(h.Reasons, "no successful sync yet")
		case time.Since(h.LastSync) > cfg.ReadyMaxAge():
			ok = false
			h.Reasons = append(h.Reasons, fmt.Sprintf("the last successful sync is older than %s", cfg.ReadyMaxAge()))
		}
	}
	if !ok {
		h.Status = "failing"
	}
	return h, ok
}

// serveHealth answers /healthz (ready false) or /readyz. Without details
// the body is the status alone: a refused config's error may quote a value
// from the file, a password pasted into the wrong key among them.
func (g *Gateway) serveHealth(ready, details bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		h, ok := g.health(ready)
		var body any = h
		if !details {
			body = struct {
				Status string `json:"status"`
			}{h.Status}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(body)
	}
}

// opsMux serves /metrics, /healthz and /readyz; the health endpoints give
// details only on the metrics listener (see serveHealth).
func (g *Gateway) opsMux(details bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /healthz", g.serveHealth(false, details))
	mux.Handle("GET /readyz", g.serveHealth(true, details))
	return mux
}

// httpHandler is the web server's handler: the monitoring endpoints
// (health without details: the portal is public), and the portal (with
// the admin page) for everything else.
func (g *Gateway) httpHandler(portal http.Handler) http.Handler {
	mux := g.opsMux(false)
	mux.Handle("/", portal)
	return mux
}

// httpTimeouts bound what a slow or idle client holds on the web
// listeners (the portal and metrics.listen): without an idle timeout a
// keep-alive connection stays open for good, and many of them exhaust the
// process's file descriptors.
type httpTimeouts struct{ readHeader, read, write, idle time.Duration }

var defaultHTTPTimeouts = httpTimeouts{readHeader: 10 * time.Second, read: 30 * time.Second, write: 30 * time.Second, idle: 2 * time.Minute}

func (t httpTimeouts) server(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.readHeader, ReadTimeout: t.read, WriteTimeout: t.write,
		IdleTimeout: t.idle, MaxHeaderBytes: 64 << 10}
}

// startMetricsListener serves the monitoring endpoints on metrics.listen.
func (g *Gateway) startMetricsListener(cfg *Config) error {
	if cfg.Metrics.Listen == "" {
		return nil
	}
	l, err := g.listen("metrics", cfg.Metrics.Listen) // activation.go
	if err != nil {
		return fmt.Errorf("metrics listen: %w", err)
	}
	srv := g.web.server(g.opsMux(true))
	g.auth.mu.Lock()
	g.auth.metricsSrv, g.auth.metricsAddr = srv, l.Addr()
	g.auth.mu.Unlock()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("metrics listener stopped", "err", err)
		}
	}()
	g.log.Info("serving metrics and health", "addr", l.Addr().String())
	return nil
}

// MetricsAddr returns metrics.listen's address (nil without it).
func (g *Gateway) MetricsAddr() net.Addr {
	g.auth.mu.Lock()
	defer g.auth.mu.Unlock()
	return g.auth.metricsAddr
}
