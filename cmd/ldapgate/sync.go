package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/gateway"
	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/google"
	"github.com/ldapgate/ldapgate/sync/progress"
)

type syncOptions struct {
	configPath string
	dryRun     bool
	force      bool
	json       bool
}

func newSyncCmd(s *streams) *cobra.Command {
	var opts syncOptions
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Synchronize now (or, with --dry-run, test the settings and show the plan)",
		Long: "sync fetches the source directory, filters it, and compares it with the store.\n" +
			"With --dry-run it prints the plan (what would be added, updated and deleted, and why)\n" +
			"and changes nothing. Without it, it applies the plan in one transaction.\n" +
			"A plan deleting more than sync.max_delete_percent of the users is refused unless --force.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSync(cmd, s, &opts)
		},
	}
	configFlag(cmd, &opts.configPath)
	cmd.AddCommand(newSyncHistoryCmd(s), newSyncShowCmd(s))
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "print the plan and change nothing")
	cmd.Flags().BoolVar(&opts.force, "force", false, "apply even if the plan deletes more than sync.max_delete_percent of the users")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the result as JSON")
	return cmd
}

// syncReport is the --json output of sync.
type syncReport struct {
	DryRun  bool           `json:"dryRun"`
	Applied bool           `json:"applied"`
	RunID   int64          `json:"runId,omitempty"`
	Result  *engine.Result `json:"result,omitempty"`
	Error   string         `json:"error,omitempty"`
	// Diagnosis is "Test settings" for the Google source (diagnose.go).
	Diagnosis *google.Diagnosis `json:"diagnosis,omitempty"`
}

func runSync(cmd *cobra.Command, s *streams, opts *syncOptions) error {
	cfg, err := gateway.LoadConfig(opts.configPath)
	if err != nil {
		return err
	}
	logCfg := cfg.Log
	if logCfg.Level == "info" {
		// The command prints its own report; keep the log for warnings.
		logCfg.Level = "warn"
	}
	log := gateway.NewLogger(logCfg, s.Err)
	ctx := cmd.Context()
	var diag *google.Diagnosis
	if opts.dryRun {
		if diag, err = testSettings(ctx, s, cfg, log, opts.json); err != nil {
			return err
		}
	}
	if _, err := os.Stat(cfg.StorePath()); opts.dryRun && cfg.Store.Driver == gateway.DriverSQLite && errors.Is(err, fs.ErrNotExist) {
		// A dry run changes nothing, not even by creating the store: plan
		// against an empty scratch store instead.
		dir, err := os.MkdirTemp("", "ldapgate-dry-run-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.Store.Path = filepath.Join(dir, "ldapgate.db")
		fmt.Fprintln(s.Err, "note: the store does not exist yet; planning against an empty store")
	}
	g, err := gateway.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer g.Close()

	runOpts := engine.RunOptions{DryRun: opts.dryRun, Force: opts.force}
	prog := &progressDisplay{}
	if !opts.json {
		runOpts.Progress = new(progress.Progress)
		prog = startProgress(s.Err, runOpts.Progress)
	}
	res, err := g.Sync(ctx, runOpts)
	prog.stop()
	if opts.json {
		rep := syncReport{DryRun: opts.dryRun, Result: res, Diagnosis: diag}
		if res != nil {
			rep.Applied, rep.RunID = res.Applied, res.RunID
		}
		if err != nil {
			rep.Error = err.Error()
		}
		if encErr := writeJSON(s, rep); encErr != nil {
			return encErr
		}
		return err
	}
	if res != nil && res.Plan != nil {
		engine.FormatPlan(s.Out, res.Plan)
	}
	if diag != nil {
		writeCounts(s.Out, res)
	}
	if err != nil {
		return err
	}
	switch {
	case opts.dryRun:
		fmt.Fprintln(s.Out, "Dry run: nothing was changed. Run without --dry-run to apply this plan.")
	default:
		fmt.Fprintf(s.Out, "Applied as sync run %d.\n", res.RunID)
	}
	return nil
}
