package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/widgetgate/widgetgate/caddymodule/internal/fanout"
)

// ResponseCacheConfig is the per-passport response cache. It is off
// unless TTL or an override gives an API a TTL. Only GET APIs are cached,
// in envelope mode, and only their 2xx and 404 answers.
type ResponseCacheConfig struct {
	// TTL is how long the answer of every GET API may be served from the
	// cache. 0 (the default) caches nothing; identical calls in flight are
	// still coalesced.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// Overrides set the TTL of one widget's API; a TTL of 0 turns caching
	// off for it.
	Overrides []TTLOverride `json:"overrides,omitempty"`
	// MaxBytes bounds the cache's memory, least recently used answers out
	// first. Default 64 MiB.
	MaxBytes int64 `json:"max_bytes,omitempty"`
	// MaxEntryBytes: an answer larger than this is not cached. Default 1 MiB.
	MaxEntryBytes int64 `json:"max_entry_bytes,omitempty"`
	// StaleIfError lets a cached answer up to this long past its TTL stand
	// in when the provider is unreachable, times out, answers 5xx or 429,
	// or the passport is cooling down after a rate limit. Default 0 (never).
	StaleIfError caddy.Duration `json:"stale_if_error,omitempty"`
}

// TTLOverride is the cache TTL of one widget's API.
type TTLOverride struct {
	Widget string         `json:"widget"`
	API    string         `json:"api"`
	TTL    caddy.Duration `json:"ttl"`
}

// RateLimitsConfig says how widgetgate keeps within providers' limits.
type RateLimitsConfig struct {
	// MaxRetryAfter caps the cool-down a provider's rate-limit answer
	// starts (its Retry-After, or 1 s doubling without one). Default 10m.
	MaxRetryAfter caddy.Duration `json:"max_retry_after,omitempty"`
	// QueueTimeout is how long a call waits for one of its passport's
	// upstream slots before it gets 503 passport_busy. Default 5s.
	QueueTimeout caddy.Duration `json:"queue_timeout,omitempty"`
	// Concurrency bounds the upstream requests in flight per passport, by
	// provider name. Default 4 for the Microsoft family (Outlook allows 4
	// per app and mailbox) and 16 for the others.
	Concurrency map[string]int `json:"concurrency,omitempty"`
}

// cacheTTL is the response cache TTL of a widget's API.
func (a *App) cacheTTL(widgetID, apiName string) time.Duration {
	for _, o := range a.ResponseCache.Overrides {
		if o.Widget == widgetID && o.API == apiName {
			return time.Duration(o.TTL)
		}
	}
	return time.Duration(a.ResponseCache.TTL)
}

// fanoutConfig is the fan-out stage's policy under this config.
func (a *App) fanoutConfig(obs fanout.Observer) fanout.Config {
	return fanout.Config{
		MaxBytes:      a.ResponseCache.MaxBytes,
		MaxEntryBytes: a.ResponseCache.MaxEntryBytes,
		StaleIfError:  time.Duration(a.ResponseCache.StaleIfError),
		MaxRetryAfter: time.Duration(a.RateLimits.MaxRetryAfter),
		QueueTimeout:  time.Duration(a.RateLimits.QueueTimeout),
		Concurrency: func(name string) int {
			if n, ok := a.RateLimits.Concurrency[name]; ok {
				return n
			}
			if p, ok := a.provider(name); ok {
				return p.MaxConcurrent
			}
			return 0
		},
		Observer: obs,
	}
}

// checkFanout warns of cache overrides that name no loaded API: likely a
// typo, harmless otherwise (the package may be added later).
func (a *App) checkFanout() {
	for _, o := range a.ResponseCache.Overrides {
		if _, err := a.widgets.Lookup(o.Widget, o.API); err != nil {
			a.logger.Warn("response_cache override names no loaded API", zap.String("widget", o.Widget), zap.String("api", o.API))
		}
	}
}

// validateFanout checks what the JSON may hold and the Caddyfile refuses.
func (a *App) validateFanout() error {
	rc := a.ResponseCache
	if rc.TTL < 0 || rc.StaleIfError < 0 || rc.MaxBytes < 0 || rc.MaxEntryBytes < 0 {
		return fmt.Errorf("response_cache: ttl, stale_if_error, max_bytes and max_entry_bytes must not be negative")
	}
	for i, o := range rc.Overrides {
		if o.Widget == "" || o.API == "" || o.TTL < 0 {
			return fmt.Errorf("response_cache overrides[%d]: want a widget, an api and a TTL of 0 or more", i)
		}
	}
	rl := a.RateLimits
	if rl.MaxRetryAfter < 0 || rl.QueueTimeout < 0 {
		return fmt.Errorf("rate_limits: max_retry_after and queue_timeout must not be negative")
	}
	for name, n := range rl.Concurrency {
		if n <= 0 {
			return fmt.Errorf("rate_limits concurrency[%s]: want a positive number, got %d", name, n)
		}
	}
	return nil
}
