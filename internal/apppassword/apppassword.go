// Package apppassword makes app passwords: the random passwords users type
// into the archive server instead of their Google password, their hashes
// and selectors. The web portal and the command line make them; the bind
// chain (bindproxy) checks them.
package apppassword

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/store"
)

// App passwords are 16 lowercase letters from crypto/rand, shown as four
// groups of four ("abcd-efgh-ijkl-mnop"): 16·log2(26) ≈ 75 bits of entropy.
// Dashes, spaces and case are ignored when one is typed.
const (
	letters = 16
	group   = 4
)

// App password hashes are argon2id at passhash.Default (19 MiB, 2 passes,
// 1 lane). An app password is random with ~75 bits of entropy, so even a
// stolen database cannot be brute forced at this cost; the cost exists
// against that theft, not against guessable passwords.
//
// Each app password also has a selector: 16 bits of SHA-256 of the
// password. A bind compares the typed password only with the user's app
// passwords whose selector matches (nearly always one, or none), so an
// uncached bind costs one comparison whether the user has one app password
// or ten, and its time does not tell which. The 16 bits leave ~59 bits of
// the password to guess from a stolen database, still far beyond reach at
// argon2id's cost. Comparisons go through the process's hash gate
// (passhash.Verify); repeated binds hit the verified-bind cache.

// Generate returns a new random app password in its display
// form, "abcd-efgh-ijkl-mnop".
func Generate() (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for n := 0; n < letters; {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("generate app password: %w", err)
		}
		if buf[0] >= 26*9 { // rejection sampling: 234 is the largest multiple of 26 ≤ 256
			continue
		}
		if n > 0 && n%group == 0 {
			b.WriteByte('-')
		}
		b.WriteByte('a' + buf[0]%26)
		n++
	}
	return b.String(), nil
}

// Normalize returns s without dashes and spaces, in lowercase,
// and reports whether that has the shape of an app password.
func Normalize(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '-' || r == ' ':
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r - 'A' + 'a')
		default:
			return "", false
		}
	}
	return b.String(), b.Len() == letters
}

// New generates an app password for the user with id userID,
// under name and for service ("" for any), and returns it with the record
// to store (its hash and selector; store.DB.CreateAppPassword).
func New(userID, name, service string) (string, store.AppPassword, error) {
	pw, err := Generate()
	if err != nil {
		return "", store.AppPassword{}, err
	}
	h, err := Hash(pw)
	if err != nil {
		return "", store.AppPassword{}, err
	}
	norm, _ := Normalize(pw)
	return pw, store.AppPassword{UserID: userID, Name: name, Service: service, Hash: h, Selector: Selector(norm)}, nil
}

// Selector returns the selector of the normalised app password norm: 1..65536.
func Selector(norm string) int {
	sum := sha256.Sum256([]byte("ldapgate app password selector\x00" + norm))
	return int(binary.BigEndian.Uint16(sum[:])) + 1
}

// Hash returns the argon2id hash (PHC string form) of the
// normalised app password pw.
func Hash(pw string) (string, error) {
	norm, ok := Normalize(pw)
	if !ok {
		return "", errors.New("hash app password: not an app password")
	}
	return passhash.Hash(norm, passhash.Default)
}
