package admin

import (
	"context"
	"crypto/subtle"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
)

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
func (h *Handler) checkSameOrigin(r *http.Request) *problem.Problem {
	if safeMethod(r.Method) {
		return nil
	}
	if vals := r.Header.Values("Origin"); len(vals) > 0 {
		if len(vals) != 1 || !h.isOwnOrigin(vals[0]) {
			return problem.New(http.StatusForbidden, "cross_origin_request",
				"the admin API takes changes only from its own origin (public_url); this request came from a page on another origin")
		}
	}
	if vals := r.Header.Values("Sec-Fetch-Site"); len(vals) > 0 {
		if len(vals) != 1 || (vals[0] != "same-origin" && vals[0] != "none") {
			return problem.New(http.StatusForbidden, "cross_origin_request",
				"the admin API takes changes only from its own origin (public_url); the browser reports a cross-site request")
		}
	}
	return nil
}

// isOwnOrigin reports whether the Origin header value o is public_url's
// origin. Browsers send a bare scheme://host[:port]; anything else (a
// path, user info, "null") is not a match.
func (h *Handler) isOwnOrigin(o string) bool {
	u, err := url.Parse(o)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return false
	}
	return OriginOf(u) == h.Origin
}

// OriginOf is u's origin as browsers serialise it: lower-case scheme and
// host, the port only when it is not the scheme's default.
func OriginOf(u *url.URL) string {
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

// checkMediaType refuses a request body not labelled with mediaType
// (empty: application/json), with 415. The label is what stops cross-site
// forms: a form, or a fetch a page may send to another origin without a
// CORS preflight, can only carry text/plain,
// application/x-www-form-urlencoded or multipart/form-data (all parsed
// happily by a lenient JSON decoder before). A request with no
// Content-Type passes only when it has no body and the route needs none
// (disconnect, delete, an OAuth connect), so curl -X POST still works.
func checkMediaType(r *http.Request, mediaType string, bodyNeeded bool) *problem.Problem {
	if mediaType == "" {
		mediaType = "application/json"
	}
	refuse := problem.New(http.StatusUnsupportedMediaType, "unsupported_media_type",
		"send the body with Content-Type: "+mediaType)
	vals := r.Header.Values("Content-Type")
	switch len(vals) {
	case 0:
		if bodyNeeded || r.ContentLength != 0 { // -1: a body of unknown length
			return refuse
		}
		return nil
	case 1:
		if mt, _, err := mime.ParseMediaType(vals[0]); err == nil && mt == mediaType {
			return nil
		}
	}
	return refuse
}

// authorize checks the admin credential of an API request.
func (h *Handler) authorize(r *http.Request) *problem.Problem {
	if h.TrustAuthDirective {
		return nil
	}
	want := h.Token
	if h.TokenVault {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		t, err := h.Store.AdminToken(ctx)
		cancel()
		if err != nil || len(t) < 16 {
			p := problem.New(http.StatusServiceUnavailable, "vault_unavailable", "the admin credential cannot be read from Vault")
			p.RetryAfter = 5
			return p
		}
		want = []byte(t)
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
		return problem.New(http.StatusUnauthorized, "admin_auth_required", "a valid admin bearer token is required")
	}
	return nil
}
