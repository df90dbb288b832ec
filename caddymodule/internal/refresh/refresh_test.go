package refresh_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/refresh"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/internal/testenv"
	"github.com/widgetgate/widgetgate/internal/testenv/standin"
)

// world is one Vault, one stand-in provider with strict refresh-token
// rotation (an old refresh token gets invalid_grant), and its registry.
type world struct {
	t        *testing.T
	vault    *testenv.Vault
	provider *standin.Provider
	url      string
	registry map[string]*provider.Provider
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, vault: testenv.StartVault(t), provider: standin.New()}
	srv := httptest.NewServer(w.provider)
	t.Cleanup(srv.Close)
	w.url = srv.URL
	w.registry = map[string]*provider.Provider{
		"custom:strict": {Name: "custom:strict", Kind: provider.KindOAuth2, TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		"custom:before": {Name: "custom:before", Kind: provider.KindOAuth2, TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams,
			Refresh: provider.RefreshPolicy{Type: provider.RefreshBeforeExpiry, Every: 30 * time.Minute}},
		"custom:periodic": {Name: "custom:periodic", Kind: provider.KindOAuth2, TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams,
			Refresh: provider.RefreshPolicy{Type: provider.RefreshPeriodically, Every: 60 * time.Minute}},
		"custom:none": {Name: "custom:none", Kind: provider.KindOAuth2, TokenURL: srv.URL + "/oauth/token",
			Refresh: provider.RefreshPolicy{Type: provider.RefreshNone}},
		"appspace": {Name: "appspace", Kind: provider.KindAppspace},
	}
	for name := range w.registry {
		w.vault.Put(t, "widgetgate/providers/"+name, map[string]any{"client_id": "cid", "client_secret": "csecret"})
	}
	return w
}

func (w *world) lookup(name string) (*provider.Provider, bool) {
	p, ok := w.registry[name]
	return p, ok
}

// putPassport stores passport id with refresh token rt, expiring at expiry.
func (w *world) putPassport(id, prov, rt string, expiry time.Time, extra map[string]any) {
	data := map[string]any{"provider": prov, "status": "active", "access_token": "at-initial-" + id,
		"token_type": "Bearer", "refresh_token": rt, "expiry": expiry.UTC().Format(time.RFC3339)}
	for k, v := range extra {
		data[k] = v
	}
	w.vault.Put(w.t, "widgetgate/passports/"+id, data)
}

