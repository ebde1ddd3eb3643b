package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/gateway"
	"github.com/ldapgate/ldapgate/store"
)

type usersOptions struct {
	configPath string
	json       bool
}

func newUsersCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Show the users in the store",
	}
	var opts usersOptions
	list := &cobra.Command{
		Use:   "list",
		Short: "List users with their status, groups and privileges",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUsersList(cmd, s, &opts)
		},
	}
	show := &cobra.Command{
		Use:   "show USER",
		Short: "Show one user (by email, alias, uid or id): DN, groups, privileges",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUsersShow(cmd, s, &opts, args[0])
		},
	}
	for _, c := range []*cobra.Command{list, show} {
		configFlag(c, &opts.configPath)
		c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
		cmd.AddCommand(c)
	}
	cmd.AddCommand(newUsersDeletedCmd(s), newUsersPurgeCmd(s))
	return cmd
}

// userReport is one user as the users commands print it.
type userReport struct {
	DN         string   `json:"dn"`
	UID        string   `json:"uid"`
	ID         string   `json:"id"`
	Mail       string   `json:"mail"`
	Aliases    []string `json:"aliases,omitempty"`
	Name       string   `json:"name"`
	OrgUnit    string   `json:"orgUnit,omitempty"`
	Status     string   `json:"status"`
	Origin     string   `json:"origin"`
	Groups     []string `json:"groups,omitempty"`
	Privileges []string `json:"privileges,omitempty"`
	Created    string   `json:"created"`
	Updated    string   `json:"updated"`
}

// loadView opens the store the config names and builds a view of it.
func loadView(cmd *cobra.Command, configPath string) (*gateway.Config, *store.View, error) {
	cfg, db, err := openStore(cmd, configPath)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	st, err := db.LoadState(cmd.Context())
	if err != nil {
		return nil, nil, err
	}
	return cfg, store.NewView(st, cfg.Privileges(), time.Now()), nil
}

// findUser finds a user by email, alias, uid or id.
func findUser(v *store.View, who string) (*store.ViewUser, error) {
	if u, ok := v.UserByMail(who); ok {
		return u, nil
	}
	if u, ok := v.UserByUID(who); ok {
		return u, nil
	}
	if u, ok := v.UserByID(who); ok {
		return u, nil
	}
	return nil, fmt.Errorf("no user %q in the store (try ldapgate users list)", who)
}

// openUser opens the store the config names and finds who there; the
// caller closes the store.
func openUser(cmd *cobra.Command, configPath, who string) (*gateway.Config, *store.DB, *store.ViewUser, error) {
	cfg, db, err := openStore(cmd, configPath)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := db.LoadState(cmd.Context())
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	u, err := findUser(store.NewView(st, cfg.Privileges(), time.Now()), who)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return cfg, db, u, nil
}

func report(cfg *gateway.Config, v *store.View, u *store.ViewUser) userReport {
	r := userReport{
		DN: directory.UserDN(cfg.LDAP.BaseDN, u.UID), UID: u.UID, ID: u.ID, Mail: u.PrimaryEmail, Aliases: u.Aliases,
		Name: u.DisplayName, OrgUnit: u.OrgUnitPath, Status: "active", Origin: string(u.Origin),
		Privileges: u.Privileges,
		Created:    u.CreatedAt.Format(time.RFC3339), Updated: u.UpdatedAt.Format(time.RFC3339),
	}
	switch {
	case u.Suspended:
		r.Status = "suspended"
	case u.Archived:
		r.Status = "archived"
	}
	for _, gid := range u.Groups {
		if g, ok := v.GroupByID(gid); ok {
			r.Groups = append(r.Groups, g.Email)
		}
	}
	return r
}

func runUsersList(cmd *cobra.Command, s *streams, opts *usersOptions) error {
	cfg, v, err := loadView(cmd, opts.configPath)
	if err != nil {
		return err
	}
	reports := make([]userReport, 0, len(v.Users))
	for _, u := range v.Users {
		reports = append(reports, report(cfg, v, u))
	}
	if opts.json {
		return writeJSON(s, reports)
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UID\tMAIL\tNAME\tSTATUS\tGROUPS\tPRIVILEGES")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", r.UID, r.Mail, r.Name, r.Status, len(r.Groups), strings.Join(r.Privileges, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "%d users\n", len(reports))
	return nil
}

func runUsersShow(cmd *cobra.Command, s *streams, opts *usersOptions, who string) error {
	cfg, v, err := loadView(cmd, opts.configPath)
	if err != nil {
		return err
	}
	u, err := findUser(v, who)
	if err != nil {
		return err
	}
	r := report(cfg, v, u)
	if opts.json {
		return writeJSON(s, r)
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("dn:", r.DN)
	row("uid:", r.UID)
	row("id:", r.ID)
	row("mail:", r.Mail)
	row("aliases:", strings.Join(r.Aliases, ", "))
	row("name:", r.Name)
	row("org unit:", r.OrgUnit)
	row("status:", r.Status)
	row("origin:", r.Origin)
	row("groups:", strings.Join(r.Groups, ", "))
	row("privileges:", strings.Join(r.Privileges, ", "))
	row("created:", r.Created)
	row("updated:", r.Updated)
	return tw.Flush()
}

func writeJSON(s *streams, v any) error {
	enc := json.NewEncoder(s.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
