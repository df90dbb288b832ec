package caddymodule

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/widgetgate/widgetgate/caddymodule/internal/browserkit"
	"github.com/widgetgate/widgetgate/caddymodule/internal/gateway"
	"github.com/widgetgate/widgetgate/caddymodule/internal/metrics"
	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/widgetcontext"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler serves widget calls under its route:
//
//	POST     <route>/widgets/{widgetId}/apis/{apiName}       → JSON envelope
//	GET|POST <route>/widgets/{widgetId}/apis/{apiName}/raw   → the provider's response, streamed
//	GET      <route>/widgets/{widgetId}/context              → the instance's configuration and the viewer
//
// It is thin: the call itself is the gateway's (internal/gateway), and the
// widget catalogue, Vault, the token cache and the outbound transport
// belong to the widgetgate app.
type Handler struct {
	// InstanceHeader names the header in which the (trusted) widget host
	// says which configured widget instance is calling; it selects the
	// passport bindings. Default "X-Widget-Instance".
	InstanceHeader string `json:"instance_header,omitempty"`
	// UserHeader names the header that fills {user.id}. Default "X-Widget-User-Id".
	UserHeader string `json:"user_header,omitempty"`
	// MaxRequestBytes bounds the call's body. Default 64 KiB.
	MaxRequestBytes int `json:"max_request_bytes,omitempty"`
	// MaxResponseBytes bounds a provider body in envelope mode; a larger
	// one fails with 502 upstream_response_too_large. Raw mode streams
	// without a cap. Default 10 MiB.
	MaxResponseBytes int64 `json:"max_response_bytes,omitempty"`
	// MaxParams bounds how many params a call may send. Default 64.
	MaxParams int `json:"max_params,omitempty"`
	// MaxParamNameBytes bounds a param's name. Default 64.
	MaxParamNameBytes int `json:"max_param_name_bytes,omitempty"`
	// MaxParamValueBytes bounds a param's value. Default 8 KiB.
	MaxParamValueBytes int `json:"max_param_value_bytes,omitempty"`

	// CallerContext says how the caller is identified: "headers" (the
	// widget host is trusted to set InstanceHeader and UserHeader; for
	// hosts on a private network) or "signed" (a short-lived JWT in
	// ContextHeader, minted by the host's server, verified with the app's
	// context_keys; plain instance headers are ignored). Default "headers".
	CallerContext string `json:"caller_context,omitempty"`
	// ContextHeader carries the signed context. Default "X-Widget-Context".
	ContextHeader string `json:"context_header,omitempty"`
	// ContextAudience is the "aud" signed contexts must name. Default "widgetgate".
	ContextAudience string `json:"context_audience,omitempty"`
	// AllowedOrigins are the widget host pages (scheme://host[:port]) that
	// may call from a browser (CORS) and frame widget pages.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`

	app     *App
	gateway *gateway.Gateway
	kit     *browserkit.Server
	context *widgetcontext.Server
	logger  *zap.Logger
	metrics *metrics.Calls
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.widgetgate",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision gets the widgetgate app and applies defaults.
func (h *Handler) Provision(ctx caddy.Context) error {
	appIface, err := ctx.App("widgetgate")
	if err != nil {
		return fmt.Errorf("getting widgetgate app: %w", err)
	}
	// Before setup, which hands the metrics to the context server.
	if h.metrics, err = metrics.NewCalls(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	h.setup(appIface.(*App), ctx.Logger())
	switch h.CallerContext {
	case gateway.CallerHeaders:
	case gateway.CallerSigned:
		if !h.app.contextKeysConfigured() {
			return fmt.Errorf("caller_context signed needs context_keys in the widgetgate global options")
		}
	default:
		return fmt.Errorf("caller_context %q: want headers or signed", h.CallerContext)
	}
	return nil
}

func (h *Handler) setup(app *App, logger *zap.Logger) {
	h.app, h.logger = app, logger
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if h.InstanceHeader == "" {
		h.InstanceHeader = "X-Widget-Instance"
	}
	if h.UserHeader == "" {
		h.UserHeader = "X-Widget-User-Id"
	}
	if h.CallerContext == "" {
		h.CallerContext = gateway.CallerHeaders
	}
	if h.ContextHeader == "" {
		h.ContextHeader = "X-Widget-Context"
	}
	if h.ContextAudience == "" {
		h.ContextAudience = "widgetgate"
	}
	def(&h.MaxRequestBytes, 64<<10)
	def(&h.MaxParams, 64)
	def(&h.MaxParamNameBytes, 64)
	def(&h.MaxParamValueBytes, 8<<10)
	if h.MaxResponseBytes <= 0 {
		h.MaxResponseBytes = 10 << 20
	}
	slogger := slog.New(zapslog.NewHandler(logger.Core(), zapslog.WithName(logger.Name())))
	h.gateway = gateway.New(gateway.Config{
		Catalog: app.widgets, Passports: app.cache, Client: app.client, Verifier: app.verifier,
		CanRefresh: app.canRefresh,
		Fanout:     app.fanout, CacheTTL: app.cacheTTL,
		CallerContext: h.CallerContext, InstanceHeader: h.InstanceHeader, UserHeader: h.UserHeader,
		ContextHeader: h.ContextHeader, ContextAudience: h.ContextAudience,
		Limits: gateway.Limits{
			MaxBody: h.MaxRequestBytes, MaxParams: h.MaxParams,
			MaxName: h.MaxParamNameBytes, MaxValue: h.MaxParamValueBytes,
		},
		MaxResponseBytes: h.MaxResponseBytes,
		Logger:           slogger,
	})
	h.context = &widgetcontext.Server{Store: app.configs, Widgets: app.widgets, Caller: h.gateway.Caller, Logger: slogger,
		Observe: h.metrics.ObserveContext}
	h.kit = &browserkit.Server{
		Script: widgetgateJS, Pages: app.widgets, AllowedOrigins: h.AllowedOrigins,
		AllowHeaders: "Content-Type, " + h.ContextHeader + ", " + h.InstanceHeader + ", " + h.UserHeader,
	}
}

// ServeHTTP implements caddyhttp.MiddlewareHandler. Every request under the
// route is answered here, errors included, as JSON; next is never called.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if h.kit.CORS(w, r) {
		return nil
	}
	if served, p := h.kit.ServeStatic(w, r); served {
		if p != nil {
			problem.Write(w, p)
		}
		return nil
	}
	if id, ok := widgetcontext.ParsePath(r.URL.EscapedPath()); ok {
		h.context.ServeHTTP(w, r, id)
		return nil
	}
	start := time.Now()
	res, p := h.gateway.Call(r.Context(), gateway.HTTPRequest(r))
	outcome := "ok"
	if p != nil {
		outcome = p.Code
		if p.Status >= 500 {
			h.logger.Warn("widget call failed", zap.String("widget", p.Widget), zap.String("api", p.API),
				zap.String("code", p.Code), zap.String("message", p.Message))
		}
		res.CacheHeaders(w.Header())
		problem.Write(w, p)
	} else if err := res.Serve(w); err != nil {
		h.logger.Debug("raw stream ended early", zap.String("widget", res.API.WidgetID), zap.String("api", res.API.Name), zap.Error(err))
	}
	if res.API != nil {
		h.metrics.Observe(res.API.WidgetID, res.API.Name, outcome, res.Source, res.Raw, start)
	} else {
		h.metrics.Observe("", "", outcome, res.Source, res.Raw, start)
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
