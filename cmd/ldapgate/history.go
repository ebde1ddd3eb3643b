package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/gateway"
	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/planfmt"
)

type historyOptions struct {
	configPath string
	limit      int
	json       bool
	plan       bool // show: the whole plan, not its summary
}

func newSyncHistoryCmd(s *streams) *cobra.Command {
	var opts historyOptions
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the last sync runs with their counts and errors",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, db, err := openStore(cmd, opts.configPath)
			if err != nil {
				return err
			}
			defer db.Close()
			runs, err := db.SyncRuns(cmd.Context(), opts.limit)
			if err != nil {
				return err
			}
			if opts.json {
				return writeJSON(s, runs)
			}
			tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSTARTED\tTOOK\tFETCH+PLAN+APPLY+FINISH\tSOURCE\tRESULT")
			for _, r := range runs {
				result := planfmt.Counts(r.Counts)
				if r.Error != "" {
					result = "FAILED: " + r.Error
				} else if r.Forced {
					result += " (forced)"
				}
				p := r.Phases
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s+%s+%s+%s\t%s\t%s\n", r.ID, r.StartedAt.Local().Format(time.DateTime),
					r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond), seconds(p.FetchMS), seconds(p.PlanMS),
					seconds(p.ApplyMS), seconds(p.FinishMS), r.Source, result)
			}
			return tw.Flush()
		},
	}
	configFlag(cmd, &opts.configPath)
	cmd.Flags().IntVarP(&opts.limit, "limit", "n", 20, "how many runs, newest first (0: all)")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

func newSyncShowCmd(s *streams) *cobra.Command {
	var opts historyOptions
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "Show one sync run with its plan",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return &usageError{fmt.Errorf("RUN must be a run number (see ldapgate sync history), got %q", args[0])}
			}
			_, db, err := openStore(cmd, opts.configPath)
			if err != nil {
				return err
			}
			defer db.Close()
			r, err := db.SyncRun(cmd.Context(), id)
			if err != nil {
				return fmt.Errorf("sync run %d: %w", id, err)
			}
			if opts.json {
				return writeJSON(s, r)
			}
			fmt.Fprintf(s.Out, "run %d: %s, from %s, took %s\n", r.ID, r.StartedAt.Local().Format(time.DateTime),
				r.Source, r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond))
			p := r.Phases
			fmt.Fprintf(s.Out, "phases: fetch %s, plan %s, apply %s, finish %s\n",
				seconds(p.FetchMS), seconds(p.PlanMS), seconds(p.ApplyMS), seconds(p.FinishMS))
			if r.Error != "" {
				fmt.Fprintf(s.Out, "failed, nothing applied: %s\n", r.Error)
			}
			switch {
			case r.Plan != nil:
				writePlan(s, r.Plan, opts.plan)
			case r.Error == "":
				fmt.Fprintf(s.Out, "%s (the plan itself is no longer kept)\n", planfmt.Counts(r.Counts))
			}
			return nil
		},
	}
	configFlag(cmd, &opts.configPath)
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	cmd.Flags().BoolVar(&opts.plan, "plan", false, "print every change of the plan, not its summary")
	return cmd
}

// seconds formats a phase's milliseconds as seconds, to a tenth.
func seconds(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) + "s" }

// openStore loads the config and opens the store it names.
func openStore(cmd *cobra.Command, configPath string) (*gateway.Config, *store.DB, error) {
	cfg, err := gateway.LoadConfig(configPath)
	if err != nil {
		return nil, nil, err
	}
	db, err := gateway.OpenStore(cmd.Context(), cfg)
	return cfg, db, err
}
