package browserkit

import (
	"net/http"
	"strings"

	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
)

// ServeStatic answers the kit's static routes, …/widgetgate.js and
// …/widgets/{id}/widget.html, and reports whether it did; a problem is
// the answer still to write.
func (s *Server) ServeStatic(w http.ResponseWriter, r *http.Request) (bool, *problem.Problem) {
	p := r.URL.EscapedPath()
	switch {
	case strings.HasSuffix(p, "/widgetgate.js"):
	case strings.HasSuffix(p, "/widget.html"):
	default:
		return false, nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return true, problem.New(http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
	}
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-cache")
	if strings.HasSuffix(p, "/widgetgate.js") {
		hdr.Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(s.Script)
		return true, nil
	}
	seg := strings.Split(p, "/")
	if len(seg) < 4 || seg[len(seg)-3] != "widgets" {
		return true, problem.New(http.StatusNotFound, "not_found", "widget pages are at …/widgets/{widgetId}/widget.html")
	}
	id := seg[len(seg)-2]
	wd, ok := s.Pages.Widget(id)
	if !ok || wd.HTML == nil {
		return true, problem.New(http.StatusNotFound, "unknown_widget", "no widget page for "+id)
	}
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", PageCSP(s.AllowedOrigins))
	w.Write(InjectKit(wd.HTML))
	return true, nil
}

// PageCSP is the Content-Security-Policy of a widget page. The page is the
// widget package's HTML, so it is hostile, and it is served from the
// sidecar's origin. The host's iframe sandboxes it, but nothing stops
// anyone from opening it top-level (a link is enough), where it would run
// as the sidecar's origin: it could read anything else served there (an
// admin handler on the same site, with the operator's cached credentials)
// and use its storage. "sandbox allow-scripts" gives the page an opaque
// origin however it is opened, as the host's <iframe
// sandbox="allow-scripts"> does; the kit needs nothing more (it talks to
// the host with postMessage, and loads as a plain script).
// frame-ancestors: only the configured hosts may frame it.
func PageCSP(allowedOrigins []string) string {
	ancestors := "'none'"
	if len(allowedOrigins) > 0 {
		ancestors = strings.Join(allowedOrigins, " ")
	}
	return "sandbox allow-scripts; frame-ancestors " + ancestors
}
