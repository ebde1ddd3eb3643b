package gateway

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/internal/apppassword"
	"github.com/ldapgate/ldapgate/internal/passhash"
)

const archiveDN = "cn=archive,ou=services,dc=example,dc=com"

// fileGateway is a gateway running on a config file on disk, with the
// monitoring endpoints on metrics.listen.
type fileGateway struct {
	g       *Gateway
	ldapURL string
	cfgPath string // the path ldapgate was started with
	text    string // the config as first written
	ops     string // http://host:port of metrics.listen
}

// demoConfigText is the demo config with a private store and directory
// file in dir and every listener on port 0.
func demoConfigText(t testing.TB, dir string) string {
	t.Helper()
	text, _ := demoFiles(t, dir)
	return text + "\nmetrics:\n  listen: 127.0.0.1:0\n"
}

// startFileGateway writes text (the demo config if "") to cfgPath (a
// file in a new folder if "") and runs a gateway on it. setup runs
// before Run.
func startFileGateway(t *testing.T, cfgPath, text string, setup ...func(*Gateway)) *fileGateway {
	t.Helper()
	return startFileGatewayLog(t, cfgPath, text, nil, setup...)
}

// startFileGatewayLog is startFileGateway with the log in JSON to w.
func startFileGatewayLog(t *testing.T, cfgPath, text string, w io.Writer, setup ...func(*Gateway)) *fileGateway {
	t.Helper()
	if cfgPath == "" {
		cfgPath = filepath.Join(t.TempDir(), "ldapgate.yaml")
		if text == "" {
			text = demoConfigText(t, filepath.Dir(cfgPath))
		}
		writeFile(t, cfgPath, text)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	log := testLog()
	if w != nil {
		log = slog.New(slog.NewJSONHandler(w, nil))
	}
	g := runGateway(t, cfg, log, setup...)
	return &fileGateway{g: g, ldapURL: "ldap://" + g.LDAPAddrs()[0].String(), cfgPath: cfgPath, text: text,
		ops: "http://" + g.MetricsAddr().String()}
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes text as an editor does: a new file renamed over path.
func replaceFile(t testing.TB, path, text string) {
	t.Helper()
	tmp := path + ".swp"
	writeFile(t, tmp, text)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitReload waits until the gateway has seen n reloads (successful or
// not). The watcher's debounce makes this take a few hundred ms.
func waitReload(t testing.TB, g *Gateway, after time.Time) ReloadStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if st := g.ReloadStatus(); st.At.After(after) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the config was not reloaded within 10s")
	return ReloadStatus{}
}

// withArchivePassword returns text with the archive account's hash
// replaced by one of pw.
func withArchivePassword(t testing.TB, text, pw string) string {
	t.Helper()
	h, err := passhash.Hash(pw, passhash.Default)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`password_hash: "[^"]*"`)
	if !re.MatchString(text) {
		t.Fatal("no password_hash in the config")
	}
	return re.ReplaceAllLiteralString(text, `password_hash: "`+h+`"`)
}

func bindErr(t testing.TB, url, dn, pw string) error {
	t.Helper()
	c, err := ldap.DialURL(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Bind(dn, pw)
}

// metric returns the value of the sample line that starts with name (a
// metric name with its labels as Prometheus prints them), or -1.
func metric(t testing.TB, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, line)
			}
			return f
		}
	}
	return -1
}

func getHealth(t testing.TB, url string) (int, health) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, h
}

// TestReloadServiceAccount edits the service account's password by
// rename-replace: the new password works at once, the old one no more,
// and an LDAP connection bound before the reload stays open and usable.
func TestReloadServiceAccount(t *testing.T) {
	fg := startFileGateway(t, "", "")
	old, err := ldap.DialURL(fg.ldapURL)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := old.Bind(archiveDN, demoPassword); err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	replaceFile(t, fg.cfgPath, withArchivePassword(t, fg.text, "new-secret"))
	st := waitReload(t, fg.g, before)
	if !st.OK {
		t.Fatalf("reload failed: %v", st.Err)
	}
	if len(st.Changes) != 1 || st.Changes[0].Key != "service_accounts" || st.Changes[0].Effect != EffectNow {
		t.Errorf("changes = %v, want service_accounts (now)", st.Changes)
	}
	if err := bindErr(t, fg.ldapURL, archiveDN, "new-secret"); err != nil {
		t.Errorf("bind with the new password: %v", err)
	}
	if err := bindErr(t, fg.ldapURL, archiveDN, demoPassword); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("bind with the old password: %v, want invalidCredentials", err)
	}
	// The connection opened before the reload is still there.
	res, err := old.Search(ldap.NewSearchRequest("dc=example,dc=com", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(uid=daniel.kim)", []string{"uid"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Errorf("search on the connection bound before the reload: %v", err)
	}
	if v := metric(t, fg.ops, `ldapgate_config_reloads_total{result="success"}`); v != 1 {
		t.Errorf("reloads success = %v, want 1", v)
	}
}

