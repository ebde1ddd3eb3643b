package directory

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/internal/clientlog"
)

// DNs are compared in a normalised form: every attribute type lowercased
// (and aliases such as commonName resolved to cn), every value prepared as
// by caseIgnoreMatch, multi-valued RDNs sorted, and the result escaped as in
// RFC 4514 with "," between RDNs and no spaces. So
// "UID=Alice, OU=People,DC=example,DC=com" and
// "uid=alice,ou=people,dc=example,dc=com" have the same normal form.

// maxDNBytes bounds the DNs the directory parses: a client's DN (search
// base, bind name, compare entry) longer than any the tree can hold is
// refused before its parse allocates anything like its length.
const maxDNBytes = 4 << 10

var errDNTooLong = fmt.Errorf("dn longer than %d bytes", maxDNBytes)

// normDN parses s (RFC 4514) and returns its normal form. The empty DN is "".
func normDN(s string) (string, error) {
	if len(s) > maxDNBytes {
		return "", errDNTooLong
	}
	if n, ok := normSimpleDN(s); ok {
		return n, nil
	}
	rdns, err := parseNormRDNs(s)
	if err != nil {
		return "", err
	}
	return strings.Join(rdns, ","), nil
}

// normRDNs returns the normalised RDNs of s, leaf first.
func normRDNs(s string) ([]string, error) {
	if len(s) > maxDNBytes {
		return nil, errDNTooLong
	}
	if n, ok := normSimpleDN(s); ok {
		return strings.Split(n, ","), nil
	}
	return parseNormRDNs(s)
}

