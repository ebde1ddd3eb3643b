package store

import (
	"strings"
	"testing"
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
