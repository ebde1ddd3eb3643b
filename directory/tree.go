package directory

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"

	"github.com/ldapgate/ldapgate/store"
)

// The directory tree (defaults):
//
//	dc=example,dc=com                      base (domain)
//	  ou=people                            organizationalUnit
//	    uid=<UID>                          inetOrgPerson, one per user
//	  ou=groups
//	    cn=<CN>                            groupOfNames, one per group
//	  ou=privileges
//	    cn=<privilege>                     groupOfNames of the holders
//	  ou=services
//	    cn=<service account>               applicationProcess
//
// A tree is built once per *store.View and never changes. Entries sit in
// one slice in preorder (each OU followed by its children, in the view's
// order), so a subtree is a contiguous range and results come out in a
// stable order.

type entryKind uint8

const (
	kindRootDSE entryKind = iota
	kindSubschema
	kindBase
	kindOU
	kindUser
	kindGroup
	kindPrivilege
	kindService
)

// Entry is an immutable directory Entry. Its attributes are packed (see
// Entry.go), in the order they are shown: the shared head (objectClass),
// the Entry's own, and the shared tail (structuralObjectClass,
// hasSubordinates, subschemaSubentry).
type Entry struct {
	dn     string // as shown to clients
	ndn    string // normalised (see normDN)
	kind   entryKind
	pos    int32 // index in tree.entries
	end    int32 // one past the last descendant
	parent int32 // -1 for the base entry and the special entries
	userID string
	defs   *defTable
	shared *sharedAttrs // nil for the special entries
	own    []byte
}

// sharedAttrs are the packed head and tail of the entries of one kind.
type sharedAttrs struct{ head, tail []byte }

func (e *Entry) parts() [3][]byte {
	if e.shared == nil {
		return [3][]byte{nil, e.own, nil}
	}
	return [3][]byte{e.shared.head, e.own, e.shared.tail}
}

// tree is the directory built from one view.
type tree struct {
	view    *store.View
	entries []Entry
	byDN    *hashIndex // normalised DNs
	// index maps an indexed attribute to the positions of the entries
	// holding a normalised value, ascending and without repeats.
	index map[*attrDef]*hashIndex
	// skipped lists objects left out because their DN clashed with another
	// (for the log).
	skipped []string
}

// layout is the part of the configuration that shapes the tree.
type layout struct {
	baseDN, baseNDN string
	baseAttr        *attrDef
	baseValue       string
	baseClass       string
	ous             [4]ouLayout // people, groups, privileges, services
	services        []string    // service account names, sorted
	// Object classes of users, groups and privilege groups (structural
	// first after top, then auxiliary ones).
	userClasses, groupClasses, privClasses []string
	posix                                  *POSIX // nil: no POSIX attributes
	ad                                     bool   // the Active Directory view
}

type ouLayout struct{ name, dn, ndn string }

const (
	ouPeople = iota
	ouGroups
	ouPrivileges
	ouServices
)

const subschemaDN = "cn=Subschema"

var (
	classesBase = map[string][]string{
		"dc": {"top", "domain"},
		"o":  {"top", "organization"},
		"ou": {"top", "organizationalUnit"},
		"c":  {"top", "country"},
	}
	classesOU        = []string{"top", "organizationalUnit"}
	classesUser      = []string{"top", "person", "organizationalPerson", "inetOrgPerson"}
	classesGroup     = []string{"top", "groupOfNames"}
	classesService   = []string{"top", "applicationProcess"}
	valTrue          = []string{"TRUE"}
	valFalse         = []string{"FALSE"}
	valSubschema     = []string{subschemaDN}
	valSubschemaNorm = []string{"cn=subschema"}
)

