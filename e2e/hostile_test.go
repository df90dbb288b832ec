package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/widgetgate/widgetgate/internal/testenv/standin"
)

// TestHostileInputs is the catalogue of what an attacker controlling a
// widget (or the caller of the sidecar) would try. Each case goes through
// the real binary and checks the status, the problem code, and what the
// stand-in provider received: nothing, or exactly the safe request.
func TestHostileInputs(t *testing.T) {
	e := start(t, options{extraWidgets: map[string]map[string]string{"shadow": {"schema.json": shadowSchema}}})
	const token = "at-hostile-7c1e"
	e.provider.AddToken(token)
	e.vault.PutPassport(t, "pp", "custom:my-api-connector", token)
	e.bind(t, "screen", map[string]any{"myApiAuth": "pp", "labAuth": "pp"})

	const posts = "/sidecar/widgets/my-saas/apis/getUserPosts" // page must match [0-9]{1,4}
	const echo = "/sidecar/widgets/lab/apis/echo"
	const fixed = "/sidecar/widgets/shadow/apis/fixedKeys" // /echo?maxResults=3&$top=5
	extra := func(name string) string { return fmt.Sprintf(`{"params": {%q: "500"}}`, name) }
	body := func(userID, page string) string {
		return fmt.Sprintf(`{"params": {"userId": %q, "page": %q}}`, userID, page)
	}
	many := `{"params": {`
	for i := range 65 {
		many += fmt.Sprintf(`"p%d": "v",`, i)
	}
	many = strings.TrimSuffix(many, ",") + `}}`
	scr := []string{"X-Widget-Instance", "screen"}
	with := func(h ...string) []string { return append(append([]string{}, scr...), h...) }

	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string // "" for a 200 envelope
		wantURI                  string // what the provider must have received; "" for nothing
	}{
		// Path segments: no climbing, no extra segments, in any encoding.
		{"dot dot", "POST", posts, body("..", "1"), scr, 400, "invalid_param", ""},
		{"dot", "POST", posts, body(".", "1"), scr, 400, "invalid_param", ""},
		{"climb", "POST", posts, body("../admin", "1"), scr, 400, "invalid_param", ""},
		{"slash", "POST", posts, body("a/b", "1"), scr, 400, "invalid_param", ""},
		{"backslash", "POST", posts, body(`a\b`, "1"), scr, 400, "invalid_param", ""},
		{"encoded slash", "POST", posts, body("a%2Fb", "1"), scr, 400, "invalid_param", ""},
		{"encoded dots", "POST", posts, body("%2e%2e", "1"), scr, 400, "invalid_param", ""},
		{"double-encoded dots", "POST", posts, body("%252e%252e", "1"), scr, 400, "invalid_param", ""},
		{"double-encoded slash", "POST", posts, body("%252F", "1"), scr, 400, "invalid_param", ""},
		{"fullwidth slash", "POST", posts, body("a／b", "1"), scr, 400, "invalid_param", ""},
		{"fullwidth dots", "POST", posts, body("．．", "1"), scr, 400, "invalid_param", ""},
		{"empty segment", "POST", posts, body("", "1"), scr, 400, "invalid_param", ""},
		// Look-alikes that a server normalising Unicode (NFKC) reads as dots
		// or separators.
		{"two dot leader", "POST", posts, body("\u2025", "1"), scr, 400, "invalid_param", ""},
		{"vertical two dot leader", "POST", posts, body("\ufe30", "1"), scr, 400, "invalid_param", ""},
		{"small reverse solidus", "POST", posts, body("a\ufe68b", "1"), scr, 400, "invalid_param", ""},
		{"account of (a/c)", "POST", posts, body("\u2100", "1"), scr, 400, "invalid_param", ""},
		{"fullwidth percent-encoded slash", "POST", posts, body("a\uff05\uff12\uff26b", "1"), scr, 400, "invalid_param", ""},
		{"encoded slash after a broken escape", "POST", posts, body("%zz%2F", "1"), scr, 400, "invalid_param", ""},
		{"raw GET two dot leader", "GET", posts + "/raw?userId=%E2%80%A5&page=1", "", scr, 400, "invalid_param", ""},
		{"ellipsis is an ordinary segment", "POST", posts, body("\u2026", "1"), scr, 200, "", "/v1/users/%E2%80%A6/posts?page=1"},
		{"raw GET climb", "GET", posts + "/raw?userId=..%2F&page=1", "", scr, 400, "invalid_param", ""},
		// Control characters and broken text.
		{"CRLF", "POST", posts, body("a\r\nX-Injected: 1", "1"), scr, 400, "invalid_param", ""},
		{"NUL", "POST", posts, `{"params": {"userId": "a\u0000", "page": "1"}}`, scr, 400, "invalid_param", ""},
		{"C1 control", "POST", posts, body("a\u0085", "1"), scr, 400, "invalid_param", ""},
		{"invalid UTF-8", "POST", posts, "{\"params\": {\"userId\": \"\xff\", \"page\": \"1\"}}", scr, 400, "invalid_param", ""},
		{"lone surrogate", "POST", posts, `{"params": {"userId": "\ud800", "page": "1"}}`, scr, 400, "invalid_param", ""},
		// Values are data: escaped, never expanded, never structure.
		{"placeholder in value", "POST", posts, body("{env.HOME}", "1"), scr, 200, "", "/v1/users/%7Benv.HOME%7D/posts?page=1"},
		{"token placeholder in value", "POST", echo, `{"params": {"q": "{authorization.labAuth.token}"}}`, scr, 200, "", "/echo?q=%7Bauthorization.labAuth.token%7D"},
		{"Caddy placeholder", "POST", posts, body("{http.request.header.Authorization}", "1"), scr, 200, "",
			"/v1/users/%7Bhttp.request.header.Authorization%7D/posts?page=1"},
		{"query in path value", "POST", posts, body("1?admin=true", "1"), scr, 200, "", "/v1/users/1%3Fadmin%3Dtrue/posts?page=1"},
		{"fragment in path value", "POST", posts, body("1#x", "1"), scr, 200, "", "/v1/users/1%23x/posts?page=1"},
		{"space in path value", "POST", posts, body("a b", "1"), scr, 200, "", "/v1/users/a%20b/posts?page=1"},
		{"ampersand in query value", "POST", echo, `{"params": {"q": "1&admin=true"}}`, scr, 200, "", "/echo?q=1%26admin%3Dtrue"},
		{"hash in query value", "POST", echo, `{"params": {"q": "1#x"}}`, scr, 200, "", "/echo?q=1%23x"},
		{"plus and space in query value", "POST", echo, `{"params": {"q": "1+2 3"}}`, scr, 200, "", "/echo?q=1%2B2%203"},
		{"semicolon in query value", "POST", echo, `{"params": {"q": "1;admin=true"}}`, scr, 200, "", "/echo?q=1%3Badmin%3Dtrue"},
		{"value outside the schema's pattern", "POST", posts, body("1", "1&admin=true"), scr, 400, "invalid_param", ""},
		// Fixed query keys cannot be shadowed on a lenient provider.
		{"shadow fixed key in upper case", "POST", fixed, extra("MAXRESULTS"), scr, 400, "invalid_param", ""},
		{"shadow fixed key in lower case", "POST", fixed, extra("maxresults"), scr, 400, "invalid_param", ""},
		{"shadow $top in upper case", "POST", fixed, extra("$TOP"), scr, 400, "invalid_param", ""},
		{"shadow fixed key with []", "POST", fixed, extra("maxResults[]"), scr, 400, "invalid_param", ""},
		{"shadow fixed key with encoded []", "POST", fixed, extra("maxResults%5B%5D"), scr, 400, "invalid_param", ""},
		{"shadow fixed key percent-encoded", "POST", fixed, extra("max%52esults"), scr, 400, "invalid_param", ""},
		{"shadow $top encoded", "POST", fixed, extra("%24top"), scr, 400, "invalid_param", ""},
		{"raw GET shadow", "GET", fixed + "/raw?MaxResults=500", "", scr, 400, "invalid_param", ""},
		{"near a fixed key is no shadow", "POST", fixed, extra("top"), scr, 200, "", "/echo?maxResults=3&$top=5&top=500"},
		{"hostile extra param name", "POST", posts, `{"params": {"userId": "1", "page": "1", "x&y=z": "v"}}`, scr, 200, "",
			"/v1/users/1/posts?page=1&x%26y%3Dz=v"},
		// Bounds.
		{"too many params", "POST", posts, many, scr, 400, "invalid_param", ""},
		{"long param name", "POST", posts, `{"params": {"` + strings.Repeat("n", 65) + `": "v"}}`, scr, 400, "invalid_param", ""},
		{"long value", "POST", posts, body(strings.Repeat("a", 8<<10+1), "1"), scr, 400, "invalid_param", ""},
		{"huge body", "POST", posts, `{"params": {"userId": "` + strings.Repeat("a", 70<<10) + `"}}`, scr, 413, "request_too_large", ""},
		// Only params: nothing else of the call can be set.
		{"method override", "POST", posts, `{"params": {}, "method": "DELETE"}`, scr, 400, "override_not_allowed", ""},
		{"url override", "POST", posts, `{"url": "http://169.254.169.254/latest/meta-data/"}`, scr, 400, "override_not_allowed", ""},
		{"headers override", "POST", posts, `{"headers": {"Authorization": "Bearer mine"}}`, scr, 400, "override_not_allowed", ""},
		{"body override", "POST", posts, `{"body": "x"}`, scr, 400, "override_not_allowed", ""},
		{"duplicate param", "POST", posts, `{"params": {"userId": "1", "userId": "../x", "page": "1"}}`, scr, 400, "invalid_param", ""},
		{"duplicate params", "POST", posts, `{"params": {"userId": "1", "page": "1"}, "params": {}}`, scr, 400, "invalid_json", ""},
		{"params as array", "POST", posts, `{"params": ["userId"]}`, scr, 400, "invalid_json", ""},
		{"object param", "POST", posts, `{"params": {"userId": {"$ne": 1}, "page": "1"}}`, scr, 400, "invalid_param", ""},
		{"null param", "POST", posts, `{"params": {"userId": null, "page": "1"}}`, scr, 400, "invalid_param", ""},
		// Caller headers never reach the provider nor replace the credential.
		{"caller credentials and hop-by-hop", "POST", posts, body("1", "1"),
			with("Authorization", "Bearer attacker", "Cookie", "sid=1", "Proxy-Authorization", "Basic eDp5", "X-Forwarded-For", "10.0.0.1",
				"X-Forwarded-Host", "evil.example", "Forwarded", "for=10.0.0.1", "Via", "1.1 evil", "Connection", "X-Keep", "X-Keep", "1"),
			200, "", "/v1/users/1/posts?page=1"},
		// Addressing: ids from the URL never reach the file system or Vault paths.
		{"widget id climb", "POST", "/sidecar/widgets/..%2Fmy-saas/apis/getUserPosts", body("1", "1"), scr, 404, "unknown_widget", ""},
		{"widget id dots", "POST", "/sidecar/widgets/%2e%2e/apis/getUserPosts", body("1", "1"), scr, 404, "unknown_widget", ""},
		{"api name climb", "POST", "/sidecar/widgets/my-saas/apis/getUserPosts%2F..", body("1", "1"), scr, 404, "unknown_api", ""},
		{"instance path", "POST", posts, body("1", "1"), []string{"X-Widget-Instance", "../bindings/other"}, 400, "invalid_instance", ""},
		// Egress: a name resolving to loopback is refused at connect.
		{"name resolving to loopback", "POST", "/sidecar/widgets/lab/apis/byLocalhost", `{}`, scr, 502, "egress_denied", ""},
	}
	if len(tests) < 40 {
		t.Fatalf("the catalogue has %d cases; keep at least 40", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.provider.Reset()
			r := e.call(t, tc.method, tc.path, tc.body, tc.headers...)
			if tc.code != "" {
				if r.status != tc.status || r.json["code"] != tc.code {
					t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
				}
			} else if r.status != 200 || r.json["isSuccess"] != true {
				t.Fatalf("got %d %s, want a successful envelope", r.status, r.raw)
			}
			if bytes.Contains(r.raw, []byte(token)) {
				t.Errorf("the response contains the token")
			}
			got := e.provider.Requests()
			if tc.wantURI == "" {
				if len(got) != 0 {
					t.Fatalf("provider received %d requests, want none (first: %s %s)", len(got), got[0].Method, got[0].URL)
				}
				return
			}
			if len(got) != 1 || got[0].URL != tc.wantURI || got[0].Method != "GET" {
				t.Fatalf("provider received %v, want exactly GET %s", uris(got), tc.wantURI)
			}
			h := got[0].Header
			if a := h.Values("Authorization"); len(a) != 1 || a[0] != "Bearer "+token {
				t.Errorf("provider got Authorization %q", a)
			}
			for _, name := range []string{"Cookie", "Proxy-Authorization", "X-Forwarded-For", "X-Forwarded-Host", "Forwarded", "Via", "X-Keep", "X-Widget-Instance"} {
				if v := h.Get(name); v != "" {
					t.Errorf("provider got caller header %s: %q", name, v)
				}
			}
			if !strings.HasPrefix(e.provURL, "http://"+got[0].Host) {
				t.Errorf("provider got Host %q", got[0].Host)
			}
		})
	}
}

