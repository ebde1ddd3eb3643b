package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/google"
	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

// TestMetricsMove checks that the metrics are there and move with binds,
// searches and syncs.
func TestMetricsMove(t *testing.T) {
	fg := startFileGateway(t, "", "")
	ok := `ldapgate_ldap_binds_total{method="service_account",result="success"}`
	bad := `ldapgate_ldap_binds_total{method="service_account",result="invalidCredentials"}`
	for name, want := range map[string]float64{
		`ldapgate_sync_runs_total{result="success"}`: 1,
		`ldapgate_store_users`:                       5,
		ok:                                           -1, // no bind yet
	} {
		if got := metric(t, fg.ops, name); got != want && !(name == `ldapgate_store_users` && got > 0) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if v := metric(t, fg.ops, "ldapgate_last_successful_sync_timestamp_seconds"); v <= 0 {
		t.Errorf("last successful sync = %v", v)
	}
	if err := bindErr(t, fg.ldapURL, archiveDN, demoPassword); err != nil {
		t.Fatal(err)
	}
	_ = bindErr(t, fg.ldapURL, archiveDN, "wrong")
	if v := metric(t, fg.ops, ok); v != 1 {
		t.Errorf("%s = %v, want 1", ok, v)
	}
	if v := metric(t, fg.ops, bad); v != 1 {
		t.Errorf("%s = %v, want 1", bad, v)
	}
	if v := metric(t, fg.ops, `ldapgate_ldap_operation_duration_seconds_count{op="bind"}`); v != 2 {
		t.Errorf("bind operations = %v, want 2", v)
	}
	if _, err := fg.g.Sync(t.Context(), engine.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if v := metric(t, fg.ops, `ldapgate_sync_runs_total{result="success"}`); v != 2 {
		t.Errorf("sync runs = %v, want 2", v)
	}
	if v := metric(t, fg.ops, `ldapgate_sync_duration_seconds_count`); v != 2 {
		t.Errorf("sync duration count = %v, want 2", v)
	}
	for _, name := range []string{"ldapgate_ldap_open_connections", "ldapgate_store_groups", "ldapgate_google_api_calls_total",
		"ldapgate_google_api_retries_total", "ldapgate_ldap_searches_total"} {
		if v := metric(t, fg.ops, name); v < 0 {
			t.Errorf("metric %s missing", name)
		}
	}
}

// TestHealth checks /healthz and /readyz, and that /readyz fails when the
// last successful sync is too old.
func TestHealth(t *testing.T) {
	fg := startFileGateway(t, "", "")
	if code, h := getHealth(t, fg.ops+"/healthz"); code != http.StatusOK || h.Status != "ok" {
		t.Errorf("/healthz = %d %+v", code, h)
	}
	if code, h := getHealth(t, fg.ops+"/readyz"); code != http.StatusOK || h.Users == 0 {
		t.Errorf("/readyz = %d %+v", code, h)
	}

	stale := startFileGateway(t, "", strings.Replace(demoConfigText(t, t.TempDir()), "metrics:\n", "metrics:\n  ready_max_age: 1ns\n", 1))
	code, h := getHealth(t, stale.ops+"/readyz")
	if code != http.StatusServiceUnavailable || len(h.Reasons) != 1 || !strings.Contains(h.Reasons[0], "older than") {
		t.Errorf("stale /readyz = %d %+v, want 503 because of the sync's age", code, h)
	}
}

// TestPublicHealthHidesDetails: a refused config's error can quote a
// secret pasted into the wrong key. The portal's /healthz and /readyz say
// only ok or failing; the metrics listener keeps the details.
func TestPublicHealthHidesDetails(t *testing.T) {
	const secret = "SuperSecretPw1!"
	g, _, _, _ := startAuthDemoWith(t, "metrics:\n  listen: 127.0.0.1:0\n")
	writeFile(t, g.Config().Path(), "domain: "+secret+"\n")
	if err := g.Reload(t.Context()); err == nil {
		t.Fatal("the broken config reloaded")
	}
	code, h := getHealth(t, "http://"+g.MetricsAddr().String()+"/healthz")
	if code != http.StatusOK || h.ConfigOK || !strings.Contains(h.ConfigError, secret) {
		t.Errorf("metrics listener /healthz = %d %+v, want the config error in detail", code, h)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + g.HTTPAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
			t.Errorf("portal %s = %d %s, want 200 and the status alone", path, resp.StatusCode, body)
		}
	}
}

// TestMetricsListenerClosesIdleConnections: a keep-alive connection to
// metrics.listen that sends nothing after its request is closed by the
// server after the idle timeout (here 50ms instead of 2m).
func TestMetricsListenerClosesIdleConnections(t *testing.T) {
	cfg, err := ParseConfig(filepath.Join(t.TempDir(), "ldapgate.yaml"), []byte(demoConfigText(t, t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	g := runGateway(t, cfg, testLog(), func(g *Gateway) { g.web.idle = 50 * time.Millisecond })
	c, err := net.Dial("tcp", g.MetricsAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: metrics\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("response %d, close %v: want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	// The deadline only bounds the test; the server must close first.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := r.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: read %d bytes, %v; want EOF (closed by the server)", n, err)
	}
}

// TestAuditLog: at info the log has binds (audit=true) but not the
// applied sync changes, which go to the audit file, every one of them.
func TestAuditLog(t *testing.T) {
	var buf syncBuffer
	fg := startFileGatewayLog(t, "", "", &buf)
	if err := bindErr(t, fg.ldapURL, archiveDN, "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	fg.g.auditPlan(t.Context(), &engine.Result{RunID: 7, Plan: demoPlan()})
	var logged []string
	for _, rec := range jsonLines(t, buf.Bytes()) {
		if rec["audit"] == true || rec["msg"] == "sync change" {
			logged = append(logged, rec["msg"].(string))
		}
	}
	if strings.Join(logged, ",") != "bind" {
		t.Errorf("audit records in the info log %v, want the bind alone", logged)
	}
	data, err := os.ReadFile(fg.g.config().AuditFile())
	if err != nil {
		t.Fatal(err)
	}
	var inFile []string
	users := 0
	for _, rec := range jsonLines(t, data) {
		inFile = append(inFile, rec["msg"].(string))
		if rec["msg"] == "sync change" && rec["object"] == "user" {
			users++
		}
	}
	// The first sync added the demo's users; then the failed bind and the plan.
	if n := len(fg.g.View().Users) + 1; users != n {
		t.Errorf("user changes in the audit file: %d, want %d (every user of the first sync, and the plan's)", users, n)
	}
	if len(inFile) < 3 || strings.Join(inFile[len(inFile)-2:], ",") != "bind,sync change" {
		t.Errorf("audit file records %v, want the sync's changes, then bind, sync change", inFile)
	}
}

// TestAuditChangesAtDebug: with log.level debug, sync changes are in the
// log too.
func TestAuditChangesAtDebug(t *testing.T) {
	var buf syncBuffer
	dir := t.TempDir()
	cfg, err := ParseConfig(filepath.Join(dir, "ldapgate.yaml"), []byte(demoConfigText(t, dir)))
	if err != nil {
		t.Fatal(err)
	}
	g := runGateway(t, cfg, slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	g.auditPlan(t.Context(), &engine.Result{RunID: 7, Plan: demoPlan()})
	n := 0
	for _, rec := range jsonLines(t, buf.Bytes()) {
		if rec["msg"] == "sync change" && rec["user"] == "new@example.com" && rec["level"] == "DEBUG" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("debug log has %d records of the change, want 1:\n%s", n, buf.Bytes())
	}
}

func jsonLines(t testing.TB, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		out = append(out, rec)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func demoPlan() *store.Plan {
	return &store.Plan{Users: []store.UserChange{{Action: store.ActionAdd, Reason: "new in source",
		User: store.User{ID: "1", PrimaryEmail: "new@example.com"}}}}
}

// The Google metrics come from the source's counters, not from its log: a
// rate-limit answer the fake injects moves calls, retries and rate-limited
// answers and lowers the pace, and the counts outlive the source when a
// reload replaces it.
func TestGoogleMetrics(t *testing.T) {
	fg := startFileGateway(t, "", "")
	srv := googletest.New(t)
	sa := googletest.NewServiceAccount(t, "ldapgate@ldapgate-test.iam.gserviceaccount.com")
	srv.AddServiceAccount(sa)
	srv.Delegate(sa, googletest.AllScopes...)
	srv.PutUser(&admin.User{Id: "u1", PrimaryEmail: "admin@example.com", OrgUnitPath: "/"})
	srv.SetAdmin("admin@example.com", true)
	srv.Inject(googletest.Fault{Call: "users.list", Times: 1, Status: 403, Reason: "userRateLimitExceeded"})
	newSrc := func() *google.Source {
		return google.New(google.Config{KeyFile: googletest.WriteFile(t, "key.json", sa.JSONKey(t, srv.TokenURL)),
			AdminEmail: "admin@example.com", APIEndpoint: srv.APIEndpoint, BackoffBase: time.Millisecond})
	}
	src := newSrc()
	fg.g.metrics.setSource(src)
	if _, err := src.Fetch(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"ldapgate_google_api_calls_total":        float64(src.Calls()),
		"ldapgate_google_api_retries_total":      1,
		"ldapgate_google_api_rate_limited_total": 1,
	}
	if want["ldapgate_google_api_calls_total"] < 4 { // token, users, groups, the retry
		t.Fatalf("source made %v calls", want["ldapgate_google_api_calls_total"])
	}
	for name, w := range want {
		if got := metric(t, fg.ops, name); got != w {
			t.Errorf("%s = %v, want %v", name, got, w)
		}
	}
	if got := metric(t, fg.ops, "ldapgate_google_api_pace_calls_per_minute"); got <= 0 || got >= google.DefaultMaxCallsPerMinute {
		t.Errorf("pace = %v/min, want below the default %d after a rate-limit answer", got, google.DefaultMaxCallsPerMinute)
	}

	fg.g.metrics.setSource(newSrc()) // a reload
	for name, w := range want {
		if got := metric(t, fg.ops, name); got != w {
			t.Errorf("after a reload: %s = %v, want %v", name, got, w)
		}
	}
}
