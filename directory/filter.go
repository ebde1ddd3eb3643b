package directory

import (
	"fmt"
	"strconv"
	"strings"

	asn1ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/internal/ber"
)

// Filter is a parsed search filter (RFC 4511 §4.5.1.7) with its attribute
// types resolved and assertion values normalised, ready to evaluate against
// entries. Get one from ParseFilter (RFC 4515 string) or ParseFilterBER
// (the BER Filter of a SearchRequest).
type Filter interface {
	// String returns the filter in RFC 4515 form (attribute descriptions
	// as given, assertion values escaped).
	String() string
	eval(e *Entry) tri
}

// tri is a filter result under RFC 4511's three-valued logic.
type tri int8

const (
	triFalse tri = iota
	triTrue
	triUndefined
)

func (t tri) String() string {
	switch t {
	case triTrue:
		return "TRUE"
	case triFalse:
		return "FALSE"
	}
	return "Undefined"
}

// Limits on filters. Deeper or larger filters are refused with
// adminLimitExceeded; no client of a user directory needs more.
const (
	maxFilterDepth = 32
	maxFilterNodes = 2048
	maxFilterBytes = 256 << 10
)

// ParseFilter parses an RFC 4515 filter string. Errors are *Error:
// protocolError wrapping ErrBadFilter for a malformed filter,
// adminLimitExceeded wrapping ErrFilterTooComplex beyond the limits.
func ParseFilter(s string) (Filter, error) {
	if len(s) > maxFilterBytes {
		return nil, tooComplex("%d bytes, more than %d", len(s), maxFilterBytes)
	}
	// ldap.CompileFilter recurses once per parenthesis: bound the depth
	// before handing it the string.
	depth, maxDepth := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
			maxDepth = max(maxDepth, depth)
		case ')':
			depth--
		}
	}
	if maxDepth > maxFilterDepth {
		return nil, tooComplex("nested deeper than %d", maxFilterDepth)
	}
	p, err := ldap.CompileFilter(s)
	if err != nil {
		return nil, &Error{Code: ResultProtocolError, Message: "bad search filter", Err: fmt.Errorf("%w: %w", ErrBadFilter, err)}
	}
	return filterFromPacket(p)
}

// filterFromPacket converts a Filter as go-asn1-ber holds it: what
// ldap.CompileFilter makes of a string. Errors as ParseFilter.
func filterFromPacket(p *asn1ber.Packet) (Filter, error) {
	if p == nil {
		return nil, badFilter("missing filter")
	}
	t, rest, err := ber.Next(p.Bytes())
	if err != nil || len(rest) != 0 {
		return nil, badFilter("%v", err)
	}
	return ParseFilterBER(t)
}

// ParseFilterBER converts a Filter straight from the request's BER, as the
// connection layer decodes it.
func ParseFilterBER(t ber.TLV) (Filter, error) {
	var fp filterParser
	return fp.parse(t, 1)
}

func badFilter(format string, args ...any) *Error {
	return &Error{Code: ResultProtocolError, Message: "bad search filter", Err: fmt.Errorf("%w: "+format, append([]any{ErrBadFilter}, args...)...)}
}

func tooComplex(format string, args ...any) *Error {
	return &Error{Code: ResultAdminLimitExceeded, Message: "search filter too complex", Err: fmt.Errorf("%w: "+format, append([]any{ErrFilterTooComplex}, args...)...)}
}

// filterParser counts the filter's parts (nested filters and substrings
// parts) against maxFilterNodes.
type filterParser struct{ nodes int }

func (fp *filterParser) count() error {
	if fp.nodes++; fp.nodes > maxFilterNodes {
		return tooComplex("more than %d parts", maxFilterNodes)
	}
	return nil
}

