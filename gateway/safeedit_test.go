package gateway

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/engine"
)

// A config written in place in pieces: the first piece is valid YAML on
// its own. The watcher applies only the file that stays the same for a
// debounce, never the piece.
func TestReloadWaitsForAStableFile(t *testing.T) {
	fg := startFileGateway(t, "", "")
	full := withArchivePassword(t, fg.text, "new-secret")
	piece := full[:strings.Index(full, "service_accounts:")]
	calls := 0
	var werr error
	fg.g.reload.mu.Lock()
	fg.g.reload.settling = func() { // on the watcher's goroutine
		calls++
		if calls == 1 { // the writer goes on after the watcher's first look
			werr = os.WriteFile(fg.cfgPath, []byte(full), 0o600)
		}
	}
	fg.g.reload.mu.Unlock()
	before := time.Now()
	writeFile(t, fg.cfgPath, piece)
	st := waitReload(t, fg.g, before)
	if werr != nil {
		t.Fatal(werr)
	}
	if !st.OK || len(st.Changes) != 1 || st.Changes[0].Key != "service_accounts" {
		t.Fatalf("reload: ok %v, err %v, changes %v; want the whole file's one change", st.OK, st.Err, st.Changes)
	}
	if calls < 2 {
		t.Errorf("the watcher looked at %d versions of the file, want the piece and the whole", calls)
	}
	// metric is -1 for a series never counted.
	if v := metric(t, fg.ops, `ldapgate_config_reloads_total{result="success"}`); v != 1 {
		t.Errorf("reloads success = %v, want 1", v)
	}
	if v := metric(t, fg.ops, `ldapgate_config_reloads_total{result="failure"}`); v > 0 {
		t.Errorf("reloads failure = %v, want none: the piece was read as a config", v)
	}
	if err := bindErr(t, fg.ldapURL, archiveDN, "new-secret"); err != nil {
		t.Errorf("bind with the new password: %v", err)
	}
}

// Undoing a refused edit puts the file back to the config in effect:
// nothing is applied again, and the refusal is cleared.
func TestReloadIdenticalFileDoesNothing(t *testing.T) {
	fg := startFileGateway(t, "", "")
	before := time.Now()
	writeFile(t, fg.cfgPath, fg.text+"sycn:\n  interval: 1m\n")
	if st := waitReload(t, fg.g, before); st.OK {
		t.Fatal("a config with an unknown key was accepted")
	}
	before = time.Now()
	writeFile(t, fg.cfgPath, fg.text)
	if st := waitReload(t, fg.g, before); !st.OK || st.Changes != nil {
		t.Fatalf("after the undo: ok %v, err %v, changes %v; want ok and nothing applied", st.OK, st.Err, st.Changes)
	}
	if v := metric(t, fg.ops, `ldapgate_config_reloads_total{result="success"}`); v > 0 {
		t.Errorf("reloads success = %v, want 0: the file in effect was applied again", v)
	}
}

// An edit that removes a service account is what a file cut short looks
// like: the watcher refuses it, the account keeps working, and an explicit
// reload (SIGHUP) applies it.
func TestReloadRemovingServiceAccountNeedsSIGHUP(t *testing.T) {
	fg := startFileGateway(t, "", "")
	text := fg.text[:strings.Index(fg.text, "service_accounts:")] + fg.text[strings.Index(fg.text, "# How directory users bind"):]
	before := time.Now()
	writeFile(t, fg.cfgPath, text)
	st := waitReload(t, fg.g, before)
	if st.OK || st.Err == nil || !strings.Contains(st.Err.Error(), "removes service account(s) archive") || !strings.Contains(st.Err.Error(), "SIGHUP") {
		t.Fatalf("watcher reload: ok %v, err %v; want a refusal naming the account and SIGHUP", st.OK, st.Err)
	}
	if err := bindErr(t, fg.ldapURL, archiveDN, demoPassword); err != nil {
		t.Errorf("the service account stopped working: %v", err)
	}
	if err := fg.g.Reload(context.Background()); err != nil {
		t.Fatalf("explicit reload: %v", err)
	}
	if err := bindErr(t, fg.ldapURL, archiveDN, demoPassword); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("bind after the explicit reload: %v, want invalidCredentials", err)
	}
}

// A reload that narrows the filter (here: the edit's first piece ends
// before include_suspended, whose default is false) syncs at once, but
// deletes no one: the deletions wait for the next scheduled (or explicit)
// sync and its deletion guard.
func TestReloadNarrowingDefersDeletions(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "ldapgate.yaml")
	text := strings.Replace(demoConfigText(t, dir), "include_suspended: false", "include_suspended: true", 1)
	writeFile(t, cfgPath, text)
	fg := startFileGateway(t, cfgPath, text)
	users := len(fg.g.View().Users)
	runs := len(runsOf(t, fg.g.DB()))

	before := time.Now()
	replaceFile(t, cfgPath, strings.Replace(text, "    include_suspended: true\n", "", 1))
	if st := waitReload(t, fg.g, before); !st.OK {
		t.Fatalf("reload: %v", st.Err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(runsOf(t, fg.g.DB())) == runs {
		if time.Now().After(deadline) {
			t.Fatal("no sync ran after the reload")
		}
		time.Sleep(20 * time.Millisecond)
	}
	last := runsOf(t, fg.g.DB())[0]
	if last.Error != "" || last.Counts.UsersDeleted != 0 || len(fg.g.View().Users) != users {
		t.Fatalf("sync after the reload: error %q, %d deleted, %d users served (was %d); want no deletion",
			last.Error, last.Counts.UsersDeleted, len(fg.g.View().Users), users)
	}

	res, err := fg.g.Sync(context.Background(), engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.UsersDeleted == 0 || len(fg.g.View().Users) != users-res.Counts.UsersDeleted {
		t.Errorf("the next full sync deleted %d users, %d served (was %d); want the suspended users gone",
			res.Counts.UsersDeleted, len(fg.g.View().Users), users)
	}
	deleted, err := fg.g.DB().DeletedUsers(context.Background())
	if err != nil || len(deleted) != res.Counts.UsersDeleted {
		t.Errorf("tombstones %d (%v), want one per deleted user", len(deleted), err)
	}
}

func runsOf(t testing.TB, db *store.DB) []store.SyncRun {
	t.Helper()
	runs, err := db.SyncRuns(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}
