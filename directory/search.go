package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ldapgate/ldapgate/internal/ber"
)

// Scope is a search scope (RFC 4511 §4.5.1.2).
type Scope int

// Search scopes.
const (
	ScopeBase Scope = 0
	ScopeOne  Scope = 1
	ScopeSub  Scope = 2
)

func (s Scope) String() string {
	switch s {
	case ScopeBase:
		return "base"
	case ScopeOne:
		return "one"
	case ScopeSub:
		return "sub"
	}
	return fmt.Sprintf("scope(%d)", int(s))
}

// SearchRequest is a parsed search.
type SearchRequest struct {
	BaseDN string
	Scope  Scope
	// Filter selects entries; nil means (objectClass=*).
	Filter Filter
	// Attributes lists the attributes to return: names (any case, aliases
	// such as commonName allowed), "*" for all user attributes, "+" for all
	// operational ones, "1.1" for none. Empty means "*".
	Attributes []string
	TypesOnly  bool
	// SizeLimit and TimeLimit are the client's; 0 means none. The server's
	// Config.SizeLimit caps SizeLimit.
	SizeLimit int
	TimeLimit time.Duration
	// Sort, when set, sorts the result set (RFC 2891); see ResolveSort.
	Sort []SortKey
	// Paging, when set, asks for one page of a paged search (RFC 2696).
	Paging *Paging
}

// ctxCheckEvery is how many entries a search looks at between checks of
// its context.
const ctxCheckEvery = 256

// Search runs req as id and calls emit for each result entry with the
// attributes the request selects of it (the connection layer encodes them
// straight from the tree with Selection.AppendEntry). Entries
// come in a stable order (preorder of the tree: people by uid, groups by
// cn, privileges, service accounts), or sorted by req.Sort. With
// req.Paging it returns one page and, if more may follow, the Page to
// resume from (nil otherwise).
//
// It returns nil on success, or an *Error: noSuchObject (with MatchedDN)
// for a base that does not exist, insufficientAccessRights for anonymous
// reads beyond the RootDSE, sizeLimitExceeded after the limit's worth of
// entries, timeLimitExceeded, unavailable when ctx is cancelled,
// ErrBadCookie for a Page of another query, and others; errors from emit
// are returned as they are and end the search.
func (d *Directory) Search(ctx context.Context, id Identity, req *SearchRequest, emit func(e *Entry, sel Selection) error) (*Page, error) {
	switch {
	case req.Sort != nil:
		return d.sortedSearch(ctx, id, req, emit)
	case req.Paging != nil:
		return d.pagedSearch(ctx, id, req, emit)
	}
	_, err := d.runSearch(ctx, id, req, cursor{after: -1}, emit)
	return nil, err
}

// cursor resumes a search (paged results): it runs on tree (nil: the
// current one) and skips the entries at positions up to after.
type cursor struct {
	tree  *tree
	after int32
	// pageSize, when positive, ends the search with errPageFull before
	// the entry that would exceed it; the page size then replaces
	// Config.SizeLimit, which caps it.
	pageSize int
}

// searched is where a search ended: the tree it ran on (nil for the
// RootDSE and cn=Subschema), the position of the last entry emitted and
// how many it emitted.
type searched struct {
	tree    *tree
	last    int32
	entries int
}

// runSearch is Search from a cursor. It returns where the search ended.
// Its state stays on the stack: a search costs no allocation of its own.
func (d *Directory) runSearch(ctx context.Context, id Identity, req *SearchRequest, cur cursor, emit func(*Entry, Selection) error) (searched, error) {
	s := search{
		id:     id,
		filter: req.Filter,
		sel:    newSelection(req.Attributes, req.TypesOnly),
		limit:  sizeLimit(req.SizeLimit, d.cfg.SizeLimit),
		page:   cur.pageSize,
		emit:   emit,
		after:  cur.after,
		last:   cur.after,
	}
	err := d.find(ctx, &s, req, cur)
	return searched{tree: s.tree, last: s.last, entries: s.entries}, err
}

