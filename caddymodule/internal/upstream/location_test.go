package upstream

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSameOrigin: a Location is kept only when a browser, resolving it the
// way the WHATWG URL Standard says, lands on the origin of the request to
// the provider, whatever base the widget resolves it against. The hostile
// values are the ones on which RFC 3986 parsers (Go's net/url, the old
// check) and browsers disagree.
func TestSameOrigin(t *testing.T) {
	const api = "https://api.example.com/v1/events?x=1"
	const plain = "http://127.0.0.1:8931/v1/events"
	tests := []struct {
		name, request, location string
		want                    bool
	}{
		// Legitimate same-origin redirects.
		{"absolute path", api, "/next?page=2", true},
		{"relative path", api, "next", true},
		{"dot relative path", api, "../v2/events", true},
		{"query only", api, "?page=2", true},
		{"fragment only", api, "#top", true},
		{"absolute same origin", api, "https://api.example.com/v1/next", true},
		{"scheme and host in upper case", api, "HTTPS://API.Example.COM/v1/next", true},
		{"explicit default port", api, "https://api.example.com:443/next", true},
		{"request with default port, location without", "https://api.example.com:443/v1", "https://api.example.com/next", true},
		{"explicit port", plain, "http://127.0.0.1:8931/next", true},
		{"explicit port, relative", plain, "/next", true},
		{"space inside the path", api, "/a b", true},
		{"IPv6 written two ways", "http://[::1]:8931/x", "http://[0:0::1]:8931/y", true},

		// Another host, however it is spelled.
		{"other host", api, "https://evil.example/x", false},
		{"scheme-relative", api, "//evil.example/x", false},
		{"three slashes", api, "///evil.example/x", false},
		{"slash backslash", api, `/\evil.example/x`, false},
		{"two backslashes", api, `\\evil.example/x`, false},
		{"backslash slash", api, `\/evil.example/x`, false},
		{"tab between slashes", api, "/\t/evil.example", false},
		{"newline between slashes", api, "/\n/evil.example", false},
		{"leading space", api, " //evil.example", false},
		{"leading tab", api, "\t//evil.example", false},
		{"leading C0 control", api, "\x01//evil.example", false},
		{"trailing control", api, "//evil.example\x1f", false},
		{"scheme and backslashes", api, `https:\\evil.example/x`, false},
		{"scheme, slash, backslash", api, `https:/\evil.example/x`, false},
		{"scheme and one slash", "http://api.example.com/v1", "http:/evil.example/x", false},
		{"upper-case scheme, backslashes", api, `HTTPS:\\evil.example`, false},
		{"userinfo then other host", api, "//a@evil.example/x", false},
		{"our host as userinfo", api, "https://api.example.com@evil.example/x", false},
		{"our host as userinfo, scheme-relative", api, "//api.example.com@evil.example/x", false},
		{"encoded slash in userinfo", api, "https://api.example.com%2F@evil.example/x", false},
		// A browser reads the backslash as the end of the host (api), an
		// RFC 3986 parser as the end of the userinfo (evil): ambiguous.
		{"backslash before @", api, `https://api.example.com\@evil.example/x`, false},
		{"encoded @ in host", api, "https://api.example.com%40evil.example/x", false},
		{"trailing dot is another host", api, "https://api.example.com./x", false},
		{"suffix host", api, "https://api.example.com.evil.example/x", false},

		// Same host, another scheme or port.
		{"other scheme", api, "http://api.example.com/x", false},
		{"other port", api, "https://api.example.com:8443/x", false},
		{"default port against an explicit one", plain, "http://127.0.0.1/x", false},
		{"other scheme, same port", plain, "https://127.0.0.1:8931/x", false},
		{"javascript", api, "javascript:alert(1)", false},
		{"data", api, "data:text/html,<script>alert(1)</script>", false},

		// "scheme:path" is relative only when the base has that scheme: a
		// widget resolving it against its own page (the sidecar, maybe on
		// the other scheme) gets scheme://path/. Not provably same-origin.
		{"same scheme without slashes", plain, "http:evil.example", false},
		{"other scheme without slashes", api, "http:evil.example", false},
		{"https without slashes", api, "https:evil.example", false},

		// Userinfo on our own host: no API needs it, and not every client
		// splits userinfo from host as a browser does.
		{"userinfo on our host", api, "https://user@api.example.com/x", false},
		// An empty userinfo is dropped by every parser: nothing ambiguous.
		{"empty userinfo on our host", api, "https://@api.example.com/x", true},

		{"unparsable", api, "https://[::1/x", false},
		{"bad port", api, "https://api.example.com:99999/x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.request)
			if err != nil {
				t.Fatal(err)
			}
			req := &http.Request{Method: "GET", URL: u}
			if got := sameOrigin(req, []string{tc.location}); got != tc.want {
				t.Errorf("sameOrigin(%q, %q) = %v, want %v", tc.request, tc.location, got, tc.want)
			}
		})
	}
}

// TestSameOriginEveryValue: a repeated Location is kept only if every
// value is same-origin; a client may follow any of them.
func TestSameOriginEveryValue(t *testing.T) {
	u, _ := url.Parse("https://api.example.com/v1")
	req := &http.Request{Method: "GET", URL: u}
	tests := []struct {
		name   string
		values []string
		want   bool
	}{
		{"all same origin", []string{"/a", "https://api.example.com/b"}, true},
		{"one hostile", []string{"/a", `/\evil.example/`}, false},
		{"hostile first", []string{`\\evil.example`, "/a"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameOrigin(req, tc.values); got != tc.want {
				t.Errorf("sameOrigin(%q) = %v, want %v", tc.values, got, tc.want)
			}
		})
	}
	if sameOrigin(nil, []string{"/a"}) || sameOrigin(&http.Request{}, []string{"/a"}) {
		t.Error("a Location with no request to resolve it against was kept")
	}
}

// FuzzSameOrigin: a Location that sameOrigin keeps is on the provider's
// origin for an RFC 3986 client as well (Go's net/url), or that client
// cannot parse it at all. A value the two kinds of parser read differently
// must be dropped. Run longer with:
//
//	go test -run '^$' -fuzz FuzzSameOrigin -fuzztime 5m ./caddymodule/internal/upstream/
func FuzzSameOrigin(f *testing.F) {
	for _, seed := range []string{
		"/next?page=2", "next", "https://api.example.com:443/x", `/\evil.example`, `\\evil.example`,
		"/\t/evil.example", "//a@evil.example", "https:evil.example", `https://api.example.com\@evil.example`,
		"https://%61pi.example.com/", "https://API.example.com./", "///evil.example", "https://[::1]/",
	} {
		f.Add(seed)
	}
	base, _ := url.Parse("https://api.example.com/v1/events")
	req := &http.Request{Method: "GET", URL: base}
	f.Fuzz(func(t *testing.T, v string) {
		if !sameOrigin(req, []string{v}) {
			return
		}
		loc, err := base.Parse(v)
		if err != nil {
			return
		}
		host := strings.TrimSuffix(strings.ToLower(loc.Host), ":443")
		if !strings.EqualFold(loc.Scheme, "https") || host != "api.example.com" || loc.User != nil && loc.User.String() != "" {
			t.Fatalf("kept %q, which net/url resolves to %s://%s (user %v)", v, loc.Scheme, loc.Host, loc.User)
		}
	})
}
