package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/store"
)

type deletedOptions struct {
	configPath string
	json       bool
	all        bool
}

// newUsersDeletedCmd lists the tombstones of deleted users.
func newUsersDeletedCmd(s *streams) *cobra.Command {
	var opts deletedOptions
	cmd := &cobra.Command{
		Use:   "deleted",
		Short: "List deleted users whose UID, privileges and app passwords come back if they return",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUsersDeleted(cmd, s, &opts)
		},
	}
	configFlag(cmd, &opts.configPath)
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

func runUsersDeleted(cmd *cobra.Command, s *streams, opts *deletedOptions) error {
	_, db, err := openStore(cmd, opts.configPath)
	if err != nil {
		return err
	}
	defer db.Close()
	deleted, err := db.DeletedUsers(cmd.Context())
	if err != nil {
		return err
	}
	if opts.json {
		if deleted == nil {
			deleted = []store.DeletedUser{}
		}
		return writeJSON(s, deleted)
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UID\tMAIL\tDELETED\tEXPIRES\tPRIVILEGES\tAPP PASSWORDS\tREASON")
	for _, d := range deleted {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", d.UID, d.PrimaryEmail,
			d.DeletedAt.UTC().Format(time.RFC3339), d.ExpiresAt.UTC().Format(time.RFC3339), d.Grants, d.AppPasswords, d.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "%d deleted users\n", len(deleted))
	return nil
}

// newUsersPurgeCmd drops tombstones before their retention ends.
func newUsersPurgeCmd(s *streams) *cobra.Command {
	var opts deletedOptions
	cmd := &cobra.Command{
		Use:   "purge [USER...]",
		Short: "Forget deleted users (by email, uid or id; --all for every one): their privileges and app passwords will not come back",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUsersPurge(cmd, s, &opts, args)
		},
	}
	configFlag(cmd, &opts.configPath)
	cmd.Flags().BoolVar(&opts.all, "all", false, "purge every deleted user")
	return cmd
}

func runUsersPurge(cmd *cobra.Command, s *streams, opts *deletedOptions, who []string) error {
	if opts.all == (len(who) > 0) {
		return &usageError{errors.New("name the deleted users to purge, or give --all")}
	}
	_, db, err := openStore(cmd, opts.configPath)
	if err != nil {
		return err
	}
	defer db.Close()
	var ids []string
	if !opts.all {
		deleted, err := db.DeletedUsers(cmd.Context())
		if err != nil {
			return err
		}
		for _, w := range who {
			id, err := findDeleted(deleted, w)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
	}
	n, err := db.PurgeDeletedUsers(cmd.Context(), ids...)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "%d deleted users purged\n", n)
	return nil
}

// findDeleted returns the id of the deleted user who names (email, uid or id).
func findDeleted(deleted []store.DeletedUser, who string) (string, error) {
	for _, d := range deleted {
		if d.ID == who || strings.EqualFold(d.PrimaryEmail, who) || strings.EqualFold(d.UID, who) {
			return d.ID, nil
		}
	}
	return "", fmt.Errorf("no deleted user %q (see ldapgate users deleted): %w", who, store.ErrNotFound)
}
