package ldapserver

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Service account passwords are stored as hashes only:
//
//   - bcrypt, "$2a$", "$2b$" or "$2y$" (htpasswd -B, Go's bcrypt);
//   - argon2id in PHC string form,
//     "$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>" with salt and hash in
//     unpadded standard base64 (what HashPassword writes, and what the
//     argon2 command line tool and libsodium write).
//
// Both are compared in constant time (bcrypt does so itself).

// argon2Params are the cost parameters of an argon2id hash.
type argon2Params struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	saltLen int
	keyLen  uint32
}

// defaultArgon2 are the parameters HashPassword uses (RFC 9106's second
// recommended option, with t=3): 64 MiB, 3 passes, 4 lanes.
var defaultArgon2 = argon2Params{memory: 64 * 1024, time: 3, threads: 4, saltLen: 16, keyLen: 32}

// Bounds a stored argon2id hash must respect, so a config cannot make each
// bind cost gigabytes or minutes.
const (
	maxArgon2Memory = 1 << 20 // KiB = 1 GiB
	maxArgon2Time   = 64
	minSaltLen      = 8
	minKeyLen       = 16
	maxKeyLen       = 128
	maxBcryptBytes  = 72 // bcrypt ignores what follows; such passwords are refused
)

var errHashFormat = errors.New("unsupported password hash (want bcrypt $2a$/$2b$/$2y$ or $argon2id$v=19$...)")

// HashPassword returns an argon2id hash of pw in PHC string form, with a
// random salt, for a service account's password_hash.
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("hash password: empty password")
	}
	return hashArgon2id(pw, defaultArgon2)
}

func hashArgon2id(pw string, p argon2Params) (string, error) {
	salt := make([]byte, p.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, p.keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// CheckPasswordHash reports whether hash is a usable bcrypt or argon2id hash
// (format and parameter bounds); config validation calls it.
func CheckPasswordHash(hash string) error {
	switch {
	case isBcrypt(hash):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("bcrypt hash: %w", err)
		}
		return nil
	case strings.HasPrefix(hash, "$argon2id$"):
		_, _, _, err := parseArgon2id(hash)
		return err
	case hash == "":
		return errors.New("empty password hash")
	}
	return errHashFormat
}

func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

// verifyPassword reports whether pw matches hash. An error means the hash
// is unusable.
func verifyPassword(hash, pw string) (bool, error) {
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
		got := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, p.keyLen)
		return subtle.ConstantTimeCompare(got, key) == 1, nil
	}
	return false, errHashFormat
}

// parseArgon2id parses "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>".
func parseArgon2id(hash string) (argon2Params, []byte, []byte, error) {
	var p argon2Params
	bad := func(why string) (argon2Params, []byte, []byte, error) {
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
	case m < 8*l || m > maxArgon2Memory:
		return bad(fmt.Sprintf("memory m must be %d..%d KiB", 8*l, maxArgon2Memory))
	case t < 1 || t > maxArgon2Time:
		return bad(fmt.Sprintf("passes t must be 1..%d", maxArgon2Time))
	}
	salt, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(parts[4], "="))
	if err != nil || len(salt) < minSaltLen {
		return bad(fmt.Sprintf("salt must be base64 of at least %d bytes", minSaltLen))
	}
	key, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(parts[5], "="))
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return bad(fmt.Sprintf("hash must be base64 of %d..%d bytes", minKeyLen, maxKeyLen))
	}
	p = argon2Params{memory: uint32(m), time: uint32(t), threads: uint8(l), saltLen: len(salt), keyLen: uint32(len(key))}
	return p, salt, key, nil
}
