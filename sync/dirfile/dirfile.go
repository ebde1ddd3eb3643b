// Package dirfile is a directory source that reads a JSON file in the Google
// Directory API's own shapes. It serves the demo, the tests and air-gapped
// installations.
//
// The file holds one users.list response, one groups.list response and, per
// group, one members.list response:
//
//	{
//	  "users":   {"kind": "admin#directory#users", "users": [...]},
//	  "groups":  {"kind": "admin#directory#groups", "groups": [...]},
//	  "members": {"sales@example.com": {"kind": "admin#directory#members", "members": [...]}}
//	}
//
// A members key is a group's email address or id. Each list must be complete
// (no nextPageToken).
package dirfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/dirapi"
	"github.com/ldapgate/ldapgate/sync/progress"
)

// Source reads a directory file. It holds no state: every Fetch reads the
// file afresh.
type Source struct {
	path   string
	custom []dirapi.CustomAttribute
}

// Option configures a Source.
type Option func(*Source)

// WithCustomAttributes maps the users' custom schema fields ("customSchemas",
// as the Directory API gives them) to LDAP attributes.
func WithCustomAttributes(m []dirapi.CustomAttribute) Option {
	return func(s *Source) { s.custom = m }
}

// New returns a source reading the directory file at path.
func New(path string, opts ...Option) *Source {
	s := &Source{path: path}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name returns "file:" followed by the file's path.
func (s *Source) Name() string { return "file:" + s.path }

// Fetch reads and checks the file and returns its snapshot. Any problem (an
// unreadable file, invalid JSON, a members key naming no group, a member
// naming no user or group, a duplicate id or address, an incomplete list)
// is an error naming the file, and no snapshot is returned.
func (s *Source) Fetch(ctx context.Context) (*store.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("directory file: %w", err)
	}
	snap, err := parse(data, s.custom)
	if err != nil {
		var pe *posError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("directory file %s:%d:%d: %w", s.path, pe.line, pe.col, pe.err)
		}
		return nil, fmt.Errorf("directory file %s: %w", s.path, err)
	}
	report(progress.From(ctx), snap)
	return snap, nil
}

// report publishes a snapshot's counts to p: the file is read in one go,
// so there is nothing to report before.
func report(p *progress.Progress, snap *store.Snapshot) {
	if p == nil {
		return
	}
	p.SetUsers(len(snap.Users))
	p.SetGroups(len(snap.Groups))
	for _, ms := range snap.Members {
		p.GroupQueued()
		p.AddMembers(len(ms))
		p.GroupListed()
	}
	p.ScopeKnown()
}

// posError is an error at a byte offset of the file, and at a line and
// column once parse has placed it.
type posError struct {
	offset    int64
	line, col int
	err       error
}

func (e *posError) Error() string { return e.err.Error() }
func (e *posError) Unwrap() error { return e.err }

// parse decodes and checks a directory file's contents. Errors carry no file
// name; decoding errors carry their place (see posError).
//
// The users and the members are decoded one at a time and converted or
// trimmed at once, so that only one entry in the API's types is alive at a
// time: a decoded admin.User is several times the size of its JSON, and a
// large file's users, decoded all together, held more memory than the file
// and the snapshot. The errors are still the ones a whole-file
// json.Unmarshal and the checks after it give, in the same order: a
// syntax error, the first type error in the file, a top-level key, the
// lists' kinds and pages, then the users, the groups and the members in
// turn.
func parse(data []byte, custom []dirapi.CustomAttribute) (*store.Snapshot, error) {
	// A syntax error anywhere comes first, as json.Unmarshal checks the
	// whole input before decoding; past this the decoder meets none.
	if !json.Valid(data) {
		return nil, place(data, decode(data, new(skipped)))
	}
	p := &parser{
		data:        data,
		dec:         json.NewDecoder(bytes.NewReader(data)),
		custom:      custom,
		snap:        &store.Snapshot{Members: make(map[string][]store.Member)},
		ids:         make(map[string]string),
		addrs:       make(map[string]string),
		usersByAddr: make(map[string]string),
		members:     make(map[string]*memberList),
	}
	if err := p.read(); err != nil {
		return nil, place(data, err)
	}
	// The rest works on what was read: the file, as large as the rest
	// together, can go (the caller does not keep it either).
	p.data, p.dec = nil, nil
	return p.finish()
}

