package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ldapgate/ldapgate/sync/engine"
)

// AuditConfig is the audit file (audit.*): one JSON line per applied sync
// change, bind and privilege change. It exists because the log cannot hold
// them: a first sync of 100,000 users is ~300,000 changes, and journald's
// default rate limit (10,000 messages in 30 s) would drop most of them.
// The store's run record holds the plan too, but only for the newest
// store.DB.KeepRunPlans runs.
type AuditConfig struct {
	// File is the audit file; default audit.jsonl beside the store.
	File string `yaml:"file"`
	// MaxSizeMB is the size at which the file is rotated (default 100).
	MaxSizeMB int `yaml:"max_size_mb"`
	// MaxFiles is how many rotated files (file.1 … file.N) are kept
	// (default 10); the oldest goes first.
	MaxFiles int `yaml:"max_files"`
}

// Audit defaults.
const (
	DefaultAuditMaxSizeMB = 100
	DefaultAuditMaxFiles  = 10
)

// AuditFile is audit.file resolved: by default beside a SQLite store, and
// beside the config file with a PostgreSQL store (which has no folder; a
// folder the service cannot write fails config check, which says so).
func (c *Config) AuditFile() string {
	switch {
	case c.Audit.File != "":
		return c.resolve(c.Audit.File)
	case c.Store.Driver == DriverPostgres:
		return c.resolve("audit.jsonl")
	}
	return filepath.Join(filepath.Dir(c.StorePath()), "audit.jsonl")
}

func (c *Config) validateAudit(root *yaml.Node) ConfigErrors {
	var errs ConfigErrors
	if c.Audit.MaxSizeMB < 0 {
		errs = append(errs, &ConfigError{File: c.path, Line: lineOf(root, "audit.max_size_mb"),
			Msg: fmt.Sprintf("audit.max_size_mb: expected a size in MB of 1 or more, got %d", c.Audit.MaxSizeMB)})
	}
	if c.Audit.MaxFiles < 0 {
		errs = append(errs, &ConfigError{File: c.path, Line: lineOf(root, "audit.max_files"),
			Msg: fmt.Sprintf("audit.max_files: expected 1 or more, got %d", c.Audit.MaxFiles)})
	}
	return errs
}

// rotatingFile is an append-only file that is renamed to path.1 (path.1 to
// path.2, and so on, dropping path.<keep>) before a write would take it
// past max bytes. slog handlers write each record in one Write call, so a
// record is never split between two files.
//
// Writes are buffered and reach the file within auditFlushEvery, at a
// Flush (the end of a sync's records, a privilege change) and at Close: a
// bind's record then costs no system call of its own (a third of a cached
// bind's CPU time when each was written at once). A crash loses at most
// the records of the last auditFlushEvery.
type rotatingFile struct {
	mu   sync.Mutex
	path string
	max  int64
	keep int
	f    *os.File
	bw   *bufio.Writer
	size int64 // written and buffered
	// failed is the first write error since the last takeErr: the
	// logger drops the errors of its handlers.
	failed error
	done   chan struct{} // closed by Close: the flusher ends
}

// auditFlushEvery is how long an audit record may wait in the buffer.
const auditFlushEvery = 200 * time.Millisecond

func openRotatingFile(path string, max int64, keep int) (*rotatingFile, error) {
	r := &rotatingFile{path: path, max: max, keep: keep, done: make(chan struct{})}
	if err := r.open(); err != nil {
		return nil, err
	}
	go r.flushEvery(auditFlushEvery)
	return r, nil
}

func (r *rotatingFile) flushEvery(d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
			_ = r.Flush()
		}
	}
}

// Flush writes the buffered records to the file.
func (r *rotatingFile) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.bw.Flush()
	if err != nil && r.failed == nil {
		r.failed = err
	}
	return err
}

