package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// bulkChunk is how many statements one pipeline sends.
const bulkChunk = 1000

// errBulk means a statement of a pipeline failed or changed no row.
var errBulk = errors.New("a pipelined change failed")

// bulk applies the changes whose action passes want, as each does, but on
// PostgreSQL sends the statements in pipelines (one round trip per
// bulkChunk statements, not per change: a first sync of 100k users is
// ~450k statements). stmt gives a change's single statement, which must
// change one row; a change with none (false) makes the step go one by one.
// The pipelines run in a savepoint: if one of their statements fails, the
// step is rolled back to it and applied again one by one with one, whose
// errors name the change at fault, as on SQLite.
func bulk[C interface{ action() Action }](ctx context.Context, a *applier, changes []C, want func(Action) bool,
	stmt func(C) (string, []any, bool), one func(context.Context, C) error) error {
	slow := func() error { return each(changes, want, func(c C) error { return one(ctx, c) }) }
	if _, pg := a.tx.eng.(pgEngine); !pg || a.tx.conn == nil {
		return slow()
	}
	type queued struct {
		query string
		args  []any
	}
	var qs []queued
	for _, c := range changes {
		if !want(c.action()) {
			continue
		}
		query, args, ok := stmt(c)
		if !ok {
			return slow()
		}
		qs = append(qs, queued{a.tx.eng.rebind(query), args})
	}
	if len(qs) < 2 {
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
		for len(qs) > 0 {
			chunk := qs[:min(bulkChunk, len(qs))]
			qs = qs[len(chunk):]
			b := &pgx.Batch{}
			for _, q := range chunk {
				b.Queue(q.query, q.args...)
			}
			br := c.Conn().SendBatch(ctx, b)
			for range chunk {
				tag, err := br.Exec()
				if err == nil && tag.RowsAffected() != 1 {
					err = errBulk
				}
				if err != nil {
					br.Close()
					return err
				}
			}
			if err := br.Close(); err != nil {
				return err
			}
		}
		return nil
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
