package gateway

import (
	"log/slog"
	"os"
	"runtime/debug"
	runtimemetrics "runtime/metrics"
)

// Go's collector lets the heap grow to twice what is live (GOGC=100)
// before it collects. Most of ldapgate's live heap is the directory (about
// 1.4 KB per user: the view and the packed LDAP entries), which never
// changes between syncs, so doubling it buys nothing: with 100k users the
// process would sit at ~300 MB for a 140 MB directory. After each sync and
// each new view the memory of the sync is handed back to the operating
// system, and the collector is allowed the larger of gcHeadroom and a
// quarter of the live heap as room to grow. An operator's GOGC wins; a
// GOMEMLIMIT (packaging's unit sets one below its MemoryMax) is a ceiling
// that works alongside this tuning, not instead of it.
//
// A sync's working set is another matter: the fetch, the store's state and
// the plan grow from nothing to ~200 MB of live heap (100k users) within
// seconds and are garbage at its end, so no setting derived from the live
// heap before it fits. It runs at gcSyncPercent. Measured with
// bench/sync-memory.sh at 100k users (peak resident set of ldapgate sync,
// first sync / no-change sync): GOGC=100 421/394 MB, 50 371/363 MB, 25
// 325-338/309-321 MB, 20 -/295-297 MB, 15 321/285-291 MB. The no-change
// sync's CPU time grows from ~8 s at 25 to ~9 s at 20 and ~11 s at 15;
// its wall time does not (the fetch waits on the network, the collector
// runs beside it). serve's start-up sync into an empty store, view
// included, pays more, as its plan, apply and view build are CPU-bound:
// 540 MB and 16 CPU seconds at 100, 492 MB and 18 s at 50, 454 MB and 19 s
// at 35, 403-428 MB and 23-25 s at 20.
const (
	gcHeadroom    = 40 << 20
	gcMinPercent  = 25
	gcDefaultPerc = 100
	gcSyncPercent = 20
)

// tuneForSync sets the collector for a sync's working set, until the
// next releaseMemory; not when GOGC is set in the environment.
func tuneForSync() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcSyncPercent)
	}
}

// gcPercent returns the GOGC setting that gives a live heap of live bytes
// its headroom.
func gcPercent(live uint64) int {
	if live == 0 {
		return gcDefaultPerc
	}
	p := int(gcHeadroom * 100 / live)
	return min(max(p, gcMinPercent), gcDefaultPerc)
}

// releaseMemory runs after a sync and after a view swap: the sync's working
// memory, the previous view and its trees are garbage now.
func releaseMemory(log *slog.Logger) {
	debug.FreeOSMemory() // a full collection, then the freed pages go back
	if os.Getenv("GOGC") != "" {
		return
	}
	s := []runtimemetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	runtimemetrics.Read(s)
	if s[0].Value.Kind() != runtimemetrics.KindUint64 {
		return
	}
	live := s[0].Value.Uint64()
	p := gcPercent(live)
	if old := debug.SetGCPercent(p); old != p {
		log.Debug("garbage collector tuned for the directory", "live_heap_mb", live>>20, "gogc", p)
	}
}
