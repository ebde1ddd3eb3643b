package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readPages reads req a page of size at a time, from the Page resume (nil:
// from the start), and returns the DNs of each page. before runs before
// each page after the first.
func readPages(t *testing.T, d *Directory, req SearchRequest, size int, before func()) [][]string {
	t.Helper()
	var pages [][]string
	var resume *Page
	for len(pages) < 100 {
		if len(pages) > 0 && before != nil {
			before()
		}
		r := req
		r.Paging = &Paging{Size: size, Resume: resume}
		var dns []string
		next, err := d.Search(context.Background(), serviceID, &r, func(e *Entry, _ Selection) error {
			dns = append(dns, e.dn)
			return nil
		})
		if err != nil {
			t.Fatalf("page %d: %v", len(pages)+1, err)
		}
		pages = append(pages, dns)
		if next == nil {
			return pages
		}
		resume = next
	}
	t.Fatal("no end of pages")
	return nil
}

func userDNs(from, to int, step int) []string {
	var out []string
	for i := from; i != to; i += step {
		out = append(out, fmt.Sprintf("uid=user%07d,ou=people,dc=example,dc=com", i))
	}
	return out
}

// TestSearchPaged: Search hands out a paged read page by page, on the tree
// it started on, and sorted reads in their order; a Page is good only for
// its own query.
func TestSearchPaged(t *testing.T) {
	d, live := newTestDirectory(t)
	live.Store(bigView(25))
	users := SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: mustFilter(t, "(objectClass=person)"), Attributes: []string{"uid"}}

	// A sync that swaps the view in between does not change the read.
	pages := readPages(t, d, users, 10, func() { live.Store(bigView(3)) })
	if diff := cmp.Diff(pages, [][]string{userDNs(0, 10, 1), userDNs(10, 20, 1), userDNs(20, 25, 1)}); diff != "" {
		t.Errorf("paged read (-got +want):\n%s", diff)
	}

	live.Store(bigView(25))
	sorted := users
	sorted.Sort = []SortKey{{Attr: "uid", Reverse: true}}
	if code, attr := ResolveSort(sorted.Sort); code != ResultSuccess {
		t.Fatalf("ResolveSort: %v %s", code, attr)
	}
	pages = readPages(t, d, sorted, 10, nil)
	if diff := cmp.Diff(pages, [][]string{userDNs(24, 14, -1), userDNs(14, 4, -1), userDNs(4, -1, -1)}); diff != "" {
		t.Errorf("sorted paged read (-got +want):\n%s", diff)
	}

	// The first page's Page, for another query, a sorted one, or twice
	// the page size with the same query.
	first := func(req SearchRequest) *Page {
		req.Paging = &Paging{Size: 10}
		p, err := d.Search(context.Background(), serviceID, &req, func(*Entry, Selection) error { return nil })
		if err != nil || p == nil {
			t.Fatalf("first page: %v, %v", p, err)
		}
		return p
	}
	other := users
	other.Filter = mustFilter(t, "(uid=*)")
	for name, tc := range map[string]struct {
		from SearchRequest
		to   SearchRequest
	}{
		"another filter":         {users, other},
		"unsorted, then sorted":  {users, sorted},
		"sorted, then unsorted":  {sorted, users},
		"another bound identity": {users, users},
	} {
		p := first(tc.from)
		req := tc.to
		req.Paging = &Paging{Size: 10, Resume: p}
		id := serviceID
		if name == "another bound identity" {
			id = Identity{Kind: IdentityService, DN: backupDN, Name: "backup"}
		}
		_, err := d.Search(context.Background(), id, &req, func(*Entry, Selection) error { return nil })
		if !errors.Is(err, ErrBadCookie) {
			t.Errorf("%s: %v, want ErrBadCookie", name, err)
		}
	}

	// Size 0 abandons: no entries, no next Page.
	req := users
	req.Paging = &Paging{Size: 0, Resume: first(users)}
	n := 0
	next, err := d.Search(context.Background(), serviceID, &req, func(*Entry, Selection) error { n++; return nil })
	if err != nil || next != nil || n != 0 {
		t.Errorf("size 0: %d entries, next %v, %v", n, next, err)
	}

	// The server's size limit caps each page, not the read.
	d.cfg.SizeLimit = 4
	pages = readPages(t, d, users, 10, nil)
	if len(pages) != 7 || !slices.Equal(pages[0], userDNs(0, 4, 1)) || len(pages[6]) != 1 {
		t.Errorf("pages under a size limit of 4: %v", pages)
	}
}
