package ldapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/ber"
	"github.com/ldapgate/ldapgate/internal/clientlog"
)

var errTooManyFiles = syscall.EMFILE

// Causes of a cancelled request context.
var (
	errAbandoned    = errors.New("abandoned by the client")
	errDisconnected = errors.New("client disconnected")
	errEvicted      = errors.New("closed to make room for a new connection")
)

// oidNoticeOfDisconnection names the unsolicited notification a server
// sends before it ends a connection (RFC 4511 §4.4.1).
const oidNoticeOfDisconnection = "1.3.6.1.4.1.1466.20036"

const (
	readBufferSize  = 4 << 10
	writeBufferSize = 64 << 10
	// shutdownGrace is how long Close lets requests in progress (already
	// cancelled) write their results before the Notice of Disconnection.
	shutdownGrace = 2 * time.Second
)

// conn is one client connection: a reader goroutine (serve) that decodes
// messages and dispatches them, and a buffered writer that the requests
// share.
type conn struct {
	srv    *Server
	id     uint64
	remote net.Addr
	addr   netip.Addr      // the client's, when Server.perAddr counts it
	raw    net.Conn        // the accepted connection, for deadlines and Close
	ctx    context.Context // cancelled on disconnect and by Close (see stop)
	cancel context.CancelCauseFunc
	base   context.Context // ctx's values, never cancelled: requests' parent
	sem    chan struct{}   // requests in flight
	active atomic.Int32    // requests whose final response is not written yet
	lost   atomic.Int32    // requests that failed because writing to the client did
	wg     sync.WaitGroup  // requests in flight

	// The reader goroutine's own: the buffered reader, the read deadline
	// last set, by when a bind must succeed (see everBound), and the
	// message, its buffer and the request that it reuses from one message
	// to the next while they are handled inline.
	br           *bufio.Reader
	readDeadline time.Time
	bindBy       time.Time
	rbuf         []byte
	msg          message
	inline       request

	// everBound is set by the first successful bind: it lifts the first-
	// bind timeout and MaxUnboundMessageBytes, and takes the connection
	// off Server.unbound (uprev, unext and listed are under Server.mu).
	everBound    atomic.Bool
	uprev, unext *conn
	listed       bool

	// wmu guards the writer and the network connection, which StartTLS
	// replaces.
	wmu           sync.Mutex
	netConn       net.Conn
	bw            *bufio.Writer
	werr          error
	writeDeadline time.Time

	mu     sync.Mutex
	ident  directory.Identity
	tls    bool
	ops    []*asyncRequest  // in flight, for Abandon and stop; at most MaxRequestsPerConn
	opsBuf [4]*asyncRequest // ops' first array
	spare  *asyncRequest    // a finished request, for the next one
	first  asyncRequest     // spare's first value
	pages  pages
}

func newConn(s *Server, id uint64, nc net.Conn) *conn {
	c := &conn{
		srv:     s,
		id:      id,
		remote:  nc.RemoteAddr(),
		raw:     nc,
		sem:     make(chan struct{}, s.cfg.MaxRequestsPerConn),
		netConn: nc,
	}
	c.ops = c.opsBuf[:0]
	c.spare = &c.first
	// The requests' contexts are not children of the connection's: a child
	// costs its parent a map and a channel, and locks on every request.
	// stop cancels them all.
	c.base = clientlog.WithConn(context.Background(), int(id))
	c.ctx, c.cancel = context.WithCancelCause(c.base)
	c.br = getReader(nc)
	if s.cfg.FirstBindTimeout > 0 {
		c.bindBy = time.Now().Add(s.cfg.FirstBindTimeout)
	}
	return c
}

// deadlineWriter writes to the connection with the write timeout; bufio
// calls it once per flush.
type deadlineWriter struct{ c *conn }

func (w deadlineWriter) Write(p []byte) (int, error) {
	c := w.c // wmu is held
	now := time.Now()
	if at := now.Add(c.srv.cfg.WriteTimeout); !deadlineClose(c.writeDeadline, at, now, c.srv.cfg.WriteTimeout) {
		c.writeDeadline = at
		_ = c.netConn.SetWriteDeadline(at)
	}
	return c.netConn.Write(p)
}

