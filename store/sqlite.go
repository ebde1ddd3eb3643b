package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// readConns is the size of the read pool.
const readConns = 4

// DB is the SQLite store. It has one writer connection, whose transactions
// begin IMMEDIATE, and a separate pool of query-only connections, so that
// reads (in WAL mode) never wait for a long sync write.
type DB struct {
	// Now returns the current time. Every timestamp the store writes comes
	// from it, in UTC. Open sets it to time.Now; tests replace it.
	Now func() time.Time
	// KeepRuns bounds the sync history: only the newest KeepRuns runs are
	// kept, and only the newest KeepRunPlans of them keep their plans. A plan
	// can be large (a first sync of 100k users is ~100 MB), and a refused
	// plan is recorded again at every scheduled run. Open sets 10000 and 100.
	KeepRuns, KeepRunPlans int64
	// DeletedRetention is how long the tombstone of a deleted directory
	// user is kept (DeletedUser); 0 keeps none. Open sets
	// DefaultDeletedRetention.
	DeletedRetention time.Duration

	write pool
	read  pool
	full  fullState // diskfull.go
}

// Open opens the SQLite database at path, creating it and its parent
// directory if missing, and brings its schema up to date. It fails if the
// database was written by a newer ldapgate (a schema version this binary does
// not know) or if it cannot be put in WAL mode.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("store: open: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := newDB()
	write, err := sql.Open("sqlite", dsn(abs, "_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	db.write = pool{write, sqliteEngine{}}
	if err := db.init(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", dsn(abs, "_pragma=query_only(1)"))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	db.read = pool{read, sqliteEngine{}}
	return db, nil
}

// newDB returns a DB with the defaults of its settings.
func newDB() *DB {
	return &DB{Now: time.Now, KeepRuns: 10000, KeepRunPlans: 100, DeletedRetention: DefaultDeletedRetention}
}

// sqliteEngine is SQLite, in whose dialect the store's queries are written.
type sqliteEngine struct{}

func (sqliteEngine) rebind(query string) string { return query }

// lockWrites does nothing: the writer's transactions begin IMMEDIATE.
func (sqliteEngine) lockWrites(context.Context, *sql.Tx) error { return nil }

// snapshot: a SQLite read transaction in WAL mode sees one snapshot.
func (sqliteEngine) snapshot() *sql.TxOptions { return &sql.TxOptions{ReadOnly: true} }

// dataVersion: SQLite's data_version is per connection.
func (sqliteEngine) dataVersion() string { return "PRAGMA data_version" }

func (sqliteEngine) migrations() (fs.FS, error) { return fs.Sub(migrationFiles, "migrations") }

// announce: a SQLite store has no notifications; watchers poll
// data_version, which costs next to nothing.
func (sqliteEngine) announce() string { return "" }

func (sqliteEngine) notices() (<-chan struct{}, func()) { return nil, func() {} }

// dsn is the modernc data source name for the database file at abs, with
// the pragmas every connection gets and the extra query parameters.
func dsn(abs string, extra ...string) string {
	q := []string{
		"_pragma=busy_timeout(5000)",
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(NORMAL)",
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: strings.Join(append(q, extra...), "&")}
	return u.String()
}

// init switches the database to WAL mode, checks the writer's pragmas took,
// and runs the migrations.
func (db *DB) init(ctx context.Context) error {
	var mode string
	if err := db.write.QueryRowContext(ctx, "PRAGMA journal_mode = wal").Scan(&mode); err != nil {
		return fmt.Errorf("set journal mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, not wal", mode)
	}
	var fk, sync int
	if err := db.write.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("check foreign keys: %w", err)
	}
	if err := db.write.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("check synchronous: %w", err)
	}
	if fk != 1 || sync != 1 {
		return fmt.Errorf("pragmas did not take: foreign_keys=%d synchronous=%d", fk, sync)
	}
	return db.migrate(ctx)
}

// Close closes the database.
func (db *DB) Close() error {
	return errors.Join(db.read.Close(), db.write.Close())
}

// migration is one embedded schema migration, migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the engine's embedded migrations by version.
func migrations(eng engine) ([]migration, error) {
	fsys, err := eng.migrations()
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		prefix, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name does not start with a version", e.Name())
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies the migrations the database lacks, each in its own
// transaction, and records them in schema_migrations.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations(db.write.eng)
	if err != nil {
		return err
	}
	// Under the write lock: several ldapgates may start at once on one
	// PostgreSQL database.
	if err := db.writeTx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx,
			`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`)
		return err
	}); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := db.write.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if known := ms[len(ms)-1].version; current > known {
		return fmt.Errorf("database schema version %d is newer than this ldapgate knows (%d): upgrade ldapgate", current, known)
	}
	for _, m := range ms {
		if m.version > current {
			if err := db.migrateOne(ctx, m); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
	}
	return nil
}

