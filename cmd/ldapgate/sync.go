package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/gateway"
	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/google"
	"github.com/ldapgate/ldapgate/sync/planfmt"
	"github.com/ldapgate/ldapgate/sync/progress"
)

type syncOptions struct {
	configPath string
	dryRun     bool
	force      bool
	json       bool
	plan       bool // the whole plan, not its summary
}

// planSample is how many changes of each kind a plan's summary shows.
const planSample = 5

func newSyncCmd(s *streams) *cobra.Command {
	var opts syncOptions
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Synchronize now (or, with --dry-run, test the settings and show the plan)",
		Long: "sync fetches the source directory, filters it, and compares it with the store.\n" +
			"With --dry-run it prints the plan (what would be added, updated and deleted, and why)\n" +
			"and changes nothing. Without it, it applies the plan in one transaction.\n" +
			"The plan is summarised (counts per kind and reason, the first changes of each kind);\n" +
			"--plan prints every change, --json the whole result.\n" +
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
	cmd.Flags().BoolVar(&opts.plan, "plan", false, "print every change of the plan, not its summary")
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
	// The command prints the error it returns; the engine's own record of
	// a failed sync (for serve's log) would print it a second time.
	log := slog.New(dropMessage{gateway.NewLogger(logCfg, s.Err).Handler(), "sync failed"})
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
	g, err := gateway.New(ctx, cfg, log, gateway.WithoutView())
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
		writePlan(s, res.Plan, opts.plan)
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

// dropMessage is a log handler that leaves out the records with one
// message.
type dropMessage struct {
	slog.Handler
	msg string
}

func (d dropMessage) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == d.msg {
		return nil
	}
	return d.Handler.Handle(ctx, r)
}

func (d dropMessage) WithAttrs(as []slog.Attr) slog.Handler {
	return dropMessage{d.Handler.WithAttrs(as), d.msg}
}

func (d dropMessage) WithGroup(name string) slog.Handler {
	return dropMessage{d.Handler.WithGroup(name), d.msg}
}

// writePlan prints the whole plan, or its summary and how to see the rest.
func writePlan(s *streams, p *store.Plan, whole bool) {
	if whole {
		planfmt.Write(s.Out, p)
		return
	}
	planfmt.WriteSummary(s.Out, p, planSample)
	if max(len(p.Users), len(p.Groups), len(p.Members), len(p.Grants)) > planSample {
		fmt.Fprintln(s.Out, "Every change: --plan (or --json).")
	}
}
