package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/gateway"
)

func newConfigCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the config file",
	}
	cmd.AddCommand(newConfigCheckCmd(s), newConfigDiffCmd(s))
	return cmd
}

func newConfigCheckCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file",
		Long:  "check reads FILE and reports every problem with its line and what was expected.",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return runConfigCheck(s, args[0])
		},
	}
}

func runConfigCheck(s *streams, path string) error {
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "%s: OK\n", path)
	if cfg.Source.Type == "google" {
		fmt.Fprintf(s.Out, "  source:   google, key %s, acting as %s\n", cfg.GoogleKeyFile(), cfg.Source.Google.AdminEmail)
	} else {
		fmt.Fprintf(s.Out, "  source:   %s %s\n", cfg.Source.Type, cfg.SourceFile())
	}
	fmt.Fprintf(s.Out, "  store:    %s\n", cfg.StoreName())
	fmt.Fprintf(s.Out, "  ldap:     %s (base %s)\n", cfg.LDAP.Listen, cfg.LDAP.BaseDN)
	fmt.Fprintf(s.Out, "  services: %d service account(s)\n", len(cfg.ServiceAccounts))
	fmt.Fprintf(s.Out, "  sync:     every %s, delete users %t, at most %g%% deleted per run, deleted users restorable for %s\n",
		cfg.Sync.Interval.D(), cfg.DeleteUsers(), cfg.MaxDeletePercent(), cfg.DeletedRetention())
	return nil
}
