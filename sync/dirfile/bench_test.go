package dirfile

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/sync/dirfile/dirfiletest"
)

// BenchmarkFetch100k reads a 100,000-user file (about 60 MB) and reports,
// beside ns/op, the peak heap while Fetch runs: peak-live-MB is the largest
// live heap a collection found (what Fetch holds at once), peak-heap-MB the
// largest heap of allocated objects sampled, garbage not yet collected
// included (closer to what the process's resident size follows).
func BenchmarkFetch100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "dir.json")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := dirfiletest.Generate(f, 100_000); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	src := New(path)
	var live, heap uint64
	for b.Loop() {
		b.StopTimer()
		runtime.GC() // each Fetch starts from the same heap, not the last one's garbage
		stop := sampleHeap()
		b.StartTimer()
		snap, err := src.Fetch(context.Background())
		b.StopTimer()
		l, h := stop()
		if err != nil {
			b.Fatal(err)
		}
		if len(snap.Users) != 100_000 {
			b.Fatalf("%d users, want 100000", len(snap.Users))
		}
		live, heap = max(live, l), max(heap, h)
		b.StartTimer()
	}
	b.ReportMetric(float64(live)/(1<<20), "peak-live-MB")
	b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MB")
}

// sampleHeap samples the heap every millisecond until stop is called, and
// stop returns the largest live heap and the largest heap of objects seen.
func sampleHeap() (stop func() (live, heap uint64)) {
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var live, heap uint64
	read := func() {
		metrics.Read(samples)
		live = max(live, samples[0].Value.Uint64())
		heap = max(heap, samples[1].Value.Uint64())
	}
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				read()
			}
		}
	})
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		// The live heap is measured by collections: one now counts what
		// Fetch returns, so a Fetch that ends between two collections is
		// not undercounted.
		runtime.GC()
		read()
		return live, heap
	}
}
