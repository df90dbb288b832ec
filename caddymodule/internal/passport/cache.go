package passport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Resolution errors. The handler maps them to problem codes.
var (
	// ErrNotBound: no passport is bound to the authKey for this instance.
	ErrNotBound = errors.New("no passport bound")
	// ErrInactive: the bound passport is missing, inactive or its token expired.
	ErrInactive = errors.New("passport not active")
)

// CacheConfig tunes the cache.
type CacheConfig struct {
	// TTL is how long a value read from the store is used before it is
	// re-read in the background. Changes an administrator makes in Vault
	// (a new binding, a disconnected passport) take effect within TTL.
	TTL time.Duration
	// Skew is how long before its expiry a token counts as expired.
	Skew time.Duration
	// StaticBindings are bindings from the operator's config; "*" applies
	// to every instance and to calls without one.
	StaticBindings map[string]Bindings
	Logger         *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Refresh, when set, gets a new token for a passport whose token
	// expired (refresh.Refresher.Refresh). It returns an error wrapping
	// ErrNotRefreshable when the passport cannot be refreshed.
	Refresh func(ctx context.Context, stale *Passport) (*Passport, error)
}

// Cache resolves (instance, authKey) to a passport, keeping Vault off the
// request path: every value is read once, served from memory, and re-read
// in the background once older than TTL. While the store is down, cached
// values keep serving for as long as their tokens are valid.
type Cache struct {
	store    Store
	cfg      CacheConfig
	bindings sync.Map // instance -> *entry[Bindings]
	passes   sync.Map // passport id -> *entry[*Passport]
	flight   singleflight.Group
	ctx      context.Context // background refreshes stop with it
	reads    atomic.Int64
}

type entry[T any] struct {
	val        T
	err        error // ErrNotFound is cached too, so unknown ids do not hammer the store
	fetched    time.Time
	refreshing atomic.Bool
	nextTry    atomic.Int64 // unix nanos before which no background re-read starts
}

// NewCache returns a cache over store. Background re-reads use ctx.
func NewCache(ctx context.Context, store Store, cfg CacheConfig) *Cache {
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Cache{store: store, cfg: cfg, ctx: ctx}
}

// StoreReads returns how many reads the cache has made from the store.
func (c *Cache) StoreReads() int64 { return c.reads.Load() }

// InstanceOptional reports whether calls may omit the instance: only when
// the operator configured static bindings for every instance ("*").
func (c *Cache) InstanceOptional() bool { return len(c.cfg.StaticBindings["*"]) > 0 }

// Resolve returns the active passport bound to authKey for instance (empty
// when the caller named none). Errors wrap ErrNotBound, ErrInactive, or a
// store error (unavailable).
func (c *Cache) Resolve(ctx context.Context, instance, authKey string) (*Passport, error) {
	id, err := c.boundPassport(ctx, instance, authKey)
	if err != nil {
		return nil, err
	}
	p, err := c.passport(ctx, id, false)
	if err != nil {
		return nil, err
	}
	if !p.Active() {
		return nil, fmt.Errorf("%w: passport %s is %s", ErrInactive, id, p.Status)
	}
	if !p.Expired(c.cfg.Now(), c.cfg.Skew) {
		return p, nil
	}
	if c.cfg.Refresh != nil {
		np, err := c.Refresh(ctx, p)
		if !errors.Is(err, ErrNotRefreshable) {
			return np, err
		}
	}
	// Someone (an administrator, another replica) may have written a fresh
	// token since we read it.
	if p, err = c.passport(ctx, id, true); err != nil {
		return nil, err
	}
	if !p.Active() || p.Expired(c.cfg.Now(), c.cfg.Skew) {
		return nil, fmt.Errorf("%w: passport %s token expired at %s", ErrInactive, id, p.Expiry.Format(time.RFC3339))
	}
	return p, nil
}

// Refresh gets stale a new token (see CacheConfig.Refresh) and caches it.
// Callers use it when a provider refuses a token we thought valid.
func (c *Cache) Refresh(ctx context.Context, stale *Passport) (*Passport, error) {
	if c.cfg.Refresh == nil {
		return nil, ErrNotRefreshable
	}
	p, err := c.cfg.Refresh(ctx, stale)
	if err != nil {
		return nil, err
	}
	c.Store(p)
	return p, nil
}

// ForgetBindings drops the cached bindings of instance, so a change an
// administrator just made applies to the next call.
func (c *Cache) ForgetBindings(instance string) { c.bindings.Delete(instance) }

// Store caches p as freshly read, e.g. after this replica refreshed it.
func (c *Cache) Store(p *Passport) {
	c.passes.Store(p.ID, &entry[*Passport]{val: p, fetched: c.cfg.Now()})
}

// Update replaces p's cached copy, if there is one: passports the
// background refresher renews but no call uses stay out of memory.
func (c *Cache) Update(p *Passport) {
	if _, ok := c.passes.Load(p.ID); ok {
		c.Store(p)
	}
}

