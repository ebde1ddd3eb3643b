package ldapserver

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

// attribute is one attribute of an entry with its values as shown and their
// normalised forms (same length; the strings are shared when equal).
type attribute struct {
	def  *attrDef
	vals []string
	norm []string
}

// entry is an immutable directory entry.
type entry struct {
	dn     string // as shown to clients
	ndn    string // normalised (see normDN)
	kind   entryKind
	pos    int32 // index in tree.entries
	end    int32 // one past the last descendant
	parent int32 // -1 for the base entry and the special entries
	userID string
	// The attributes, in the order they are shown: head and tail are
	// shared by all entries of a kind (objectClass; structuralObjectClass,
	// hasSubordinates, subschemaSubentry), attrs are the entry's own.
	head, attrs, tail []attribute
}

func (e *entry) attr(d *attrDef) *attribute {
	for _, as := range e.parts() {
		for i := range as {
			if as[i].def == d {
				return &as[i]
			}
		}
	}
	return nil
}

func (e *entry) parts() [3][]attribute { return [3][]attribute{e.head, e.attrs, e.tail} }

// tree is the directory built from one view.
type tree struct {
	view    *store.View
	entries []*entry
	byDN    map[string]int32
	// index maps an indexed attribute and a normalised value to the
	// positions of the entries holding it, ascending and without repeats.
	index map[*attrDef]*attrIndex
	// positions[i] == i: single-entry index hits are slices of it.
	positions []int32
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

type dnPair struct{ dn, ndn string }

// appendDNs appends the DNs of ids found in dns (members or groups outside
// the tree are left out).
func appendDNs(dst []dnPair, ids []string, dns map[string]dnPair) []dnPair {
	for _, id := range ids {
		if p, ok := dns[id]; ok {
			dst = append(dst, p)
		}
	}
	return dst
}

// treeBuilder appends entries in preorder.
type treeBuilder struct {
	t *tree
	l *layout
	// times shares the strings of equal timestamps (a sync writes many rows
	// with the same time).
	times   map[time.Time][2][]string
	common  map[commonKey]attribute
	statics map[staticKey][2][]attribute
	// cur is the entry being built; its attributes go to scratch and get
	// an exact-size copy when the next entry opens (finish).
	cur     *entry
	scratch []attribute
}

type staticKey struct {
	classes      string
	subordinates bool
}

// open appends an entry of the given object classes (the structural one
// is the one after top, or the only one).
func (b *treeBuilder) open(dn, ndn string, kind entryKind, parent int32, classes []string, subordinates bool) *entry {
	if dn == ndn {
		ndn = dn // one string for both
	}
	b.finish()
	e := &entry{dn: dn, ndn: ndn, kind: kind, pos: int32(len(b.t.entries)), parent: parent, attrs: b.scratch[:0]}
	b.cur = e
	e.head, e.tail = b.static(classes, subordinates)
	b.t.entries = append(b.t.entries, e)
	b.t.byDN[ndn] = e.pos
	return e
}

// finish gives the entry being built an attribute slice of its own, of the
// exact size (100k users with room to spare would waste tens of MB).
func (b *treeBuilder) finish() {
	if b.cur == nil {
		return
	}
	b.scratch = b.cur.attrs[:0]
	b.cur.attrs = slices.Clone(b.cur.attrs)
	b.cur = nil
}

// static returns the shared head and tail attributes of entries with these
// classes.
func (b *treeBuilder) static(classes []string, subordinates bool) ([]attribute, []attribute) {
	k := staticKey{strings.Join(classes, " "), subordinates}
	if s, ok := b.statics[k]; ok {
		return s[0], s[1]
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
	head := &entry{}
	head.addShared(atObjectClass, classes, sharedNorms(classes))
	tail := &entry{}
	tail.add(atStructuralClass, structural)
	if subordinates {
		tail.addShared(atHasSubordinates, valTrue, valTrue)
	} else {
		tail.addShared(atHasSubordinates, valFalse, valFalse)
	}
	tail.addShared(atSubschemaSubentry, valSubschema, valSubschemaNorm)
	b.statics[k] = [2][]attribute{head.attrs, tail.attrs}
	return head.attrs, tail.attrs
}

// add appends an attribute whose values normalise with the def's syntax.
// Empty values are left out, and so is an attribute without values. When
// the values are already normal, vals and norm share one slice.
func (e *entry) add(d *attrDef, vals ...string) {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	if n == 0 {
		return
	}
	vs := make([]string, 0, n)
	var ns []string
	for _, v := range vals {
		if v == "" {
			continue
		}
		nv, ok := d.normalize(v)
		if !ok {
			nv = normString(v)
		}
		if nv != v && ns == nil {
			ns = make([]string, len(vs), n)
			copy(ns, vs)
		}
		vs = append(vs, v)
		if ns != nil {
			ns = append(ns, nv)
		}
	}
	if ns == nil {
		ns = vs
	}
	e.attrs = append(e.attrs, attribute{def: d, vals: vs, norm: ns})
}

// addShared appends an attribute whose values and normal forms are given
// (shared, never modified).
func (e *entry) addShared(d *attrDef, vals, norms []string) {
	if len(vals) > 0 {
		e.attrs = append(e.attrs, attribute{def: d, vals: vals, norm: norms})
	}
}

func (b *treeBuilder) addTime(e *entry, d *attrDef, t time.Time) {
	if t.IsZero() {
		return
	}
	s, ok := b.times[t]
	if !ok {
		s = [2][]string{{formatGeneralizedTime(t)}, {formatTimeNorm(t)}}
		b.times[t] = s
	}
	e.attrs = append(e.attrs, attribute{def: d, vals: s[0], norm: s[1]})
}

func (e *entry) addDNs(d *attrDef, dns []dnPair) {
	if len(dns) == 0 {
		return
	}
	vs := make([]string, len(dns))
	same := true
	for i, p := range dns {
		vs[i] = p.dn
		same = same && p.dn == p.ndn
	}
	ns := vs
	if !same {
		ns = make([]string, len(dns))
		for i, p := range dns {
			ns[i] = p.ndn
		}
	}
	e.attrs = append(e.attrs, attribute{def: d, vals: vs, norm: ns})
}

// addCommon appends a single-valued attribute whose value many entries
// share (account status, org unit): one pair of slices for all.
func (b *treeBuilder) addCommon(e *entry, d *attrDef, v string) {
	if v == "" {
		return
	}
	k := commonKey{d, v}
	a, ok := b.common[k]
	if !ok {
		tmp := &entry{}
		tmp.add(d, v)
		a = tmp.attrs[0]
		b.common[k] = a
	}
	e.attrs = append(e.attrs, a)
}

type commonKey struct {
	def *attrDef
	v   string
}

// pair makes a dnPair whose strings are one when dn is already normal.
func pair(dn, ndn string) dnPair {
	if dn == ndn {
		return dnPair{dn, dn}
	}
	return dnPair{dn, ndn}
}

// addOperational appends the operational attributes of the entry's own.
func (b *treeBuilder) addOperational(e *entry, uuidValue string, created, modified time.Time) {
	e.add(atEntryUUID, uuidValue)
	dn := []string{e.dn}
	if e.ndn == e.dn {
		e.addShared(atEntryDN, dn, dn)
	} else {
		e.addShared(atEntryDN, dn, []string{e.ndn})
	}
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
	t := &tree{
		view:  v,
		byDN:  make(map[string]int32, len(v.Users)+len(v.Groups)+len(v.Privileges)+len(l.services)+5),
		index: make(map[*attrDef]*attrIndex),
	}
	b := &treeBuilder{t: t, l: l, times: make(map[time.Time][2][]string), common: make(map[commonKey]attribute),
		statics: make(map[staticKey][2][]attribute), scratch: make([]attribute, 0, 32)}

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

	base := b.open(l.baseDN, l.baseNDN, kindBase, -1, classesBase[l.baseClass], true)
	base.add(l.baseAttr, l.baseValue)
	b.addOperational(base, entryUUID("entry", l.baseNDN), time.Time{}, time.Time{})

	ou := func(i int, children int) *entry {
		o := l.ous[i]
		e := b.open(o.dn, o.ndn, kindOU, base.pos, classesOU, children > 0)
		e.add(atOU, o.name)
		b.addOperational(e, entryUUID("entry", o.ndn), time.Time{}, time.Time{})
		return e
	}
	closeOU := func(e *entry) { e.end = int32(len(t.entries)) }

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
		e := b.open(p.dn, p.ndn, kindUser, o.pos, l.userClasses, false)
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
		b.addCommon(e, atOU, u.OrgUnitPath)
		b.addCommon(e, atAccountStatus, accountStatus(&u.User))
		memberOf := appendDNs(make([]dnPair, 0, len(u.Groups)+len(u.Privileges)), u.Groups, groupDN)
		e.addDNs(atMemberOf, appendDNs(memberOf, u.Privileges, privDN))
		addUserAttributes(e, u.Attributes) // from custom fields (userattrs.go)
		if px != nil {
			if n, ok := uidNumbers[u.ID]; ok {
				gid := px.PrimaryGID
				if gid == 0 {
					gid = n
				}
				e.add(atUIDNumber, formatUint(n))
				e.add(atGIDNumber, formatUint(gid))
			}
			e.add(atHomeDirectory, px.homeDirectory(&u.User))
			b.addCommon(e, atLoginShell, px.LoginShell)
			e.add(atGecos, cn)
			if !u.Enabled() {
				b.addCommon(e, atShadowExpire, "1")
			}
		}
		if l.ad {
			e.add(atSAMAccountName, u.UID)
			e.add(atUserPrincipalName, u.PrimaryEmail)
			if u.Enabled() {
				b.addCommon(e, atUserAccountControl, "512")
			} else {
				b.addCommon(e, atUserAccountControl, "514")
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
		e := b.open(p.dn, p.ndn, kindGroup, o.pos, l.groupClasses, false)
		e.add(atCN, g.CN)
		e.add(atMail, g.Email)
		e.add(atDescription, g.Description)
		members := appendDNs(make([]dnPair, 0, len(g.MemberUsers)+len(g.MemberGroups)), g.MemberUsers, userDN)
		e.addDNs(atMember, appendDNs(members, g.MemberGroups, groupDN))
		e.addDNs(atMemberOf, appendDNs(make([]dnPair, 0, len(g.MemberOf)), g.MemberOf, groupDN))
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
		e := b.open(p.dn, p.ndn, kindPrivilege, o.pos, l.privClasses, false)
		e.add(atCN, pv.Name)
		e.addDNs(atMember, appendDNs(make([]dnPair, 0, len(pv.Users)), pv.Users, userDN))
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

// attrIndex is the equality index of one attribute: most values (uid,
// mail, entryUUID) belong to one entry, and a map to a position costs a
// third of a map to a slice of one, for the GC too.
type attrIndex struct {
	one  map[string]int32   // values held by exactly one entry
	many map[string][]int32 // values held by several, positions ascending
}

// get returns the positions of the entries holding the normalised value,
// ascending; positions is the tree's identity slice.
func (x *attrIndex) get(norm string, positions []int32) []int32 {
	if x == nil {
		return nil
	}
	if p, ok := x.one[norm]; ok {
		return positions[p : p+1 : p+1]
	}
	return x.many[norm]
}

func (x *attrIndex) add(norm string, pos int32) {
	if p, ok := x.one[norm]; ok {
		if p == pos {
			return // the same value twice in one entry
		}
		delete(x.one, norm)
		x.many[norm] = []int32{p, pos}
		return
	}
	if l, ok := x.many[norm]; ok {
		if l[len(l)-1] != pos {
			x.many[norm] = append(l, pos)
		}
		return
	}
	x.one[norm] = pos
}

func (t *tree) buildIndex() {
	t.positions = make([]int32, len(t.entries))
	for i := range t.positions {
		t.positions[i] = int32(i)
	}
	for _, e := range t.entries {
		for _, as := range e.parts() {
			for _, a := range as {
				if !a.def.indexed {
					continue
				}
				x := t.index[a.def]
				if x == nil {
					x = &attrIndex{one: make(map[string]int32), many: make(map[string][]int32)}
					t.index[a.def] = x
				}
				for _, n := range a.norm {
					x.add(n, e.pos)
				}
			}
		}
	}
}

// lookup returns the entry with normalised DN ndn.
func (t *tree) lookup(ndn string) (*entry, bool) {
	i, ok := t.byDN[ndn]
	if !ok {
		return nil, false
	}
	return t.entries[i], true
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
