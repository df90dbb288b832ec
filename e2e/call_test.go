package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

const calendarCall = "/sidecar/widgets/calendar/apis/getCalendarEvents"

// TestWidgetCalls runs the contract's success and error cases against one
// stack. Each case checks what the widget got and what the provider saw.
func TestWidgetCalls(t *testing.T) {
	e := start(t, options{handlerBlock: "max_response_bytes 2MiB"})
	const token = "ya29.vault-token-4f8a1c" // what Vault holds; the stand-in accepts it
	e.provider.AddToken(token)
	e.vault.PutPassport(t, "pp-google", "google", token)
	e.vault.PutPassport(t, "pp-saas", "custom:my-api-connector", token)
	e.vault.PutPassport(t, "pp-ms", "microsoft", token)
	e.vault.Put(t, "widgetgate/passports/pp-off", map[string]any{"provider": "google", "status": "inactive"})
	e.bind(t, "lobby", map[string]any{"googleCalAuth": "pp-google", "myApiAuth": "pp-saas", "labAuth": "pp-saas"})
	e.bind(t, "wrong-provider", map[string]any{"googleCalAuth": "pp-ms"})
	e.bind(t, "inactive", map[string]any{"googleCalAuth": "pp-off"})
	e.bind(t, "dangling", map[string]any{"googleCalAuth": "pp-deleted"})
	inst := func(i string) []string { return []string{"X-Widget-Instance", i} }

	t.Run("call by name returns the provider's data in the envelope", func(t *testing.T) {
		e.provider.Reset()
		r := e.call(t, "POST", calendarCall, `{"params": {"maxResults": 2, "orderBy": "startTime", "singleEvents": true}}`,
			"X-Widget-Instance", "lobby",
			// None of the caller's own credentials or network details may reach the provider.
			"Authorization", "Bearer host-session", "Cookie", "sid=host", "X-Forwarded-For", "10.0.0.7", "Forwarded", "for=10.0.0.7", "Via", "1.1 host")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if r.json["statusCode"] != 200.0 || r.json["statusText"] != "OK" || r.json["isSuccess"] != true {
			t.Errorf("envelope head = %v %v %v", r.json["statusCode"], r.json["statusText"], r.json["isSuccess"])
		}
		if ct, _ := r.json["contentType"].(string); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("contentType %q", ct)
		}
		body, _ := r.json["body"].(map[string]any)
		if items, _ := body["items"].([]any); len(items) != 2 || body["kind"] != "calendar#events" {
			t.Errorf("body = %v, want the stand-in's calendar with 2 items (maxResults honoured)", body)
		}
		if _, ok := r.json["headers"].(map[string]any); !ok {
			t.Errorf("headers missing: %s", r.raw)
		}

		got := e.provider.Requests()
		if len(got) != 1 {
			t.Fatalf("provider saw %d requests, want 1", len(got))
		}
		req := got[0]
		if want := "/calendar/v3/calendars/primary/events?maxResults=2&orderBy=startTime&singleEvents=true"; req.URL != want || req.Method != "GET" {
			t.Errorf("provider saw %s %s, want GET %s", req.Method, req.URL, want)
		}
		if a := req.Header.Values("Authorization"); len(a) != 1 || a[0] != "Bearer "+token {
			t.Errorf("provider saw Authorization %q, want the passport's token from Vault", a)
		}
		for _, h := range []string{"Cookie", "X-Forwarded-For", "Forwarded", "Via", "X-Widget-Instance"} {
			if v := req.Header.Get(h); v != "" {
				t.Errorf("caller header %s reached the provider: %q", h, v)
			}
		}
		if bytes.Contains(r.raw, []byte(token)) {
			t.Error("the widget received the access token")
		}
	})

	t.Run("path params, static query, user id header and static body", func(t *testing.T) {
		e.provider.Reset()
		r := e.call(t, "POST", "/sidecar/widgets/calendar/apis/getEventsOf", `{"params": {"calendarId": "team room@example.com", "maxResults": "1"}}`, inst("lobby")...)
		if r.status != 200 || r.json["isSuccess"] != true {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		if got, want := e.provider.Requests()[0].URL, "/calendar/v3/calendars/team%20room@example.com/events?orderBy=startTime&maxResults=1"; got != want {
			t.Errorf("provider saw %s, want %s", got, want)
		}

		e.provider.Reset()
		r = e.call(t, "POST", "/sidecar/widgets/my-saas/apis/searchData", `{"params": {}}`, "X-Widget-Instance", "lobby", "X-Widget-User-Id", "u-42")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		req := e.provider.Requests()[0]
		if req.Method != "POST" || string(req.Body) != `{"query":"recent","limit":2}` || req.Header.Get("Content-Type") != "application/json" || req.Header.Get("X-Requested-By") != "u-42" {
			t.Errorf("provider saw %s body %q content-type %q X-Requested-By %q", req.Method, req.Body, req.Header.Get("Content-Type"), req.Header.Get("X-Requested-By"))
		}
	})

	t.Run("provider errors come back in the envelope", func(t *testing.T) {
		r := e.call(t, "POST", "/sidecar/widgets/lab/apis/notFound", `{}`, inst("lobby")...)
		if r.status != 200 || r.json["statusCode"] != 404.0 || r.json["statusText"] != "Not Found" || r.json["isSuccess"] != false {
			t.Errorf("got %d %s", r.status, r.raw)
		}
	})

	t.Run("text, binary and filtered headers", func(t *testing.T) {
		r := e.call(t, "POST", "/sidecar/widgets/lab/apis/text", `{}`, inst("lobby")...)
		if r.json["body"] != "hello from the stand-in" {
			t.Errorf("text body = %#v", r.json["body"])
		}
		r = e.call(t, "POST", "/sidecar/widgets/lab/apis/image", `{}`, inst("lobby")...)
		png, err := base64.StdEncoding.DecodeString(fmt.Sprint(r.json["body"]))
		if err != nil || r.json["bodyEncoding"] != "base64" || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("image envelope = %s", r.raw)
		}
		r = e.call(t, "POST", "/sidecar/widgets/lab/apis/cookie", `{}`, inst("lobby")...)
		headers, _ := r.json["headers"].(map[string]any)
		if _, ok := headers["set-cookie"]; ok {
			t.Error("Set-Cookie reached the widget")
		}
		if _, ok := headers["x-echo-auth"]; ok {
			t.Error("a header echoing the credential reached the widget")
		}
		if bytes.Contains(r.raw, []byte(token)) {
			t.Error("the token leaked through an echoed header")
		}
		r = e.call(t, "POST", "/sidecar/widgets/lab/apis/redirect", `{}`, inst("lobby")...)
		headers, _ = r.json["headers"].(map[string]any)
		if r.json["statusCode"] != 302.0 || r.json["isSuccess"] != false || headers["location"] != nil {
			t.Errorf("cross-origin redirect = %s", r.raw)
		}
	})

	t.Run("raw mode streams the provider's bytes", func(t *testing.T) {
		r := e.call(t, "GET", "/sidecar/widgets/lab/apis/image/raw", "", inst("lobby")...)
		if r.status != 200 || r.header.Get("Content-Type") != "image/png" || !bytes.HasPrefix(r.raw, []byte("\x89PNG")) {
			t.Errorf("raw image: %d %q %q", r.status, r.header.Get("Content-Type"), r.raw[:min(8, len(r.raw))])
		}
		r = e.call(t, "GET", "/sidecar/widgets/lab/apis/stream/raw", "", inst("lobby")...)
		if r.status != 200 || len(r.raw) != 5000000 {
			t.Errorf("raw stream: %d, %d bytes", r.status, len(r.raw))
		}
		e.provider.Reset()
		r = e.call(t, "GET", "/sidecar/widgets/calendar/apis/getEventsOf/raw?calendarId=primary&maxResults=1", "", inst("lobby")...)
		if r.status != 200 || !bytes.Contains(r.raw, []byte(`"calendar#events"`)) {
			t.Errorf("raw GET with query params: %d %s", r.status, r.raw)
		}
		if got := e.provider.Requests()[0].URL; got != "/calendar/v3/calendars/primary/events?orderBy=startTime&maxResults=1" {
			t.Errorf("provider saw %s", got)
		}
	})

	// Every sidecar failure: status, code, and no request to the provider.
	errorCases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string
	}{
		{"invalid JSON", "POST", calendarCall, `{"params": `, inst("lobby"), 400, "invalid_json"},
		{"body not an object", "POST", calendarCall, `["params"]`, inst("lobby"), 400, "invalid_json"},
		{"method override", "POST", calendarCall, `{"params": {}, "method": "DELETE"}`, inst("lobby"), 400, "override_not_allowed"},
		{"url override", "POST", calendarCall, `{"url": "https://evil.example/"}`, inst("lobby"), 400, "override_not_allowed"},
		{"headers override", "POST", calendarCall, `{"params": {}, "headers": {"Authorization": "x"}}`, inst("lobby"), 400, "override_not_allowed"},
		{"body override", "POST", calendarCall, `{"body": "x"}`, inst("lobby"), 400, "override_not_allowed"},
		{"null param", "POST", calendarCall, `{"params": {"maxResults": null}}`, inst("lobby"), 400, "invalid_param"},
		{"object param", "POST", calendarCall, `{"params": {"maxResults": {"a": 1}}}`, inst("lobby"), 400, "invalid_param"},
		{"array param", "POST", calendarCall, `{"params": {"maxResults": [1]}}`, inst("lobby"), 400, "invalid_param"},
		{"missing path param", "POST", "/sidecar/widgets/calendar/apis/getEventsOf", `{"params": {}}`, inst("lobby"), 400, "missing_param"},
		{"path traversal param", "POST", "/sidecar/widgets/calendar/apis/getEventsOf", `{"params": {"calendarId": "../../admin"}}`, inst("lobby"), 400, "invalid_param"},
		{"CRLF param", "POST", calendarCall, `{"params": {"q": "a\r\nX-Evil: 1"}}`, inst("lobby"), 400, "invalid_param"},
		{"fixed query key overridden", "POST", "/sidecar/widgets/calendar/apis/getEventsOf", `{"params": {"calendarId": "primary", "orderBy": "updated"}}`, inst("lobby"), 400, "invalid_param"},
		{"missing user id", "POST", "/sidecar/widgets/my-saas/apis/searchData", `{}`, inst("lobby"), 400, "missing_param"},
		{"missing instance", "POST", calendarCall, `{}`, nil, 400, "missing_instance"},
		{"invalid instance", "POST", calendarCall, `{}`, inst("../bindings/lobby"), 400, "invalid_instance"},
		{"control character before unknown widget", "POST", "/sidecar/widgets/nope/apis/x", `{"params": {"q": "a\r\nb"}}`, inst("lobby"), 400, "invalid_param"},
		{"request too large", "POST", calendarCall, `{"params": {"q": "` + strings.Repeat("a", 70000) + `"}}`, inst("lobby"), 413, "request_too_large"},
		{"unknown widget", "POST", "/sidecar/widgets/nope/apis/getCalendarEvents", `{}`, inst("lobby"), 404, "unknown_widget"},
		{"unknown api", "POST", "/sidecar/widgets/calendar/apis/nope", `{}`, inst("lobby"), 404, "unknown_api"},
		{"unknown route", "GET", "/sidecar/whatever", "", inst("lobby"), 404, "not_found"},
		{"encoded slash in widget id", "POST", "/sidecar/widgets/..%2Fcalendar/apis/getCalendarEvents", `{}`, inst("lobby"), 404, "unknown_widget"},
		{"GET in envelope mode", "GET", calendarCall, "", inst("lobby"), 405, "method_not_allowed"},
		{"bad call wins over unknown widget", "POST", "/sidecar/widgets/nope/apis/x", `{"method": "PUT"}`, inst("lobby"), 400, "override_not_allowed"},
		{"no bindings for instance", "POST", calendarCall, `{}`, inst("stranger"), 401, "authentication_required"},
		{"authKey not bound", "POST", "/sidecar/widgets/my-saas/apis/getData", `{}`, inst("wrong-provider"), 401, "authentication_required"},
		{"passport inactive", "POST", calendarCall, `{}`, inst("inactive"), 401, "authentication_required"},
		{"passport missing", "POST", calendarCall, `{}`, inst("dangling"), 401, "authentication_required"},
		{"provider mismatch", "POST", calendarCall, `{}`, inst("wrong-provider"), 403, "passport_provider_mismatch"},
		{"upstream unreachable", "POST", "/sidecar/widgets/lab/apis/unreachable", `{}`, inst("lobby"), 502, "upstream_unreachable"},
		{"upstream response too large", "POST", "/sidecar/widgets/lab/apis/big", `{}`, inst("lobby"), 502, "upstream_response_too_large"},
		{"upstream timeout", "POST", "/sidecar/widgets/lab/apis/slow", `{}`, inst("lobby"), 504, "upstream_timeout"},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			e.provider.Reset()
			r := e.call(t, tc.method, tc.path, tc.body, tc.headers...)
			if r.status != tc.status || r.json["code"] != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
			if msg, _ := r.json["message"].(string); msg == "" {
				t.Errorf("problem without a message: %s", r.raw)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			if bytes.Contains(r.raw, []byte(token)) {
				t.Errorf("problem body contains the token: %s", r.raw)
			}
			// The three upstream failures are the only ones that may reach the provider.
			if tc.status < 500 || tc.code == "vault_unavailable" {
				if n := len(e.provider.Requests()); n != 0 {
					t.Errorf("provider saw %d requests, want none", n)
				}
			}
		})
	}

	t.Run("metrics count calls by widget, api and outcome", func(t *testing.T) {
		m := e.call(t, "GET", "/metrics", "")
		for _, want := range []string{
			`widgetgate_calls_total{api="getCalendarEvents",outcome="ok",widget="calendar"} 1`,
			`widgetgate_calls_total{api="getCalendarEvents",outcome="passport_provider_mismatch",widget="calendar"} 1`,
			`widgetgate_calls_total{api="",outcome="unknown_widget",widget=""} 2`, // "unknown widget" and "encoded slash"
		} {
			if !bytes.Contains(m.raw, []byte(want)) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if bytes.Contains(m.raw, []byte(token)) || bytes.Contains(m.raw, []byte("lobby")) {
			t.Error("metrics contain the token or an instance id")
		}
	})

	if strings.Contains(e.gw.FinalLog(t), token) {
		t.Error("widgetgate's log contains the access token")
	}
}

