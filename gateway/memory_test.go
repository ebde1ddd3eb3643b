package gateway

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{10 << 20, 100}, // a small directory keeps Go's default
		{40 << 20, 100}, // headroom = live
		{80 << 20, 50},  // 40 MB of room
		{150 << 20, 26}, // 100k users
		{4 << 30, 25},   // a quarter at least
	} {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("gcPercent(%d MB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// TestReleaseMemoryWithMemoryLimit: the unit's GOMEMLIMIT does not turn the
// collector's tuning off (it did, and a 100k-user process then grew to
// twice its directory before collecting); GOGC does.
func TestReleaseMemoryWithMemoryLimit(t *testing.T) {
	old := debug.SetGCPercent(gcDefaultPerc)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	live := make([]byte, 96<<20) // 96 MiB live: gcPercent gives it 41
	for i := range live {
		live[i] = byte(i)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	releaseMemory(testLog())
	if p := debug.SetGCPercent(gcDefaultPerc); p >= gcDefaultPerc {
		t.Errorf("with GOMEMLIMIT set: GOGC %d, want the tuned value below %d", p, gcDefaultPerc)
	}
	t.Setenv("GOGC", "100")
	releaseMemory(testLog())
	if p := debug.SetGCPercent(gcDefaultPerc); p != gcDefaultPerc {
		t.Errorf("with GOGC set: GOGC %d, want it left at %d", p, gcDefaultPerc)
	}
	runtime.KeepAlive(live)
}
