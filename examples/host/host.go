// Package host is an example widget host: a signage-style page that shows
// widgets through widgetgate's browser kit, and the small server-side part
// every host needs, minting the signed caller context of each widget it
// shows.
//
// The page loads <SidecarURL>/widgetgate.js, mounts each configured widget
// in a sandboxed iframe with WidgetGate.mount, and gives the kit a context
// function that fetches a token from this handler's /context. A widget
// never sees the token; the kit sends it to the sidecar with each call.
//
// /context mints tokens only for the widget instances in Config, and only
// for same-origin requests. A real host also puts its own sign-in in front
// of it (it is what lets a browser use those instances' passports).
package host

import (
	"embed"
	"encoding/json"
	"html/template"
	"log"
	"net/http"
	"net/url"
	"time"

	"github.com/widgetgate/widgetgate/callerctx"
)

// TokenTTL is the lifetime of the tokens /context mints.
const TokenTTL = 15 * time.Minute

// Config describes the host page.
type Config struct {
	// SidecarURL is the widgetgate route as the browser reaches it, e.g.
	// http://127.0.0.1:8080/sidecar. The host page's own origin must be in
	// that handler's allowed_origins (CORS for the calls, frame-ancestors
	// for the widget pages).
	SidecarURL string
	// Widgets are the widgets shown, in order.
	Widgets []Mount
	// Key is the HS256 secret shared with widgetgate (Vault
	// <prefix>/context-keys, field current).
	Key []byte
	// Audience is the tokens' aud claim: the handler's context_audience.
	Audience string
	// ReadyTimeout is the kit's readyTimeout for every card: how long a
	// widget that sends no lifecycle signal stays behind its skeleton
	// (0: the kit's default, 15 s).
	ReadyTimeout time.Duration
}

// Mount is one widget on the page.
type Mount struct {
	Widget   string // widgetId: the package's folder or zip name
	Instance string // widget instance: selects the passports (bindings)
	User     string // user id: fills {user.id}; may be empty
	Title    string // card title
	// Viewer is who looks at the screen, for the Widget API's
	// getUserInfo (the context's name, email and locale claims); empty
	// fields are left out.
	Viewer Viewer
}

// Viewer is the person a host page shows widgets to.
type Viewer struct {
	DisplayName string
	Email       string
	Language    string // a BCP 47 tag, e.g. "en-GB"
}

//go:embed host.html host.css host.js
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "host.html"))

type handler struct {
	cfg     Config
	sidecar string // SidecarURL without a trailing slash
	origin  string // the sidecar's origin, for the CSP
	err     error  // a configuration error, reported on every request
}

// Handler returns the host: / is the page, /context?widget=…&instance=…
// mints a caller context, /host.js and /host.css are the page's assets.
func Handler(cfg Config) http.Handler {
	h := &handler{cfg: cfg}
	u, err := url.Parse(cfg.SidecarURL)
	switch {
	case err != nil:
		h.err = err
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		h.err = errString("SidecarURL must be an absolute http(s) URL")
	case len(cfg.Key) < 32:
		h.err = errString("Key must be at least 32 bytes")
	case cfg.Audience == "":
		h.err = errString("Audience is required")
	default:
		h.origin = u.Scheme + "://" + u.Host
		h.sidecar = trimSlash(cfg.SidecarURL)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.page)
	mux.HandleFunc("GET /context", h.context)
	mux.HandleFunc("GET /host.js", h.asset("host.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /host.css", h.asset("host.css", "text/css; charset=utf-8"))
	return mux
}

type errString string

func (e errString) Error() string { return string(e) }

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

func (h *handler) fail(w http.ResponseWriter) bool {
	if h.err == nil {
		return false
	}
	log.Printf("host: bad configuration: %v", h.err)
	http.Error(w, "host: bad configuration: "+h.err.Error(), http.StatusInternalServerError)
	return true
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	if h.fail(w) {
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' "+h.origin+"; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self' "+h.origin+"; frame-src "+h.origin+"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	err := page.Execute(w, struct {
		Sidecar        string
		ReadyTimeoutMS int64
		Widgets        []Mount
	}{h.sidecar, h.cfg.ReadyTimeout.Milliseconds(), h.cfg.Widgets})
	if err != nil {
		log.Printf("host: rendering the page: %v", err)
	}
}

func (h *handler) asset(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := assets.ReadFile(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(b)
	}
}

// context mints a token for one configured widget instance. No CORS
// headers: only the host page itself may read the answer, and a request a
// browser marks as coming from elsewhere (a widget's frame included) is
// refused before anything is minted.
func (h *handler) context(w http.ResponseWriter, r *http.Request) {
	if h.fail(w) {
		return
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		http.Error(w, "context tokens are for this host page only", http.StatusForbidden)
		return
	}
	q := r.URL.Query()
	widget, instance := q.Get("widget"), q.Get("instance")
	var m *Mount
	for i := range h.cfg.Widgets {
		c := &h.cfg.Widgets[i]
		if c.Widget == widget && (instance == "" || c.Instance == instance) {
			m = c
			break
		}
	}
	if m == nil {
		http.Error(w, "no such widget on this page", http.StatusNotFound)
		return
	}
	now := time.Now()
	tok, err := callerctx.Mint(h.cfg.Key, callerctx.Context{Instance: m.Instance, Widget: m.Widget, User: m.User,
		DisplayName: m.Viewer.DisplayName, Email: m.Viewer.Email, Language: m.Viewer.Language}, h.cfg.Audience, TokenTTL, now)
	if err != nil {
		log.Printf("host: minting a context for %s/%s: %v", m.Widget, m.Instance, err)
		http.Error(w, "cannot mint a context", http.StatusInternalServerError)
		return
	}
	hdr.Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expiresAt"`
	}{tok, now.Add(TokenTTL).UTC().Format(time.RFC3339)})
}
