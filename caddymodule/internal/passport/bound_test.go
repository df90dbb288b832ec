package passport_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

// fakeStore is an in-memory passport.Store that counts its reads per key
// ("bindings/<instance>", "passports/<id>") and the most reads it saw at
// once. With gate set, every read announces its key on started and then
// blocks until the test sends on gate, so a test decides exactly when each
// read ends (no sleeps).
type fakeStore struct {
	mu        sync.Mutex
	bindings  map[string]passport.Bindings
	passports map[string]*passport.Passport
	reads     map[string]int
	inFlight  int
	maxFlight int

	gate    chan struct{}
	started chan string
}

func newFakeStore() *fakeStore {
	return &fakeStore{bindings: map[string]passport.Bindings{}, passports: map[string]*passport.Passport{}, reads: map[string]int{}}
}

// gated makes every read wait for the test (see fakeStore).
func (s *fakeStore) gated() *fakeStore {
	s.gate, s.started = make(chan struct{}), make(chan string, 1024)
	return s
}

func (s *fakeStore) bind(instance, authKey, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bindings[instance] == nil {
		s.bindings[instance] = passport.Bindings{}
	}
	s.bindings[instance][authKey] = id
	if s.passports[id] == nil {
		s.passports[id] = &passport.Passport{ID: id, Provider: "google", Status: passport.StatusActive,
			AccessToken: "tok-" + id, Expiry: time.Now().Add(24 * time.Hour)}
	}
}

func (s *fakeStore) readsOf(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[key]
}

func (s *fakeStore) totalReads(prefix string) (n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.reads {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			n += v
		}
	}
	return n
}

func (s *fakeStore) maxConcurrent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxFlight
}

func (s *fakeStore) enter(key string) {
	s.mu.Lock()
	s.reads[key]++
	s.inFlight++
	s.maxFlight = max(s.maxFlight, s.inFlight)
	s.mu.Unlock()
	if s.gate != nil {
		s.started <- key
		<-s.gate
	}
}

func (s *fakeStore) leave() {
	s.mu.Lock()
	s.inFlight--
	s.mu.Unlock()
}

func (s *fakeStore) Passport(_ context.Context, id string) (*passport.Passport, error) {
	s.enter("passports/" + id)
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.passports[id]; ok {
		return p, nil
	}
	return nil, passport.ErrNotFound
}

func (s *fakeStore) Bindings(_ context.Context, instance string) (passport.Bindings, error) {
	s.enter("bindings/" + instance)
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.bindings[instance]; ok {
		return b, nil
	}
	return nil, passport.ErrNotFound
}

func newFakeCache(t *testing.T, s *fakeStore, cfg passport.CacheConfig) *passport.Cache {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return passport.NewCache(ctx, s, cfg)
}

// resolveOK resolves instance's "k" and fails unless it gives a passport.
func resolveOK(t *testing.T, c *passport.Cache, instance string) {
	t.Helper()
	if _, err := c.Resolve(context.Background(), instance, "k"); err != nil {
		t.Fatalf("resolve %s: %v", instance, err)
	}
}

func TestCacheEvictsLeastRecentlyUsedInstance(t *testing.T) {
	s := newFakeStore()
	for _, inst := range []string{"a", "b", "c", "d"} {
		s.bind(inst, "k", "p")
	}
	c := newFakeCache(t, s, passport.CacheConfig{TTL: time.Hour, MaxInstances: 3})
	for _, inst := range []string{"a", "b", "c", "a", "d"} { // "a" used again: "b" is now the oldest
		resolveOK(t, c, inst)
	}
	if bound, _ := c.CachedInstances(); bound != 3 {
		t.Fatalf("cached instances = %d, want the bound, 3", bound)
	}
	for _, inst := range []string{"a", "c", "d"} {
		resolveOK(t, c, inst)
	}
	for inst, want := range map[string]int{"a": 1, "b": 1, "c": 1, "d": 1} {
		if got := s.readsOf("bindings/" + inst); got != want {
			t.Errorf("bindings of %s read %d times, want %d (only b was evicted)", inst, got, want)
		}
	}
	// Used in the order a, c, d: "a" is now the oldest.
	resolveOK(t, c, "b") // evicted, so read again; "a" goes
	resolveOK(t, c, "a") // read again; "c" goes
	resolveOK(t, c, "c") // read again; "d" goes
	for inst, want := range map[string]int{"a": 2, "b": 2, "c": 2, "d": 1} {
		if got := s.readsOf("bindings/" + inst); got != want {
			t.Errorf("bindings of %s read %d times, want %d", inst, got, want)
		}
	}
	if got := s.readsOf("passports/p"); got != 1 {
		t.Errorf("passport read %d times, want 1", got)
	}
}

