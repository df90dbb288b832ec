package widgetcontext

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// DefaultMaxEntries bounds a Cache: instances × widgets it remembers.
const DefaultMaxEntries = 10_000

// Cache keeps the configurations read from Vault for a while, as the
// passport cache keeps bindings: a fleet of screens loading one widget at
// once costs one Vault read, and while Vault is down screens are given
// the configuration last read. Changes made through this replica's admin
// API are seen at once (Forget); others within the TTL. Safe for
// concurrent use.
type Cache struct {
	store Store
	ttl   time.Duration
	max   int
	now   func() time.Time

	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
	// gen counts Forget calls: a read that started before one must not
	// store what it read.
	gen    uint64
	flight singleflight.Group
}

type cacheKey struct{ instance, widget string }

type cacheEntry struct {
	values map[string]any
	read   time.Time
}

// NewCache returns a cache over store keeping what it read for ttl, and at
// most max entries (0: DefaultMaxEntries); now is the clock (nil:
// time.Now).
func NewCache(store Store, ttl time.Duration, max int, now func() time.Time) *Cache {
	if max <= 0 {
		max = DefaultMaxEntries
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{store: store, ttl: ttl, max: max, now: now, entries: map[cacheKey]cacheEntry{}}
}

// InstanceConfig implements Store: the cached values while they are
// fresh, else one read shared by every caller asking at the same time;
// when that read fails, the values read before, if any.
func (c *Cache) InstanceConfig(ctx context.Context, instance, widget string) (map[string]any, error) {
	k := cacheKey{instance, widget}
	c.mu.Lock()
	e, cached := c.entries[k]
	gen := c.gen
	c.mu.Unlock()
	if cached && c.now().Sub(e.read) < c.ttl {
		return e.values, nil
	}
	v, err, _ := c.flight.Do(instance+"\x00"+widget, func() (any, error) {
		// Shared by every caller waiting: not cancelled with the first.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return c.store.InstanceConfig(ctx, instance, widget)
	})
	if err != nil {
		if cached && !errors.Is(err, vaultstore.ErrMalformedConfig) {
			return e.values, nil
		}
		return nil, err
	}
	values := v.(map[string]any)
	c.remember(k, values, gen)
	return values, nil
}

// remember remembers values for k unless Forget ran since gen, making room
// by dropping stale entries when the cache is full.
func (c *Cache) remember(k cacheKey, values map[string]any, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		now := c.now()
		for old, e := range c.entries {
			if now.Sub(e.read) >= c.ttl {
				delete(c.entries, old)
			}
		}
		if len(c.entries) >= c.max {
			return // full of fresh entries: read again next time
		}
	}
	c.entries[k] = cacheEntry{values: values, read: c.now()}
}

// Forget drops what the cache holds for instance's widget: it was just
// changed.
func (c *Cache) Forget(instance, widget string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, cacheKey{instance, widget})
	c.gen++
}

// Interface guards
var (
	_ Store = (*Cache)(nil)
	_ Store = (*vaultstore.Store)(nil)
)
