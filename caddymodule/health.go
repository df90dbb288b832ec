package caddymodule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	vault "github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/widgetgate/widgetgate/caddymodule/internal/health"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

func init() {
	caddy.RegisterModule(HealthHandler{})
	httpcaddyfile.RegisterHandlerDirective("widgetgate_health", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		hh := new(HealthHandler)
		return hh, hh.UnmarshalCaddyfile(h.Dispenser)
	})
	httpcaddyfile.RegisterDirectiveOrder("widgetgate_health", httpcaddyfile.Before, "reverse_proxy")
}

// HealthHandler serves liveness and readiness probes under its route:
//
//	GET <route>/live    200 while the process serves (no dependency)
//	GET <route>/ready   200 or 503, with each check: vault, widgets,
//	                    context_keys (when configured), shutdown
//
// Readiness fails from the moment Caddy starts to stop the process
// (SIGTERM, SIGINT, "caddy stop"), before any app stops and so before the
// listeners close; with Caddy's shutdown_delay the servers keep serving
// that long while readiness says 503.
type HealthHandler struct {
	// CheckTTL is how long the answer of a check that asks Vault is
	// reused, so that probes from several load balancers cost Vault one
	// read per TTL. Default 2s.
	CheckTTL caddy.Duration `json:"check_ttl,omitempty"`
	// Timeout bounds how long a readiness probe waits for its checks; a
	// check that takes longer fails, saying so. Keep it below the probe's
	// own timeout (Kubernetes' default timeoutSeconds is 1). Default 750ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	checker *health.Checker
}

// CaddyModule returns the Caddy module information.
func (HealthHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.widgetgate_health", New: func() caddy.Module { return new(HealthHandler) }}
}

// defaultCheckTTL is HealthHandler.CheckTTL's default.
const defaultCheckTTL = 2 * time.Second

// readinessProbeInstance is the binding the Vault check reads. Whether it
// exists does not matter: "not found" proves Vault answered and accepted
// the token for a read under the prefix, just as a widget call needs.
const readinessProbeInstance = "widgetgate-readiness-probe"

// Provision builds the checks from the widgetgate app and subscribes to
// Caddy's "stopping" event.
func (h *HealthHandler) Provision(ctx caddy.Context) error {
	appIface, err := ctx.App("widgetgate")
	if err != nil {
		return fmt.Errorf("getting widgetgate app: %w", err)
	}
	app := appIface.(*App)
	if h.CheckTTL < 0 || h.Timeout < 0 {
		return errors.New("widgetgate_health: check_ttl and timeout must not be negative")
	}
	ttl := cmp.Or(time.Duration(h.CheckTTL), defaultCheckTTL)
	timeout := cmp.Or(time.Duration(h.Timeout), health.DefaultTimeout)
	vc, err := vaultHealthClient(&app.Vault)
	if err != nil {
		return err
	}
	vcheck := &vaultCheck{app: app, sys: vc, timeout: timeout, logger: ctx.Logger()}
	checks := []health.Check{
		{Name: "vault", TTL: ttl, Run: vcheck.run},
		{Name: "widgets", Run: func(context.Context) health.Result {
			if app.catalog == nil {
				return health.Fail("the widget catalogue is not loaded")
			}
			return health.OK(fmt.Sprintf("%d widget packages loaded", app.catalog.Len()))
		}},
	}
	if app.contextKeysConfigured() {
		checks = append(checks, health.Check{Name: "context_keys", Run: func(context.Context) health.Result {
			return contextKeysResult(&app.ContextKeys, app.verifier.HasKeys())
		}})
	}
	h.checker = health.New(health.Config{Checks: checks, Timeout: timeout, ShuttingDown: serverShuttingDown})

	// Caddy emits "stopping" before it stops any app (caddy.go,
	// unsyncedStop), so readiness fails before the HTTP app closes a
	// listener. It is emitted for the old config on every reload too;
	// only an exiting process drains.
	evIface, err := ctx.App("events")
	if err != nil {
		return err
	}
	return evIface.(*caddyevents.App).On("stopping", drainOnExit{h.checker})
}