func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	r.f, r.size = f, st.Size()
	if r.bw == nil {
		r.bw = bufio.NewWriterSize(f, 64<<10)
	} else {
		r.bw.Reset(f)
	}
	return nil
}

func (r *rotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.write(p)
	if err != nil && r.failed == nil {
		r.failed = err
	}
	return n, err
}

func (r *rotatingFile) write(p []byte) (int, error) {
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.size > 0 && r.size+int64(len(p)) > r.max {
		if err := r.rotate(); err != nil {
			return 0, fmt.Errorf("rotate %s: %w", r.path, err)
		}
	}
	n, err := r.bw.Write(p)
	r.size += int64(n)
	return n, err
}

// takeErr returns the first write error since it was last called.
func (r *rotatingFile) takeErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.failed
	r.failed = nil
	return err
}

func (r *rotatingFile) rotate() error {
	if err := r.bw.Flush(); err != nil {
		return err
	}
	if err := r.f.Close(); err != nil {
		return err
	}
	r.f = nil
	for i := r.keep - 1; i >= 1; i-- {
		err := os.Rename(r.path+"."+strconv.Itoa(i), r.path+"."+strconv.Itoa(i+1))
		if err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if err := os.Rename(r.path, r.path+".1"); err != nil {
		return err
	}
	return r.open()
}

func (r *rotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	close(r.done)
	err := errors.Join(r.bw.Flush(), r.f.Close())
	r.f = nil
	return err
}

// openAudit opens the audit file the config names and returns the audit
// logger: records go to the file and, marked audit=true, to log.
func openAudit(cfg *Config, log *slog.Logger) (*rotatingFile, *slog.Logger, *slog.Logger, error) {
	size, keep := cfg.Audit.MaxSizeMB, cfg.Audit.MaxFiles
	if size == 0 {
		size = DefaultAuditMaxSizeMB
	}
	if cfg.Audit.MaxFiles == 0 {
		keep = DefaultAuditMaxFiles
	}
	f, err := openRotatingFile(cfg.AuditFile(), int64(size)<<20, keep)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("audit.file: %w", err)
	}
	file := slog.New(slog.NewJSONHandler(f, nil))
	both := slog.New(slog.NewMultiHandler(log.With("audit", true).Handler(), file.Handler()))
	return f, both, file, nil
}

// auditPlan writes one audit record per change a sync applied to the audit
// file, and to the log at debug only: at info the log has the sync's
// summary, which stays readable however many users changed.
func (g *Gateway) auditPlan(ctx context.Context, res *engine.Result) {
	p := res.Plan
	if p == nil {
		return
	}
	debug := g.log.Enabled(ctx, slog.LevelDebug)
	rec := func(args ...any) {
		g.auditFile.InfoContext(ctx, "sync change", args...)
		if debug {
			g.log.DebugContext(ctx, "sync change", args...)
		}
	}
	for _, c := range p.Users {
		rec("run", res.RunID, "object", "user", "action", string(c.Action),
			"user", c.User.PrimaryEmail, "fields", c.Fields, "reason", c.Reason)
	}
	for _, c := range p.Groups {
		rec("run", res.RunID, "object", "group", "action", string(c.Action),
			"group", c.Group.Email, "fields", c.Fields, "reason", c.Reason)
	}
	for _, c := range p.Members {
		rec("run", res.RunID, "object", "member", "action", string(c.Action),
			"group", c.GroupEmail, "member", c.Member.Email, "member_type", string(c.Member.Type), "reason", c.Reason)
	}
	for _, c := range p.Grants {
		rec("run", res.RunID, "object", "grant", "action", string(c.Action),
			"user", c.UserEmail, "privilege", c.Grant.Privilege, "reason", c.Reason)
	}
	_ = g.auditSink.Flush() // an error is kept for takeErr
	if err := g.auditSink.takeErr(); err != nil {
		g.log.Error("audit records of the sync not written", "file", g.config().AuditFile(), "run", res.RunID, "err", err)
	}
}
