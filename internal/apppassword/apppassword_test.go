package apppassword

import (
	"strings"
	"testing"

	"github.com/ldapgate/ldapgate/internal/passhash"
)

func TestGenerate(t *testing.T) {
	seen := make(map[string]bool)
	for range 200 {
		pw, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) != 19 || strings.Count(pw, "-") != 3 || pw[4] != '-' || pw[9] != '-' || pw[14] != '-' {
			t.Fatalf("Generate = %q, want abcd-efgh-ijkl-mnop", pw)
		}
		norm, ok := Normalize(pw)
		if !ok || len(norm) != 16 || strings.Trim(norm, "abcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("Normalize(%q) = %q, %v", pw, norm, ok)
		}
		if seen[pw] {
			t.Fatalf("Generate repeated %q", pw)
		}
		seen[pw] = true
	}
	for in, want := range map[string]string{
		"ABCD EFGH IJKL MNOP":  "abcdefghijklmnop",
		"abcdefghijklmnop":     "abcdefghijklmnop",
		"abcd-efgh-ijkl-mnop":  "abcdefghijklmnop",
		"abcd-efgh-ijkl-mno":   "",
		"abcd-efgh-ijkl-mnop1": "",
		"äbcd-efgh-ijkl-mnop":  "",
	} {
		got, ok := Normalize(in)
		if ok != (want != "") || (ok && got != want) {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestHash(t *testing.T) {
	pw, _ := Generate()
	h, err := Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, pw) {
		t.Errorf("hash %q", h)
	}
	norm, _ := Normalize(strings.ToUpper(pw))
	if ok, err := passhash.Compare(h, norm); err != nil || !ok {
		t.Errorf("verify own password: %v, %v", ok, err)
	}
	other, _ := Generate()
	norm, _ = Normalize(other)
	if ok, _ := passhash.Compare(h, norm); ok {
		t.Error("another password verified")
	}
	if _, err := Hash("not an app password!"); err == nil {
		t.Error("Hash hashed a password of another shape")
	}
}

func BenchmarkVerify(b *testing.B) {
	pw, _ := Generate()
	h, _ := Hash(pw)
	norm, _ := Normalize(pw)
	for b.Loop() {
		_, _ = passhash.Compare(h, norm)
	}
}

// FuzzNormalize: whatever is typed, a normalised app password
// is 16 lowercase letters, and normalising is idempotent.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"abcd-efgh-ijkl-mnop", "ABCD EFGH IJKL MNOP", "", "a.b.c", "äbcd-efgh-ijkl-mnop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		norm, ok := Normalize(s)
		if !ok {
			return
		}
		if len(norm) != 16 || strings.Trim(norm, "abcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("Normalize(%q) = %q", s, norm)
		}
		if again, ok := Normalize(norm); !ok || again != norm {
			t.Fatalf("not idempotent: %q -> %q", norm, again)
		}
	})
}
