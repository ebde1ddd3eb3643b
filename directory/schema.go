package directory

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	asn1ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/google/uuid"
)

// syntax decides how values of an attribute are normalised and which
// matching rules apply (RFC 4517).
type syntax uint8

const (
	// syntaxString: Directory String / IA5 String with caseIgnoreMatch,
	// caseIgnoreSubstringsMatch and caseIgnoreOrderingMatch.
	syntaxString syntax = iota
	// syntaxOID: object class names (objectIdentifierMatch on descriptors,
	// i.e. case-insensitive). Substrings allowed, as slapd does for names.
	syntaxOID
	// syntaxDN: distinguishedNameMatch; no substrings, no ordering.
	syntaxDN
	// syntaxTime: Generalized Time, generalizedTimeMatch and OrderingMatch.
	syntaxTime
	// syntaxInteger: integerMatch and integerOrderingMatch.
	syntaxInteger
	// syntaxBoolean: booleanMatch; no ordering.
	syntaxBoolean
	// syntaxUUID: UUIDMatch and UUIDOrderingMatch (RFC 4530).
	syntaxUUID
)

// attrDef describes one attribute type the directory knows.
type attrDef struct {
	name        string // canonical name, as returned to clients
	syntax      syntax
	operational bool // returned only with "+" or by name
	indexed     bool // equality index in the tree
}

// Attribute types. Entries refer to these pointers; filters and requested
// attribute lists are resolved to them once per request.
var (
	atObjectClass          = &attrDef{name: "objectClass", syntax: syntaxOID, indexed: true}
	atDC                   = &attrDef{name: "dc", syntax: syntaxString}
	atO                    = &attrDef{name: "o", syntax: syntaxString}
	atC                    = &attrDef{name: "c", syntax: syntaxString}
	atOU                   = &attrDef{name: "ou", syntax: syntaxString}
	atCN                   = &attrDef{name: "cn", syntax: syntaxString, indexed: true}
	atSN                   = &attrDef{name: "sn", syntax: syntaxString}
	atUID                  = &attrDef{name: "uid", syntax: syntaxString, indexed: true}
	atGivenName            = &attrDef{name: "givenName", syntax: syntaxString}
	atDisplayName          = &attrDef{name: "displayName", syntax: syntaxString}
	atMail                 = &attrDef{name: "mail", syntax: syntaxString, indexed: true}
	atMailAlternate        = &attrDef{name: "mailAlternateAddress", syntax: syntaxString, indexed: true}
	atMemberOf             = &attrDef{name: "memberOf", syntax: syntaxDN, indexed: true}
	atMember               = &attrDef{name: "member", syntax: syntaxDN, indexed: true}
	atDescription          = &attrDef{name: "description", syntax: syntaxString}
	atAccountStatus        = &attrDef{name: "accountStatus", syntax: syntaxString}
	atEntryUUID            = &attrDef{name: "entryUUID", syntax: syntaxUUID, operational: true, indexed: true}
	atEntryDN              = &attrDef{name: "entryDN", syntax: syntaxDN, operational: true}
	atCreateTimestamp      = &attrDef{name: "createTimestamp", syntax: syntaxTime, operational: true}
	atModifyTimestamp      = &attrDef{name: "modifyTimestamp", syntax: syntaxTime, operational: true}
	atHasSubordinates      = &attrDef{name: "hasSubordinates", syntax: syntaxBoolean, operational: true}
	atSubschemaSubentry    = &attrDef{name: "subschemaSubentry", syntax: syntaxDN, operational: true}
	atStructuralClass      = &attrDef{name: "structuralObjectClass", syntax: syntaxOID, operational: true}
	atNamingContexts       = &attrDef{name: "namingContexts", syntax: syntaxDN, operational: true}
	atSupportedLDAPVersion = &attrDef{name: "supportedLDAPVersion", syntax: syntaxInteger, operational: true}
	atSupportedControl     = &attrDef{name: "supportedControl", syntax: syntaxOID, operational: true}
	atSupportedExtension   = &attrDef{name: "supportedExtension", syntax: syntaxOID, operational: true}
	atSupportedFeatures    = &attrDef{name: "supportedFeatures", syntax: syntaxOID, operational: true}
	atSupportedSASL        = &attrDef{name: "supportedSASLMechanisms", syntax: syntaxString, operational: true}
	atVendorName           = &attrDef{name: "vendorName", syntax: syntaxString, operational: true}
	atVendorVersion        = &attrDef{name: "vendorVersion", syntax: syntaxString, operational: true}

	// RFC 2307 / 2307bis (with POSIX enabled).
	atUIDNumber     = &attrDef{name: "uidNumber", syntax: syntaxInteger, indexed: true}
	atGIDNumber     = &attrDef{name: "gidNumber", syntax: syntaxInteger, indexed: true}
	atHomeDirectory = &attrDef{name: "homeDirectory", syntax: syntaxString}
	atLoginShell    = &attrDef{name: "loginShell", syntax: syntaxString}
	atGecos         = &attrDef{name: "gecos", syntax: syntaxString}
	atShadowExpire  = &attrDef{name: "shadowExpire", syntax: syntaxInteger}
	atMemberUID     = &attrDef{name: "memberUid", syntax: syntaxString, indexed: true}

	// Active Directory (with the AD view).
	atSAMAccountName     = &attrDef{name: "sAMAccountName", syntax: syntaxString, indexed: true}
	atUserPrincipalName  = &attrDef{name: "userPrincipalName", syntax: syntaxString, indexed: true}
	atUserAccountControl = &attrDef{name: "userAccountControl", syntax: syntaxInteger}
)

