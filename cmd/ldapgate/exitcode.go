package main

import (
	"errors"

	"github.com/ldapgate/ldapgate/gateway"
	"github.com/ldapgate/ldapgate/sync/engine"
)

// Exit codes, documented in the README.
const (
	exitOK          = 0
	exitError       = 1 // anything not listed below
	exitUsage       = 2 // bad flags or arguments
	exitConfig      = 3 // the config file is invalid
	exitSyncRefused = 4 // the plan deletes more users than sync.max_delete_percent allows
)

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	var usage *usageError
	var cfgErrs gateway.ConfigErrors
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage):
		return exitUsage
	case errors.As(err, &cfgErrs):
		return exitConfig
	case errors.Is(err, engine.ErrTooManyDeletes):
		return exitSyncRefused
	default:
		return exitError
	}
}

// usageError is a mistake in the command line itself.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }
