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
	limit int
	users int // holders and waiters
}

// maxIdleBudgets is how many budgets nobody uses are kept, so a passport
// called one call at a time does not build a new one per call.
const maxIdleBudgets = 4096

func newBudgets() *budgets { return &budgets{m: make(map[string]*budget)} }

// acquire takes one of passport's limit slots, waiting at most timeout
// (and never past ctx's deadline). The returned release gives it back.
// queued reports whether the call had to wait. A passport's limit is
// fixed while anyone holds or waits for a slot; a new limit applies once
// it is idle.
func (b *budgets) acquire(ctx context.Context, passport string, limit int, timeout time.Duration) (e *budget, queued bool, err error) {
	b.mu.Lock()
	e = b.m[passport]
	if e == nil || e.users == 0 && e.limit != limit {
		if len(b.m) >= maxIdleBudgets {
			b.sweep()
		}
		e = &budget{sem: semaphore.NewWeighted(int64(limit)), limit: limit}
		b.m[passport] = e
	}
	e.users++
	b.mu.Unlock()

	if !e.sem.TryAcquire(1) {
		queued = true
		wctx, cancel := context.WithTimeout(ctx, timeout)
		err := e.sem.Acquire(wctx, 1)
		cancel()
		if err != nil {
			b.leave(e)
			if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, true, ctx.Err() // the caller left
			}
			return nil, true, ErrBusy
		}
	}
	return e, queued, nil
}

// release gives back a slot acquire took.
func (b *budgets) release(e *budget) {
	e.sem.Release(1)
	b.leave(e)
}

func (b *budgets) leave(e *budget) {
	b.mu.Lock()
	e.users--
	b.mu.Unlock()
}

// sweep drops the budgets nobody holds or waits for. Called with mu held.
func (b *budgets) sweep() {
	for k, e := range b.m {
		if e.users == 0 {
			delete(b.m, k)
		}
	}
}