// attrByName resolves lowercased names, well-known aliases and OIDs.
var attrByName = func() map[string]*attrDef {
	m := make(map[string]*attrDef)
	for _, d := range []*attrDef{
		atObjectClass, atDC, atO, atC, atOU, atCN, atSN, atUID, atGivenName, atDisplayName, atMail,
		atMailAlternate, atMemberOf, atMember, atDescription, atAccountStatus, atEntryUUID, atEntryDN,
		atCreateTimestamp, atModifyTimestamp, atHasSubordinates, atSubschemaSubentry, atStructuralClass,
		atNamingContexts, atSupportedLDAPVersion, atSupportedControl, atSupportedExtension,
		atSupportedFeatures, atSupportedSASL, atVendorName, atVendorVersion,
		atUIDNumber, atGIDNumber, atHomeDirectory, atLoginShell, atGecos, atShadowExpire, atMemberUID,
		atSAMAccountName, atUserPrincipalName, atUserAccountControl,
	} {
		m[strings.ToLower(d.name)] = d
	}
	for alias, d := range map[string]*attrDef{
		"2.5.4.0":         atObjectClass,
		"domaincomponent": atDC, "0.9.2342.19200300.100.1.25": atDC,
		"organizationname": atO, "2.5.4.10": atO,
		"countryname": atC, "2.5.4.6": atC,
		"organizationalunitname": atOU, "2.5.4.11": atOU,
		"commonname": atCN, "2.5.4.3": atCN,
		"surname": atSN, "2.5.4.4": atSN,
		"userid": atUID, "0.9.2342.19200300.100.1.1": atUID,
		"gn": atGivenName, "2.5.4.42": atGivenName,
		"2.16.840.1.113730.3.1.241": atDisplayName,
		"rfc822mailbox":             atMail, "0.9.2342.19200300.100.1.3": atMail,
		"2.5.4.31":                   atMember,
		"2.5.4.13":                   atDescription,
		"1.3.6.1.1.16.4":             atEntryUUID,
		"1.3.6.1.1.20":               atEntryDN,
		"2.5.18.1":                   atCreateTimestamp,
		"2.5.18.2":                   atModifyTimestamp,
		"2.5.18.9":                   atHasSubordinates,
		"2.5.18.10":                  atSubschemaSubentry,
		"2.5.21.9":                   atStructuralClass,
		"1.3.6.1.4.1.1466.101.120.5": atNamingContexts,
		"1.3.6.1.1.1.1.0":            atUIDNumber,
		"1.3.6.1.1.1.1.1":            atGIDNumber,
		"1.3.6.1.1.1.1.2":            atGecos,
		"1.3.6.1.1.1.1.3":            atHomeDirectory,
		"1.3.6.1.1.1.1.4":            atLoginShell,
		"1.3.6.1.1.1.1.10":           atShadowExpire,
		"1.3.6.1.1.1.1.12":           atMemberUID,
		"1.2.840.113556.1.4.221":     atSAMAccountName,
		"1.2.840.113556.1.4.656":     atUserPrincipalName,
		"1.2.840.113556.1.4.8":       atUserAccountControl,
	} {
		m[alias] = d
	}
	return m
}()

