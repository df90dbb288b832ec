package caddymodule

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap/exp/zapslog"
	"golang.org/x/net/http/httpguts"

	"github.com/widgetgate/widgetgate/caddymodule/internal/admin"
	"github.com/widgetgate/widgetgate/caddymodule/internal/connect"
)

func init() {
	caddy.RegisterModule(AdminHandler{})
	httpcaddyfile.RegisterHandlerDirective("widgetgate_admin", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		a := new(AdminHandler)
		return a, a.UnmarshalCaddyfile(h.Dispenser)
	})
	httpcaddyfile.RegisterDirectiveOrder("widgetgate_admin", httpcaddyfile.Before, "reverse_proxy")
}

// AdminHandler serves the passport administration: a JSON API, a small
// operator page, and the OAuth callback. It is closed by default: it
// refuses to provision unless an admin credential is configured or the
// operator declares that an auth directive in front of it does the job.
type AdminHandler struct {
	// TokenFile holds the admin API's bearer token (compared in constant time).
	TokenFile string `json:"token_file,omitempty"`
	// TokenVault reads the bearer token from Vault, <prefix>/admin (field token).
	TokenVault bool `json:"token_vault,omitempty"`
	// TrustAuthDirective declares that a Caddy auth directive in front of
	// this handler (basic_auth, forward_auth) authenticates administrators.
	TrustAuthDirective bool `json:"trust_auth_directive,omitempty"`
	// PublicURL is where administrators' browsers reach this handler, e.g.
	// https://sidecar.example.com/admin; the OAuth redirect URI registered
	// at providers is PublicURL + "/callback".
	PublicURL string `json:"public_url,omitempty"`
	// ActorHeader names the request header that says who the
	// administrator is, for the audit log: the user header the auth
	// directive in front sets (forward_auth's copy_headers, e.g.
	// Remote-User). That directive must set or remove it on every request
	// it lets through, or a client could name itself. Default none: the
	// actor is "admin".
	ActorHeader string `json:"actor_header,omitempty"`

	h *admin.Handler
}

// CaddyModule returns the Caddy module information.
func (AdminHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.widgetgate_admin", New: func() caddy.Module { return new(AdminHandler) }}
}

// Provision checks the handler is protected and builds it from the app's
// parts.
func (a *AdminHandler) Provision(ctx caddy.Context) error {
	if a.TokenFile == "" && !a.TokenVault && !a.TrustAuthDirective {
		return errors.New("widgetgate_admin refuses to run unprotected: set token_file or token_vault, or declare trust_auth_directive with basic_auth/forward_auth in front of it")
	}
	u, err := url.Parse(a.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("widgetgate_admin: public_url %q must be an absolute URL", a.PublicURL)
	}
	if a.ActorHeader != "" && !httpguts.ValidHeaderFieldName(a.ActorHeader) {
		return fmt.Errorf("widgetgate_admin: actor_header %q is not a header name", a.ActorHeader)
	}
	var token []byte
	if a.TokenFile != "" {
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return fmt.Errorf("widgetgate_admin token_file: %w", err)
		}
		if token = []byte(strings.TrimSpace(string(b))); len(token) < 16 {
			return fmt.Errorf("widgetgate_admin token_file %s: the token must be at least 16 bytes", a.TokenFile)
		}
	}
	appIface, err := ctx.App("widgetgate")
	if err != nil {
		return err
	}
	app := appIface.(*App)
	if app.refresher == nil {
		return errors.New("widgetgate_admin needs token refresh enabled (connecting uses the provider registry and client credentials)")
	}
	a.h = &admin.Handler{
		Store: app.store, Cache: app.cache, Configs: app.configs, Widgets: app.widgets,
		Flow: &connect.Flow{
			Store: app.store, Lookup: app.provider, Credentials: app.refresher.Credentials,
			RedirectURL:     strings.TrimSuffix(a.PublicURL, "/") + "/callback",
			HTTPClient:      app.refresher.HTTPClient(),
			DefaultLifetime: time.Hour,
			Refresh:         app.refresher.Refresh,
			OnStatusChange:  app.state.statusChanged,
		},
		Providers:   app.providers,
		Credentials: app.refresher.Credentials,
		Token:       token, TokenVault: a.TokenVault, TrustAuthDirective: a.TrustAuthDirective,
		Origin: admin.OriginOf(u),
		Logger: slog.New(zapslog.NewHandler(ctx.Logger().Core())),
		// One line per admin action, under its own logger name so that a
		// Caddy log can take (include) or leave (exclude) it.
		Audit:       slog.New(zapslog.NewHandler(ctx.Logger().Core(), zapslog.WithName(auditLoggerName))),
		ActorHeader: a.ActorHeader,
	}
	return nil
}

// auditLoggerName names the audit log's logger.
const auditLoggerName = "widgetgate.audit"

// ServeHTTP passes every request under the route to the admin handler;
// next is never called.
func (a *AdminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	a.h.ServeHTTP(w, r)
	return nil
}

// UnmarshalCaddyfile sets up the admin handler:
//
//	widgetgate_admin {
//		token_file <path>
//		token_vault
//		trust_auth_directive
//		public_url <url>
//		actor_header <name>
//	}
func (a *AdminHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "token_file":
			err = oneArg(d, &a.TokenFile)
		case "token_vault":
			a.TokenVault = true
		case "trust_auth_directive":
			a.TrustAuthDirective = true
		case "public_url":
			err = oneArg(d, &a.PublicURL)
		case "actor_header":
			err = oneArg(d, &a.ActorHeader)
		default:
			return d.Errf("unrecognized widgetgate_admin option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*AdminHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*AdminHandler)(nil)
	_ caddyfile.Unmarshaler       = (*AdminHandler)(nil)
)
