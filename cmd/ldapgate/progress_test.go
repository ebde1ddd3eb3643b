package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/internal/numfmt"
	"github.com/ldapgate/ldapgate/sync/progress"
)

// TestProgressNotATerminal checks that nothing is drawn when the output is
// not a terminal (scripts, logs, CI).
func TestProgressNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	c := new(progress.Progress)
	c.SetUsers(3)
	p := startProgress(&buf, c)
	p.stop()
	if buf.Len() != 0 {
		t.Errorf("progress wrote %q to a non-terminal", buf.String())
	}
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name  string
		c     progress.Counts
		width int
		want  string
	}{
		{name: "nothing yet", width: 80, want: "fetching: 0 users, 0 groups"},
		{name: "one of each", c: progress.Counts{Users: 1, Groups: 1}, width: 80,
			want: "fetching: 1 user, 1 group"},
		{name: "members before the total is known",
			c:     progress.Counts{Users: 12345, Groups: 87, MemberLists: 40, GroupsInScope: 60},
			width: 120, want: "fetching: 12,345 users, 87 groups, members of 40 groups"},
		{name: "total known",
			c:     progress.Counts{Users: 12345, Groups: 87, MemberLists: 40, GroupsInScope: 87, ScopeKnown: true},
			width: 120, want: "fetching: 12,345 users, 87 groups, members of 40/87 groups [#####-----] 46%"},
		{name: "no width limit",
			c:     progress.Counts{Users: 12345, Groups: 87, MemberLists: 40, GroupsInScope: 87, ScopeKnown: true},
			width: 0, want: "fetching: 12,345 users, 87 groups, members of 40/87 groups [#####-----] 46%"},
		{name: "none listed yet",
			c:     progress.Counts{Users: 5, Groups: 3, GroupsInScope: 3, ScopeKnown: true},
			width: 120, want: "fetching: 5 users, 3 groups, members of 0/3 groups [----------] 0%"},
		{name: "almost done is not 100%",
			c:     progress.Counts{Users: 1_000_000, Groups: 1000, MemberLists: 999, GroupsInScope: 1000, ScopeKnown: true},
			width: 120, want: "fetching: 1,000,000 users, 1,000 groups, members of 999/1,000 groups [#########-] 99%"},
		{name: "done",
			c:     progress.Counts{Users: 7, Groups: 2, MemberLists: 2, GroupsInScope: 2, ScopeKnown: true, Members: 9},
			width: 120, want: "fetching: 7 users, 2 groups, members of 2/2 groups [##########] 100%"},
		{name: "scope known, no groups in it",
			c:     progress.Counts{Users: 7, Groups: 2, ScopeKnown: true},
			width: 120, want: "fetching: 7 users, 2 groups"},
		{name: "torn reading: more lists than queued",
			c:     progress.Counts{Users: 7, Groups: 2, MemberLists: 3, GroupsInScope: 2, ScopeKnown: true},
			width: 120, want: "fetching: 7 users, 2 groups, members of 3/3 groups [##########] 100%"},
		{name: "too narrow for the bar",
			c:     progress.Counts{Users: 12345, Groups: 87, MemberLists: 40, GroupsInScope: 87, ScopeKnown: true},
			width: 70, want: "fetching: 12,345 users, 87 groups, members of 40/87 groups"},
		{name: "bar needs a free last column",
			c:     progress.Counts{Users: 12345, Groups: 87, MemberLists: 40, GroupsInScope: 87, ScopeKnown: true},
			width: 75, want: "fetching: 12,345 users, 87 groups, members of 40/87 groups"},
		{name: "bar just fits",
			c:     progress.Counts{Users: 12345, Groups: 87, MemberLists: 40, GroupsInScope: 87, ScopeKnown: true},
			width: 76, want: "fetching: 12,345 users, 87 groups, members of 40/87 groups [#####-----] 46%"},
		{name: "truncated",
			c:     progress.Counts{Users: 12345, Groups: 87},
			width: 20, want: "fetching: 12,345 us"},
		{name: "width 1", c: progress.Counts{Users: 1}, width: 1, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := progressLine(tt.c, 0, tt.width); got != tt.want {
				t.Errorf("progressLine(%+v, %d)\n got %q\nwant %q", tt.c, tt.width, got, tt.want)
			}
			if got := progressLine(tt.c, 0, tt.width); tt.width > 0 && len(got) >= tt.width {
				t.Errorf("line of %d columns in a width of %d", len(got), tt.width)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 12345: "12,345",
		123456: "123,456", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := numfmt.Thousands(n); got != want {
			t.Errorf("numfmt.Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestProgressLinePhases: after the fetch, each phase shows what it works
// on and how long it has taken, instead of a fetch line stuck at 100%.
func TestProgressLinePhases(t *testing.T) {
	done := progress.Counts{Users: 100000, Groups: 100, MemberLists: 100, GroupsInScope: 100, ScopeKnown: true}
	for _, tt := range []struct {
		phase progress.Phase
		items int64
		want  string
	}{
		{progress.PhasePlan, 100000, "planning: 100,000 users against the store (4s)"},
		{progress.PhaseApply, 499100, "applying 499,100 changes in one transaction (4s)"},
		{progress.PhaseFinish, 1, "finishing: 1 audit record (4s)"},
	} {
		c := done
		c.Phase, c.Items = tt.phase, tt.items
		if got := progressLine(c, 4500*time.Millisecond, 120); got != tt.want {
			t.Errorf("phase %d: got %q, want %q", tt.phase, got, tt.want)
		}
		if got := progressLine(c, 4500*time.Millisecond, 20); len(got) >= 20 {
			t.Errorf("phase %d at width 20: %q", tt.phase, got)
		}
	}
}
