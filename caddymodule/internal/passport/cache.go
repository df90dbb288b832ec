package passport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// Resolution errors. The handler maps them to problem codes.
var (
	// ErrNotBound: no passport is bound to the authKey for this instance.
	ErrNotBound = errors.New("no passport bound")
	// ErrInactive: the bound passport is missing, inactive or its token expired.
	ErrInactive = errors.New("passport not active")
)

// Defaults of the cache's bounds.
const (
	DefaultMaxInstances       = 10_000
	DefaultMaxPassports       = 10_000
	DefaultMaxConcurrentReads = 32
)

// errGaveUp: the caller that started a shared read went away before the
// read could start. Callers still waiting start the read again.
var errGaveUp = errors.New("caller gave up waiting for a store read")

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
	// MaxInstances bounds how many instances' bindings are kept, least
	// recently used out first. "Not bound" answers are kept apart, up to
	// as many again, so a flood of unknown instance ids (anyone who can
	// reach the sidecar chooses them in headers mode) cannot push out the
	// instances that exist. Default DefaultMaxInstances.
	MaxInstances int
	// MaxPassports bounds how many passports are kept (and, apart, as
	// many "not found" answers). Default DefaultMaxPassports.
	MaxPassports int
	// MaxConcurrentReads bounds the store reads the cache makes at once,
	// background re-reads included. Callers beyond it wait, for as long as
	// their context allows; they never fail because of the bound. Size the
	// store's connection pool to it. Default DefaultMaxConcurrentReads.
	MaxConcurrentReads int
	// Changed, when set, is called with a passport's id when its cached
	// copy is replaced by one that is no longer the same usable connection
	// (disconnected, reconnected, needing reconnection, deleted): whatever
	// was fetched with it must go too.
	Changed func(id string)
}

// Cache resolves (instance, authKey) to a passport, keeping Vault off the
// request path: every value is read once, served from memory, and re-read
// in the background once older than TTL. While the store is down, cached
// values keep serving for as long as their tokens are valid.
type Cache struct {
	store    Store
	cfg      CacheConfig
	bindings *table[Bindings]  // by instance
	passes   *table[*Passport] // by passport id
	flight   singleflight.Group
	// slots bounds concurrent store reads: a flood of unknown ids must not
	// open a connection to Vault each.
	slots chan struct{}
	ctx   context.Context // background refreshes stop with it
	reads atomic.Int64
	// The store's methods as values, made once: a method value made per
	// call is an allocation per call.
	readBindings func(context.Context, string) (Bindings, error)
	readPassport func(context.Context, string) (*Passport, error)
}

// table is a bounded LRU of entries, with "not found" and "malformed"
// answers in an LRU of their own: callers choose the ids they ask for, the
// store decides which exist, and only the former can grow without limit.
type table[T any] struct {
	found   *lru.Cache[string, *entry[T]]
	missing *lru.Cache[string, *entry[T]]
	mu      sync.Mutex // serialises put and remove, so a key is in one LRU only
	// replaced, when set, is told of every entry put or removed over
	// another (new is nil for a removal).
	replaced func(key string, old, new *entry[T])
}

func newTable[T any](size int) *table[T] {
	found, err := lru.New[string, *entry[T]](size)
	if err != nil {
		panic(err) // only for size <= 0, which NewCache rules out
	}
	missing, _ := lru.New[string, *entry[T]](size)
	return &table[T]{found: found, missing: missing}
}

// get returns key's entry and marks it recently used. The call path reads
// this on every call: one lock, no allocation.
func (t *table[T]) get(key string) (*entry[T], bool) {
	if e, ok := t.found.Get(key); ok {
		return e, true
	}
	return t.missing.Get(key)
}

// peek is get without marking the entry used.
func (t *table[T]) peek(key string) (*entry[T], bool) {
	if e, ok := t.found.Peek(key); ok {
		return e, true
	}
	return t.missing.Peek(key)
}

func (t *table[T]) contains(key string) bool { return t.found.Contains(key) || t.missing.Contains(key) }

func (t *table[T]) put(key string, e *entry[T]) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.peek(key); ok && t.replaced != nil {
		t.replaced(key, old, e)
	}
	if e.err != nil {
		t.found.Remove(key)
		t.missing.Add(key, e)
	} else {
		t.missing.Remove(key)
		t.found.Add(key, e)
	}
}

