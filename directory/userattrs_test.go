package directory

import (
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/store"
)

// A user's extra attributes (from custom fields) are served, found by
// filters, and single-valued ones keep their first value.
func TestUserAttributes(t *testing.T) {
	st := testState()
	st.Users[0].Attributes = map[string][]string{
		"employeeNumber":  {"E-42", "E-43"},
		"telephoneNumber": {"+1 555 0100", "+1 555 0101"},
		"notAnAttribute":  {"x"},
	}
	live := &store.Live{}
	live.Store(store.NewView(st, nil, t1))
	d, err := NewDirectory(testConfig(t), live, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	es, err := searchAll(t, d, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub,
		Filter: mustFilter(t, "(&(employeeNumber=e-42)(telephoneNumber=+1 555 0101))")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dns(es), []string{aliceDN}); diff != "" {
		t.Fatalf("entries (-got +want):\n%s", diff)
	}
	m := attrMap(es[0])
	if diff := cmp.Diff(m["employeeNumber"], []string{"E-42"}); diff != "" {
		t.Errorf("employeeNumber (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(m["telephoneNumber"], []string{"+1 555 0100", "+1 555 0101"}); diff != "" {
		t.Errorf("telephoneNumber (-got +want):\n%s", diff)
	}
	if _, ok := m["notAnAttribute"]; ok {
		t.Error("unknown attribute served")
	}
}

func TestUserAttribute(t *testing.T) {
	for in, want := range map[string]string{
		"employeeNumber": "employeeNumber", "EMPLOYEENUMBER": "employeeNumber",
		"2.16.840.1.113730.3.1.3": "employeeNumber", "mobileTelephoneNumber": "mobile", "localityName": "l",
		"mail": "", "uid": "", "memberOf": "", "name": "", "sup": "", "bogus": "",
	} {
		got, ok := UserAttribute(in)
		if got != want || ok != (want != "") {
			t.Errorf("UserAttribute(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
