package ldapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/ber"
	"github.com/ldapgate/ldapgate/internal/clientlog"
	"github.com/ldapgate/ldapgate/store"
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("ldapserver: server closed")

// Server serves a Directory over LDAPv3 on its own connection layer (see
// conn.go): simple binds, search with paged results, compare, abandon,
// Who Am I?, StartTLS or LDAPS when TLS is configured; add, modify,
// delete and modrdn answer unwillingToPerform.
//
// Each connection has one reader goroutine and one buffered writer;
// requests run concurrently (at most Config.MaxRequestsPerConn per
// connection) with a context that Abandon, disconnect and Close cancel.
// A panicking request is answered "other"; the connection and the process
// carry on.
type Server struct {
	dir      *directory.Directory
	log      *slog.Logger
	cfg      Config // with defaults
	observer directory.Observer
	// unfinished bounds the bytes of messages still arriving on the
	// connections (see byteBudget); shared with Beside.
	unfinished *byteBudget
	// quiet holds back repeated log records of turned-away connections.
	quiet *clientlog.Quiet

	mu       sync.Mutex
	started  bool
	closed   bool
	listener net.Listener
	addr     net.Addr
	conns    map[uint64]*conn
	perAddr  map[netip.Addr]int // open connections by client address, but for trusted ones
	// unbound lists the connections, but for trusted ones, that have not
	// bound yet, oldest first: a full server closes the oldest to admit a
	// new one (see startConn).
	unbound   connList
	nextID    uint64
	connsDone sync.WaitGroup

	ready     chan struct{}
	readyOnce sync.Once

	// Test hooks.
	closedHook  func(connID uint64)
	requestHook func(ctx context.Context, op byte, m *message)
}

// New returns a server for cfg over the views live holds. It validates cfg
// (see Config.Validate). Call Serve or ListenAndServe to serve.
func New(cfg Config, live *store.Live, log *slog.Logger, opts ...Option) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ldapserver: %w", err)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.beside != nil {
		o.dir = append(o.dir, directory.Beside(o.beside.dir))
	}
	dir, err := directory.NewDirectory(cfg.directory(), live, log, o.dir...)
	if err != nil {
		return nil, err
	}
	s := &Server{
		dir:      dir,
		log:      log,
		cfg:      cfg.withDefaults(),
		observer: o.observer,
		conns:    make(map[uint64]*conn),
		perAddr:  make(map[netip.Addr]int),
		ready:    make(chan struct{}),
	}
	if b := o.beside; b != nil {
		s.unfinished, s.quiet = b.unfinished, b.quiet
	} else {
		s.unfinished = newByteBudget(s.cfg.MaxUnfinishedBytes)
		s.quiet = clientlog.NewQuiet(time.Now, time.Minute)
	}
	s.cfg.TLS = requestClientCerts(s.cfg.TLS)
	return s, nil
}

// Directory returns the directory the server serves.
func (s *Server) Directory() *directory.Directory { return s.dir }

// ListenAndServe listens on addr ("host:port"; port 0 picks a free port,
// see Addr) and serves until Close, then returns ErrServerClosed. Its
// connections have TCP keepalive only when Config.IdleTimeout is negative.
func (s *Server) ListenAndServe(addr string) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	var lc net.ListenConfig
	if s.cfg.IdleTimeout > 0 {
		// The idle timeout ends the connections of vanished clients; TCP
		// keepalive would cost four setsockopt calls per connection.
		lc.KeepAlive = -1
	}
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		s.readyOnce.Do(func() { close(s.ready) })
		return fmt.Errorf("ldapserver: %w", err)
	}
	return s.Serve(l)
}

// Serve accepts connections on l and serves them until Close, then returns
// ErrServerClosed; it closes l. With Config.LDAPS every connection speaks
// TLS from its first byte. Serve may be called once.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	case s.started:
		s.mu.Unlock()
		return errors.New("ldapserver: Serve called twice")
	}
	s.started = true
	s.listener = l
	s.addr = l.Addr()
	s.mu.Unlock()
	s.readyOnce.Do(func() { close(s.ready) })

	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("ldap accept failed; retrying", "err", err, "in", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("ldapserver: accept: %w", err)
		}
		delay = 0
		s.startConn(nc)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// startConn registers nc and starts its reader, or turns it away when the
