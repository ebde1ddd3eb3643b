package google

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

// FuzzLoadKey feeds key files of any content to loadKey: it never panics,
// and a rejected file's error is a *KeyError that never echoes the file.
func FuzzLoadKey(f *testing.F) {
	sa := googletest.NewServiceAccount(f, "fuzz@p.iam.gserviceaccount.com")
	f.Add(sa.JSONKey(f, "https://oauth2.example/token"))
	f.Add(sa.P12(f, DefaultP12Password))
	f.Add([]byte(`{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}`))
	f.Add([]byte(`{"installed":{}}`))
	f.Add([]byte{0x30, 0x82, 0x01})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "key")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := loadKey(path, "sa@p.iam.gserviceaccount.com", "", []string{ScopeUsers}, "admin@example.com")
		if err == nil {
			if k.jwt == nil || k.email == "" {
				t.Fatalf("accepted a key without a JWT config or email: %+v", k)
			}
			return
		}
		var ke *KeyError
		if !errors.As(err, &ke) {
			t.Fatalf("error %T is not a *KeyError: %v", err, err)
		}
		if len(data) >= 12 && strings.Contains(err.Error(), string(data)) {
			t.Fatalf("the error echoes the file: %v", err)
		}
	})
}
