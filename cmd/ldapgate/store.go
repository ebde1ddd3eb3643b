package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

type storeOptions struct {
	configPath string
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
	return cmd
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
