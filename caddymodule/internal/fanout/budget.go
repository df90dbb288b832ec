package fanout

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// budgets bound the upstream requests in flight per passport. A
// semaphore.Weighted serves its waiters in FIFO order, which is what
// screens queued behind one passport expect.
type budgets struct {
	mu sync.Mutex
	m  map[string]*budget
}

type budget struct {
	sem   *semaphore.Weighted
	users int // holders and waiters; the budget is dropped at 0
}

func newBudgets() *budgets { return &budgets{m: make(map[string]*budget)} }

// acquire takes one of passport's limit slots, waiting at most timeout
// (and never past ctx's deadline). The returned release gives it back.
// queued reports whether the call had to wait. A passport's limit is
// fixed while anyone holds or waits for a slot; a new limit applies once
// it is idle.
func (b *budgets) acquire(ctx context.Context, passport string, limit int, timeout time.Duration) (release func(), queued bool, err error) {
	b.mu.Lock()
	e := b.m[passport]
	if e == nil {
		e = &budget{sem: semaphore.NewWeighted(int64(limit))}
		b.m[passport] = e
	}
	e.users++
	b.mu.Unlock()

	done := func() {
		b.mu.Lock()
		if e.users--; e.users == 0 {
			delete(b.m, passport)
		}
		b.mu.Unlock()
	}
	if !e.sem.TryAcquire(1) {
		queued = true
		wctx, cancel := context.WithTimeout(ctx, timeout)
		err := e.sem.Acquire(wctx, 1)
		cancel()
		if err != nil {
			done()
			if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, true, ctx.Err() // the caller left
			}
			return nil, true, ErrBusy
		}
	}
	return func() { e.sem.Release(1); done() }, queued, nil
}
