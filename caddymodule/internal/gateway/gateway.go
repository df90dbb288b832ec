// Package gateway owns a widget call end to end, with no Caddy in sight:
// parse the call, identify the caller, look up the API, render its
// request, resolve the passport, exchange with the provider (refreshing a
// refused token once) and answer with the envelope or the raw stream. Its
// dependencies are the small interfaces below, so it runs in unit tests
// with an in-memory catalogue and resolver and an httptest provider.
package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/fanout"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/upstream"
	"github.com/widgetgate/widgetgate/callerctx"
)

// Catalog finds a loaded widget's API (as *schema.Catalog does). Its
// errors are schema.ErrUnknownWidget or schema.ErrUnknownAPI.
type Catalog interface {
	Lookup(widgetID, apiName string) (*schema.API, error)
}

// Passports gives the passport bound to an instance's authKey, and a fresh
// one when a provider refuses its token (as *passport.Cache does).
type Passports interface {
	Resolve(ctx context.Context, instance, authKey string) (*passport.Passport, error)
	Refresh(ctx context.Context, stale *passport.Passport) (*passport.Passport, error)
	// InstanceOptional reports whether calls may name no instance (a
	// static binding for every instance is configured).
	InstanceOptional() bool
}

// Client sends a rendered call to its provider (as *upstream.Client does).
type Client interface {
	NewRequest(ctx context.Context, api *schema.API, u *url.URL, user, token string) (*http.Request, error)
	Do(req *http.Request, secrets *upstream.Secrets) (*http.Response, error)
	Timeout() time.Duration
	IdleTimeout() time.Duration
}

// Verifier checks signed caller contexts (as *callerctx.Verifier does).
type Verifier interface {
	HasKeys() bool
	Verify(token, audience string) (callerctx.Context, error)
}

// Caller-context modes.
const (
	// CallerHeaders trusts the widget host's plain instance and user headers.
	CallerHeaders = "headers"
	// CallerSigned reads instance and user from a verified signed context only.
	CallerSigned = "signed"
)

// Config is a gateway's dependencies and settings. The caller applies the
// defaults (the handler's); zero values are taken as they are.
type Config struct {
	Catalog   Catalog
	Passports Passports
	Client    Client
	// Verifier is needed when CallerContext is CallerSigned.
	Verifier Verifier
	// CanRefresh reports whether a passport whose token a provider refused
	// is worth a forced refresh. Nil means never.
	CanRefresh func(*passport.Passport) bool

	// CallerContext is CallerHeaders or CallerSigned.
	CallerContext   string
	InstanceHeader  string // header naming the calling instance (headers mode)
	UserHeader      string // header filling {user.id} (headers mode)
	ContextHeader   string // header carrying the signed context (signed mode)
	ContextAudience string // "aud" a signed context must name

	// Fanout is the stage that coalesces identical calls, caches answers
	// and keeps provider rate limits; nil sends every call as it comes.
	Fanout *fanout.Stage
	// CacheTTL returns how long an API's answers may be served from the
	// cache (0: not cached, only coalesced). Nil: nothing is cached.
	CacheTTL func(widgetID, apiName string) time.Duration

	Limits Limits
	// MaxResponseBytes caps a provider body in envelope mode.
	MaxResponseBytes int64

	Logger *slog.Logger // nil: discard
}

// Gateway serves widget calls. It is safe for concurrent use.
type Gateway struct {
	cfg Config
	log *slog.Logger
}

// New returns a gateway with cfg.
func New(cfg Config) *Gateway {
	g := &Gateway{cfg: cfg, log: cfg.Logger}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.cfg.CanRefresh == nil {
		g.cfg.CanRefresh = func(*passport.Passport) bool { return false }
	}
	return g
}

// Interface guards: the real dependencies fit the interfaces.
var (
	_ Catalog   = (*schema.Catalog)(nil)
	_ Passports = (*passport.Cache)(nil)
	_ Client    = (*upstream.Client)(nil)
	_ Verifier  = (*callerctx.Verifier)(nil)
)
