package ldapserver

import "time"

// workerPool runs requests on goroutines that outlive them. A new
// goroutine per request starts with a small stack that a search grows
// (copying it) every time; an idle worker keeps its grown stack, so a busy
// server spends that time once. Workers wait workerIdle for the next
// request, then exit, so an idle server keeps none.
type workerPool struct{ work chan func() }

const workerIdle = 10 * time.Second

var requestWorkers = workerPool{work: make(chan func())}

// run runs f on an idle worker, or on a new one if none is waiting.
func (p *workerPool) run(f func()) {
	select {
	case p.work <- f:
	default:
		go p.loop(f)
	}
}

func (p *workerPool) loop(f func()) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		f = nil
		t.Reset(workerIdle)
		select {
		case f = <-p.work:
		case <-t.C:
			return
		}
	}
}
