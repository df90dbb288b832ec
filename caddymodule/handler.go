package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/refresh"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/template"
	"github.com/widgetgate/widgetgate/caddymodule/internal/upstream"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler serves widget calls under its route:
//
//	POST     <route>/widgets/{widgetId}/apis/{apiName}       → JSON envelope
//	GET|POST <route>/widgets/{widgetId}/apis/{apiName}/raw   → the provider's response, streamed
//
// It is thin: the widget catalogue, Vault, the token cache and the
// outbound transport belong to the widgetgate app.
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
	limits  limits
	logger  *zap.Logger
	metrics *metrics
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
	h.setup(appIface.(*App), ctx.Logger())
	switch h.CallerContext {
	case "headers":
	case "signed":
		if !h.app.contextKeysConfigured() {
			return fmt.Errorf("caller_context signed needs context_keys in the widgetgate global options")
		}
	default:
		return fmt.Errorf("caller_context %q: want headers or signed", h.CallerContext)
	}
	h.metrics, err = newMetrics(ctx.GetMetricsRegistry())
	return err
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
		h.CallerContext = "headers"
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
	h.limits = limits{maxBody: h.MaxRequestBytes, maxParams: h.MaxParams, maxName: h.MaxParamNameBytes, maxValue: h.MaxParamValueBytes}
}

// ServeHTTP implements caddyhttp.MiddlewareHandler. Every request under the
// route is answered here, errors included, as JSON; next is never called.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if h.cors(w, r) {
		return nil
	}
	if served, p := h.serveStatic(w, r); served {
		if p != nil {
			writeProblem(w, p)
		}
		return nil
	}
	start := time.Now()
	widgetID, apiName, raw, ok := parseCallPath(r.URL.EscapedPath())
	api, p := h.call(w, r, widgetID, apiName, raw, ok)
	outcome := "ok"
	if p != nil {
		outcome = p.Code
		if p.Status >= 500 {
			h.logger.Warn("widget call failed", zap.String("widget", p.Widget), zap.String("api", p.API),
				zap.String("code", p.Code), zap.String("message", p.Message))
		}
		writeProblem(w, p)
	}
	if api != nil {
		h.metrics.observe(api.WidgetID, api.Name, outcome, raw, start)
	} else {
		h.metrics.observe("", "", outcome, raw, start)
	}
	return nil
}

// call handles one call and returns the API called (once known) and the
// problem to answer with, not yet written.
func (h *Handler) call(w http.ResponseWriter, r *http.Request, widgetID, apiName string, raw, ok bool) (*schema.API, *problem) {
	c, p := h.prepare(w, r, widgetID, apiName, raw, ok)
	if p != nil {
		return c.api, c.tag(p)
	}
	return c.api, c.tag(h.forward(w, r, c, raw))
}

// prepared is a call checked and ready to send.
type prepared struct {
	api  *schema.API
	url  *url.URL
	user string
	pp   *passport.Passport
}

// tag marks a problem with the API it concerns, once that is known.
func (c *prepared) tag(p *problem) *problem {
	if p != nil && c.api != nil {
		p.Widget, p.API = c.api.WidgetID, c.api.Name
	}
	return p
}

