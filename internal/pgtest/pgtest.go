// Package pgtest runs a real PostgreSQL server (Debian's postgresql
// package) for the tests of one test binary, and gives each test a fresh
// database on it. The server listens only on a Unix socket in its temporary
// folder. PostgreSQL refuses to run as root: as root the server runs as the
// postgres system user, which owns the folder.
//
// Outside CI missing binaries skip the test; in CI (the environment
// variable CI is set) they fail it, because .ci/run must install them.
package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// server is the test binary's PostgreSQL server, started by the first test
// that asks for a database.
var server struct {
	once sync.Once
	s    *Server
	err  error
}

// Main runs the tests and stops the server if one was started: call it
// from TestMain, as os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if server.s != nil {
		if err := server.s.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

// Server is a running PostgreSQL server.
type Server struct {
	dir     string // owns data/ and the socket
	bin     string
	cred    *syscall.Credential // the postgres user's, when run as root
	cmd     *exec.Cmd
	running bool
	log     *tailBuffer
	done    chan error
	serial  atomic.Int64
}

// DSN returns the connection string of a new, empty database that is
// dropped when the test ends.
func DSN(tb testing.TB) string {
	tb.Helper()
	bin := binDir(tb)
	server.once.Do(func() { server.s, server.err = Start(bin) })
	if server.err != nil {
		tb.Fatalf("start postgresql: %v", server.err)
	}
	return server.s.NewDatabase(tb)
}

// binDir finds the newest installed server's binaries, as Debian lays them
// out (/usr/lib/postgresql/<major>/bin).
func binDir(tb testing.TB) string {
	tb.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	slices.SortFunc(dirs, func(a, b string) int { return majorOf(a) - majorOf(b) })
	if len(dirs) > 0 {
		return filepath.Dir(dirs[len(dirs)-1])
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("postgresql is not installed, and CI is set: .ci/run must install postgresql")
	}
	tb.Skip("postgresql is not installed (apt-get install postgresql)")
	return ""
}

func majorOf(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// Start initialises a cluster in a temporary folder and starts its server,
// returning once it accepts connections.
func Start(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "ldapgate-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin, log: &tailBuffer{}}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if os.Geteuid() == 0 {
		if s.cred, err = postgresUser(); err != nil {
			return fail(err)
		}
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fail(err)
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}
	if err := s.run(); err != nil {
		return fail(err)
	}
	return s, nil
}

// Own starts a server for this test alone, stopped when it ends: for a
// test that halts and resumes the server under running clients, which
// would disturb the other tests on the shared one.
func Own(tb testing.TB) *Server {
	tb.Helper()
	s, err := Start(binDir(tb))
	if err != nil {
		tb.Fatalf("start postgresql: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// run starts the server process on the cluster and returns once it
// accepts connections.
func (s *Server) run() error {
	s.done = make(chan error, 1)
	s.cmd = exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir(), "-k", s.dir,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "logging_collector=off")
	// The server dies with the test binary, however that ends.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	ready := make(chan struct{})
	cmd, done := s.cmd, s.done
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			s.log.add(sc.Text())
			if !signalled && strings.Contains(sc.Text(), "database system is ready to accept connections") {
				signalled = true
				close(ready)
			}
		}
		io.Copy(io.Discard, stderr)
		done <- cmd.Wait()
	}()
	select {
	case <-ready:
		s.running = true
		return nil
	case err := <-done:
		return fmt.Errorf("postgres exited: %v\n%s", err, s.log)
	}
}

// Halt shuts the server down (fast shutdown: clients are disconnected)
// and keeps its data; Resume starts it again on the same socket.
func (s *Server) Halt() error {
	if !s.running {
		return errors.New("pgtest: the server is not running")
	}
	s.running = false
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := <-s.done; err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// Resume starts a halted server again.
func (s *Server) Resume() error {
	if s.running {
		return errors.New("pgtest: the server is running")
	}
	return s.run()
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// postgresUser is the credential of the postgres system user.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres system user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// ConnString is the connection string of the database named db.
func (s *Server) ConnString(db string) string {
	return fmt.Sprintf("host=%s user=postgres dbname=%s sslmode=disable", s.dir, db)
}

// NewDatabase creates an empty database, dropped when the test ends, and
// returns its connection string.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d", s.serial.Add(1))
	if err := s.admin(context.Background(), "CREATE DATABASE "+name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.admin(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			tb.Error(err)
		}
	})
	return s.ConnString(name)
}

func (s *Server) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.ConnString("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %s: %w", sql, err)
	}
	return nil
}

// Stop shuts the server down (fast shutdown) and removes its folder.
func (s *Server) Stop() error {
	var err error
	if s.running {
		err = s.Halt()
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}

// tailBuffer keeps the server's last log lines, for a failure message.
type tailBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *tailBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
	if len(b.lines) > 50 {
		b.lines = b.lines[1:]
	}
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}
