package dirapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/store"
)

// maxPOSIXID is the largest POSIX id served: 4294967295 is (uid_t)-1, "no
// id".
const maxPOSIXID = 1<<32 - 2

// posixAccount is one entry of a user's posixAccounts, as the Directory API
// gives it: uid and gid are uint64 sent as JSON strings (the client
// library's `,string`), but a number is taken too.
type posixAccount struct {
	Primary       bool    `json:"primary"`
	UID           posixID `json:"uid"`
	GID           posixID `json:"gid"`
	HomeDirectory string  `json:"homeDirectory"`
	Shell         string  `json:"shell"`
	Gecos         string  `json:"gecos"`
}

// posixID is a uid or gid: a decimal JSON string or number; absent or null
// is 0.
type posixID uint64

func (p *posixID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*p = 0
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*p = 0
			return nil
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return errors.New("not a whole number")
	}
	*p = posixID(n)
	return nil
}

// POSIXFromAPI returns the POSIX account of a Directory API user that the
// directory serves: of its posixAccounts, the first with primary set, else
// the first, leaving out every entry whose uid is 0 (root is never served)
// or above 4294967294 (not a POSIX id). A gid outside 1..4294967294 counts
// as not set. Strings are trimmed. The result is zero if no entry is left.
// The account's systemId, username and operatingSystemType are not kept.
// It fails if posixAccounts is not a list of objects or a uid or gid is
// not a whole number; the error names neither the values nor the gecos.
func POSIXFromAPI(u *admin.User) (store.POSIXAccount, error) {
	if u == nil || u.PosixAccounts == nil {
		return store.POSIXAccount{}, nil
	}
	// The client library leaves the field untyped: decoded JSON, or
	// []*admin.UserPosixAccount when built in Go. Both marshal to the
	// API's own shape.
	raw, err := json.Marshal(u.PosixAccounts)
	if err != nil {
		return store.POSIXAccount{}, fmt.Errorf("user %s: posixAccounts: %w", u.PrimaryEmail, err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return store.POSIXAccount{}, fmt.Errorf("user %s: posixAccounts: not a list", u.PrimaryEmail)
	}
	var chosen *posixAccount
	for i, it := range items {
		var a posixAccount
		if err := json.Unmarshal(it, &a); err != nil {
			what := "uid or gid is not a whole number"
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				what = "not an object"
				if te.Field != "" {
					what = te.Field + ": expected " + te.Type.String()
				}
			}
			return store.POSIXAccount{}, fmt.Errorf("user %s: posixAccounts[%d]: %s", u.PrimaryEmail, i, what)
		}
		if a.UID == 0 || a.UID > maxPOSIXID {
			continue
		}
		if chosen == nil || (a.Primary && !chosen.Primary) {
			chosen = &a
		}
	}
	if chosen == nil {
		return store.POSIXAccount{}, nil
	}
	out := store.POSIXAccount{
		UID:           uint32(chosen.UID),
		HomeDirectory: strings.TrimSpace(chosen.HomeDirectory),
		Shell:         strings.TrimSpace(chosen.Shell),
		Gecos:         strings.TrimSpace(chosen.Gecos),
	}
	if chosen.GID <= maxPOSIXID {
		out.GID = uint32(chosen.GID)
	}
	return out, nil
}