func (db *DB) migrateOne(ctx context.Context, m migration) error {
	return db.writeTx(ctx, func(tx *txn) error {
		// Another process may have applied it since we looked.
		var done bool
		if err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM schema_migrations WHERE version = ?`, m.version).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		// The migration's text is the engine's own: not rebound.
		if _, err := tx.Tx.ExecContext(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.version, db.now())
		return err
	})
}

// writeTx runs write in a write transaction and commits it.
func (db *DB) writeTx(ctx context.Context, write func(*txn) error) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := write(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// now is the current time as stored.
func (db *DB) now() string { return formatTime(db.Now()) }

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// nullTime stores the zero time (unknown) as NULL.
func nullTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: formatTime(t), Valid: true}
}

func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q: %w", s.String, err)
	}
	return t, nil
}

// timeField is a stored timestamp and where to parse it to.
type timeField struct {
	dst *time.Time
	src sql.NullString
}

// parseTimes parses each stored timestamp into its destination.
func parseTimes(fields ...timeField) error {
	for _, f := range fields {
		t, err := parseTime(f.src)
		if err != nil {
			return err
		}
		*f.dst = t
	}
	return nil
}

// addrsJSON is the stored form of an address list.
func addrsJSON(addrs []string) string {
	if len(addrs) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(addrs) // cannot fail for a []string
	return string(b)
}

// parseAddrs reads a stored address list; empty lists load as nil.
func parseAddrs(s string) ([]string, error) {
	if s == "[]" {
		return nil, nil
	}
	var addrs []string
	if err := json.Unmarshal([]byte(s), &addrs); err != nil {
		return nil, fmt.Errorf("bad address list %q: %w", s, err)
	}
	if len(addrs) == 0 {
		return nil, nil
	}
	return addrs, nil
}

// attrsJSON is the stored form of a user's extra attributes.
func attrsJSON(attrs map[string][]string) string {
	if len(attrs) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(attrs) // cannot fail for a map of string slices
	return string(b)
}

// parseAttrs reads stored extra attributes; none load as nil.
func parseAttrs(s string) (map[string][]string, error) {
	if s == "{}" || s == "" {
		return nil, nil
	}
	var attrs map[string][]string
	if err := json.Unmarshal([]byte(s), &attrs); err != nil {
		return nil, fmt.Errorf("bad attributes %q: %w", s, err)
	}
	if len(attrs) == 0 {
		return nil, nil
	}
	return attrs, nil
}

// dbError marks uniqueness violations with ErrConflict and foreign key
// violations (a reference to a missing row) with ErrNotFound.
func dbError(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
	}
	switch pgCode(err) {
	case pgUniqueViolation:
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case pgForeignKeyViolation:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

const userColumns = `id, uid, primary_email, origin, given_name, family_name, display_name, org_unit_path,
	suspended, archived, is_admin, aliases, source_created, last_login, created_at, updated_at, attributes,
	posix_uid, posix_gid, posix_home_directory, posix_shell, posix_gecos`

// userValues are the placeholders of userColumns.
const userValues = `?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`

// nullUint32 stores 0 (not set) as NULL.
func nullUint32(n uint32) sql.NullInt64 { return sql.NullInt64{Int64: int64(n), Valid: n != 0} }

// nullString stores "" (not set) as NULL.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func scanUser(rows *sql.Rows) (User, error) {
	var (
		u                                          User
		aliases, attrs                             string
		sourceCreated, lastLogin, created, updated sql.NullString
		posixUID, posixGID                         sql.NullInt64
		posixHome, posixShell, posixGecos          sql.NullString
	)
	err := rows.Scan(&u.ID, &u.UID, &u.PrimaryEmail, &u.Origin, &u.GivenName, &u.FamilyName, &u.DisplayName, &u.OrgUnitPath,
		&u.Suspended, &u.Archived, &u.IsAdmin, &aliases, &sourceCreated, &lastLogin, &created, &updated, &attrs,
		&posixUID, &posixGID, &posixHome, &posixShell, &posixGecos)
	if err != nil {
		return User{}, err
	}
	switch u.Origin { // the constants, not a string per row
	case OriginDirectory:
		u.Origin = OriginDirectory
	case OriginLocal:
		u.Origin = OriginLocal
	}
	u.POSIX = POSIXAccount{UID: uint32(posixUID.Int64), GID: uint32(posixGID.Int64),
		HomeDirectory: posixHome.String, Shell: posixShell.String, Gecos: posixGecos.String}
	if u.Aliases, err = parseAddrs(aliases); err != nil {
		return User{}, fmt.Errorf("user %s: %w", u.PrimaryEmail, err)
	}
	if u.Attributes, err = parseAttrs(attrs); err != nil {
		return User{}, fmt.Errorf("user %s: %w", u.PrimaryEmail, err)
	}
	err = parseTimes(timeField{&u.SourceCreated, sourceCreated}, timeField{&u.LastLogin, lastLogin},
		timeField{&u.CreatedAt, created}, timeField{&u.UpdatedAt, updated})
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", u.PrimaryEmail, err)
	}
	return u, nil
}

func scanGroup(rows *sql.Rows) (Group, error) {
	var (
		g                Group
		aliases          string
		created, updated sql.NullString
	)
	if err := rows.Scan(&g.ID, &g.CN, &g.Email, &g.Name, &g.Description, &aliases, &created, &updated); err != nil {
		return Group{}, err
	}
	var err error
	if g.Aliases, err = parseAddrs(aliases); err != nil {
		return Group{}, fmt.Errorf("group %s: %w", g.Email, err)
	}
	if err := parseTimes(timeField{&g.CreatedAt, created}, timeField{&g.UpdatedAt, updated}); err != nil {
		return Group{}, fmt.Errorf("group %s: %w", g.Email, err)
	}
	return g, nil
}

func scanGrant(rows *sql.Rows) (Grant, error) {
	var (
		g       Grant
		created sql.NullString
	)
	if err := rows.Scan(&g.UserID, &g.Privilege, &g.Origin, &g.Rule, &created); err != nil {
		return Grant{}, err
	}
	if err := parseTimes(timeField{&g.CreatedAt, created}); err != nil {
		return Grant{}, fmt.Errorf("grant %s of user %s: %w", g.Privilege, g.UserID, err)
	}
	return g, nil
}

// queryAll runs query and scans each row with scan.
func queryAll[T any](ctx context.Context, tx *txn, scan func(*sql.Rows) (T, error), query string) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// LoadState returns all the directory data, read in one transaction. Users
// are sorted by UID, groups by CN, each group's members by type then ID, and
// grants by user ID, privilege, origin and rule (all byte-wise). Empty
// slices are nil; Members is never nil.
func (db *DB) LoadState(ctx context.Context) (*State, error) {
	tx, err := db.read.BeginTx(ctx, db.read.eng.snapshot())
	if err != nil {
		return nil, fmt.Errorf("store: load state: %w", err)
	}
	defer tx.Rollback()
	st := &State{Members: make(map[string][]Member)}
	if st.Users, err = queryAll(ctx, tx, scanUser,
		`SELECT `+userColumns+` FROM users ORDER BY uid COLLATE BINARY`); err != nil {
		return nil, fmt.Errorf("store: load users: %w", err)
	}
	if st.Groups, err = queryAll(ctx, tx, scanGroup,
		`SELECT id, cn, email, name, description, aliases, created_at, updated_at FROM groups ORDER BY cn COLLATE BINARY`); err != nil {
		return nil, fmt.Errorf("store: load groups: %w", err)
	}
	// Group members first, then user members ("group" < "user"), each in
	// primary key order.
	type groupMember struct {
		groupID string
		m       Member
	}
	scanMember := func(t MemberType) func(*sql.Rows) (groupMember, error) {
		return func(rows *sql.Rows) (groupMember, error) {
			gm := groupMember{m: Member{Type: t}}
			err := rows.Scan(&gm.groupID, &gm.m.ID, &gm.m.Email)
			return gm, err
		}
	}
	for _, q := range []struct {
		t     MemberType
		query string
	}{
		{MemberGroup, `SELECT m.group_id, m.member_group_id, g.email FROM group_group_members m
			JOIN groups g ON g.id = m.member_group_id ORDER BY m.group_id, m.member_group_id`},
		{MemberUser, `SELECT m.group_id, m.user_id, u.primary_email FROM group_user_members m
			JOIN users u ON u.id = m.user_id ORDER BY m.group_id, m.user_id`},
	} {
		gms, err := queryAll(ctx, tx, scanMember(q.t), q.query)
		if err != nil {
			return nil, fmt.Errorf("store: load %s members: %w", q.t, err)
		}
		for _, gm := range gms {
			st.Members[gm.groupID] = append(st.Members[gm.groupID], gm.m)
		}
	}
	if st.Grants, err = queryAll(ctx, tx, scanGrant,
		`SELECT user_id, privilege, origin, rule, created_at FROM grants ORDER BY user_id, privilege, origin, rule`); err != nil {
		return nil, fmt.Errorf("store: load grants: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT generation FROM directory_generation WHERE id = 1`).Scan(&st.Generation); err != nil {
		return nil, fmt.Errorf("store: load generation: %w", err)
	}
	if st.Deleted, err = db.loadDeleted(ctx, tx); err != nil {
		return nil, fmt.Errorf("store: load deleted users: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT NOT EXISTS (SELECT 1 FROM sync_runs WHERE error = '')`).Scan(&st.NeverSynced); err != nil {
		return nil, fmt.Errorf("store: load sync runs: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: load state: %w", err)
	}
	return st, nil
}

// Apply applies plan in one transaction and records run with it, with the
// plan and its counts; it returns the run's id. The changes are applied in
// this order: group adds and updates, user adds and updates, member adds,
// grant adds, member deletes, grant deletes, user deletes, group deletes.
//
// Adds set CreatedAt and UpdatedAt to Now; updates write every field of the
// change's User or Group, keep CreatedAt and set UpdatedAt. Updates and
// deletes only touch users of origin directory. On any error nothing is
// applied and no run is recorded. Errors wrap ErrConflict when a change
// would take a UID, CN or address already taken (or add what exists), and
// ErrNotFound when a change refers to a missing object (the plan is stale).
// With plan.Generation set, a directory written since (by another sync)
// fails the apply with ErrStale before anything is changed. A disk too
// full for the transaction fails it with ErrDiskFull (see DiskFull), and
// another writer holding the store past the busy timeout with ErrBusy.
func (db *DB) Apply(ctx context.Context, plan *Plan, run SyncRun) (int64, error) {
	id, err := db.apply(ctx, plan, run)
	return id, db.wrote(ctx, err, true)
}

func (db *DB) apply(ctx context.Context, plan *Plan, run SyncRun) (int64, error) {
	if plan == nil {
		plan = &Plan{}
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: apply: %w", err)
	}
	defer tx.Rollback()
	if plan.Generation != nil {
		// The transaction holds the write lock: no other writer can move the
		// generation between this check and the commit.
		var gen int64
		if err := tx.QueryRowContext(ctx, `SELECT generation FROM directory_generation WHERE id = 1`).Scan(&gen); err != nil {
			return 0, fmt.Errorf("store: apply: %w", err)
		}
		if gen != *plan.Generation {
			return 0, fmt.Errorf("store: apply: %w (generation %d, plan made at %d)", ErrStale, gen, *plan.Generation)
		}
	}
	if err := db.purgeExpired(ctx, tx); err != nil {
		return 0, fmt.Errorf("store: apply: %w", err)
	}
	a := &applier{stmts: stmts{tx: tx, m: make(map[string]*sql.Stmt)}, now: db.now(), tombstones: db.DeletedRetention > 0}
	// Without tombstones (a first sync, say) no add looks one up.
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM deleted_users)`).Scan(&a.returns); err != nil {
		return 0, fmt.Errorf("store: apply: %w", err)
	}
	// Deletes go first, so that an address or UID freed by a deleted user or
	// group can be taken by an add or a rename in the same plan (Google lets
	// an admin delete a user and recreate the address under a new id).
	del := func(c Action) bool { return c == ActionDelete }
	keep := func(c Action) bool { return c != ActionDelete }
	for _, step := range []func() error{
		func() error { return bulk(ctx, a, plan.Members, del, memberStmt, a.member) },
		func() error { return bulk(ctx, a, plan.Grants, del, a.grantStmt, a.grant) },
		func() error { return bulk(ctx, a, plan.Users, del, a.userStmt, a.user) },
		func() error { return bulk(ctx, a, plan.Groups, del, a.groupStmt, a.group) },
		func() error { return bulk(ctx, a, plan.Groups, keep, a.groupStmt, a.group) },
		func() error { return bulk(ctx, a, plan.Users, keep, a.userStmt, a.user) },
		func() error { return bulk(ctx, a, plan.Members, keep, memberStmt, a.member) },
		func() error { return bulk(ctx, a, plan.Grants, keep, a.grantStmt, a.grant) },
	} {
		if err := step(); err != nil {
			return 0, err
		}
	}
	if !plan.Empty() {
		if err := bumpGeneration(ctx, tx); err != nil {
			return 0, fmt.Errorf("store: apply: %w", err)
		}
	}
	run.Counts = plan.Counts()
	run.Plan = plan
	id, err := db.insertRun(ctx, tx, run)
	if err != nil {
		return 0, fmt.Errorf("store: apply: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: apply: %w", err)
	}
	return id, nil
}

// each applies the changes whose action passes want.
func each[C interface{ action() Action }](changes []C, want func(Action) bool, apply func(C) error) error {
	for _, c := range changes {
		if want(c.action()) {
			if err := apply(c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c UserChange) action() Action   { return c.Action }
func (c GroupChange) action() Action  { return c.Action }
func (c MemberChange) action() Action { return c.Action }
func (c GrantChange) action() Action  { return c.Action }

// stmts prepares each statement once per transaction; the statements close
// with the transaction.
type stmts struct {
	tx *txn
	m  map[string]*sql.Stmt
}

// exec runs query and returns the number of rows it changed.
func (s *stmts) exec(ctx context.Context, query string, args ...any) (int64, error) {
	st, ok := s.m[query]
	if !ok {
		var err error
		if st, err = s.tx.PrepareContext(ctx, query); err != nil {
			return 0, err
		}
		s.m[query] = st
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, dbError(err)
	}
	return res.RowsAffected()
}

// applier applies the changes of one plan.
type applier struct {
	stmts
	now string
	// tombstones keeps a tombstone of each deleted directory user.
	tombstones bool
	// returns reports whether the store held tombstones when the apply
	// began: only then may an add be a return.
	returns bool
}

// groupStmt is the statement of a group change; false for an unknown
// action.
func (a *applier) groupStmt(c GroupChange) (string, []any, bool) {
	g := c.Group
	switch c.Action {
	case ActionAdd:
		return `INSERT INTO groups (id, cn, email, name, description, aliases, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			[]any{g.ID, g.CN, g.Email, g.Name, g.Description, addrsJSON(g.Aliases), a.now, a.now}, true
	case ActionUpdate:
		return `UPDATE groups SET cn = ?, email = ?, name = ?, description = ?, aliases = ?, updated_at = ?
			WHERE id = ?`,
			[]any{g.CN, g.Email, g.Name, g.Description, addrsJSON(g.Aliases), a.now, g.ID}, true
	case ActionDelete:
		return `DELETE FROM groups WHERE id = ?`, []any{g.ID}, true
	}
	return "", nil, false
}

func (a *applier) group(ctx context.Context, c GroupChange) error {
	g := c.Group
	var (
		n   int64
		err error
	)
	if query, args, ok := a.groupStmt(c); ok {
		n, err = a.exec(ctx, query, args...)
	} else {
		err = errors.New("unknown action")
	}
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: apply: %s group %s (id %s): %w", c.Action, g.Email, g.ID, err)
	}
	return nil
}