func (t *table[T]) remove(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.peek(key); ok && t.replaced != nil {
		t.replaced(key, old, nil)
	}
	t.found.Remove(key)
	t.missing.Remove(key)
}

type entry[T any] struct {
	val        T
	err        error // ErrNotFound is cached too, so unknown ids do not hammer the store
	fetched    time.Time
	refreshing atomic.Bool
	nextTry    atomic.Int64 // unix nanos before which no background re-read starts
}

// DefaultTTL is CacheConfig.TTL unless set; the context keys are re-read
// as often. DefaultSkew is the token expiry skew operators get when they
// set none (the zero CacheConfig.Skew means none, for tests).
const (
	DefaultTTL  = 30 * time.Second
	DefaultSkew = 30 * time.Second
)

// NewCache returns a cache over store. Background re-reads use ctx.
func NewCache(ctx context.Context, store Store, cfg CacheConfig) *Cache {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxInstances <= 0 {
		cfg.MaxInstances = DefaultMaxInstances
	}
	if cfg.MaxPassports <= 0 {
		cfg.MaxPassports = DefaultMaxPassports
	}
	if cfg.MaxConcurrentReads <= 0 {
		cfg.MaxConcurrentReads = DefaultMaxConcurrentReads
	}
	c := &Cache{store: store, cfg: cfg, ctx: ctx,
		bindings: newTable[Bindings](cfg.MaxInstances), passes: newTable[*Passport](cfg.MaxPassports),
		slots:        make(chan struct{}, cfg.MaxConcurrentReads),
		readBindings: store.Bindings, readPassport: store.Passport}
	if cfg.Changed != nil {
		c.passes.replaced = func(id string, old, new *entry[*Passport]) {
			if new == nil || !sameConnection(old, new) {
				cfg.Changed(id)
			}
		}
	}
	return c
}

// sameConnection reports whether new is still the connection old was:
// active both times, connected at the same moment as the same account.
// A refreshed token is the same connection; a reconnect is not.
func sameConnection(old, new *entry[*Passport]) bool {
	if old.err != nil || new.err != nil {
		return old.err != nil && new.err != nil
	}
	a, b := old.val, new.val
	return a.Active() == b.Active() && a.Provider == b.Provider && a.ConnectedAt.Equal(b.ConnectedAt) &&
		a.AccountID == b.AccountID && a.AccountEmail == b.AccountEmail
}

// CachedInstances returns how many instances the cache holds: with
// bindings, and known to have none (bound at most MaxInstances each).
func (c *Cache) CachedInstances() (bound, unbound int) {
	return c.bindings.found.Len(), c.bindings.missing.Len()
}

// CachedPassports returns how many passports (and "not found" answers for
// passport ids) the cache holds.
func (c *Cache) CachedPassports() int { return c.passes.found.Len() + c.passes.missing.Len() }

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
func (c *Cache) ForgetBindings(instance string) { c.bindings.remove(instance) }

// Forget drops passport id, e.g. after an administrator deleted it.
func (c *Cache) Forget(id string) { c.passes.remove(id) }

// Store caches p as freshly read, e.g. after this replica refreshed it.
func (c *Cache) Store(p *Passport) {
	c.passes.put(p.ID, &entry[*Passport]{val: p, fetched: c.cfg.Now()})
}

// Update replaces p's cached copy, if there is one: passports the
// background refresher renews but no call uses stay out of memory.
func (c *Cache) Update(p *Passport) {
	if c.passes.contains(p.ID) {
		c.Store(p)
	}
}