// Current returns passport id as the background refresher should see it:
// the cached copy while it is fresh, else a read from the store, which
// replaces a stale cached copy but is not cached otherwise. The refresher
// looks at every stored passport; caching those no call uses would make
// memory grow with the number of passports in Vault.
func (c *Cache) Current(ctx context.Context, id string) (*Passport, error) {
	if v, ok := c.passes.Load(id); ok {
		if e := v.(*entry[*Passport]); e.err == nil && c.cfg.Now().Sub(e.fetched) < c.cfg.TTL {
			return e.val, nil
		}
	}
	c.reads.Add(1)
	p, err := c.store.Passport(ctx, id)
	if err == nil {
		c.Update(p)
	}
	return p, err
}

func (c *Cache) boundPassport(ctx context.Context, instance, authKey string) (string, error) {
	for _, key := range []string{instance, "*"} {
		if id, ok := c.cfg.StaticBindings[key][authKey]; ok {
			return id, nil
		}
	}
	if instance == "" {
		return "", fmt.Errorf("%w: no instance given and no static binding for %q", ErrNotBound, authKey)
	}
	b, err := load(ctx, c, &c.bindings, "bindings/", instance, false, c.store.Bindings,
		func(Bindings) bool { return true })
	if errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("%w: instance %s has no bindings", ErrNotBound, instance)
	}
	if err != nil {
		return "", err
	}
	id, ok := b[authKey]
	if !ok {
		return "", fmt.Errorf("%w: instance %s binds no passport to %q", ErrNotBound, instance, authKey)
	}
	return id, nil
}

func (c *Cache) passport(ctx context.Context, id string, force bool) (*Passport, error) {
	p, err := load(ctx, c, &c.passes, "passports/", id, force, c.store.Passport,
		func(p *Passport) bool { return p.Active() && !p.Expired(c.cfg.Now(), c.cfg.Skew) })
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrMalformed) {
		return nil, fmt.Errorf("%w: passport %s: %w", ErrInactive, id, err)
	}
	return p, err
}

// load returns the cached value for key, reading it from the store when
// absent (or when force is set); kind+key names the read. A value older
// than TTL is served while a background read replaces it, but only if
// usable(value): an expired token is never served stale.
func load[T any](ctx context.Context, c *Cache, m *sync.Map, kind, key string, force bool,
	read func(context.Context, string) (T, error), usable func(T) bool) (T, error) {
	var zero T
	now := c.cfg.Now()
	if v, ok := m.Load(key); ok {
		e := v.(*entry[T])
		// A forced re-read (the cached token expired) still waits a moment
		// after the last read, so a passport that stays expired in Vault
		// costs one Vault read a second, not one per call.
		if age := now.Sub(e.fetched); age < c.cfg.TTL && (!force || age < time.Second) {
			return e.val, e.err
		}
		if !force && e.err == nil && usable(e.val) {
			if now.UnixNano() >= e.nextTry.Load() && e.refreshing.CompareAndSwap(false, true) {
				go refresh(c, m, kind+key, key, e, read)
			}
			return e.val, nil
		}
	}
	// Concurrent callers for the same key share one store read. The read
	// runs on the cache's context, not the caller's: a caller giving up
	// must not fail the read for the others waiting on it.
	ch := c.flight.DoChan(kind+key, func() (any, error) { return fetch(c, m, key, read) })
	select {
	case <-ctx.Done():
		return zero, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return zero, res.Err
		}
		e := res.Val.(*entry[T])
		return e.val, e.err
	}
}

// fetch reads key from the store and caches the answer, including "not
// found" and "malformed" (so unknown ids do not hammer the store), but not a
// failure to reach the store: the next call retries that.
func fetch[T any](c *Cache, m *sync.Map, key string, read func(context.Context, string) (T, error)) (*entry[T], error) {
	c.reads.Add(1)
	val, err := read(c.ctx, key)
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrMalformed) {
		return nil, err
	}
	e := &entry[T]{val: val, err: err, fetched: c.cfg.Now()}
	m.Store(key, e)
	return e, nil
}

// refresh re-reads a stale entry in the background. On failure the stale
// value keeps serving and the next attempt waits, so a Vault outage costs
// one Vault call per key per retry interval, not one per request.
func refresh[T any](c *Cache, m *sync.Map, flightKey, key string, old *entry[T], read func(context.Context, string) (T, error)) {
	defer old.refreshing.Store(false)
	_, err, _ := c.flight.Do(flightKey, func() (any, error) { return fetch(c, m, key, read) })
	if err != nil {
		old.nextTry.Store(c.cfg.Now().Add(min(c.cfg.TTL, 5*time.Second)).UnixNano())
		c.cfg.Logger.Warn("background re-read failed; serving the cached value", "key", flightKey, "error", err)
	}
}
