package passhash

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrBusy means a comparison waited longer than the Gate allows for room
// in its budget: the password was not checked. A bind answers busy (51)
// and the attempt does not count as a failure.
var ErrBusy = errors.New("too many password checks in progress")

// Defaults of the process's Gate (see Verify): 256 MiB of hashing memory,
// at most GOMAXPROCS comparisons at once (so that searches keep CPU
// time), 2 s of waiting for room.
const (
	DefaultBudget = 256 * 1024 // KiB
	DefaultWait   = 2 * time.Second
)

// Gate bounds the memory and CPU of the password comparisons running at
// once. Each comparison is charged its hash's memory (argon2id's m; bcrypt
// as much as an argon2id hash at Default), but at least budget/concurrency,
// so that at most concurrency run at once whatever their parameters. It is
// safe for concurrent use.
type Gate struct {
	sem         *semaphore.Weighted
	budget, min int64 // KiB
	wait        time.Duration
	inFlight    atomic.Int64
	busy        atomic.Uint64
	compare     func(hash, pw string) (bool, error) // Compare; tests count
}

// NewGate returns a gate of budget KiB for at most concurrency comparisons
// at once, each waiting at most wait for room.
func NewGate(budget int64, concurrency int, wait time.Duration) *Gate {
	concurrency = max(concurrency, 1)
	budget = max(budget, int64(concurrency))
	return &Gate{sem: semaphore.NewWeighted(budget), budget: budget, min: budget / int64(concurrency), wait: wait,
		compare: Compare}
}

var shared = NewGate(DefaultBudget, runtime.GOMAXPROCS(0), DefaultWait)

// Shared returns the process's gate, which Verify uses: every password
// comparison of ldapgate goes through it, service accounts' and app
// passwords' alike.
func Shared() *Gate { return shared }

// Verify compares pw with hash through the process's gate (Gate.Verify).
func Verify(ctx context.Context, hash, pw string) (bool, error) { return shared.Verify(ctx, hash, pw) }

// Verify reports whether pw matches hash, once the gate has room for the
// comparison. It returns ErrBusy (wrapped) after waiting longer than the
// gate's wait, ctx's error if ctx ends first, and another error if hash is
// unusable.
func (g *Gate) Verify(ctx context.Context, hash, pw string) (bool, error) {
	c, err := cost(hash)
	if err != nil {
		return false, err
	}
	w := min(max(c, g.min), g.budget)
	if !g.sem.TryAcquire(w) {
		wctx, cancel := context.WithTimeout(ctx, g.wait)
		err := g.sem.Acquire(wctx, w)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			g.busy.Add(1)
			return false, ErrBusy
		}
	}
	g.inFlight.Add(1)
	defer func() {
		g.inFlight.Add(-1)
		g.sem.Release(w)
	}()
	return g.compare(hash, pw)
}

// InFlight returns the number of comparisons running now.
func (g *Gate) InFlight() int64 { return g.inFlight.Load() }

// BusyTotal returns how many comparisons gave up waiting for room.
func (g *Gate) BusyTotal() uint64 { return g.busy.Load() }
