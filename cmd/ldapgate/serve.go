package main

import (
	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/gateway"
)

type serveOptions struct {
	configPath string
}

func newServeCmd(s *streams) *cobra.Command {
	var opts serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Sync on a schedule and serve the directory over LDAP",
		Long: "serve opens the store, serves LDAP, runs a sync at start and every sync.interval,\n" +
			"and stops cleanly on Ctrl-C or SIGTERM.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, s, &opts)
		},
	}
	configFlag(cmd, &opts.configPath)
	return cmd
}

func runServe(cmd *cobra.Command, s *streams, opts *serveOptions) error {
	cfg, err := gateway.LoadConfig(opts.configPath)
	if err != nil {
		return err
	}
	log := gateway.NewLogger(cfg.Log, s.Err)
	ctx := cmd.Context()
	g, err := gateway.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer g.Close()
	b := gateway.Build()
	log.Info("ldapgate starting", "version", b.Version, "revision", b.Revision, "commit_time", b.Time, "modified", b.Modified,
		"config", cfg.Path(), "store", cfg.StoreName())
	return g.Run(ctx)
}