// find runs the search s of req. The context is not part of s: the
// compiler would let s and the callbacks in it escape with it.
func (d *Directory) find(ctx context.Context, s *search, req *SearchRequest, cur cursor) error {
	if cur.pageSize > 0 {
		s.limit = max(req.SizeLimit, 0)
	}
	if req.Scope < ScopeBase || req.Scope > ScopeSub {
		return &Error{Code: ResultProtocolError, Message: "unknown search scope", Err: fmt.Errorf("scope %d", req.Scope)}
	}
	if req.TimeLimit > 0 {
		s.deadline = time.Now().Add(req.TimeLimit)
	}
	if s.filter == nil {
		s.filter = matchAll
	}
	if err := ctx.Err(); err != nil {
		return ctxError(err)
	}
	id := s.id

	// Access is decided on the parsed base before anything is cached:
	// anonymous clients reach only the RootDSE and cn=Subschema.
	rdns, ndn, cached, err := d.bases.get(req.BaseDN)
	if err != nil {
		if !mayReadTree(id) {
			return errAnonymous()
		}
		return &Error{Code: ResultInvalidDNSyntax, Message: "invalid DN syntax", Err: err}
	}
	switch {
	case ndn == "":
		// The RootDSE is not part of any subtree (RFC 4512 §5.1).
		if req.Scope != ScopeBase {
			if !mayReadTree(id) {
				return errAnonymous()
			}
			return &Error{Code: ResultNoSuchObject, Message: "no such object"}
		}
		return s.visit(ctx, d.rootDSE)
	case ndn == subschemaNormalised:
		if req.Scope == ScopeOne {
			return nil
		}
		return s.visit(ctx, d.subschema)
	case !mayReadTree(id):
		return errAnonymous()
	}

	t := cur.tree
	if t == nil {
		t = d.trees.get(d.live)
	}
	if t.view.NeverSynced {
		return errNoData()
	}
	s.tree = t
	s.filter = bindChains(s.filter, t)
	var self string
	if id.Kind == IdentityUser {
		self, _ = normDN(id.DN)
	}
	base, ok := t.lookup(ndn)
	if ok && !cached {
		d.bases.add(req.BaseDN, rdns, ndn)
	}
	if !ok || !canSearchFrom(id, base, self) {
		return &Error{Code: ResultNoSuchObject, Message: "no such object", MatchedDN: t.matched(id, rdns, self)}
	}

	if cands, ok := t.candidates(s.filter); ok {
		if s.after >= 0 {
			i, _ := slices.BinarySearch(cands, s.after+1)
			cands = cands[i:]
		}
		for _, p := range cands {
			e := &t.entries[p]
			if inScope(base, e, req.Scope) {
				if err := s.visit(ctx, e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	switch req.Scope {
	case ScopeBase:
		return s.visit(ctx, base)
	case ScopeOne:
		for i := base.pos + 1; i < base.end; i = t.entries[i].end {
			if i <= s.after {
				continue
			}
			if err := s.visit(ctx, &t.entries[i]); err != nil {
				return err
			}
		}
	default:
		from := max(base.pos, s.after+1)
		if from < base.end {
			for i := from; i < base.end; i++ {
				if err := s.visit(ctx, &t.entries[i]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// errNoData answers a read of the directory before its first sync: an
// empty answer would be taken for the truth (a client that caches "no such
// user", or deletes the users it syncs from the directory).
func errNoData() *Error {
	return &Error{Code: ResultUnavailable, Message: errNoDataYet.Error(), Err: errNoDataYet}
}

func errAnonymous() *Error {
	return &Error{Code: ResultInsufficientAccessRights, Message: "anonymous may read only the root DSE; bind first",
		Err: errors.New("anonymous search outside the root DSE")}
}

func sizeLimit(client, server int) int {
	switch {
	case client <= 0:
		return server
	case server <= 0:
		return client
	}
	return min(client, server)
}

func ctxError(err error) *Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errTimeLimit(err)
	}
	return &Error{Code: ResultUnavailable, Message: "server shutting down", Err: err}
}

func errTimeLimit(err error) *Error {
	return &Error{Code: ResultTimeLimitExceeded, Message: "time limit exceeded", Err: err}
}

func inScope(base, e *Entry, scope Scope) bool {
	switch scope {
	case ScopeBase:
		return e == base
	case ScopeOne:
		return e.parent == base.pos
	}
	return base.pos <= e.pos && e.pos < base.end
}

// search is the state of one running search.
type search struct {
	deadline time.Time // the request's time limit; zero: none
	id       Identity
	filter   Filter
	sel      Selection
	limit    int
	page     int // the page size; 0: not paged
	emit     func(*Entry, Selection) error
	seen     int
	entries  int
	tree     *tree // nil for the RootDSE and cn=Subschema
	after    int32 // entries at positions up to after are skipped
	last     int32 // position of the last entry emitted
}

// visit evaluates e and emits it if it matches and id may read it.
func (s *search) visit(ctx context.Context, e *Entry) error {
	if s.seen++; s.seen%ctxCheckEvery == 0 {
		if err := ctx.Err(); err != nil {
			return ctxError(err)
		}
		if !s.deadline.IsZero() && time.Now().After(s.deadline) {
			return errTimeLimit(context.DeadlineExceeded)
		}
	}
	if e.pos >= 0 && e.pos <= s.after {
		return nil
	}
	if s.filter.eval(e) != triTrue || !canRead(s.id, e) {
		return nil
	}
	if s.limit > 0 && s.entries >= s.limit {
		return &Error{Code: ResultSizeLimitExceeded, Message: "size limit exceeded"}
	}
	if s.page > 0 && s.entries >= s.page {
		return errPageFull
	}
	if err := s.emit(e, s.sel); err != nil {
		return err
	}
	s.entries++
	s.last = e.pos
	return nil
}

// matched returns the DN of the nearest existing ancestor of the DN with
// normalised RDNs rdns that id may know of, for noSuchObject.
func (t *tree) matched(id Identity, rdns []string, self string) string {
	for i := 1; i < len(rdns); i++ {
		if e, ok := t.lookup(strings.Join(rdns[i:], ",")); ok && canSearchFrom(id, e, self) {
			return e.dn
		}
	}
	return ""
}

// candidates returns the positions of the entries that can match f,
// ascending, if the indexes can tell; false means every entry in scope has
// to be evaluated. The caller still evaluates f on each candidate.
//
// An equality match on an indexed attribute reads its index. An and uses
// its smallest indexable part; an or the union of its parts if all are
// indexable. Everything else scans.
func (t *tree) candidates(f Filter) ([]int32, bool) {
	switch f := f.(type) {
	case *extAlias:
		return t.candidates(f.Filter)
	case *cmpFilter:
		def, norm, ok := f.indexKey()
		if !ok {
			return nil, false
		}
		return t.index[def].get(norm), true
	case *andFilter:
		var best []int32
		found := false
		for _, c := range f.fs {
			if l, ok := t.candidates(c); ok && (!found || len(l) < len(best)) {
				best, found = l, true
			}
		}
		return best, found
	case *orFilter:
		if len(f.fs) == 0 {
			return nil, true // (|) is FALSE
		}
		lists := make([][]int32, 0, len(f.fs))
		for _, c := range f.fs {
			l, ok := t.candidates(c)
			if !ok {
				return nil, false
			}
			lists = append(lists, l)
		}
		return union(lists), true
	}
	return nil, false
}

// union merges ascending lists into one without repeats.
func union(lists [][]int32) []int32 {
	switch len(lists) {
	case 0:
		return nil
	case 1:
		return lists[0]
	}
	mid := len(lists) / 2
	a, b := union(lists[:mid]), union(lists[mid:])
	out := make([]int32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// Selection is the resolved attribute list of a search.
type Selection struct {
	allUser, allOper bool
	typesOnly        bool // names without values
	named            []*attrDef
}

func newSelection(attrs []string, typesOnly bool) Selection {
	s := Selection{typesOnly: typesOnly}
	if len(attrs) == 0 {
		s.allUser = true
		return s
	}
	for _, a := range attrs {
		switch a = strings.TrimSpace(a); a {
		case "*":
			s.allUser = true
		case "+":
			s.allOper = true
		case "1.1":
			// No attributes; ignored when others are named (RFC 4511 §4.5.1.8).
		default:
			if d := lookupAttr(a); d != nil {
				s.named = append(s.named, d)
			}
		}
	}
	return s
}

func (s *Selection) wants(d *attrDef) bool {
	if d.operational && s.allOper || !d.operational && s.allUser {
		return true
	}
	for _, n := range s.named {
		if n == d {
			return true
		}
	}
	return false
}

// AppendEntry appends the objectName and attributes of a SearchResultEntry
// (RFC 4511 §4.5.2) for e with the attributes s selects, copied from the
// tree's packed values.
func (s *Selection) AppendEntry(enc *ber.Encoder, e *Entry) {
	enc.Str(ber.TagOctetString, e.dn)
	as := enc.Open(ber.TagSequence)
	it := e.attrIter()
	for a, ok := it.next(); ok; a, ok = it.next() {
		if s.wants(a.def) {
			a.encode(enc, s.typesOnly)
		}
	}
	enc.Close(as)
}
