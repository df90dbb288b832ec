package e2e

import (
	"bytes"
	"strings"
	"testing"

	"github.com/widgetgate/widgetgate/internal/testenv"
)

// TestCanaryNeverLeaks: the token is a unique canary, and the stand-in's
// /echo routes send every request header back in their response headers,
// JSON body and HTML error page. With widgetgate logging at debug level,
// the canary must appear zero times in everything the widget receives
// (envelopes, raw streams, problems, headers), in the metrics and in the
// whole log. Echoed bodies are where a credential would most easily leak:
// widgetgate masks the token there too.
func TestCanaryNeverLeaks(t *testing.T) {
	e := start(t, options{debug: true})
	canary := "CANARY-" + testenv.RandomHex(t, 12)
	e.provider.AddToken(canary)
	e.vault.PutPassport(t, "pp", "custom:my-api-connector", canary)
	e.bind(t, "screen", map[string]any{"myApiAuth": "pp", "labAuth": "pp"})
	inst := []string{"X-Widget-Instance", "screen", "X-Widget-User-Id", "u1"}

	calls := []struct{ method, path, body string }{
		{"POST", "/sidecar/widgets/lab/apis/echo", `{}`},
		{"POST", "/sidecar/widgets/lab/apis/echo/raw", `{}`},
		{"GET", "/sidecar/widgets/lab/apis/echo/raw?x=1", ``},
		{"POST", "/sidecar/widgets/lab/apis/echoError", `{}`},
		{"POST", "/sidecar/widgets/lab/apis/echoError/raw", `{}`},
		{"POST", "/sidecar/widgets/lab/apis/echoMalformed", `{}`}, // a parse error quoting the header block
		{"POST", "/sidecar/widgets/lab/apis/cookie", `{}`},
		{"POST", "/sidecar/widgets/my-saas/apis/getData", `{}`},
		{"POST", "/sidecar/widgets/my-saas/apis/searchData", `{}`},
		{"POST", "/sidecar/widgets/lab/apis/always401", `{}`}, // forces a refresh attempt (no refresh token known: fails)
		{"POST", "/sidecar/widgets/lab/apis/byLocalhost", `{}`},
		{"POST", "/sidecar/widgets/lab/apis/unreachable", `{}`},
		{"POST", "/sidecar/widgets/lab/apis/nope", `{}`},
		{"POST", "/sidecar/widgets/my-saas/apis/getUserPosts", `{"params": {"userId": "..", "page": "1"}}`},
		{"GET", "/metrics", ``},
	}
	masked := 0
	for _, c := range calls {
		r := e.call(t, c.method, c.path, c.body, inst...)
		var all bytes.Buffer
		all.Write(r.raw)
		for name, values := range r.header {
			all.WriteString(name + ": " + strings.Join(values, ", ") + "\n")
		}
		if n := bytes.Count(all.Bytes(), []byte(canary)); n != 0 {
			t.Errorf("%s %s: the canary appears %d times in the response", c.method, c.path, n)
		}
		masked += bytes.Count(r.raw, []byte(strings.Repeat("*", len(canary))))
		masked += bytes.Count(r.raw, []byte("[REDACTED]"))
	}
	if masked < 4 {
		t.Errorf("the echo routes' bodies were masked %d times, want at least 4: did the echo happen?", masked)
	}
	// The provider did get the canary: it is the credential.
	if got := e.provider.Requests(); len(got) == 0 || !strings.Contains(got[0].Header.Get("Authorization"), canary) {
		t.Fatal("the stand-in never saw the canary; the test proves nothing")
	}
	log := e.gw.Log()
	if !strings.Contains(log, `"level":"debug"`) {
		t.Error("the log has no debug lines: debug logging is not on")
	}
	if n := strings.Count(log, canary); n != 0 {
		t.Errorf("the canary appears %d times in widgetgate's debug log", n)
	}
}
