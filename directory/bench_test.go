package directory

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/ldapgate/ldapgate/store"
)

// benchUsers is the size of the benchmarks' directory (ldapserver's
// benchmarks serve the same one over the wire).
const benchUsers = 100_000

var (
	benchViewOnce sync.Once
	benchViewV    *store.View
)

func benchView() *store.View {
	benchViewOnce.Do(func() { benchViewV = bigView(benchUsers) })
	return benchViewV
}

func benchLive() *store.Live {
	l := &store.Live{}
	l.Store(benchView())
	return l
}

func benchDirectory(b *testing.B) *Directory {
	b.Helper()
	d, err := NewDirectory(testConfig(b), benchLive(), nil)
	if err != nil {
		b.Fatal(err)
	}
	d.trees.get(d.live)
	return d
}

// BenchmarkCoreSearchByUID: the same search in process, without network
// and BER (filter parsing included).
func BenchmarkCoreSearchByUID(b *testing.B) {
	d := benchDirectory(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f, err := ParseFilter(fmt.Sprintf("(uid=user%07d)", (i*7919)%benchUsers))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		_, err = d.Search(ctx, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: f}, func(*Entry, Selection) error { n++; return nil })
		if err != nil || n != 1 {
			b.Fatalf("%d entries, %v", n, err)
		}
	}
}

// BenchmarkCoreSearchScan: a filter no index answers (substrings on sn),
// which evaluates every entry of the 100k.
func BenchmarkCoreSearchScan(b *testing.B) {
	d := benchDirectory(b)
	f := mustFilter(b, "(&(objectClass=person)(sn=*ily99999))")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		_, err := d.Search(ctx, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: f}, func(*Entry, Selection) error { n++; return nil })
		if err != nil || n != 1 {
			b.Fatalf("%d entries, %v", n, err)
		}
	}
}

// BenchmarkTreeBuild: building the tree of a 100k-user view (once per
// sync); reports the heap the tree keeps.
func BenchmarkTreeBuild(b *testing.B) {
	v := benchView()
	c := testConfig(b).withDefaults()
	l, err := newLayout(&c)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		_ = buildTree(v, l)
	}
	b.StopTimer()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t := buildTree(v, l)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-heap")
	runtime.KeepAlive(t)
}
