package google_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/store"
	"github.com/ldapgate/ldapgate/sync/engine"
	"github.com/ldapgate/ldapgate/sync/google"
	"github.com/ldapgate/ldapgate/sync/google/googletest"
)

// Benchmark sizes (the issue's).
const (
	benchUsers     = 100_000
	benchGroups    = 5_000
	benchMembers   = 300_000
	benchBigGroups = 50    // groups of 1,000 members: 5 pages each
	benchBigSize   = 1_000 //
	benchLatency   = 20 * time.Millisecond
)

// benchOrg fills srv with the benchmark's organisation and returns the
// minimum number of list calls the API allows for it.
func benchOrg(srv *googletest.Server) (minCalls, chain int) {
	l := srv.FillOrg(googletest.Org{Users: benchUsers, Groups: benchGroups, Members: benchMembers, BigGroups: benchBigGroups, BigSize: benchBigSize})
	return l.MinCalls, l.Chain
}

// timedSource measures the fetch inside an engine run.
type timedSource struct {
	engine.Source
	took time.Duration
	heap *heapSampler
	peak uint64 // heap during the fetch
	rss  uint64 // peak resident set at the end of the fetch
}

func (t *timedSource) Fetch(ctx context.Context) (*store.Snapshot, error) {
	start := time.Now()
	snap, err := t.Source.Fetch(ctx)
	t.took = time.Since(start)
	t.peak = t.heap.peak.Load()
	t.rss = maxRSS()
	return snap, err
}

// heapSampler samples the heap (HeapAlloc: live data and garbage not yet
// collected) every 10 ms and keeps the peak.
type heapSampler struct {
	peak     atomic.Uint64
	done     chan struct{}
	finished chan struct{}
}

func sampleHeap() *heapSampler {
	h := &heapSampler{done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(h.finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > h.peak.Load() {
				h.peak.Store(ms.HeapAlloc)
			}
			select {
			case <-h.done:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) stop() uint64 { close(h.done); <-h.finished; return h.peak.Load() }

// heapNow is the heap after a full collection.
func heapNow() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// maxRSS is the process's peak resident set (VmHWM), in bytes; 0 if unknown.
func maxRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// The benchmark runs the fake in a helper process (this test binary,
// started again with benchServerEnv set), so that the memory measured is
// ldapgate's alone.
const benchServerEnv = "LDAPGATE_BENCH_FAKE_GOOGLE_KEY"

func TestMain(m *testing.M) {
	if key := os.Getenv(benchServerEnv); key != "" {
		os.Exit(runBenchServer(key))
	}
	os.Exit(m.Run())
}

// runBenchServer serves the benchmark's organisation until stdin closes.
// It prints its URL and the minimum calls and longest chain on stdout.
func runBenchServer(keyFile string) int {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sa, err := googletest.ServiceAccountFromJSON(data)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := googletest.Start()
	defer srv.Close()
	srv.Audience = googleTokenURL // the source's aud with token_url overridden
	srv.AddServiceAccount(sa)
	srv.Delegate(sa, googletest.AllScopes...)
	srv.SetAdmin("user000000@example.com", true)
	minCalls, chain := benchOrg(srv)
	srv.SetLatency(benchLatency)
	fmt.Printf("%s %d %d\n", srv.URL, minCalls, chain)
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// startBenchServer starts the helper process and returns its URL, the
// minimum calls and the longest chain of pages.
func startBenchServer(b *testing.B, keyFile string) (url string, minCalls, chain int) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"="+keyFile)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("fake google: %v", err)
	}
	if _, err := fmt.Sscan(line, &url, &minCalls, &chain); err != nil {
		b.Fatalf("fake google said %q: %v", line, err)
	}
	return url, minCalls, chain
}

func benchStats(b *testing.B, url string) googletest.Stats {
	b.Helper()
	resp, err := http.Get(url + "/_stats")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var st googletest.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkSync100k syncs 100,000 users, 5,000 groups and 300,000
// memberships from the fake (in a helper process, 20 ms added to every
// call) into a new store through the engine. It reports the fetch's wall
// time against the longest chain of sequential page fetches, the API calls
// against the minimum the API allows, the whole sync's time, and the peak
// memory of this process (the fetch's heap, the whole sync's heap, and the
// peak resident set):
//
//	go test ./sync/google -run '^$' -bench Sync100k -benchtime 1x
func BenchmarkSync100k(b *testing.B) {
	sa := googletest.NewServiceAccount(b, "ldapgate@bench.iam.gserviceaccount.com")
	keyFile := googletest.WriteFile(b, "key.json", sa.JSONKey(b, googleTokenURL))
	url, minCalls, chain := startBenchServer(b, keyFile)

	for b.Loop() {
		if resp, err := http.Post(url+"/_reset", "", nil); err == nil {
			resp.Body.Close()
		}
		db := openStore(b)
		base := heapNow()
		heap := sampleHeap()
		src := &timedSource{Source: google.New(google.Config{
			KeyFile: keyFile, AdminEmail: "user000000@example.com", APIEndpoint: url + "/", TokenURL: url + "/token",
			// The fetch's own speed against the chain of pages; the pace
			// under Google's quota is BenchmarkSyncQuota's.
			MaxCallsPerMinute: -1,
		}), heap: heap}
		start := time.Now()
		res, err := engine.New(src, db, engine.Options{DeleteUsers: true, MaxDeletePercent: 10, PrimaryDomain: "example.com"}, nil).
			Run(context.Background(), engine.RunOptions{})
		total := time.Since(start)
		peak := heap.stop()
		if err != nil {
			b.Fatal(err)
		}
		if res.Counts.UsersAdded != benchUsers || res.Counts.GroupsAdded != benchGroups || res.Counts.MembersAdded != benchMembers {
			b.Fatalf("synced %+v", res.Counts)
		}
		st := benchStats(b, url)
		calls := st.APICalls()
		chainTime := time.Duration(chain+1) * benchLatency // +1: the token
		b.ReportMetric(src.took.Seconds(), "fetch-s")
		b.ReportMetric(chainTime.Seconds(), "chain-s")
		b.ReportMetric(src.took.Seconds()/chainTime.Seconds(), "fetch/chain")
		b.ReportMetric(total.Seconds(), "sync-s")
		b.ReportMetric(float64(calls), "api-calls")
		b.ReportMetric(float64(minCalls), "min-calls")
		b.ReportMetric(float64(st.MaxInFlight), "max-in-flight")
		b.ReportMetric(float64(src.peak-base)/(1<<20), "fetch-heap-MB")
		b.ReportMetric(float64(peak-base)/(1<<20), "sync-heap-MB")
		b.ReportMetric(float64(src.rss)/(1<<20), "fetch-rss-MB")
		b.ReportMetric(float64(maxRSS())/(1<<20), "max-rss-MB")
		if calls != minCalls {
			b.Errorf("made %d API calls, the minimum is %d", calls, minCalls)
		}
		db.Close()
	}
}