// newLayout derives the layout from a validated config.
func newLayout(c *Config) (*layout, error) {
	rdns, err := normRDNs(c.BaseDN)
	if err != nil {
		return nil, err
	}
	l := &layout{baseDN: c.BaseDN, baseNDN: strings.Join(rdns, ",")}
	d, err := ldap.ParseDN(c.BaseDN)
	if err != nil {
		return nil, err
	}
	ava := d.RDNs[0].Attributes[0]
	l.baseAttr = lookupAttr(ava.Type)
	l.baseValue = ava.Value
	l.baseClass = strings.ToLower(l.baseAttr.name)
	for i, name := range []string{c.PeopleOU, c.GroupsOU, c.PrivilegesOU, c.ServicesOU} {
		l.ous[i] = ouLayout{
			name: name,
			dn:   makeRDN("ou", name) + "," + l.baseDN,
			ndn:  normAVA("ou", name) + "," + l.baseNDN,
		}
	}
	for _, sa := range c.ServiceAccounts {
		l.services = append(l.services, strings.TrimSpace(sa.Name))
	}
	slices.SortFunc(l.services, func(a, b string) int { return strings.Compare(normString(a), normString(b)) })
	l.userClasses, l.groupClasses, l.privClasses = classesUser, classesGroup, classesGroup
	if c.POSIX.Enabled {
		p := c.POSIX.withDefaults()
		l.posix = &p
		l.userClasses = append(slices.Clip(l.userClasses), "posixAccount", "shadowAccount")
		l.groupClasses = append(slices.Clip(l.groupClasses), "posixGroup")
	}
	if c.ActiveDirectory {
		l.ad = true
		l.userClasses = append(slices.Clip(l.userClasses), "user")
		l.groupClasses = append(slices.Clip(l.groupClasses), "group")
		l.privClasses = append(slices.Clip(l.privClasses), "group")
	}
	return l, nil
}

// entryUUID derives an entry's entryUUID (RFC 4530): a name-based UUID,
// version 5 (SHA-1), in the URL namespace, of the name "ldapgate:<kind>:<id>"
// where kind is "user" or "group" and id is the source's immutable id
// (Google's user or group id). It survives renames and store rebuilds, and
// the same Google object gets the same entryUUID in every ldapgate. Entries
// without a source id use "ldapgate:privilege:<name>",
// "ldapgate:service:<name>", and "ldapgate:entry:<normalised DN>" for the
// base and OU entries.
func entryUUID(kind, id string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("ldapgate:"+kind+":"+id)).String()
}

// dnPair is the DN of a tree entry and its position (the order of
// buildTree's loops).
type dnPair struct {
	dn, ndn string
	pos     int32
}

// refsOf appends the positions of the entries of ids found in dns
// (members or groups outside the tree are left out).
func refsOf(dst []int32, ids []string, dns map[string]dnPair) []int32 {
	for _, id := range ids {
		if p, ok := dns[id]; ok {
			dst = append(dst, p.pos)
		}
	}
	return dst
}

// treeBuilder appends entries in preorder.
type treeBuilder struct {
	t *tree
	l *layout
	p packer
	// times shares the strings of equal timestamps (a sync writes many rows
	// with the same time).
	times   map[time.Time]string
	statics map[staticKey]*sharedAttrs
	// cur is the entry being built; its records get memory of their own
	// when the next entry opens (finish).
	cur *Entry
}

type staticKey struct {
	classes      string
	subordinates bool
}

// entryBuilder adds attributes to the entry being built.
type entryBuilder struct {
	*Entry
	p *packer
}

// add appends an attribute whose values normalise with the def's syntax.
// Empty values are left out, and so is an attribute without values.
func (e entryBuilder) add(d *attrDef, vals ...string) { e.p.add(d, vals...) }

// addShared appends an attribute whose values and normal forms are given.
func (e entryBuilder) addShared(d *attrDef, vals, norms []string) { e.p.addNorm(d, vals, norms) }

// refs returns an empty scratch slice for refsOf, to pass to addDNs.
func (e entryBuilder) refs() []int32 { return e.p.refs[:0] }

// addDNs appends a DN-valued attribute naming the tree entries at refs.
func (e entryBuilder) addDNs(d *attrDef, refs []int32) {
	e.p.addRefs(d, refs)
	e.p.refs = refs[:0] // keep the grown scratch
}

// newSpecialEntry starts an entry outside the tree (the RootDSE,
// cn=Subschema); done packs it.
func newSpecialEntry(dn, ndn string, kind entryKind) entryBuilder {
	e := &Entry{dn: dn, ndn: ndn, kind: kind, pos: -1, end: -1, parent: -1, defs: newDefTable()}
	return entryBuilder{e, &packer{defs: e.defs}}
}

func (e entryBuilder) done() *Entry {
	e.own = e.p.take()
	return e.Entry
}

// open appends an entry of the given object classes (the structural one
// is the one after top, or the only one).
func (b *treeBuilder) open(dn, ndn string, kind entryKind, parent int32, classes []string, subordinates bool) entryBuilder {
	if dn == ndn {
		ndn = dn // one string for both
	}
	b.finish()
	shared := b.static(classes, subordinates)
	if len(b.t.entries) == cap(b.t.entries) {
		panic("directory: tree entries miscounted") // entries must not move: builders point into them
	}
	b.t.entries = append(b.t.entries, Entry{dn: dn, ndn: ndn, kind: kind, pos: int32(len(b.t.entries)), parent: parent,
		defs: b.p.defs, shared: shared})
	b.cur = &b.t.entries[len(b.t.entries)-1]
	return entryBuilder{b.cur, &b.p}
}

