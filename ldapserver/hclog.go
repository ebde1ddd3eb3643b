package ldapserver

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net"

	"github.com/hashicorp/go-hclog"
)

// hclogSlog is an hclog.Logger that writes to a *slog.Logger: gldap logs
// through hclog. It also watches for gldap's "listening" line, the only
// place gldap v0.1.14 tells the address it bound.
//
// IsDebug and IsTrace always report false: gldap dumps whole BER packets
// when they are true, and a bind request packet holds the password. Debug
// and Trace lines are still passed on at slog's debug level.
//
// gldap's errors are about one connection (a client that sent garbage or
// went away), never the server as a whole, so they are logged as warnings.
type hclogSlog struct {
	log       *slog.Logger
	name      string
	implied   []any
	listening func(net.Addr)
}

var _ hclog.Logger = (*hclogSlog)(nil)

func newHCLogSlog(l *slog.Logger, listening func(net.Addr)) *hclogSlog {
	return &hclogSlog{log: l, listening: listening}
}

func (h *hclogSlog) Log(level hclog.Level, msg string, args ...any) {
	if h.listening != nil && msg == "listening" {
		for i := 0; i+1 < len(args); i += 2 {
			if k, _ := args[i].(string); k == "addr" {
				if a, ok := args[i+1].(net.Addr); ok {
					h.listening(a)
				}
			}
		}
	}
	var l slog.Level
	switch {
	case level <= hclog.Debug:
		l = slog.LevelDebug
	case level == hclog.Info:
		l = slog.LevelInfo
	default:
		l = slog.LevelWarn
	}
	ctx := context.Background()
	if !h.log.Enabled(ctx, l) {
		return
	}
	all := make([]any, 0, len(h.implied)+len(args)+2)
	if h.name != "" {
		all = append(all, "logger", h.name)
	}
	all = append(all, h.implied...)
	all = append(all, args...)
	h.log.Log(ctx, l, msg, all...)
}

func (h *hclogSlog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogSlog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogSlog) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogSlog) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogSlog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogSlog) IsTrace() bool { return false }
func (h *hclogSlog) IsDebug() bool { return false }
func (h *hclogSlog) IsInfo() bool  { return h.log.Enabled(context.Background(), slog.LevelInfo) }
func (h *hclogSlog) IsWarn() bool  { return h.log.Enabled(context.Background(), slog.LevelWarn) }
func (h *hclogSlog) IsError() bool { return h.log.Enabled(context.Background(), slog.LevelWarn) }

func (h *hclogSlog) ImpliedArgs() []any { return h.implied }

func (h *hclogSlog) With(args ...any) hclog.Logger {
	c := *h
	c.implied = append(append([]any(nil), h.implied...), args...)
	return &c
}

func (h *hclogSlog) Name() string { return h.name }

func (h *hclogSlog) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (h *hclogSlog) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

// SetLevel is ignored: the slog handler decides.
func (h *hclogSlog) SetLevel(hclog.Level) {}

func (h *hclogSlog) GetLevel() hclog.Level { return hclog.Info }

// StandardLogger and StandardWriter discard: gldap uses them only for
// packet dumps, which are never wanted (see IsDebug).
func (h *hclogSlog) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(io.Discard, "", 0)
}

func (h *hclogSlog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer { return io.Discard }