func (fp *filterParser) parse(t ber.TLV, depth int) (Filter, error) {
	if depth > maxFilterDepth {
		return nil, tooComplex("nested deeper than %d", maxFilterDepth)
	}
	if err := fp.count(); err != nil {
		return nil, err
	}
	if t.Class() != ber.ClassContext {
		return nil, badFilter("not a filter choice (class %d)", t.Class()>>6)
	}
	switch tag := asn1ber.Tag(t.Tag()); tag {
	case ldap.FilterAnd, ldap.FilterOr:
		if !t.Constructed() {
			return nil, badFilter("primitive and/or")
		}
		var fs []Filter
		it := t.Children()
		for it.More() {
			c := it.Next()
			if it.Err != nil {
				break
			}
			f, err := fp.parse(c, depth+1)
			if err != nil {
				return nil, err
			}
			fs = append(fs, f)
		}
		if it.Err != nil {
			return nil, badFilter("%v", it.Err)
		}
		if fs == nil {
			fs = []Filter{}
		}
		if tag == ldap.FilterAnd {
			return &andFilter{fs}, nil
		}
		return &orFilter{fs}, nil
	case ldap.FilterNot:
		kids, n, err := children2(t)
		if err != nil || n != 1 {
			return nil, badFilter("not must hold one filter")
		}
		f, err := fp.parse(kids[0], depth+1)
		if err != nil {
			return nil, err
		}
		return &notFilter{f}, nil
	case ldap.FilterEqualityMatch, ldap.FilterGreaterOrEqual, ldap.FilterLessOrEqual, ldap.FilterApproxMatch:
		kids, n, err := children2(t)
		if err != nil || n != 2 {
			return nil, badFilter("attribute value assertion must hold a type and a value")
		}
		attr, err := octets(kids[0])
		if err != nil {
			return nil, err
		}
		value, err := octets(kids[1])
		if err != nil {
			return nil, err
		}
		kind := cmpEqual
		switch tag {
		case ldap.FilterGreaterOrEqual:
			kind = cmpGreaterOrEqual
		case ldap.FilterLessOrEqual:
			kind = cmpLessOrEqual
		case ldap.FilterApproxMatch:
			kind = cmpApprox
		}
		return newCmpFilter(kind, attr, value), nil
	case ldap.FilterSubstrings:
		return fp.parseSubstrings(t)
	case ldap.FilterPresent:
		if t.Constructed() {
			return nil, badFilter("constructed present filter")
		}
		attr := t.Str()
		return &presentFilter{attr: attr, def: lookupAttr(attr)}, nil
	case ldap.FilterExtensibleMatch:
		return parseExtensible(t)
	default:
		return nil, badFilter("unknown filter choice %d", tag)
	}
}

// children2 returns the first two children of t and how many it has
// (counting stops at 3).
func children2(t ber.TLV) ([2]ber.TLV, int, error) {
	var kids [2]ber.TLV
	if !t.Constructed() {
		return kids, 0, nil
	}
	n := 0
	it := t.Children()
	for it.More() && n < 3 {
		c := it.Next()
		if n < 2 {
			kids[n] = c
		}
		n++
	}
	return kids, n, it.Err
}

func (fp *filterParser) parseSubstrings(t ber.TLV) (Filter, error) {
	kids, n, err := children2(t)
	if err != nil || n != 2 {
		return nil, badFilter("substrings must hold a type and a sequence")
	}
	attr, err := octets(kids[0])
	if err != nil {
		return nil, err
	}
	seq := kids[1]
	if !seq.Constructed() || len(seq.Content) == 0 {
		return nil, badFilter("substrings without parts")
	}
	f := &substrFilter{attr: attr, def: lookupAttr(attr)}
	it := seq.Children()
	for i := 0; it.More(); i++ {
		c := it.Next()
		if it.Err != nil {
			break
		}
		if err := fp.count(); err != nil {
			return nil, err
		}
		if c.Class() != ber.ClassContext || c.Constructed() {
			return nil, badFilter("substrings part is not a context-specific string")
		}
		v := c.Str()
		switch asn1ber.Tag(c.Tag()) {
		case ldap.FilterSubstringsInitial:
			if i != 0 {
				return nil, badFilter("substrings initial not first")
			}
			f.initial, f.hasInitial = v, true
		case ldap.FilterSubstringsAny:
			if f.hasFinal {
				return nil, badFilter("substrings final not last")
			}
			f.any = append(f.any, v)
		case ldap.FilterSubstringsFinal:
			if f.hasFinal {
				return nil, badFilter("substrings final not last")
			}
			f.final, f.hasFinal = v, true
		default:
			return nil, badFilter("unknown substrings part %d", c.Tag())
		}
	}
	if it.Err != nil {
		return nil, badFilter("%v", it.Err)
	}
	f.nInitial = normSubstring(f.initial)
	f.nFinal = normSubstring(f.final)
	for _, a := range f.any {
		f.nAny = append(f.nAny, normSubstring(a))
	}
	return f, nil
}

