package ldapserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/ber"
	"github.com/ldapgate/ldapgate/internal/clientlog"
)

// OIDs of the extended operations and controls the server implements or
// answers.
const (
	oidWhoAmI         = "1.3.6.1.4.1.4203.1.11.3" // RFC 4532
	oidPasswordModify = "1.3.6.1.4.1.4203.1.11.1" // RFC 3062; answered unwillingToPerform
	oidPagedResults   = "1.2.840.113556.1.4.319"  // RFC 2696
	oidStartTLS       = "1.3.6.1.4.1.1466.20037"  // RFC 4511 §4.14
)

// responseOp maps a request to the response that answers it.
var responseOp = map[byte]byte{
	opBindRequest:     opBindResponse,
	opSearchRequest:   opSearchDone,
	opModifyRequest:   opModifyResponse,
	opAddRequest:      opAddResponse,
	opDelRequest:      opDelResponse,
	opModDNRequest:    opModDNResponse,
	opCompareRequest:  opCompareResponse,
	opExtendedRequest: opExtendedResponse,
}

var opNames = map[byte]string{
	opBindRequest:     "bind",
	opSearchRequest:   "search",
	opModifyRequest:   "modify",
	opAddRequest:      "add",
	opDelRequest:      "delete",
	opModDNRequest:    "modrdn",
	opCompareRequest:  "compare",
	opExtendedRequest: "extended",
}

var encoders = sync.Pool{New: func() any { return &ber.Encoder{B: make([]byte, 0, 1024)} }}

// request is one request being handled.
type request struct {
	c    *conn
	m    *message
	ctx  context.Context
	id   directory.Identity // the connection's identity when the request came
	done bool               // the final response is written
	// counted: the request is in conn.active until release.
	counted bool
}

// release takes the request out of conn.active: its final response is
// about to be written, so the client may send StartTLS once it has it.
func (r *request) release() {
	if r.counted {
		r.counted = false
		r.c.active.Add(-1)
	}
}

// run handles the request: a panic is logged and answered "other".
func (r *request) run() {
	op := r.m.op
	defer r.c.srv.observeOp(op, time.Now())
	defer func() {
		if p := recover(); p != nil {
			r.c.logAttrs(slog.LevelError, "ldap handler panic", slog.String("op", opNames[op]), slog.String("panic", fmt.Sprint(p)),
				slog.String("stack", string(debug.Stack())))
			if resp, ok := responseOp[op]; ok && !r.done {
				r.finish(resp, &directory.Error{Code: directory.ResultOther, Message: "internal error"}, nil, nil)
			}
		}
	}()
	if h := r.c.srv.requestHook; h != nil {
		h(r.ctx, op, r.m)
	}
	if err := r.checkControls(); err != nil {
		r.finish(responseOp[op], err, nil, nil)
		return
	}
	if op != opSearchRequest && r.needTLS() {
		r.finish(responseOp[op], errConfidentiality(), nil, nil)
		return
	}
	switch op {
	case opBindRequest:
		r.bind()
	case opSearchRequest:
		r.search()
	case opCompareRequest:
		r.compare()
	case opExtendedRequest:
		r.extended()
	case opModifyRequest, opAddRequest, opDelRequest, opModDNRequest:
		r.write()
	}
}

// needTLS reports whether the request must be refused because
// Config.RequireTLS is set and the connection has no TLS.
func (r *request) needTLS() bool {
	return r.c.srv.cfg.RequireTLS && !r.c.isTLS()
}

func errConfidentiality() *directory.Error {
	return &directory.Error{Code: directory.ResultConfidentialityRequired, Message: "TLS required: use StartTLS first"}
}

// checkControls refuses critical controls the operation does not
// implement (RFC 4511 §4.1.11).
func (r *request) checkControls() error {
	for _, c := range r.m.controls {
		if !c.critical {
			continue
		}
		if (c.oid == oidPagedResults || c.oid == oidSortRequest) && r.m.op == opSearchRequest {
			continue
		}
		return &directory.Error{Code: directory.ResultUnavailableCritical, Message: "unsupported critical control " + c.oid}
	}
	return nil
}

func (r *request) control(oid string) (control, bool) {
	for _, c := range r.m.controls {
		if c.oid == oid {
			return c, true
		}
	}
	return control{}, false
}

// abandoned reports whether the client abandoned the request: it gets no
// response then.
func (r *request) abandoned() bool {
	return errors.Is(causeOf(r.ctx), errAbandoned)
}

