package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

// bulkChunk is how many statements one pipeline sends.
const bulkChunk = 1000

var (
	// errBulk means a statement of a pipeline failed or changed no row.
	errBulk = errors.New("a pipelined change failed")
	// errOneByOne means a change of the step has no single statement.
	errOneByOne = errors.New("a change must be applied alone")
)

// bulk applies the changes whose action passes want, as each does, but on
// PostgreSQL in far fewer round trips (a first sync of 100k users is ~450k
// statements): runs of one-row inserts go as one COPY each, the other
// statements in pipelines of bulkChunk. stmt gives a change's single
// statement, which must change one row; a change with none (false) makes
// the step go one by one. The changes are read as they are sent, so that
// only one pipeline's arguments are held at a time. Everything runs in a
// savepoint: if a statement fails, the step is rolled back to it and
// applied again one by one with one, whose errors name the change at
// fault, as on SQLite.
func bulk[C interface{ action() Action }](ctx context.Context, a *applier, changes []C, want func(Action) bool,
	stmt func(C) (string, []any, bool), one func(context.Context, C) error) error {
	slow := func() error { return each(changes, want, func(c C) error { return one(ctx, c) }) }
	if _, pg := a.tx.eng.(pgEngine); !pg || a.tx.conn == nil {
		return slow()
	}
	n := 0
	for _, c := range changes {
		if want(c.action()) {
			n++
		}
	}
	if n < 2 {
		return slow()
	}
	if _, err := a.tx.ExecContext(ctx, `SAVEPOINT bulk`); err != nil {
		return fmt.Errorf("store: apply: %w", err)
	}
	err := a.tx.conn.Raw(func(dc any) error {
		c, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			return fmt.Errorf("driver connection %T has no pgx connection", dc)
		}
		s := &stmtStream[C]{changes: changes, want: want, stmt: stmt}
		s.next()
		for s.more && s.err == nil {
			var err error
			if ins := insertOf(s.query); ins != nil {
				err = s.copy(ctx, c.Conn(), ins)
			} else {
				err = s.pipeline(ctx, c.Conn())
			}
			if err != nil {
				return err
			}
		}
		return s.err
	})
	if err == nil {
		_, err = a.tx.ExecContext(ctx, `RELEASE SAVEPOINT bulk`)
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("store: apply: %w", err)
	}
	if _, rerr := a.tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT bulk`); rerr != nil {
		return fmt.Errorf("store: apply: %w (after %w)", rerr, err)
	}
	return slow()
}

// stmtStream reads the statements of the wanted changes one at a time:
// query and args are the next one's, while more.
type stmtStream[C interface{ action() Action }] struct {
	changes []C
	want    func(Action) bool
	stmt    func(C) (string, []any, bool)

	query string
	args  []any
	more  bool
	err   error
}

// next moves to the next wanted change; a change without a statement ends
// the stream with errOneByOne.
func (s *stmtStream[C]) next() {
	for len(s.changes) > 0 {
		c := s.changes[0]
		s.changes = s.changes[1:]
		if !s.want(c.action()) {
			continue
		}
		var ok bool
		s.query, s.args, ok = s.stmt(c)
		s.more = ok
		if !ok {
			s.err = errOneByOne
		}
		return
	}
	s.more = false
}

// copy sends the run of inserts of s.query as one COPY.
func (s *stmtStream[C]) copy(ctx context.Context, conn *pgx.Conn, ins *copyInsert) error {
	query, sent := s.query, int64(0)
	// CopyFrom reads the rows on its own goroutine, and waits for it.
	n, err := conn.CopyFrom(ctx, pgx.Identifier{ins.table}, ins.cols, pgx.CopyFromFunc(func() ([]any, error) {
		if !s.more || s.query != query {
			return nil, s.err
		}
		args := s.args
		s.next()
		sent++
		return args, nil
	}))
	if err == nil && n != sent {
		err = errBulk
	}
	return err
}

// pipeline sends up to bulkChunk statements that are not inserts as one
// pipeline.
func (s *stmtStream[C]) pipeline(ctx context.Context, conn *pgx.Conn) error {
	b := &pgx.Batch{}
	for s.more && len(b.QueuedQueries) < bulkChunk && insertOf(s.query) == nil {
		b.Queue(pgEngine{}.rebind(s.query), s.args...)
		s.next()
	}
	br := conn.SendBatch(ctx, b)
	for range b.QueuedQueries {
		tag, err := br.Exec()
		if err == nil && tag.RowsAffected() != 1 {
			err = errBulk
		}
		if err != nil {
			br.Close()
			return err
		}
	}
	return br.Close()
}

// copyInsert is the table and columns of an insert of one row of
// placeholders, which COPY can do instead.
type copyInsert struct {
	table string
	cols  []string
}

// inserts caches insertOf's work: the store has a few inserts.
var inserts sync.Map

// insertOf returns the table and columns query inserts one row of
// placeholders into, or nil if it is another statement.
func insertOf(query string) *copyInsert {
	if v, ok := inserts.Load(query); ok {
		return v.(*copyInsert)
	}
	var ins *copyInsert
	q := strings.Join(strings.Fields(query), " ")
	if rest, ok := strings.CutPrefix(q, "INSERT INTO "); ok {
		table, rest, _ := strings.Cut(rest, " (")
		cols, values, _ := strings.Cut(rest, ") VALUES (")
		names := strings.Split(cols, ", ")
		if values == strings.Repeat("?, ", len(names)-1)+"?)" {
			ins = &copyInsert{table: table, cols: names}
		}
	}
	inserts.Store(query, ins)
	return ins
}
