package fanout

import (
	"container/list"
	"net/http"
	"strings"
	"sync"
	"time"
)

// cache holds answers by call key, bounded in bytes, least recently used
// out first. It is hand-written: golang-lru (used for the passport cache)
// bounds entries by count, and answers range from a few hundred bytes to
// a megabyte, so only a byte bound keeps memory predictable.
type cache struct {
	mu    sync.Mutex
	lru   *list.List               // of *cached, most recently used at the front
	byKey map[string]*list.Element // key → element of lru
	// byPassport indexes keys by passport, so a disconnect drops them all
	// at once without a scan.
	byPassport map[string]map[string]struct{}
	bytes      int64
}

type cached struct {
	key, passport string
	answer        Answer
	stored        time.Time
	expires       time.Time // past TTL and stale window: never served again
	size          int64
}

// entryOverhead is what an entry costs beyond its answer and key: the
// list element, the map slots and the index. Counting it keeps a cache of
// many small answers within MaxBytes too.
const entryOverhead = 256

func newCache() *cache {
	return &cache{lru: list.New(), byKey: make(map[string]*list.Element), byPassport: make(map[string]map[string]struct{})}
}

// get returns key's answer and its age, if it is cached and not past its
// stale window.
func (c *cache) get(key string, now time.Time) (Answer, time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return Answer{}, 0, false
	}
	e := el.Value.(*cached)
	if !now.Before(e.expires) {
		c.remove(el)
		return Answer{}, 0, false
	}
	c.lru.MoveToFront(el)
	return e.answer, now.Sub(e.stored), true
}

// put caches a for key until keep has passed, evicting the least recently
// used answers to stay within cfg.MaxBytes.
func (c *cache) put(key, passport string, a Answer, now time.Time, keep time.Duration, cfg *Config) {
	size := a.Size + int64(2*len(key)+len(passport)) + entryOverhead
	if size > cfg.MaxBytes {
		return
	}
	// The provider's headers and body were needed to classify the answer,
	// not to serve it again: keep only what the callers get.
	a.Header, a.Body = nil, nil
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.remove(el)
	}
	for c.bytes+size > cfg.MaxBytes {
		c.remove(c.lru.Back())
	}
	e := &cached{key: key, passport: passport, answer: a, stored: now, expires: now.Add(keep), size: size}
	c.byKey[key] = c.lru.PushFront(e)
	keys := c.byPassport[passport]
	if keys == nil {
		keys = make(map[string]struct{})
		c.byPassport[passport] = keys
	}
	keys[key] = struct{}{}
	c.bytes += size
}

// forgetPassport drops every answer of passport.
func (c *cache) forgetPassport(passport string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.byPassport[passport] {
		c.remove(c.byKey[key])
	}
}

func (c *cache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cached)
	delete(c.byKey, e.key)
	if keys := c.byPassport[e.passport]; keys != nil {
		delete(keys, e.key)
		if len(keys) == 0 {
			delete(c.byPassport, e.passport)
		}
	}
	c.bytes -= e.size
}

func (c *cache) usage() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes, c.lru.Len()
}

// storable reports whether the provider's Cache-Control lets a shared
// answer be reused: not no-store, and not no-cache (which allows storing
// but demands revalidation before every use, which this cache does not
// do). Directives are case-insensitive and may carry arguments.
func storable(h http.Header) bool {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(d), "=")
			if strings.EqualFold(name, "no-store") || strings.EqualFold(name, "no-cache") {
				return false
			}
		}
	}
	return true
}
