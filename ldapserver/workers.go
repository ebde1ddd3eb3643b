package ldapserver

import "time"

// workerPool runs jobs (requests, and the reading loops of connections) on
// goroutines that outlive them. A new goroutine starts with a small stack
// that a search grows (copying it) every time; an idle worker keeps its
// grown stack, so a busy server spends that time once. Workers wait
// workerIdle for the next job, then exit, so an idle server keeps none.
type workerPool struct{ work chan job }

// job is what a worker runs. Jobs are values the caller has anyway (an
// *asyncRequest, a *conn): a closure would cost an allocation each.
type job interface{ runJob() }

const workerIdle = 10 * time.Second

var requestWorkers = workerPool{work: make(chan job)}

// run runs j on an idle worker, or on a new one if none is waiting.
func (p *workerPool) run(j job) {
	select {
	case p.work <- j:
	default:
		go p.loop(j)
	}
}

func (p *workerPool) loop(j job) {
	// The timer is armed once per workerIdle, not once per job: when it
	// fires for a worker that was busy since, it is armed again for the
	// rest of the idle time.
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		j.runJob()
		j = nil
		idleSince := time.Now()
		for j == nil {
			select {
			case j = <-p.work:
			case <-t.C:
				idle := time.Since(idleSince)
				if idle >= workerIdle {
					return
				}
				t.Reset(workerIdle - idle)
			}
		}
	}
}
