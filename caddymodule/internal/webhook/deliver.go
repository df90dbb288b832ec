package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"time"
)

// deliver sends d to t until a 2xx, RetryFor passes, or ctx ends.
func (n *Notifier) deliver(ctx context.Context, t *target, d delivery) {
	log := n.cfg.Logger.With("url", t.name, "event", d.id, "type", d.typ)
	deadline := n.cfg.Now().Add(n.cfg.RetryFor)
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			n.stats.retried.Add(1)
		}
		err := n.attempt(ctx, t, d)
		if err == nil {
			n.stats.delivered.Add(1)
			log.Info("webhook delivered", "attempts", attempt)
			return
		}
		if ctx.Err() != nil {
			log.Warn("webhook delivery abandoned: shutting down", "attempts", attempt, "error", err)
			return
		}
		now := n.cfg.Now()
		if !now.Before(deadline) {
			n.stats.failed.Add(1)
			log.Error("webhook delivery given up", "attempts", attempt, "retried_for", n.cfg.RetryFor.String(), "error", err)
			return
		}
		// The last attempt is made at the deadline, not skipped because
		// the backoff would overshoot it.
		wait := min(n.backoff(attempt), deadline.Sub(now))
		log.Warn("webhook delivery failed; retrying", "attempt", attempt, "retry_in", wait.String(), "error", err)
		select {
		case <-ctx.Done():
			log.Warn("webhook delivery abandoned: shutting down", "attempts", attempt)
			return
		case <-n.cfg.After(wait):
		}
	}
}

// backoff is the wait after the given failed attempt: RetryBase doubled
// per attempt, capped at RetryMax, then jittered to between half and all
// of it so replicas and URLs that failed together do not retry in step.
func (n *Notifier) backoff(attempt int) time.Duration {
	d := n.cfg.RetryBase << min(attempt-1, 30)
	if d <= 0 || d > n.cfg.RetryMax {
		d = n.cfg.RetryMax
	}
	return d/2 + mrand.N(d/2+1)
}

// attempt POSTs d to t once, signed now with the key as it is now.
func (n *Notifier) attempt(ctx context.Context, t *target, d delivery) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.AttemptTimeout)
	defer cancel()
	key, err := n.cfg.Key(ctx)
	if err != nil {
		return fmt.Errorf("reading the signing key: %w", err)
	}
	if len(key) == 0 {
		return errors.New("the signing key is empty")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(d.body))
	if err != nil {
		return fmt.Errorf("building the request: %w", plainError(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "widgetgate-webhook")
	req.Header.Set(EventIDHeader, d.id)
	req.Header.Set(EventTypeHeader, d.typ)
	// A fresh timestamp per attempt: a retry ten minutes on must still be
	// inside the receiver's tolerance.
	req.Header.Set(SignatureHeader, Sign(key, n.cfg.Now(), d.body))
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("sending: %w", plainError(err))
	}
	// Read a little of the answer so the connection can be reused; its
	// content is never logged (a receiver's error page is not ours to keep).
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered HTTP %d", resp.StatusCode)
	}
	return nil
}
