package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/ldapgate/ldapgate/gateway"
)

func newVersionCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print ldapgate's version",
		Args:  exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(s.Out, "ldapgate %s %s %s/%s\n", gateway.Build(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