// server is full, the client has its share of connections, or the server
// is closing.
func (s *Server) startConn(nc net.Conn) {
	addr := addrOf(nc.RemoteAddr())
	limit := s.dir.BindLimit()
	trusted := addr.IsValid() && limit.Trusted(addr)
	perAddr := s.cfg.MaxConnectionsPerAddress > 0 && addr.IsValid() && !trusted
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if perAddr && s.perAddr[addr] >= s.cfg.MaxConnectionsPerAddress {
		s.mu.Unlock()
		s.logQuietly(slog.LevelWarn, "ldap connection refused: too many connections from one address",
			slog.String("client", nc.RemoteAddr().String()), slog.Int("limit", s.cfg.MaxConnectionsPerAddress))
		go s.turnAway(nc, "too many connections from your address")
		return
	}
	if s.cfg.MaxConnections > 0 && len(s.conns) >= s.cfg.MaxConnections {
		// Clients bind within milliseconds of connecting; connections
		// that have not bound yet are the ones a flood from many addresses
		// holds. The oldest of them makes room (it is counted until its
		// reader ends, so the count may pass the limit for that long).
		old := s.unbound.head
		if old == nil {
			s.mu.Unlock()
			s.logQuietly(slog.LevelWarn, "ldap connection refused: too many connections",
				slog.String("client", nc.RemoteAddr().String()), slog.Int("limit", s.cfg.MaxConnections))
			go s.turnAway(nc, "too many connections")
			return
		}
		s.unbound.remove(old)
		s.logQuietly(slog.LevelWarn, "ldap connection closed to make room: too many connections",
			slog.String("client", old.remote.String()), slog.Int("limit", s.cfg.MaxConnections))
		go old.evict()
	}
	s.nextID++
	c := newConn(s, s.nextID, nc)
	if perAddr {
		c.addr = addr
		s.perAddr[addr]++
	}
	if !trusted {
		s.unbound.add(c)
	}
	s.conns[c.id] = c
	s.connsDone.Add(1)
	s.mu.Unlock()
	requestWorkers.run(c) // workers.go: a worker's stack has grown already
}

// connBound takes c, which has bound, off the list of unbound connections.
func (s *Server) connBound(c *conn) {
	s.mu.Lock()
	s.unbound.remove(c)
	s.mu.Unlock()
}

// connList is a list of connections through their uprev and unext
// fields, under Server.mu.
type connList struct{ head, tail *conn }

func (l *connList) add(c *conn) {
	c.uprev, c.unext, c.listed = l.tail, nil, true
	if l.tail != nil {
		l.tail.unext = c
	} else {
		l.head = c
	}
	l.tail = c
}

// remove takes c off the list if it is on it.
func (l *connList) remove(c *conn) {
	if !c.listed {
		return
	}
	if c.uprev != nil {
		c.uprev.unext = c.unext
	} else {
		l.head = c.unext
	}
	if c.unext != nil {
		c.unext.uprev = c.uprev
	} else {
		l.tail = c.uprev
	}
	c.uprev, c.unext, c.listed = nil, nil, false
}

// addrOf returns the IP address of a client, or the zero Addr.
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// turnAway sends a Notice of Disconnection (busy, with why) on a plain
// connection and closes it.
func (s *Server) turnAway(nc net.Conn, why string) {
	defer nc.Close()
	if s.cfg.LDAPS {
		return
	}
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	var e ber.Encoder
	encodeNotice(&e, directory.ResultBusy, why)
	_, _ = nc.Write(e.B)
}

func (s *Server) connClosed(c *conn) {
	s.mu.Lock()
	delete(s.conns, c.id)
	s.unbound.remove(c)
	if c.addr.IsValid() {
		if s.perAddr[c.addr]--; s.perAddr[c.addr] <= 0 {
			delete(s.perAddr, c.addr)
		}
	}
	hook := s.closedHook
	s.mu.Unlock()
	s.connsDone.Done()
	if hook != nil {
		hook(c.id)
	}
}

// logQuietly logs what clients can cause at will (refused connections,
// oversized messages) once per message and period of the directory's
// quietLog, with the number held back.
func (s *Server) logQuietly(level slog.Level, msg string, attrs ...slog.Attr) {
	if !s.log.Enabled(context.Background(), level) {
		return
	}
	log, held := s.quiet.Admit(msg)
	if !log {
		return
	}
	if held > 0 {
		attrs = append(attrs, slog.Int("similar_not_logged", held))
	}
	s.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// Ready is closed once Serve listens (Addr is set), or listening failed.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the address Serve listens on, or nil before it listens.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close stops listening, cancels the requests in progress (they are
// answered "unavailable"), sends every client a Notice of Disconnection and
// closes its connection, idle or not. It waits until the connections'
// goroutines have ended or ctx is done, and then returns ctx's error.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	l := s.listener
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.readyOnce.Do(func() { close(s.ready) })
	var err error
	if l != nil {
		if e := l.Close(); e != nil && !errors.Is(e, net.ErrClosed) {
			err = fmt.Errorf("ldapserver: close listener: %w", e)
		}
	}
	for _, c := range conns {
		c.stop(context.Canceled) // requests in progress stop
		go c.shutdown()
	}
	done := make(chan struct{})
	go func() {
		s.connsDone.Wait()
		close(done)
	}()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		// Close the stragglers hard.
		for _, c := range conns {
			c.nc().Close()
		}
		return fmt.Errorf("ldapserver: close: connections still open: %w", ctx.Err())
	}
}

// tlsConfig returns the TLS configuration, or nil without TLS.
func (s *Server) tlsConfig() *tls.Config { return s.cfg.TLS }
