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
// at most GOMAXPROCS-1 comparisons at once (at least one: a core stays for
// searches however many binds fail), 2 s of waiting for room.
const (
	DefaultBudget = 256 * 1024 // KiB
	DefaultWait   = 2 * time.Second
)

// Gate bounds the memory and CPU of the password comparisons running at
// once. Each comparison is charged its hash's memory (argon2id's m; bcrypt
// as much as an argon2id hash at Default), but at least budget/concurrency,
// so that at most concurrency run at once whatever their parameters; one
// more room is kept for priority comparisons (WithPriority). It is safe for
// concurrent use.
type Gate struct {
	sem         *semaphore.Weighted
	reserved    *semaphore.Weighted // one comparison's room, for WithPriority
	budget, min int64               // KiB
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
	return &Gate{sem: semaphore.NewWeighted(budget), reserved: semaphore.NewWeighted(1), budget: budget,
		min: budget / int64(concurrency), wait: wait, compare: Compare}
}

var shared = NewGate(DefaultBudget, runtime.GOMAXPROCS(0)-1, DefaultWait)

// Shared returns the process's gate, which Verify uses: every password
// comparison of ldapgate goes through it, service accounts' and app
// passwords' alike.
func Shared() *Gate { return shared }

type priorityKey struct{}

// WithPriority marks the comparisons made with ctx as a trusted client's
// (the archive server's, from ldap.bind_limit.trusted_networks): when the
// gate is full they take a room kept for them, so that a flood of failed
// binds from elsewhere does not make the archive server's binds busy.
func WithPriority(ctx context.Context) context.Context {
	return context.WithValue(ctx, priorityKey{}, true)
}

// Priority reports whether ctx carries WithPriority.
func Priority(ctx context.Context) bool {
	p, _ := ctx.Value(priorityKey{}).(bool)
	return p
}

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
	release, err := g.acquire(ctx, min(max(c, g.min), g.budget))
	if err != nil {
		return false, err
	}
	g.inFlight.Add(1)
	defer func() {
		g.inFlight.Add(-1)
		release()
	}()
	return g.compare(hash, pw)
}

// acquire waits for room for a comparison of weight w, at most g.wait,
// and returns what gives it back. A priority comparison that finds the
// gate full waits for the reserved room instead, which only priority
// comparisons use.
func (g *Gate) acquire(ctx context.Context, w int64) (func(), error) {
	if g.sem.TryAcquire(w) {
		return func() { g.sem.Release(w) }, nil
	}
	sem, n := g.sem, w
	if Priority(ctx) {
		// The reserved room is one comparison, whatever its weight: its
		// memory is on top of the budget.
		sem, n = g.reserved, 1
	}
	wctx, cancel := context.WithTimeout(ctx, g.wait)
	defer cancel()
	if err := sem.Acquire(wctx, n); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		g.busy.Add(1)
		return nil, ErrBusy
	}
	return func() { sem.Release(n) }, nil
}

// InFlight returns the number of comparisons running now.
func (g *Gate) InFlight() int64 { return g.inFlight.Load() }

// BusyTotal returns how many comparisons gave up waiting for room.
func (g *Gate) BusyTotal() uint64 { return g.busy.Load() }
