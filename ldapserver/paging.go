package ldapserver

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"strings"
)

// Paged results (RFC 2696). A page ends just before the entry that would
// exceed the page size; the cookie then names the state kept on the
// connection: the query it belongs to, the tree the search runs on (a paged
// read sees one consistent view even when a sync swaps in another), the
// position of the last entry sent and the count so far. A cookie is good
// for one next page, on the connection that got it, for the same query;
// anything else is refused with unwillingToPerform.

// maxPagedSearches bounds the paged searches one connection keeps open;
// the oldest is forgotten beyond it.
const maxPagedSearches = 8

var errPageFull = errors.New("page full")

type pageState struct {
	key      string
	tree     *tree
	last     int32
	returned int
	// A sorted paged search keeps the rest of its sorted result instead,
	// and the result of the search that collected it.
	sorted []*entry
	sel    selection
	types  bool
	err    error
}

// pages are a connection's open paged searches, by cookie, oldest first.
type pages struct {
	order []string
	state map[string]*pageState
}

func (p *pages) take(cookie string) *pageState {
	st := p.state[cookie]
	if st != nil {
		delete(p.state, cookie)
		for i, c := range p.order {
			if c == cookie {
				p.order = append(p.order[:i], p.order[i+1:]...)
				break
			}
		}
	}
	return st
}

func (p *pages) put(cookie string, st *pageState) {
	if p.state == nil {
		p.state = make(map[string]*pageState)
	}
	if len(p.order) >= maxPagedSearches {
		delete(p.state, p.order[0])
		p.order = p.order[1:]
	}
	p.state[cookie] = st
	p.order = append(p.order, cookie)
}

// pagingKey identifies a query for its cookies: everything but the page
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
	return b.String()
}

func parsePagingControl(c control) (int64, string, error) {
	bad := &Error{Code: ResultProtocolError, Message: "malformed paged results control"}
	if !c.hasValue {
		return 0, "", bad
	}
	seq, rest, err := next(c.value)
	if err != nil || len(rest) != 0 || seq.id != tagSequence {
		return 0, "", bad
	}
	it := seq.children()
	sizeT := it.expect(tagInteger, "size")
	cookie := it.expect(tagOctetString, "cookie")
	if it.err != nil || it.more() {
		return 0, "", bad
	}
	size, err := parseInt(sizeT.content)
	if err != nil || size < 0 {
		return 0, "", bad
	}
	return size, cookie.str(), nil
}

// pagedSearch runs one page of a paged search.
func (r *request) pagedSearch(req *SearchRequest, pc control) {
	c := r.c
	size, cookie, err := parsePagingControl(pc)
	if err != nil {
		r.finish(opSearchDone, err, nil, nil)
		return
	}
	key := pagingKey(r.id, req)
	cur := cursor{after: -1}
	returned := 0
	if cookie != "" {
		c.mu.Lock()
		st := c.pages.take(cookie)
		c.mu.Unlock()
		if st == nil || st.key != key || st.sorted != nil {
			c.logAttrs(slog.LevelDebug, "ldap paged search: stale or foreign cookie")
			r.finish(opSearchDone, &Error{Code: ResultUnwillingToPerform, Message: "paged results cookie is not valid (stale, or for another query or connection)"},
				nil, pagedResponse(""))
			return
		}
		cur = cursor{tree: st.tree, after: st.last}
		returned = st.returned
	}
	if size == 0 {
		// RFC 2696 §3: a size of zero abandons the paged search.
		r.finish(opSearchDone, nil, nil, pagedResponse(""))
		return
	}
	if limit := c.srv.cfg.SizeLimit; limit > 0 {
		size = min(size, int64(limit)) // the server's limit caps each page
	}
	size = min(size, math.MaxInt32)
	preq := *req
	if req.SizeLimit > 0 {
		preq.SizeLimit = req.SizeLimit - returned // the client's limit is for the whole search
		if preq.SizeLimit <= 0 {
			r.finish(opSearchDone, &Error{Code: ResultSizeLimitExceeded, Message: "size limit exceeded"}, nil, pagedResponse(""))
			return
		}
	}
	cur.clientLimitOnly = true // the server's limit caps the pages, not the whole read
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	n := 0
	cur.direct = func(en *entry, sel selection, typesOnly bool) error {
		if int64(n) == size {
			return errPageFull
		}
		n++
		return r.sendEntry(e, en, &sel, typesOnly)
	}
	s, err := c.srv.dir.runSearch(r.ctx, r.id, &preq, cur, nil)
	next := ""
	if errors.Is(err, errPageFull) {
		err = nil
		if s.tree != nil {
			var b [12]byte
			_, _ = rand.Read(b[:])
			next = string(b[:])
			c.mu.Lock()
			c.pages.put(next, &pageState{key: key, tree: s.tree, last: s.last, returned: returned + s.entries})
			c.mu.Unlock()
		}
	}
	r.logSearch(req, n, err)
	r.finish(opSearchDone, err, nil, pagedResponse(next))
}

// pagedResponse encodes the paged results response control.
func pagedResponse(cookie string) func(*encoder) {
	return func(e *encoder) {
		ctl := e.open(tagSequence)
		e.str(tagOctetString, oidPagedResults)
		var v encoder
		seq := v.open(tagSequence)
		v.int(tagInteger, 0) // size estimate: unknown
		v.str(tagOctetString, cookie)
		v.close(seq)
		e.bytes(tagOctetString, v.b)
		e.close(ctl)
	}
}
