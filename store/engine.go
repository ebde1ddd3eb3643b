package store

import (
	"context"
	"database/sql"
	"io/fs"
)

// engine is what differs between the SQL engines a DB runs on (SQLite,
// PostgreSQL). Everything else (every query, the order of an apply, the
// pruning of the history) is one code path for both, so that no behaviour
// exists on one backend only; the conformance suite runs on both.
//
// The store's queries are written in the dialect both engines share, with
// SQLite's ? placeholders and COLLATE BINARY for byte-wise order; rebind
// turns them into the engine's.
type engine interface {
	// rebind returns query in the engine's dialect.
	rebind(query string) string
	// lockWrites makes tx the only writer until it ends, as SQLite's
	// IMMEDIATE transactions are; it waits at most the busy timeout.
	lockWrites(ctx context.Context, tx *sql.Tx) error
	// snapshot are the options of a read transaction that sees one
	// consistent state through all its queries.
	snapshot() *sql.TxOptions
	// dataVersion is a query whose answer changes when another connection
	// commits, cheaper than reading the generation; "" if there is none.
	dataVersion() string
	// migrations are the engine's schema migrations, NNNN_name.sql at the
	// top of the file system.
	migrations() (fs.FS, error)
	// announce is a statement that tells the other connections' watches
	// (notices) that the transaction it runs in raised the directory
	// generation, once it commits; "" if the engine has none.
	announce() string
	// notices returns a channel that receives when another connection may
	// have announced a change, until stop is called; nil if the engine has
	// no announcements (then Changed is polled alone).
	notices() (ch <-chan struct{}, stop func())
}

// pool is a database handle that takes queries in the store's dialect.
type pool struct {
	*sql.DB
	eng engine
}

func (p pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.DB.ExecContext(ctx, p.eng.rebind(query), args...)
}

func (p pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.DB.QueryContext(ctx, p.eng.rebind(query), args...)
}

func (p pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return p.DB.QueryRowContext(ctx, p.eng.rebind(query), args...)
}

func (p pool) BeginTx(ctx context.Context, opts *sql.TxOptions) (*txn, error) {
	t, err := p.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &txn{Tx: t, eng: p.eng}, nil
}

// txn is a transaction that takes queries in the store's dialect.
type txn struct {
	*sql.Tx
	eng engine
	// conn is the connection of a write transaction, held until it ends,
	// for the driver's own calls (pipelines; bulk.go).
	conn *sql.Conn
}

// Commit commits the transaction and gives its connection back.
func (t *txn) Commit() error {
	err := t.Tx.Commit()
	t.release()
	return err
}

// Rollback rolls the transaction back, if it has not ended, and gives its
// connection back.
func (t *txn) Rollback() error {
	err := t.Tx.Rollback()
	t.release()
	return err
}

func (t *txn) release() {
	if t.conn != nil {
		t.conn.Close()
		t.conn = nil
	}
}

func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, t.eng.rebind(query), args...)
}

func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, t.eng.rebind(query), args...)
}

func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, t.eng.rebind(query), args...)
}

func (t *txn) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.Tx.PrepareContext(ctx, t.eng.rebind(query))
}

// beginWrite begins a write transaction: the only one until it ends.
func (db *DB) beginWrite(ctx context.Context) (*txn, error) {
	conn, err := db.write.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	t := &txn{Tx: sqlTx, eng: db.write.eng, conn: conn}
	if err := db.write.eng.lockWrites(ctx, t.Tx); err != nil {
		t.Rollback()
		return nil, err
	}
	return t, nil
}
