package directory

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
	"unsafe"

	"github.com/ldapgate/ldapgate/internal/ber"
)

// Entries keep their attributes packed in one byte slice each, so that
// 100k entries cost the garbage collector a few pointers each instead of a
// few dozen, and a search copies most of an entry's bytes instead of
// encoding strings. A record is:
//
//	id    2 bytes, big endian: the type's number in the entry's defTable,
//	      with normFlag or refFlag
//	vals  the BER SET OF value, as a SearchResultEntry carries it (the
//	      type's name is written from the def), or with refFlag: a uvarint
//	      count and that many 4-byte positions of tree entries, whose DNs
//	      are the values (member, memberOf, entryDN: a DN costs 4 bytes)
//	norm  with normFlag: a BER SET OF the values' normal forms, in the same
//	      order, when at least one differs from its value; never for
//	      timestamps, whose normal forms are made when a filter asks
//
// Values are never empty. The strings that vals and norms yield point into
// the packed bytes or are the entries' DNs, which never change once built.

// defTable numbers the attribute types of the entries that share it (the
// entries of one tree, or one special entry), and holds those entries for
// the values that refer to them.
type defTable struct {
	defs    []*attrDef
	ids     map[*attrDef]uint16
	entries []Entry
}

const (
	normFlag = 0x8000
	refFlag  = 0x4000
	idMask   = refFlag - 1
)

func newDefTable() *defTable { return &defTable{ids: make(map[*attrDef]uint16)} }

func (t *defTable) id(d *attrDef) uint16 {
	if id, ok := t.ids[d]; ok {
		return id
	}
	id := uint16(len(t.defs))
	if id > idMask {
		panic("directory: too many attribute types in one tree")
	}
	t.defs = append(t.defs, d)
	t.ids[d] = id
	return id
}

// attrRef is one attribute of an entry.
type attrRef struct {
	def     *attrDef
	set     []byte  // the SET OF value; nil for references
	norm    []byte  // the SET of normal forms; nil when they equal the values
	refs    []byte  // 4-byte positions in entries
	entries []Entry // of the tree, for refs
}

// vals returns the values as shown.
func (a attrRef) vals() values {
	if a.refs != nil {
		return values{refs: a.refs, entries: a.entries}
	}
	return valuesOf(a.set)
}

// norms returns the values' normal forms.
func (a attrRef) norms() values {
	switch {
	case a.refs != nil:
		return values{refs: a.refs, entries: a.entries, ndn: true}
	case a.norm != nil:
		return valuesOf(a.norm)
	case a.def.syntax == syntaxTime:
		it := a.vals()
		it.normalize = a.def
		return it
	}
	return a.vals()
}

// encode appends the attribute as a PartialAttribute; without values for
// a types-only search.
func (a attrRef) encode(e *ber.Encoder, typesOnly bool) {
	pa := e.Open(ber.TagSequence)
	e.Str(ber.TagOctetString, a.def.name)
	switch {
	case typesOnly:
		e.B = append(e.B, ber.TagSet, 0)
	case a.refs != nil:
		set := e.Open(ber.TagSet)
		it := a.vals()
		for v, ok := it.next(); ok; v, ok = it.next() {
			e.Str(ber.TagOctetString, v)
		}
		e.Close(set)
	default:
		e.B = append(e.B, a.set...)
	}
	e.Close(pa)
}

// values walks an attribute's values:
//
//	it := a.vals()
//	for v, ok := it.next(); ok; v, ok = it.next() { ... }
//
// (a struct, not an iter.Seq: a closure per attribute would be an
// allocation per entry in a scan).
type values struct {
	rest      []byte   // the SET's content
	normalize *attrDef // set: yield the values' normal forms
	refs      []byte   // or positions in entries: yield their DNs
	entries   []Entry
	ndn       bool // normalised DNs
}

func valuesOf(set []byte) values {
	h, _ := ber.Span(set)
	return values{rest: set[h:]}
}

