package portal

import (
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestPaginate: every page stays within the list, past the end is the last
// page, and the links keep the search but not an empty one.
func TestPaginate(t *testing.T) {
	for _, tc := range []struct {
		name         string
		query        string
		total        int
		start, end   int
		from, to, of string
		prev, next   string
	}{
		{"empty", "", 0, 0, 0, "0", "0", "0", "", ""},
		{"one page", "", 45, 0, 45, "1", "45", "45", "", ""},
		{"exactly one page", "", 200, 0, 200, "1", "200", "200", "", ""},
		{"first of two", "q=ann", 201, 0, 200, "1", "200", "201", "", "/admin/users?page=2&q=ann"},
		{"last of two", "page=2&q=ann", 201, 200, 201, "201", "201", "201", "/admin/users?page=1&q=ann", ""},
		{"past the end", "page=99", 1234, 1200, 1234, "1,201", "1,234", "1,234", "/admin/users?page=6", ""},
		{"garbage page", "page=-3", 1234, 0, 200, "1", "200", "1,234", "", "/admin/users?page=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/admin/users?"+tc.query, nil)
			p, start, end := paginate(r, tc.total, url.Values{"q": {r.URL.Query().Get("q")}})
			if start != tc.start || end != tc.end {
				t.Errorf("rows [%d, %d), want [%d, %d)", start, end, tc.start, tc.end)
			}
			if p.From != tc.from || p.To != tc.to || p.Total != tc.of || p.Prev != tc.prev || p.Next != tc.next {
				t.Errorf("pager %+v, want %s–%s of %s, prev %q, next %q", *p, tc.from, tc.to, tc.of, tc.prev, tc.next)
			}
		})
	}
}
