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
	dir    string // owns data/ and the socket
	cmd    *exec.Cmd
	log    *tailBuffer
	done   chan error
	serial atomic.Int64
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
	s := &Server{dir: dir, log: &tailBuffer{}, done: make(chan error, 1)}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		if cred, err = postgresUser(); err != nil {
			return fail(err)
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", s.dataDir(), "-k", dir,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "logging_collector=off")
	// The server dies with the test binary, however that ends.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return fail(err)
	}
	if err := s.cmd.Start(); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	ready := make(chan struct{})
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
		s.done <- s.cmd.Wait()
	}()
	select {
	case <-ready:
		return s, nil
	case err := <-s.done:
		return fail(fmt.Errorf("postgres exited: %v\n%s", err, s.log))
	}
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
	err := s.cmd.Process.Signal(syscall.SIGINT)
	if err == nil {
		if werr := <-s.done; werr != nil && !errors.Is(werr, os.ErrProcessDone) {
			err = fmt.Errorf("postgres: %w", werr)
		}
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
