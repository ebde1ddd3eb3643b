package gateway

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// demoFiles copies the demo directory file into dir and returns the demo
// config's text with its paths in dir and LDAP on 127.0.0.1:0, and the
// directory file's path.
func demoFiles(t testing.TB, dir string) (text, dirFile string) {
	t.Helper()
	data, err := os.ReadFile("../configs/demo-directory.json")
	if err != nil {
		t.Fatal(err)
	}
	dirFile = filepath.Join(dir, "directory.json")
	if err := os.WriteFile(dirFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	demo, err := os.ReadFile("../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text = strings.NewReplacer(
		"file: demo-directory.json", "file: "+dirFile,
		"path: ../data/ldapgate.db", "path: "+filepath.Join(dir, "ldapgate.db"),
		"listen: 127.0.0.1:3389", "listen: 127.0.0.1:0",
	).Replace(string(demo))
	return text, dirFile
}

// testLog discards the log, or shows it with go test -v.
func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// runGateway runs a gateway on cfg until the test ends and returns it once
// it is ready (LDAP listening, first sync done). setup runs before Run.
func runGateway(t testing.TB, cfg *Config, log *slog.Logger, setup ...func(*Gateway)) *Gateway {
	t.Helper()
	g, _ := startGateway(t, cfg, log, setup...)
	return g
}

// startGateway runs a gateway like runGateway, and returns a func that
// stops it before the test ends.
func startGateway(t testing.TB, cfg *Config, log *slog.Logger, setup ...func(*Gateway)) (*Gateway, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g, err := New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for _, f := range setup {
		f(g)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			if err := g.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-g.Ready():
	case err := <-done:
		t.Fatalf("Run ended before ready: %v", err)
	}
	return g, stop
}

// waitFor waits for cond, checking every few milliseconds. Its bound only
// ends a test that would hang: it is no timing goal, and a race run on two
// cores loaded by benchmarks once took longer than 10 s for a lease
// takeover (TestOneInstanceRunsTheScheduledSyncs).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
