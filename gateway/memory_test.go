package gateway

import "testing"

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
