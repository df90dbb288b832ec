package host

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/widgetgate/widgetgate/callerctx"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func testHost() http.Handler {
	return Handler(Config{
		SidecarURL: "http://127.0.0.1:8080/sidecar/",
		Key:        testKey,
		Audience:   "widgetgate",
		Widgets: []Mount{
			{Widget: "calendar", Instance: "lobby", User: "u1", Title: "Today", Viewer: Viewer{DisplayName: "Ada Lovelace", Language: "en-GB"}},
			{Widget: "my-saas", Instance: "lobby"},
		},
	})
}

func get(t *testing.T, h http.Handler, path string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPage(t *testing.T) {
	rec := get(t, testHost(), "/")
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`<script src="http://127.0.0.1:8080/sidecar/widgetgate.js"></script>`,
		`data-widget="calendar" data-instance="lobby" data-title="Today"`,
		`data-widget="my-saas" data-instance="lobby" data-title="my-saas"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"frame-src http://127.0.0.1:8080;", "connect-src 'self' http://127.0.0.1:8080;", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, p := range []string{"/host.js", "/host.css"} {
		if rec := get(t, testHost(), p); rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
	if rec := get(t, testHost(), "/nope"); rec.Code != 404 {
		t.Errorf("/nope: %d", rec.Code)
	}
}

func TestContext(t *testing.T) {
	h := testHost()
	v := callerctx.NewVerifier(nil)
	v.SetKeys(callerctx.Keys{HMAC: [][]byte{testKey}})

	rec := get(t, h, "/context?widget=calendar&instance=lobby", "Sec-Fetch-Site", "same-origin")
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("status %d headers %v: %s", rec.Code, rec.Header(), rec.Body)
	}
	var out struct{ Token, ExpiresAt string }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(out.Token, "widgetgate")
	if err != nil {
		t.Fatal(err)
	}
	if c != (callerctx.Context{Instance: "lobby", Widget: "calendar", User: "u1", DisplayName: "Ada Lovelace", Language: "en-GB"}) {
		t.Errorf("claims %+v", c)
	}

	for _, tc := range []struct {
		name, path, site string
		want             int
	}{
		{"widget not on the page", "/context?widget=lab", "", 404},
		{"instance not on the page", "/context?widget=calendar&instance=other", "", 404},
		{"no widget", "/context", "", 404},
		{"asked from another site (a widget frame)", "/context?widget=calendar", "cross-site", 403},
		{"asked from another origin", "/context?widget=calendar", "same-site", 403},
	} {
		if rec := get(t, h, tc.path, "Sec-Fetch-Site", tc.site); rec.Code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, rec.Code, tc.want)
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{SidecarURL: "/sidecar", Key: testKey, Audience: "widgetgate"},
		{SidecarURL: "http://x/sidecar", Key: []byte("short"), Audience: "widgetgate"},
		{SidecarURL: "http://x/sidecar", Key: testKey},
	} {
		if rec := get(t, Handler(cfg), "/"); rec.Code != 500 {
			t.Errorf("%+v: status %d", cfg, rec.Code)
		}
	}
}
