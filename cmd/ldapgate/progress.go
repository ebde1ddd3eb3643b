package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/ldapgate/ldapgate/internal/numfmt"
	"github.com/ldapgate/ldapgate/sync/progress"
)

// progressDisplay shows, on a terminal only, what a long sync has fetched so far
// (see progressLine), redrawn in place. stop clears it.
type progressDisplay struct {
	done  chan struct{}
	ended chan struct{}
}

// startProgress starts the display of c on w if w is a terminal; otherwise
// it returns a progress whose stop does nothing.
func startProgress(w io.Writer, c *progress.Progress) *progressDisplay {
	p := &progressDisplay{}
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return p
	}
	p.done, p.ended = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.ended)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		phase, since := progress.PhaseFetch, time.Now()
		for {
			select {
			case <-p.done:
				fmt.Fprint(w, "\r\033[K")
				return
			case now := <-t.C:
				width, _, err := term.GetSize(int(f.Fd()))
				if err != nil {
					width = 80
				}
				counts := c.Load()
				if counts.Phase != phase {
					phase, since = counts.Phase, now
				}
				fmt.Fprint(w, "\r"+progressLine(counts, now.Sub(since), width)+"\033[K")
			}
		}
	}()
	return p
}

func (p *progressDisplay) stop() {
	if p.done == nil {
		return
	}
	close(p.done)
	<-p.ended
}

// barWidth is the number of cells of the progress bar.
const barWidth = 10

// progressLine renders the counters as one line that fits in width
// columns (without wrapping, so that \r can redraw it), e.g.
//
//	fetching: 12,345 users, 87 groups, members of 40/87 groups [#####-----] 46%
//	planning: 100,000 users against the store (4s)
//	applying 499,100 changes in one transaction (12s)
//	finishing: 499,100 audit records (3s)
//
// While fetching, the total of groups, the bar and the percentage come
// once the groups in scope are known; the other phases show how long they
// have taken (elapsed). Too narrow a terminal loses the bar, then the
// line's end; width <= 0 means no limit.
func progressLine(c progress.Counts, elapsed time.Duration, width int) string {
	if c.Phase != progress.PhaseFetch {
		var line string
		switch c.Phase {
		case progress.PhasePlan:
			line = "planning: " + numfmt.Thousands(c.Items) + plural(c.Items, " user", " users") + " against the store"
		case progress.PhaseApply:
			line = "applying " + numfmt.Thousands(c.Items) + plural(c.Items, " change", " changes") + " in one transaction"
		default:
			line = "finishing: " + numfmt.Thousands(c.Items) + plural(c.Items, " audit record", " audit records")
		}
		line += " (" + elapsed.Truncate(time.Second).String() + ")"
		if width > 0 && len(line) >= width {
			line = line[:max(width-1, 0)]
		}
		return line
	}
	var b strings.Builder
	b.WriteString("fetching: ")
	b.WriteString(numfmt.Thousands(c.Users))
	b.WriteString(plural(c.Users, " user", " users"))
	b.WriteString(", ")
	b.WriteString(numfmt.Thousands(c.Groups))
	b.WriteString(plural(c.Groups, " group", " groups"))
	total := max(c.GroupsInScope, c.MemberLists)
	switch {
	case c.ScopeKnown && total > 0:
		b.WriteString(", members of ")
		b.WriteString(numfmt.Thousands(c.MemberLists))
		b.WriteString("/")
		b.WriteString(numfmt.Thousands(total))
		b.WriteString(plural(total, " group", " groups"))
	case !c.ScopeKnown && c.MemberLists > 0:
		b.WriteString(", members of ")
		b.WriteString(numfmt.Thousands(c.MemberLists))
		b.WriteString(plural(c.MemberLists, " group", " groups"))
	}
	line := b.String()
	if c.ScopeKnown && total > 0 {
		// Round to the nearest, but show neither a full bar nor 100% before
		// the last list is in.
		done := c.MemberLists
		cells := (done*barWidth*2 + total) / (total * 2)
		pct := (done*100*2 + total) / (total * 2)
		if done < total {
			cells, pct = min(cells, barWidth-1), min(pct, 99)
		}
		bar := " [" + strings.Repeat("#", int(cells)) + strings.Repeat("-", barWidth-int(cells)) + "] " + strconv.FormatInt(pct, 10) + "%"
		if width <= 0 || len(line)+len(bar) < width {
			line += bar
		}
	}
	// Leave the last column free: writing into it wraps on some terminals.
	if width > 0 && len(line) >= width {
		line = line[:max(width-1, 0)]
	}
	return line
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
