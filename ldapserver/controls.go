package ldapserver

import (
	"crypto/rand"
	"math"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/ber"
)

// The search controls: paged results (RFC 2696) and server-side sorting
// (RFC 2891). Their values are decoded and encoded here; the result sets
// they ask for are the directory's (Directory.Search, paging.go, sort.go).
// A paged search's cookie names a Page kept on the connection that got it.

const (
	oidSortRequest  = "1.2.840.113556.1.4.473"
	oidSortResponse = "1.2.840.113556.1.4.474"
	// maxSortKeys bounds the keys of one sort control.
	maxSortKeys = 8
	// maxPagedSearches bounds the paged searches one connection keeps
	// open; the oldest is forgotten beyond it.
	maxPagedSearches = 8
)

// pages are a connection's open paged searches, by cookie, oldest first.
type pages struct {
	order []string
	state map[string]*directory.Page
}

func (p *pages) take(cookie string) *directory.Page {
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

func (p *pages) put(cookie string, st *directory.Page) {
	if p.state == nil {
		p.state = make(map[string]*directory.Page)
	}
	if len(p.order) >= maxPagedSearches {
		delete(p.state, p.order[0])
		p.order = p.order[1:]
	}
	p.state[cookie] = st
	p.order = append(p.order, cookie)
}

// paging decodes the paged results control pc into a Paging, with the
// Page its cookie names on the connection taken out of the connection's
// pages.
func (c *conn) paging(pc control) (*directory.Paging, error) {
	size, cookie, err := parsePagingControl(pc)
	if err != nil {
		return nil, err
	}
	p := &directory.Paging{Size: int(min(size, math.MaxInt32))}
	if cookie != "" {
		c.mu.Lock()
		p.Resume = c.pages.take(cookie)
		c.mu.Unlock()
		if p.Resume == nil {
			return nil, directory.ErrBadCookie
		}
	}
	return p, nil
}

// keepPage keeps next, if any, on the connection and returns its cookie
// ("" for none).
func (c *conn) keepPage(next *directory.Page) string {
	if next == nil {
		return ""
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	cookie := string(b[:])
	c.mu.Lock()
	c.pages.put(cookie, next)
	c.mu.Unlock()
	return cookie
}

func parsePagingControl(c control) (int64, string, error) {
	bad := &directory.Error{Code: directory.ResultProtocolError, Message: "malformed paged results control"}
	if !c.hasValue {
		return 0, "", bad
	}
	seq, rest, err := ber.Next(c.value)
	if err != nil || len(rest) != 0 || seq.ID != ber.TagSequence {
		return 0, "", bad
	}
	it := seq.Children()
	sizeT := it.Expect(ber.TagInteger, "size")
	cookie := it.Expect(ber.TagOctetString, "cookie")
	if it.Err != nil || it.More() {
		return 0, "", bad
	}
	size, err := ber.ParseInt(sizeT.Content)
	if err != nil || size < 0 {
		return 0, "", bad
	}
	return size, cookie.Str(), nil
}

// pagedResponse encodes the paged results response control.
func pagedResponse(cookie string) func(*ber.Encoder) {
	return func(e *ber.Encoder) {
		ctl := e.Open(ber.TagSequence)
		e.Str(ber.TagOctetString, oidPagedResults)
		var v ber.Encoder
		seq := v.Open(ber.TagSequence)
		v.Int(ber.TagInteger, 0) // size estimate: unknown
		v.Str(ber.TagOctetString, cookie)
		v.Close(seq)
		e.Bytes(ber.TagOctetString, v.B)
		e.Close(ctl)
	}
}

// parseSortControl decodes a SortKeyList and resolves its keys (see
// ResolveSort). It returns the keys, or the sortResult code that refuses
// them (protocolError for a malformed value, or ResolveSort's) and the
// offending type.
func parseSortControl(c control) ([]directory.SortKey, directory.ResultCode, string) {
	if !c.hasValue {
		return nil, directory.ResultProtocolError, ""
	}
	seq, rest, err := ber.Next(c.value)
	if err != nil || len(rest) != 0 || seq.ID != ber.TagSequence {
		return nil, directory.ResultProtocolError, ""
	}
	var keys []directory.SortKey
	it := seq.Children()
	for it.More() {
		kt := it.Expect(ber.TagSequence, "sortKey")
		if it.Err != nil || len(keys) == maxSortKeys {
			return nil, directory.ResultProtocolError, ""
		}
		ki := kt.Children()
		k := directory.SortKey{Attr: ki.Expect(ber.TagOctetString, "attributeType").Str()}
		for ki.More() {
			e := ki.Next()
			switch e.ID {
			case ber.ClassContext | 0: // orderingRule: the type's own is used
			case ber.ClassContext | 1:
				if len(e.Content) != 1 {
					return nil, directory.ResultProtocolError, ""
				}
				k.Reverse = e.Content[0] != 0
			default:
				return nil, directory.ResultProtocolError, ""
			}
		}
		if ki.Err != nil {
			return nil, directory.ResultProtocolError, ""
		}
		keys = append(keys, k)
	}
	if it.Err != nil || len(keys) == 0 {
		return nil, directory.ResultProtocolError, ""
	}
	if code, attr := directory.ResolveSort(keys); code != directory.ResultSuccess {
		return nil, code, attr
	}
	return keys, directory.ResultSuccess, ""
}

// sortResponse encodes the sort response control.
func sortResponse(code directory.ResultCode, attr string) func(*ber.Encoder) {
	return func(e *ber.Encoder) {
		ctl := e.Open(ber.TagSequence)
		e.Str(ber.TagOctetString, oidSortResponse)
		var v ber.Encoder
		seq := v.Open(ber.TagSequence)
		v.Int(ber.TagEnumerated, int64(code))
		if attr != "" {
			v.Str(ber.ClassContext|0, attr)
		}
		v.Close(seq)
		e.Bytes(ber.TagOctetString, v.B)
		e.Close(ctl)
	}
}

func joinControls(fs ...func(*ber.Encoder)) func(*ber.Encoder) {
	return func(e *ber.Encoder) {
		for _, f := range fs {
			if f != nil {
				f(e)
			}
		}
	}
}