// prepare runs every check before the upstream call, in the contract's
// order: bad call → unknown widget/api → no passport → provider mismatch →
// Vault.
func (h *Handler) prepare(w http.ResponseWriter, r *http.Request, widgetID, apiName string, raw, ok bool) (*prepared, *problem) {
	c := &prepared{}
	if !ok {
		return c, newProblem(http.StatusNotFound, "not_found", "no such route: calls are POST …/widgets/{widgetId}/apis/{apiName}[/raw]")
	}
	if allowed := r.Method == http.MethodPost || raw && r.Method == http.MethodGet; !allowed {
		allow := "POST"
		if raw {
			allow = "GET, POST"
		}
		w.Header().Set("Allow", allow)
		return c, newProblem(http.StatusMethodNotAllowed, "method_not_allowed", "use POST (or GET for …/raw)")
	}
	params, p := readParams(r, h.limits)
	if p != nil {
		return c, p
	}
	instance, user, p := h.callerContext(r, widgetID)
	if p != nil {
		return c, p
	}
	api, err := h.app.catalog.Lookup(widgetID, apiName)
	switch {
	case errors.Is(err, schema.ErrUnknownWidget):
		p := newProblem(http.StatusNotFound, "unknown_widget", fmt.Sprintf("no widget %q is loaded", widgetID))
		p.Widget = widgetID
		return c, p
	case errors.Is(err, schema.ErrUnknownAPI):
		p := newProblem(http.StatusNotFound, "unknown_api", fmt.Sprintf("widget %q has no authenticatedApis entry named %q", widgetID, apiName))
		p.Widget, p.API = widgetID, apiName
		return c, p
	}
	c.api, c.user = api, user
	if err := api.CheckPatterns(params); err != nil {
		return c, renderProblem(err)
	}
	if c.url, err = api.URL.RenderURL(params, user); err != nil {
		return c, renderProblem(err)
	}
	if api.UsesUser && user == "" {
		return c, renderProblem(&template.ParamError{Code: template.CodeMissingParam, Param: template.UserIDParam})
	}
	c.pp, p = h.resolve(r.Context(), instance, api)
	return c, p
}

// forward makes the upstream call and writes the answer: the envelope, or
// the raw stream.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, c *prepared, raw bool) *problem {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// Envelope mode bounds the whole call; raw mode only until headers
	// arrive, so a large download is not cut off mid-stream.
	deadline := time.AfterFunc(h.app.client.Timeout(), cancel)
	defer deadline.Stop()

	// Every token the call sends (a forced refresh adds one) is masked in
	// everything the provider answers.
	secrets := upstream.NewSecrets()
	resp, p := h.send(ctx, c.api, c.url, c.user, c.pp, secrets)
	if p != nil {
		if !deadline.Stop() {
			p = upstreamProblem(r.Context(), upstream.ErrTimeout) // our deadline fired and cancelled the call
		}
		return p
	}
	if raw {
		deadline.Stop()
		if err := upstream.Stream(w, resp, secrets, h.app.client.IdleTimeout(), cancel); err != nil {
			h.logger.Debug("raw stream ended early", zap.String("widget", c.api.WidgetID), zap.String("api", c.api.Name), zap.Error(err))
		}
		return nil
	}
	envelope, err := upstream.Envelope(resp, secrets, h.MaxResponseBytes)
	if err != nil {
		if errors.Is(err, upstream.ErrTooLarge) {
			return newProblem(http.StatusBadGateway, "upstream_response_too_large",
				fmt.Sprintf("the provider's response is larger than %d bytes; use …/raw to stream it", h.MaxResponseBytes))
		}
		if !deadline.Stop() {
			err = upstream.ErrTimeout
		}
		return upstreamProblem(r.Context(), err)
	}
	body := envelope.Bytes()
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	// Known length: no chunked framing, and one write for the whole answer.
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	envelope.Release()
	return nil
}

// send makes the upstream call. A provider that refuses a token we thought
// valid (401) gets one forced refresh and one retry: the schema's request
// is static, so replaying it is safe. A second 401 goes to the widget, and
// so does a 401 for a token refreshed moments ago (forced refreshes are
// bounded per passport, across replicas).
func (h *Handler) send(ctx context.Context, api *schema.API, u *url.URL, user string, pp *passport.Passport, secrets *upstream.Secrets) (*http.Response, *problem) {
	for attempt := 0; ; attempt++ {
		secrets.Add(pp.AccessToken)
		req, err := h.app.client.NewRequest(ctx, api, u, user, pp.AccessToken)
		if err != nil {
			return nil, renderProblem(err)
		}
		resp, err := h.app.client.Do(req, secrets)
		if err != nil {
			return nil, upstreamProblem(ctx, err)
		}
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 || !h.app.canRefresh(pp) {
			return resp, nil
		}
		// The refused answer is kept open until we know whether a refresh
		// happens: if not, it is the widget's answer.
		fresh, err := h.app.cache.Refresh(ctx, pp)
		if errors.Is(err, refresh.ErrRecentlyRefreshed) {
			return resp, nil
		}
		resp.Body.Close()
		if err != nil {
			return nil, resolveProblem(ctx, err, api)
		}
		h.logger.Info("provider refused the token; refreshed and retried", zap.String("widget", api.WidgetID), zap.String("api", api.Name))
		pp = fresh
	}
}