// shadowSchema is a test-only widget whose API fixes two query keys, as
// "maxResults=3&$top=5" on a real calendar API. It shares the lab's
// authKey, so the lab's binding serves it too.
const shadowSchema = `{
  "authentications": [
    {"label": "Lab", "authenticationType": "passport", "authKey": "labAuth", "metadata": {"passportProvider": "custom:my-api-connector"}}
  ],
  "authenticatedApis": [
    {"label": "Fixed keys", "name": "fixedKeys", "url": "http://127.0.0.1:8931/echo?maxResults=3&$top=5", "method": "GET",
     "authenticationKey": "labAuth", "headers": {"Authorization": "Bearer {authorization.labAuth.token}"}}
  ]
}`

func uris(reqs []standin.Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.Method + " " + r.URL
	}
	return out
}

// TestRedirectsAreNotFollowed: a provider answering with a redirect to
// another host, port or scheme: no request reaches the target, no
// credential leaves, and the widget gets no usable cross-origin Location.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	targetTLS := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer targetTLS.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	}))
	defer redirector.Close()

	targets := map[string]string{
		"toOtherPort":   target.URL + "/steal",
		"toOtherScheme": targetTLS.URL + "/steal",
		"toOtherHost":   strings.Replace(target.URL, "127.0.0.1", "localhost", 1) + "/steal",
	}
	apis := map[string]string{}
	for name, to := range targets {
		apis[name] = redirector.URL + "/r?to=" + to
	}
	e := start(t, options{labAPIs: apis})
	const token = "at-redirect-91f0"
	e.vault.PutPassport(t, "pp", "custom:my-api-connector", token)
	e.bind(t, "screen", map[string]any{"labAuth": "pp"})
	for name := range targets {
		for _, suffix := range []string{"", "/raw"} {
			r := e.call(t, "POST", "/sidecar/widgets/lab/apis/"+name+suffix, `{}`, "X-Widget-Instance", "screen")
			if suffix == "" && (r.status != 200 || r.json["statusCode"] != 302.0 || r.json["isSuccess"] != false) {
				t.Errorf("%s: %d %s", name, r.status, r.raw)
			}
			if suffix == "/raw" && r.status != 302 {
				t.Errorf("%s raw: status %d", name, r.status)
			}
			// The body may still mention the URL (http.Redirect writes a
			// link); what is withheld is a Location a client would follow.
			headers, _ := r.json["headers"].(map[string]any)
			if r.header.Get("Location") != "" || headers["location"] != nil {
				t.Errorf("%s%s: the widget got the cross-origin Location", name, suffix)
			}
			if bytes.Contains(r.raw, []byte(token)) {
				t.Errorf("%s%s: the token leaked", name, suffix)
			}
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the redirect targets received %d requests", n)
	}
}

