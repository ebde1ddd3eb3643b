package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/ldapgate/ldapgate/gateway"
	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/google"
)

// errSettings is returned when "Test settings" finds a problem; the
// diagnosis has already been printed.
var errSettings = errors.New("test settings: the connection to Google Workspace does not work (see the checks above)")

// testSettings runs the Google source's step-by-step checks before a dry
// run and prints them (or, with --json, writes the report when a check
// fails). It returns nil, nil for sources other than Google, and
// errSettings when a check failed.
func testSettings(ctx context.Context, s *streams, cfg *gateway.Config, log *slog.Logger, asJSON bool) (*google.Diagnosis, error) {
	if cfg.Source.Type != "google" {
		return nil, nil
	}
	d := gateway.NewGoogleSource(cfg, log).Diagnose(ctx)
	if asJSON {
		if !d.OK() {
			if err := writeJSON(s, syncReport{DryRun: true, Diagnosis: d, Error: errSettings.Error()}); err != nil {
				return d, err
			}
			return d, errSettings
		}
		return d, nil
	}
	g := cfg.Source.Google
	where := "customer " + g.Customer
	switch {
	case g.Domain != "":
		where = "domain " + g.Domain
	case g.Customer == "":
		where = "customer " + google.DefaultCustomer
	}
	fmt.Fprintf(s.Out, "Test settings: Google Workspace (%s), acting as %s\n", where, g.AdminEmail)
	writeDiagnosis(s.Out, d)
	if !d.OK() {
		return d, errSettings
	}
	fmt.Fprintln(s.Out)
	return d, nil
}

// writeDiagnosis prints one line per check, with the fix under a failure.
func writeDiagnosis(w io.Writer, d *google.Diagnosis) {
	var b strings.Builder
	printed := make(map[string]bool) // fixes shared by several checks print once
	for _, c := range d.Checks {
		mark := map[google.Status]string{google.StatusOK: "ok  ", google.StatusFailed: "FAIL", google.StatusSkipped: "skip"}[c.Status]
		fmt.Fprintf(&b, "  %s  %s: %s\n", mark, c.Name, c.Detail)
		if c.Fix == "" || printed[c.Fix] {
			continue
		}
		printed[c.Fix] = true
		fmt.Fprintf(&b, "        fix: %s\n", c.Fix)
		if c.Status == google.StatusFailed && strings.Contains(c.Fix, "domain-wide delegation") {
			id := d.ClientID
			if id == "" {
				id = "(a P12 key does not say: see the service account's Unique ID in the Google Cloud console)"
			}
			fmt.Fprintf(&b, "        Client ID:    %s\n", id)
			fmt.Fprintf(&b, "        OAuth scopes: %s\n", strings.Join(d.Scopes, ","))
		}
	}
	io.WriteString(w, b.String())
}

// writeCounts prints what the fetch found, after the plan of a dry run.
func writeCounts(w io.Writer, res *engine.Result) {
	if res == nil {
		return
	}
	f := res.Filter
	fmt.Fprintf(w, "Found %d users and %d groups in Google Workspace; in scope: %d users, %d groups.\n",
		f.UsersFetched, f.GroupsFetched, f.UsersInScope, f.GroupsInScope)
}
