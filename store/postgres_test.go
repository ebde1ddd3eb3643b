package store

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The password of a DSN that cannot be parsed, or whose server cannot be
// reached, is not in the error.
func TestOpenPostgresKeepsThePasswordOut(t *testing.T) {
	const secret = "s3cret-pw"
	for _, dsn := range []string{
		"postgres://ldapgate:" + secret + "@127.0.0.1:notaport/ldapgate",
		"postgres://ldapgate:" + secret + "@127.0.0.1:1/ldapgate?connect_timeout=5", // nothing listens on port 1
		"host=127.0.0.1 port=1 user=ldapgate password=" + secret + " connect_timeout=5",
		"host=127.0.0.1 port=1 user=ldapgate password=" + secret + " sslmode=bogus",
	} {
		db, err := OpenPostgres(t.Context(), dsn)
		if err == nil {
			db.Close()
			t.Errorf("OpenPostgres(%q) succeeded", strings.ReplaceAll(dsn, secret, "…"))
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals the password: %v", err)
		}
	}
}

// The inserts the apply sends as COPY on PostgreSQL are one row of
// placeholders; anything else goes as itself.
func TestInsertOf(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  *copyInsert
	}{
		{`INSERT INTO grants (user_id, privilege, origin, rule, created_at) VALUES (?, ?, ?, ?, ?)`,
			&copyInsert{"grants", []string{"user_id", "privilege", "origin", "rule", "created_at"}}},
		{userInsert, &copyInsert{"users", strings.Split(strings.Join(strings.Fields(userColumns), " "), ", ")}},
		{`INSERT INTO sync_runs (started_at, error) VALUES (?, ?) RETURNING id`, nil},
		{`INSERT INTO grants (user_id, created_at) VALUES (?, now())`, nil},
		{`INSERT INTO grants (user_id, created_at) VALUES (?)`, nil},
		{`DELETE FROM groups WHERE id = ?`, nil},
	} {
		if diff := cmp.Diff(insertOf(tc.query), tc.want, cmp.AllowUnexported(copyInsert{})); diff != "" {
			t.Errorf("insertOf(%q) (-got +want):\n%s", tc.query, diff)
		}
	}
}