func (it *values) next() (string, bool) {
	if it.refs != nil {
		if len(it.refs) == 0 {
			return "", false
		}
		e := &it.entries[binary.LittleEndian.Uint32(it.refs)]
		it.refs = it.refs[4:]
		if it.ndn {
			return e.ndn, true
		}
		return e.dn, true
	}
	c := it.rest
	if len(c) == 0 {
		return "", false
	}
	vh, vn := ber.Span(c)
	it.rest = c[vn:]
	v := ""
	if vn > vh {
		v = unsafe.String(&c[vh], vn-vh)
	}
	if d := it.normalize; d != nil {
		n, ok := d.normalize(v)
		if !ok {
			n = normString(v)
		}
		return n, true
	}
	return v, true
}

func nextRecord(b []byte, defs *defTable) (attrRef, []byte) {
	id := uint16(b[0])<<8 | uint16(b[1])
	b = b[2:]
	a := attrRef{def: defs.defs[id&idMask]}
	if id&refFlag != 0 {
		n, k := binary.Uvarint(b)
		end := k + int(n)*4
		a.refs, a.entries = b[k:end:end], defs.entries
		return a, b[end:]
	}
	_, n := ber.Span(b)
	a.set = b[:n:n]
	b = b[n:]
	if id&normFlag != 0 {
		_, m := ber.Span(b)
		a.norm = b[:m:m]
		b = b[m:]
	}
	return a, b
}

// attr returns the entry's attribute of type d.
func (e *Entry) attr(d *attrDef) (attrRef, bool) {
	for _, part := range e.parts() {
		for b := part; len(b) > 0; {
			var a attrRef
			a, b = nextRecord(b, e.defs)
			if a.def == d {
				return a, true
			}
		}
	}
	return attrRef{}, false
}

// attrIter walks an entry's attributes in the order they are shown:
//
//	it := e.attrIter()
//	for a, ok := it.next(); ok; a, ok = it.next() { ... }
type attrIter struct {
	e    *Entry
	part int
	rest []byte
}

func (e *Entry) attrIter() attrIter { return attrIter{e: e, part: -1} }

func (it *attrIter) next() (attrRef, bool) {
	for len(it.rest) == 0 {
		if it.part++; it.part == 3 {
			return attrRef{}, false
		}
		it.rest = it.e.parts()[it.part]
	}
	var a attrRef
	a, it.rest = nextRecord(it.rest, it.e.defs)
	return a, true
}

// packer packs attributes into records. Finished records are copied into
// large shared chunks (an entry's bytes are a slice of one), which spares
// the allocator a small object per entry.
type packer struct {
	defs  *defTable
	enc   ber.Encoder
	norms []string
	chunk []byte
	// scratch for refsOf and entryBuilder.addDNs
	refs []int32
}

const packChunk = 256 << 10

// add appends an attribute whose values normalise with the def's syntax
// (values that do not normalise are compared as strings). Empty values are
// left out, and so is an attribute without values.
func (p *packer) add(d *attrDef, vals ...string) {
	p.norms = p.norms[:0]
	for _, v := range vals {
		if v == "" {
			continue
		}
		nv := v // timestamps keep no normal forms (see record)
		if d.syntax != syntaxTime {
			var ok bool
			if nv, ok = d.normalize(v); !ok {
				nv = normString(v)
			}
		}
		p.norms = append(p.norms, nv)
	}
	if len(p.norms) == 0 {
		return
	}
	p.record(d, vals, p.norms)
}

// addNorm appends an attribute whose values and normal forms are given
// (same length, no empty values).
func (p *packer) addNorm(d *attrDef, vals, norms []string) {
	if len(vals) > 0 {
		p.record(d, vals, norms)
	}
}

// addRefs appends a DN-valued attribute whose values are the DNs of the
// tree entries at positions.
func (p *packer) addRefs(d *attrDef, positions []int32) {
	if len(positions) == 0 {
		return
	}
	id := p.defs.id(d) | refFlag
	e := &p.enc
	e.B = append(e.B, byte(id>>8), byte(id))
	e.B = binary.AppendUvarint(e.B, uint64(len(positions)))
	for _, pos := range positions {
		e.B = binary.LittleEndian.AppendUint32(e.B, uint32(pos))
	}
}