// callerContext reads who is calling: from a verified signed context, or
// as told by the trusted widget host in plain headers.
func (h *Handler) callerContext(r *http.Request, widgetID string) (instance, user string, p *problem) {
	if h.CallerContext == "signed" {
		return h.signedContext(r, widgetID)
	}
	instance = r.Header.Get(h.InstanceHeader)
	user = r.Header.Get(h.UserHeader)
	switch {
	case instance == "" && !h.app.cache.InstanceOptional():
		return "", "", newProblem(http.StatusBadRequest, "missing_instance",
			fmt.Sprintf("the %s header is required: it says which widget instance is calling", h.InstanceHeader))
	case instance != "" && !vaultstore.ValidID(instance):
		return "", "", newProblem(http.StatusBadRequest, "invalid_instance",
			fmt.Sprintf("the %s header must be 1 to 128 letters, digits or ._:@-", h.InstanceHeader))
	}
	if err := template.CheckValue(user); err != nil {
		p := newProblem(http.StatusBadRequest, "invalid_param", fmt.Sprintf("the %s header %s", h.UserHeader, err))
		p.Param = template.UserIDParam
		return "", "", p
	}
	return instance, user, nil
}

// signedContext verifies the caller's signed context; the instance and the
// user come from its claims only.
func (h *Handler) signedContext(r *http.Request, widgetID string) (instance, user string, p *problem) {
	token := r.Header.Get(h.ContextHeader)
	if token == "" {
		return "", "", newProblem(http.StatusUnauthorized, "invalid_caller_context",
			fmt.Sprintf("the %s header is required: a signed caller context from the widget host", h.ContextHeader))
	}
	if !h.app.verifier.HasKeys() {
		p := newProblem(http.StatusServiceUnavailable, "vault_unavailable", "the keys that verify caller contexts are not loaded yet; try again shortly")
		p.RetryAfter = 5
		return "", "", p
	}
	c, err := h.app.verifier.Verify(token, h.ContextAudience)
	if err != nil {
		h.logger.Debug("caller context refused", zap.Error(err))
		return "", "", newProblem(http.StatusUnauthorized, "invalid_caller_context", "the caller context is missing, malformed, expired or not signed by a known key")
	}
	if c.Widget != widgetID {
		return "", "", newProblem(http.StatusForbidden, "widget_mismatch", "the caller context was issued for another widget")
	}
	if !vaultstore.ValidID(c.Instance) || template.CheckValue(c.User) != nil {
		return "", "", newProblem(http.StatusUnauthorized, "invalid_caller_context", "the caller context names an invalid instance or user")
	}
	return c.Instance, c.User, nil
}

// resolve finds the active passport for the API's authKey and checks it
// is of the provider the schema asks for.
func (h *Handler) resolve(ctx context.Context, instance string, api *schema.API) (*passport.Passport, *problem) {
	pp, err := h.app.cache.Resolve(ctx, instance, api.Auth.Key)
	if err != nil {
		h.logger.Debug("no usable passport", zap.String("instance", instance), zap.String("auth_key", api.Auth.Key), zap.Error(err))
		return nil, resolveProblem(ctx, err, api)
	}
	if want := api.Auth.Provider; want != "" && pp.Provider != want {
		return nil, newProblem(http.StatusForbidden, "passport_provider_mismatch",
			fmt.Sprintf("the passport bound to %q is a %q passport; this API needs %q", api.Auth.Key, pp.Provider, want))
	}
	return pp, nil
}