// finish writes the final response of type op for err (nil: success),
// with extra fields after the LDAPResult and response controls, and
// flushes.
func (r *request) finish(op byte, err error, extra func(*ber.Encoder), controls func(*ber.Encoder)) {
	if r.done || r.abandoned() {
		r.done = true
		return
	}
	r.done = true
	res := directory.ResultOf(err)
	if res.Code == directory.ResultOther && res.Err != nil {
		if r.c.writeFailed() {
			// The client left (or stopped reading): no server fault, and
			// one line per connection is enough (see serve).
			r.c.lost.Add(1)
		} else {
			r.c.logAttrs(slog.LevelError, "ldap operation failed", slog.String("op", opNames[r.m.op]), slog.String("err", clientlog.Text(res.Err.Error())))
		}
	}
	e := encoders.Get().(*ber.Encoder)
	defer encoders.Put(e)
	e.Reset()
	msg := e.Open(ber.TagSequence)
	e.Int(ber.TagInteger, int64(r.m.id))
	o := e.Open(ber.ClassApplication | ber.Constructed | op)
	e.Int(ber.TagEnumerated, int64(res.Code))
	e.Str(ber.TagOctetString, res.MatchedDN)
	e.Str(ber.TagOctetString, res.Message)
	if extra != nil {
		extra(e)
	}
	e.Close(o)
	if controls != nil {
		ctl := e.Open(ber.ClassContext | ber.Constructed | 0)
		controls(e)
		e.Close(ctl)
	}
	e.Close(msg)
	r.release()
	_ = r.c.write(e.B, true)
}

func responseName(oid string) func(*ber.Encoder) {
	return func(e *ber.Encoder) { e.Str(ber.ClassContext|10, oid) }
}

func (r *request) protocolError(what string, err error) {
	r.finish(responseOp[r.m.op], &directory.Error{Code: directory.ResultProtocolError, Message: "malformed " + what, Err: err}, nil, nil)
}

// bind decides a bind request (RFC 4511 §4.2): simple binds go to
// Directory.Bind with the client's address; SASL is not supported.
func (r *request) bind() {
	c := r.c
	c.setIdentity(directory.Identity{}) // a bind starts anonymous, and a failed one stays so
	if !r.m.body.Constructed() {
		r.protocolError("bind request", nil)
		return
	}
	it := r.m.body.Children()
	vt := it.Expect(ber.TagInteger, "version")
	name := it.Expect(ber.TagOctetString, "name").Str()
	auth := it.Next()
	if it.Err != nil {
		r.protocolError("bind request", it.Err)
		return
	}
	if v, err := ber.ParseInt(vt.Content); err != nil || v != 3 {
		r.finish(opBindResponse, &directory.Error{Code: directory.ResultProtocolError, Message: "only LDAPv3 is supported"}, nil, nil)
		return
	}
	ctx := r.ctx
	switch auth.ID {
	case ber.ClassContext | 0: // simple
	case ber.ClassContext | ber.Constructed | 3: // sasl
		r.saslBind(name, auth)
		return
	default:
		r.finish(opBindResponse, &directory.Error{Code: directory.ResultAuthMethodNotSupported, Message: "unknown authentication method"}, nil, nil)
		return
	}
	id, err := c.srv.dir.Bind(ctx, name, auth.Str(), c.remote)
	if err == nil {
		c.setIdentity(id)
	}
	r.finish(opBindResponse, err, nil, nil)
}

// saslBind decides a SASL bind (RFC 4513 §5.2): EXTERNAL with the TLS
// client certificate (Directory.BindExternal); other mechanisms are not
// supported.
func (r *request) saslBind(name string, auth ber.TLV) {
	c := r.c
	it := auth.Children()
	mech := it.Expect(ber.TagOctetString, "mechanism").Str()
	var creds string
	if it.More() {
		creds = it.Expect(ber.TagOctetString, "credentials").Str()
	}
	if it.Err != nil || it.More() {
		r.protocolError("SASL credentials", it.Err)
		return
	}
	if mech != saslExternal || c.srv.tlsConfig() == nil {
		c.logAttrs(slog.LevelInfo, "ldap sasl bind refused", slog.String("dn", clientlog.Text(name)), slog.String("mechanism", clientlog.Text(mech)))
		msg := "SASL mechanism not supported; use a simple bind"
		if c.srv.tlsConfig() != nil {
			msg = "SASL mechanism not supported; use EXTERNAL with a TLS client certificate, or a simple bind"
		}
		r.finish(opBindResponse, &directory.Error{Code: directory.ResultAuthMethodNotSupported, Message: msg}, nil, nil)
		return
	}
	id, err := c.srv.dir.BindExternal(r.ctx, c.peerCertificate(), creds, c.remote)
	if err == nil {
		c.setIdentity(id)
	}
	r.finish(opBindResponse, err, nil, nil)
}

