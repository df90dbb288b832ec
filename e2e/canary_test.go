package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv"
)

// TestCanaryNeverLeaks: the token is a unique canary (with a '/', so it
// has a JSON-escaped form too), and the stand-in's /echo routes send every
// request header back in their response headers, JSON body, HTML error
// page, a gzip-compressed body, the reason phrase and Content-Type, and
// unparseable header blocks. With widgetgate logging at debug level,
// the canary must appear zero times in everything the widget receives
// (envelopes, raw streams, problems, headers), in the metrics and in the
// whole log. Echoed bodies are where a credential would most easily leak:
// widgetgate masks the token there too.
func TestCanaryNeverLeaks(t *testing.T) {
	e := start(t, options{debug: true})
	canary := "CANARY-" + testenv.RandomHex(t, 6) + "/" + testenv.RandomHex(t, 6)
	escaped := strings.ReplaceAll(canary, "/", `\/`)
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
		{"POST", "/sidecar/widgets/lab/apis/echoEscapedMalformed", `{}`},
		{"POST", "/sidecar/widgets/lab/apis/echoGzip", `{}`},
		{"POST", "/sidecar/widgets/lab/apis/echoGzip/raw", `{}`},
		{"POST", "/sidecar/widgets/lab/apis/echoStatus", `{}`},
		{"POST", "/sidecar/widgets/lab/apis/echoStatus/raw", `{}`},
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
		if n := countLeaks(all.Bytes(), canary); n != 0 {
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
	log := e.gw.FinalLog(t)
	if !strings.Contains(log, `"level":"debug"`) {
		t.Error("the log has no debug lines: debug logging is not on")
	}
	if n := countLeaks([]byte(log), canary); n != 0 {
		t.Errorf("the canary appears %d times in widgetgate's debug log", n)
	}
	if !strings.Contains(e.provider.Requests()[0].Header.Get("Authorization"), "/") || escaped == canary {
		t.Fatal("the canary has no escaped form; the test proves less than it says")
	}
}

// countLeaks counts token in b as sent, with its '/' escaped however
// many times over (JSON's "\/", then quoted again in a JSON string or a
// Go %q: backslashes are dropped before counting), and in any gzip stream
// b holds once decoded, plain or base64-encoded in JSON.
func countLeaks(b []byte, token string) int {
	n := bytes.Count(b, []byte(token))
	if strings.Contains(token, "/") {
		n = bytes.Count(bytes.ReplaceAll(b, []byte(`\`), nil), []byte(token))
	}
	for _, gz := range gzipStreams(b) {
		n += countLeaks(gz, token)
	}
	return n
}

// gzipStreams finds gzip streams in b, raw or as base64 JSON strings (an
// envelope's binary body), and returns them decoded.
func gzipStreams(b []byte) [][]byte {
	var out [][]byte
	try := func(z []byte) {
		if r, err := gzip.NewReader(bytes.NewReader(z)); err == nil {
			if plain, err := io.ReadAll(r); len(plain) > 0 && (err == nil || errors.Is(err, io.ErrUnexpectedEOF)) {
				out = append(out, plain)
			}
		}
	}
	for i := bytes.Index(b, []byte{0x1f, 0x8b}); i >= 0; {
		try(b[i:])
		j := bytes.Index(b[i+2:], []byte{0x1f, 0x8b})
		if j < 0 {
			break
		}
		i += 2 + j
	}
	for _, s := range regexp.MustCompile(`"H4sI[A-Za-z0-9+/=]+"`).FindAll(b, -1) {
		if z, err := base64.StdEncoding.DecodeString(string(s[1 : len(s)-1])); err == nil {
			try(z)
		}
	}
	return out
}

// TestCanaryAcrossForcedRefresh: a call whose token the provider refuses is
// retried with a refreshed one; the answer (a request log) echoes both.
// Neither reaches the widget: every token a call sent is masked.
func TestCanaryAcrossForcedRefresh(t *testing.T) {
	e := start(t, options{})
	canary := "CANARY-" + testenv.RandomHex(t, 12)
	e.provider.AddRefreshToken("rt-seen")
	e.vault.Put(t, "widgetgate/passports/pp", map[string]any{"provider": "custom:my-api-connector", "status": "active",
		"access_token": canary, "token_type": "Bearer", "refresh_token": "rt-seen",
		"expiry": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	e.bind(t, "screen", map[string]any{"labAuth": "pp"})

	r := e.call(t, "POST", "/sidecar/widgets/lab/apis/echoSeen", `{}`, "X-Widget-Instance", "screen")
	if r.status != 200 || r.json["statusCode"] != 200.0 {
		t.Fatalf("want the retried call's answer: %d %s", r.status, r.raw)
	}
	sec, err := e.vault.Client.KVv2("secret").Get(context.Background(), "widgetgate/passports/pp")
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := sec.Data["access_token"].(string)
	if fresh == canary || fresh == "" {
		t.Fatalf("no forced refresh happened (Vault token %q)", fresh)
	}
	for name, tok := range map[string]string{"refused": canary, "refreshed": fresh} {
		if n := countLeaks(r.raw, tok); n != 0 {
			t.Errorf("the %s token appears %d times in the envelope: %s", name, n, r.raw)
		}
	}
	if n := bytes.Count(r.raw, []byte("[REDACTED]")); n != 2 {
		t.Errorf("%d tokens masked, want 2 (did the provider echo both?): %s", n, r.raw)
	}
}
