package refresh

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
)

// DefaultWindow is how long before expiry the background refresher renews
// a token whose provider sets no refresh type, so calls rarely wait for one.
const DefaultWindow = 5 * time.Minute

// Due reports whether p should be refreshed at now under pol.
func Due(p *passport.Passport, pol provider.RefreshPolicy, now time.Time) bool {
	switch p.Status {
	case passport.StatusActive:
	case passport.StatusReconnectRequired:
		return !now.Before(p.RetryAfter) // one more try per backoff window
	default:
		return false
	}
	switch pol.Type {
	case provider.RefreshNone:
		return false
	case provider.RefreshPeriodically:
		return p.LastRefresh.IsZero() || !now.Before(p.LastRefresh.Add(pol.Every))
	case provider.RefreshBeforeExpiry:
		return !p.Expiry.IsZero() && !now.Before(p.Expiry.Add(-pol.Every))
	default:
		return !p.Expiry.IsZero() && !now.Before(p.Expiry.Add(-DefaultWindow))
	}
}

// Current returns the passport as the cache knows it (reading Vault only
// when the cache must).
type Current func(ctx context.Context, id string) (*passport.Passport, error)

// ScanOnce refreshes every due passport, at most concurrency at a time,
// and returns how many it refreshed.
func (r *Refresher) ScanOnce(ctx context.Context, current Current, concurrency int) (int, error) {
	ids, err := r.store.ListPassports(ctx)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, max(concurrency, 1))
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		refreshed int
	)
	for _, id := range ids {
		p, err := current(ctx, id)
		if err != nil {
			continue
		}
		pol, err := r.policy(p)
		if err != nil || !Due(p, pol, r.cfg.Now()) {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := r.Refresh(ctx, p); err == nil {
				mu.Lock()
				refreshed++
				mu.Unlock()
			} else if !errors.Is(err, ErrFailed) && !errors.Is(err, passport.ErrInactive) {
				r.cfg.Logger.Warn("background refresh failed", "passport", p.ID, "error", err)
			}
		}()
	}
	wg.Wait()
	return refreshed, nil
}

// Run scans every interval (±20 % jitter, so replicas spread out) until ctx ends.
func (r *Refresher) Run(ctx context.Context, interval time.Duration, concurrency int, current Current) {
	for {
		d := time.Duration(float64(interval) * (0.8 + 0.4*mrand.Float64()))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if _, err := r.ScanOnce(ctx, current, concurrency); err != nil {
			r.cfg.Logger.Warn("background refresh scan failed", "error", err)
		}
	}
}
