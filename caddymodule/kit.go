package caddymodule

import (
	"bytes"
	_ "embed"
	"net/http"
	"slices"
	"strings"
)

// widgetgateJS is the browser kit: in a widget's iframe it provides
// window.appspace.widgetApi; in the host page it mounts widgets and
// bridges their calls. Embedded so hosts need no npm install.
//
//go:embed assets/widgetgate.js
var widgetgateJS []byte

// kitScriptTag is injected into every widget.html served, so a widget
// written against the widget developer guide runs unchanged.
const kitScriptTag = `<script src="../../widgetgate.js" data-widgetgate-role="widget"></script>`

// serveStatic answers the kit's static routes, …/widgetgate.js and
// …/widgets/{id}/widget.html, and reports whether it did.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) (bool, *problem) {
	p := r.URL.EscapedPath()
	switch {
	case strings.HasSuffix(p, "/widgetgate.js"):
	case strings.HasSuffix(p, "/widget.html"):
	default:
		return false, nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return true, newProblem(http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
	}
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-cache")
	if strings.HasSuffix(p, "/widgetgate.js") {
		hdr.Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(widgetgateJS)
		return true, nil
	}
	seg := strings.Split(p, "/")
	if len(seg) < 4 || seg[len(seg)-3] != "widgets" {
		return true, newProblem(http.StatusNotFound, "not_found", "widget pages are at …/widgets/{widgetId}/widget.html")
	}
	id := seg[len(seg)-2]
	wd, ok := h.app.catalog.Widget(id)
	if !ok || wd.HTML == nil {
		return true, newProblem(http.StatusNotFound, "unknown_widget", "no widget page for "+id)
	}
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	// The page is the widget package's HTML, so it is hostile, and it is
	// served from the sidecar's origin. The host's iframe sandboxes it, but
	// nothing stops anyone from opening it top-level (a link is enough),
	// where it would run as the sidecar's origin: it could read anything
	// else served there (an admin handler on the same site, with the
	// operator's cached credentials) and use its storage. "sandbox
	// allow-scripts" gives the page an opaque origin however it is opened,
	// as the host's <iframe sandbox="allow-scripts"> does; the kit needs
	// nothing more (it talks to the host with postMessage, and loads as a
	// plain script). frame-ancestors: only the configured hosts may frame it.
	ancestors := "'none'"
	if len(h.AllowedOrigins) > 0 {
		ancestors = strings.Join(h.AllowedOrigins, " ")
	}
	hdr.Set("Content-Security-Policy", "sandbox allow-scripts; frame-ancestors "+ancestors)
	w.Write(injectKit(wd.HTML))
	return true, nil
}

// injectKit puts the kit's script tag first in <head> (or first in the
// document), so it runs before the widget's own scripts.
func injectKit(page []byte) []byte {
	lower := bytes.ToLower(page)
	at := 0
	if i := bytes.Index(lower, []byte("<head")); i >= 0 {
		if j := bytes.IndexByte(page[i:], '>'); j >= 0 {
			at = i + j + 1
		}
	} else if i := bytes.Index(lower, []byte("<html")); i >= 0 {
		if j := bytes.IndexByte(page[i:], '>'); j >= 0 {
			at = i + j + 1
		}
	}
	out := make([]byte, 0, len(page)+len(kitScriptTag))
	out = append(out, page[:at]...)
	out = append(out, kitScriptTag...)
	return append(out, page[at:]...)
}

// cors applies the CORS policy for widget hosts on other origins, and
// answers preflights. It reports whether the request is fully answered.
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || !slices.Contains(h.AllowedOrigins, origin) {
		return false
	}
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", origin)
	hdr.Add("Vary", "Origin")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		hdr.Set("Access-Control-Allow-Methods", "GET, POST")
		hdr.Set("Access-Control-Allow-Headers", "Content-Type, "+h.ContextHeader+", "+h.InstanceHeader+", "+h.UserHeader)
		hdr.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}
