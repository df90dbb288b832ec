package browserkit

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
)

// memPages is Pages from memory.
type memPages map[string]*schema.Widget

func (m memPages) Widget(id string) (*schema.Widget, bool) { w, ok := m[id]; return w, ok }

func newServer(origins ...string) *Server {
	return &Server{
		Script: []byte("/* kit */"),
		Pages: memPages{
			"cal":    {ID: "cal", HTML: []byte("<html><head><title>x</title></head><body></body></html>")},
			"nopage": {ID: "nopage"},
		},
		AllowedOrigins: origins,
		AllowHeaders:   "Content-Type, X-Widget-Context, X-Widget-Instance, X-Widget-User-Id",
	}
}

func TestInjectKit(t *testing.T) {
	tests := []struct{ name, page, want string }{
		{"after head", "<html><head><title>x</title></head></html>", "<html><head>" + kitScriptTag + "<title>x</title></head></html>"},
		{"head with attributes, any case", `<HTML><HEAD lang="en"><script>w()</script>`, `<HTML><HEAD lang="en">` + kitScriptTag + `<script>w()</script>`},
		{"no head: after html", "<html><body>x</body></html>", "<html>" + kitScriptTag + "<body>x</body></html>"},
		{"neither: first", "<p>x</p>", kitScriptTag + "<p>x</p>"},
		{"unclosed head tag: first", "<head", kitScriptTag + "<head"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(InjectKit([]byte(tc.page))); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestServeStatic(t *testing.T) {
	tests := []struct {
		name, method, path string
		origins            []string
		served             bool
		code               string // the problem, if any
		header             map[string]string
	}{
		{name: "a call is not static", method: "POST", path: "/sidecar/widgets/cal/apis/x"},
		{name: "kit", method: "GET", path: "/sidecar/widgetgate.js", served: true,
			header: map[string]string{"Content-Type": "text/javascript; charset=utf-8", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}},
		{name: "kit HEAD", method: "HEAD", path: "/sidecar/widgetgate.js", served: true},
		{name: "page, no hosts", method: "GET", path: "/sidecar/widgets/cal/widget.html", served: true,
			header: map[string]string{"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": "sandbox allow-scripts; frame-ancestors 'none'"}},
		{name: "page, hosts may frame it", method: "GET", path: "/sidecar/widgets/cal/widget.html", served: true,
			origins: []string{"https://a.example", "https://b.example"},
			header:  map[string]string{"Content-Security-Policy": "sandbox allow-scripts; frame-ancestors https://a.example https://b.example"}},
		{name: "POST", method: "POST", path: "/sidecar/widgetgate.js", served: true, code: "method_not_allowed", header: map[string]string{"Allow": "GET, HEAD"}},
		{name: "unknown widget", method: "GET", path: "/sidecar/widgets/nope/widget.html", served: true, code: "unknown_widget"},
		{name: "widget without page", method: "GET", path: "/sidecar/widgets/nopage/widget.html", served: true, code: "unknown_widget"},
		{name: "not under widgets", method: "GET", path: "/sidecar/x/cal/widget.html", served: true, code: "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			served, p := newServer(tc.origins...).ServeStatic(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if served != tc.served {
				t.Fatalf("served %v, want %v", served, tc.served)
			}
			switch {
			case tc.code == "" && p != nil:
				t.Fatalf("unexpected problem %+v", p)
			case tc.code != "" && (p == nil || p.Code != tc.code):
				t.Fatalf("got %+v, want %s", p, tc.code)
			}
			for k, v := range tc.header {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestCORS(t *testing.T) {
	tests := []struct {
		name, method, origin, requestMethod string
		answered                            bool
		allowOrigin                         string
	}{
		{name: "no origin", method: "POST"},
		{name: "other origin", method: "OPTIONS", origin: "https://evil.example", requestMethod: "POST"},
		{name: "allowed call", method: "POST", origin: "https://host.example", allowOrigin: "https://host.example"},
		{name: "allowed preflight", method: "OPTIONS", origin: "https://host.example", requestMethod: "POST", answered: true, allowOrigin: "https://host.example"},
		{name: "OPTIONS without request method", method: "OPTIONS", origin: "https://host.example", allowOrigin: "https://host.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/sidecar/widgets/cal/apis/x", nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.requestMethod != "" {
				r.Header.Set("Access-Control-Request-Method", tc.requestMethod)
			}
			rec := httptest.NewRecorder()
			s := newServer("https://host.example")
			if got := s.CORS(rec, r); got != tc.answered {
				t.Fatalf("answered %v, want %v", got, tc.answered)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != tc.allowOrigin {
				t.Errorf("Allow-Origin %q, want %q", got, tc.allowOrigin)
			}
			// An allowed call's page may read where the answer came from.
			if expose := rec.Header().Get("Access-Control-Expose-Headers"); (tc.allowOrigin != "" && !tc.answered) != (expose == "Widgetgate-Cache, Age, Retry-After") {
				t.Errorf("Expose-Headers %q", expose)
			}
			if tc.answered {
				if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Headers") != s.AllowHeaders ||
					rec.Header().Get("Access-Control-Allow-Methods") != "GET, POST" || rec.Header().Get("Access-Control-Max-Age") != "600" {
					t.Errorf("preflight: %d %v", rec.Code, rec.Header())
				}
			}
		})
	}
}
