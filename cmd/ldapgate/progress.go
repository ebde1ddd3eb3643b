package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// progress shows, on a terminal only, that a long sync is alive: the time
// taken and the API calls made so far, redrawn in place. stop clears it.
type progress struct {
	w     io.Writer
	calls func() int64
	done  chan struct{}
	ended chan struct{}
}

// startProgress starts the display on w if w is a terminal; otherwise it
// returns a progress whose stop does nothing.
func startProgress(w io.Writer, what string, calls func() int64) *progress {
	p := &progress{w: w, calls: calls}
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return p
	}
	p.done, p.ended = make(chan struct{}), make(chan struct{})
	start := time.Now()
	go func() {
		defer close(p.ended)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		spin := `|/-\`
		for i := 0; ; i++ {
			select {
			case <-p.done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				line := fmt.Sprintf("\r\033[K%c %s %s", spin[i%len(spin)], what, time.Since(start).Round(time.Second))
				if n := p.calls(); n > 0 {
					line += fmt.Sprintf(", %d Google API calls", n)
				}
				fmt.Fprint(w, line)
			}
		}
	}()
	return p
}

func (p *progress) stop() {
	if p.done == nil {
		return
	}
	close(p.done)
	<-p.ended
}
