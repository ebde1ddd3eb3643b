package directory

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"
)

// TestReload swaps the service accounts and bind limits of a directory in
// use: binds and the services OU follow at once; an invalid set changes
// nothing.
func TestReload(t *testing.T) {
	d, _ := newTestDirectory(t)
	archive, backup := testHashes(t)
	ctx := context.Background()
	bind := func(name, pw string) error {
		_, err := d.Bind(ctx, "cn="+name+",ou=services,"+testBase, pw, nil)
		return err
	}
	services := func() []string {
		es, err := searchAll(t, d, Identity{Kind: IdentityService, Name: "archive"},
			&SearchRequest{BaseDN: "ou=services," + testBase, Scope: ScopeOne})
		if err != nil {
			t.Fatal(err)
		}
		return dns(es)
	}
	if err := bind("backup", backupPW); err != nil {
		t.Fatalf("bind before reload: %v", err)
	}
	if err := d.Reload(Settings{ServiceAccounts: []ServiceAccount{{Name: "mail", PasswordHash: archive}},
		BindLimit: BindLimit{PerName: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := bind("mail", archivePW); err != nil {
		t.Errorf("bind as the new account: %v", err)
	}
	if err := bind("backup", backupPW); resultCode(err) != ResultInvalidCredentials {
		t.Errorf("bind as the removed account: %v, want invalidCredentials", err)
	}
	if got, want := services(), []string{"cn=mail,ou=services," + testBase}; !slices.Equal(got, want) {
		t.Errorf("services OU = %v, want %v", got, want)
	}
	// The new per-name limit (2) applies: two failures block the name.
	_ = bind("mail", "wrong")
	_ = bind("mail", "wrong")
	if err := bind("mail", archivePW); resultCode(err) != ResultInvalidCredentials {
		t.Errorf("bind after 2 failures with per-name limit 2: %v, want refused", err)
	}
	if got := d.Settings().BindLimit; got.PerName != 2 || got.Backoff != 5*time.Minute {
		t.Errorf("bind limit = %+v", got)
	}

	// An invalid set (duplicate names, a bad hash) changes nothing.
	bad := Settings{ServiceAccounts: []ServiceAccount{{Name: "x", PasswordHash: backup}, {Name: "X", PasswordHash: "plain"}}}
	if err := d.Reload(bad); err == nil {
		t.Fatal("invalid settings accepted")
	}
	if got := services(); len(got) != 1 {
		t.Errorf("services OU after a refused reload = %v", got)
	}
}

type countingObserver struct {
	ops   map[string]int
	binds map[string]int
}

func (o *countingObserver) Operation(op string, _ time.Duration)      { o.ops[op]++ }
func (o *countingObserver) Bind(method, result, _ string, _ net.Addr) { o.binds[method+" "+result]++ }

// TestObserver checks that binds reach the observer.
func TestObserver(t *testing.T) {
	o := &countingObserver{ops: map[string]int{}, binds: map[string]int{}}
	d, _ := newTestDirectory(t, WithObserver(o))
	_, _ = d.Bind(context.Background(), "cn=archive,ou=services,"+testBase, archivePW, nil)
	_, _ = d.Bind(context.Background(), "cn=archive,ou=services,"+testBase, "wrong", nil)
	if o.binds["service_account success"] != 1 || o.binds["service_account invalidCredentials"] != 1 {
		t.Errorf("observed binds %v", o.binds)
	}
}
