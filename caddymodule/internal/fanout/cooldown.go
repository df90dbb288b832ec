package fanout

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cooldowns are the passport and provider host pairs a provider asked to
// back off. While one lasts, no call of that passport reaches that host.
type cooldowns struct {
	mu sync.Mutex
	m  map[coolKey]*cooling
}

type coolKey struct{ passport, host string }

type cooling struct {
	until time.Time
	// strikes counts rate limits without a Retry-After in a row: each
	// doubles the next cool-down.
	strikes int
}

func newCooldowns() *cooldowns { return &cooldowns{m: make(map[coolKey]*cooling)} }

// remaining returns how long passport's cool-down at host still lasts.
func (c *cooldowns) remaining(passport, host string, now time.Time) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[coolKey{passport, host}]
	if !ok || !now.Before(e.until) {
		return 0, false
	}
	return e.until.Sub(now), true
}

// start begins (or extends) a cool-down: hint when the provider gave one,
// else 1 s doubled per strike; either clamped to [1 s, ceiling].
func (c *cooldowns) start(passport, host string, hint time.Duration, now time.Time, ceiling time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := coolKey{passport, host}
	e := c.m[k]
	if e == nil {
		e = &cooling{}
		c.m[k] = e
	}
	d := hint
	if d <= 0 {
		d = time.Second << min(e.strikes, 20)
		e.strikes++
	}
	d = min(max(d, time.Second), ceiling)
	if until := now.Add(d); until.After(e.until) {
		e.until = until
	}
	c.sweep(now)
}

// clear ends the backoff of a pair whose provider answered normally.
func (c *cooldowns) clear(passport, host string) {
	c.mu.Lock()
	delete(c.m, coolKey{passport, host})
	c.mu.Unlock()
}

// sweep drops pairs whose cool-down ended long ago, so the map holds only
// passports recently limited. Called with mu held.
func (c *cooldowns) sweep(now time.Time) {
	if len(c.m) < 1024 {
		return
	}
	for k, e := range c.m {
		if now.Sub(e.until) > time.Hour {
			delete(c.m, k)
		}
	}
}

func (c *cooldowns) active(now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.m {
		if now.Before(e.until) {
			n++
		}
	}
	return n
}

// rateLimited reports whether a says the provider is rate limiting the
// passport, and how long it asked to wait (0: no usable hint). Signs:
// a 429; a 503 with Retry-After; Google's 403 whose error reason is
// rateLimitExceeded or userRateLimitExceeded.
func rateLimited(a Answer, now time.Time) (time.Duration, bool) {
	hint, hinted := retryAfter(a.Header, now)
	switch {
	case a.Status == http.StatusTooManyRequests:
	case a.Status == http.StatusServiceUnavailable && hinted:
	case a.Status == http.StatusForbidden && googleRateLimit(a.Body):
	default:
		return 0, false
	}
	return hint, true
}

// retryAfter parses Retry-After (RFC 9110 §10.2.3): delta-seconds or an
// HTTP-date. A date in the past, or junk, gives no hint.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil || !t.After(now) {
		return 0, false
	}
	return t.Sub(now), true
}

// googleRateLimit reports whether body is Google's error format naming a
// rate-limit reason:
//
//	{"error":{"code":403,"errors":[{"domain":"usageLimits","reason":"rateLimitExceeded"}]}}
//
// Google answers other 403s (forbidden, insufficient permissions) the
// same way with other reasons; those are not rate limits.
func googleRateLimit(body []byte) bool {
	if len(body) == 0 {
		return false
	}
	var doc struct {
		Error struct {
			Errors []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return false
	}
	for _, e := range doc.Error.Errors {
		if e.Reason == "rateLimitExceeded" || e.Reason == "userRateLimitExceeded" {
			return true
		}
	}
	return false
}