const userInsert = `INSERT INTO users (` + userColumns + `) VALUES (` + userValues + `)`

func (a *applier) userInsertArgs(u User, created string) []any {
	return []any{u.ID, u.UID, u.PrimaryEmail, u.Origin, u.GivenName, u.FamilyName, u.DisplayName, u.OrgUnitPath,
		u.Suspended, u.Archived, u.IsAdmin, addrsJSON(u.Aliases), nullTime(u.SourceCreated), nullTime(u.LastLogin),
		created, a.now, attrsJSON(u.Attributes),
		nullUint32(u.POSIX.UID), nullUint32(u.POSIX.GID), nullString(u.POSIX.HomeDirectory), nullString(u.POSIX.Shell), nullString(u.POSIX.Gecos)}
}

const userUpdate = `UPDATE users SET uid = ?, primary_email = ?, origin = ?, given_name = ?, family_name = ?,
	display_name = ?, org_unit_path = ?, suspended = ?, archived = ?, is_admin = ?, aliases = ?,
	source_created = ?, last_login = ?, updated_at = ?, attributes = ?,
	posix_uid = ?, posix_gid = ?, posix_home_directory = ?, posix_shell = ?, posix_gecos = ?
	WHERE id = ? AND origin = 'directory'`

func (a *applier) userUpdateArgs(u User) []any {
	return []any{u.UID, u.PrimaryEmail, u.Origin, u.GivenName, u.FamilyName, u.DisplayName, u.OrgUnitPath,
		u.Suspended, u.Archived, u.IsAdmin, addrsJSON(u.Aliases), nullTime(u.SourceCreated), nullTime(u.LastLogin),
		a.now, attrsJSON(u.Attributes),
		nullUint32(u.POSIX.UID), nullUint32(u.POSIX.GID), nullString(u.POSIX.HomeDirectory), nullString(u.POSIX.Shell), nullString(u.POSIX.Gecos),
		u.ID}
}

