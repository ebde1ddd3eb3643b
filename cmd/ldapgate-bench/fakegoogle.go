package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

// fakeAdmin is the administrator ldapgate acts as in the fake's
// organisation.
const fakeAdmin = "user000000@example.com"

// googleTokenURL is the token_uri of Google's keys.
const googleTokenURL = "https://oauth2.googleapis.com/token"

// serveFakeGoogle serves a generated organisation of n users, n/20 groups
// and 3n direct memberships (n/2000 groups of 1,000 members, the rest
// even) from the fake of Google's APIs, each call latency slower, until ctx
// ends. It writes a service account key and an ldapgate config using it
// (a SQLite store, LDAP on a free port) into dir, then prints the fake's
// URL, the minimum list calls and the longest chain of sequential pages
// on stdout.
func serveFakeGoogle(ctx context.Context, stdout io.Writer, dir string, n int, latency time.Duration) error {
	sa, err := googletest.GenerateServiceAccount("ldapgate@bench.iam.gserviceaccount.com")
	if err != nil {
		return err
	}
	srv := googletest.Start()
	defer srv.Close()
	srv.Audience = googleTokenURL // a real key's, which token_url does not change
	srv.AddServiceAccount(sa)
	srv.Delegate(sa, googletest.AllScopes...)
	srv.SetAdmin(fakeAdmin, true)
	l := srv.FillOrg(googletest.Org{Users: n, Groups: max(n/20, 1), Members: 3 * n, BigGroups: n / 2000, BigSize: 1000})
	srv.SetLatency(latency)

	key, err := sa.MarshalJSONKey(googleTokenURL)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "key.json"), key, 0o600); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`domain: example.com
source:
  type: google
  google:
    service_account_key: key.json
    admin_email: %s
    api_endpoint: %s
    token_url: %s
    max_calls_per_minute: 1000000 # the fetch against the chain of pages, not the quota's pace
sync: {interval: 24h, max_delete_percent: 100}
store: {path: ldapgate.db}
ldap: {listen: "127.0.0.1:0"}
`, fakeAdmin, srv.APIEndpoint, srv.TokenURL)
	if err := os.WriteFile(filepath.Join(dir, "ldapgate.yaml"), []byte(cfg), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %d %d\n", srv.URL, l.MinCalls, l.Chain)
	<-ctx.Done()
	return nil
}