// openAt opens the entry of a user, group or privilege at the position
// buildTree gave it.
func (b *treeBuilder) openAt(p dnPair, kind entryKind, parent int32, classes []string) entryBuilder {
	e := b.open(p.dn, p.ndn, kind, parent, classes, false)
	if e.pos != p.pos {
		panic("directory: tree entry " + p.dn + " is not where its references point")
	}
	return e
}

// finish packs the entry being built.
func (b *treeBuilder) finish() {
	if b.cur != nil {
		b.cur.own = b.p.take()
		b.cur = nil
	}
}

// static returns the shared head and tail attributes of entries with these
// classes.
func (b *treeBuilder) static(classes []string, subordinates bool) *sharedAttrs {
	k := staticKey{strings.Join(classes, " "), subordinates}
	if s, ok := b.statics[k]; ok {
		return s
	}
	structural := classes[0]
	if len(classes) > 1 {
		structural = classes[1]
	}
	// person, organizationalPerson, inetOrgPerson: the most specific.
	for _, c := range classes {
		if c == "inetOrgPerson" {
			structural = c
		}
	}
	s := &sharedAttrs{}
	b.p.addNorm(atObjectClass, classes, sharedNorms(classes))
	s.head = b.p.take()
	b.p.add(atStructuralClass, structural)
	if subordinates {
		b.p.addNorm(atHasSubordinates, valTrue, valTrue)
	} else {
		b.p.addNorm(atHasSubordinates, valFalse, valFalse)
	}
	b.p.addNorm(atSubschemaSubentry, valSubschema, valSubschemaNorm)
	s.tail = b.p.take()
	b.statics[k] = s
	return s
}

func (b *treeBuilder) addTime(e entryBuilder, d *attrDef, t time.Time) {
	if t.IsZero() {
		return
	}
	s, ok := b.times[t]
	if !ok {
		s = formatGeneralizedTime(t)
		b.times[t] = s
	}
	e.add(d, s)
}

// pair makes a dnPair whose strings are one when dn is already normal.
func pair(dn, ndn string) dnPair {
	if dn == ndn {
		return dnPair{dn: dn, ndn: dn}
	}
	return dnPair{dn: dn, ndn: ndn}
}

// addOperational appends the operational attributes of the entry's own.
func (b *treeBuilder) addOperational(e entryBuilder, uuidValue string, created, modified time.Time) {
	e.add(atEntryUUID, uuidValue)
	self := [1]int32{e.pos}
	e.p.addRefs(atEntryDN, self[:])
	b.addTime(e, atCreateTimestamp, created)
	b.addTime(e, atModifyTimestamp, modified)
}

func sharedNorms(vals []string) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = normString(v)
	}
	return out
}