// userStmt is the statement of a user change that is one statement: an
// add that cannot be a return, an update; false for the others.
func (a *applier) userStmt(c UserChange) (string, []any, bool) {
	switch {
	case c.RevokeAppPasswords:
		return "", nil, false
	case c.Action == ActionAdd && !c.Restore && !a.returns:
		return userInsert, a.userInsertArgs(c.User, a.now), true
	case c.Action == ActionUpdate:
		return userUpdate, a.userUpdateArgs(c.User), true
	}
	return "", nil, false
}

func (a *applier) user(ctx context.Context, c UserChange) error {
	u := c.User
	var (
		n   int64
		err error
	)
	switch c.Action {
	case ActionAdd:
		created := a.now
		if c.Restore || a.returns {
			var kept string
			var found bool
			if kept, found, err = a.tombstoneCreated(ctx, u.ID); err != nil {
				break
			}
			switch {
			case c.Restore && !found:
				// Purged (expired, or by hand) since the plan was made.
				err = fmt.Errorf("%w: its tombstone is gone", ErrStale)
			case c.Restore:
				created = kept // the user's place in the POSIX numbering order
			case found: // a new user to the plan: the tombstone is stale
				_, err = a.exec(ctx, `DELETE FROM deleted_users WHERE id = ?`, u.ID)
			}
			if err != nil {
				break
			}
		}
		n, err = a.exec(ctx, userInsert, a.userInsertArgs(u, created)...)
	case ActionUpdate:
		n, err = a.exec(ctx, userUpdate, a.userUpdateArgs(u)...)
	case ActionDelete:
		if c.RevokeAppPasswords {
			_, err = a.exec(ctx, appPasswordsRevoke, a.now, u.ID)
		}
		if err == nil && a.tombstones {
			err = a.tombstone(ctx, u.ID, c.Reason)
		}
		if err == nil {
			n, err = a.exec(ctx, `DELETE FROM users WHERE id = ? AND origin = 'directory'`, u.ID)
		}
	default:
		err = errors.New("unknown action")
	}
	if err == nil && n == 0 {
		err = a.untouchable(ctx, u.ID)
	}
	if err == nil && c.Action == ActionAdd && c.Restore {
		err = a.restore(ctx, u.ID)
	}
	if err == nil && c.RevokeAppPasswords && c.Action != ActionDelete {
		_, err = a.exec(ctx, appPasswordsRevoke, a.now, u.ID)
	}
	if err != nil {
		return fmt.Errorf("store: apply: %s user %s (id %s): %w", c.Action, u.PrimaryEmail, u.ID, err)
	}
	return nil
}