// dnPlain marks the octets that need no escaping, unescaping or space
// handling in a DN: printable ASCII but for space and the characters RFC
// 4514 gives a meaning ('"', '#', '+', ',', ';', '<', '=', '>', '\').
var dnPlain = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = !strings.ContainsRune(`"#+,;<=>\`, c)
	}
	return t
}()

// normSimpleDN is normDN for the DNs clients nearly always send: RDNs of
// one "type=value" each, both of plain octets (dnPlain), no spaces, no
// escapes. For those it gives what the general path (ParseDN, then normAVA
// on every RDN) gives, without parsing, and s itself when s is in normal
// form already; ok is false for any other DN.
func normSimpleDN(s string) (n string, ok bool) {
	var buf []byte // nil while s up to the current RDN is in normal form
	for start := 0; start < len(s); {
		end := strings.IndexByte(s[start:], ',')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		eq := strings.IndexByte(s[start:end], '=')
		if eq <= 0 || start+eq == end-1 {
			return "", false // no type or no value
		}
		typ, val := s[start:start+eq], s[start+eq+1:end]
		var lower [32]byte
		if len(typ) > len(lower) {
			return "", false
		}
		upper := false
		for i := 0; i < len(typ); i++ {
			c := typ[i]
			if !dnPlain[c] {
				return "", false
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
				upper = true
			}
			lower[i] = c
		}
		def := attrByName[string(lower[:len(typ)])]
		same := !upper && (def == nil || equalLowerASCII(def.name, typ))
		for i := 0; i < len(val); i++ {
			c := val[i]
			if !dnPlain[c] {
				return "", false
			}
			if 'A' <= c && c <= 'Z' {
				same = false
			}
		}
		switch {
		case buf == nil && !same:
			buf = append(make([]byte, 0, len(s)), s[:start]...) // with its last ","
		case buf != nil:
			buf = append(buf, ',')
		}
		if buf != nil {
			if def != nil {
				buf = appendLowerASCII(buf, def.name)
			} else {
				buf = append(buf, lower[:len(typ)]...)
			}
			buf = append(buf, '=')
			buf = appendLowerASCII(buf, val)
		}
		start = end + 1
		if start == len(s) {
			return "", false // a trailing ","
		}
	}
	switch {
	case s == "":
		return "", false
	case buf == nil:
		return s, true
	}
	return string(buf), true
}

func appendLowerASCII(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// equalLowerASCII reports whether the ASCII string s lowercased is lower.
func equalLowerASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parseNormRDNs is normRDNs for any DN, through go-ldap's RFC 4514 parser.
func parseNormRDNs(s string) ([]string, error) {
	d, err := ldap.ParseDN(s)
	if err != nil {
		return nil, fmt.Errorf("invalid DN %q: %w", clientlog.Text(s), err)
	}
	out := make([]string, len(d.RDNs))
	for i, rdn := range d.RDNs {
		if len(rdn.Attributes) == 0 {
			return nil, fmt.Errorf("invalid DN %q: empty RDN", clientlog.Text(s))
		}
		parts := make([]string, len(rdn.Attributes))
		for j, ava := range rdn.Attributes {
			if ava.Type == "" {
				return nil, fmt.Errorf("invalid DN %q: empty attribute type", clientlog.Text(s))
			}
			parts[j] = normAVA(ava.Type, ava.Value)
		}
		slices.Sort(parts)
		out[i] = strings.Join(parts, "+")
	}
	return out, nil
}

// normAVA is the normal form of one attribute type and value.
func normAVA(typ, value string) string {
	t := strings.ToLower(typ)
	if d := lookupAttr(t); d != nil {
		t = strings.ToLower(d.name)
	}
	return t + "=" + escapeDNValue(normString(value))
}

// escapeDNValue escapes an attribute value for a DN string (RFC 4514 §2.4).
func escapeDNValue(v string) string {
	if v == "" {
		return ""
	}
	need := v[0] == ' ' || v[0] == '#' || v[len(v)-1] == ' '
	for i := 0; i < len(v) && !need; i++ {
		switch v[i] {
		case '"', '+', ',', ';', '<', '>', '\\', '=', 0:
			need = true
		}
	}
	if !need {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == 0:
			b.WriteString(`\00`)
			continue
		case c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\' || c == '=':
			b.WriteByte('\\')
		case i == 0 && (c == ' ' || c == '#'):
			b.WriteByte('\\')
		case i == len(v)-1 && c == ' ':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// makeRDN formats "type=value" for a display DN.
func makeRDN(typ, value string) string { return typ + "=" + escapeDNValue(value) }

// dnCache remembers the normalised RDNs of the DNs searches name as their
// base: clients use a handful of bases over and over, and parsing one costs
// more than an indexed search. It holds only bases that exist (see add),
// spelt in at most maxCachedDN bytes, and at most dnCacheSize of them, so
// its size is bounded in bytes too; it starts afresh when full.
type dnCache struct {
	m atomic.Pointer[dnCacheMap]
}

type dnCacheMap struct {
	sync.Map
	n     atomic.Int32
	bytes atomic.Int64 // keys' and normal forms' bytes
}

const (
	dnCacheSize = 1024
	maxCachedDN = 512
)

type cachedRDNs struct {
	rdns []string
	ndn  string
}

// get returns the normalised RDNs of s and their join; the slice is shared
// and must not be modified. cached reports whether they came from the
// cache; add caches them.
func (c *dnCache) get(s string) (rdns []string, ndn string, cached bool, err error) {
	if m := c.m.Load(); m != nil {
		if v, ok := m.Load(s); ok {
			r := v.(*cachedRDNs)
			return r.rdns, r.ndn, true, nil
		}
	}
	rdns, err = normRDNs(s)
	if err != nil {
		return nil, "", false, err
	}
	return rdns, strings.Join(rdns, ","), false, nil
}

// add caches the RDNs of s that get returned. Callers add only bases that
// exist: a client naming distinct made-up bases would otherwise churn the
// cache and keep what it sent.
func (c *dnCache) add(s string, rdns []string, ndn string) {
	if len(s) > maxCachedDN {
		return
	}
	m := c.m.Load()
	if m == nil || m.n.Load() >= dnCacheSize {
		m = &dnCacheMap{}
		c.m.Store(m)
	}
	if _, loaded := m.LoadOrStore(s, &cachedRDNs{rdns: rdns, ndn: ndn}); !loaded {
		m.n.Add(1)
		m.bytes.Add(int64(len(s) + 2*len(ndn)))
	}
}

// IsRootDSE reports whether dn names the RootDSE (the empty DN).
func IsRootDSE(dn string) bool {
	rdns, err := normRDNs(dn)
	return err == nil && len(rdns) == 0
}