// buildTree builds the tree of v.
func buildTree(v *store.View, l *layout) *tree {
	t := &tree{view: v, index: make(map[*attrDef]*hashIndex)}
	b := &treeBuilder{t: t, l: l, p: packer{defs: newDefTable()}, times: make(map[time.Time]string),
		statics: make(map[staticKey]*sharedAttrs)}

	// DNs first: members and memberOf refer to them.
	people, groups, privs := l.ous[ouPeople], l.ous[ouGroups], l.ous[ouPrivileges]
	userDN := make(map[string]dnPair, len(v.Users))
	seen := make(map[string]bool, len(v.Users)+len(v.Groups))
	for _, u := range v.Users {
		p := pair(makeRDN("uid", u.UID)+","+people.dn, normAVA("uid", u.UID)+","+people.ndn)
		if strings.TrimSpace(u.UID) == "" || seen[p.ndn] {
			t.skipped = append(t.skipped, "user "+u.ID+" ("+u.PrimaryEmail+")")
			continue
		}
		seen[p.ndn] = true
		userDN[u.ID] = p
	}
	groupDN := make(map[string]dnPair, len(v.Groups))
	for _, g := range v.Groups {
		p := pair(makeRDN("cn", g.CN)+","+groups.dn, normAVA("cn", g.CN)+","+groups.ndn)
		if strings.TrimSpace(g.CN) == "" || seen[p.ndn] {
			t.skipped = append(t.skipped, "group "+g.ID+" ("+g.Email+")")
			continue
		}
		seen[p.ndn] = true
		groupDN[g.ID] = p
	}
	privDN := make(map[string]dnPair, len(v.Privileges))
	for _, p := range v.Privileges {
		d := pair(makeRDN("cn", p.Name)+","+privs.dn, normAVA("cn", p.Name)+","+privs.ndn)
		if strings.TrimSpace(p.Name) == "" || seen[d.ndn] {
			t.skipped = append(t.skipped, "privilege "+p.Name)
			continue
		}
		seen[d.ndn] = true
		privDN[p.Name] = d
	}

	// Positions, in the order the loops below open the entries: the base,
	// the people OU and its users, the groups OU and its groups, the
	// privileges OU and its privileges. Values naming entries (member,
	// memberOf) hold positions.
	next := int32(2)
	for _, u := range v.Users {
		if p, ok := userDN[u.ID]; ok {
			p.pos, next = next, next+1
			userDN[u.ID] = p
		}
	}
	next++
	for _, g := range v.Groups {
		if p, ok := groupDN[g.ID]; ok {
			p.pos, next = next, next+1
			groupDN[g.ID] = p
		}
	}
	next++
	for _, pv := range v.Privileges {
		if p, ok := privDN[pv.Name]; ok {
			p.pos, next = next, next+1
			privDN[pv.Name] = p
		}
	}

	// The base, four OUs and what they hold.
	t.entries = make([]Entry, 0, 5+len(userDN)+len(groupDN)+len(privDN)+len(l.services))
	base := b.open(l.baseDN, l.baseNDN, kindBase, -1, classesBase[l.baseClass], true)
	base.add(l.baseAttr, l.baseValue)
	b.addOperational(base, entryUUID("entry", l.baseNDN), time.Time{}, time.Time{})

	ou := func(i int, children int) entryBuilder {
		o := l.ous[i]
		e := b.open(o.dn, o.ndn, kindOU, base.pos, classesOU, children > 0)
		e.add(atOU, o.name)
		b.addOperational(e, entryUUID("entry", o.ndn), time.Time{}, time.Time{})
		return e
	}
	closeOU := func(e entryBuilder) { e.end = int32(len(t.entries)) }

	var uidNumbers, gidNumbers map[string]uint32
	var memberUIDs map[string][]string
	px := l.posix
	if px != nil {
		uidNumbers, gidNumbers = posixNumbers(v, px)
		memberUIDs = posixGroupUIDs(v, func(id string) bool { _, ok := userDN[id]; return ok })
	}

	// People.
	o := ou(ouPeople, len(userDN))
	for _, u := range v.Users {
		p, ok := userDN[u.ID]
		if !ok {
			continue
		}
		e := b.openAt(p, kindUser, o.pos, l.userClasses)
		e.userID = u.ID
		cn := strings.TrimSpace(u.DisplayName)
		if cn == "" {
			cn = strings.TrimSpace(strings.TrimSpace(u.GivenName) + " " + strings.TrimSpace(u.FamilyName))
		}
		if cn == "" {
			cn = u.UID
		}
		sn := strings.TrimSpace(u.FamilyName)
		if sn == "" {
			sn = cn
		}
		e.add(atUID, u.UID)
		e.add(atCN, cn)
		e.add(atSN, sn)
		e.add(atGivenName, strings.TrimSpace(u.GivenName))
		e.add(atDisplayName, strings.TrimSpace(u.DisplayName))
		e.add(atMail, u.PrimaryEmail)
		e.add(atMailAlternate, u.Aliases...)
		e.add(atOU, u.OrgUnitPath)
		e.add(atAccountStatus, accountStatus(&u.User))
		e.addDNs(atMemberOf, refsOf(refsOf(e.refs(), u.Groups, groupDN), u.Privileges, privDN))
		addUserAttributes(e, u.Attributes) // from custom fields (userattrs.go)
		if px != nil {
			pu := px.user(&u.User, uidNumbers, cn) // Google's values first (posix.go)
			if pu.uidNumber != "" {
				e.add(atUIDNumber, pu.uidNumber)
				e.add(atGIDNumber, pu.gidNumber)
			}
			e.add(atHomeDirectory, pu.home)
			e.add(atLoginShell, pu.shell)
			e.add(atGecos, pu.gecos)
			if !u.Enabled() {
				e.add(atShadowExpire, "1")
			}
		}
		if l.ad {
			e.add(atSAMAccountName, u.UID)
			e.add(atUserPrincipalName, u.PrimaryEmail)
			if u.Enabled() {
				e.add(atUserAccountControl, "512")
			} else {
				e.add(atUserAccountControl, "514")
			}
		}
		b.addOperational(e, entryUUID("user", u.ID), u.CreatedAt, u.UpdatedAt)
		e.end = e.pos + 1
	}
	closeOU(o)

	// Groups.
	o = ou(ouGroups, len(groupDN))
	for _, g := range v.Groups {
		p, ok := groupDN[g.ID]
		if !ok {
			continue
		}
		e := b.openAt(p, kindGroup, o.pos, l.groupClasses)
		e.add(atCN, g.CN)
		e.add(atMail, g.Email)
		e.add(atDescription, g.Description)
		e.addDNs(atMember, refsOf(refsOf(e.refs(), g.MemberUsers, userDN), g.MemberGroups, groupDN))
		e.addDNs(atMemberOf, refsOf(e.refs(), g.MemberOf, groupDN))
		if px != nil {
			if n, ok := gidNumbers[g.ID]; ok {
				e.add(atGIDNumber, formatUint(n))
			}
			e.add(atMemberUID, memberUIDs[g.ID]...)
		}
		if l.ad {
			e.add(atSAMAccountName, g.CN)
		}
		b.addOperational(e, entryUUID("group", g.ID), g.CreatedAt, g.UpdatedAt)
		e.end = e.pos + 1
	}
	closeOU(o)

	// Privileges.
	o = ou(ouPrivileges, len(privDN))
	for _, pv := range v.Privileges {
		p, ok := privDN[pv.Name]
		if !ok {
			continue
		}
		e := b.openAt(p, kindPrivilege, o.pos, l.privClasses)
		e.add(atCN, pv.Name)
		e.addDNs(atMember, refsOf(e.refs(), pv.Users, userDN))
		if l.ad {
			e.add(atSAMAccountName, pv.Name)
		}
		b.addOperational(e, entryUUID("privilege", pv.Name), time.Time{}, time.Time{})
		e.end = e.pos + 1
	}
	closeOU(o)

	// Service accounts.
	svc := l.ous[ouServices]
	o = ou(ouServices, len(l.services))
	for _, name := range l.services {
		dn, ndn := makeRDN("cn", name)+","+svc.dn, normAVA("cn", name)+","+svc.ndn
		if seen[ndn] {
			continue
		}
		seen[ndn] = true
		e := b.open(dn, ndn, kindService, o.pos, classesService, false)
		e.add(atCN, name)
		b.addOperational(e, entryUUID("service", name), time.Time{}, time.Time{})
		e.end = e.pos + 1
	}
	closeOU(o)
	base.end = int32(len(t.entries))
	b.finish()
	b.p.defs.entries = t.entries // for the values that name entries

	t.buildIndex()
	return t
}

