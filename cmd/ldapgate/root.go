package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/gateway"
)

// streams are the command's input and outputs, injected so tests can run
// commands in-process.
type streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// execute runs the command line args and returns the exit code.
func execute(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	s := &streams{In: in, Out: out, Err: errw}
	root := newRootCmd(s)
	root.SetArgs(args)
	root.SetIn(in)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		fmt.Fprintln(errw, "ldapgate:", err)
		var usage *usageError
		if errors.As(err, &usage) && cmd != nil {
			fmt.Fprint(errw, "\n"+cmd.UsageString())
		}
	}
	return exitCode(err)
}

func newRootCmd(s *streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "ldapgate",
		Short:         "Serve a Google Workspace directory over LDAP",
		Long:          "ldapgate mirrors Google Workspace users, groups and memberships into a local store\nand serves them as a read-only LDAP directory.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(
		newServeCmd(s),
		newSyncCmd(s),
		newConfigCmd(s),
		newUsersCmd(s),
		newPasswordCmd(s),
		newAppPasswordCmd(s),
		newStoreCmd(s),
		newPrivilegesCmd(s),
		newVersionCmd(s),
		newClientsCmd(s),
	)
	// cobra's help command answers an unknown topic with exit 0.
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(_ *cobra.Command, args []string) error {
			cmd, rest, err := root.Find(args)
			if err != nil {
				return &usageError{err}
			}
			if len(rest) > 0 {
				return unknownCommand(cmd, rest[0])
			}
			return cmd.Help()
		},
	})
	// The completion command takes its output when it is made.
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.InitDefaultCompletionCmd()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() && !c.Runnable() {
			parent(c)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root
}

// parent makes cmd, which only holds subcommands, answer a missing or
// unknown subcommand with a usage error and suggestions: cobra would
// print its help and exit 0 (and checks only the root's subcommands).
func parent(cmd *cobra.Command) {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return &usageError{fmt.Errorf("%s needs a command", cmd.CommandPath())}
		}
		return unknownCommand(cmd, args[0])
	}
}

// unknownCommand is the usage error for name, which is not a subcommand
// of cmd.
func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	cmd.SuggestionsMinimumDistance = 2 // cobra sets it only for the root's own check
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return &usageError{errors.New(msg)}
}

// configFlag adds the --config flag every command that reads the config has.
func configFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVarP(path, "config", "c", "/etc/ldapgate/ldapgate.yaml", "config file")
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs { return rangeArgs(n, n) }

// rangeArgs is cobra.RangeArgs with a usage error; a command with
// subcommands and no arguments of its own calls a wrong argument an
// unknown command.
func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if hi == 0 && len(args) > 0 && cmd.HasSubCommands() {
			return unknownCommand(cmd, args[0])
		}
		switch {
		case len(args) > hi:
			return &usageError{fmt.Errorf("unexpected argument %q", args[hi])}
		case len(args) < lo:
			return &usageError{fmt.Errorf("%s: expected %d argument(s), got %d", cmd.CommandPath(), lo, len(args))}
		}
		return nil
	}
}

// didYouMean returns ` (did you mean "x"?)` for the candidate closest to
// s, or "".
func didYouMean(s string, candidates ...string) string {
	if c := gateway.Closest(s, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}
