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
// A token that lives less than twice as long is renewed halfway through
// its life instead (see window): renewed DefaultWindow before expiry, a
// token issued for 5 minutes or less would be due again as soon as it
// was redeemed, and each scan would rotate its refresh token.
const DefaultWindow = 5 * time.Minute

// window is how long before p's expiry a token of a provider with no
// refresh type is due: DefaultWindow, or half its lifetime when that is
// known (from its last refresh) and shorter.
func window(p *passport.Passport) time.Duration {
	if p.LastRefresh.IsZero() || !p.LastRefresh.Before(p.Expiry) {
		return DefaultWindow
	}
	return min(DefaultWindow, p.Expiry.Sub(p.LastRefresh)/2)
}

// Due reports whether p should be refreshed at now under pol.
func Due(p *passport.Passport, pol provider.RefreshPolicy, now time.Time) bool {
	at, ok := NextDue(p, pol)
	return ok && !now.Before(at)
}

// NextDue returns when p becomes due under pol (a zero time: already), or
// false when it never does as it stands.
func NextDue(p *passport.Passport, pol provider.RefreshPolicy) (time.Time, bool) {
	switch p.Status {
	case passport.StatusActive:
	case passport.StatusReconnectRequired:
		return p.RetryAfter, true // one more try per backoff window
	default:
		return time.Time{}, false
	}
	switch {
	case pol.Type == provider.RefreshNone:
		return time.Time{}, false
	case pol.Type == provider.RefreshPeriodically:
		if p.LastRefresh.IsZero() {
			return time.Time{}, true
		}
		return p.LastRefresh.Add(pol.Every), true
	case p.Expiry.IsZero():
		return time.Time{}, false
	case pol.Type == provider.RefreshBeforeExpiry:
		return p.Expiry.Add(-pol.Every), true
	}
	return p.Expiry.Add(-window(p)), true
}

// Current returns the passport as the scan should see it (the cached copy
// when fresh, else read from Vault).
type Current func(ctx context.Context, id string) (*passport.Passport, error)

// MaxRecheck bounds how long the scan trusts a passport's schedule without
// reading it again: a passport changed in Vault (reconnected, rewritten by
// an operator) is seen within this time even if it became due earlier than
// it was.
const MaxRecheck = time.Hour

// ScanOnce refreshes every due passport, at most concurrency at a time,
// and returns how many it refreshed. It remembers when each passport that
// is not due becomes due, and reads it again only then (or after
// MaxRecheck): with many passports a scan costs one Vault list, not one
// read per passport.
func (r *Refresher) ScanOnce(ctx context.Context, current Current, concurrency int) (int, error) {
	r.scanMu.Lock()
	defer r.scanMu.Unlock()
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
	now := r.cfg.Now()
	next := make(map[string]time.Time, len(ids))
	for _, id := range ids {
		if at, ok := r.next[id]; ok && now.Before(at) {
			next[id] = at
			continue
		}
		p, err := current(ctx, id)
		if err != nil {
			continue // not scheduled: read again next scan
		}
		recheck := now.Add(MaxRecheck)
		pol, err := r.policy(p)
		if err != nil {
			next[id] = recheck
			continue
		}
		at, ok := NextDue(p, pol)
		if !ok || now.Before(at) {
			if !ok || at.After(recheck) {
				at = recheck
			}
			next[id] = at
			continue
		}
		// Due. Not scheduled: next scan reads its new expiry.
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := r.refreshShared(ctx, p, false); err == nil {
				mu.Lock()
				refreshed++
				mu.Unlock()
			} else if !errors.Is(err, ErrFailed) && !errors.Is(err, passport.ErrInactive) {
				r.cfg.Logger.Warn("background refresh failed", "passport", p.ID, "error", err)
			}
		}()
	}
	wg.Wait()
	r.next = next
	return refreshed, nil
}

// Run scans every interval (±20 % jitter, so replicas spread out) until ctx ends.
func (r *Refresher) Run(ctx context.Context, interval time.Duration, concurrency int, current Current) {
	if interval <= 0 {
		interval = time.Minute
	}
	if concurrency <= 0 {
		concurrency = 4
	}
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
