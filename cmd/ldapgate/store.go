package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/gateway"
	"github.com/ldapgate/ldapgate/store"
)

type storeOptions struct {
	configPath string
	to         string // store copy: the target's config
	replace    bool   // store copy: overwrite a target with data
}

func newStoreCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Look after the store",
	}
	var opts storeOptions
	backup := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the store to FILE while ldapgate keeps running",
		Long: "backup copies the store with SQLite's online backup; serve may keep running.\n" +
			"FILE must not exist. To restore, stop ldapgate and put FILE at store.path.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStoreBackup(cmd, s, &opts, args[0])
		},
	}
	configFlag(backup, &opts.configPath)
	cmd.AddCommand(backup)
	cp := &cobra.Command{
		Use:   "copy --to OTHER.yaml",
		Short: "Copy the whole store into the store another config names (SQLite to PostgreSQL, say)",
		Long: "copy copies users, groups, memberships, grants, app passwords, UIDs and POSIX numbers' order,\n" +
			"deleted users and the sync history into the store that OTHER.yaml's store section names\n" +
			"(its other sections are not used), in one transaction, and checks the row counts.\n" +
			"The target must be empty unless --replace. Stop ldapgate first: writes made during the\n" +
			"copy are not in it.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStoreCopy(cmd, s, &opts)
		},
	}
	configFlag(cp, &opts.configPath)
	cp.Flags().StringVar(&opts.to, "to", "", "config whose store receives the copy (required)")
	cp.Flags().BoolVar(&opts.replace, "replace", false, "delete what the target store holds first")
	cmd.AddCommand(cp)
	return cmd
}

func runStoreCopy(cmd *cobra.Command, s *streams, opts *storeOptions) error {
	if opts.to == "" {
		return &usageError{errors.New("store copy: --to OTHER.yaml is required: the config naming the target store")}
	}
	cfg, src, err := openStore(cmd, opts.configPath)
	if err != nil {
		return err
	}
	defer src.Close()
	toCfg, dst, err := openStore(cmd, opts.to)
	if err != nil {
		return err
	}
	defer dst.Close()
	if toCfg.StoreName() == cfg.StoreName() && toCfg.Store.Driver == cfg.Store.Driver && cfg.Store.Driver == gateway.DriverSQLite {
		return fmt.Errorf("store copy: %s is both the source and the target", cfg.StoreName())
	}
	copied, err := src.CopyTo(cmd.Context(), dst, opts.replace)
	if errors.Is(err, store.ErrNotEmpty) {
		return fmt.Errorf("%w: pass --replace to overwrite it", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "Copied %s to %s:\n", cfg.StoreName(), toCfg.StoreName())
	for _, t := range []string{"users", "groups", "group_user_members", "group_group_members", "grants",
		"app_passwords", "sync_runs", "deleted_users", "deleted_grants", "deleted_app_passwords", "portal_sessions"} {
		fmt.Fprintf(s.Out, "  %-22s %d\n", t, copied[t])
	}
	return nil
}

func runStoreBackup(cmd *cobra.Command, s *streams, opts *storeOptions, dst string) error {
	cfg, db, err := openStore(cmd, opts.configPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(cmd.Context(), dst); err != nil {
		return err
	}
	_, err = fmt.Fprintf(s.Out, "Backed up %s to %s.\n", cfg.StoreName(), dst)
	return err
}