// search runs a search request, with paged results when asked.
func (r *request) search() {
	c := r.c
	if !r.m.body.Constructed() {
		r.protocolError("search request", nil)
		return
	}
	it := r.m.body.Children()
	base := it.Expect(ber.TagOctetString, "baseObject").Str()
	scopeT := it.Expect(ber.TagEnumerated, "scope")
	_ = it.Expect(ber.TagEnumerated, "derefAliases") // no aliases: ignored
	sizeT := it.Expect(ber.TagInteger, "sizeLimit")
	timeT := it.Expect(ber.TagInteger, "timeLimit")
	typesT := it.Next()
	filterT := it.Next()
	attrsT := it.Expect(ber.TagSequence, "attributes")
	if it.Err != nil {
		r.protocolError("search request", it.Err)
		return
	}
	scope, err1 := ber.ParseInt(scopeT.Content)
	if r.needTLS() && (scope != int64(directory.ScopeBase) || !directory.IsRootDSE(base)) {
		r.finish(opSearchDone, errConfidentiality(), nil, nil)
		return
	}
	size, err2 := ber.ParseInt(sizeT.Content)
	tlim, err3 := ber.ParseInt(timeT.Content)
	types, err4 := ber.ParseBool(typesT)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		r.protocolError("search request", err)
		return
	}
	var attrs []string
	ai := attrsT.Children()
	for ai.More() {
		attrs = append(attrs, ai.Expect(ber.TagOctetString, "attribute").Str())
	}
	if ai.Err != nil {
		r.protocolError("search request", ai.Err)
		return
	}
	f, err := directory.ParseFilterBER(filterT)
	if err != nil {
		c.logAttrs(slog.LevelDebug, "ldap search filter refused", slog.String("err", clientlog.Text(err.Error())))
		r.finish(opSearchDone, err, nil, nil)
		return
	}
	req := &directory.SearchRequest{
		BaseDN:     base,
		Scope:      directory.Scope(scope),
		Filter:     f,
		Attributes: attrs,
		TypesOnly:  types,
		SizeLimit:  int(min(max(size, 0), math.MaxInt32)),
	}
	if tlim > 0 && tlim < math.MaxInt32 {
		req.TimeLimit = time.Duration(tlim) * time.Second
	}
	ctl, ok := r.searchControls(req)
	if !ok {
		return
	}
	e := encoders.Get().(*ber.Encoder)
	defer encoders.Put(e)
	n := 0
	next, err := c.srv.dir.Search(r.ctx, r.id, req, func(en *directory.Entry, sel directory.Selection) error {
		n++
		return r.sendEntry(e, en, &sel)
	})
	r.logSearch(req, n, err)
	switch {
	case err == directory.ErrBadCookie:
		r.badCookie()
	case req.Sort != nil && err != nil && directory.ResultOf(err).Code != directory.ResultSizeLimitExceeded:
		r.finish(opSearchDone, err, nil, nil)
	case req.Sort != nil && req.Paging != nil && req.Paging.Size == 0:
		r.finish(opSearchDone, nil, nil, pagedResponse(""))
	default:
		r.finish(opSearchDone, err, nil, ctl.response(c, next))
	}
}

// searchCtl says which controls a search's result carries.
type searchCtl struct{ paged, sorted bool }

// response returns the response controls of a search that returned next.
func (sc searchCtl) response(c *conn, next *directory.Page) func(*ber.Encoder) {
	var ctl func(*ber.Encoder)
	if sc.paged {
		ctl = pagedResponse(c.keepPage(next))
	}
	if sc.sorted {
		ctl = joinControls(sortResponse(directory.ResultSuccess, ""), ctl)
	}
	return ctl
}

// searchControls applies the paged results and sort controls to req. It
// reports false when it answered the request itself (a malformed or
// unusable control, a stale cookie).
func (r *request) searchControls(req *directory.SearchRequest) (searchCtl, bool) {
	pc, paged := r.control(oidPagedResults)
	sc, sorted := r.control(oidSortRequest)
	if sorted {
		keys, code, attr := parseSortControl(sc)
		switch {
		case code == directory.ResultProtocolError:
			r.finish(opSearchDone, &directory.Error{Code: directory.ResultProtocolError, Message: "malformed sort control"}, nil, nil)
			return searchCtl{}, false
		case code != directory.ResultSuccess && sc.critical:
			r.finish(opSearchDone, &directory.Error{Code: directory.ResultUnavailableCritical, Message: "cannot sort by " + attr}, nil, sortResponse(code, attr))
			return searchCtl{}, false
		}
		// Keys the directory cannot sort by, in a control that is not
		// critical: the search runs unsorted.
		req.Sort, sorted = keys, code == directory.ResultSuccess
	}
	if paged {
		p, err := r.c.paging(pc)
		switch {
		case err == directory.ErrBadCookie:
			r.badCookie()
			return searchCtl{}, false
		case err != nil:
			r.finish(opSearchDone, err, nil, nil)
			return searchCtl{}, false
		}
		req.Paging = p
	}
	return searchCtl{paged: paged, sorted: sorted}, true
}

