package refresh_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/refresh"
)

// statusChange is one OnStatusChange call.
type statusChange struct {
	id, status, previous, reason string
}

// changes records OnStatusChange calls; the write-back calls it from a
// goroutine of its own.
type changes struct {
	mu  sync.Mutex
	got []statusChange
}

func (c *changes) hook(p *passport.Passport, previous, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, statusChange{p.ID, p.Status, previous, reason})
}

func (c *changes) calls() []statusChange {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]statusChange(nil), c.got...)
}

// OnStatusChange fires once when the provider refuses the refresh token
// (active → reconnect_required), not for the refusals that follow, and
// once when a later redemption works (reconnect_required → active).
func TestOnStatusChangeOncePerTransition(t *testing.T) {
	w := newMemWorld(t)
	w.passport(t, "rt-revoked", w.clock.Now().Add(-time.Minute), nil)
	var got changes
	r := w.refresher(t, w.store, refresh.Config{ReconnectBackoff: 15 * time.Minute, OnStatusChange: got.hook})
	refused := statusChange{"pp", passport.StatusReconnectRequired, passport.StatusActive,
		"the provider refused the refresh token (token endpoint answered 400 invalid_grant)"}
	accepted := statusChange{"pp", passport.StatusActive, passport.StatusReconnectRequired, "the provider accepted the refresh token again"}

	steps := []struct {
		name      string
		before    func() // what happens first
		wantErr   error
		wantCalls int // token endpoint calls in this step
		want      []statusChange
	}{
		{"refused: now reconnect_required", nil, refresh.ErrReconnectRequired, 1, []statusChange{refused}},
		{"inside the backoff: not asked again", nil, refresh.ErrReconnectRequired, 0, []statusChange{refused}},
		{"after the backoff: refused again, no new change", func() { w.clock.Add(16 * time.Minute) },
			refresh.ErrReconnectRequired, 1, []statusChange{refused}},
		{"after the backoff: accepted, active again", func() { w.clock.Add(16 * time.Minute); w.provider.AddRefreshToken("rt-revoked") },
			nil, 1, []statusChange{refused, accepted}},
		{"an ordinary refresh: no change", func() { w.clock.Add(2 * time.Hour) }, nil, 1, []statusChange{refused, accepted}},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		stale, err := w.store.Passport(context.Background(), "pp")
		if err != nil {
			t.Fatal(err)
		}
		calls := w.provider.TokenCalls()
		_, err = r.Refresh(context.Background(), stale)
		if st.wantErr == nil && err != nil || st.wantErr != nil && !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
		}
		if n := w.provider.TokenCalls() - calls; n != st.wantCalls {
			t.Fatalf("%s: %d token calls, want %d", st.name, n, st.wantCalls)
		}
		if c := got.calls(); !slices.Equal(c, st.want) {
			t.Fatalf("%s: OnStatusChange calls %+v, want %+v", st.name, c, st.want)
		}
	}
	for _, c := range got.calls() {
		if strings.Contains(c.reason, "expired or revoked") || strings.Contains(c.reason, "rt-") {
			t.Errorf("reason %q carries the provider's body or a token", c.reason)
		}
	}
}

// A refusal is told only when Vault took the status, and not for pasted
// credentials being checked by their first redemption (connect reports
// those to the administrator).
func TestOnStatusChangeWhenNotTold(t *testing.T) {
	tests := []struct {
		name   string
		extra  func(now time.Time) map[string]any
		refuse bool // the store refuses the write
		want   int
	}{
		{"told", func(time.Time) map[string]any { return nil }, false, 1},
		{"connected by sign-in, refused later", func(now time.Time) map[string]any {
			at := now.Add(-time.Hour)
			return map[string]any{"connected_at": at.UTC().Format(time.RFC3339Nano), "last_refresh": at.UTC().Format(time.RFC3339)}
		}, false, 1},
		{"the store refuses the write", func(time.Time) map[string]any { return nil }, true, 0},
		{"pasted credentials being checked", func(now time.Time) map[string]any {
			return map[string]any{"connected_at": now.UTC().Format(time.RFC3339Nano)}
		}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newMemWorld(t)
			stale := w.passport(t, "rt-revoked", w.clock.Now().Add(-time.Minute), tc.extra(w.clock.Now()))
			store := &refusingStore{Store: w.store, refuse: tc.refuse, refused: make(chan struct{}, 1)}
			var got changes
			r := w.refresher(t, store, refresh.Config{OnStatusChange: got.hook})
			if _, err := r.Refresh(context.Background(), stale); !errors.Is(err, refresh.ErrReconnectRequired) {
				t.Fatalf("err = %v, want reconnect required", err)
			}
			if n := len(got.calls()); n != tc.want {
				t.Errorf("%d OnStatusChange calls, want %d", n, tc.want)
			}
		})
	}
}

// Tokens redeemed while Vault refuses writes make the passport active
// only once the write-back lands: the change is told then, once.
func TestOnStatusChangeAfterWriteBack(t *testing.T) {
	w := newMemWorld(t)
	w.provider.AddRefreshToken("rt-0")
	stale := w.passport(t, "rt-0", w.clock.Now().Add(-time.Minute), map[string]any{
		"status": passport.StatusReconnectRequired, "retry_after": w.clock.Now().Add(-time.Second).UTC().Format(time.RFC3339)})
	store := &refusingStore{Store: w.store, refuse: true, refused: make(chan struct{}, 1)}
	var got changes
	r := w.refresher(t, store, refresh.Config{RetryBase: time.Millisecond, RetryMax: time.Millisecond, OnStatusChange: got.hook})
	if _, err := r.Refresh(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	<-store.refused
	if n := len(got.calls()); n != 0 {
		t.Fatalf("%d OnStatusChange calls before Vault took the tokens, want 0", n)
	}
	store.setRefuse(false)
	if err := r.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []statusChange{{"pp", passport.StatusActive, passport.StatusReconnectRequired, "the provider accepted the refresh token again"}}
	if c := got.calls(); !slices.Equal(c, want) {
		t.Errorf("OnStatusChange calls %+v, want %+v", c, want)
	}
}
