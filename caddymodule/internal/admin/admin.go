// Package admin is passport administration over HTTP: a JSON API, a small
// operator page and the OAuth callback. It knows nothing of Caddy: the
// widgetgate_admin handler builds a Handler from the app's parts and
// passes requests to it.
package admin

import (
	"bytes"
	"context"
	"embed"
	"log/slog"
	"net/http"
	"strings"

	"github.com/widgetgate/widgetgate/caddymodule/internal/connect"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/provider"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

//go:embed assets/admin.html assets/admin.js assets/admin.css
var assets embed.FS

// Store is what administration reads and writes in Vault.
type Store interface {
	ListPassports(ctx context.Context) ([]string, error)
	PassportRecord(ctx context.Context, id string) (*vaultstore.Record, error)
	CreatePassport(ctx context.Context, id string, data map[string]any) (*vaultstore.Record, error)
	UpdatePassport(ctx context.Context, rec *vaultstore.Record, changes map[string]string) (*vaultstore.Record, error)
	DeletePassport(ctx context.Context, id string) error
	ListInstances(ctx context.Context) ([]string, error)
	Bindings(ctx context.Context, instance string) (passport.Bindings, error)
	PutBindings(ctx context.Context, instance string, b passport.Bindings) error
	ConfigStore
	AdminToken(ctx context.Context) (string, error)
}

// Cache is the request path's passport cache, told of every change made
// here so calls see it at once.
type Cache interface {
	Store(p *passport.Passport)
	Forget(id string)
	ForgetBindings(instance string)
}

// Handler serves the operator page, the API under …/api/ and the OAuth
// callback under …/callback. It routes by the path's tail, so it works
// under any route with or without the prefix stripped.
type Handler struct {
	Store Store
	Cache Cache
	// Configs is the request path's configuration cache, told of every
	// configuration changed here; nil when there is none.
	Configs ConfigCache
	Flow    *connect.Flow
	Widgets Widgets
	// Providers returns the provider registry of the serving config.
	Providers func() map[string]*provider.Provider
	// Credentials reads a provider's client credentials (to say whether
	// they are configured).
	Credentials func(ctx context.Context, p *provider.Provider) (vaultstore.Credentials, error)

	// Token is the bearer token API requests must carry; with TokenVault
	// it is read from Vault at each request instead. TrustAuthDirective
	// leaves authentication to a directive in front (basic_auth,
	// forward_auth).
	Token              []byte
	TokenVault         bool
	TrustAuthDirective bool
	// Origin is public_url's origin: state-changing requests a browser
	// makes must come from it.
	Origin string
	Logger *slog.Logger
	// Audit gets one line per admin action (audit.go); nil writes none.
	Audit *slog.Logger
	// ActorHeader names the request header that says who the
	// administrator is, set by the auth directive in front (e.g.
	// forward_auth's copy_headers); the audit line's actor. Empty, or
	// not set on a request: the actor is "admin".
	ActorHeader string
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	// The API is routed on the escaped path, so that an encoded "/" in an
	// id stays in its segment (see apiSegments).
	ep := r.URL.EscapedPath()
	switch {
	case strings.Contains(ep, "/api/"):
		// Before the credential: a browser attaches basic_auth credentials
		// or cookies to a cross-site request by itself, so a request a page
		// on another origin made must not get as far as being authorized.
		rest := ep[strings.LastIndex(ep, "/api/")+len("/api/"):]
		if prob := h.checkSameOrigin(r); prob != nil {
			h.auditRefusedAPI(r, rest, prob.Code)
			problem.Write(w, prob)
			return
		}
		if prob := h.authorize(r); prob != nil {
			h.auditRefusedAPI(r, rest, prob.Code)
			w.Header().Set("WWW-Authenticate", `Bearer realm="widgetgate-admin"`)
			problem.Write(w, prob)
			return
		}
		h.serveAPI(w, r, rest)
	case strings.HasSuffix(p, "/callback"):
		h.serveCallback(w, r)
	case strings.HasSuffix(p, "/admin.js"):
		h.serveAsset(w, "assets/admin.js", "text/javascript; charset=utf-8")
	case strings.HasSuffix(p, "/admin.css"):
		h.serveAsset(w, "assets/admin.css", "text/css; charset=utf-8")
	default:
		h.serveAsset(w, "assets/admin.html", "text/html; charset=utf-8")
	}
}

func (h *Handler) serveAsset(w http.ResponseWriter, name, contentType string) {
	b, _ := assets.ReadFile(name)
	if name == "assets/admin.html" && !h.TrustAuthDirective {
		// Tell the page a token is needed, so it asks before its first call.
		b = bytes.Replace(b, []byte(`data-auth=""`), []byte(`data-auth="token"`), 1)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	w.Write(b)
}

// provider looks name up in the serving config's registry.
func (h *Handler) provider(name string) (*provider.Provider, bool) {
	p, ok := h.Providers()[name]
	return p, ok
}

// Interface guards
var _ http.Handler = (*Handler)(nil)