// lookupAttr resolves an attribute description (RFC 4512 §2.5) to a known
// type. Descriptions with options ("cn;lang-de") and unknown names give nil:
// the directory holds no values with options.
func lookupAttr(desc string) *attrDef {
	if d, ok := attrByName[desc]; ok { // fast path: already lowercase
		return d
	}
	return attrByName[strings.ToLower(desc)]
}

// normalize returns the normalised form of value for the def's syntax, and
// false if value is not valid for it (an assertion that can only be
// Undefined).
func (d *attrDef) normalize(value string) (string, bool) {
	switch d.syntax {
	case syntaxDN:
		n, err := normDN(value)
		return n, err == nil
	case syntaxTime:
		t, err := asn1ber.ParseGeneralizedTime([]byte(value))
		if err != nil || t.Year() < 0 || t.Year() > 9999 {
			return "", false
		}
		return formatTimeNorm(t), true
	case syntaxInteger:
		i, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return "", false
		}
		return strconv.FormatInt(i, 10), true
	case syntaxBoolean:
		switch strings.ToUpper(strings.TrimSpace(value)) {
		case "TRUE":
			return "TRUE", true
		case "FALSE":
			return "FALSE", true
		}
		return "", false
	case syntaxUUID:
		u, err := uuid.Parse(strings.TrimSpace(value))
		if err != nil {
			return "", false
		}
		return u.String(), true
	default:
		return normString(value), true
	}
}

// compare orders two normalised values of the def's syntax.
func (d *attrDef) compare(a, b string) int {
	if d.syntax == syntaxInteger {
		x, _ := strconv.ParseInt(a, 10, 64)
		y, _ := strconv.ParseInt(b, 10, 64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	// Strings compare as normalised; times and UUIDs are normalised to
	// fixed-width forms whose byte order is their value order.
	return strings.Compare(a, b)
}

// hasOrdering reports whether the syntax has an ordering matching rule.
func (d *attrDef) hasOrdering() bool {
	return d.syntax != syntaxDN && d.syntax != syntaxBoolean
}

// hasSubstrings reports whether the syntax has a substrings matching rule.
func (d *attrDef) hasSubstrings() bool {
	return d.syntax == syntaxString || d.syntax == syntaxOID
}

const timeNormLayout = "20060102150405.000000000Z"

func formatTimeNorm(t time.Time) string { return t.UTC().Format(timeNormLayout) }

// formatGeneralizedTime is how timestamps are shown to clients.
func formatGeneralizedTime(t time.Time) string { return t.UTC().Format("20060102150405Z") }

// normString is the caseIgnoreMatch preparation (RFC 4518, simplified):
// lower case, leading and trailing spaces removed, inner runs of spaces
// folded to one. It does not allocate when s is already normal.
func normString(s string) string {
	if isNormASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// normSubstring prepares one substrings assertion component: like
// normString but keeping a leading or trailing space, which is significant
// at a component's edge ("John *" must not match "Johnny").
func normSubstring(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	if space {
		b.WriteByte(' ')
	}
	return b.String()
}

func isNormASCII(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	prevSpace := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf, 'A' <= c && c <= 'Z', c == '\t', c == '\n', c == '\v', c == '\f', c == '\r':
			return false
		case c == ' ':
			if prevSpace {
				return false
			}
			prevSpace = true
		default:
			prevSpace = false
		}
	}
	return true
}
