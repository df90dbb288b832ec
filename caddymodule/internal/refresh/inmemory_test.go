package refresh_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/widgetgate/widgetgate/caddymodule/internal/memstore"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/refresh"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/internal/testenv"
	"github.com/widgetgate/widgetgate/internal/testenv/standin"
)

// These tests run the refresher on the in-memory store: no Vault binary.

// memWorld is an in-memory store, a stand-in provider with strict
// refresh-token rotation, and a registry with one OAuth provider.
type memWorld struct {
	store    *memstore.Store
	provider *standin.Provider
	clock    *testenv.Clock
	lookup   refresh.Lookup
}

func newMemWorld(t *testing.T) *memWorld {
	sp := standin.New()
	srv := httptest.NewServer(sp)
	t.Cleanup(srv.Close)
	prov := &provider.Provider{Name: "custom:strict", Kind: provider.KindOAuth2, TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}
	w := &memWorld{store: memstore.New(""), provider: sp, clock: testenv.NewClock(),
		lookup: func(name string) (*provider.Provider, bool) { return prov, name == prov.Name }}
	w.store.Put("widgetgate/providers/custom:strict", map[string]any{"client_id": "cid", "client_secret": "csecret"})
	return w
}

// passport stores passport pp with refresh token rt and returns it as read.
func (w *memWorld) passport(t *testing.T, rt string, expiry time.Time, extra map[string]any) *passport.Passport {
	data := map[string]any{"provider": "custom:strict", "status": "active", "access_token": "at-initial",
		"token_type": "Bearer", "refresh_token": rt, "expiry": expiry.UTC().Format(time.RFC3339)}
	for k, v := range extra {
		data[k] = v
	}
	w.store.Put("widgetgate/passports/pp", data)
	p, err := w.store.Passport(context.Background(), "pp")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (w *memWorld) refresher(t *testing.T, store refresh.Store, cfg refresh.Config) *refresh.Refresher {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg.Now = w.clock.Now
	return refresh.New(ctx, store, w.lookup, cfg)
}

// Concurrent refreshes of one stale passport share one redemption, and
// every caller gets its token.
func TestConcurrentRefreshesShareOne(t *testing.T) {
	w := newMemWorld(t)
	w.provider.AddRefreshToken("rt-0")
	stale := w.passport(t, "rt-0", w.clock.Now().Add(-time.Minute), nil)
	r := w.refresher(t, w.store, refresh.Config{})

	// The token endpoint holds its answer until every caller has started,
	// so most of them wait on the one redemption; a caller that arrives
	// after it finds the new token in the store and redeems nothing.
	const callers = 50
	var arrived sync.WaitGroup
	arrived.Add(callers)
	release := make(chan struct{})
	w.provider.OnToken(func(*http.Request) { <-release })
	got := make(chan string, callers)
	errs := make(chan error, callers)
	for range callers {
		go func() {
			arrived.Done()
			p, err := r.Refresh(context.Background(), stale)
			if err != nil {
				errs <- err
				return
			}
			got <- p.AccessToken
		}()
	}
	arrived.Wait()
	close(release)
	tokens := map[string]bool{}
	for range callers {
		select {
		case err := <-errs:
			t.Fatal(err)
		case tok := <-got:
			tokens[tok] = true
		}
	}
	if n := w.provider.TokenCalls(); n != 1 {
		t.Errorf("%d redemptions, want 1", n)
	}
	if len(tokens) != 1 || tokens["at-initial"] {
		t.Errorf("callers got tokens %v, want one new token", tokens)
	}
	p, _ := w.store.Passport(context.Background(), "pp")
	if !w.provider.RefreshTokenValid(p.RefreshToken) || p.RefreshToken == "rt-0" {
		t.Errorf("store holds refresh token %q, want the rotated one", p.RefreshToken)
	}
}

// A refresh forced by a provider's 401 (the token has not expired) is
// refused within ForcedInterval of the last refresh, without asking the
// provider, and allowed after it.
func TestForcedRefreshInterval(t *testing.T) {
	tests := []struct {
		name      string
		since     time.Duration // since the last refresh
		wantErr   error
		wantCalls int
	}{
		{"moments after a refresh", 10 * time.Second, refresh.ErrRecentlyRefreshed, 0},
		{"just inside the interval", time.Minute - time.Second, refresh.ErrRecentlyRefreshed, 0},
		{"once the interval has passed", time.Minute, nil, 1},
		{"never refreshed", 0, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newMemWorld(t)
			w.provider.AddRefreshToken("rt-0")
			extra := map[string]any{}
			if tc.since > 0 {
				extra["last_refresh"] = w.clock.Now().Add(-tc.since).UTC().Format(time.RFC3339)
			}
			p := w.passport(t, "rt-0", w.clock.Now().Add(time.Hour), extra)
			r := w.refresher(t, w.store, refresh.Config{ForcedInterval: time.Minute})
			_, err := r.Refresh(context.Background(), p)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if n := w.provider.TokenCalls(); n != tc.wantCalls {
				t.Errorf("%d redemptions, want %d", n, tc.wantCalls)
			}
		})
	}
}

