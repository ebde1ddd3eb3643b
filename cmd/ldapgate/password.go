package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ldapgate/ldapgate/internal/passhash"
)

func newPasswordCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "password",
		Short: "Make password hashes for the config",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "hash",
		Short: "Hash a service account password (argon2id) for service_accounts[].password_hash",
		Long: "hash reads a password (from the terminal without echo, or the first line of standard\n" +
			"input) and prints its argon2id hash, for the config's password_hash,\n" +
			"password_hash_file or password_hash_env.",
		Args: exactArgs(0),
		RunE: func(*cobra.Command, []string) error { return runPasswordHash(s) },
	})
	return cmd
}

func runPasswordHash(s *streams) error {
	var pw string
	if f, ok := s.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(s.Err, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(s.Err)
		if err != nil {
			return fmt.Errorf("read password: %w", err)
		}
		pw = string(b)
	} else {
		line, err := bufio.NewReader(s.In).ReadString('\n')
		if err != nil && line == "" {
			return errors.New("read password: no input")
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if pw == "" {
		return &usageError{errors.New("empty password: an empty password can never bind")}
	}
	h, err := passhash.Hash(pw, passhash.Default)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(s.Out, h)
	return err
}