func parseExtensible(t ber.TLV) (Filter, error) {
	if !t.Constructed() {
		return nil, badFilter("primitive extensible match")
	}
	f := &extFilter{}
	hasValue := false
	it := t.Children()
	for it.More() {
		c := it.Next()
		if it.Err != nil {
			break
		}
		if c.Class() != ber.ClassContext {
			return nil, badFilter("extensible match part is not context-specific")
		}
		switch asn1ber.Tag(c.Tag()) {
		case ldap.MatchingRuleAssertionMatchingRule:
			f.rule = c.Str()
		case ldap.MatchingRuleAssertionType:
			f.attr = c.Str()
		case ldap.MatchingRuleAssertionMatchValue:
			f.value, hasValue = c.Str(), true
		case ldap.MatchingRuleAssertionDNAttributes:
			f.dnAttrs = len(c.Content) == 1 && c.Content[0] != 0
		default:
			return nil, badFilter("unknown extensible match part %d", c.Tag())
		}
	}
	if it.Err != nil {
		return nil, badFilter("%v", it.Err)
	}
	if !hasValue {
		return nil, badFilter("extensible match without a value")
	}
	if f.rule == "" && f.attr == "" {
		return nil, badFilter("extensible match without a rule or a type")
	}
	return resolveExtensible(f), nil
}

// oidInChain is Active Directory's LDAP_MATCHING_RULE_IN_CHAIN: the
// assertion DN is reached through any number of member/memberOf links.
const oidInChain = "1.2.840.113556.1.4.1941"

// resolveExtensible turns the extensible matches the directory implements
// into filters it evaluates; the rest stay Undefined:
//
//   - no matching rule: an equality match on the type (RFC 4511 §4.5.1.7.7);
//   - in-chain on memberOf: memberOf already holds nested groups, so it is
//     an equality match (and uses the index);
//   - in-chain on member: the groups that hold the asserted entry directly
//     or through nested groups (bound to the tree when the search runs).
//
// The dnAttributes flag is not implemented: such matches are Undefined.
func resolveExtensible(f *extFilter) Filter {
	if f.dnAttrs {
		return f
	}
	def := lookupAttr(f.attr)
	switch {
	case f.rule == "" && def != nil:
		c := newCmpFilter(cmpEqual, f.attr, f.value)
		return &extAlias{Filter: c, ext: f}
	case f.rule == oidInChain && def == atMemberOf:
		c := newCmpFilter(cmpEqual, f.attr, f.value)
		return &extAlias{Filter: c, ext: f}
	case f.rule == oidInChain && def == atMember:
		norm, ok := def.normalize(f.value)
		return &chainFilter{ext: f, norm: norm, valid: ok}
	case (f.rule == oidBitAnd || f.rule == oidBitOr) && def != nil && def.syntax == syntaxInteger:
		mask, err := strconv.ParseUint(strings.TrimSpace(f.value), 10, 64)
		return &bitFilter{ext: f, def: def, mask: mask, or: f.rule == oidBitOr, valid: err == nil}
	}
	return f
}

// Active Directory's bitwise matching rules, e.g. the usual
// (!(userAccountControl:1.2.840.113556.1.4.803:=2)) for enabled accounts.
const (
	oidBitAnd = "1.2.840.113556.1.4.803"
	oidBitOr  = "1.2.840.113556.1.4.804"
)

// bitFilter is a bitwise AND (all bits of mask set) or OR (any bit set)
// match on an integer attribute.
type bitFilter struct {
	ext   *extFilter
	def   *attrDef
	mask  uint64
	or    bool
	valid bool
}

func (f *bitFilter) String() string { return f.ext.String() }

func (f *bitFilter) eval(e *Entry) tri {
	if !f.valid {
		return triUndefined
	}
	a, ok := e.attr(f.def)
	if !ok {
		return triFalse
	}
	it := a.norms()
	for v, ok := it.next(); ok; v, ok = it.next() {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		x := uint64(n)
		if f.or && x&f.mask != 0 || !f.or && x&f.mask == f.mask {
			return triTrue
		}
	}
	return triFalse
}

// extAlias is an extensible match evaluated as another filter; it prints
// as the extensible match.
type extAlias struct {
	Filter
	ext *extFilter
}

func (f *extAlias) String() string { return f.ext.String() }

