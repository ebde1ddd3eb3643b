package ldapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"runtime/debug"
	"sync"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/jimlambrt/gldap"

	"github.com/ldapgate/ldapgate/store"
)

// Server serves a Directory over LDAPv3 with gldap: simple binds, searches,
// unbind, StartTLS or LDAPS when TLS is configured; add, modify and delete
// answer unwillingToPerform.
//
// Limits of gldap v0.1.14 that a later connection layer removes: modrdn,
// compare and abandon requests (and SASL binds) are not understood and end
// the connection; the client's address is not known, so binds are limited
// per name only; controls are ignored.
type Server struct {
	dir   *Directory
	log   *slog.Logger
	tls   *tls.Config
	ldaps bool
	gs    *gldap.Server

	// ctx is cancelled by Close; searches in progress stop.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	started bool
	closed  bool
	addr    net.Addr
	conns   map[int]*connState

	ready     chan struct{}
	readyOnce sync.Once

	closedHook func(connID int) // tests
}

// connState is the state of one client connection.
type connState struct {
	mu  sync.Mutex
	id  Identity
	tls bool
}

func (c *connState) identity() Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

func (c *connState) setIdentity(id Identity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id = id
}

// New returns a server for cfg over the views live holds. It validates cfg
// (see Config.Validate). Call Serve to listen.
//
// The first Server created in a process sets the BER decoder's message size
// limit (Config.MaxMessageBytes), which is process-wide; create it before
// any other LDAP client or server in the process starts reading.
func New(cfg Config, live *store.Live, log *slog.Logger, opts ...Option) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := NewDirectory(cfg, live, log, opts...)
	if err != nil {
		return nil, err
	}
	setMessageLimit(dir.cfg.MaxMessageBytes, log)
	s := &Server{
		dir:   dir,
		log:   log,
		tls:   dir.cfg.TLS,
		ldaps: dir.cfg.LDAPS,
		conns: make(map[int]*connState),
		ready: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.gs, err = gldap.NewServer(
		gldap.WithLogger(newHCLogSlog(log.With("lib", "gldap"), s.listening)),
		gldap.WithOnClose(s.connClosed),
	)
	if err != nil {
		return nil, fmt.Errorf("ldapserver: %w", err)
	}
	mux, err := gldap.NewMux()
	if err != nil {
		return nil, fmt.Errorf("ldapserver: %w", err)
	}
	routes := []error{
		mux.Bind(s.handleBind),
		mux.Search(s.handleSearch),
		mux.Add(s.handleAdd),
		mux.Modify(s.handleModify),
		mux.Delete(s.handleDelete),
		mux.Unbind(s.handleUnbind),
		mux.DefaultRoute(s.handleUnsupported),
	}
	if s.tls != nil && !s.ldaps {
		routes = append(routes, mux.ExtendedOperation(s.handleStartTLS, gldap.ExtendedOperationStartTLS))
	}
	routes = append(routes, s.gs.Router(mux))
	if err := errors.Join(routes...); err != nil {
		return nil, fmt.Errorf("ldapserver: %w", err)
	}
	return s, nil
}

// Directory returns the directory the server serves.
func (s *Server) Directory() *Directory { return s.dir }

var (
	messageLimitOnce sync.Once
	messageLimit     int64
)

// setMessageLimit bounds the size of one BER message. The limit is a
// process-wide variable of go-asn1-ber that connection goroutines read, so
// it is written exactly once, before the first server listens.
func setMessageLimit(n int64, log *slog.Logger) {
	messageLimitOnce.Do(func() {
		ber.MaxPacketLengthBytes = n
		messageLimit = n
	})
	if messageLimit != n {
		log.Warn("ldap message size limit is process-wide and already set; ignoring the new value",
			"limit", messageLimit, "wanted", n)
	}
}

// Serve listens on addr ("host:port"; port 0 picks a free port, see Addr)
// and serves until Close, then returns ErrServerClosed. With Config.LDAPS
// the listener speaks TLS from the first byte.
func (s *Server) Serve(addr string) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrServerClosed
	case s.started:
		s.mu.Unlock()
		return errors.New("ldapserver: Serve called twice")
	}
	s.started = true
	s.mu.Unlock()
	defer s.readyOnce.Do(func() { close(s.ready) }) // also when listening failed

	var opts []gldap.Option
	if s.ldaps {
		opts = append(opts, gldap.WithTLSConfig(s.tls))
	}
	err := s.gs.Run(addr, opts...)
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	if err != nil {
		return fmt.Errorf("ldapserver: %w", err)
	}
	return nil
}