// deadlineClose reports whether the deadline set, not passed yet at now,
// is at or a little earlier (see deadlineSlack) for a timeout: close
// enough to keep. Setting a deadline updates a runtime timer; a connection
// that exchanges several messages a second sets it once a second instead
// of for every message. The write timeout may so cut a write a little
// short; the idle timeout fires a little early, finds the connection not
// idle long enough yet and waits on (see serve).
func deadlineClose(set, at, now time.Time, timeout time.Duration) bool {
	return now.Before(set) && !set.After(at) && at.Sub(set) <= min(deadlineSlack, timeout/8)
}

// deadlineSlack bounds how much earlier than asked a deadline may be.
const deadlineSlack = time.Second

// nc returns the accepted connection: closing it or setting its deadlines
// also affects a TLS layer on top.
func (c *conn) nc() net.Conn { return c.raw }

func (c *conn) identity() directory.Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ident
}

func (c *conn) setIdentity(id directory.Identity) {
	c.mu.Lock()
	c.ident = id
	c.mu.Unlock()
	if id.Kind != directory.IdentityAnonymous && !c.everBound.Swap(true) {
		// Before the response: a client that has its answer may count
		// on the connection staying.
		c.srv.connBound(c)
	}
}

// peerCertificate returns the client's TLS certificate, or nil.
func (c *conn) peerCertificate() *x509.Certificate {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if tc, ok := c.netConn.(*tls.Conn); ok {
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			return certs[0]
		}
	}
	return nil
}

func (c *conn) isTLS() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tls
}

func (c *conn) logAttrs(level slog.Level, msg string, attrs ...slog.Attr) {
	attrs = append(attrs, slog.Uint64("conn", c.id), slog.String("client", c.remote.String()))
	c.srv.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// write queues b (one or more encoded messages) and, with flush, sends
// everything queued. After a write error the connection is closed and
// later writes fail at once.
func (c *conn) write(b []byte, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	if c.bw == nil {
		c.bw = getWriter(deadlineWriter{c})
	}
	_, err := c.bw.Write(b)
	if err == nil && flush {
		if err = c.bw.Flush(); err == nil {
			putWriter(c.bw) // an idle connection holds no write buffer
			c.bw = nil
		}
	}
	if err != nil {
		c.werr = err
		c.netConn.Close()
	}
	return err
}

// writeFailed reports whether writing to the client failed: it left, or
// did not read within the write timeout.
func (c *conn) writeFailed() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.werr != nil
}

// asyncRequest is a request that runs on a worker while the reader goroutine
// goes on reading; Abandon cancels it. A connection reuses a finished one
// (conn.spare), with its context and its message buffer, so that the
// usual one request at a time costs no allocation for them.
type asyncRequest struct {
	request
	msg  message
	buf  []byte // msg's
	rctx requestContext
}

// runJob runs the request on a worker (see dispatch).
func (r *asyncRequest) runJob() {
	c := r.c
	defer func() {
		r.rctx.cancel(context.Canceled) // for anything still waiting on it
		r.release()
		c.mu.Lock()
		if i := slices.Index(c.ops, r); i >= 0 {
			c.ops = slices.Delete(c.ops, i, i+1)
		}
		if c.spare == nil {
			c.spare = r
		}
		c.mu.Unlock()
		<-c.sem
		c.wg.Done()
	}()
	r.run()
}

// requestContext is an asynchronous request's context: the connection's
// values (base), cancelled by Abandon and when the connection stops (with
// the cause, see cause). It lives in the asyncRequest; Done makes its
// channel only when asked.
type requestContext struct {
	context.Context // the connection's base: never done, no deadline
	mu              sync.Mutex
	done            chan struct{}
	err             error // the cause; nil until cancelled
}

func (x *requestContext) reset(base context.Context) {
	x.Context, x.done, x.err = base, nil, nil
}

func (x *requestContext) Done() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done == nil {
		x.done = make(chan struct{})
		if x.err != nil {
			close(x.done)
		}
	}
	return x.done
}

func (x *requestContext) Err() error {
	if x.cause() != nil {
		return context.Canceled
	}
	return nil
}

// cause is why the context was cancelled (errAbandoned, the connection's
// cause), or nil.
func (x *requestContext) cause() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err
}

// causeOf is context.Cause, for request contexts too.
func causeOf(ctx context.Context) error {
	if x, ok := ctx.(*requestContext); ok {
		return x.cause()
	}
	return context.Cause(ctx)
}

// cancel cancels the context with cause, unless it is cancelled already.
func (x *requestContext) cancel(cause error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.err == nil {
		x.err = cause
		if x.done != nil {
			close(x.done)
		}
	}
}

// runJob runs the connection's reader on a worker (see Server.startConn).
func (c *conn) runJob() { c.serve() }

