package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

//go:embed pgmigrations/*.sql
var pgMigrationFiles embed.FS

// SQLSTATE codes the store tells apart.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
	pgDiskFull            = "53100"
	pgLockNotAvailable    = "55P03" // lock_timeout passed
)

// writeLockKey is the transaction-level advisory lock every write takes:
// one writer at a time, as with SQLite, across all the ldapgates that
// share the database. ("ldapgate" in ASCII.)
const writeLockKey = 0x6c64617067617465

// busyTimeout is how long a write waits for another writer, as SQLite's
// busy_timeout does.
const busyTimeout = "5s"

// OpenPostgres opens the PostgreSQL database dsn names (a URL or key=value
// connection string, as libpq takes) and brings its schema up to date, like
// Open. Its errors never include the password.
//
// The store works through database/sql on pgx's stdlib driver, not
// pgxpool: the queries, transactions and prepared statements of the SQLite
// store then serve PostgreSQL unchanged (engine rebinds their placeholders).
func OpenPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgconn's parse errors redact the password; the DSN is not repeated.
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	where := fmt.Sprintf("postgres database %s on %s", cfg.Database, cfg.Host)
	cfg.RuntimeParams["lock_timeout"] = busyTimeout
	cfg.RuntimeParams["timezone"] = "UTC"
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "ldapgate"
	}
	db := newDB()
	eng := pgEngine{cfg: cfg.Copy()}
	db.write = pool{stdlib.OpenDB(*cfg), eng}
	if err := db.write.PingContext(ctx); err != nil {
		db.write.Close()
		return nil, fmt.Errorf("store: open %s: %w", where, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.write.Close()
		return nil, fmt.Errorf("store: open %s: %w", where, err)
	}
	rcfg := cfg.Copy()
	rcfg.RuntimeParams["default_transaction_read_only"] = "on"
	db.read = pool{stdlib.OpenDB(*rcfg), eng}
	db.read.SetMaxOpenConns(readConns)
	db.read.SetMaxIdleConns(readConns)
	return db, nil
}

// pgEngine is PostgreSQL.
type pgEngine struct {
	cfg *pgx.ConnConfig // for the LISTEN connection
}

// rebound caches rebind's work: the store has a few dozen queries.
var rebound sync.Map

// rebind numbers the ? placeholders ($1, $2, ...) and spells byte-wise
// order COLLATE "C". The store's queries have no ? in string literals.
func (pgEngine) rebind(query string) string {
	if q, ok := rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	q := strings.ReplaceAll(b.String(), "COLLATE BINARY", `COLLATE "C"`)
	rebound.Store(query, q)
	return q
}

func (pgEngine) lockWrites(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(writeLockKey))
	return err
}

// snapshot: PostgreSQL's default (read committed) takes a snapshot per
// statement; LoadState's queries must see one state.
func (pgEngine) snapshot() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
}

func (pgEngine) dataVersion() string { return "" }

func (pgEngine) migrations() (fs.FS, error) { return fs.Sub(pgMigrationFiles, "pgmigrations") }

// changeChannel is the channel of the NOTIFY that a directory write sends.
const changeChannel = "ldapgate_directory"

// listenRetry is how long the listener waits before it connects again
// after losing its connection; the poll covers the gap.
const listenRetry = time.Second

func (pgEngine) announce() string { return "NOTIFY " + changeChannel }

// notices keeps a connection that listens for announcements, and connects
// again when it is lost; each new connection counts as a notice, since
// announcements may have been missed meanwhile.
func (e pgEngine) notices() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	notify := func() {
		select {
		case ch <- struct{}{}:
		default: // one pending notice stands for any number
		}
	}
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			e.listen(ctx, notify)
			select {
			case <-ctx.Done():
			case <-time.After(listenRetry):
			}
		}
	}()
	return ch, func() { cancel(); <-done }
}

// listen listens on one connection until it fails or ctx ends.
func (e pgEngine) listen(ctx context.Context, notify func()) {
	conn, err := pgx.ConnectConfig(ctx, e.cfg)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+changeChannel); err != nil {
		return
	}
	notify()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return
		}
		notify()
	}
}

// pgCode is the SQLSTATE of a PostgreSQL error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
