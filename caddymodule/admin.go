package caddymodule

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

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

//go:embed assets/admin.html assets/admin.js assets/admin.css
var adminAssets embed.FS

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

	app    *App
	token  []byte
	origin string // PublicURL's origin, as browsers write it in Origin
	flow   *connect.Flow
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (AdminHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.widgetgate_admin", New: func() caddy.Module { return new(AdminHandler) }}
}

// Provision checks the handler is protected and builds the connect flow.
func (a *AdminHandler) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if a.TokenFile == "" && !a.TokenVault && !a.TrustAuthDirective {
		return errors.New("widgetgate_admin refuses to run unprotected: set token_file or token_vault, or declare trust_auth_directive with basic_auth/forward_auth in front of it")
	}
	u, err := url.Parse(a.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("widgetgate_admin: public_url %q must be an absolute URL", a.PublicURL)
	}
	a.origin = originOf(u)
	if a.TokenFile != "" {
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return fmt.Errorf("widgetgate_admin token_file: %w", err)
		}
		if a.token = []byte(strings.TrimSpace(string(b))); len(a.token) < 16 {
			return fmt.Errorf("widgetgate_admin token_file %s: the token must be at least 16 bytes", a.TokenFile)
		}
	}
	appIface, err := ctx.App("widgetgate")
	if err != nil {
		return err
	}
	a.app = appIface.(*App)
	if a.app.refresher == nil {
		return errors.New("widgetgate_admin needs token refresh enabled (connecting uses the provider registry and client credentials)")
	}
	a.flow = &connect.Flow{
		Store: a.app.store, Lookup: a.app.provider, Credentials: a.app.refresher.Credentials,
		RedirectURL:     strings.TrimSuffix(a.PublicURL, "/") + "/callback",
		HTTPClient:      a.app.refresher.HTTPClient(),
		DefaultLifetime: time.Hour,
	}
	return nil
}

// ServeHTTP routes by the path's tail, so the handler works under any
// route with or without the prefix stripped.
func (a *AdminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	p := r.URL.Path
	// The API is routed on the escaped path, so that an encoded "/" in an
	// id stays in its segment (see apiSegments).
	ep := r.URL.EscapedPath()
	switch {
	case strings.Contains(ep, "/api/"):
		// Before the credential: a browser attaches basic_auth credentials
		// or cookies to a cross-site request by itself, so a request a page
		// on another origin made must not get as far as being authorized.
		if prob := a.checkSameOrigin(r); prob != nil {
			writeProblem(w, prob)
			return nil
		}
		if prob := a.authorize(r); prob != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="widgetgate-admin"`)
			writeProblem(w, prob)
			return nil
		}
		a.serveAPI(w, r, ep[strings.LastIndex(ep, "/api/")+len("/api/"):])
	case strings.HasSuffix(p, "/callback"):
		a.serveCallback(w, r)
	case strings.HasSuffix(p, "/admin.js"):
		a.serveAsset(w, "assets/admin.js", "text/javascript; charset=utf-8")
	case strings.HasSuffix(p, "/admin.css"):
		a.serveAsset(w, "assets/admin.css", "text/css; charset=utf-8")
	default:
		a.serveAsset(w, "assets/admin.html", "text/html; charset=utf-8")
	}
	return nil
}

func (a *AdminHandler) serveAsset(w http.ResponseWriter, name, contentType string) {
	b, _ := adminAssets.ReadFile(name)
	if name == "assets/admin.html" && !a.TrustAuthDirective {
		// Tell the page a token is needed, so it asks before its first call.
		b = bytes.Replace(b, []byte(`data-auth=""`), []byte(`data-auth="token"`), 1)
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	w.Write(b)
}

// safeMethod reports whether method only reads (RFC 9110): the admin API
// changes nothing on GET and HEAD, and has no OPTIONS route.
func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// checkSameOrigin refuses a state-changing request that a browser made for
// a page on another origin (CSRF). Browsers say where a request comes from
// in Origin (on every POST, PUT and DELETE) and in Sec-Fetch-Site, and a
// page cannot forge either: a request naming another origin than
// public_url's, or "null" (a sandboxed page, such as a widget's), or
// fetch metadata other than same-origin or none (typed by the user), is
// refused. A request with neither header comes from a program (curl,
// automation with a bearer token), which no page can drive, and passes.
func (a *AdminHandler) checkSameOrigin(r *http.Request) *problem {
	if safeMethod(r.Method) {
		return nil
	}
	if vals := r.Header.Values("Origin"); len(vals) > 0 {
		if len(vals) != 1 || !a.isOwnOrigin(vals[0]) {
			return newProblem(http.StatusForbidden, "cross_origin_request",
				"the admin API takes changes only from its own origin (public_url); this request came from a page on another origin")
		}
	}
	if vals := r.Header.Values("Sec-Fetch-Site"); len(vals) > 0 {
		if len(vals) != 1 || (vals[0] != "same-origin" && vals[0] != "none") {
			return newProblem(http.StatusForbidden, "cross_origin_request",
				"the admin API takes changes only from its own origin (public_url); the browser reports a cross-site request")
		}
	}
	return nil
}

// isOwnOrigin reports whether the Origin header value o is public_url's
// origin. Browsers send a bare scheme://host[:port]; anything else (a
// path, user info, "null") is not a match.
func (a *AdminHandler) isOwnOrigin(o string) bool {
	u, err := url.Parse(o)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return false
	}
	return originOf(u) == a.origin
}

// originOf is u's origin as browsers serialise it: lower-case scheme and
// host, the port only when it is not the scheme's default.
func originOf(u *url.URL) string {
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	if port != "" {
		return scheme + "://" + net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	return scheme + "://" + host
}

// checkMediaType refuses a request body that is not labelled JSON, with
// 415. The label is what stops cross-site forms: a form, or a fetch a page
// may send to another origin without a CORS preflight, can only carry
// text/plain, application/x-www-form-urlencoded or multipart/form-data
// (all parsed happily by a lenient JSON decoder before). A request with
// no Content-Type passes only when it has no body and the route needs none
// (disconnect, delete, an OAuth connect), so curl -X POST still works.
func checkMediaType(r *http.Request, bodyNeeded bool) *problem {
	refuse := newProblem(http.StatusUnsupportedMediaType, "unsupported_media_type",
		"send the body as JSON, with Content-Type: application/json")
	vals := r.Header.Values("Content-Type")
	switch len(vals) {
	case 0:
		if bodyNeeded || r.ContentLength != 0 { // -1: a body of unknown length
			return refuse
		}
		return nil
	case 1:
		if mt, _, err := mime.ParseMediaType(vals[0]); err == nil && mt == "application/json" {
			return nil
		}
	}
	return refuse
}

// authorize checks the admin credential of an API request.
func (a *AdminHandler) authorize(r *http.Request) *problem {
	if a.TrustAuthDirective {
		return nil
	}
	want := a.token
	if a.TokenVault {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		t, err := a.app.store.AdminToken(ctx)
		cancel()
		if err != nil || len(t) < 16 {
			p := newProblem(http.StatusServiceUnavailable, "vault_unavailable", "the admin credential cannot be read from Vault")
			p.RetryAfter = 5
			return p
		}
		want = []byte(t)
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
		return newProblem(http.StatusUnauthorized, "admin_auth_required", "a valid admin bearer token is required")
	}
	return nil
}

// UnmarshalCaddyfile sets up the admin handler:
//
//	widgetgate_admin {
//		token_file <path>
//		token_vault
//		trust_auth_directive
//		public_url <url>
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