// badCookie refuses a paged search whose cookie is stale or another
// query's.
func (r *request) badCookie() {
	r.c.logAttrs(slog.LevelDebug, "ldap paged search: stale or foreign cookie")
	r.finish(opSearchDone, directory.ErrBadCookie, nil, pagedResponse(""))
}

// sendEntry writes one SearchResultEntry with the attributes of en that
// sel selects, encoded straight from the tree (not flushed: the final
// response flushes the batch).
func (r *request) sendEntry(e *ber.Encoder, en *directory.Entry, sel *directory.Selection) error {
	e.Reset()
	msg := e.Open(ber.TagSequence)
	e.Int(ber.TagInteger, int64(r.m.id))
	o := e.Open(ber.ClassApplication | ber.Constructed | opSearchEntry)
	sel.AppendEntry(e, en)
	e.Close(o)
	e.Close(msg)
	if err := r.c.write(e.B, false); err != nil {
		return fmt.Errorf("ldap write: %w", err)
	}
	return nil
}

func (r *request) logSearch(req *directory.SearchRequest, n int, err error) {
	if !r.c.srv.log.Enabled(r.ctx, slog.LevelDebug) {
		return
	}
	r.c.logAttrs(slog.LevelDebug, "ldap search", slog.String("base", clientlog.Text(req.BaseDN)), slog.String("scope", req.Scope.String()),
		slog.String("filter", clientlog.Text(req.Filter.String())), slog.Int("entries", n), slog.String("result", directory.ResultOf(err).Code.String()),
		slog.String("bound", r.id.DN))
}

// compare answers a compare request (RFC 4511 §4.10).
func (r *request) compare() {
	if !r.m.body.Constructed() {
		r.protocolError("compare request", nil)
		return
	}
	it := r.m.body.Children()
	dn := it.Expect(ber.TagOctetString, "entry").Str()
	ava := it.Expect(ber.TagSequence, "ava")
	ai := ava.Children()
	attr := ai.Expect(ber.TagOctetString, "attributeDesc").Str()
	value := ai.Expect(ber.TagOctetString, "assertionValue").Str()
	if err := errors.Join(it.Err, ai.Err); err != nil {
		r.protocolError("compare request", err)
		return
	}
	err := r.c.srv.dir.Compare(r.ctx, r.id, dn, attr, value)
	if err == nil {
		err = &directory.Error{Code: directory.ResultCompareTrue}
	}
	r.finish(opCompareResponse, err, nil, nil)
}

// write refuses add, modify, delete and modrdn: the directory is read-only.
func (r *request) write() {
	op := opNames[r.m.op]
	var dn string
	if r.m.body.Constructed() {
		it := r.m.body.Children()
		if t := it.Next(); it.Err == nil && t.ID == ber.TagOctetString {
			dn = t.Str()
		}
	} else {
		dn = r.m.body.Str()
	}
	r.finish(responseOp[r.m.op], r.c.srv.dir.Write(r.ctx, r.id, op, dn), nil, nil)
}

// extendedName returns the requestName of an extended request.
func extendedName(m *message) (string, error) {
	if !m.body.Constructed() {
		return "", fmt.Errorf("%w: primitive extended request", ber.ErrMalformed)
	}
	it := m.body.Children()
	t := it.Expect(ber.ClassContext|0, "requestName")
	return t.Str(), it.Err
}

// extended answers extended operations other than StartTLS (which the
// reader goroutine runs): Who Am I?; Password Modify is refused; anything
// else is protocolError (RFC 4511 §4.12).
func (r *request) extended() {
	name, err := extendedName(r.m)
	if err != nil {
		r.protocolError("extended request", err)
		return
	}
	switch name {
	case oidWhoAmI:
		authz := ""
		if r.id.Kind != directory.IdentityAnonymous {
			authz = "dn:" + r.id.DN
		}
		r.finish(opExtendedResponse, nil, func(e *ber.Encoder) { e.Str(ber.ClassContext|11, authz) }, nil)
	case oidPasswordModify:
		r.c.logAttrs(slog.LevelInfo, "ldap password modify refused", slog.String("bound", r.id.DN))
		r.finish(opExtendedResponse, &directory.Error{Code: directory.ResultUnwillingToPerform,
			Message: "ldapgate cannot change passwords; use the web portal or your identity provider"}, nil, nil)
	default:
		r.finish(opExtendedResponse, &directory.Error{Code: directory.ResultProtocolError, Message: "unsupported extended operation " + name}, nil, nil)
	}
}