// chainFilter is (member:1.2.840.113556.1.4.1941:=dn). Unbound (outside a
// search) it is Undefined; bindChains gives a bound copy for a tree.
type chainFilter struct {
	ext    *extFilter
	norm   string
	valid  bool
	groups map[string]struct{} // normalised DNs of the groups holding norm; nil unbound
}

func (f *chainFilter) String() string { return f.ext.String() }

func (f *chainFilter) eval(e *Entry) tri {
	if !f.valid || f.groups == nil {
		return triUndefined
	}
	if _, ok := f.groups[e.ndn]; ok && (e.kind == kindGroup || e.kind == kindPrivilege) {
		return triTrue
	}
	return triFalse
}

// bindChains returns f with its in-chain member matches bound to t (f
// itself when it has none).
func bindChains(f Filter, t *tree) Filter {
	switch f := f.(type) {
	case *chainFilter:
		b := *f
		b.groups = map[string]struct{}{}
		if e, ok := t.lookup(f.norm); ok && f.valid {
			if a, ok := e.attr(atMemberOf); ok {
				it := a.norms()
				for n, ok := it.next(); ok; n, ok = it.next() {
					b.groups[n] = struct{}{}
				}
			}
		}
		return &b
	case *andFilter:
		if fs, changed := bindAll(f.fs, t); changed {
			return &andFilter{fs}
		}
	case *orFilter:
		if fs, changed := bindAll(f.fs, t); changed {
			return &orFilter{fs}
		}
	case *notFilter:
		if b := bindChains(f.f, t); b != f.f {
			return &notFilter{b}
		}
	}
	return f
}

func bindAll(fs []Filter, t *tree) ([]Filter, bool) {
	var out []Filter
	for i, c := range fs {
		b := bindChains(c, t)
		if b != c && out == nil {
			out = append(make([]Filter, 0, len(fs)), fs[:i]...)
		}
		if out != nil {
			out = append(out, b)
		}
	}
	return out, out != nil
}

func octets(t ber.TLV) (string, error) {
	if t.Constructed() {
		return "", badFilter("expected an octet string")
	}
	return t.Str(), nil
}

// andFilter is TRUE if every part is TRUE, FALSE if any is FALSE, and
// Undefined otherwise; "(&)" is TRUE (RFC 4526).
type andFilter struct{ fs []Filter }

func (f *andFilter) eval(e *Entry) tri {
	r := triTrue
	for _, c := range f.fs {
		switch c.eval(e) {
		case triFalse:
			return triFalse
		case triUndefined:
			r = triUndefined
		}
	}
	return r
}

func (f *andFilter) String() string { return "(&" + joinFilters(f.fs) + ")" }

// orFilter is TRUE if any part is TRUE, FALSE if every part is FALSE, and
// Undefined otherwise; "(|)" is FALSE.
type orFilter struct{ fs []Filter }

func (f *orFilter) eval(e *Entry) tri {
	r := triFalse
	for _, c := range f.fs {
		switch c.eval(e) {
		case triTrue:
			return triTrue
		case triUndefined:
			r = triUndefined
		}
	}
	return r
}

func (f *orFilter) String() string { return "(|" + joinFilters(f.fs) + ")" }

func joinFilters(fs []Filter) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
	}
	return b.String()
}

// notFilter swaps TRUE and FALSE; Undefined stays Undefined.
type notFilter struct{ f Filter }

