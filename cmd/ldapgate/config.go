package main

import (
	"errors"
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
	var path string
	cmd := &cobra.Command{
		Use:   "check [FILE...]",
		Short: "Validate config files",
		Long: "check reads each FILE (or -c FILE, as every other command takes the config) and reports\n" +
			"every problem with its line and what was expected. It also checks, as the user running it,\n" +
			"what the config points at: the files ldapgate reads are readable (TLS certificates must\n" +
			"parse), the store and the audit file writable. Run it as the service's user:\n" +
			"sudo -u ldapgate ldapgate config check FILE.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{path}
			} else if cmd.Flags().Changed("config") {
				return &usageError{fmt.Errorf("give the files as arguments or one with -c, not both")}
			}
			var errs []error
			for _, p := range args {
				errs = append(errs, runConfigCheck(s, p))
			}
			return errors.Join(errs...)
		},
	}
	configFlag(cmd, &path)
	return cmd
}

func runConfigCheck(s *streams, path string) error {
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		return err
	}
	if errs := cfg.CheckFiles(); len(errs) > 0 {
		return errs
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
	if cfg.Sync.Incremental {
		fmt.Fprintf(s.Out, "  changes:  Google's admin events applied every %s (needs the reports scope)\n", cfg.Sync.ChangesInterval.D())
	}
	return nil
}
