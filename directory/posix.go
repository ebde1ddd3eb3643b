package directory

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ldapgate/ldapgate/store"
)

// POSIX configures the RFC 2307 (and 2307bis) attributes for NSS and PAM
// clients (nslcd, SSSD, Dovecot's and Apache's uid lookups). With Enabled,
// users get the object classes posixAccount and shadowAccount with
// uidNumber, gidNumber, homeDirectory, loginShell and gecos (and
// shadowExpire: 1 while suspended or archived), and groups get posixGroup
// next to groupOfNames (the RFC 2307bis combination) with gidNumber and
// memberUid (the UIDs of every member user, nested groups resolved).
type POSIX struct {
	Enabled bool
	// UIDMin and UIDMax bound the users' uidNumbers, GIDMin and GIDMax the
	// groups' gidNumbers (both inclusive). Defaults 200000 and 2000199999
	// for both (SSSD's default ID-mapping range).
	UIDMin, UIDMax uint32
	GIDMin, GIDMax uint32
	// PrimaryGID is every user's gidNumber; 0 (the default) gives each user
	// a gidNumber equal to its uidNumber (user private groups). Group
	// gidNumbers never equal a user's uidNumber, so the two cannot clash.
	PrimaryGID uint32
	// HomeDirectory is the homeDirectory template: {uid} (the entry's
	// uid), {local} and {domain} (of the primary address), {email}, {id}
	// (the source's immutable id). Default /home/{uid}.
	HomeDirectory string
	// LoginShell is every user's loginShell; default /bin/bash.
	LoginShell string
}

// POSIX defaults.
const (
	DefaultPOSIXMin      = 200000
	DefaultPOSIXMax      = 2000199999
	DefaultHomeDirectory = "/home/{uid}"
	DefaultLoginShell    = "/bin/bash"
)

func (p POSIX) withDefaults() POSIX {
	if p.UIDMin == 0 && p.UIDMax == 0 {
		p.UIDMin, p.UIDMax = DefaultPOSIXMin, DefaultPOSIXMax
	}
	if p.GIDMin == 0 && p.GIDMax == 0 {
		p.GIDMin, p.GIDMax = p.UIDMin, p.UIDMax
	}
	if strings.TrimSpace(p.HomeDirectory) == "" {
		p.HomeDirectory = DefaultHomeDirectory
	}
	if strings.TrimSpace(p.LoginShell) == "" {
		p.LoginShell = DefaultLoginShell
	}
	return p
}

// MinPOSIXRange is the smallest uid or gid range Validate accepts: the
// derived numbers need room to stay unique and rarely collide.
const MinPOSIXRange = 1000

// Validate reports the first problem with p (after defaults): ranges that
// are empty, too small, start at 0 (root) or reach 4294967295 (-1, "no
// id"); a home directory template that is not absolute or names an unknown
// placeholder; a shell that is not an absolute path.
func (p POSIX) Validate() error {
	p = p.withDefaults()
	for _, r := range []struct {
		name     string
		min, max uint32
	}{{"uid", p.UIDMin, p.UIDMax}, {"gid", p.GIDMin, p.GIDMax}} {
		switch {
		case r.min == 0:
			return fmt.Errorf("posix %s range must not start at 0", r.name)
		case r.max == ^uint32(0):
			return fmt.Errorf("posix %s range must end below 4294967295", r.name)
		case r.max < r.min || r.max-r.min+1 < MinPOSIXRange:
			return fmt.Errorf("posix %s range %d-%d: must hold at least %d numbers", r.name, r.min, r.max, MinPOSIXRange)
		}
	}
	if !strings.HasPrefix(p.HomeDirectory, "/") {
		return fmt.Errorf("posix home directory %q: must be an absolute path", p.HomeDirectory)
	}
	rest := homeReplacer(&store.User{}).Replace(p.HomeDirectory)
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("posix home directory %q: unknown placeholder (use {uid}, {local}, {domain}, {email}, {id})", p.HomeDirectory)
	}
	if !strings.HasPrefix(p.LoginShell, "/") {
		return fmt.Errorf("posix login shell %q: must be an absolute path", p.LoginShell)
	}
	return nil
}

func homeReplacer(u *store.User) *strings.Replacer {
	local, domain, _ := strings.Cut(u.PrimaryEmail, "@")
	return strings.NewReplacer("{uid}", u.UID, "{local}", local, "{domain}", domain,
		"{email}", u.PrimaryEmail, "{id}", u.ID)
}