func (f *notFilter) eval(e *Entry) tri {
	switch f.f.eval(e) {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triUndefined
}

func (f *notFilter) String() string { return "(!" + f.f.String() + ")" }

type cmpKind uint8

const (
	cmpEqual cmpKind = iota
	cmpGreaterOrEqual
	cmpLessOrEqual
	cmpApprox // approximate match is equality here
)

var cmpOps = [...]string{cmpEqual: "=", cmpGreaterOrEqual: ">=", cmpLessOrEqual: "<=", cmpApprox: "~="}

// cmpFilter is an equality, ordering or approximate match. It is Undefined
// for an unknown attribute type, a syntax without the needed matching rule,
// or an assertion value that is not valid for the syntax; FALSE when the
// entry has no value that matches (including no value at all).
type cmpFilter struct {
	kind  cmpKind
	attr  string
	value string
	def   *attrDef
	norm  string
	valid bool
}

func newCmpFilter(kind cmpKind, attr, value string) *cmpFilter {
	f := &cmpFilter{kind: kind, attr: attr, value: value, def: lookupAttr(attr)}
	if f.def != nil {
		f.norm, f.valid = f.def.normalize(value)
		if (kind == cmpGreaterOrEqual || kind == cmpLessOrEqual) && !f.def.hasOrdering() {
			f.valid = false
		}
	}
	return f
}

func (f *cmpFilter) eval(e *Entry) tri {
	if f.def == nil || !f.valid {
		return triUndefined
	}
	a, ok := e.attr(f.def)
	if !ok {
		return triFalse
	}
	it := a.norms()
	for n, ok := it.next(); ok; n, ok = it.next() {
		switch f.kind {
		case cmpEqual, cmpApprox:
			if n == f.norm {
				return triTrue
			}
		case cmpGreaterOrEqual:
			if f.def.compare(n, f.norm) >= 0 {
				return triTrue
			}
		case cmpLessOrEqual:
			if f.def.compare(n, f.norm) <= 0 {
				return triTrue
			}
		}
	}
	return triFalse
}

func (f *cmpFilter) String() string {
	return "(" + f.attr + cmpOps[f.kind] + ldap.EscapeFilter(f.value) + ")"
}

// indexKey returns the index and normalised value an equality (or
// approximate) match can be answered from.
func (f *cmpFilter) indexKey() (*attrDef, string, bool) {
	if f.def == nil || !f.valid || !f.def.indexed || (f.kind != cmpEqual && f.kind != cmpApprox) {
		return nil, "", false
	}
	return f.def, f.norm, true
}

// substrFilter matches initial*any*...*final on normalised values; it is
// Undefined for types without a substrings rule (DNs, times, ...).
type substrFilter struct {
	attr                 string
	initial, final       string
	any                  []string
	hasInitial, hasFinal bool
	def                  *attrDef
	nInitial, nFinal     string
	nAny                 []string
}

func (f *substrFilter) eval(e *Entry) tri {
	if f.def == nil || !f.def.hasSubstrings() {
		return triUndefined
	}
	a, ok := e.attr(f.def)
	if !ok {
		return triFalse
	}
	it := a.norms()
	for n, ok := it.next(); ok; n, ok = it.next() {
		if f.match(n) {
			return triTrue
		}
	}
	return triFalse
}

func (f *substrFilter) match(v string) bool {
	if !strings.HasPrefix(v, f.nInitial) {
		return false
	}
	v = v[len(f.nInitial):]
	for _, s := range f.nAny {
		i := strings.Index(v, s)
		if i < 0 {
			return false
		}
		v = v[i+len(s):]
	}
	return strings.HasSuffix(v, f.nFinal)
}

func (f *substrFilter) String() string {
	var b strings.Builder
	b.WriteString("(" + f.attr + "=")
	if f.hasInitial {
		b.WriteString(ldap.EscapeFilter(f.initial))
	}
	b.WriteByte('*')
	for _, a := range f.any {
		b.WriteString(ldap.EscapeFilter(a) + "*")
	}
	if f.hasFinal {
		b.WriteString(ldap.EscapeFilter(f.final))
	}
	b.WriteByte(')')
	return b.String()
}

// presentFilter is TRUE if the entry has the attribute, FALSE if not, and
// Undefined for an unknown attribute type (as slapd does).
type presentFilter struct {
	attr string
	def  *attrDef
}

func (f *presentFilter) eval(e *Entry) tri {
	if f.def == nil {
		return triUndefined
	}
	if _, ok := e.attr(f.def); ok {
		return triTrue
	}
	return triFalse
}

func (f *presentFilter) String() string { return "(" + f.attr + "=*)" }

// extFilter is an extensible match the directory does not implement (see
// resolveExtensible): always Undefined (RFC 4511 §4.5.1.7.7).
type extFilter struct {
	rule, attr, value string
	dnAttrs           bool
}

func (f *extFilter) eval(*Entry) tri { return triUndefined }

func (f *extFilter) String() string {
	var b strings.Builder
	b.WriteString("(" + f.attr)
	if f.dnAttrs {
		b.WriteString(":dn")
	}
	if f.rule != "" {
		b.WriteString(":" + f.rule)
	}
	b.WriteString(":=" + ldap.EscapeFilter(f.value) + ")")
	return b.String()
}

// matchAll is the filter of a search that names none: (objectClass=*).
var matchAll Filter = &presentFilter{attr: "objectClass", def: atObjectClass}