// TestHostileLocations: a provider answers with a Location that an RFC 3986
// parser reads as a path on the provider and a browser as another host
// ("/\evil.example"), or that is relative only against a base of the same
// scheme ("http:evil.example"). The widget, in the envelope and in raw
// mode, sees only a Location a browser would resolve to the provider's own
// origin, and then byte for byte as the provider sent it.
func TestHostileLocations(t *testing.T) {
	tests := []struct {
		name, location string
		keep           bool
	}{
		{"slashBackslash", `/\evil.example/phish`, false},
		{"twoBackslashes", `\\evil.example/phish`, false},
		{"backslashSlash", `\/evil.example/phish`, false},
		{"tabBetweenSlashes", "/\t/evil.example/phish", false},
		{"leadingSpace", " //evil.example/phish", false},
		{"schemeRelative", "//evil.example/phish", false},
		{"threeSlashes", "///evil.example/phish", false},
		{"schemeBackslashes", `http:\\evil.example/phish`, false},
		{"otherSchemeBackslashes", `https:\\evil.example/phish`, false},
		{"schemeWithoutSlashes", "http:evil.example/phish", false},
		{"userinfoThenOtherHost", "//a@evil.example/phish", false},
		{"ourHostAsUserinfo", "http://{host}@evil.example/phish", false},
		{"backslashBeforeAt", `http://{host}\@evil.example/phish`, false},
		{"otherHostUpperCase", "HTTP://EVIL.EXAMPLE/phish", false},
		{"defaultPort", "http://127.0.0.1/phish", false},
		{"otherScheme", "https://{host}/phish", false},
		{"userinfoOnOurHost", "http://user@{host}/phish", false},
		{"javascript", "javascript:alert(1)", false},
		{"absolutePath", "/next?page=2", true},
		{"relativePath", "next", true},
		{"sameOrigin", "http://{host}/v1/next", true},
		{"sameOriginUpperCaseScheme", "HTTP://{host}/v1/next", true},
	}
	var apis []string
	for _, tc := range tests {
		u := "http://127.0.0.1:8931/redirect/to?location=" + url.QueryEscape(tc.location)
		apis = append(apis, fmt.Sprintf(`{"label": %q, "name": %q, "url": %q, "method": "GET", "authenticationKey": "labAuth",
		 "headers": {"Authorization": "Bearer {authorization.labAuth.token}"}}`, tc.name, tc.name, u))
	}
	schema := `{
  "authentications": [
    {"label": "Lab", "authenticationType": "passport", "authKey": "labAuth", "metadata": {"passportProvider": "custom:my-api-connector"}}
  ],
  "authenticatedApis": [` + strings.Join(apis, ",\n") + `]}`
	e := start(t, options{extraWidgets: map[string]map[string]string{"relocate": {"schema.json": schema}}})
	const token = "at-location-4b2d"
	e.vault.PutPassport(t, "pp", "custom:my-api-connector", token)
	e.bind(t, "screen", map[string]any{"labAuth": "pp"})
	host := strings.TrimPrefix(e.provURL, "http://")

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.provider.Reset()
			want := strings.ReplaceAll(tc.location, "{host}", host)
			path := "/sidecar/widgets/relocate/apis/" + tc.name
			r := e.call(t, "POST", path, `{}`, "X-Widget-Instance", "screen")
			if r.status != 200 || r.json["statusCode"] != 302.0 || r.json["isSuccess"] != false {
				t.Fatalf("envelope: %d %s", r.status, r.raw)
			}
			headers, _ := r.json["headers"].(map[string]any)
			got, present := headers["location"]
			if tc.keep && got != strings.TrimSpace(want) {
				t.Errorf("envelope: location %q, want the provider's %q", got, want)
			}
			if !tc.keep && present {
				t.Errorf("envelope: the widget got Location %q", got)
			}
			// Raw mode, with a transport and not a Client: a Client would
			// follow the redirect, or fail to parse the Location, before the
			// test could look at it.
			req, err := http.NewRequest("GET", e.gw.URL+path+"/raw", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Widget-Instance", "screen")
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 302 {
				t.Fatalf("raw: status %d", resp.StatusCode)
			}
			loc, present := resp.Header["Location"]
			if tc.keep && (len(loc) != 1 || loc[0] != strings.TrimSpace(want)) {
				t.Errorf("raw: Location %q, want the provider's %q", loc, want)
			}
			if !tc.keep && present {
				t.Errorf("raw: the widget got Location %q", loc)
			}
			if reqs := e.provider.Requests(); len(reqs) != 2 {
				t.Errorf("provider received %v, want the two calls", uris(reqs))
			}
		})
	}
}
