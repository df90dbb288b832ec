package memstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/widgetgate/widgetgate/caddymodule/internal/memstore"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/storetest"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(_ *testing.T, prefix string) storetest.Store { return memstore.New(prefix) })
}

// Seeded secrets read like Vault's; an unavailable store (or an ended
// context) fails every operation with vaultstore.ErrUnavailable.
func TestPutAndUnavailable(t *testing.T) {
	s := memstore.New("")
	s.Put("widgetgate/passports/pp", map[string]any{"provider": "google", "status": "active", "access_token": "at"})
	ctx := context.Background()
	if p, err := s.Passport(ctx, "pp"); err != nil || p.AccessToken != "at" || p.Version != 1 {
		t.Fatalf("Passport = %+v, %v", p, err)
	}
	s.SetUnavailable(true)
	if _, err := s.Passport(ctx, "pp"); !errors.Is(err, vaultstore.ErrUnavailable) {
		t.Errorf("unavailable: Passport = %v, want ErrUnavailable", err)
	}
	if _, err := s.ListPassports(ctx); !errors.Is(err, vaultstore.ErrUnavailable) {
		t.Errorf("unavailable: ListPassports = %v, want ErrUnavailable", err)
	}
	s.SetUnavailable(false)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Passport(cancelled, "pp"); !errors.Is(err, vaultstore.ErrUnavailable) {
		t.Errorf("ended context: Passport = %v, want ErrUnavailable", err)
	}
	if _, err := s.Bindings(ctx, "screen"); !errors.Is(err, passport.ErrNotFound) {
		t.Errorf("Bindings = %v, want ErrNotFound", err)
	}
}

var _ storetest.Store = (*memstore.Store)(nil)
