package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
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
	root.SetOut(out)
	root.SetErr(errw)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(errw, "ldapgate:", err)
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
	)
	return root
}

// configFlag adds the --config flag every command that reads the config has.
func configFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVarP(path, "config", "c", "/etc/ldapgate/ldapgate.yaml", "config file")
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}
