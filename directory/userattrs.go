package directory

import (
	"slices"
	"strings"
)

// Extra user attributes: the attribute types that the config may fill from
// custom schema fields of the source (source.google.custom_attributes), with
// their standard definitions (RFC 4519, RFC 2798 for inetOrgPerson, RFC
// 4524 for the COSINE ones, RFC 2079 for labeledURI). They are
// inetOrgPerson's optional attributes that ldapgate does not fill itself,
// so they never clash with the attributes the tree computes. As with
// mailAlternateAddress, the inetOrgPerson definition in cn=Subschema does
// not list them; the directory is read-only and does not enforce it.

var userAttrDefs = []struct {
	def    *attrDef
	single bool // SINGLE-VALUE: only the first value is served
	desc   string
}{
	{&attrDef{name: "employeeNumber", syntax: syntaxString}, true,
		"( 2.16.840.1.113730.3.1.3 NAME 'employeeNumber' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " SINGLE-VALUE )"},
	{&attrDef{name: "employeeType", syntax: syntaxString}, false,
		"( 2.16.840.1.113730.3.1.4 NAME 'employeeType' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )"},
	{&attrDef{name: "departmentNumber", syntax: syntaxString}, false,
		"( 2.16.840.1.113730.3.1.2 NAME 'departmentNumber' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )"},
	{&attrDef{name: "title", syntax: syntaxString}, false,
		"( 2.5.4.12 NAME 'title' SUP name )"},
	{&attrDef{name: "telephoneNumber", syntax: syntaxString}, false,
		"( 2.5.4.20 NAME 'telephoneNumber' EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )"},
	{&attrDef{name: "mobile", syntax: syntaxString}, false,
		"( 0.9.2342.19200300.100.1.41 NAME ( 'mobile' 'mobileTelephoneNumber' ) EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )"},
	{&attrDef{name: "facsimileTelephoneNumber", syntax: syntaxString}, false,
		"( 2.5.4.23 NAME 'facsimileTelephoneNumber' SYNTAX 1.3.6.1.4.1.1466.115.121.1.22 )"},
	{&attrDef{name: "homePhone", syntax: syntaxString}, false,
		"( 0.9.2342.19200300.100.1.20 NAME ( 'homePhone' 'homeTelephoneNumber' ) EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )"},
	{&attrDef{name: "pager", syntax: syntaxString}, false,
		"( 0.9.2342.19200300.100.1.42 NAME ( 'pager' 'pagerTelephoneNumber' ) EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )"},
	{&attrDef{name: "l", syntax: syntaxString}, false,
		"( 2.5.4.7 NAME ( 'l' 'localityName' ) SUP name )"},
	{&attrDef{name: "st", syntax: syntaxString}, false,
		"( 2.5.4.8 NAME ( 'st' 'stateOrProvinceName' ) SUP name )"},
	{&attrDef{name: "street", syntax: syntaxString}, false,
		"( 2.5.4.9 NAME ( 'street' 'streetAddress' ) EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )"},
	{&attrDef{name: "postalCode", syntax: syntaxString}, false,
		"( 2.5.4.17 NAME 'postalCode' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )"},
	{&attrDef{name: "postalAddress", syntax: syntaxString}, false,
		"( 2.5.4.16 NAME 'postalAddress' EQUALITY caseIgnoreListMatch SUBSTR caseIgnoreListSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.41 )"},
	{&attrDef{name: "postOfficeBox", syntax: syntaxString}, false,
		"( 2.5.4.18 NAME 'postOfficeBox' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )"},
	{&attrDef{name: "physicalDeliveryOfficeName", syntax: syntaxString}, false,
		"( 2.5.4.19 NAME 'physicalDeliveryOfficeName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )"},
	{&attrDef{name: "roomNumber", syntax: syntaxString}, false,
		"( 0.9.2342.19200300.100.1.6 NAME 'roomNumber' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )"},
	{&attrDef{name: "businessCategory", syntax: syntaxString}, false,
		"( 2.5.4.15 NAME 'businessCategory' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )"},
	{&attrDef{name: "carLicense", syntax: syntaxString}, false,
		"( 2.16.840.1.113730.3.1.1 NAME 'carLicense' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )"},
	{&attrDef{name: "initials", syntax: syntaxString}, false,
		"( 2.5.4.43 NAME 'initials' SUP name )"},
	{&attrDef{name: "labeledURI", syntax: syntaxString}, false,
		"( 1.3.6.1.4.1.250.1.57 NAME 'labeledURI' EQUALITY caseExactMatch SYNTAX " + synDirectoryString + " )"},
	{&attrDef{name: "preferredLanguage", syntax: syntaxString}, true,
		"( 2.16.840.1.113730.3.1.39 NAME 'preferredLanguage' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " SINGLE-VALUE )"},
}

// userAttrByName maps the lowercased names, aliases and OIDs of the extra
// user attributes to their index in userAttrDefs.
var userAttrByName = func() map[string]int {
	m := make(map[string]int)
	for i, a := range userAttrDefs {
		m[strings.ToLower(a.def.name)] = i
		oid, rest, _ := strings.Cut(strings.TrimPrefix(a.desc, "( "), " NAME ")
		m[oid] = i
		var names []string // NAME 'a' or NAME ( 'a' 'b' )
		if list, ok := strings.CutPrefix(rest, "( "); ok {
			list, _, _ = strings.Cut(list, " )")
			names = strings.Fields(list)
		} else {
			names = strings.Fields(rest)[:1]
		}
		for _, n := range names {
			m[strings.ToLower(strings.Trim(n, "'"))] = i
		}
	}
	return m
}()

func init() {
	for i := range userAttrDefs {
		a := &userAttrDefs[i]
		if d, ok := attrByName[strings.ToLower(a.def.name)]; ok {
			a.def = d // the schema defines it already: one definition
			continue
		}
		schemaAttributeTypes = append(schemaAttributeTypes, struct {
			def  *attrDef
			desc string
		}{a.def, a.desc})
	}
	for name, i := range userAttrByName {
		if _, taken := attrByName[name]; !taken {
			attrByName[name] = userAttrDefs[i].def
		}
	}
}

// UserAttribute returns the canonical name of the attribute type called
// name (by name, alias or OID, ignoring case), and reports whether it is one
// that custom fields of the source may fill (see UserAttributes).
func UserAttribute(name string) (string, bool) {
	i, ok := userAttrByName[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return "", false
	}
	return userAttrDefs[i].def.name, true
}

// UserAttributes returns the names of the attribute types that custom
// fields of the source may fill, sorted.
func UserAttributes() []string {
	out := make([]string, 0, len(userAttrDefs))
	for _, a := range userAttrDefs {
		out = append(out, a.def.name)
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out
}

// addUserAttributes adds a user's extra attributes (store.User.Attributes)
// to its entry, by attribute name; names it does not know are skipped.
func addUserAttributes(e entryBuilder, attrs map[string][]string) {
	if len(attrs) == 0 {
		return
	}
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		i, ok := userAttrByName[strings.ToLower(name)]
		if !ok {
			continue
		}
		vals := attrs[name]
		if userAttrDefs[i].single && len(vals) > 1 {
			vals = vals[:1]
		}
		e.add(userAttrDefs[i].def, vals...)
	}
}
