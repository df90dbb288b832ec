package caddymodule

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/widgetgate/widgetgate/caddymodule/internal/fanout"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/refresh"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/caddymodule/internal/webhook"
	"github.com/widgetgate/widgetgate/caddymodule/internal/widgetcontext"
	"github.com/widgetgate/widgetgate/callerctx"
)

// states holds the long-lived state of widgetgate apps — the Vault
// client, the token cache, the refresher, the caller-context keys —
// across config reloads, keyed by the settings it is built from (as
// caddy-ratelimit keeps its zones). A reload that leaves those settings
// alone keeps the warm cache (so calls go on from memory even while Vault
// is down), the refreshes in flight and their single-flight groups.
var states = caddy.NewUsagePool()

// state is what states holds. Its background loops run on ctx, which
// ends when the last app using it is cleaned up.
type state struct {
	store     *vaultstore.Store
	cache     *passport.Cache
	configs   *widgetcontext.Cache // instances' configurations, as cache keeps bindings
	refresher *refresh.Refresher   // nil when refresh is disabled
	verifier  *callerctx.Verifier
	// fanout holds the response cache, calls in flight, cool-downs and
	// concurrency budgets; its policy is the newest started app's.
	fanout     *fanout.Stage
	publicKeys []crypto.PublicKey // the context keys' public keys, kept with the HMAC ones on rotation

	// providers is the registry of the newest app that started: the
	// refresher looks providers up here, so a reload that adds a widget
	// package is seen by refreshes at once.
	providers atomic.Pointer[map[string]*provider.Provider]
	// notifier sends the operator webhooks of the newest app that
	// started; nil when it has none.
	notifier atomic.Pointer[webhook.Notifier]

	ctx    context.Context
	cancel context.CancelFunc
	logger *slog.Logger
	start  sync.Once
}

// stateKey names the settings a state is built from. It is a hash: the
// settings may hold a Vault token, and the key lives in a process-wide
// map.
func stateKey(settings any) (string, error) {
	b, err := json.Marshal(settings)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// statusChanged tells the operator webhooks that this replica changed a
// passport's status (refresh and connect call it once per transition,
// after Vault took it).
func (s *state) statusChanged(p *passport.Passport, previous, reason string) {
	if ev, ok := webhook.StatusEvent(p, reason, time.Now()); ok {
		s.notifier.Load().Notify(ev)
	}
	s.logger.Info("passport status changed", "passport", p.ID, "provider", p.Provider, "from", previous, "to", p.Status, "reason", reason)
}

// provider looks name up in the newest started app's registry.
func (s *state) provider(name string) (*provider.Provider, bool) {
	m := s.providers.Load()
	if m == nil {
		return nil, false
	}
	p, ok := (*m)[name]
	return p, ok
}

// Destruct ends the state's background work once no app uses it. Token
// redemptions already sent are never abandoned (refresh.Shutdown): after a
// reload that changed the Vault settings they finish in the background;
// at shutdown, Destruct waits for them, so their rotated refresh tokens
// reach Vault first.
func (s *state) Destruct() error {
	s.cancel()
	if s.refresher == nil {
		s.store.Stop()
		return nil
	}
	s.refresher.Shutdown(caddy.Exiting(), s.store.Stop)
	return nil
}

// Interface guards
var _ caddy.Destructor = (*state)(nil)
