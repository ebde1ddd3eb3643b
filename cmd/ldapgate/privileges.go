package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/gateway"
)

type privilegesOptions struct {
	configPath string
	json       bool
}

func newPrivilegesCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "privileges",
		Short: "List, grant and revoke privileges",
		Long: "Grants and revocations are an administrator's decisions: syncs keep them. A running\n" +
			"ldapgate serves them within seconds (it watches the store for writes by other commands).",
	}
	var opts privilegesOptions
	list := &cobra.Command{
		Use:   "list",
		Short: "List each privilege with the users that hold it",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPrivilegesList(cmd, s, &opts)
		},
	}
	grant := &cobra.Command{
		Use:   "grant USER PRIVILEGE",
		Short: "Grant a privilege to a user (by email, alias, uid or id)",
		Long: "grant adds an administrator's grant of PRIVILEGE, one of the config's privileges\n" +
			"(privileges:, by default the names sync.default_privileges and privilege_rules use).",
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrivilegeChange(cmd, s, &opts, args[0], args[1], true)
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke USER PRIVILEGE",
		Short: "Take a privilege from a user, whatever granted it",
		Long:  "revoke fails if the user does not hold PRIVILEGE.",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrivilegeChange(cmd, s, &opts, args[0], args[1], false)
		},
	}
	for _, c := range []*cobra.Command{list, grant, revoke} {
		configFlag(c, &opts.configPath)
		cmd.AddCommand(c)
	}
	list.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

type privilegeReport struct {
	Name  string   `json:"name"`
	Users []string `json:"users"` // primary addresses
}

func runPrivilegesList(cmd *cobra.Command, s *streams, opts *privilegesOptions) error {
	_, v, err := loadView(cmd, opts.configPath)
	if err != nil {
		return err
	}
	out := make([]privilegeReport, 0, len(v.Privileges))
	for _, p := range v.Privileges {
		r := privilegeReport{Name: p.Name, Users: []string{}}
		for _, id := range p.Users {
			if u, ok := v.UserByID(id); ok {
				r.Users = append(r.Users, u.PrimaryEmail)
			}
		}
		out = append(out, r)
	}
	if opts.json {
		return writeJSON(s, out)
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRIVILEGE\tUSERS\tHOLDERS")
	for _, r := range out {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", r.Name, len(r.Users), strings.Join(r.Users, " "))
	}
	return tw.Flush()
}

func runPrivilegeChange(cmd *cobra.Command, s *streams, opts *privilegesOptions, who, privilege string, grant bool) error {
	cfg, db, u, err := openUser(cmd, opts.configPath, who)
	if err != nil {
		return err
	}
	defer db.Close()
	if grant {
		if err := cfg.CheckPrivilege(privilege); err != nil {
			return err
		}
		if err := db.GrantAdmin(cmd.Context(), u.ID, privilege); err != nil {
			return err
		}
		fmt.Fprintf(s.Out, "Granted %s to %s.\n", privilege, u.PrimaryEmail)
		return nil
	}
	if err := gateway.CheckHeld(u.PrimaryEmail, u.Privileges, privilege); err != nil {
		return err
	}
	if err := db.RevokeAdmin(cmd.Context(), u.ID, privilege); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "Revoked %s from %s.\n", privilege, u.PrimaryEmail)
	return nil
}