// record appends one record; norms are the normal forms of vals' non-empty
// values.
func (p *packer) record(d *attrDef, vals, norms []string) {
	e := &p.enc
	idAt := len(e.B)
	id := p.defs.id(d)
	e.B = append(e.B, 0, 0)
	set := e.Open(ber.TagSet)
	differ := false
	i := 0
	for _, v := range vals {
		if v == "" {
			continue
		}
		e.Str(ber.TagOctetString, v)
		differ = differ || norms[i] != v && d.syntax != syntaxTime
		i++
	}
	e.Close(set)
	if differ {
		id |= normFlag
		ns := e.Open(ber.TagSet)
		for _, n := range norms {
			e.Str(ber.TagOctetString, n)
		}
		e.Close(ns)
	}
	e.B[idAt], e.B[idAt+1] = byte(id>>8), byte(id)
}

// take returns the records added since the last take, in memory of their
// own, and starts anew.
func (p *packer) take() []byte {
	n := len(p.enc.B)
	if n == 0 {
		return nil
	}
	if n > packChunk/8 {
		b := slices.Clone(p.enc.B)
		p.enc.Reset()
		return b
	}
	if cap(p.chunk)-len(p.chunk) < n {
		p.chunk = make([]byte, 0, packChunk)
	}
	start := len(p.chunk)
	p.chunk = append(p.chunk, p.enc.B...)
	p.enc.Reset()
	return p.chunk[start : start+n : start+n]
}

// hashIndex maps strings (normalised values, DNs) to ascending positions.
// It keeps hashes, not the strings: a lookup may return positions whose
// string merely hashes alike, so callers check what they get (a search
// evaluates its filter on every candidate anyway). hashes are distinct and
// ascending, the positions of hashes[i] are pos[starts[i]:starts[i+1]],
// and buckets[b] is the first hash whose top bits are b, so a lookup reads
// one bucket.
type hashIndex struct {
	shift   uint8
	buckets []int32
	hashes  []uint64
	starts  []int32
	pos     []int32
}

var hashSeed = maphash.MakeSeed()

func hashString(s string) uint64 { return maphash.String(hashSeed, s) }

// hashPos is one string's hash and position, for building a hashIndex.
type hashPos struct {
	h   uint64
	pos int32
}

// newHashIndex builds an index of the pairs (reordered in place).
func newHashIndex(pairs []hashPos) *hashIndex {
	slices.SortFunc(pairs, func(a, b hashPos) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return int(a.pos - b.pos)
	})
	pairs = slices.Compact(pairs)
	distinct := 0
	for i := range pairs {
		if i == 0 || pairs[i].h != pairs[i-1].h {
			distinct++
		}
	}
	x := &hashIndex{hashes: make([]uint64, 0, distinct), starts: make([]int32, 0, distinct+1), pos: make([]int32, len(pairs))}
	for i, p := range pairs {
		if i == 0 || p.h != pairs[i-1].h {
			x.hashes = append(x.hashes, p.h)
			x.starts = append(x.starts, int32(i))
		}
		x.pos[i] = p.pos
	}
	x.starts = append(x.starts, int32(len(pairs)))
	bits := 1
	for bits < 24 && 1<<bits < len(x.hashes) {
		bits++
	}
	x.shift = uint8(64 - bits)
	x.buckets = make([]int32, 1<<bits+1)
	b := 0
	for i, h := range x.hashes {
		for top := int(h >> x.shift); b <= top; b++ {
			x.buckets[b] = int32(i)
		}
	}
	for ; b < len(x.buckets); b++ {
		x.buckets[b] = int32(len(x.hashes))
	}
	return x
}

// get returns the positions whose string hashes as s does, ascending.
func (x *hashIndex) get(s string) []int32 {
	if x == nil {
		return nil
	}
	h := hashString(s)
	top := h >> x.shift
	for i, end := x.buckets[top], x.buckets[top+1]; i < end; i++ {
		switch {
		case x.hashes[i] < h:
			continue
		case x.hashes[i] == h:
			return x.pos[x.starts[i]:x.starts[i+1]:x.starts[i+1]]
		}
		break
	}
	return nil
}