func (w *world) record(id string) *passport.Passport {
	store := w.store()
	rec, err := store.PassportRecord(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return rec.Passport
}

func (w *world) store() *vaultstore.Store {
	s, err := vaultstore.New(vaultstore.Config{Address: w.vault.Addr, Auth: vaultstore.AuthConfig{Token: w.vault.Token}, Timeout: 5 * time.Second})
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// replica is one sidecar: its own Vault client, refresher and cache.
type replica struct {
	refresher *refresh.Refresher
	cache     *passport.Cache
	cancel    context.CancelFunc // kills the replica: background work and in-flight refreshes stop
}

func (w *world) replica(now func() time.Time, cfg refresh.Config) *replica {
	ctx, cancel := context.WithCancel(context.Background())
	w.t.Cleanup(cancel)
	store := w.store()
	r := &replica{cancel: cancel}
	cfg.Now = now
	cfg.Refreshed = func(p *passport.Passport) { r.cache.Update(p) }
	r.refresher = refresh.New(ctx, store, w.lookup, cfg)
	r.cache = passport.NewCache(ctx, store, passport.CacheConfig{TTL: time.Hour, Now: now, Refresh: r.refresher.Refresh})
	return r
}

// works reports whether the stand-in accepts tok for an API call.
func (w *world) works(tok string) bool {
	req, _ := http.NewRequest("GET", w.url+"/v1/data", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// Test 1: three replicas, 300 concurrent calls on an expired token, many
// expiry cycles: exactly one provider refresh per expiry, every call gets a
// working token, and Vault always holds the newest refresh token (with
// strict rotation, the next cycle would fail with invalid_grant otherwise).
func TestOneRefreshPerExpiryAcrossReplicas(t *testing.T) {
	w := newWorld(t)
	clk := testenv.NewClock()
	w.provider.AddRefreshToken("rt-0")
	w.putPassport("pp", "custom:strict", "rt-0", clk.Now().Add(-time.Minute), nil)
	w.vault.Put(t, "widgetgate/bindings/screen", map[string]any{"k": "pp"})
	replicas := []*replica{
		w.replica(clk.Now, refresh.Config{Holder: "replica-a"}),
		w.replica(clk.Now, refresh.Config{Holder: "replica-b"}),
		w.replica(clk.Now, refresh.Config{Holder: "replica-c"}),
	}
	seenRT := map[string]bool{"rt-0": true}
	for cycle := range 5 {
		before := w.provider.TokenCalls()
		var wg sync.WaitGroup
		var ok atomic.Int64
		errs := make(chan error, 300)
		for i := range 300 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := replicas[i%3].cache.Resolve(context.Background(), "screen", "k")
				if err != nil {
					errs <- err
					return
				}
				if w.works(p.AccessToken) {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		if calls := w.provider.TokenCalls() - before; calls != 1 {
			t.Fatalf("cycle %d: %d refreshes at the provider, want exactly 1", cycle, calls)
		}
		if ok.Load() != 300 {
			t.Fatalf("cycle %d: %d of 300 calls got a working token", cycle, ok.Load())
		}
		rt := w.record("pp").RefreshToken
		if seenRT[rt] {
			t.Fatalf("cycle %d: Vault holds an already-used refresh token", cycle)
		}
		seenRT[rt] = true
		clk.Add(2 * time.Hour) // the stand-in's tokens live an hour: all expire
	}
}

// Test 2: the lease holder dies mid-refresh (its process stops while the
// token endpoint is answering); another replica completes the refresh once
// the lease expires, within lease TTL + token timeout.
func TestHolderDiesMidRefresh(t *testing.T) {
	w := newWorld(t)
	w.provider.AddRefreshToken("rt-0")
	w.putPassport("pp", "custom:strict", "rt-0", time.Now().Add(-time.Minute), nil)
	entered := make(chan struct{}, 1)
	var first atomic.Bool
	w.provider.OnToken(func(r *http.Request) {
		if first.CompareAndSwap(false, true) {
			entered <- struct{}{}
			<-r.Context().Done() // the first redemption hangs until its caller dies
		}
	})
	cfg := refresh.Config{LeaseTTL: time.Second, TokenTimeout: 2 * time.Second, PollInterval: 20 * time.Millisecond}
	a, b := w.replica(time.Now, withHolder(cfg, "a")), w.replica(time.Now, withHolder(cfg, "b"))
	stale := w.record("pp")

	go a.refresher.Refresh(context.Background(), stale)
	<-entered // a holds the lease and is at the provider
	a.cancel()
	a.refresher.Kill() // a's process dies

	start := time.Now()
	p, err := b.refresher.Refresh(context.Background(), stale)
	waited := time.Since(start)
	if err != nil {
		t.Fatalf("b: %v", err)
	}
	if !w.works(p.AccessToken) {
		t.Error("b's token does not work")
	}
	if max := cfg.LeaseTTL + cfg.TokenTimeout; waited > max {
		t.Errorf("b waited %s, more than lease TTL + token timeout (%s)", waited, max)
	}
	if got := w.record("pp").RefreshToken; got == "rt-0" || got == "" {
		t.Errorf("Vault refresh token = %q, want the rotated one", got)
	}
}

func withHolder(c refresh.Config, h string) refresh.Config { c.Holder = h; return c }

// A reload cancels the old app's context while its refresher is at the
// token endpoint. The redemption is not dropped: its caller gets the new
// token, the rotated refresh token is in Vault, and Drain returns.
func TestAppCancelledMidRedemption(t *testing.T) {
	w := newWorld(t)
	w.provider.AddRefreshToken("rt-0")
	w.putPassport("pp", "custom:strict", "rt-0", time.Now().Add(-time.Minute), nil)
	entered, answer := make(chan struct{}), make(chan struct{})
	w.provider.OnToken(func(*http.Request) { close(entered); <-answer })
	a := w.replica(time.Now, refresh.Config{LeaseTTL: time.Second})
	stale := w.record("pp")

	got := make(chan error, 1)
	go func() {
		p, err := a.refresher.Refresh(context.Background(), stale)
		if err == nil && !w.works(p.AccessToken) {
			err = errors.New("the refreshed token does not work")
		}
		got <- err
	}()
	<-entered
	a.cancel() // the old app is cleaned up
	close(answer)
	if err := <-got; err != nil {
		t.Fatalf("refresh across the app's cancellation: %v", err)
	}
	if rt := w.record("pp").RefreshToken; !w.provider.RefreshTokenValid(rt) {
		t.Errorf("Vault holds refresh token %q, which the provider no longer accepts", rt)
	}
	if err := a.refresher.Drain(context.Background()); err != nil {
		t.Errorf("drain: %v", err)
	}
}

// Test 3: a token endpoint slower than the lease TTL: the holder renews
// its lease, so the waiting replica never redeems too: one redemption.
func TestSlowTokenEndpointOneRedemption(t *testing.T) {
	w := newWorld(t)
	w.provider.AddRefreshToken("rt-0")
	w.putPassport("pp", "custom:strict", "rt-0", time.Now().Add(-time.Minute), nil)
	entered := make(chan struct{}, 1)
	w.provider.OnToken(func(r *http.Request) {
		select {
		case entered <- struct{}{}:
		default:
		}
		select { // a slow provider: 3 lease TTLs
		case <-time.After(1500 * time.Millisecond):
		case <-r.Context().Done():
		}
	})
	cfg := refresh.Config{LeaseTTL: 500 * time.Millisecond, TokenTimeout: 5 * time.Second, PollInterval: 20 * time.Millisecond}
	a, b := w.replica(time.Now, withHolder(cfg, "a")), w.replica(time.Now, withHolder(cfg, "b"))
	stale := w.record("pp")

	done := make(chan error, 1)
	go func() { _, err := a.refresher.Refresh(context.Background(), stale); done <- err }()
	<-entered
	pb, err := b.refresher.Refresh(context.Background(), stale)
	if err != nil {
		t.Fatalf("b: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("a: %v", err)
	}
	if n := w.provider.TokenCalls(); n != 1 {
		t.Errorf("%d redemptions, want 1", n)
	}
	if !w.works(pb.AccessToken) {
		t.Error("b's token does not work")
	}
}

// Test 4: schedules, with an injected clock.
func TestDue(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	before := provider.RefreshPolicy{Type: provider.RefreshBeforeExpiry, Every: 30 * time.Minute}
	periodic := provider.RefreshPolicy{Type: provider.RefreshPeriodically, Every: time.Hour}
	active := func(expiry, last time.Time) *passport.Passport {
		return &passport.Passport{Status: passport.StatusActive, AccessToken: "x", Expiry: expiry, LastRefresh: last}
	}
	tests := []struct {
		name string
		p    *passport.Passport
		pol  provider.RefreshPolicy
		want bool
	}{
		{"before_expiry: 31 min left", active(now.Add(31*time.Minute), time.Time{}), before, false},
		{"before_expiry: 30 min left", active(now.Add(30*time.Minute), time.Time{}), before, true},
		{"before_expiry: expired", active(now.Add(-time.Minute), time.Time{}), before, true},
		{"periodically: 59 min since last", active(now.Add(time.Hour), now.Add(-59*time.Minute)), periodic, false},
		{"periodically: 60 min since last", active(now.Add(time.Hour), now.Add(-time.Hour)), periodic, true},
		{"periodically: never refreshed", active(now.Add(time.Hour), time.Time{}), periodic, true},
		{"none: never", active(now.Add(-time.Hour), time.Time{}), provider.RefreshPolicy{Type: provider.RefreshNone}, false},
		{"unset: 6 min left", active(now.Add(6*time.Minute), time.Time{}), provider.RefreshPolicy{}, false},
		{"unset: 5 min left", active(now.Add(refresh.DefaultWindow), time.Time{}), provider.RefreshPolicy{}, true},
		{"unset: no expiry known", active(time.Time{}, time.Time{}), provider.RefreshPolicy{}, false},
		// Tokens that live less than twice DefaultWindow: due halfway.
		{"unset: 5 min token, just redeemed", active(now.Add(5*time.Minute), now), provider.RefreshPolicy{}, false},
		{"unset: 5 min token, 2:29 in", active(now.Add(2*time.Minute+31*time.Second), now.Add(-2*time.Minute-29*time.Second)), provider.RefreshPolicy{}, false},
		{"unset: 5 min token, halfway", active(now.Add(150*time.Second), now.Add(-150*time.Second)), provider.RefreshPolicy{}, true},
		{"unset: 1 h token, 6 min left", active(now.Add(6*time.Minute), now.Add(-54*time.Minute)), provider.RefreshPolicy{}, false},
		{"unset: 1 h token, 5 min left", active(now.Add(5*time.Minute), now.Add(-55*time.Minute)), provider.RefreshPolicy{}, true},
		{"unset: refreshed after its expiry (clock skew)", active(now.Add(time.Minute), now.Add(2*time.Minute)), provider.RefreshPolicy{}, true},
		{"inactive", &passport.Passport{Status: passport.StatusInactive, Expiry: now}, before, false},
		{"reconnect_required in window", &passport.Passport{Status: passport.StatusReconnectRequired, RetryAfter: now.Add(time.Second)}, before, false},
		{"reconnect_required after window", &passport.Passport{Status: passport.StatusReconnectRequired, RetryAfter: now}, before, true},
	}
	for _, tc := range tests {
		if got := refresh.Due(tc.p, tc.pol, now); got != tc.want {
			t.Errorf("%s: Due = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Test 4 (continued): the background scan refreshes exactly the due
// passports as the injected clock moves.
func TestScanFollowsSchedules(t *testing.T) {
	w := newWorld(t)
	clk := testenv.NewClock()
	w.provider.AddRefreshToken("rt-before")
	w.provider.AddRefreshToken("rt-periodic")
	w.provider.AddRefreshToken("rt-none")
	w.putPassport("p-before", "custom:before", "rt-before", clk.Now().Add(time.Hour), nil)
	w.putPassport("p-periodic", "custom:periodic", "rt-periodic", clk.Now().Add(2*time.Hour),
		map[string]any{"last_refresh": clk.Now().UTC().Format(time.RFC3339)})
	w.putPassport("p-none", "custom:none", "rt-none", clk.Now().Add(10*time.Minute), nil)
	r := w.replica(clk.Now, refresh.Config{})
	scan := func() int {
		n, err := r.refresher.ScanOnce(context.Background(), r.cache.Current, 4)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := scan(); n != 0 {
		t.Fatalf("t+0: %d refreshed, want 0", n)
	}
	clk.Add(31 * time.Minute) // p-before has 29 min left: due
	if n := scan(); n != 1 || w.record("p-before").RefreshToken == "rt-before" {
		t.Fatalf("t+31m: %d refreshed, want p-before only", n)
	}
	// t+60m: p-periodic's hour has passed; p-before's new token (refreshed
	// at t+31m, living 3599 s) is not due before t+60m59s.
	clk.Add(29 * time.Minute)
	if n := scan(); n != 1 || w.record("p-periodic").RefreshToken == "rt-periodic" {
		t.Fatalf("t+60m: %d refreshed, want p-periodic only", n)
	}
	if w.record("p-none").RefreshToken != "rt-none" {
		t.Error("a refresh type none passport was refreshed")
	}
}

// A scan reads a passport again only when it becomes due (or after
// MaxRecheck), so with many passports a scan is one Vault list, not one
// read per passport; and what it reads is not kept in the request cache.
func TestScanReadsOnlyWhatIsDue(t *testing.T) {
	w := newWorld(t)
	clk := testenv.NewClock()
	w.provider.AddRefreshToken("rt-soon")
	w.putPassport("p-soon", "custom:strict", "rt-soon", clk.Now().Add(20*time.Minute), nil) // due at t+15m
	w.putPassport("p-later", "custom:strict", "rt-later", clk.Now().Add(3*time.Hour), nil)  // due at t+2h55m
	w.putPassport("p-none", "custom:none", "rt-none", clk.Now().Add(10*time.Minute), nil)   // never due
	r := w.replica(clk.Now, refresh.Config{})
	reads := map[string]int{}
	current := func(ctx context.Context, id string) (*passport.Passport, error) {
		reads[id]++
		return r.cache.Current(ctx, id)
	}
	scan := func(want map[string]int, refreshed int) {
		t.Helper()
		clear(reads)
		n, err := r.refresher.ScanOnce(context.Background(), current, 4)
		if err != nil {
			t.Fatal(err)
		}
		if n != refreshed || !maps.Equal(reads, want) {
			t.Fatalf("at %s: refreshed %d, read %v; want %d, %v", clk.Now().Format(time.TimeOnly), n, reads, refreshed, want)
		}
	}
	cacheReads := r.cache.StoreReads()
	scan(map[string]int{"p-soon": 1, "p-later": 1, "p-none": 1}, 0)
	clk.Add(10 * time.Minute)
	scan(map[string]int{}, 0)
	clk.Add(6 * time.Minute)
	scan(map[string]int{"p-soon": 1}, 1)
	clk.Add(45 * time.Minute) // t+61m: MaxRecheck has passed for the others; p-soon's new expiry is read
	scan(map[string]int{"p-soon": 1, "p-later": 1, "p-none": 1}, 0)

	// Nothing the scans read went into the request cache: each Current
	// above was a store read of its own.
	if got := r.cache.StoreReads() - cacheReads; got != 7 {
		t.Errorf("%d store reads through the cache, want 7 (one per passport read)", got)
	}
}

// Test 5: invalid_grant marks the passport reconnect_required and the
// provider is asked at most once per backoff window.
func TestInvalidGrantReconnectRequired(t *testing.T) {
	w := newWorld(t)
	clk := testenv.NewClock()
	w.putPassport("pp", "custom:strict", "rt-revoked", clk.Now().Add(-time.Minute), nil)
	w.vault.Put(t, "widgetgate/bindings/screen", map[string]any{"k": "pp"})
	r := w.replica(clk.Now, refresh.Config{ReconnectBackoff: 15 * time.Minute})

	_, err := r.cache.Resolve(context.Background(), "screen", "k")
	if !errors.Is(err, refresh.ErrReconnectRequired) || !errors.Is(err, passport.ErrInactive) {
		t.Fatalf("err = %v, want reconnect required (an ErrInactive)", err)
	}
	rec := w.record("pp")
	if rec.Status != passport.StatusReconnectRequired || rec.LastError != "invalid_grant" || rec.RetryAfter.IsZero() {
		t.Fatalf("Vault record = %+v", rec)
	}
	calls := w.provider.TokenCalls()
	for range 20 {
		r.cache.Resolve(context.Background(), "screen", "k")
		r.refresher.ScanOnce(context.Background(), r.cache.Current, 4)
	}
	clk.Add(14 * time.Minute)
	r.refresher.ScanOnce(context.Background(), r.cache.Current, 4)
	if n := w.provider.TokenCalls() - calls; n != 0 {
		t.Fatalf("%d provider calls inside the backoff window, want 0", n)
	}
	clk.Add(2 * time.Minute) // the window has passed: one more try
	r.cache.Store(w.record("pp"))
	r.refresher.ScanOnce(context.Background(), r.cache.Current, 4)
	if n := w.provider.TokenCalls() - calls; n != 1 {
		t.Fatalf("%d provider calls after the window, want 1", n)
	}

	// An administrator reconnects: the passport changes and works again.
	w.provider.AddRefreshToken("rt-new")
	w.putPassport("pp", "custom:strict", "rt-new", clk.Now().Add(-time.Minute), nil)
	r.cache.Store(w.record("pp"))
	if _, err := r.cache.Resolve(context.Background(), "screen", "k"); err != nil {
		t.Fatalf("after reconnect: %v", err)
	}
}

// Test 7: an Appspace API v3 passport refreshes against the stand-in of
// /api/v3/authorization/token (JSON body, expiresIn as a string).
func TestAppspaceRefresh(t *testing.T) {
	w := newWorld(t)
	clk := testenv.NewClock()
	w.provider.AddRefreshToken("as-rt")
	w.putPassport("pp-as", "appspace", "as-rt", clk.Now().Add(-time.Minute),
		map[string]any{"subject_id": "app-123", "instance_url": w.url})
	r := w.replica(clk.Now, refresh.Config{})
	p, err := r.refresher.Refresh(context.Background(), w.record("pp-as"))
	if err != nil {
		t.Fatal(err)
	}
	if !w.works(p.AccessToken) {
		t.Error("the Appspace token does not work")
	}
	rec := w.record("pp-as")
	if rec.RefreshToken == "as-rt" || rec.Expiry.Sub(clk.Now()) < 50*time.Minute || rec.SubjectID != "app-123" {
		t.Errorf("record after refresh = %+v", rec)
	}
}
