package ldapserver

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/store"
)

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

// BenchmarkSearchByUID: one search by uid on a bound connection over
// loopback, 100k users, all user attributes returned.
func BenchmarkSearchByUID(b *testing.B) {
	s, _ := newTestServer(b, testConfig(b), benchLive())
	addr := serve(b, s)
	c := dialBound(b, addr)
	if _, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, "(uid=user0000000)"); err != nil { // builds the tree
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, fmt.Sprintf("(uid=user%07d)", (i*7919)%benchUsers))
		if err != nil || len(r.Entries) != 1 {
			b.Fatalf("%v %v", r, err)
		}
	}
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
		err = d.Search(ctx, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: f}, func(*SearchEntry) error { n++; return nil })
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
		err := d.Search(ctx, serviceID, &SearchRequest{BaseDN: testBase, Scope: ScopeSub, Filter: f}, func(*SearchEntry) error { n++; return nil })
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
	var t *tree
	b.ResetTimer()
	for b.Loop() {
		t = buildTree(v, l)
	}
	b.StopTimer()
	var before, after runtime.MemStats
	t = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	t = buildTree(v, l)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-heap")
	runtime.KeepAlive(t)
}
