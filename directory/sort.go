package directory

import (
	"context"
	"math"
	"slices"
)

// Server-side sorting (RFC 2891), for the common case: the result set is
// collected, sorted by the keys' ordering rules and sent; with paged
// results the sorted list is kept in the Page and handed out page by
// page. Values compare by their normalised form; an entry without the
// attribute sorts after every entry with it (RFC 2891 §2.2), and of several
// values the least (greatest for a reverse key) decides. The size limits
// apply to the collected set (the server's also with paged results, unlike
// an unsorted paged search).

// SortKey is one key of a sort control: an attribute type, in reverse
// order or not. ResolveSort resolves the types.
type SortKey struct {
	Attr    string
	Reverse bool
	def     *attrDef
}

// ResolveSort resolves the types of keys for SearchRequest.Sort. It
// returns ResultSuccess, or the sortResult code that refuses the keys
// (noSuchAttribute for an unknown type, inappropriateMatching for a type
// without an ordering rule) and the offending type.
func ResolveSort(keys []SortKey) (ResultCode, string) {
	for i := range keys {
		k := &keys[i]
		k.def = lookupAttr(k.Attr)
		switch {
		case k.def == nil:
			return ResultNoSuchAttribute, k.Attr
		case !k.def.hasOrdering():
			return ResultInappropriateMatching, k.Attr
		}
	}
	return ResultSuccess, ""
}

// sortValue returns the value of e that k sorts it by.
func sortValue(e *Entry, k *SortKey) (string, bool) {
	a, ok := e.attr(k.def)
	if !ok {
		return "", false
	}
	best, has := "", false
	it := a.norms()
	for n, ok := it.next(); ok; n, ok = it.next() {
		if !has {
			best, has = n, true
		} else if c := k.def.compare(n, best); c < 0 != k.Reverse && c != 0 {
			best = n
		}
	}
	return best, has
}

func sortEntries(es []*Entry, keys []SortKey) {
	type item struct {
		e    *Entry
		vals []string
		has  []bool
	}
	items := make([]item, len(es))
	for i, e := range es {
		it := item{e: e, vals: make([]string, len(keys)), has: make([]bool, len(keys))}
		for j := range keys {
			it.vals[j], it.has[j] = sortValue(e, &keys[j])
		}
		items[i] = it
	}
	slices.SortStableFunc(items, func(a, b item) int {
		for j := range keys {
			switch {
			case a.has[j] && !b.has[j]:
				return -1
			case !a.has[j] && b.has[j]:
				return 1
			case !a.has[j]:
				continue
			}
			c := keys[j].def.compare(a.vals[j], b.vals[j])
			if keys[j].Reverse {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	for i := range items {
		es[i] = items[i].e
	}
}

// sortedSearch runs a search of req, whose Sort is resolved: the whole
// result set is collected and sorted, then sent, a page at a time with
// req.Paging.
func (d *Directory) sortedSearch(ctx context.Context, id Identity, req *SearchRequest, emit func(*Entry, Selection) error) (*Page, error) {
	size := math.MaxInt32
	key := pagingKey(id, req)
	var (
		rest    []*Entry
		sel     Selection
		runErr  error
		fromOld bool
	)
	if p := req.Paging; p != nil {
		if st := p.Resume; st != nil {
			if st.key != key || st.sorted == nil {
				return nil, ErrBadCookie
			}
			rest, sel, runErr, fromOld = st.sorted, st.sel, st.err, true
		}
		if p.Size <= 0 {
			return nil, nil
		}
		size = p.Size
		if limit := d.cfg.SizeLimit; limit > 0 {
			size = min(size, limit)
		}
	}
	if !fromOld {
		_, runErr = d.runSearch(ctx, id, req, cursor{after: -1}, func(e *Entry, s Selection) error {
			rest = append(rest, e)
			sel = s
			return nil
		})
		if runErr != nil && ResultOf(runErr).Code != ResultSizeLimitExceeded {
			return nil, runErr
		}
		sortEntries(rest, req.Sort)
	}
	for n := 0; len(rest) > 0 && n < size; n++ {
		if err := emit(rest[0], sel); err != nil {
			return nil, err
		}
		rest = rest[1:]
	}
	if req.Paging != nil && len(rest) > 0 {
		// The search's own result is reported with the last page.
		return &Page{key: key, sorted: rest, sel: sel, err: runErr}, nil
	}
	return nil, runErr
}