// place gives a posError its line and column in data.
func place(data []byte, err error) error {
	var pe *posError
	if errors.As(err, &pe) {
		pe.line, pe.col = position(data, pe.offset)
	}
	return err
}

// parser reads a directory file with a json.Decoder, key by key and list
// entry by list entry, and builds its snapshot.
type parser struct {
	data   []byte
	dec    *json.Decoder
	custom []dirapi.CustomAttribute

	// keyErr is the first unknown or repeated key: reported after the type
	// errors, as the whole-file parse checked the keys after decoding.
	keyErr error

	users   *listHead // nil if the file has no users list
	nUsers  int       // entries of the users list read so far
	userErr error     // the first user that failed to convert
	groups  *admin.Groups
	members map[string]*memberList // by key, as the file gives them

	snap        *store.Snapshot
	ids         map[string]string // user or group id -> what it is, for duplicates
	addrs       map[string]string // lower-case address -> its owner
	usersByAddr map[string]string // lower-case address -> user id
}

// listHead is what the checks need of a list response besides its entries.
type listHead struct {
	kind, nextPageToken string
}

// memberList is a members list as read: its entries are checked against
// the users and groups, which may come later in the file, so they are kept,
// but only with what the checks need.
type memberList struct {
	head    listHead
	members []member
}

type member struct {
	id, email, typ string
	null           bool
}

func (p *parser) read() error {
	if p.peek() != '{' {
		// null is a file without users; anything else is a type error.
		var top struct{}
		return decode(p.data, &top)
	}
	if err := p.delim(); err != nil {
		return err
	}
	seen := make(map[string]bool)
	for p.dec.More() {
		key, err := p.key()
		if err != nil {
			return err
		}
		// A key that is only the same without regard to case is unknown,
		// but json.Unmarshal decoded it (and reported its type errors).
		name := ""
		for _, k := range []string{"users", "groups", "members"} {
			if strings.EqualFold(key, k) {
				name = k
			}
		}
		if name == "" || key != name {
			p.setKeyErr(fmt.Errorf("unknown key %q at the top level (expected users, groups, members)", key))
		}
		if name == "" {
			err = p.skip()
		} else if seen[name] {
			// The users are gone by the time a second list comes, so it
			// cannot be merged as json.Unmarshal merged it.
			p.setKeyErr(fmt.Errorf("key %q given twice at the top level", name))
			err = p.skip()
		} else {
			seen[name] = true
			switch name {
			case "users":
				err = p.readUsers()
			case "groups":
				err = p.decode(&p.groups, "groups")
			case "members":
				err = p.readMembers()
			}
		}
		if err != nil {
			return err
		}
	}
	return p.delim()
}

func (p *parser) readUsers() error {
	if p.peek() != '{' {
		// null is no users list; anything else is a type error.
		var l *admin.Users
		return p.decode(&l, "users")
	}
	p.users = new(listHead)
	var buf admin.User // reused: a user is dropped once converted
	grow := func(n int) { p.snap.Users = slices.Grow(p.snap.Users, n) }
	return p.list("users", "users", "users", []string{"etag", "trigger_event"}, p.users, new([]*admin.User), grow, func() error {
		buf = admin.User{}
		au := &buf // null sets au to nil
		if err := p.decode(&au, "users.users"); err != nil {
			return err
		}
		i := p.nUsers
		p.nUsers++
		if p.userErr == nil {
			p.userErr = p.addUser(i, au)
		}
		return nil
	})
}

// addUser converts and checks the users list's i-th entry and adds it to
// the snapshot.
func (p *parser) addUser(i int, au *admin.User) error {
	u, err := dirapi.UserFromAPI(au)
	if err == nil {
		u.Attributes, err = dirapi.CustomAttributes(au, p.custom)
	}
	if err != nil {
		return fmt.Errorf("users[%d]: %w", i, err)
	}
	owner := "user " + u.PrimaryEmail
	if prev, ok := p.ids[u.ID]; ok {
		return fmt.Errorf("%s: id %s is also the id of %s", owner, u.ID, prev)
	}
	p.ids[u.ID] = owner
	for _, a := range append([]string{u.PrimaryEmail}, u.Aliases...) {
		if err := p.claim(owner, a); err != nil {
			return err
		}
		p.usersByAddr[strings.ToLower(a)] = u.ID
	}
	p.snap.Users = append(p.snap.Users, u)
	return nil
}