func TestCacheBoundsUnknownInstancesApartFromKnownOnes(t *testing.T) {
	s := newFakeStore()
	for i := range 20 {
		s.bind(fmt.Sprintf("real-%d", i), "k", fmt.Sprintf("p%d", i))
	}
	const bound = 50
	c := newFakeCache(t, s, passport.CacheConfig{TTL: time.Hour, MaxInstances: bound, MaxPassports: 5})
	for i := range 20 {
		resolveOK(t, c, fmt.Sprintf("real-%d", i))
	}
	if n := c.CachedPassports(); n > 5 {
		t.Errorf("cached passports = %d, want at most 5", n)
	}

	const flood = 5000
	for i := range flood {
		if _, err := c.Resolve(context.Background(), fmt.Sprintf("unknown-%d", i), "k"); !errors.Is(err, passport.ErrNotBound) {
			t.Fatalf("unknown instance: %v, want ErrNotBound", err)
		}
		if b, u := c.CachedInstances(); b > bound || u > bound {
			t.Fatalf("after %d unknown ids: %d bound and %d unbound instances cached, want at most %d each", i+1, b, u, bound)
		}
	}
	if got := s.totalReads("bindings/unknown-"); got != flood {
		t.Errorf("%d binding reads for %d distinct unknown ids, want one each", got, flood)
	}
	before := s.totalReads("bindings/")
	// The most recent unknown ids are still cached as "not bound".
	for i := flood - bound; i < flood; i++ {
		c.Resolve(context.Background(), fmt.Sprintf("unknown-%d", i), "k")
	}
	// The flood of unknown ids did not push out the instances that exist.
	for i := range 20 {
		resolveOK(t, c, fmt.Sprintf("real-%d", i))
	}
	if got := s.totalReads("bindings/") - before; got != 0 {
		t.Errorf("%d binding reads for instances that should still be cached", got)
	}
}

func TestCacheDefaultBound(t *testing.T) {
	s := newFakeStore()
	c := newFakeCache(t, s, passport.CacheConfig{})
	for i := range 10_050 {
		c.Resolve(context.Background(), fmt.Sprintf("u-%d", i), "k")
	}
	if _, u := c.CachedInstances(); u != 10_000 {
		t.Errorf("%d unknown instances cached, want the default bound 10000", u)
	}
}

// drain lets n gated reads finish, one at a time, and returns their keys.
func drain(s *fakeStore, n int) []string {
	keys := make([]string, 0, n)
	for range n {
		keys = append(keys, <-s.started)
		s.gate <- struct{}{}
	}
	return keys
}

func TestCacheBoundsConcurrentStoreReads(t *testing.T) {
	s := newFakeStore().gated()
	const limit, callers = 4, 40
	c := newFakeCache(t, s, passport.CacheConfig{TTL: time.Hour, MaxConcurrentReads: limit})
	errs := make(chan error, callers)
	for i := range callers {
		go func() {
			_, err := c.Resolve(context.Background(), fmt.Sprintf("id-%d", i), "k")
			errs <- err
		}()
	}
	// Every caller gets its answer: the bound makes callers wait, never fail.
	drain(s, callers)
	for range callers {
		if err := <-errs; !errors.Is(err, passport.ErrNotBound) {
			t.Errorf("caller got %v, want ErrNotBound", err)
		}
	}
	if got := s.maxConcurrent(); got > limit {
		t.Errorf("%d store reads at once, want at most %d", got, limit)
	}
}

func TestCacheBackgroundReReadsShareTheReadBound(t *testing.T) {
	s := newFakeStore()
	const limit, n = 3, 30
	for i := range n {
		s.bind(fmt.Sprintf("i%d", i), "k", "p")
	}
	clk := testenv.NewClock()
	c := newFakeCache(t, s, passport.CacheConfig{TTL: time.Minute, MaxConcurrentReads: limit, Now: clk.Now})
	for i := range n {
		resolveOK(t, c, fmt.Sprintf("i%d", i))
	}
	s.gate, s.started = make(chan struct{}), make(chan string, 1024)
	clk.Add(2 * time.Minute)
	for i := range n { // each stale value serves at once and starts a background re-read
		resolveOK(t, c, fmt.Sprintf("i%d", i))
	}
	drain(s, n+1) // n bindings and the passport
	if got := s.maxConcurrent(); got > limit {
		t.Errorf("%d store reads at once, want at most %d", got, limit)
	}
}

func TestCacheCallerWaitingForAReadSlotCanGiveUp(t *testing.T) {
	s := newFakeStore().gated()
	c := newFakeCache(t, s, passport.CacheConfig{TTL: time.Hour, MaxConcurrentReads: 1})
	first := make(chan error, 1)
	go func() { _, err := c.Resolve(context.Background(), "x", "k"); first <- err }()
	if k := <-s.started; k != "bindings/x" { // x holds the only slot
		t.Fatalf("first read %s", k)
	}

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { _, err := c.Resolve(ctx, "y", "k"); gaveUp <- err }()
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("caller that gave up got %v, want context.Canceled", err)
	}

	s.gate <- struct{}{} // x's read ends
	if err := <-first; !errors.Is(err, passport.ErrNotBound) {
		t.Fatalf("x: %v", err)
	}
	// The slot goes to the next live caller: nobody waits for y any more,
	// so y is not read.
	next := make(chan error, 1)
	go func() { _, err := c.Resolve(context.Background(), "z", "k"); next <- err }()
	if k := <-s.started; k != "bindings/z" {
		t.Fatalf("next read is %s, want bindings/z: a read nobody waits for took the slot", k)
	}
	s.gate <- struct{}{}
	if err := <-next; !errors.Is(err, passport.ErrNotBound) {
		t.Fatalf("z: %v", err)
	}
	if n := s.readsOf("bindings/y"); n != 0 {
		t.Errorf("y read %d times after its caller gave up", n)
	}
}

