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
	var path string
	cmd := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Validate a config file",
		Long: "check reads the config (FILE, or -c FILE as for every other command) and reports\n" +
			"every problem with its line and what was expected.",
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := fileArg(cmd, path, args)
			if err != nil {
				return err
			}
			return runConfigCheck(s, p)
		},
	}
	configFlag(cmd, &path)
	return cmd
}

// fileArg returns the config file of a command that takes it as an
// argument or with -c: one or the other, or -c's default.
func fileArg(cmd *cobra.Command, flagPath string, args []string) (string, error) {
	if len(args) == 0 {
		return flagPath, nil
	}
	if cmd.Flags().Changed("config") && args[0] != flagPath {
		return "", &usageError{fmt.Errorf("two config files: %s and -c %s", args[0], flagPath)}
	}
	return args[0], nil
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
	fmt.Fprintf(s.Out, "  store:    %s\n", cfg.StorePath())
	fmt.Fprintf(s.Out, "  ldap:     %s (base %s)\n", cfg.LDAP.Listen, cfg.LDAP.BaseDN)
	fmt.Fprintf(s.Out, "  services: %d service account(s)\n", len(cfg.ServiceAccounts))
	fmt.Fprintf(s.Out, "  sync:     every %s, delete users %t, at most %g%% deleted per run\n", cfg.Sync.Interval.D(), cfg.DeleteUsers(), cfg.MaxDeletePercent())
	return nil
}
