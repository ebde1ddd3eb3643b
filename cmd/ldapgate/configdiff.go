package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/gateway"
)

type configDiffOptions struct {
	json       bool
	configPath string
}

func newConfigDiffCmd(s *streams) *cobra.Command {
	var opts configDiffOptions
	cmd := &cobra.Command{
		Use:   "diff OLD NEW | diff -c OLD NEW",
		Short: "Show what changes between two config files, and when each change takes effect",
		Long: "diff validates both files and lists each setting that differs, with when a running\n" +
			"ldapgate applies it on reload: now, at the next sync, or only after a restart.\n" +
			"Password hashes and secrets are never shown. OLD may also be given with -c.",
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if !cmd.Flags().Changed("config") {
					return &usageError{errors.New("expected OLD and NEW, or -c OLD and NEW")}
				}
				args = []string{opts.configPath, args[0]}
			} else if cmd.Flags().Changed("config") {
				return &usageError{errors.New("-c names OLD: give NEW alone")}
			}
			return runConfigDiff(s, &opts, args[0], args[1])
		},
	}
	configFlag(cmd, &opts.configPath)
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

type configDiffReport struct {
	Changes      []gateway.Change `json:"changes"`
	NeedsRestart bool             `json:"needsRestart"`
}

func runConfigDiff(s *streams, opts *configDiffOptions, oldPath, newPath string) error {
	oldCfg, err := gateway.LoadConfig(oldPath)
	if err != nil {
		return err
	}
	newCfg, err := gateway.LoadConfig(newPath)
	if err != nil {
		return err
	}
	changes := gateway.Diff(oldCfg, newCfg)
	if opts.json {
		if changes == nil {
			changes = []gateway.Change{}
		}
		return writeJSON(s, configDiffReport{Changes: changes, NeedsRestart: gateway.NeedsRestart(changes)})
	}
	if len(changes) == 0 {
		fmt.Fprintln(s.Out, "No changes.")
		return nil
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tOLD\tNEW\tTAKES EFFECT")
	for _, c := range changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Key, c.Old, c.New, c.Effect)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if gateway.NeedsRestart(changes) {
		fmt.Fprintln(s.Out, "\nSome changes need a restart: systemctl restart ldapgate")
	} else {
		fmt.Fprintln(s.Out, "\nA running ldapgate applies these on reload (it watches the file; or send SIGHUP).")
	}
	return nil
}
