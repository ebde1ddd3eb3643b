package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/connect"
	"github.com/ldapgate/ldapgate/gateway"
)

type clientsOptions struct {
	configPath     string
	host           string
	serviceAccount string
	group          string
}

func newClientsCmd(s *streams) *cobra.Command {
	var opts clientsOptions
	cmd := &cobra.Command{
		Use:   "clients [NAME]",
		Short: "Print the settings to type into an LDAP client (MailStore, Nextcloud, Dovecot, ...)",
		Long: "clients prints, from the config, what to type into a client's LDAP settings: server, port,\n" +
			"encryption, bind DN, base DN, filters and attributes, or its config files. Without NAME it\n" +
			"lists the clients. Values the client cannot use as they are (a loopback listen address,\n" +
			"plain LDAP for passwords) are flagged with \"!\".\n\nClients: " + strings.Join(connect.Names(), ", "),
		Args:      rangeArgs(0, 1),
		ValidArgs: connect.Names(),
		RunE: func(_ *cobra.Command, args []string) error {
			return runClients(s, &opts, args)
		},
	}
	configFlag(cmd, &opts.configPath)
	cmd.Flags().StringVar(&opts.host, "host", "", "the name clients reach ldapgate by (default: ldap.listen's host, or this machine's name when it listens on every address)")
	cmd.Flags().StringVar(&opts.serviceAccount, "service-account", "", "the service account the client searches with (default: the first in the config)")
	cmd.Flags().StringVar(&opts.group, "group", "", "the cn of a group to restrict logons to, in the examples that have one")
	return cmd
}

func runClients(s *streams, opts *clientsOptions, args []string) error {
	if len(args) == 1 && !slices.Contains(connect.Names(), args[0]) {
		return &usageError{fmt.Errorf("unknown client %q%s (expected one of %s)", args[0], didYouMean(args[0], connect.Names()...), strings.Join(connect.Names(), ", "))}
	}
	cfg, err := gateway.LoadConfig(opts.configPath)
	if err != nil {
		return err
	}
	set := cfg.ConnectSettings()
	set.Group = opts.group
	if opts.host != "" {
		set.Host = opts.host
	}
	if opts.serviceAccount != "" {
		if !slices.Contains(set.ServiceAccounts, opts.serviceAccount) {
			return &usageError{fmt.Errorf("--service-account %q is not in service_accounts (%s)", opts.serviceAccount, strings.Join(set.ServiceAccounts, ", "))}
		}
		set.ServiceAccount = opts.serviceAccount
	}
	if len(args) == 0 {
		guides := connect.List(set)
		width := 0
		for _, g := range guides {
			width = max(width, len(g.Name))
		}
		for _, g := range guides {
			fmt.Fprintf(s.Out, "%-*s  %s\n", width, g.Name, g.Title)
		}
		fmt.Fprintf(s.Out, "\nldapgate clients NAME -c %s prints one client's settings.\n", opts.configPath)
		return nil
	}
	g, err := connect.For(args[0], set)
	if err != nil {
		return err
	}
	return g.WriteText(s.Out)
}