// untouchable explains why an update or delete of the user with the given
// id changed nothing: it is missing, or it is not a directory user.
func (a *applier) untouchable(ctx context.Context, id string) error {
	var origin Origin
	err := a.tx.QueryRowContext(ctx, `SELECT origin FROM users WHERE id = ?`, id).Scan(&origin)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	}
	return fmt.Errorf("refused: the stored user has origin %s, and syncs change only %s users", origin, OriginDirectory)
}

// memberStmt is the statement of a member change; false for an unknown
// action or member type.
func memberStmt(c MemberChange) (string, []any, bool) {
	var query string
	switch {
	case c.Action == ActionAdd && c.Member.Type == MemberUser:
		query = `INSERT INTO group_user_members (group_id, user_id) VALUES (?, ?)`
	case c.Action == ActionAdd && c.Member.Type == MemberGroup:
		query = `INSERT INTO group_group_members (group_id, member_group_id) VALUES (?, ?)`
	case c.Action == ActionDelete && c.Member.Type == MemberUser:
		query = `DELETE FROM group_user_members WHERE group_id = ? AND user_id = ?`
	case c.Action == ActionDelete && c.Member.Type == MemberGroup:
		query = `DELETE FROM group_group_members WHERE group_id = ? AND member_group_id = ?`
	default:
		return "", nil, false
	}
	return query, []any{c.GroupID, c.Member.ID}, true
}