// refusingStore is the in-memory store refusing passport writes until
// told otherwise, as a Vault outage right after a redemption would.
type refusingStore struct {
	*memstore.Store
	mu      sync.Mutex
	refuse  bool
	refused chan struct{} // told of every refused write
}

func (s *refusingStore) UpdatePassport(ctx context.Context, rec *vaultstore.Record, changes map[string]string) (*vaultstore.Record, error) {
	s.mu.Lock()
	refuse := s.refuse
	s.mu.Unlock()
	if refuse {
		select {
		case s.refused <- struct{}{}:
		default:
		}
		return nil, vaultstore.ErrUnavailable
	}
	return s.Store.UpdatePassport(ctx, rec, changes)
}

func (s *refusingStore) setRefuse(v bool) {
	s.mu.Lock()
	s.refuse = v
	s.mu.Unlock()
}

// Redeemed tokens the store will not take are served from memory and
// written back once it takes them: a rotated refresh token is not lost.
func TestRedeemedTokensKeptUntilStored(t *testing.T) {
	w := newMemWorld(t)
	w.provider.AddRefreshToken("rt-0")
	stale := w.passport(t, "rt-0", w.clock.Now().Add(-time.Minute), nil)
	store := &refusingStore{Store: w.store, refuse: true, refused: make(chan struct{}, 1)}
	r := w.refresher(t, store, refresh.Config{RetryBase: time.Millisecond, RetryMax: time.Millisecond})

	p, err := r.Refresh(context.Background(), stale)
	if err != nil {
		t.Fatal(err)
	}
	if p.RefreshToken == "rt-0" || !w.provider.RefreshTokenValid(p.RefreshToken) {
		t.Fatalf("refreshed passport holds %q, want the rotated refresh token", p.RefreshToken)
	}
	<-store.refused // the store has refused the new tokens
	again, err := r.Refresh(context.Background(), stale)
	if err != nil || again.AccessToken != p.AccessToken {
		t.Fatalf("second refresh = %v, %v; want the held token without a redemption", again, err)
	}
	store.setRefuse(false)
	if err := r.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	stored, _ := w.store.Passport(context.Background(), "pp")
	if stored.RefreshToken != p.RefreshToken || stored.AccessToken != p.AccessToken {
		t.Errorf("store holds %q/%q, want the held %q/%q", stored.AccessToken, stored.RefreshToken, p.AccessToken, p.RefreshToken)
	}
	if n := w.provider.TokenCalls(); n != 1 {
		t.Errorf("%d redemptions, want 1", n)
	}
}

// While redeemed tokens wait in memory for the store to take them, the
// replica that redeemed keeps the lease: another replica must not take it
// and redeem the refresh token the store still holds, which the provider
// has rotated away (a second redemption, invalid_grant, a passport
// needing reconnection). It waits, and gets the tokens once written.
func TestLeaseKeptUntilWriteBack(t *testing.T) {
	w := newMemWorld(t)
	w.provider.AddRefreshToken("rt-0")
	stale := w.passport(t, "rt-0", w.clock.Now().Add(-time.Minute), nil)
	store := &refusingStore{Store: w.store, refuse: true, refused: make(chan struct{}, 1)}
	cfg := refresh.Config{RetryBase: 10 * time.Millisecond, RetryMax: 10 * time.Millisecond, PollInterval: time.Millisecond}
	cfg.Holder = "replica-a"
	a := w.refresher(t, store, cfg)
	cfg.Holder = "replica-b"
	b := w.refresher(t, w.store, cfg)

	p, err := a.Refresh(context.Background(), stale)
	if err != nil {
		t.Fatal(err)
	}
	<-store.refused
	got := make(chan *passport.Passport, 1)
	go func() {
		q, err := b.Refresh(context.Background(), stale)
		if err != nil {
			t.Errorf("replica b: %v", err)
		}
		got <- q
	}()
	// Replica b is waiting on the lease (or has redeemed already, the
	// bug): let the store take the write-back.
	testenv.WaitUntil(t, func() bool { l, _ := w.store.Lease(context.Background(), "pp"); return l.Holder == "replica-a" })
	store.setRefuse(false)
	q := <-got
	if n := w.provider.TokenCalls(); n != 1 {
		t.Errorf("%d redemptions, want 1: another replica redeemed while the tokens waited in memory", n)
	}
	if q == nil || q.AccessToken != p.AccessToken {
		t.Errorf("replica b got %+v, want the tokens replica a redeemed", q)
	}
	if err := a.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l, _ := w.store.Lease(context.Background(), "pp"); l.Holder != "" {
		t.Errorf("lease still held by %q after the write-back", l.Holder)
	}
}
