package refresh

import (
	"context"
	"fmt"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

// inflight counts work that must finish before the process stops: a
// redemption sent to a provider, and a write-back of its tokens.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; nil while n is 0
}

func (f *inflight) add() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 {
		close(f.idle)
		f.idle = nil
	}
}

// wait returns once nothing is in flight, or with an error when ctx ends.
func (f *inflight) wait(ctx context.Context) error {
	f.mu.Lock()
	idle, n := f.idle, f.n
	f.mu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d token refreshes still in flight: %w", n, ctx.Err())
	}
}

// sendBound bounds a call to a token endpoint in two stages: reaching it
// (connecting, sending the request) within TokenTimeout, then its answer
// within AnswerTimeout. A request not yet fully written can be abandoned
// safely; one written may already have rotated the refresh token, so its
// answer is awaited.
func (r *Refresher) sendBound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.TokenTimeout+r.cfg.AnswerTimeout)
	var sent atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				sent.Store(true)
			}
		},
	})
	reach := time.AfterFunc(r.cfg.TokenTimeout, func() {
		if !sent.Load() {
			cancel()
		}
	})
	return ctx, func() { reach.Stop(); cancel() }
}