func (a *applier) member(ctx context.Context, c MemberChange) error {
	var (
		n   int64
		err error
	)
	if query, args, ok := memberStmt(c); ok {
		n, err = a.exec(ctx, query, args...)
	} else {
		err = errors.New("unknown action or member type")
	}
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: apply: %s member %s %s (id %s) of group %s (id %s): %w",
			c.Action, c.Member.Type, c.Member.Email, c.Member.ID, c.GroupEmail, c.GroupID, err)
	}
	return nil
}

// grantStmt is the statement of a grant change; false for an unknown
// action.
func (a *applier) grantStmt(c GrantChange) (string, []any, bool) {
	g := c.Grant
	switch c.Action {
	case ActionAdd:
		return `INSERT INTO grants (user_id, privilege, origin, rule, created_at) VALUES (?, ?, ?, ?, ?)`,
			[]any{g.UserID, g.Privilege, g.Origin, g.Rule, a.now}, true
	case ActionDelete:
		return `DELETE FROM grants WHERE user_id = ? AND privilege = ? AND origin = ? AND rule = ?`,
			[]any{g.UserID, g.Privilege, g.Origin, g.Rule}, true
	}
	return "", nil, false
}

func (a *applier) grant(ctx context.Context, c GrantChange) error {
	g := c.Grant
	var (
		n   int64
		err error
	)
	if query, args, ok := a.grantStmt(c); ok {
		n, err = a.exec(ctx, query, args...)
	} else {
		err = errors.New("unknown action")
	}
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: apply: %s %s grant %s of %s (id %s): %w", c.Action, g.Origin, g.Privilege, c.UserEmail, g.UserID, err)
	}
	return nil
}

// RecordRun records a run that applied nothing, such as a failed sync, and
// returns its id. It changes nothing else.
func (db *DB) RecordRun(ctx context.Context, run SyncRun) (int64, error) {
	id, err := db.recordRun(ctx, run)
	return id, db.wrote(ctx, err, false)
}