func TestCacheCallerStillGetsTheAnswerWhenTheFirstCallerForTheSameKeyGivesUp(t *testing.T) {
	s := newFakeStore().gated()
	c := newFakeCache(t, s, passport.CacheConfig{TTL: time.Hour, MaxConcurrentReads: 1})
	go c.Resolve(context.Background(), "x", "k")
	<-s.started // x holds the only slot

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp, stayed := make(chan error, 1), make(chan error, 1)
	go func() { _, err := c.Resolve(ctx, "y", "k"); gaveUp <- err }()
	go func() { _, err := c.Resolve(context.Background(), "y", "k"); stayed <- err }()
	cancel()
	<-gaveUp
	s.gate <- struct{}{} // x's read ends
	if keys := drain(s, 1); keys[0] != "bindings/y" {
		t.Fatalf("read %v, want bindings/y", keys)
	}
	if err := <-stayed; !errors.Is(err, passport.ErrNotBound) {
		t.Fatalf("the caller that stayed got %v, want ErrNotBound", err)
	}
	if n := s.readsOf("bindings/y"); n != 1 {
		t.Errorf("y read %d times, want 1", n)
	}
}

func TestCacheEvictedInstanceIsReadOnceByConcurrentCallers(t *testing.T) {
	s := newFakeStore()
	s.bind("a", "k", "p")
	s.bind("b", "k", "p")
	c := newFakeCache(t, s, passport.CacheConfig{TTL: time.Hour, MaxInstances: 1})
	resolveOK(t, c, "a")
	resolveOK(t, c, "b") // evicts a
	s.gate, s.started = make(chan struct{}), make(chan string, 1024)
	const callers = 50
	errs := make(chan error, callers)
	for range callers {
		go func() { _, err := c.Resolve(context.Background(), "a", "k"); errs <- err }()
	}
	if k := <-s.started; k != "bindings/a" {
		t.Fatalf("read %s", k)
	}
	close(s.gate) // let every later read through at once
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := s.readsOf("bindings/a"); n != 2 {
		t.Errorf("bindings of a read %d times, want 2 (first call, then once after eviction)", n)
	}
}

func TestCacheStoreAndForgetRespectTheBound(t *testing.T) {
	s := newFakeStore()
	c := newFakeCache(t, s, passport.CacheConfig{TTL: time.Hour, MaxPassports: 2})
	for i := range 10 {
		c.Store(&passport.Passport{ID: fmt.Sprintf("p%d", i), Status: passport.StatusActive, AccessToken: "t"})
	}
	if n := c.CachedPassports(); n != 2 {
		t.Errorf("cached passports = %d, want 2", n)
	}
	// Update only replaces cached copies: the background refresher must not
	// fill the cache with passports no call uses.
	c.Update(&passport.Passport{ID: "p0", Status: passport.StatusActive, AccessToken: "t"})
	if n := c.CachedPassports(); n != 2 {
		t.Errorf("cached passports after Update = %d, want 2", n)
	}
	s.bind("a", "k", "p9")
	resolveOK(t, c, "a")
	c.ForgetBindings("a")
	if b, u := c.CachedInstances(); b+u != 0 {
		t.Errorf("%d instances cached after ForgetBindings", b+u)
	}
	resolveOK(t, c, "a")
	if n := s.readsOf("bindings/a"); n != 2 {
		t.Errorf("bindings read %d times, want 2 (forgotten in between)", n)
	}
}

// BenchmarkResolve measures a cached resolve (what every call pays) and
// the first resolve of an unknown instance (an in-memory store read, the
// LRU insert and eviction), with the cache full.
//
//	go test -run '^$' -bench Resolve -benchmem ./caddymodule/internal/passport/
func BenchmarkResolve(b *testing.B) {
	s := newFakeStore()
	s.bind("screen", "k", "p")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := passport.NewCache(ctx, s, passport.CacheConfig{TTL: time.Hour, MaxInstances: 1000})
	for i := range 2000 {
		c.Resolve(ctx, fmt.Sprintf("fill-%d", i), "k")
	}
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Resolve(ctx, "screen", "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unknown", func(b *testing.B) {
		ids := make([]string, b.N)
		for i := range ids {
			ids[i] = fmt.Sprintf("unknown-%d", i)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := c.Resolve(ctx, ids[i], "k"); !errors.Is(err, passport.ErrNotBound) {
				b.Fatal(err)
			}
		}
	})
}