// TestVaultDown: with Vault stopped, calls whose token is cached still
// succeed, calls that need Vault get 503 vault_unavailable.
func TestVaultDown(t *testing.T) {
	e := start(t, options{})
	const token = "vault-down-token"
	e.provider.AddToken(token)
	e.vault.PutPassport(t, "pp", "google", token)
	e.bind(t, "cached", map[string]any{"googleCalAuth": "pp"})
	e.bind(t, "uncached", map[string]any{"googleCalAuth": "pp"})

	if r := e.call(t, "POST", calendarCall, `{}`, "X-Widget-Instance", "cached"); r.status != 200 {
		t.Fatalf("warm-up call: %d %s", r.status, r.raw)
	}
	e.vault.Stop()

	e.provider.Reset()
	for i := range 3 {
		if r := e.call(t, "POST", calendarCall, `{}`, "X-Widget-Instance", "cached"); r.status != 200 || r.json["isSuccess"] != true {
			t.Fatalf("call %d with a cached token while Vault is down: %d %s", i, r.status, r.raw)
		}
	}
	if n := len(e.provider.Requests()); n != 3 {
		t.Errorf("provider saw %d calls, want 3", n)
	}

	e.provider.Reset()
	r := e.call(t, "POST", calendarCall, `{}`, "X-Widget-Instance", "uncached")
	if r.status != http.StatusServiceUnavailable || r.json["code"] != "vault_unavailable" {
		t.Fatalf("uncached instance with Vault down: %d %s", r.status, r.raw)
	}
	if ra := r.header.Get("Retry-After"); ra == "" {
		t.Error("503 without Retry-After")
	}
	if n := len(e.provider.Requests()); n != 0 {
		t.Errorf("provider saw %d requests, want none", n)
	}
}

// TestStaticBindings: a single-tenant setup binds passports in the
// Caddyfile; calls need no instance header and no Vault binding.
func TestStaticBindings(t *testing.T) {
	e := start(t, options{globalExtra: "bind googleCalAuth pp-static\n\t\tbind kiosk myApiAuth pp-saas"})
	e.provider.AddToken("static-token")
	e.vault.PutPassport(t, "pp-static", "google", "static-token")
	e.vault.PutPassport(t, "pp-saas", "custom:my-api-connector", "static-token")
	if r := e.call(t, "POST", calendarCall, `{}`); r.status != 200 || r.json["isSuccess"] != true {
		t.Fatalf("call without instance: %d %s", r.status, r.raw)
	}
	if r := e.call(t, "POST", "/sidecar/widgets/my-saas/apis/getData", `{}`, "X-Widget-Instance", "kiosk"); r.status != 200 {
		t.Fatalf("instance-specific static binding: %d %s", r.status, r.raw)
	}
	if r := e.call(t, "POST", "/sidecar/widgets/my-saas/apis/getData", `{}`); r.status != 401 || r.json["code"] != "authentication_required" {
		t.Fatalf("authKey bound only for another instance: %d %s", r.status, r.raw)
	}
}
