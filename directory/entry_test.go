package directory

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	asn1ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/internal/ber"
	"github.com/ldapgate/ldapgate/store"
)

// The packed form must give back every value and normal form, and each
// attribute must encode as a PartialAttribute a client decodes, whatever
// the lengths (short and long BER length forms).
func TestPackedRecords(t *testing.T) {
	long := strings.Repeat("Ab", 150)    // 300 bytes: two-byte length
	huge := strings.Repeat("Xy", 40_000) // 80,000 bytes: three-byte length
	many := make([]string, 300)          // a set longer than 65,535 bytes
	manyNorms := make([]string, len(many))
	for i := range many {
		many[i] = fmt.Sprintf("cn=Member %03d,%s", i, strings.Repeat("ou=x,", 50)) + "dc=example,dc=com"
		manyNorms[i] = strings.ToLower(many[i])
	}
	type want struct {
		def         *attrDef
		vals, norms []string
	}
	cases := []want{
		{atUID, []string{"alice"}, []string{"alice"}},
		{atCN, []string{"Alice  Liddell", long}, []string{"alice liddell", strings.ToLower(long)}},
		{atDescription, []string{huge}, []string{strings.ToLower(huge)}},
		{atMember, many, manyNorms},
		{atCreateTimestamp, []string{"20240102030405Z"}, []string{"20240102030405.000000000Z"}},
	}
	p := &packer{defs: newDefTable()}
	for _, c := range cases {
		if c.def == atMember {
			p.addNorm(c.def, c.vals, c.norms)
			continue
		}
		p.add(c.def, append([]string{""}, c.vals...)...) // empty values are left out
	}
	p.add(atSN) // no values: no record
	e := &Entry{defs: p.defs, own: p.take()}
	it := e.attrIter()
	i := 0
	for a, ok := it.next(); ok; a, ok = it.next() {
		if i >= len(cases) {
			t.Fatalf("extra attribute %s", a.def.name)
		}
		c := cases[i]
		if a.def != c.def {
			t.Fatalf("attribute %d is %s, want %s", i, a.def.name, c.def.name)
		}
		if diff := cmp.Diff(c.vals, a.strings()); diff != "" {
			t.Errorf("%s values (-want +got):\n%s", c.def.name, diff)
		}
		var norms []string
		vs := a.norms()
		for n, ok := vs.next(); ok; n, ok = vs.next() {
			norms = append(norms, n)
		}
		if diff := cmp.Diff(c.norms, norms); diff != "" {
			t.Errorf("%s normal forms (-want +got):\n%s", c.def.name, diff)
		}
		var enc ber.Encoder
		a.encode(&enc, false)
		pkt, err := asn1ber.DecodePacketErr(enc.B)
		if err != nil {
			t.Fatalf("%s: BER: %v", c.def.name, err)
		}
		if len(pkt.Children) != 2 || pkt.Children[0].Value != c.def.name || len(pkt.Children[1].Children) != len(c.vals) {
			t.Fatalf("%s: decoded as %v", c.def.name, pkt)
		}
		for j, v := range pkt.Children[1].Children {
			if v.Data.String() != c.vals[j] {
				t.Errorf("%s value %d decoded as %.20q", c.def.name, j, v.Data.String())
			}
		}
		enc.Reset()
		a.encode(&enc, true)
		if pkt, err := asn1ber.DecodePacketErr(enc.B); err != nil || pkt.Children[0].Value != c.def.name || len(pkt.Children[1].Children) != 0 {
			t.Errorf("%s types only: %v %v", c.def.name, pkt, err)
		}
		i++
	}
	if i != len(cases) {
		t.Errorf("%d attributes, want %d", i, len(cases))
	}
	if _, ok := e.attr(atSN); ok {
		t.Error("an attribute without values was packed")
	}
}

// A timestamp matches the value clients are shown (second precision), even
// when the stored time has a fraction.
func TestTimestampsMatchAsShown(t *testing.T) {
	st := testState()
	st.Users[0].CreatedAt = t0.Add(750 * time.Millisecond)
	live := &store.Live{}
	live.Store(store.NewView(st, nil, t1))
	d, err := NewDirectory(testConfig(t), live, nil)
	if err != nil {
		t.Fatal(err)
	}
	for filter, want := range map[string][]string{
		"(&(uid=alice)(createTimestamp=20240102030405Z))":  {aliceDN},
		"(&(uid=alice)(createTimestamp<=20240102030405Z))": {aliceDN},
		"(&(uid=alice)(createTimestamp>=20240102030406Z))": {},
	} {
		es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, filter)})
		if err != nil {
			t.Fatal(err)
		}
		if got := dns(es); !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Errorf("%s: %v, want %v", filter, got, want)
		}
	}
}

// The hash index returns, for a string, ascending positions that include
// every position holding it (callers check the strings).
func TestHashIndex(t *testing.T) {
	var pairs []hashPos
	holders := map[string][]int32{}
	for pos := int32(0); pos < 5000; pos++ {
		for _, s := range []string{fmt.Sprintf("v%d", pos%1234), fmt.Sprintf("w%d", pos), "common"} {
			pairs = append(pairs, hashPos{hashString(s), pos})
			holders[s] = append(holders[s], pos)
		}
		pairs = append(pairs, hashPos{hashString("common"), pos}) // twice in one entry
	}
	x := newHashIndex(pairs)
	for s, want := range holders {
		got := x.get(s)
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("%s: positions not ascending and distinct: %v", s, got)
		}
		for _, p := range want {
			if _, found := slices.BinarySearch(got, p); !found {
				t.Fatalf("%s: position %d missing", s, p)
			}
		}
	}
	if got := x.get("absent"); len(got) != 0 {
		t.Errorf("absent: %v", got)
	}
	if got := (*hashIndex)(nil).get("x"); got != nil {
		t.Errorf("nil index: %v", got)
	}
}
