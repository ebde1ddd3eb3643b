package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/bindproxy"
	"github.com/ldapgate/ldapgate/internal/apppassword"
	"github.com/ldapgate/ldapgate/store"
)

type appPasswordOptions struct {
	configPath string
	name       string
	service    string
	json       bool
}

func newAppPasswordCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "app-password",
		Short: "Create, list and revoke users' app passwords (what the web portal does)",
	}
	var opts appPasswordOptions
	create := &cobra.Command{
		Use:   "create USER",
		Short: "Create an app password for USER (email, alias, uid or id) and print it once",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAppPasswordCreate(cmd, s, &opts, args[0])
		},
	}
	create.Flags().StringVar(&opts.name, "name", "", "a label for the app password (default: cli-<date>)")
	create.Flags().StringVar(&opts.service, "service", "", "bind it to one service of app_passwords.services")
	list := &cobra.Command{
		Use:   "list USER",
		Short: "List USER's app passwords with when each was last used",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAppPasswordList(cmd, s, &opts, args[0])
		},
	}
	list.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	revoke := &cobra.Command{
		Use:   "revoke USER ID|NAME",
		Short: "Revoke one of USER's app passwords; a running ldapgate refuses it from the next bind on",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAppPasswordRevoke(cmd, s, &opts, args[0], args[1])
		},
	}
	for _, c := range []*cobra.Command{create, list, revoke} {
		configFlag(c, &opts.configPath)
		cmd.AddCommand(c)
	}
	return cmd
}

func runAppPasswordCreate(cmd *cobra.Command, s *streams, opts *appPasswordOptions, who string) error {
	cfg, db, u, err := openUser(cmd, opts.configPath, who)
	if err != nil {
		return err
	}
	defer db.Close()
	if !cfg.HasBind(bindproxy.MethodAppPassword) {
		return fmt.Errorf("app password binds are off: binds in %s does not include app_password, so the password could not be used; add it first", cfg.Path())
	}
	if !u.Enabled() {
		return fmt.Errorf("user %s is suspended or archived: an app password could not bind", u.PrimaryEmail)
	}
	if opts.service != "" {
		if _, ok := cfg.AppPasswords.Services[opts.service]; !ok {
			return &usageError{fmt.Errorf("--service %q: not in the config's app_passwords.services", opts.service)}
		}
	}
	name := strings.TrimSpace(opts.name)
	if name == "" {
		name = "cli-" + time.Now().UTC().Format("2006-01-02T15:04:05Z")
	}
	pw, rec, err := apppassword.New(u.ID, name, opts.service)
	if err != nil {
		return err
	}
	ap, err := db.CreateAppPassword(cmd.Context(), rec)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%s already has an app password named %q", u.PrimaryEmail, name)
		}
		return err
	}
	fmt.Fprintf(s.Err, "App password %d %q for %s (shown only now; ldapgate keeps only a hash):\n", ap.ID, ap.Name, u.PrimaryEmail)
	_, err = fmt.Fprintln(s.Out, pw)
	return err
}

func runAppPasswordList(cmd *cobra.Command, s *streams, opts *appPasswordOptions, who string) error {
	_, db, u, err := openUser(cmd, opts.configPath, who)
	if err != nil {
		return err
	}
	defer db.Close()
	aps, err := db.AppPasswords(cmd.Context(), u.ID)
	if err != nil {
		return err
	}
	if opts.json {
		if aps == nil {
			aps = []store.AppPassword{}
		}
		return writeJSON(s, aps)
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSERVICE\tCREATED\tLAST USED\tSTATUS")
	for _, ap := range aps {
		status := "active"
		if ap.Revoked {
			status = "revoked " + ap.RevokedAt.Format(time.RFC3339)
		}
		used := "never"
		if !ap.LastUsedAt.IsZero() {
			used = ap.LastUsedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", ap.ID, ap.Name, orDash(ap.Service), ap.CreatedAt.Format(time.RFC3339), used, status)
	}
	return tw.Flush()
}

func runAppPasswordRevoke(cmd *cobra.Command, s *streams, opts *appPasswordOptions, who, which string) error {
	_, db, u, err := openUser(cmd, opts.configPath, who)
	if err != nil {
		return err
	}
	defer db.Close()
	aps, err := db.AppPasswords(cmd.Context(), u.ID)
	if err != nil {
		return err
	}
	var match []store.AppPassword
	id, numErr := strconv.ParseInt(which, 10, 64)
	for _, ap := range aps {
		if !ap.Revoked && ((numErr == nil && ap.ID == id) || strings.EqualFold(ap.Name, which)) {
			match = append(match, ap)
		}
	}
	switch len(match) {
	case 0:
		return fmt.Errorf("%s has no active app password %q (try ldapgate app-password list)", u.PrimaryEmail, which)
	case 1:
	default:
		return fmt.Errorf("%q matches several app passwords of %s: give the id", which, u.PrimaryEmail)
	}
	if err := db.RevokeAppPassword(cmd.Context(), u.ID, match[0].ID); err != nil {
		return err
	}
	_, err = fmt.Fprintf(s.Out, "revoked app password %d %q of %s\n", match[0].ID, match[0].Name, u.PrimaryEmail)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