// Current returns passport id as the background refresher should see it:
// the cached copy while it is fresh, else a read from the store, which
// replaces a stale cached copy but is not cached otherwise. The refresher
// looks at every stored passport; caching those no call uses would make
// memory grow with the number of passports in Vault.
func (c *Cache) Current(ctx context.Context, id string) (*Passport, error) {
	// peek: the refresher's visits must not keep a passport no call uses
	// from being evicted.
	if e, ok := c.passes.peek(id); ok && e.err == nil && c.cfg.Now().Sub(e.fetched) < c.cfg.TTL {
		return e.val, nil
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
	b, err := load(ctx, c, c.bindings, "bindings/", instance, false, c.readBindings,
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
	p, err := load(ctx, c, c.passes, "passports/", id, force, c.readPassport,
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
func load[T any](ctx context.Context, c *Cache, t *table[T], kind, key string, force bool,
	read func(context.Context, string) (T, error), usable func(T) bool) (T, error) {
	var zero T
	now := c.cfg.Now()
	if e, ok := t.get(key); ok {
		if fresh(c, e, now, force) {
			return e.val, e.err
		}
		if !force && e.err == nil && usable(e.val) {
			if now.UnixNano() >= e.nextTry.Load() && e.refreshing.CompareAndSwap(false, true) {
				go refresh(c, t, kind+key, key, e, read)
			}
			return e.val, nil
		}
	}
	for {
		// Concurrent callers for the same key share one store read. The
		// wait for a read slot is on the context of the caller who started
		// the flight, so reads nobody waits for any more do not queue up;
		// the read itself runs on the cache's context: a caller giving up
		// must not fail a read already under way for the others.
		ch := c.flight.DoChan(kind+key, func() (any, error) {
			if !c.acquire(ctx) {
				return nil, errGaveUp
			}
			defer c.release()
			// A flight that ended between our miss and this one's start
			// has cached the answer: without this look, callers arriving
			// in that gap would each read the same key again.
			if e, ok := t.peek(key); ok && fresh(c, e, c.cfg.Now(), force) {
				return e, nil
			}
			return fetch(c, t, key, read)
		})
		select {
		case <-ctx.Done():
			return zero, ctx.Err()
		case res := <-ch:
			if errors.Is(res.Err, errGaveUp) {
				if ctx.Err() != nil {
					// This caller gave up too (select picked the flight's
					// answer over ctx.Done): say so as ctx.Done would.
					return zero, ctx.Err()
				}
				continue // the flight's first caller left; start it again
			}
			if res.Err != nil {
				return zero, res.Err
			}
			e := res.Val.(*entry[T])
			return e.val, e.err
		}
	}
}

// fresh reports whether e can be served as it is at now. A forced re-read
// (the cached token expired) still waits a moment after the last read, so
// a passport that stays expired in Vault costs one Vault read a second, not
// one per call.
func fresh[T any](c *Cache, e *entry[T], now time.Time, force bool) bool {
	age := now.Sub(e.fetched)
	return age < c.cfg.TTL && (!force || age < time.Second)
}

// acquire takes a read slot, waiting while ctx allows. A slot freed just
// as ctx ends is handed back: select picks at random between ready cases,
// and a read for a caller already gone must not take a live caller's turn.
func (c *Cache) acquire(ctx context.Context) bool {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	if ctx.Err() != nil {
		c.release()
		return false
	}
	return true
}

func (c *Cache) release() { <-c.slots }

// fetch reads key from the store and caches the answer, including "not
// found" and "malformed" (so unknown ids do not hammer the store), but not a
// failure to reach the store: the next call retries that.
func fetch[T any](c *Cache, t *table[T], key string, read func(context.Context, string) (T, error)) (*entry[T], error) {
	c.reads.Add(1)
	val, err := read(c.ctx, key)
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrMalformed) {
		return nil, err
	}
	e := &entry[T]{val: val, err: err, fetched: c.cfg.Now()}
	t.put(key, e)
	return e, nil
}

// refresh re-reads a stale entry in the background, within the same read
// bound as callers' reads (many entries can go stale at once). On failure
// the stale value keeps serving and the next attempt waits, so a Vault
// outage costs one Vault call per key per retry interval, not one per
// request.
func refresh[T any](c *Cache, t *table[T], flightKey, key string, old *entry[T], read func(context.Context, string) (T, error)) {
	defer old.refreshing.Store(false)
	_, err, _ := c.flight.Do(flightKey, func() (any, error) {
		if !c.acquire(c.ctx) {
			return nil, c.ctx.Err()
		}
		defer c.release()
		return fetch(c, t, key, read)
	})
	switch {
	case err == nil, errors.Is(err, errGaveUp): // joined a caller's read that was abandoned: the next call tries again
	case c.ctx.Err() != nil: // the cache is shutting down (reload, stop)
	default:
		old.nextTry.Store(c.cfg.Now().Add(min(c.cfg.TTL, 5*time.Second)).UnixNano())
		c.cfg.Logger.Warn("background re-read failed; serving the cached value", "key", flightKey, "error", err)
	}
}