// homeDirectory fills in the template for u.
func (p *POSIX) homeDirectory(u *store.User) string {
	if !strings.Contains(p.HomeDirectory, "{") {
		return p.HomeDirectory
	}
	return homeReplacer(u).Replace(p.HomeDirectory)
}

// POSIX numbers
//
// Google keeps POSIX numbers for some users (posixAccounts); those are
// served as they are. The rest need numbers too, and NSS clients need
// numbers that never change (files on disk and mail stores keep them) and
// never repeat (two users with one uidNumber are one user to the kernel).
// ldapgate derives them from the source's immutable id and settles clashes
// in a fixed order, without storing anything:
//
//  0. A user with a POSIX account in Google (store.User.POSIX: the primary
//     one of its posixAccounts, else the first; never one with uid 0) gets
//     Google's uid as its uidNumber, even outside the configured range
//     (Google is authoritative), and Google's gid as its gidNumber where
//     set. If two users have one Google uid, the first in the order of
//     step 2 keeps it and the other is left to steps 1 and 2 (its home
//     directory, shell and gecos still come from Google). The uids and
//     gids served this way are taken before step 2 starts.
//  1. Each other user's preferred uidNumber is
//     UIDMin + (h mod (UIDMax-UIDMin+1)), where h is the first 8 bytes
//     (big-endian) of SHA-256("ldapgate:posix:user:" + id); groups likewise
//     with "ldapgate:posix:group:" and the gid range.
//  2. Those users and the groups are taken in the order they first appeared
//     in the store (their createTimestamp), ties broken by kind (users
//     first) and then by id. Each gets its preferred number unless it is
//     taken (by Google's numbers or an earlier one); then it takes the next
//     free number, wrapping within its range. One set of taken numbers
//     covers users and groups, so a group's gidNumber never equals a user's
//     uidNumber (the user private group's gidNumber with PrimaryGID 0), and
//     a derived number never equals one of Google's.
//
// So a user keeps its number for as long as it exists: users that were
// there before always come first in the order and get the same numbers
// again. A new user whose preferred number is taken by an existing one gets
// the next free number; the existing user never moves. The exceptions: a
// user that was bumped (its preferred number was already taken) moves to
// its preferred number once the user holding that number leaves the
// directory; and a user with a derived number moves to the next free one
// if an administrator gives that number to someone in Google. With the
// default range of 1.8 billion numbers, a bump happens about once among
// 60,000 users (the birthday bound), and Google's numbers are usually far
// below the range, so both are rare; a site that cannot accept the first
// keeps departed users in the store (sync.delete_users: false), so their
// numbers stay held. Rebuilding the store from scratch gives every user the
// same createTimestamp, so only bumped users can then move.

// posixItem is a user or group in the order of step 2.
type posixItem struct {
	created  time.Time
	group    bool
	id       string
	min, max uint32
	user     *store.ViewUser // nil for groups
}