func (db *DB) recordRun(ctx context.Context, run SyncRun) (int64, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: record run: %w", err)
	}
	defer tx.Rollback()
	id, err := db.insertRun(ctx, tx, run)
	if err != nil {
		return 0, fmt.Errorf("store: record run: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: record run: %w", err)
	}
	return id, nil
}

func (db *DB) insertRun(ctx context.Context, tx *txn, run SyncRun) (int64, error) {
	counts, err := json.Marshal(run.Counts)
	if err != nil {
		return 0, err
	}
	phases, err := json.Marshal(run.Phases)
	if err != nil {
		return 0, err
	}
	var plan sql.NullString
	if run.Plan != nil {
		rec, err := encodePlanRecord(run.Plan)
		if err != nil {
			return 0, fmt.Errorf("encode plan: %w", err)
		}
		plan = sql.NullString{String: rec, Valid: true}
	}
	kind := run.Kind
	if kind == "" {
		kind = RunFull
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO sync_runs (started_at, finished_at, source, kind, forced, counts, phases, plan, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		nullTime(run.StartedAt), nullTime(run.FinishedAt), run.Source, kind, run.Forced, string(counts), string(phases), plan, run.Error).Scan(&id)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sync_runs SET plan = NULL WHERE id <= ? AND plan IS NOT NULL`, id-db.KeepRunPlans); err != nil {
		return 0, fmt.Errorf("prune plans: %w", err)
	}
	// The last successful run stays, however many failed since: it is
	// what tells a restarted ldapgate that its data came from a sync.
	if _, err := tx.ExecContext(ctx, `DELETE FROM sync_runs WHERE id <= ?
		AND id <> coalesce((SELECT max(id) FROM sync_runs WHERE error = ''), 0)`, id-db.KeepRuns); err != nil {
		return 0, fmt.Errorf("prune runs: %w", err)
	}
	return id, nil
}

// scanRun scans a sync_runs row; plan is nil when the query leaves it out.
func scanRun(row interface{ Scan(...any) error }, withPlan bool) (SyncRun, error) {
	var (
		r                 SyncRun
		started, finished sql.NullString
		counts, phases    string
		plan              sql.NullString
	)
	dest := []any{&r.ID, &started, &finished, &r.Source, &r.Kind, &r.Forced, &counts, &phases, &r.Error}
	if withPlan {
		dest = append(dest, &plan)
	}
	if err := row.Scan(dest...); err != nil {
		return SyncRun{}, err
	}
	if err := parseTimes(timeField{&r.StartedAt, started}, timeField{&r.FinishedAt, finished}); err != nil {
		return SyncRun{}, fmt.Errorf("run %d: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(counts), &r.Counts); err != nil {
		return SyncRun{}, fmt.Errorf("run %d: counts: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(phases), &r.Phases); err != nil {
		return SyncRun{}, fmt.Errorf("run %d: phases: %w", r.ID, err)
	}
	if plan.Valid {
		var err error
		if r.Plan, err = decodePlanRecord(plan.String); err != nil {
			return SyncRun{}, fmt.Errorf("run %d: plan: %w", r.ID, err)
		}
	}
	return r, nil
}

const runColumns = `id, started_at, finished_at, source, kind, forced, counts, phases, error`

// SetRunPhases replaces the phases of the run with this id (see Phases:
// the apply and the finish end after the run is recorded). The error wraps
// ErrNotFound if there is no such run.
func (db *DB) SetRunPhases(ctx context.Context, id int64, p Phases) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("store: run %d phases: %w", id, err)
	}
	res, err := db.write.ExecContext(ctx, `UPDATE sync_runs SET phases = ? WHERE id = ?`, string(data), id)
	if err != nil {
		return fmt.Errorf("store: run %d phases: %w", id, db.wrote(ctx, err, false))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("store: run %d phases: %w", id, ErrNotFound)
	}
	return nil
}

// SyncRuns returns the last limit sync runs (all if limit <= 0), newest
// first, without their plans.
func (db *DB) SyncRuns(ctx context.Context, limit int) ([]SyncRun, error) {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+runColumns+` FROM sync_runs ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: sync runs: %w", err)
	}
	defer rows.Close()
	var runs []SyncRun
	for rows.Next() {
		r, err := scanRun(rows, false)
		if err != nil {
			return nil, fmt.Errorf("store: sync runs: %w", err)
		}
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: sync runs: %w", err)
	}
	return runs, nil
}

// SyncRun returns the sync run with the given id, with its plan as the
// history keeps it (see RecordedPlan), or an error wrapping ErrNotFound.
func (db *DB) SyncRun(ctx context.Context, id int64) (SyncRun, error) {
	row := db.read.QueryRowContext(ctx, `SELECT `+runColumns+`, plan FROM sync_runs WHERE id = ?`, id)
	r, err := scanRun(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return SyncRun{}, fmt.Errorf("store: sync run %d: %w", id, err)
	}
	return r, nil
}