// resolveProblem maps a failure to get a usable token to a problem.
func resolveProblem(ctx context.Context, err error, api *schema.API) *problem {
	switch {
	case errors.Is(err, refresh.ErrReconnectRequired):
		p := newProblem(http.StatusUnauthorized, "authentication_required",
			fmt.Sprintf("Authentication required: the provider revoked the passport for %q; an administrator must reconnect it", api.Auth.Key))
		p.Reason = passport.StatusReconnectRequired
		return p
	case errors.Is(err, passport.ErrNotBound), errors.Is(err, passport.ErrInactive):
		return newProblem(http.StatusUnauthorized, "authentication_required",
			fmt.Sprintf("Authentication required: no active passport is connected for %q; an administrator must connect and bind one", api.Auth.Key))
	case errors.Is(err, refresh.ErrFailed):
		p := newProblem(http.StatusBadGateway, "token_refresh_failed", "the provider's token endpoint is failing; the passport's token could not be renewed")
		p.RetryAfter = 30
		return p
	case ctx.Err() != nil:
		return newProblem(499, "client_closed", "the caller went away")
	}
	p := newProblem(http.StatusServiceUnavailable, "vault_unavailable", "the secret store cannot be reached; try again shortly")
	p.RetryAfter = 5
	return p
}

func renderProblem(err error) *problem {
	var pe *template.ParamError
	if !errors.As(err, &pe) {
		return newProblem(http.StatusBadRequest, "invalid_param", err.Error())
	}
	p := newProblem(http.StatusBadRequest, pe.Code, pe.Error())
	p.Param = pe.Param
	return p
}

func upstreamProblem(ctx context.Context, err error) *problem {
	switch {
	case errors.Is(err, upstream.ErrTimeout):
		return newProblem(http.StatusGatewayTimeout, "upstream_timeout", "the provider did not answer in time")
	case ctx.Err() != nil:
		return newProblem(499, "client_closed", "the caller went away")
	}
	var ue *upstream.Error
	if errors.As(err, &ue) && errors.Is(err, upstream.ErrEncoding) {
		return newProblem(http.StatusBadGateway, "upstream_unsupported_encoding",
			"the provider compressed its answer in an encoding widgetgate cannot check for credentials: "+ue.Cause)
	}
	if errors.As(err, &ue) && errors.Is(err, upstream.ErrEgress) {
		return newProblem(http.StatusBadGateway, "egress_denied", "the provider's address is not allowed: "+ue.Cause)
	}
	if errors.As(err, &ue) {
		return newProblem(http.StatusBadGateway, "upstream_unreachable", "the provider could not be reached: "+ue.Error())
	}
	return newProblem(http.StatusBadGateway, "upstream_unreachable", "the provider's response could not be read")
}

// parseCallPath matches the tail of the route: …/widgets/{w}/apis/{a}[/raw].
// Matching the tail lets operators mount the handler under any prefix
// without stripping it. Ids are matched escaped, so an encoded '/' never
// splits or joins segments.
func parseCallPath(p string) (widgetID, apiName string, raw bool, ok bool) {
	seg := strings.Split(strings.TrimSuffix(p, "/"), "/")
	if n := len(seg); n >= 5 && seg[n-1] == "raw" && seg[n-5] == "widgets" && seg[n-3] == "apis" {
		return seg[n-4], seg[n-2], true, seg[n-4] != "" && seg[n-2] != ""
	}
	if n := len(seg); n >= 4 && seg[n-4] == "widgets" && seg[n-2] == "apis" {
		return seg[n-3], seg[n-1], false, seg[n-3] != "" && seg[n-1] != ""
	}
	return "", "", false, false
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