// posixOrder returns v's users and groups in the order of step 2; users
// only without groups.
func posixOrder(v *store.View, p *POSIX, groups bool) []posixItem {
	items := make([]posixItem, 0, len(v.Users)+len(v.Groups))
	for _, u := range v.Users {
		items = append(items, posixItem{u.CreatedAt, false, u.ID, p.UIDMin, p.UIDMax, u})
	}
	if groups {
		for _, g := range v.Groups {
			items = append(items, posixItem{g.CreatedAt, true, g.ID, p.GIDMin, p.GIDMax, nil})
		}
	}
	slices.SortFunc(items, func(a, b posixItem) int {
		// Unknown creation times sort last: they must never push out
		// someone who has held a number for a while.
		if a.created.IsZero() != b.created.IsZero() {
			if a.created.IsZero() {
				return 1
			}
			return -1
		}
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		if a.group != b.group {
			if a.group {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.id, b.id)
	})
	return items
}

// validPOSIXID reports whether n may be served as a uid or gid: neither
// 0 (root) nor 4294967295 ((uid_t)-1).
func validPOSIXID(n uint32) bool { return n != 0 && n != ^uint32(0) }

// googleUIDs returns the uidNumbers Google assigns, by user id: the first
// user in order holding a Google uid gets it. clashes describes each user
// whose Google uid an earlier one holds.
func googleUIDs(order []posixItem) (uids map[string]uint32, clashes []string) {
	uids = make(map[string]uint32)
	holder := make(map[uint32]*store.ViewUser)
	for _, it := range order {
		u := it.user
		if u == nil || !validPOSIXID(u.POSIX.UID) {
			continue
		}
		n := u.POSIX.UID
		if h, ok := holder[n]; ok {
			clashes = append(clashes, fmt.Sprintf("user %s (%s): Google uid %d is already user %s's (%s)",
				u.ID, u.PrimaryEmail, n, h.ID, h.PrimaryEmail))
			continue
		}
		holder[n] = u
		uids[u.ID] = n
	}
	return uids, clashes
}

// posixUIDClashes describes the users of v whose Google uid another user
// holds (see googleUIDs), for the log; nil if there are none.
func posixUIDClashes(v *store.View) []string {
	_, clashes := googleUIDs(posixOrder(v, &POSIX{}, false))
	return clashes
}

// posixNumbers assigns the uidNumbers of v's users and the gidNumbers of
// its groups (by id) as described above.
func posixNumbers(v *store.View, p *POSIX) (uids, gids map[string]uint32) {
	items := posixOrder(v, p, true)
	uids, _ = googleUIDs(items)
	gids = make(map[string]uint32, len(v.Groups))
	taken := make(map[uint32]struct{}, len(items)+len(uids))
	for id, n := range uids {
		taken[n] = struct{}{}
		if u, ok := v.UserByID(id); ok && validPOSIXID(u.POSIX.GID) {
			taken[u.POSIX.GID] = struct{}{}
		}
	}
	for _, it := range items {
		kind, out := "user", uids
		if it.group {
			kind, out = "group", gids
		} else if _, ok := uids[it.id]; ok {
			continue // Google's
		}
		n := preferredNumber(kind, it.id, it.min, it.max)
		size := uint64(it.max-it.min) + 1
		for range size {
			if _, ok := taken[n]; !ok {
				break
			}
			if n == it.max {
				n = it.min
			} else {
				n++
			}
		}
		if _, ok := taken[n]; ok {
			continue // the range is full: no number (validation keeps ranges far larger)
		}
		taken[n] = struct{}{}
		out[it.id] = n
	}
	return uids, gids
}

// posixUser is what a user's entry shows of posixAccount: uidNumber and
// gidNumber (both empty when the user has no number), homeDirectory,
// loginShell and gecos.
type posixUser struct {
	uidNumber, gidNumber string
	home, shell, gecos   string
}

// user returns the posixAccount values of u, whose uidNumber (if any) is in
// uidNumbers (from posixNumbers) and whose cn is cn. Google's values come
// first: with Google's uid, Google's gid; Google's home directory, shell
// and gecos whenever set.
func (p *POSIX) user(u *store.User, uidNumbers map[string]uint32, cn string) posixUser {
	g := u.POSIX
	out := posixUser{home: g.HomeDirectory, shell: g.Shell, gecos: g.Gecos}
	if n, ok := uidNumbers[u.ID]; ok {
		gid := p.PrimaryGID
		if gid == 0 {
			gid = n
		}
		if n == g.UID && validPOSIXID(g.GID) {
			gid = g.GID // Google's uid, so Google's gid
		}
		out.uidNumber, out.gidNumber = formatUint(n), formatUint(gid)
	}
	if out.home == "" {
		out.home = p.homeDirectory(u)
	}
	if out.shell == "" {
		out.shell = p.LoginShell
	}
	if out.gecos == "" {
		out.gecos = cn
	}
	return out
}

// preferredNumber is step 1 of the rule above.
func preferredNumber(kind, id string, min, max uint32) uint32 {
	h := sha256.Sum256([]byte("ldapgate:posix:" + kind + ":" + id))
	size := uint64(max-min) + 1
	return min + uint32(binary.BigEndian.Uint64(h[:8])%size)
}

// posixGroupUIDs returns, per group id, the UIDs of the users that are
// members directly or through nested groups, in the view's user order.
func posixGroupUIDs(v *store.View, userOK func(id string) bool) map[string][]string {
	out := make(map[string][]string, len(v.Groups))
	for _, u := range v.Users {
		if !userOK(u.ID) {
			continue
		}
		for _, gid := range u.Groups {
			out[gid] = append(out[gid], u.UID)
		}
	}
	return out
}

func formatUint(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