// PutLocalUser inserts u, or updates the user with u's ID, as a user of
// origin local, which syncs never change or delete. An update keeps
// CreatedAt. The error wraps ErrConflict if u's UID or primary email belongs
// to another user.
func (db *DB) PutLocalUser(ctx context.Context, u User) error {
	if u.ID == "" || u.UID == "" || u.PrimaryEmail == "" {
		return errors.New("store: put local user: id, uid and primary email are required")
	}
	now := db.now()
	err := db.writeDirectory(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES (`+userValues+`)
		ON CONFLICT (id) DO UPDATE SET uid = excluded.uid, primary_email = excluded.primary_email,
			origin = excluded.origin, given_name = excluded.given_name, family_name = excluded.family_name,
			display_name = excluded.display_name, org_unit_path = excluded.org_unit_path,
			suspended = excluded.suspended, archived = excluded.archived, is_admin = excluded.is_admin,
			aliases = excluded.aliases, source_created = excluded.source_created,
			last_login = excluded.last_login, updated_at = excluded.updated_at, attributes = excluded.attributes,
			posix_uid = excluded.posix_uid, posix_gid = excluded.posix_gid,
			posix_home_directory = excluded.posix_home_directory, posix_shell = excluded.posix_shell,
			posix_gecos = excluded.posix_gecos`,
			u.ID, u.UID, u.PrimaryEmail, OriginLocal, u.GivenName, u.FamilyName, u.DisplayName, u.OrgUnitPath,
			u.Suspended, u.Archived, u.IsAdmin, addrsJSON(u.Aliases), nullTime(u.SourceCreated), nullTime(u.LastLogin),
			now, now, attrsJSON(u.Attributes),
			nullUint32(u.POSIX.UID), nullUint32(u.POSIX.GID), nullString(u.POSIX.HomeDirectory), nullString(u.POSIX.Shell), nullString(u.POSIX.Gecos))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put local user %s: %w", u.PrimaryEmail, err)
	}
	return nil
}

// GrantAdmin grants privilege to the user with the given id as an
// administrator's grant, which syncs keep. Granting it again changes nothing.
// The error wraps ErrNotFound if there is no such user.
func (db *DB) GrantAdmin(ctx context.Context, userID, privilege string) error {
	if privilege == "" {
		return errors.New("store: grant admin: empty privilege")
	}
	err := db.writeUser(ctx, userID, `INSERT INTO grants (user_id, privilege, origin, rule, created_at)
		VALUES (?, ?, 'admin', '', ?) ON CONFLICT DO NOTHING`, userID, privilege, db.now())
	if err != nil {
		return fmt.Errorf("store: grant %s to user %s: %w", privilege, userID, err)
	}
	return nil
}

// RevokeAdmin takes privilege from the user with the given id: every grant of
// it, whatever its origin, since an administrator's decision wins over
// defaults and rules. The error wraps ErrNotFound if there is no such user.
//
// A later sync may grant a mapped privilege again while its rule holds.
func (db *DB) RevokeAdmin(ctx context.Context, userID, privilege string) error {
	err := db.writeUser(ctx, userID, `DELETE FROM grants WHERE user_id = ? AND privilege = ?`, userID, privilege)
	if err != nil {
		return fmt.Errorf("store: revoke %s from user %s: %w", privilege, userID, err)
	}
	return nil
}

// writeUser runs query in a directory write if the user with the given id
// exists, and fails with ErrNotFound otherwise.
func (db *DB) writeUser(ctx context.Context, userID, query string, args ...any) error {
	return db.writeDirectory(ctx, func(tx *txn) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM users WHERE id = ?`, userID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return ErrNotFound
		}
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	})
}

// writeDirectory runs write in a transaction that raises the directory
// generation, so running ldapgates serve the change (Changes).
func (db *DB) writeDirectory(ctx context.Context, write func(*txn) error) error {
	return db.writeTx(ctx, func(tx *txn) error {
		if err := write(tx); err != nil {
			return dbError(err)
		}
		return bumpGeneration(ctx, tx)
	})
}

func bumpGeneration(ctx context.Context, tx *txn) error {
	if _, err := tx.ExecContext(ctx, `UPDATE directory_generation SET generation = generation + 1 WHERE id = 1`); err != nil {
		return err
	}
	if q := tx.eng.announce(); q != "" {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("announce the change: %w", err)
		}
	}
	return nil
}

// Stats returns the number of users and groups in the store.
func (db *DB) Stats(ctx context.Context) (users, groups int, err error) {
	err = db.read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM groups)`).Scan(&users, &groups)
	if err != nil {
		return 0, 0, fmt.Errorf("store: stats: %w", err)
	}
	return users, groups, nil
}
