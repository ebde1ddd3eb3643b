package ldapserver

import (
	"crypto/rand"
	"log/slog"
	"math"
	"slices"
)

// Server-side sorting (RFC 2891), for the common case: the result set is
// collected, sorted by the keys' ordering rules and sent; with paged
// results the sorted list is kept with the cookie and handed out page by
// page. Values compare by their normalised form; an entry without the
// attribute sorts after every entry with it (RFC 2891 §2.2), and of several
// values the least (greatest for a reverse key) decides. The size limits
// apply to the collected set (the server's also with paged results, unlike
// an unsorted paged search).

const (
	oidSortRequest  = "1.2.840.113556.1.4.473"
	oidSortResponse = "1.2.840.113556.1.4.474"
	// maxSortKeys bounds the keys of one sort control.
	maxSortKeys = 8
)

type sortKey struct {
	name    string
	def     *attrDef
	reverse bool
}

// parseSortControl decodes a SortKeyList. It returns the keys, or the
// sortResult code that refuses them (protocolError for a malformed value,
// noSuchAttribute for an unknown type, inappropriateMatching for a type
// without an ordering rule) and the offending type.
func parseSortControl(c control) ([]sortKey, ResultCode, string) {
	if !c.hasValue {
		return nil, ResultProtocolError, ""
	}
	seq, rest, err := next(c.value)
	if err != nil || len(rest) != 0 || seq.id != tagSequence {
		return nil, ResultProtocolError, ""
	}
	var keys []sortKey
	it := seq.children()
	for it.more() {
		kt := it.expect(tagSequence, "sortKey")
		if it.err != nil || len(keys) == maxSortKeys {
			return nil, ResultProtocolError, ""
		}
		ki := kt.children()
		k := sortKey{name: ki.expect(tagOctetString, "attributeType").str()}
		for ki.more() {
			e := ki.next()
			switch e.id {
			case classContext | 0: // orderingRule: the type's own is used
			case classContext | 1:
				if len(e.content) != 1 {
					return nil, ResultProtocolError, ""
				}
				k.reverse = e.content[0] != 0
			default:
				return nil, ResultProtocolError, ""
			}
		}
		if ki.err != nil {
			return nil, ResultProtocolError, ""
		}
		k.def = lookupAttr(k.name)
		switch {
		case k.def == nil:
			return nil, ResultNoSuchAttribute, k.name
		case !k.def.hasOrdering():
			return nil, ResultInappropriateMatching, k.name
		}
		keys = append(keys, k)
	}
	if it.err != nil || len(keys) == 0 {
		return nil, ResultProtocolError, ""
	}
	return keys, ResultSuccess, ""
}

// sortValue returns the value of e that k sorts it by.
func sortValue(e *entry, k *sortKey) (string, bool) {
	a, ok := e.attr(k.def)
	if !ok {
		return "", false
	}
	best, has := "", false
	it := a.norms()
	for n, ok := it.next(); ok; n, ok = it.next() {
		if !has {
			best, has = n, true
		} else if c := k.def.compare(n, best); c < 0 != k.reverse && c != 0 {
			best = n
		}
	}
	return best, has
}

func sortEntries(es []*entry, keys []sortKey) {
	type item struct {
		e    *entry
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
			if keys[j].reverse {
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

// sortResponse encodes the sort response control.
func sortResponse(code ResultCode, attr string) func(*encoder) {
	return func(e *encoder) {
		ctl := e.open(tagSequence)
		e.str(tagOctetString, oidSortResponse)
		var v encoder
		seq := v.open(tagSequence)
		v.int(tagEnumerated, int64(code))
		if attr != "" {
			v.str(classContext|0, attr)
		}
		v.close(seq)
		e.bytes(tagOctetString, v.b)
		e.close(ctl)
	}
}

func joinControls(fs ...func(*encoder)) func(*encoder) {
	return func(e *encoder) {
		for _, f := range fs {
			if f != nil {
				f(e)
			}
		}
	}
}

// sortedSearch runs a search with a sort control, paged when pc is set.
// It reports false when the keys cannot be used and the control is not
// critical: the caller then runs the search unsorted.
func (r *request) sortedSearch(req *SearchRequest, sc control, pc *control) bool {
	c := r.c
	keys, code, attr := parseSortControl(sc)
	switch {
	case code == ResultProtocolError:
		r.finish(opSearchDone, &Error{Code: ResultProtocolError, Message: "malformed sort control"}, nil, nil)
		return true
	case code != ResultSuccess && sc.critical:
		r.finish(opSearchDone, &Error{Code: ResultUnavailableCritical, Message: "cannot sort by " + attr}, nil, sortResponse(code, attr))
		return true
	case code != ResultSuccess:
		return false
	}
	var size int64 = math.MaxInt32
	var cookie string
	if pc != nil {
		var err error
		size, cookie, err = parsePagingControl(*pc)
		if err != nil {
			r.finish(opSearchDone, err, nil, nil)
			return true
		}
		if limit := c.srv.cfg.SizeLimit; limit > 0 {
			size = min(size, int64(limit))
		}
	}
	key := pagingKey(r.id, req) + "\x00sort\x00" + string(sc.value)
	var (
		rest    []*entry
		sel     selection
		types   bool
		runErr  error
		fromOld bool
	)
	if cookie != "" {
		c.mu.Lock()
		st := c.pages.take(cookie)
		c.mu.Unlock()
		if st == nil || st.key != key || st.sorted == nil {
			r.finish(opSearchDone, &Error{Code: ResultUnwillingToPerform, Message: "paged results cookie is not valid (stale, or for another query or connection)"},
				nil, pagedResponse(""))
			return true
		}
		rest, sel, types, runErr, fromOld = st.sorted, st.sel, st.types, st.err, true
	}
	if pc != nil && size == 0 {
		r.finish(opSearchDone, nil, nil, pagedResponse(""))
		return true
	}
	if !fromOld {
		_, runErr = c.srv.dir.runSearch(r.ctx, r.id, req, cursor{after: -1, direct: func(en *entry, s selection, t bool) error {
			rest = append(rest, en)
			sel, types = s, t
			return nil
		}}, nil)
		if runErr != nil && resultOf(runErr).Code != ResultSizeLimitExceeded {
			r.finish(opSearchDone, runErr, nil, nil)
			return true
		}
		sortEntries(rest, keys)
	}
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	n := 0
	for len(rest) > 0 && int64(n) < size {
		if err := r.sendEntry(e, rest[0], &sel, types); err != nil {
			return true
		}
		rest = rest[1:]
		n++
	}
	var paged func(*encoder)
	if pc != nil {
		next := ""
		if len(rest) > 0 {
			var b [12]byte
			_, _ = rand.Read(b[:])
			next = string(b[:])
			c.mu.Lock()
			c.pages.put(next, &pageState{key: key, sorted: rest, sel: sel, types: types, err: runErr})
			c.mu.Unlock()
			runErr = nil // reported with the last page
		}
		paged = pagedResponse(next)
	}
	c.logAttrs(slog.LevelDebug, "ldap sorted search", slog.String("base", clientText(req.BaseDN)), slog.Int("entries", n))
	r.finish(opSearchDone, runErr, nil, joinControls(sortResponse(ResultSuccess, ""), paged))
	return true
}
