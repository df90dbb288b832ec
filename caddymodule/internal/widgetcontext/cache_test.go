package widgetcontext

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// countingStore is a Store that counts reads; a read waits on gate when
// it is set, and fails with err when that is set.
type countingStore struct {
	mu     sync.Mutex
	values map[string]any
	err    error
	reads  int
	gate   chan struct{}
}

func (s *countingStore) InstanceConfig(ctx context.Context, instance, widget string) (map[string]any, error) {
	s.mu.Lock()
	s.reads++
	gate, err, values := s.gate, s.err, s.values
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"title": values["title"], "instance": instance}, nil
}

func (s *countingStore) set(f func(s *countingStore)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func TestCacheTTLAndStale(t *testing.T) {
	store := &countingStore{values: map[string]any{"title": "one"}}
	clk := &clock{t: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}
	c := NewCache(store, time.Minute, 0, clk.now)
	ctx := context.Background()
	read := func() any {
		t.Helper()
		v, err := c.InstanceConfig(ctx, "lobby", "clock")
		if err != nil {
			t.Fatal(err)
		}
		return v["title"]
	}

	first, second := read(), read()
	if first != "one" || second != "one" || store.count() != 1 {
		t.Fatalf("two reads within the TTL cost %d Vault reads, want 1", store.count())
	}
	store.set(func(s *countingStore) { s.values = map[string]any{"title": "two"} })
	clk.add(59 * time.Second)
	if read() != "one" {
		t.Error("a fresh entry was read again")
	}
	clk.add(time.Second)
	if read() != "two" || store.count() != 2 {
		t.Errorf("after the TTL: %d reads, want 2 with the new value", store.count())
	}

	// Vault down: the last values keep serving.
	store.set(func(s *countingStore) { s.err = fmt.Errorf("%w: sealed", vaultstore.ErrUnavailable) })
	clk.add(time.Hour)
	if read() != "two" {
		t.Error("Vault down: the values read before were not served")
	}
	if _, err := c.InstanceConfig(ctx, "hall", "clock"); !errors.Is(err, vaultstore.ErrUnavailable) {
		t.Errorf("Vault down, never read: %v, want ErrUnavailable", err)
	}
	// A document that no longer parses is not hidden behind the old one.
	store.set(func(s *countingStore) { s.err = vaultstore.ErrMalformedConfig })
	if _, err := c.InstanceConfig(ctx, "lobby", "clock"); !errors.Is(err, vaultstore.ErrMalformedConfig) {
		t.Errorf("malformed: %v", err)
	}
}

func TestCacheForget(t *testing.T) {
	store := &countingStore{values: map[string]any{"title": "old"}}
	c := NewCache(store, time.Hour, 0, nil)
	ctx := context.Background()
	c.InstanceConfig(ctx, "lobby", "clock")
	store.set(func(s *countingStore) { s.values = map[string]any{"title": "new"} })
	c.Forget("lobby", "clock")
	if v, _ := c.InstanceConfig(ctx, "lobby", "clock"); v["title"] != "new" {
		t.Errorf("after Forget: %v, want the new value", v)
	}

	// A read that started before an admin write must not store what it
	// read: the next caller would see the old value for a whole TTL.
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		store := &countingStore{values: map[string]any{"title": "old"}, gate: gate}
		c := NewCache(store, time.Hour, 0, nil)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.InstanceConfig(ctx, "lobby", "clock")
		}()
		synctest.Wait() // the read is in flight
		store.set(func(s *countingStore) { s.values, s.gate = map[string]any{"title": "new"}, nil })
		c.Forget("lobby", "clock")
		close(gate)
		<-done
		if v, _ := c.InstanceConfig(ctx, "lobby", "clock"); v["title"] != "new" {
			t.Errorf("a read from before Forget was kept: %v", v)
		}
	})
}

func TestCacheSharesOneRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		store := &countingStore{values: map[string]any{"title": "t"}, gate: gate}
		c := NewCache(store, time.Minute, 0, nil)
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if v, err := c.InstanceConfig(context.Background(), "lobby", "clock"); err != nil || v["title"] != "t" {
					t.Errorf("got %v, %v", v, err)
				}
			}()
		}
		synctest.Wait() // all 50 wait for the one read
		close(gate)
		wg.Wait()
		if n := store.count(); n != 1 {
			t.Errorf("50 concurrent first reads cost %d Vault reads, want 1", n)
		}
	})
}

func TestCacheBounded(t *testing.T) {
	store := &countingStore{values: map[string]any{"title": "t"}}
	clk := &clock{t: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}
	c := NewCache(store, time.Minute, 3, clk.now)
	ctx := context.Background()
	for i := range 5 {
		c.InstanceConfig(ctx, fmt.Sprint("i", i), "clock")
	}
	if n := len(c.entries); n != 3 {
		t.Fatalf("%d entries, want the bound, 3", n)
	}
	clk.add(time.Minute) // all stale: room is made
	c.InstanceConfig(ctx, "new", "clock")
	if _, ok := c.entries[cacheKey{"new", "clock"}]; !ok || len(c.entries) != 1 {
		t.Errorf("entries after the stale ones went: %v", c.entries)
	}
}
