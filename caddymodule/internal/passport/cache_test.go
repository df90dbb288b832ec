package passport_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

func setup(t *testing.T, cfg passport.CacheConfig) (*testenv.Vault, *passport.Cache) {
	t.Helper()
	v := testenv.StartVault(t)
	store, err := vaultstore.New(vaultstore.Config{Address: v.Addr, Auth: vaultstore.AuthConfig{Token: v.Token}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return v, passport.NewCache(ctx, store, cfg)
}

func TestCacheAgainstVault(t *testing.T) {
	clk := testenv.NewClock()
	v, c := setup(t, passport.CacheConfig{TTL: time.Minute, Skew: 30 * time.Second, Now: clk.Now,
		StaticBindings: map[string]passport.Bindings{"*": {"staticKey": "p-static"}}})
	ctx := context.Background()
	put := func(id, token string, expiry time.Time) {
		v.Put(t, "widgetgate/passports/"+id, map[string]any{"provider": "google", "status": "active",
			"access_token": token + "\n", "expiry": expiry.UTC().Format(time.RFC3339)})
	}
	put("p1", "tok-1", clk.Now().Add(time.Hour))
	put("p-static", "tok-static", clk.Now().Add(time.Hour))
	v.Put(t, "widgetgate/bindings/inst", map[string]any{"k": "p1"})

	t.Run("concurrent cold callers share one read per key", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := c.Resolve(ctx, "inst", "k")
				if err == nil && p.AccessToken != "tok-1" {
					err = errors.New("wrong token " + p.AccessToken)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := c.StoreReads(); n != 2 {
			t.Errorf("store reads = %d, want 2 (one binding, one passport)", n)
		}
	})

	t.Run("steady state makes no store reads", func(t *testing.T) {
		before := c.StoreReads()
		for range 1000 {
			if _, err := c.Resolve(ctx, "inst", "k"); err != nil {
				t.Fatal(err)
			}
		}
		if n := c.StoreReads() - before; n != 0 {
			t.Errorf("%d store reads for 1000 cached resolves", n)
		}
	})

	t.Run("stale values serve while a background read refreshes them", func(t *testing.T) {
		put("p1", "tok-1b", clk.Now().Add(time.Hour))
		clk.Add(2 * time.Minute)
		p, err := c.Resolve(ctx, "inst", "k")
		if err != nil || p.AccessToken != "tok-1" {
			t.Fatalf("stale resolve = %v, %v; want the cached tok-1 at once", p, err)
		}
		testenv.WaitFor(t, 10*time.Second, "background refresh", func() error {
			p, err := c.Resolve(ctx, "inst", "k")
			if err != nil {
				return err
			}
			if p.AccessToken != "tok-1b" {
				return errors.New("still " + p.AccessToken)
			}
			return nil
		})
	})

	t.Run("an expired token is re-read, never served", func(t *testing.T) {
		put("p1", "tok-1c", clk.Now().Add(3*time.Hour))
		clk.Add(time.Hour) // the cached tok-1b expires
		p, err := c.Resolve(ctx, "inst", "k")
		if err != nil || p.AccessToken != "tok-1c" {
			t.Fatalf("resolve after expiry = %v, %v; want tok-1c read from Vault", p, err)
		}
		put("p1", "tok-old", clk.Now().Add(10*time.Second)) // inside the skew: counts as expired
		clk.Add(3 * time.Hour)
		if _, err := c.Resolve(ctx, "inst", "k"); !errors.Is(err, passport.ErrInactive) {
			t.Fatalf("err = %v, want ErrInactive for a token expired in Vault too", err)
		}
	})

	t.Run("binding and passport errors", func(t *testing.T) {
		v.Put(t, "widgetgate/passports/p-off", map[string]any{"provider": "google", "status": "inactive"})
		v.Put(t, "widgetgate/passports/p-bad", map[string]any{"provider": "google", "status": "active", "access_token": "x", "expiry": "tomorrow"})
		v.Put(t, "widgetgate/bindings/inst2", map[string]any{"off": "p-off", "gone": "p-gone", "bad": "p-bad"})
		for key, want := range map[string]error{"off": passport.ErrInactive, "gone": passport.ErrInactive, "bad": passport.ErrInactive, "unbound": passport.ErrNotBound} {
			if _, err := c.Resolve(ctx, "inst2", key); !errors.Is(err, want) {
				t.Errorf("%s: err = %v, want %v", key, err, want)
			}
		}
		if _, err := c.Resolve(ctx, "nobody", "k"); !errors.Is(err, passport.ErrNotBound) {
			t.Errorf("unknown instance: %v", err)
		}
		if _, err := c.Resolve(ctx, "", "k"); !errors.Is(err, passport.ErrNotBound) {
			t.Errorf("no instance, no static binding: %v", err)
		}
		put("p-static", "tok-static", clk.Now().Add(time.Hour))
		if p, err := c.Resolve(ctx, "", "staticKey"); err != nil || p.AccessToken != "tok-static" {
			t.Errorf("static binding: %v, %v", p, err)
		}
	})

	t.Run("with Vault down cached tokens keep working", func(t *testing.T) {
		put("p1", "tok-2", clk.Now().Add(time.Hour))
		clk.Add(2 * time.Minute)
		if _, err := c.Resolve(ctx, "inst", "k"); err != nil { // re-reads: p1 was stale-expired above
			t.Fatal(err)
		}
		v.Stop()
		clk.Add(2 * time.Minute) // stale: background re-reads fail, the cached value serves
		for range 3 {
			if p, err := c.Resolve(ctx, "inst", "k"); err != nil || p.AccessToken != "tok-2" {
				t.Fatalf("resolve with Vault down = %v, %v", p, err)
			}
		}
		_, err := c.Resolve(ctx, "never-seen", "k")
		if !errors.Is(err, vaultstore.ErrUnavailable) {
			t.Fatalf("uncached instance with Vault down: %v, want ErrUnavailable", err)
		}
	})
}
