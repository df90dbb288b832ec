package caddymodule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap/exp/zapslog"

	"github.com/widgetgate/widgetgate/caddymodule/internal/health"
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
	// VaultCheck is when the vault check fails readiness. "always" (the
	// default): whenever Vault cannot be read. "startup": only until it
	// has been read once; a later outage is reported as "degraded" and
	// the replica stays ready. Use "startup" for a fleet: every replica
	// shares Vault, so during an outage "always" takes them all out of the
	// load balancer, and the calls cached tokens could serve fail too.
	// A reload starts over: the new config reads Vault once first.
	VaultCheck string `json:"vault_check,omitempty"`

	checker *health.Checker
}

// CaddyModule returns the Caddy module information.
func (HealthHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.widgetgate_health", New: func() caddy.Module { return new(HealthHandler) }}
}

// HealthHandler.VaultCheck's values.
const (
	vaultCheckAlways  = "always"
	vaultCheckStartup = "startup"
)

// validVaultCheck reports whether s is a vault_check value.
func validVaultCheck(s string) bool { return s == vaultCheckAlways || s == vaultCheckStartup }

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
	if h.VaultCheck != "" && !validVaultCheck(h.VaultCheck) {
		return fmt.Errorf("widgetgate_health: vault_check %q: want %s or %s", h.VaultCheck, vaultCheckAlways, vaultCheckStartup)
	}
	ttl := cmp.Or(time.Duration(h.CheckTTL), defaultCheckTTL)
	timeout := cmp.Or(time.Duration(h.Timeout), health.DefaultTimeout)
	sys, err := health.NewVaultSysClient(app.Vault.Address, app.Vault.CACert, app.Vault.TLSServerName)
	if err != nil {
		return fmt.Errorf("widgetgate_health: %w", err)
	}
	vcheck := &health.VaultCheck{
		Read: func(ctx context.Context) error {
			_, err := app.store.Bindings(ctx, readinessProbeInstance)
			return err
		},
		Sys: sys, Timeout: timeout, Logger: slog.New(zapslog.NewHandler(ctx.Logger().Core())),
	}
	checks := []health.Check{
		{Name: "vault", TTL: ttl, Run: vcheck.Run, StartupOnly: h.VaultCheck == vaultCheckStartup},
		{Name: "widgets", Run: func(context.Context) health.Result {
			if app.widgets == nil {
				return health.Widgets(false, 0, 0)
			}
			return health.Widgets(true, app.widgets.Len(), len(app.widgets.Problems()))
		}},
	}
	if app.contextKeysConfigured() {
		checks = append(checks, health.Check{Name: "context_keys", Run: func(context.Context) health.Result {
			return health.ContextKeys(app.ContextKeys.HMACVault, len(app.ContextKeys.PublicKeyFiles) > 0, app.verifier.HasKeys())
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
//		vault_check always|startup
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
		case "vault_check":
			err = parsedArg(d, &h.VaultCheck, vaultCheckAlways+" or "+vaultCheckStartup, func(s string) (string, bool) { return s, validVaultCheck(s) })
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
