package directory

import (
	"errors"
	"strings"
	"testing"

	asn1ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
)

// testTree builds the tree of the test view.
func testTree(tb testing.TB) (*tree, *Directory) {
	tb.Helper()
	d, live := newTestDirectory(tb)
	return d.trees.get(live), d
}

func entryByDN(tb testing.TB, t *tree, dn string) *Entry {
	tb.Helper()
	n, err := normDN(dn)
	if err != nil {
		tb.Fatal(err)
	}
	e, ok := t.lookup(n)
	if !ok {
		tb.Fatalf("no entry %s", dn)
	}
	return e
}

func TestFilterEval(t *testing.T) {
	tr, d := testTree(t)
	alice := entryByDN(t, tr, aliceDN)
	carol := entryByDN(t, tr, "uid=carol,ou=people,dc=example,dc=com")
	staff := entryByDN(t, tr, staffDN)
	aliceUUID := uuid.NewSHA1(uuid.NameSpaceURL, []byte("ldapgate:user:"+aliceID)).String()

	tests := []struct {
		filter string
		e      *Entry
		want   tri
	}{
		// Equality, case-insensitive names and values.
		{"(uid=alice)", alice, triTrue},
		{"(UID=ALICE)", alice, triTrue},
		{"(userid=Alice)", alice, triTrue},
		{"(0.9.2342.19200300.100.1.1=alice)", alice, triTrue},
		{"(uid=bob)", alice, triFalse},
		{"(objectclass=inetOrgPerson)", alice, triTrue},
		{"(objectClass=PERSON)", alice, triTrue},
		{"(objectClass=groupOfNames)", alice, triFalse},
		{"(mail=Alice@Example.COM)", alice, triTrue},
		{"(mailAlternateAddress=ALICE@alias.example.org)", alice, triTrue},
		{"(mail=a.liddell@example.com)", alice, triFalse},
		{"(cn=alice   liddell)", alice, triTrue}, // insignificant spaces
		{"(cn=  Alice Liddell )", alice, triTrue},
		{"(commonName=alice liddell)", alice, triTrue},
		{"(accountStatus=ACTIVE)", alice, triTrue},
		{"(ou=/staff/engineering)", alice, triTrue},
		{"(cn=\\2a)", alice, triFalse}, // a literal "*"
		// sn and cn fall back.
		{"(sn=carol)", carol, triTrue},
		{"(cn=carol)", carol, triTrue},
		// Present.
		{"(cn=*)", alice, triTrue},
		{"(description=*)", alice, triFalse}, // known, absent
		{"(description=*)", staff, triTrue},
		{"(entryUUID=*)", alice, triTrue}, // operational attributes filter too
		{"(foo=*)", alice, triUndefined},  // unknown type
		{"(cn;lang-de=*)", alice, triUndefined},
		// Substrings.
		{"(cn=Alice*)", alice, triTrue},
		{"(cn=*LIDDELL)", alice, triTrue},
		{"(cn=*ce Li*)", alice, triTrue},
		{"(cn=a*i*l)", alice, triTrue},
		{"(cn=a*z)", alice, triFalse},
		{"(cn=*liddell*alice)", alice, triFalse},  // order matters
		{"(cn=Alice L*Liddell)", alice, triFalse}, // parts must not overlap
		{"(mail=*@example.com)", alice, triTrue},
		{"(memberOf=*devs*)", alice, triUndefined}, // DNs have no substrings rule
		// Ordering.
		{"(uid>=alice)", alice, triTrue},
		{"(uid<=aaa)", alice, triFalse},
		{"(createTimestamp>=20240101000000Z)", alice, triTrue},
		{"(createTimestamp>=20240102030406Z)", alice, triFalse},
		{"(createTimestamp<=20240102030405Z)", alice, triTrue},
		{"(createTimestamp>=20240102050405+0200)", alice, triTrue}, // 03:04:05Z
		{"(createTimestamp>=20240102050406+0200)", alice, triFalse},
		{"(createTimestamp=20240102030405.0Z)", alice, triTrue},
		{"(modifyTimestamp<=2024)", alice, triUndefined}, // not a generalized time
		{"(memberOf>=cn=a)", alice, triUndefined},        // no ordering for DNs
		{"(createTimestamp>=20240101000000Z)", carol, triTrue},
		// Approximate is equality.
		{"(cn~=ALICE LIDDELL)", alice, triTrue},
		{"(cn~=alice)", alice, triFalse},
		// DN-valued attributes compare as normalised DNs, nesting resolved.
		{"(memberOf=CN=Devs, OU=Groups,DC=Example,DC=com)", alice, triTrue},
		{"(memberOf=cn=staff,ou=groups,dc=example,dc=com)", alice, triTrue}, // through eng
		{"(memberOf=cn=login,ou=privileges,dc=example,dc=com)", alice, triTrue},
		{"(memberOf=commonName=eng,organizationalUnitName=groups,dc=example,dc=com)", alice, triTrue},
		{"(memberOf=cn=admin,ou=privileges,dc=example,dc=com)", alice, triFalse},
		{"(memberOf=not a dn)", alice, triUndefined},
		{"(member=UID=Carol, OU=People,DC=example,DC=com)", staff, triTrue},
		{"(member=cn=ENG,ou=groups,dc=example,dc=com)", staff, triTrue},
		{"(member=uid=alice,ou=people,dc=example,dc=com)", staff, triFalse}, // direct members only
		{"(entryDN=UID=Alice,OU=People,DC=example,DC=com)", alice, triTrue},
		// Booleans, UUIDs.
		{"(hasSubordinates=false)", alice, triTrue},
		{"(hasSubordinates=TRUE)", alice, triFalse},
		{"(hasSubordinates=maybe)", alice, triUndefined},
		{"(entryUUID=" + strings.ToUpper(aliceUUID) + ")", alice, triTrue},
		{"(entryUUID=" + uuid.Nil.String() + ")", alice, triFalse},
		{"(entryUUID=xyz)", alice, triUndefined},
		// Extensible match is not implemented: Undefined.
		{"(cn:caseExactMatch:=Alice Liddell)", alice, triUndefined},
		{"(:dn:2.4.8.10:=x)", alice, triUndefined},
		// Three-valued logic.
		{"(!(uid=bob))", alice, triTrue},
		{"(!(uid=alice))", alice, triFalse},
		{"(!(foo=x))", alice, triUndefined},
		{"(&(uid=alice)(foo=x))", alice, triUndefined},
		{"(&(uid=bob)(foo=x))", alice, triFalse},
		{"(|(uid=alice)(foo=x))", alice, triTrue},
		{"(|(uid=bob)(foo=x))", alice, triUndefined},
		{"(!(|(uid=bob)(foo=x)))", alice, triUndefined},
		{"(!(&(uid=bob)(foo=x)))", alice, triTrue},
		{"(&(objectClass=person)(mail=alice@example.com))", alice, triTrue},
		{"(|(mail=alice@alias.example.org)(mailAlternateAddress=alice@alias.example.org))", alice, triTrue},
		// Absolute true and false (RFC 4526).
		{"(&)", alice, triTrue},
		{"(|)", alice, triFalse},
		{"(!(&))", alice, triFalse},
		// Integers compare numerically ("10" sorts before "3" as text).
		{"(supportedLDAPVersion>=10)", d.rootDSE, triFalse},
		{"(supportedLDAPVersion>=2)", d.rootDSE, triTrue},
		{"(supportedLDAPVersion=03)", d.rootDSE, triTrue},
		{"(supportedLDAPVersion=three)", d.rootDSE, triUndefined},
		{"(namingContexts=DC=EXAMPLE,DC=COM)", d.rootDSE, triTrue},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			f := mustFilter(t, tt.filter)
			if got := f.eval(tt.e); got != tt.want {
				t.Errorf("%s on %s = %v, want %v", tt.filter, tt.e.dn, got, tt.want)
			}
			// The same filter from its BER encoding as read off the wire.
			p, err := ldap.CompileFilter(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			wire, err := asn1ber.DecodePacketErr(p.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			g, err := filterFromPacket(wire)
			if err != nil {
				t.Fatalf("filterFromPacket: %v", err)
			}
			if got := g.eval(tt.e); got != tt.want {
				t.Errorf("from BER: %s = %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
}

func TestFilterString(t *testing.T) {
	for _, s := range []string{
		"(uid=alice)",
		"(&(objectClass=person)(|(mail=a@b)(mailAlternateAddress=a@b)))",
		"(!(cn=a\\2ab\\28\\29\\5c))",
		"(cn=ab*cd*ef*gh)",
		"(cn=*x)",
		"(cn=x*)",
		"(createTimestamp>=20240101000000Z)",
		"(uid<=m)",
		"(cn~=x)",
		"(cn:dn:1.2.3:=x)",
		"(cn=*)",
		"(&)",
		"(|)",
	} {
		if got := mustFilter(t, s).String(); got != s {
			t.Errorf("ParseFilter(%q).String() = %q", s, got)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	deep := strings.Repeat("(!", maxFilterDepth) + "(uid=x)" + strings.Repeat(")", maxFilterDepth)
	wide := "(|" + strings.Repeat("(uid=x)", maxFilterNodes) + ")"
	tests := []struct {
		filter string
		code   ResultCode
		is     error
	}{
		{"", ResultProtocolError, ErrBadFilter},
		{"uid=alice", ResultProtocolError, ErrBadFilter},
		{"(uid=alice", ResultProtocolError, ErrBadFilter},
		{"(uid=alice))", ResultProtocolError, ErrBadFilter},
		{"(&(uid=a)(uid=b)", ResultProtocolError, ErrBadFilter},
		{"(uid=\\zz)", ResultProtocolError, ErrBadFilter},
		{"(uid)", ResultProtocolError, ErrBadFilter},
		{"(cn=**)", ResultProtocolError, ErrBadFilter}, // substrings without parts
		{deep, ResultAdminLimitExceeded, ErrFilterTooComplex},
		{wide, ResultAdminLimitExceeded, ErrFilterTooComplex},
		{strings.Repeat("(", 100), ResultAdminLimitExceeded, ErrFilterTooComplex},
	}
	for _, tt := range tests {
		name := tt.filter
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			_, err := ParseFilter(tt.filter)
			if resultCode(err) != tt.code || !errors.Is(err, tt.is) {
				t.Errorf("ParseFilter: %v, want %v wrapping %v", err, tt.code, tt.is)
			}
		})
	}
	// The limits themselves are allowed.
	ok := strings.Repeat("(!", maxFilterDepth-1) + "(uid=x)" + strings.Repeat(")", maxFilterDepth-1)
	if _, err := ParseFilter(ok); err != nil {
		t.Errorf("filter at the depth limit: %v", err)
	}
}

func TestFilterFromPacketErrors(t *testing.T) {
	str := func(tag asn1ber.Tag, s string) *asn1ber.Packet {
		return asn1ber.NewString(asn1ber.ClassUniversal, asn1ber.TypePrimitive, tag, s, "")
	}
	ctxStr := func(tag asn1ber.Tag, s string) *asn1ber.Packet {
		return asn1ber.NewString(asn1ber.ClassContext, asn1ber.TypePrimitive, tag, s, "")
	}
	cons := func(class asn1ber.Class, tag asn1ber.Tag, children ...*asn1ber.Packet) *asn1ber.Packet {
		p := asn1ber.Encode(class, asn1ber.TypeConstructed, tag, nil, "")
		for _, c := range children {
			p.AppendChild(c)
		}
		return p
	}
	tests := map[string]*asn1ber.Packet{
		"nil":                     nil,
		"universal class":         cons(asn1ber.ClassUniversal, asn1ber.TagSequence),
		"unknown choice":          cons(asn1ber.ClassContext, 12),
		"primitive and":           ctxStr(ldap.FilterAnd, ""),
		"empty not":               cons(asn1ber.ClassContext, ldap.FilterNot),
		"not with two":            cons(asn1ber.ClassContext, ldap.FilterNot, ctxStr(ldap.FilterPresent, "cn"), ctxStr(ldap.FilterPresent, "cn")),
		"equality one child":      cons(asn1ber.ClassContext, ldap.FilterEqualityMatch, str(asn1ber.TagOctetString, "cn")),
		"equality constructed":    cons(asn1ber.ClassContext, ldap.FilterEqualityMatch, cons(asn1ber.ClassUniversal, asn1ber.TagSequence), str(asn1ber.TagOctetString, "x")),
		"present constructed":     cons(asn1ber.ClassContext, ldap.FilterPresent),
		"substrings no parts":     cons(asn1ber.ClassContext, ldap.FilterSubstrings, str(asn1ber.TagOctetString, "cn"), cons(asn1ber.ClassUniversal, asn1ber.TagSequence)),
		"substrings initial late": cons(asn1ber.ClassContext, ldap.FilterSubstrings, str(asn1ber.TagOctetString, "cn"), cons(asn1ber.ClassUniversal, asn1ber.TagSequence, ctxStr(1, "a"), ctxStr(0, "b"))),
		"substrings final early":  cons(asn1ber.ClassContext, ldap.FilterSubstrings, str(asn1ber.TagOctetString, "cn"), cons(asn1ber.ClassUniversal, asn1ber.TagSequence, ctxStr(2, "a"), ctxStr(1, "b"))),
		"substrings bad part":     cons(asn1ber.ClassContext, ldap.FilterSubstrings, str(asn1ber.TagOctetString, "cn"), cons(asn1ber.ClassUniversal, asn1ber.TagSequence, ctxStr(7, "a"))),
		"extensible no value":     cons(asn1ber.ClassContext, ldap.FilterExtensibleMatch, ctxStr(2, "cn")),
		"and with bad child":      cons(asn1ber.ClassContext, ldap.FilterAnd, ctxStr(ldap.FilterPresent, "cn"), cons(asn1ber.ClassContext, 15)),
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := filterFromPacket(p)
			if resultCode(err) != ResultProtocolError || !errors.Is(err, ErrBadFilter) {
				t.Errorf("filterFromPacket: %v, want protocolError wrapping ErrBadFilter", err)
			}
		})
	}
}

// FuzzFilter checks that parsing and evaluating any filter (from a string,
// or from bytes taken as a BER packet) never panics, and that a parsed
// filter prints to a string that parses to the same filter.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"(uid=alice)", "(&(objectClass=person)(mail=alice@example.com))",
		"(|(mail=x)(mailAlternateAddress=x))", "(!(cn=*a*b*))", "(cn=a*)", "(cn=*z)",
		"(memberOf=CN=Devs,OU=Groups,DC=example,DC=com)", "(createTimestamp>=20240101000000Z)",
		"(modifyTimestamp<=20240101000000.5+0130)", "(cn~=x)", "(cn:dn:1.2.3:=x)", "(&)", "(|)",
		"(entryUUID=6ba7b811-9dad-11d1-80b4-00c04fd430c8)", "(hasSubordinates=TRUE)",
		"(supportedLDAPVersion>=3)", "(cn=\\2a\\00)", "(foo=*)", "((uid=x))", "(uid=é)",
		"(member=uid=a\\,b,ou=people,dc=example,dc=com)", "(!(!(!(uid=x))))",
	} {
		f.Add(s)
	}
	tr, d := testTree(f)
	entries := allEntries(d, tr)
	f.Fuzz(func(t *testing.T, s string) {
		if flt, err := ParseFilter(s); err == nil {
			for _, e := range entries {
				flt.eval(e)
			}
			tr.candidates(flt)
			again, err := ParseFilter(flt.String())
			if err != nil {
				t.Fatalf("ParseFilter(%q) gave %q, which does not parse: %v", s, flt.String(), err)
			}
			if again.String() != flt.String() {
				t.Fatalf("ParseFilter(%q): %q then %q", s, flt.String(), again.String())
			}
		} else if resultCode(err) != ResultProtocolError && resultCode(err) != ResultAdminLimitExceeded {
			t.Fatalf("ParseFilter(%q): unexpected error %v", s, err)
		}
		if p, err := asn1ber.DecodePacketErr([]byte(s)); err == nil {
			if flt, err := filterFromPacket(p); err == nil {
				for _, e := range entries {
					flt.eval(e)
				}
				_ = flt.String()
			}
		}
	})
}
