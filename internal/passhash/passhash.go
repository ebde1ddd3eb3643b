// Package passhash is ldapgate's one home for password hashes: the bcrypt
// and argon2id formats that service accounts' password_hash and app
// passwords are stored in, one set of bounds on their cost, and the gate
// that bounds how many hashes the process computes at once.
//
// Formats:
//
//   - bcrypt, "$2a$", "$2b$" or "$2y$" (htpasswd -B, Go's bcrypt);
//   - argon2id in PHC string form, "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"
//     with salt and hash in unpadded standard base64 (what Hash writes, and
//     what the argon2 command line tool and libsodium write).
//
// Both are compared in constant time (bcrypt does so itself).
package passhash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Params are the cost parameters of an argon2id hash.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen int
	KeyLen  uint32
}

// Default is what Hash writes for service accounts and app passwords:
// argon2id with 19 MiB, 2 passes, 1 lane (OWASP's recommended minimum).
// Both kinds of secret are long and random (app passwords carry ~75 bits;
// `ldapgate password hash` suggests a generated one), so the cost guards a
// stolen config file or database against nothing that a higher cost would
// stop, while every failed bind pays it: at 19 MiB and ~25 ms a hash, a
// burst of failed binds stays within the Gate's memory budget and keeps a
// core for searches. Hashes made with other parameters keep working.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds a stored argon2id hash must respect, so that a config file or a
// store row cannot make one comparison cost gigabytes or minutes.
const (
	maxMemory      = 256 * 1024 // KiB
	maxTime        = 16
	minSaltLen     = 8
	minKeyLen      = 16
	maxKeyLen      = 128
	maxBcryptBytes = 72 // bcrypt ignores what follows; such passwords are refused
)

// bcryptCost is what a bcrypt comparison is charged against the Gate's
// budget: bcrypt needs only kilobytes, but its CPU time is that of an
// argon2id hash at Default.
const bcryptCost = 19 * 1024

var errFormat = errors.New("unsupported password hash (want bcrypt $2a$/$2b$/$2y$ or $argon2id$v=19$...)")

// Hash returns an argon2id hash of pw in PHC string form with a random
// salt.
func Hash(pw string, p Params) (string, error) {
	if pw == "" {
		return "", errors.New("hash password: empty password")
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// dummy is a hash at Default of a password nobody types, for comparisons
// whose only purpose is to take the time a real one takes.
var dummy = sync.OnceValue(func() string {
	h, err := Hash("ldapgate dummy password", Default)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return h
})

// Dummy returns an argon2id hash at Default that no password given to a
// bind matches in practice.
func Dummy() string { return dummy() }

// Check reports whether hash is a usable bcrypt or argon2id hash (format
// and bounds); config validation calls it.
func Check(hash string) error {
	_, err := cost(hash)
	return err
}

// cost returns what comparing with hash is charged against a Gate (KiB),
// or why hash is unusable.
func cost(hash string) (int64, error) {
	switch {
	case isBcrypt(hash):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return 0, fmt.Errorf("bcrypt hash: %w", err)
		}
		return bcryptCost, nil
	case strings.HasPrefix(hash, "$argon2id$"):
		p, _, _, err := parseArgon2id(hash)
		return int64(p.Memory), err
	case hash == "":
		return 0, errors.New("empty password hash")
	}
	return 0, errFormat
}

func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

// Compare reports whether pw matches hash, without the Gate (tests, and
// callers that hold it). An error means the hash is unusable.
func Compare(hash, pw string) (bool, error) {
	switch {
	case isBcrypt(hash):
		if len(pw) > maxBcryptBytes {
			// Compare anyway (same time), but never accept: bcrypt would
			// only look at the first 72 bytes.
			_ = bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw[:maxBcryptBytes]))
			return false, nil
		}
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, nil
		}
		return false, fmt.Errorf("bcrypt hash: %w", err)
	case strings.HasPrefix(hash, "$argon2id$"):
		p, salt, key, err := parseArgon2id(hash)
		if err != nil {
			return false, err
		}
		got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
		return subtle.ConstantTimeCompare(got, key) == 1, nil
	}
	return false, errFormat
}

// parseArgon2id parses "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>".
func parseArgon2id(hash string) (Params, []byte, []byte, error) {
	var p Params
	bad := func(why string) (Params, []byte, []byte, error) {
		return p, nil, nil, fmt.Errorf("argon2id hash: %s", why)
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("want $argon2id$v=19$m=...,t=...,p=...$<salt>$<hash>")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version " + parts[2])
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return bad("want parameters m=...,t=...,p=...")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], name)
		if !ok {
			return bad("want parameters m=...,t=...,p=...")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("parameter " + params[i])
		}
		vals[i] = n
	}
	m, t, l := vals[0], vals[1], vals[2]
	switch {
	case l < 1 || l > 255:
		return bad("lanes p must be 1..255")
	case m < 8*l || m > maxMemory:
		return bad(fmt.Sprintf("memory m must be %d..%d KiB", 8*l, maxMemory))
	case t < 1 || t > maxTime:
		return bad(fmt.Sprintf("passes t must be 1..%d", maxTime))
	}
	salt, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(parts[4], "="))
	if err != nil || len(salt) < minSaltLen {
		return bad(fmt.Sprintf("salt must be base64 of at least %d bytes", minSaltLen))
	}
	key, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(parts[5], "="))
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return bad(fmt.Sprintf("hash must be base64 of %d..%d bytes", minKeyLen, maxKeyLen))
	}
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(l), SaltLen: len(salt), KeyLen: uint32(len(key))}
	return p, salt, key, nil
}
