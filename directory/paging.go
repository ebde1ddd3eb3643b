package directory

import (
	"context"
	"errors"
	"strconv"
	"strings"
)

// Paged results (RFC 2696). A page ends just before the entry that would
// exceed the page size; the Page it returns is the state to resume from:
// the query it belongs to, the tree the search runs on (a paged read sees
// one consistent view even when a sync swaps in another), the position of
// the last entry sent and the count so far. The connection layer keeps
// the Pages under its cookies; a Page is good for one next page of the
// same query, anything else is refused with ErrBadCookie.

var errPageFull = errors.New("page full")

// ErrBadCookie refuses a paged search whose cookie names no Page of the
// connection, or one of another query.
var ErrBadCookie = &Error{Code: ResultUnwillingToPerform, Message: "paged results cookie is not valid (stale, or for another query or connection)"}

// Paging asks for one page of a paged search.
type Paging struct {
	// Size bounds the page's entries (Config.SizeLimit caps it); 0
	// abandons the paged search: Search checks Resume and returns.
	Size int
	// Resume is the Page the previous page returned; nil starts anew.
	Resume *Page
}

// Page is where a paged search stands after a full page.
type Page struct {
	key      string
	tree     *tree
	last     int32
	returned int
	// A sorted paged search keeps the rest of its sorted result instead,
	// and the result of the search that collected it.
	sorted []*Entry
	sel    Selection
	err    error
}

// pagingKey identifies a query for its pages: everything but the page
// size must stay the same.
func pagingKey(id Identity, req *SearchRequest) string {
	var b strings.Builder
	b.WriteString(id.Kind.String())
	b.WriteByte(0)
	b.WriteString(id.DN)
	b.WriteByte(0)
	b.WriteString(req.BaseDN)
	b.WriteByte(0)
	b.WriteString(strconv.Itoa(int(req.Scope)))
	b.WriteByte(0)
	b.WriteString(req.Filter.String())
	b.WriteByte(0)
	b.WriteString(strings.Join(req.Attributes, "\x01"))
	b.WriteByte(0)
	b.WriteString(strconv.FormatBool(req.TypesOnly))
	b.WriteByte(0)
	b.WriteString(strconv.Itoa(req.SizeLimit))
	for _, k := range req.Sort {
		b.WriteString("\x00sort\x00")
		b.WriteString(k.Attr)
		b.WriteString(strconv.FormatBool(k.Reverse))
	}
	return b.String()
}

// pagedSearch runs one page of an unsorted paged search.
func (d *Directory) pagedSearch(ctx context.Context, id Identity, req *SearchRequest, emit func(*Entry, Selection) error) (*Page, error) {
	p := req.Paging
	key := pagingKey(id, req)
	cur := cursor{after: -1}
	returned := 0
	if st := p.Resume; st != nil {
		if st.key != key || st.sorted != nil {
			return nil, ErrBadCookie
		}
		cur = cursor{tree: st.tree, after: st.last}
		returned = st.returned
	}
	if p.Size <= 0 {
		return nil, nil
	}
	cur.pageSize = p.Size
	if limit := d.cfg.SizeLimit; limit > 0 {
		cur.pageSize = min(cur.pageSize, limit) // the server's limit caps each page
	}
	preq := *req
	if req.SizeLimit > 0 {
		preq.SizeLimit = req.SizeLimit - returned // the client's limit is for the whole search
		if preq.SizeLimit <= 0 {
			return nil, &Error{Code: ResultSizeLimitExceeded, Message: "size limit exceeded"}
		}
	}
	s, err := d.runSearch(ctx, id, &preq, cur, emit)
	if !errors.Is(err, errPageFull) {
		return nil, err
	}
	if s.tree == nil {
		return nil, nil
	}
	return &Page{key: key, tree: s.tree, last: s.last, returned: returned + s.entries}, nil
}