func accountStatus(u *store.User) string {
	switch {
	case u.Archived:
		return "archived"
	case u.Suspended:
		return "suspended"
	}
	return "active"
}

func (t *tree) buildIndex() {
	dns := make([]hashPos, len(t.entries))
	values := make(map[*attrDef][]hashPos)
	for i := range t.entries {
		e := &t.entries[i]
		dns[i] = hashPos{hashString(e.ndn), e.pos}
		it := e.attrIter()
		for a, ok := it.next(); ok; a, ok = it.next() {
			if !a.def.indexed {
				continue
			}
			vs := a.norms()
			for n, ok := vs.next(); ok; n, ok = vs.next() {
				values[a.def] = append(values[a.def], hashPos{hashString(n), e.pos})
			}
		}
	}
	t.byDN = newHashIndex(dns)
	for d, ps := range values {
		t.index[d] = newHashIndex(ps)
	}
}

// lookup returns the entry with normalised DN ndn.
func (t *tree) lookup(ndn string) (*Entry, bool) {
	for _, i := range t.byDN.get(ndn) {
		if e := &t.entries[i]; e.ndn == ndn {
			return e, true
		}
	}
	return nil, false
}

// treeCache keeps the tree of the current view. Readers get the tree of the
// latest view; the first reader after a swap builds it while later readers
// wait, so the next search after Live.Store sees the new view.
type treeCache struct {
	cur   atomic.Pointer[tree]
	mu    sync.Mutex
	build func(*store.View) *tree
}

func (c *treeCache) get(live *store.Live) *tree {
	v := live.Load()
	if t := c.cur.Load(); t != nil && t.view == v {
		return t
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v = live.Load() // the latest, so old views are never rebuilt
	if t := c.cur.Load(); t != nil && t.view == v {
		return t
	}
	t := c.build(v)
	c.cur.Store(t)
	return t
}