// serve is the connection's reader goroutine.
func (c *conn) serve() {
	defer func() {
		if p := recover(); p != nil {
			c.logAttrs(slog.LevelError, "ldap connection panic", slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
		}
		c.stop(errDisconnected)
		if c.srv.isClosed() {
			// Requests in progress are cancelled; let them answer, then
			// tell the client why the connection ends.
			done := make(chan struct{})
			go func() {
				c.wg.Wait()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(shutdownGrace):
			}
			c.notice(directory.ResultUnavailable, "server shutting down")
		}
		c.nc().Close()
		c.wg.Wait()
		if n := c.lost.Load(); n > 0 {
			c.logAttrs(slog.LevelDebug, "ldap client gone with requests in flight", slog.Int("requests", int(n)))
		}
		c.releaseBuffers()
		c.srv.connClosed(c)
	}()
	cfg := &c.srv.cfg
	if cfg.LDAPS {
		if !c.handshake() {
			return
		}
	}
	var idleSince time.Time // since when no message came and none was in flight
	stillIdle := false
	for {
		c.setReadDeadline(&idleSince, stillIdle)
		stillIdle = false
		if c.ctx.Err() != nil {
			return // Close; shutdown set a past deadline
		}
		limit := cfg.MaxUnboundMessageBytes
		if c.everBound.Load() {
			limit = cfg.MaxMessageBytes
		}
		var buf []byte
		_, err := c.br.Peek(1)
		if err == nil {
			if !frameBuffered(c.br) {
				// The message is on its way: it gets MessageTimeout,
				// however long the idle timeout.
				c.readDeadline = time.Now().Add(cfg.MessageTimeout)
				_ = c.nc().SetReadDeadline(c.readDeadline)
			}
			buf, err = readFrame(c.br, c.rbuf, limit, c.srv.unfinished)
		}
		c.rbuf = nil
		if err != nil {
			var ne net.Error
			timeout := errors.As(err, &ne) && ne.Timeout()
			switch {
			case c.ctx.Err() != nil:
			case timeout && errors.Is(err, errMidFrame):
				c.logAttrs(slog.LevelDebug, "ldap message not received in time; closing", slog.Duration("message_timeout", cfg.MessageTimeout))
				c.notice(directory.ResultUnavailable, "message timeout")
			case timeout && !c.everBound.Load() && !c.bindBy.IsZero() && !time.Now().Before(c.bindBy):
				c.logAttrs(slog.LevelDebug, "ldap connection did not bind in time; closing", slog.Duration("first_bind_timeout", cfg.FirstBindTimeout))
				c.notice(directory.ResultUnavailable, "bind timeout")
			case timeout:
				if c.active.Load() > 0 {
					continue // a long request; the client waits for it
				}
				if cfg.IdleTimeout <= 0 || time.Since(idleSince) < cfg.IdleTimeout {
					stillIdle = true
					continue // an early deadline (deadlineClose)
				}
				c.logAttrs(slog.LevelDebug, "ldap connection idle; closing", slog.Duration("idle_timeout", cfg.IdleTimeout))
				c.notice(directory.ResultUnavailable, "idle timeout")
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			case errors.Is(err, errBusy):
				c.srv.logQuietly(slog.LevelWarn, "ldap message refused: too many bytes of unfinished messages; closing the connection",
					slog.String("client", c.remote.String()), slog.Int64("limit", cfg.MaxUnfinishedBytes))
				c.notice(directory.ResultBusy, "server busy")
			case errors.Is(err, errMessageTooLarge), errors.Is(err, errBadFraming):
				c.srv.logQuietly(slog.LevelWarn, "ldap message refused; closing the connection",
					slog.String("client", c.remote.String()), slog.Any("err", err), slog.Bool("bound", c.everBound.Load()))
				c.notice(directory.ResultProtocolError, "malformed or oversized message")
			default:
				c.logAttrs(slog.LevelDebug, "ldap connection read failed", slog.Any("err", err))
			}
			return
		}
		m := &c.msg
		if err := decodeMessageInto(m, buf); err != nil {
			c.srv.logQuietly(slog.LevelWarn, "ldap message malformed; closing the connection",
				slog.String("client", c.remote.String()), slog.String("err", clientlog.Text(err.Error())))
			c.notice(directory.ResultProtocolError, "malformed message")
			return
		}
		ok, free := c.dispatch(m, buf)
		if !ok {
			return
		}
		if cap(free) <= maxReusedBuffer {
			c.rbuf = free
		}
	}
}

// setReadDeadline sets the read deadline for the next message: the idle
// timeout from idleSince (now, unless stillIdle), or the first-bind
// deadline if that is earlier.
func (c *conn) setReadDeadline(idleSince *time.Time, stillIdle bool) {
	cfg := &c.srv.cfg
	now := time.Now()
	var at time.Time
	timeout := cfg.IdleTimeout
	if cfg.IdleTimeout > 0 {
		if !stillIdle {
			*idleSince = now
		}
		at = idleSince.Add(cfg.IdleTimeout)
	}
	if !c.everBound.Load() && !c.bindBy.IsZero() && (at.IsZero() || c.bindBy.Before(at)) {
		at, timeout = c.bindBy, cfg.FirstBindTimeout
	}
	if at.IsZero() {
		if !c.readDeadline.IsZero() {
			c.readDeadline = time.Time{} // bound, and no idle timeout
			_ = c.nc().SetReadDeadline(c.readDeadline)
		}
		return
	}
	if !deadlineClose(c.readDeadline, at, now, timeout) {
		c.readDeadline = at
		_ = c.nc().SetReadDeadline(at)
	}
}

// maxReusedBuffer bounds the message buffer a connection keeps.
const maxReusedBuffer = 4 << 10

// handshake runs the TLS handshake of an LDAPS connection.
func (c *conn) handshake() bool {
	if err := c.upgradeTLS(c.netConn, c.srv.tlsConfig()); err != nil {
		c.logAttrs(slog.LevelDebug, "ldaps handshake failed", slog.Any("err", err))
		return false
	}
	return true
}

// upgradeTLS runs the server side of a TLS handshake on raw, within the
// handshake timeout, and makes the connection read and write through it.
func (c *conn) upgradeTLS(raw net.Conn, cfg *tls.Config) error {
	tc := tls.Server(raw, cfg)
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.cfg.TLSHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	c.wmu.Lock()
	c.netConn = tc
	c.wmu.Unlock()
	c.br.Reset(tc)
	c.mu.Lock()
	c.tls = true
	c.mu.Unlock()
	return nil
}

// dispatch handles one message, m (the reader's, which it reuses), read
// into buf: at once, or on a worker that has a copy of m and buf. ok false
// ends the connection; free is a buffer the next message may be read into.
func (c *conn) dispatch(m *message, buf []byte) (ok bool, free []byte) {
	switch m.op {
	case opUnbindRequest:
		return false, nil
	case opAbandonRequest:
		c.abandon(m)
		return true, buf
	case opBindRequest:
		// RFC 4511 §4.2.1: operations in progress finish before a bind.
		c.wg.Wait()
		c.runInline(m)
		return true, buf
	case opExtendedRequest:
		if name, _ := extendedName(m); name == oidStartTLS {
			return c.startTLS(m), buf
		}
	case opSearchRequest, opCompareRequest, opModifyRequest, opAddRequest, opDelRequest, opModDNRequest:
	default:
		c.logAttrs(slog.LevelWarn, "ldap request of unknown type; closing the connection", slog.Int("op", int(m.op)))
		c.notice(directory.ResultProtocolError, "unknown request type")
		return false, nil
	}
	select {
	case c.sem <- struct{}{}:
	default:
		select {
		case c.sem <- struct{}{}:
		case <-c.ctx.Done():
			return false, nil
		}
	}
	if c.ctx.Err() != nil {
		<-c.sem
		return false, nil
	}
	c.mu.Lock()
	r := c.spare
	c.spare = nil
	if r == nil {
		r = new(asyncRequest)
	}
	free, r.buf = r.buf, buf
	r.rctx.reset(c.base)
	r.request = request{c: c, m: &r.msg, ctx: &r.rctx, id: c.ident, counted: true}
	r.msg = *m
	c.ops = append(c.ops, r)
	if c.ctx.Err() != nil {
		r.rctx.cancel(context.Cause(c.ctx)) // stop ran since the check above
	}
	c.mu.Unlock()
	c.active.Add(1)
	c.wg.Add(1)
	requestWorkers.run(r) // workers.go
	return true, free
}

// stop cancels the connection's context and its requests' with cause
// (the first cause stays).
func (c *conn) stop(cause error) {
	c.cancel(cause)
	cause = context.Cause(c.ctx)
	c.mu.Lock()
	for _, r := range c.ops {
		r.rctx.cancel(cause)
	}
	c.mu.Unlock()
}

// findOp returns the index in c.ops of the request with message ID id, the
// latest if the client repeated the ID, or -1. Callers hold mu.
func (c *conn) findOp(id int32) int {
	for i := len(c.ops) - 1; i >= 0; i-- {
		if c.ops[i].m.id == id {
			return i
		}
	}
	return -1
}

// runInline runs a request on the reader goroutine, which waits for it.
func (c *conn) runInline(m *message) {
	r := c.inlineRequest(m)
	r.run()
}

// inlineRequest returns the reader goroutine's request, set up for m.
func (c *conn) inlineRequest(m *message) *request {
	c.inline = request{c: c, m: m, ctx: c.ctx, id: c.identity()}
	return &c.inline
}

// abandon cancels the request the Abandon names; it gets no response
// (RFC 4511 §4.11).
func (c *conn) abandon(m *message) {
	if m.body.Constructed() {
		return
	}
	id, err := ber.ParseInt(m.body.Content)
	if err != nil {
		return
	}
	if id < 0 || id > 1<<31-1 {
		return
	}
	found := false
	c.mu.Lock()
	if i := c.findOp(int32(id)); i >= 0 {
		// Under mu: once out of ops, a finished request may be reused.
		c.ops[i].rctx.cancel(errAbandoned)
		c.ops = slices.Delete(c.ops, i, i+1)
		found = true
	}
	c.mu.Unlock()
	if found {
		c.logAttrs(slog.LevelDebug, "ldap request abandoned", slog.Int64("msgid", id))
	}
}

// startTLS answers the StartTLS extended operation (RFC 4511 §4.14) and
// runs the handshake; false ends the connection.
func (c *conn) startTLS(m *message) bool {
	r := c.inlineRequest(m)
	cfg := c.srv.tlsConfig()
	var res *directory.Error
	switch {
	case cfg == nil:
		res = &directory.Error{Code: directory.ResultProtocolError, Message: "unsupported extended operation"}
	case c.isTLS():
		res = &directory.Error{Code: directory.ResultOperationsError, Message: "TLS already established"}
	case c.active.Load() > 0:
		res = &directory.Error{Code: directory.ResultOperationsError, Message: "requests in progress"}
	case c.br.Buffered() > 0:
		res = &directory.Error{Code: directory.ResultOperationsError, Message: "data sent after the StartTLS request"}
	}
	if res != nil {
		r.finish(opExtendedResponse, res, responseName(oidStartTLS), nil)
		return true
	}
	r.finish(opExtendedResponse, nil, responseName(oidStartTLS), nil)
	c.wmu.Lock()
	failed := c.werr != nil
	raw := c.netConn
	c.wmu.Unlock()
	if failed {
		return false
	}
	if err := c.upgradeTLS(raw, cfg); err != nil {
		c.logAttrs(slog.LevelWarn, "ldap starttls handshake failed", slog.Any("err", err))
		return false
	}
	return true
}

// notice sends a Notice of Disconnection (RFC 4511 §4.4.1).
func (c *conn) notice(code directory.ResultCode, msg string) {
	if c.srv.cfg.LDAPS && !c.isTLS() {
		return // no TLS session to speak in
	}
	var e ber.Encoder
	encodeNotice(&e, code, msg)
	_ = c.write(e.B, true)
}

func encodeNotice(e *ber.Encoder, code directory.ResultCode, msg string) {
	m := e.Open(ber.TagSequence)
	e.Int(ber.TagInteger, 0)
	op := e.Open(ber.ClassApplication | ber.Constructed | opExtendedResponse)
	e.Int(ber.TagEnumerated, int64(code))
	e.Str(ber.TagOctetString, "")
	e.Str(ber.TagOctetString, msg)
	e.Str(ber.ClassContext|10, oidNoticeOfDisconnection)
	e.Close(op)
	e.Close(m)
}

// evict closes a connection that has not bound, to make room for a new
// one (see Server.startConn).
func (c *conn) evict() {
	c.logAttrs(slog.LevelDebug, "ldap connection closed to make room")
	c.stop(errEvicted)
	c.notice(directory.ResultBusy, "too many connections; bind sooner after connecting")
	c.nc().Close()
}

// shutdown wakes the reader goroutine for Close (the connection's context
// is already cancelled); it sends the Notice of Disconnection and closes the
// connection (see serve).
func (c *conn) shutdown() {
	_ = c.nc().SetReadDeadline(time.Now())
}
