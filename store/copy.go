package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// copyTables are the tables CopyTo copies, each before the tables that
// refer to it, with their columns; bools are the indexes of the flag
// columns (0/1 integers on SQLite, booleans on PostgreSQL). Leases are not
// copied: they belong to the running ldapgates of each store. Portal
// sessions are, so that people signed in stay signed in across a move; the
// portal's secrets are not: the key that seals a sign-in in progress is
// made anew, which fails only a sign-in started before the move.
var copyTables = []struct {
	name, cols string
	bools      []int
}{
	{"users", strings.Join(strings.Fields(userColumns), " "), []int{8, 9, 10}},
	{"groups", "id, cn, email, name, description, aliases, created_at, updated_at", nil},
	{"group_user_members", "group_id, user_id", nil},
	{"group_group_members", "group_id, member_group_id", nil},
	{"grants", "user_id, privilege, origin, rule, created_at", nil},
	{"app_passwords", appPasswordRow, []int{7}},
	{"sync_runs", "id, started_at, finished_at, source, kind, forced, counts, phases, plan, error", []int{5}},
	{"deleted_users", "id, uid, primary_email, display_name, created_at, deleted_at, reason", nil},
	{"deleted_grants", "user_id, privilege, origin, created_at", nil},
	{"deleted_app_passwords", appPasswordRow, []int{7}},
	{"portal_sessions", "key, user_id, email, csrf, expires_at", nil},
}

// ErrNotEmpty means the target of a copy holds data already.
var ErrNotEmpty = errors.New("the target store is not empty")

// CopyTo copies everything the store holds (directory, grants, app
// passwords, sync history with its plans, tombstones, portal sessions) into dst, in one
// transaction of dst, from one snapshot of the store, and returns the rows
// copied per table. Ids, UIDs, creation times (which order the POSIX
// numbers) stay as they are. The copy is checked: each table of dst must
// hold as many rows as were read. dst must be empty (ErrNotEmpty) unless
// replace, which deletes what it holds first. dst's directory generation
// is raised, so ldapgates running on it serve the copy.
func (db *DB) CopyTo(ctx context.Context, dst *DB, replace bool) (map[string]int64, error) {
	src, err := db.read.BeginTx(ctx, db.read.eng.snapshot())
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	defer src.Rollback()
	tx, err := dst.beginWrite(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	defer tx.Rollback()

	var held int64
	for _, t := range copyTables {
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+t.name).Scan(&n); err != nil {
			return nil, fmt.Errorf("store: copy: %w", err)
		}
		held += n
	}
	if held > 0 && !replace {
		return nil, fmt.Errorf("store: copy: %w (%d rows)", ErrNotEmpty, held)
	}
	for i := len(copyTables) - 1; i >= 0; i-- {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+copyTables[i].name); err != nil {
			return nil, fmt.Errorf("store: copy: clear %s: %w", copyTables[i].name, err)
		}
	}

	_, toPG := dst.write.eng.(pgEngine)
	ins := stmts{tx: tx, m: make(map[string]*sql.Stmt)}
	copied := make(map[string]int64)
	for _, t := range copyTables {
		n, err := copyTable(ctx, src, &ins, t.name, t.cols, t.bools, toPG)
		if err != nil {
			return nil, fmt.Errorf("store: copy %s: %w", t.name, err)
		}
		var got int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+t.name).Scan(&got); err != nil {
			return nil, fmt.Errorf("store: copy %s: %w", t.name, err)
		}
		if got != n {
			return nil, fmt.Errorf("store: copy %s: read %d rows, the target holds %d", t.name, n, got)
		}
		copied[t.name] = n
	}

	var srcGen, dstGen int64
	if err := src.QueryRowContext(ctx, `SELECT generation FROM directory_generation WHERE id = 1`).Scan(&srcGen); err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT generation FROM directory_generation WHERE id = 1`).Scan(&dstGen); err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE directory_generation SET generation = ? WHERE id = 1`, max(srcGen, dstGen)); err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	if err := bumpGeneration(ctx, tx); err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	// New ids go on after the copied ones; an app password's id may be
	// kept by a tombstone only, which the engine's counter does not see.
	nextIDs := []string{ // SQLite's AUTOINCREMENT counters
		`INSERT INTO sqlite_sequence (name, seq) SELECT 'app_passwords', 0
			WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'app_passwords')`,
		`UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(id), 0) FROM app_passwords),
			(SELECT coalesce(max(id), 0) FROM deleted_app_passwords)) WHERE name = 'app_passwords'`,
	}
	if toPG {
		nextIDs = []string{
			`SELECT setval(pg_get_serial_sequence('sync_runs', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM sync_runs), false)`,
			`SELECT setval(pg_get_serial_sequence('app_passwords', 'id'), greatest(
				(SELECT coalesce(max(id), 0) FROM app_passwords), (SELECT coalesce(max(id), 0) FROM deleted_app_passwords)) + 1, false)`,
		}
	}
	for _, q := range nextIDs {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("store: copy: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	return copied, nil
}

// copyTable copies the rows of one table and returns how many it read.
func copyTable(ctx context.Context, src *txn, ins *stmts, table, cols string, bools []int, toPG bool) (int64, error) {
	rows, err := src.QueryContext(ctx, `SELECT `+cols+` FROM `+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	ncol := len(strings.Split(cols, ","))
	insert := `INSERT INTO ` + table + ` (` + cols + `) VALUES (` + strings.TrimSuffix(strings.Repeat("?, ", ncol), ", ") + `)`
	vals := make([]any, ncol)
	ptrs := make([]any, ncol)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		for _, b := range bools {
			if v, ok := vals[b].(int64); ok && toPG {
				vals[b] = v != 0
			}
		}
		if _, err := ins.exec(ctx, insert, vals...); err != nil {
			return 0, err
		}
		n++
	}
	return n, rows.Err()
}