// TestReloadInvalid writes a config with a typo: it is refused with the
// file and line, the failure shows in the metric and /healthz, and the old
// config keeps serving.
func TestReloadInvalid(t *testing.T) {
	fg := startFileGateway(t, "", "")
	bad := withArchivePassword(t, fg.text, "new-secret") + "sycn:\n  interval: 1m\n"
	line := strings.Count(bad, "\n") - 1
	before := time.Now()
	writeFile(t, fg.cfgPath, bad) // in place, as `echo >>` does
	st := waitReload(t, fg.g, before)
	if st.OK || st.Err == nil {
		t.Fatalf("a config with an unknown key was accepted")
	}
	want := fg.cfgPath + ":" + strconv.Itoa(line) + `: unknown key "sycn"`
	if !strings.Contains(st.Err.Error(), want) {
		t.Errorf("reload error = %q, want it to contain %q", st.Err, want)
	}
	if err := bindErr(t, fg.ldapURL, archiveDN, demoPassword); err != nil {
		t.Errorf("the old password stopped working: %v", err)
	}
	if err := bindErr(t, fg.ldapURL, archiveDN, "new-secret"); err == nil {
		t.Error("the refused config's password works")
	}
	if v := metric(t, fg.ops, `ldapgate_config_reloads_total{result="failure"}`); v != 1 {
		t.Errorf("reloads failure = %v, want 1", v)
	}
	if v := metric(t, fg.ops, `ldapgate_config_last_reload_successful`); v != 0 {
		t.Errorf("last reload successful = %v, want 0", v)
	}
	code, h := getHealth(t, fg.ops+"/healthz")
	if code != http.StatusOK || h.ConfigOK || !strings.Contains(h.ConfigError, want) {
		t.Errorf("/healthz = %d %+v, want 200 with the config error", code, h)
	}

	// Fixing the file recovers.
	before = time.Now()
	replaceFile(t, fg.cfgPath, withArchivePassword(t, fg.text, "new-secret"))
	if st := waitReload(t, fg.g, before); !st.OK {
		t.Fatalf("the fixed config was refused: %v", st.Err)
	}
	if err := bindErr(t, fg.ldapURL, archiveDN, "new-secret"); err != nil {
		t.Errorf("bind after the fix: %v", err)
	}
	if v := metric(t, fg.ops, `ldapgate_config_last_reload_successful`); v != 1 {
		t.Errorf("last reload successful = %v, want 1", v)
	}
}

// TestReloadSymlinkSwap mounts the config as Kubernetes mounts a
// ConfigMap: ldapgate.yaml -> ..data/ldapgate.yaml, ..data -> a
// timestamped folder, and an update swaps ..data atomically.
func TestReloadSymlinkSwap(t *testing.T) {
	root := t.TempDir()
	text := demoConfigText(t, root)
	v1, v2 := filepath.Join(root, "..2026_01"), filepath.Join(root, "..2026_02")
	for _, d := range []string{v1, v2} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(v1, "ldapgate.yaml"), text)
	writeFile(t, filepath.Join(v2, "ldapgate.yaml"), withArchivePassword(t, text, "swapped"))
	mustSymlink(t, "..2026_01", filepath.Join(root, "..data"))
	mustSymlink(t, "..data/ldapgate.yaml", filepath.Join(root, "ldapgate.yaml"))
	fg := startFileGateway(t, filepath.Join(root, "ldapgate.yaml"), text)

	before := time.Now()
	mustSymlink(t, "..2026_02", filepath.Join(root, "..data_tmp"))
	if err := os.Rename(filepath.Join(root, "..data_tmp"), filepath.Join(root, "..data")); err != nil {
		t.Fatal(err)
	}
	if st := waitReload(t, fg.g, before); !st.OK {
		t.Fatalf("reload: %v", st.Err)
	}
	if err := bindErr(t, fg.ldapURL, archiveDN, "swapped"); err != nil {
		t.Errorf("bind with the swapped-in password: %v", err)
	}
}

func mustSymlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestReloadSIGHUP reloads on SIGHUP; a restart-only change is reported as
// such and not applied.
func TestReloadSIGHUP(t *testing.T) {
	fg := startFileGateway(t, "", "", func(g *Gateway) { g.reload.debounce = time.Hour }) // only the signal may reload
	text := strings.Replace(withArchivePassword(t, fg.text, "hup"), "ldap:\n  listen: 127.0.0.1:0", "ldap:\n  listen: 127.0.0.1:1", 1)
	writeFile(t, fg.cfgPath, text)
	before := time.Now()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	st := waitReload(t, fg.g, before)
	if !st.OK {
		t.Fatalf("reload: %v", st.Err)
	}
	if err := bindErr(t, fg.ldapURL, archiveDN, "hup"); err != nil {
		t.Errorf("bind after SIGHUP: %v", err)
	}
	if len(st.Restart) != 1 || st.Restart[0].Key != "ldap.listen" {
		t.Errorf("restart needed for %v, want ldap.listen", st.Restart)
	}
	if got := fg.g.Config().LDAP.Listen; got != "127.0.0.1:0" {
		t.Errorf("config in effect has ldap.listen %q, want the old value", got)
	}
	_, h := getHealth(t, fg.ops+"/healthz")
	if len(h.Restart) != 1 {
		t.Errorf("/healthz restartNeededFor = %v", h.Restart)
	}
}

// TestReloadFilterAppliesWithSync adds a privilege rule: the reload
// starts a sync, after which the new privilege is served.
func TestReloadFilterAppliesWithSync(t *testing.T) {
	fg := startFileGateway(t, "", "")
	if p, ok := fg.g.View().Privilege("auditor"); !ok || len(p.Users) > 0 {
		t.Fatalf("privilege auditor before the edit: %v %v; want declared, held by none", p, ok)
	}
	before := time.Now()
	replaceFile(t, fg.cfgPath, strings.Replace(fg.text, "  privilege_rules:\n", "  privilege_rules:\n    - group: archive-users@example.com\n      privileges: [auditor]\n", 1))
	st := waitReload(t, fg.g, before)
	if !st.OK || len(st.Changes) != 1 || st.Changes[0].Effect != EffectNextSync {
		t.Fatalf("reload: %v %v", st.Err, st.Changes)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p, ok := fg.g.View().Privilege("auditor"); ok && len(p.Users) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sync after the reload did not grant the new default privilege")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRelevant(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"/etc/ldapgate/ldapgate.yaml", true},
		{"/etc/ldapgate/..data", true},
		{"/etc/ldapgate/..data_tmp", true},
		{"/etc/ldapgate/ldapgate.db-wal", false},
		{"/etc/ldapgate/.ldapgate.yaml.swp", false},
	} {
		if got := relevant(tt.name, "/etc/ldapgate/ldapgate.yaml"); got != tt.want {
			t.Errorf("relevant(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestReloadBinds removes app_password from binds: app passwords stop
// working at once; the bind counts of the replaced chain stay in the
// metrics.
func TestReloadBinds(t *testing.T) {
	fg := startFileGateway(t, "", "")
	u, ok := fg.g.View().UserByMail(danielMail)
	if !ok {
		t.Fatal("no daniel")
	}
	pw, rec, err := apppassword.New(u.ID, "archive", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fg.g.DB().CreateAppPassword(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if err := bindErr(t, fg.ldapURL, danielDN, pw); err != nil {
		t.Fatalf("app password bind: %v", err)
	}
	accepted := `ldapgate_bind_method_results_total{cached="false",method="app_password",result="accepted"}`
	if v := metric(t, fg.ops, accepted); v != 1 {
		t.Errorf("%s = %v, want 1", accepted, v)
	}
	before := time.Now()
	replaceFile(t, fg.cfgPath, strings.Replace(fg.text, "binds: [app_password]", "binds: []", 1))
	if st := waitReload(t, fg.g, before); !st.OK {
		t.Fatal(st.Err)
	}
	if err := bindErr(t, fg.ldapURL, danielDN, pw); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("app password bind after removing app_password: %v, want invalidCredentials", err)
	}
	if v := metric(t, fg.ops, accepted); v != 1 {
		t.Errorf("after the reload %s = %v, want 1 (kept)", accepted, v)
	}
}
