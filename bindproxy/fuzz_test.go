package bindproxy

import (
	"strings"
	"testing"
)

// FuzzNormalizeAppPassword: whatever is typed, a normalised app password
// is 16 lowercase letters, and normalising is idempotent.
func FuzzNormalizeAppPassword(f *testing.F) {
	for _, s := range []string{"abcd-efgh-ijkl-mnop", "ABCD EFGH IJKL MNOP", "", "a.b.c", "äbcd-efgh-ijkl-mnop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		norm, ok := NormalizeAppPassword(s)
		if !ok {
			return
		}
		if len(norm) != 16 || strings.Trim(norm, "abcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("NormalizeAppPassword(%q) = %q", s, norm)
		}
		if again, ok := NormalizeAppPassword(norm); !ok || again != norm {
			t.Fatalf("not idempotent: %q -> %q", norm, again)
		}
	})
}