func (p *parser) claim(owner string, a string) error {
	k := strings.ToLower(a)
	if prev, ok := p.addrs[k]; ok {
		return fmt.Errorf("%s: address %s is also used by %s", owner, a, prev)
	}
	p.addrs[k] = owner
	return nil
}

func (p *parser) readMembers() error {
	if p.peek() != '{' {
		// null is no members lists; anything else is a type error.
		var m map[string]*admin.Members
		return p.decode(&m, "members")
	}
	if err := p.delim(); err != nil {
		return err
	}
	var buf admin.Member
	for p.dec.More() {
		key, err := p.key()
		if err != nil {
			return err
		}
		l := new(memberList)
		p.members[key] = l // a key given twice: the last list counts, as with json.Unmarshal
		if p.peek() != '{' {
			// null is an empty list; anything else is a type error.
			var ml *admin.Members
			if err := p.decode(&ml, "members"); err != nil {
				return err
			}
			continue
		}
		grow := func(n int) { l.members = slices.Grow(l.members, n) }
		err = p.list(fmt.Sprintf("members[%q]", key), "members", "members", []string{"etag"}, &l.head, new([]*admin.Member), grow, func() error {
			buf = admin.Member{}
			am := &buf // null sets am to nil
			if err := p.decode(&am, "members.members"); err != nil {
				return err
			}
			m := member{null: am == nil}
			if am != nil {
				m.id, m.email, m.typ = am.Id, am.Email, am.Type
			}
			l.members = append(l.members, m)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return p.delim()
}

// list reads a list response (an object). It calls grow with the number of
// entries under the items key, then entry for each, with the decoder at
// the entry; itemsType receives a value there that is not an array. kind
// and nextPageToken go to head; the API type's other keys (others, all
// strings) are decoded only for their type errors, and keys it lacks are
// skipped. Keys match without regard to case, as json.Unmarshal matches
// them. path names the list in type errors, where in other errors.
func (p *parser) list(where, path, items string, others []string, head *listHead, itemsType any, grow func(n int), entry func() error) error {
	if err := p.delim(); err != nil {
		return err
	}
	seenItems := false
	for p.dec.More() {
		key, err := p.key()
		if err != nil {
			return err
		}
		i := slices.IndexFunc(others, func(o string) bool { return strings.EqualFold(key, o) })
		switch {
		case strings.EqualFold(key, items) && seenItems:
			p.setKeyErr(fmt.Errorf("%s: key %q given twice", where, items))
			err = p.skip()
		case strings.EqualFold(key, items):
			seenItems = true
			if p.peek() != '[' {
				err = p.decode(itemsType, path+"."+items) // null or a type error
				break
			}
			grow(count(p.data, p.dec.InputOffset()))
			if err = p.delim(); err != nil {
				return err
			}
			for err == nil && p.dec.More() {
				err = entry()
			}
			if err == nil {
				err = p.delim()
			}
		case strings.EqualFold(key, "kind"):
			err = p.decode(&head.kind, path+".kind")
		case strings.EqualFold(key, "nextPageToken"):
			err = p.decode(&head.nextPageToken, path+".nextPageToken")
		case i >= 0:
			var s string
			err = p.decode(&s, path+"."+others[i])
		default:
			err = p.skip()
		}
		if err != nil {
			return err
		}
	}
	return p.delim()
}

func (p *parser) setKeyErr(err error) {
	if p.keyErr == nil {
		p.keyErr = err
	}
}

// decode decodes the next value into v. The decoder gives a type error's
// offset and field relative to that value: they become the file's offset
// and the field's path from the top, path being the value's own.
func (p *parser) decode(v any, path string) error {
	// The decoder decodes from just after the separator before the value
	// (and white space counts in its offsets); More moves it to that
	// separator, or to the value when there is none.
	p.dec.More()
	base := p.dec.InputOffset()
	if base < int64(len(p.data)) && (p.data[base] == ',' || p.data[base] == ':') {
		base++
	}
	err := p.dec.Decode(v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		te.Offset += base
		if te.Field == "" {
			te.Field = path
		} else {
			te.Field = path + "." + te.Field
		}
	}
	return jsonError(err)
}

// peek returns the first byte of the next value.
func (p *parser) peek() byte {
	i := skipSpace(p.data, p.dec.InputOffset())
	if i < int64(len(p.data)) && (p.data[i] == ',' || p.data[i] == ':') {
		i = skipSpace(p.data, i+1)
	}
	if i >= int64(len(p.data)) {
		return 0
	}
	return p.data[i]
}

// count returns the number of elements of the array that starts at or
// after data[i]. The data must be valid JSON. Slices sized by it are
// allocated once: appending to a slice of 100,000 users copies it over and
// over, and the last copy can keep a quarter of it unused.
func count(data []byte, i int64) int {
	i += int64(bytes.IndexByte(data[i:], '['))
	end := int64(len(data))
	if j := skipSpace(data, i+1); j < end && data[j] == ']' {
		return 0
	}
	n, depth := 1, 0
	for ; i < end; i++ {
		switch data[i] {
		case '"':
			for i++; i < end && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			depth++
		case ']', '}':
			if depth--; depth == 0 {
				return n
			}
		case ',':
			if depth == 1 {
				n++
			}
		}
	}
	return n
}

func skipSpace(data []byte, i int64) int64 {
	for i < int64(len(data)) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

// delim reads an opening or closing brace or bracket.
func (p *parser) delim() error {
	t, err := p.dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if _, ok := t.(json.Delim); !ok {
		return fmt.Errorf("invalid JSON: expected a delimiter, got %v", t)
	}
	return nil
}

// key reads an object's key.
func (p *parser) key() (string, error) {
	t, err := p.dec.Token()
	if err != nil {
		return "", fmt.Errorf("invalid JSON: %w", err)
	}
	k, ok := t.(string)
	if !ok {
		return "", fmt.Errorf("invalid JSON: expected a key, got %v", t)
	}
	return k, nil
}

// skip reads past the next value token by token: the decoder would hold
// all of a value it decodes, and a skipped one can be as large as the file.
func (p *parser) skip() error {
	depth := 0
	for {
		t, err := p.dec.Token()
		if err != nil {
			return fmt.Errorf("invalid JSON: %w", err)
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// finish runs the checks that need the whole file read and completes the
// snapshot.
func (p *parser) finish() (*store.Snapshot, error) {
	if p.keyErr != nil {
		return nil, p.keyErr
	}
	if p.users == nil {
		return nil, errors.New(`no "users" list (a users.list response)`)
	}
	if err := checkList("users", p.users.kind, "admin#directory#users", p.users.nextPageToken); err != nil {
		return nil, err
	}
	if p.groups == nil {
		p.groups = &admin.Groups{}
	}
	if err := checkList("groups", p.groups.Kind, "admin#directory#groups", p.groups.NextPageToken); err != nil {
		return nil, err
	}
	if p.userErr != nil {
		return nil, p.userErr
	}

	snap := p.snap
	if snap.Users == nil {
		snap.Users = []store.User{} // as before: an empty list, not none
	}
	usersByID := make(map[string]*store.User, len(snap.Users))
	for i := range snap.Users {
		usersByID[snap.Users[i].ID] = &snap.Users[i]
	}

	groupsByID := make(map[string]*store.Group)
	groupsByAddr := make(map[string]string) // lower-case address -> group id
	for i, ag := range p.groups.Groups {
		g, err := dirapi.GroupFromAPI(ag)
		if err != nil {
			return nil, fmt.Errorf("groups[%d]: %w", i, err)
		}
		owner := "group " + g.Email
		if prev, ok := p.ids[g.ID]; ok {
			return nil, fmt.Errorf("%s: id %s is also the id of %s", owner, g.ID, prev)
		}
		p.ids[g.ID] = owner
		for _, a := range append([]string{g.Email}, g.Aliases...) {
			if err := p.claim(owner, a); err != nil {
				return nil, err
			}
			groupsByAddr[strings.ToLower(a)] = g.ID
		}
		snap.Groups = append(snap.Groups, g)
	}
	for i := range snap.Groups {
		groupsByID[snap.Groups[i].ID] = &snap.Groups[i]
	}

	// Members, keyed by group email or id; walk the keys in order so the
	// first error is always the same one.
	keys := make([]string, 0, len(p.members))
	for k := range p.members {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		g := groupsByID[key]
		if g == nil {
			g = groupsByID[groupsByAddr[strings.ToLower(key)]]
		}
		if g == nil {
			return nil, fmt.Errorf("members[%q]: no group with that email or id", key)
		}
		if _, dup := snap.Members[g.ID]; dup {
			return nil, fmt.Errorf("members[%q]: group %s has more than one members list", key, g.Email)
		}
		list := p.members[key]
		where := fmt.Sprintf("members[%q]", key)
		if err := checkList(where, list.head.kind, "admin#directory#members", list.head.nextPageToken); err != nil {
			return nil, err
		}
		seen := make(map[string]bool)
		members := make([]store.Member, 0, len(list.members))
		for i, rm := range list.members {
			var am *admin.Member
			if !rm.null {
				am = &admin.Member{Id: rm.id, Email: rm.email, Type: rm.typ}
			}
			if am != nil && am.Id == "" && am.Email != "" && (strings.EqualFold(am.Type, "USER") || strings.EqualFold(am.Type, "GROUP")) {
				t := strings.ToUpper(am.Type)
				// Hand-written files may name members by address only.
				if t == "USER" {
					am.Id = p.usersByAddr[strings.ToLower(am.Email)]
				} else {
					am.Id = groupsByAddr[strings.ToLower(am.Email)]
				}
				if am.Id == "" {
					kind := strings.ToLower(t)
					return nil, fmt.Errorf("%s[%d]: %s member %s: no %s with that address", where, i, kind, am.Email, kind)
				}
			}
			m, err := dirapi.MemberFromAPI(am)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", where, i, err)
			}
			switch m.Type {
			case store.MemberUser:
				u, ok := usersByID[m.ID]
				if !ok {
					return nil, fmt.Errorf("%s[%d]: user member %s: no user with that id", where, i, memberName(m))
				}
				if m.Email == "" {
					m.Email = u.PrimaryEmail
				}
			case store.MemberGroup:
				sub, ok := groupsByID[m.ID]
				if !ok {
					return nil, fmt.Errorf("%s[%d]: group member %s: no group with that id", where, i, memberName(m))
				}
				if sub.ID == g.ID {
					return nil, fmt.Errorf("%s[%d]: group %s is a member of itself", where, i, g.Email)
				}
				if m.Email == "" {
					m.Email = sub.Email
				}
			}
			k := string(m.Type) + "\x00" + m.ID
			if seen[k] {
				return nil, fmt.Errorf("%s[%d]: %s is listed twice", where, i, memberName(m))
			}
			seen[k] = true
			members = append(members, m)
		}
		list.members = nil // converted: the snapshot has them now
		snap.Members[g.ID] = members
	}
	return snap, nil
}

// skipped is a JSON value that is checked but not kept.
type skipped struct{}

func (*skipped) UnmarshalJSON([]byte) error { return nil }

func memberName(m store.Member) string {
	if m.Email != "" {
		return m.Email
	}
	return m.ID
}

// checkList rejects a list of the wrong kind or one that is only a page.
func checkList(where, kind, want, nextPageToken string) error {
	if kind != "" && kind != want {
		return fmt.Errorf("%s: kind is %q, expected %q", where, kind, want)
	}
	if nextPageToken != "" {
		return fmt.Errorf("%s: has a nextPageToken, so it is only one page; merge all pages into one list", where)
	}
	return nil
}

// decode unmarshals data into v; see jsonError.
func decode(data []byte, v any) error {
	return jsonError(json.Unmarshal(data, v))
}

// jsonError turns syntax and type errors into errors with the offset where
// they occurred.
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return &posError{offset: se.Offset, err: fmt.Errorf("invalid JSON: %w", err)}
	case errors.As(err, &te):
		if te.Field == "" {
			return &posError{offset: te.Offset, err: fmt.Errorf("expected an object at the top level, got JSON %s", te.Value)}
		}
		return &posError{offset: te.Offset, err: fmt.Errorf("%s: expected %s, got JSON %s", te.Field, te.Type, te.Value)}
	default:
		return fmt.Errorf("invalid JSON: %w", err)
	}
}

// position returns the 1-based line and column (in bytes) of the byte just
// before offset: the decoder reports the offset after the offending byte.
func position(data []byte, offset int64) (line, col int) {
	i := min(max(offset-1, 0), int64(len(data)))
	before := data[:i]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(i) - bytes.LastIndexByte(before, '\n')
	return line, col
}