// listening records the bound address from gldap's log line.
func (s *Server) listening(a net.Addr) {
	s.mu.Lock()
	s.addr = a
	s.mu.Unlock()
	s.readyOnce.Do(func() { close(s.ready) })
}

// Ready is closed once Serve listens (Addr is set), or has failed.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the address Serve listens on, or nil before it listens.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close stops listening, cancels searches in progress and waits for the
// connections to end, until ctx is done. gldap closes a connection only when
// its client sends something, so idle clients can hold it up: when ctx ends
// first, Close returns ctx's error and the remaining connections end as
// their clients go.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	if started {
		// gldap's Stop does not close a listener that is not yet open.
		select {
		case <-s.ready:
		case <-ctx.Done():
			return fmt.Errorf("ldapserver: close: %w", ctx.Err())
		}
	}
	done := make(chan error, 1)
	go func() { done <- s.gs.Stop() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("ldapserver: close: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ldapserver: close: connections still open: %w", ctx.Err())
	}
}

func (s *Server) conn(id int) *connState {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[id]
	if c == nil {
		c = &connState{tls: s.ldaps}
		s.conns[id] = c
	}
	return c
}

func (s *Server) connClosed(id int) {
	s.mu.Lock()
	delete(s.conns, id)
	hook := s.closedHook
	s.mu.Unlock()
	if hook != nil {
		hook(id)
	}
}

// result is what every gldap response type lets a handler set.
type result interface {
	gldap.Response
	SetResultCode(int)
	SetDiagnosticMessage(string)
	SetMatchedDN(string)
}

func setResult(res result, err error) {
	e := resultOf(err)
	res.SetResultCode(int(e.Code))
	res.SetDiagnosticMessage(e.Message)
	res.SetMatchedDN(e.MatchedDN)
}

// finish ends every handler (deferred): a panic is logged and answered
// with "other", then res is written. Handlers create res as a failure and
// set success only on the happy path. res nil means the handler answered
// itself.
func (s *Server) finish(w *gldap.ResponseWriter, r *gldap.Request, op string, res result) {
	if p := recover(); p != nil {
		s.log.Error("ldap handler panic", "op", op, "conn", r.ConnectionID(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		if res == nil {
			return
		}
		res.SetResultCode(int(ResultOther))
		res.SetDiagnosticMessage("internal error")
		res.SetMatchedDN("")
	}
	if res == nil {
		return
	}
	if err := w.Write(res); err != nil {
		s.log.Debug("ldap response not written", "op", op, "conn", r.ConnectionID(), "err", err)
	}
}

// logInternal logs the cause of an "other" result, which the client does
// not see.
func (s *Server) logInternal(ctx context.Context, op string, err error) {
	if e := resultOf(err); e.Code == ResultOther {
		s.log.LogAttrs(ctx, slog.LevelError, "ldap operation failed", slog.String("op", op), slog.Any("err", err), connAttr(ctx))
	}
}

func (s *Server) handleBind(w *gldap.ResponseWriter, r *gldap.Request) {
	res := r.NewBindResponse(gldap.WithResponseCode(gldap.ResultInvalidCredentials))
	defer s.finish(w, r, "bind", res)
	st := s.conn(r.ConnectionID())
	st.setIdentity(Identity{}) // a bind starts anonymous, and a failed one stays so
	m, err := r.GetSimpleBindMessage()
	if err != nil {
		setResult(res, &Error{Code: ResultProtocolError, Message: "not a simple bind", Err: err})
		return
	}
	ctx := withConn(s.ctx, r.ConnectionID())
	id, err := s.dir.Bind(ctx, m.UserName, string(m.Password), nil)
	if err != nil {
		setResult(res, err)
		s.logInternal(ctx, "bind", err)
		return
	}
	st.setIdentity(id)
	res.SetResultCode(gldap.ResultSuccess)
}

func (s *Server) handleSearch(w *gldap.ResponseWriter, r *gldap.Request) {
	res := r.NewSearchDoneResponse(gldap.WithResponseCode(gldap.ResultOther))
	defer s.finish(w, r, "search", res)
	m, err := r.GetSearchMessage()
	if err != nil {
		setResult(res, &Error{Code: ResultProtocolError, Message: "not a search request", Err: err})
		return
	}
	ctx := withConn(s.ctx, r.ConnectionID())
	id := s.conn(r.ConnectionID()).identity()
	// gldap hands the filter over as a string (it decompiled the BER); the
	// own connection layer will call FilterFromPacket instead.
	f, err := ParseFilter(m.Filter)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelDebug, "ldap search filter refused", slog.String("filter", m.Filter), slog.Any("err", err), connAttr(ctx))
		setResult(res, err)
		return
	}
	req := &SearchRequest{
		BaseDN:     m.BaseDN,
		Scope:      Scope(m.Scope),
		Filter:     f,
		Attributes: m.Attributes,
		TypesOnly:  m.TypesOnly,
		SizeLimit:  int(min(max(m.SizeLimit, 0), math.MaxInt32)),
	}
	if m.TimeLimit > 0 && m.TimeLimit < math.MaxInt32 {
		req.TimeLimit = time.Duration(m.TimeLimit) * time.Second
	}
	n := 0
	err = s.dir.Search(ctx, id, req, func(e *SearchEntry) error {
		out := r.NewSearchResponseEntry(e.DN)
		for _, a := range e.Attributes {
			out.AddAttribute(a.Name, a.Values)
		}
		n++
		return w.Write(out)
	})
	s.logInternal(ctx, "search", err)
	s.log.LogAttrs(ctx, slog.LevelDebug, "ldap search", slog.String("base", req.BaseDN), slog.String("scope", req.Scope.String()),
		slog.String("filter", f.String()), slog.Int("entries", n), slog.String("result", resultOf(err).Code.String()),
		slog.String("bound", id.DN), connAttr(ctx))
	setResult(res, err)
}

