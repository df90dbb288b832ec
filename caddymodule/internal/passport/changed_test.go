package passport_test

import (
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// TestChangedOnANewConnectionOnly: whatever was fetched with a passport
// (cached answers) goes when the passport is no longer the same usable
// connection, and stays across token refreshes.
func TestChangedOnANewConnectionOnly(t *testing.T) {
	connected := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	base := passport.Passport{ID: "p1", Provider: "google", Status: passport.StatusActive, AccessToken: "tok-1",
		ConnectedAt: connected, AccountID: "acct-1", AccountEmail: "a@example.com", Expiry: time.Now().Add(time.Hour)}
	tests := []struct {
		name    string
		change  func(p *passport.Passport)
		changed bool
	}{
		{"a refreshed token", func(p *passport.Passport) { p.AccessToken, p.LastRefresh, p.Version = "tok-2", time.Now(), 7 }, false},
		{"reconnected", func(p *passport.Passport) { p.AccessToken, p.ConnectedAt = "tok-2", connected.Add(time.Minute) }, true},
		{"another account", func(p *passport.Passport) { p.AccountID = "acct-2" }, true},
		{"another email", func(p *passport.Passport) { p.AccountEmail = "b@example.com" }, true},
		{"disconnected", func(p *passport.Passport) { p.Status, p.AccessToken = passport.StatusInactive, "" }, true},
		{"needs reconnecting", func(p *passport.Passport) { p.Status = passport.StatusReconnectRequired }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			c := newFakeCache(t, newFakeStore(), passport.CacheConfig{Changed: func(id string) { got = append(got, id) }})
			p := base
			c.Store(&p)
			next := base
			tt.change(&next)
			c.Update(&next)
			if (len(got) == 1 && got[0] == "p1") != tt.changed || len(got) > 1 {
				t.Fatalf("Changed calls %v, want changed=%v", got, tt.changed)
			}
		})
	}
	t.Run("forgotten (deleted)", func(t *testing.T) {
		var got []string
		c := newFakeCache(t, newFakeStore(), passport.CacheConfig{Changed: func(id string) { got = append(got, id) }})
		p := base
		c.Store(&p)
		c.Forget("p1")
		c.Forget("never-cached")
		if len(got) != 1 || got[0] != "p1" {
			t.Fatalf("Changed calls %v", got)
		}
	})
	t.Run("a re-read from the store sees a reconnect made elsewhere", func(t *testing.T) {
		var got []string
		s := newFakeStore()
		s.bind("inst", "k", "p1")
		clk := time.Now()
		c := newFakeCache(t, s, passport.CacheConfig{TTL: time.Minute, Now: func() time.Time { return clk },
			Changed: func(id string) { got = append(got, id) }})
		resolveOK(t, c, "inst")
		s.mu.Lock()
		np := *s.passports["p1"]
		np.ConnectedAt = time.Now()
		s.passports["p1"] = &np
		s.mu.Unlock()
		if _, err := c.Current(t.Context(), "p1"); err != nil { // fresh: from memory, no change seen yet
			t.Fatal(err)
		}
		clk = clk.Add(2 * time.Minute)
		if _, err := c.Current(t.Context(), "p1"); err != nil { // stale: re-read
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("Changed calls %v after another replica reconnected the passport", got)
		}
	})
}
