package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/engine"
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

// TestAuditLog checks that binds and applied sync changes are logged with
// audit=true.
func TestAuditLog(t *testing.T) {
	var buf syncBuffer
	fg := startFileGatewayLog(t, "", "", &buf)
	if err := bindErr(t, fg.ldapURL, archiveDN, "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	fg.g.auditPlan(t.Context(), &engine.Result{RunID: 7, Plan: demoPlan()})
	var seen []string
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if rec["audit"] == true {
			seen = append(seen, rec["msg"].(string))
		}
	}
	// The first sync added the demo's users; then the failed bind and the plan.
	if len(seen) < 3 || seen[0] != "sync change" || strings.Join(seen[len(seen)-2:], ",") != "bind,sync change" {
		t.Errorf("audit records %v, want bind, sync change", seen)
	}
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