func (s *Server) handleAdd(w *gldap.ResponseWriter, r *gldap.Request) {
	res := r.NewResponse(gldap.WithApplicationCode(gldap.ApplicationAddResponse), gldap.WithResponseCode(gldap.ResultUnwillingToPerform))
	defer s.finish(w, r, "add", res)
	var dn string
	if m, err := r.GetAddMessage(); err == nil {
		dn = m.DN
	}
	s.refuseWrite(r, res, "add", dn)
}

func (s *Server) handleModify(w *gldap.ResponseWriter, r *gldap.Request) {
	res := r.NewModifyResponse(gldap.WithResponseCode(gldap.ResultUnwillingToPerform))
	defer s.finish(w, r, "modify", res)
	var dn string
	if m, err := r.GetModifyMessage(); err == nil {
		dn = m.DN
	}
	s.refuseWrite(r, res, "modify", dn)
}

func (s *Server) handleDelete(w *gldap.ResponseWriter, r *gldap.Request) {
	res := r.NewResponse(gldap.WithApplicationCode(gldap.ApplicationDelResponse), gldap.WithResponseCode(gldap.ResultUnwillingToPerform))
	defer s.finish(w, r, "delete", res)
	var dn string
	if m, err := r.GetDeleteMessage(); err == nil {
		dn = m.DN
	}
	s.refuseWrite(r, res, "delete", dn)
}

func (s *Server) refuseWrite(r *gldap.Request, res result, op, dn string) {
	ctx := withConn(s.ctx, r.ConnectionID())
	setResult(res, s.dir.Write(ctx, s.conn(r.ConnectionID()).identity(), op, dn))
}

// handleUnbind forgets the connection's bind; gldap then closes it.
func (s *Server) handleUnbind(w *gldap.ResponseWriter, r *gldap.Request) {
	defer s.finish(w, r, "unbind", nil)
	s.conn(r.ConnectionID()).setIdentity(Identity{})
}

// handleStartTLS answers the StartTLS extended operation (RFC 4511 §4.14):
// success, then the TLS handshake on the connection.
func (s *Server) handleStartTLS(w *gldap.ResponseWriter, r *gldap.Request) {
	res := r.NewExtendedResponse(gldap.WithResponseCode(gldap.ResultOperationsError))
	res.SetResponseName(gldap.ExtendedOperationStartTLS)
	st := s.conn(r.ConnectionID())
	st.mu.Lock()
	already := st.tls
	st.mu.Unlock()
	if already {
		res.SetDiagnosticMessage("TLS already established")
		defer s.finish(w, r, "starttls", res)
		return
	}
	defer s.finish(w, r, "starttls", nil)
	res.SetResultCode(gldap.ResultSuccess)
	if err := w.Write(res); err != nil {
		s.log.Debug("ldap starttls response not written", "conn", r.ConnectionID(), "err", err)
		return
	}
	if err := r.StartTLS(s.tls); err != nil {
		s.log.Warn("ldap starttls handshake failed", "conn", r.ConnectionID(), "err", err)
		return
	}
	st.mu.Lock()
	st.tls = true
	st.mu.Unlock()
}

// handleUnsupported answers requests no route takes: extended operations
// other than StartTLS (protocolError, RFC 4511 §4.12).
func (s *Server) handleUnsupported(w *gldap.ResponseWriter, r *gldap.Request) {
	res := r.NewExtendedResponse(gldap.WithResponseCode(gldap.ResultProtocolError))
	res.SetDiagnosticMessage("unsupported operation")
	defer s.finish(w, r, "unsupported", res)
}