// contextKeysResult is the context_keys check. HMAC secrets come from
// Vault in the background (contextkeys.Watch); public keys are loaded with
// the config, so with public keys the verifier always has keys, and HMAC
// secrets loading late cannot be told apart: the reason says so.
func contextKeysResult(cfg *ContextKeysConfig, loaded bool) health.Result {
	switch {
	case !loaded && cfg.HMACVault:
		return health.Fail("the caller-context secrets have not been loaded from Vault yet (context-keys under the prefix)")
	case !loaded:
		return health.Fail("no caller-context key is loaded")
	case cfg.HMACVault && len(cfg.PublicKeyFiles) > 0:
		return health.OK("caller-context public keys loaded; the HMAC secrets from Vault are not checked separately")
	}
	return health.OK("caller-context keys loaded")
}

// serverShuttingDown reports Caddy's {http.shutting_down}: the server that
// got r will close its listener once shutdown_delay is over.
func serverShuttingDown(r *http.Request) bool {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return false
	}
	v, _ := repl.Get("http.shutting_down")
	b, _ := v.(bool)
	return b
}

// drainOnExit is the "stopping" event handler. It has no exported field:
// Caddy logs handlers at debug level with reflection.
type drainOnExit struct{ c *health.Checker }

// Handle implements caddyevents.Handler.
func (d drainOnExit) Handle(context.Context, caddy.Event) error {
	if caddy.Exiting() {
		d.c.Drain()
	}
	return nil
}

// vaultHealthClient is a token-less Vault client with the store's
// address and TLS settings, for sys/health, which needs no token: it tells
// "Vault cannot be reached" from "Vault refuses us" when a read fails.
func vaultHealthClient(v *VaultConfig) (*vault.Client, error) {
	cfg := vault.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("vault client defaults: %w", cfg.Error)
	}
	if v.Address != "" {
		cfg.Address = v.Address
	}
	cfg.MaxRetries = 0
	if v.CACert != "" || v.TLSServerName != "" {
		if err := cfg.ConfigureTLS(&vault.TLSConfig{CACert: v.CACert, TLSServerName: v.TLSServerName}); err != nil {
			return nil, fmt.Errorf("widgetgate_health: vault TLS config (ca_cert %q): %w", v.CACert, err)
		}
	}
	c, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("widgetgate_health: vault client: %w", err)
	}
	c.ClearToken()
	c.SetWrappingLookupFunc(func(string, string) string { return "" })
	return c, nil
}

// vaultCheck is the vault check: a read through the store, as calls make
// them, then sys/health to say why when it fails. Its reasons are fixed
// words; the store's error goes to the log only (once per failure spell).
type vaultCheck struct {
	app     *App
	sys     *vault.Client
	timeout time.Duration
	logger  *zap.Logger
	failing atomic.Bool
}

func (v *vaultCheck) run(ctx context.Context) health.Result {
	_, err := v.app.store.Bindings(ctx, readinessProbeInstance)
	if err == nil || errors.Is(err, passport.ErrNotFound) {
		if v.failing.Swap(false) {
			v.logger.Info("readiness: Vault answers again")
		}
		return health.OK("Vault answers and accepts widgetgate's token")
	}
	if !v.failing.Swap(true) {
		v.logger.Warn("readiness: reading from Vault failed", zap.Error(err))
	}
	if ctx.Err() != nil {
		return health.Fail("Vault did not answer within " + v.timeout.String())
	}
	st, herr := v.sys.Sys().HealthWithContext(ctx)
	switch {
	case herr != nil && ctx.Err() != nil:
		return health.Fail("Vault did not answer within " + v.timeout.String())
	case herr != nil:
		return health.Fail("Vault cannot be reached")
	case !st.Initialized:
		return health.Fail("Vault is not initialized")
	case st.Sealed:
		return health.Fail("Vault is sealed")
	}
	return health.Fail("Vault answers but refuses widgetgate's reads: its token is missing, expired or revoked, or its policy does not allow them (see the log)")
}

// ServeHTTP answers the probe; next is never called.
func (h *HealthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	h.checker.ServeHTTP(w, r)
	return nil
}

// UnmarshalCaddyfile sets up the health handler:
//
//	widgetgate_health {
//		check_ttl <duration>
//		timeout <duration>
//	}
func (h *HealthHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "check_ttl":
			err = durationArg(d, &h.CheckTTL)
		case "timeout":
			err = durationArg(d, &h.Timeout)
		default:
			return d.Errf("unrecognized widgetgate_health option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*HealthHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*HealthHandler)(nil)
	_ caddyfile.Unmarshaler       = (*HealthHandler)(nil)
	_ caddyevents.Handler         = drainOnExit{}
)
