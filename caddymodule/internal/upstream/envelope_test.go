package upstream

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/widgetgate/widgetgate/caddymodule/internal/egress"
)

// get fetches srv's path with the real client (redirects not followed).
func get(t *testing.T, srv *httptest.Server, path string) *http.Response {
	t.Helper()
	c := testClient(t)
	req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+path, nil)
	resp, err := c.Do(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// testClient is a client allowed to reach httptest servers on 127.0.0.1.
func testClient(t *testing.T) *Client {
	t.Helper()
	policy, err := egress.ParsePolicy([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(Config{Egress: policy})
	t.Cleanup(c.Close)
	return c
}

func TestEnvelope(t *testing.T) {
	const token = "secret-token-123"
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00binary")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/json":
			h.Set("Content-Type", "application/json; charset=utf-8")
			h.Add("X-Multi", "a")
			h.Add("X-Multi", "b")
			h.Set("Set-Cookie", "s=1")
			h.Set("X-Echo", "Bearer "+token)
			h.Set("Connection", "X-Private")
			h.Set("X-Private", "hop")
			w.Write([]byte(`{"a": [1, 2.50, "x<y"], "b": null}`))
		case "/echo":
			h.Set("Content-Type", "application/json")
			w.Write([]byte(`{"received": "Bearer ` + token + `"}`))
		case "/untyped":
			h["Content-Type"] = nil // no sniffing by net/http either
			w.Write([]byte(`{"a": 1}`))
		case "/problem":
			h.Set("Content-Type", "application/problem+json")
			w.WriteHeader(418)
			w.Write([]byte(`{"title":"teapot"}`))
		case "/badjson":
			h.Set("Content-Type", "application/json")
			w.Write([]byte(`{"a": `))
		case "/text":
			h.Set("Content-Type", "text/plain")
			w.Write([]byte("line1\nline2 \"quoted\" \u2028 <b>"))
		case "/png":
			h.Set("Content-Type", "image/png")
			w.Write(png)
		case "/latin1":
			h.Set("Content-Type", "text/plain; charset=iso-8859-1")
			w.Write([]byte("caf\xe9"))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/same":
			h.Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusFound)
		case "/cross":
			h.Set("Location", "https://evil.example/x")
			w.WriteHeader(http.StatusFound)
		}
	}))
	defer srv.Close()

	tests := []struct {
		path  string
		check func(t *testing.T, env map[string]any, raw []byte)
	}{
		{"/json", func(t *testing.T, env map[string]any, raw []byte) {
			// Embedded as sent, not re-encoded: whitespace and 2.50 survive.
			if !bytes.Contains(raw, []byte(`"body":{"a": [1, 2.50, "x<y"], "b": null}`)) {
				t.Errorf("JSON body not embedded verbatim: %s", raw)
			}
			h := env["headers"].(map[string]any)
			if h["x-multi"] != "a, b" || h["content-type"] != "application/json; charset=utf-8" {
				t.Errorf("headers = %v", h)
			}
			for _, gone := range []string{"set-cookie", "x-echo", "connection", "x-private"} {
				if _, ok := h[gone]; ok {
					t.Errorf("header %s must be dropped", gone)
				}
			}
			if env["statusCode"] != 200.0 || env["statusText"] != "OK" || env["isSuccess"] != true {
				t.Errorf("status fields = %v", env)
			}
		}},
		{"/echo", func(t *testing.T, env map[string]any, _ []byte) {
			if body := env["body"].(map[string]any); body["received"] != "Bearer "+Redacted {
				t.Errorf("echoed token not redacted: %v", body)
			}
		}},
		{"/untyped", func(t *testing.T, env map[string]any, _ []byte) {
			if body, ok := env["body"].(map[string]any); !ok || body["a"] != 1.0 {
				t.Errorf("JSON without Content-Type not parsed: %#v", env["body"])
			}
		}},
		{"/problem", func(t *testing.T, env map[string]any, _ []byte) {
			body, _ := env["body"].(map[string]any)
			if env["statusCode"] != 418.0 || env["statusText"] != "I'm a teapot" || env["isSuccess"] != false || body["title"] != "teapot" {
				t.Errorf("418 +json = %v", env)
			}
		}},
		{"/badjson", func(t *testing.T, env map[string]any, _ []byte) {
			if env["body"] != `{"a": ` {
				t.Errorf("invalid JSON must become a string, got %#v", env["body"])
			}
		}},
		{"/text", func(t *testing.T, env map[string]any, _ []byte) {
			if env["body"] != "line1\nline2 \"quoted\" \u2028 <b>" {
				t.Errorf("text = %#v", env["body"])
			}
		}},
		{"/png", func(t *testing.T, env map[string]any, _ []byte) {
			got, err := base64.StdEncoding.DecodeString(env["body"].(string))
			if err != nil || !bytes.Equal(got, png) || env["bodyEncoding"] != "base64" || env["contentType"] != "image/png" {
				t.Errorf("binary = %v", env)
			}
		}},
		{"/latin1", func(t *testing.T, env map[string]any, _ []byte) {
			if env["bodyEncoding"] != "base64" {
				t.Errorf("non-UTF-8 text must be base64, got %v", env)
			}
		}},
		{"/empty", func(t *testing.T, env map[string]any, _ []byte) {
			if env["body"] != "" || env["statusCode"] != 204.0 || env["isSuccess"] != true {
				t.Errorf("204 = %v", env)
			}
		}},
		{"/same", func(t *testing.T, env map[string]any, _ []byte) {
			if h := env["headers"].(map[string]any); h["location"] != "/elsewhere" {
				t.Errorf("same-origin Location dropped: %v", h)
			}
		}},
		{"/cross", func(t *testing.T, env map[string]any, _ []byte) {
			if h := env["headers"].(map[string]any); h["location"] != nil || env["isSuccess"] != false {
				t.Errorf("cross-origin Location kept: %v", env)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			buf, err := Envelope(get(t, srv, tc.path), NewSecrets(token), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			raw := bytes.Clone(buf.Bytes())
			buf.Release()
			var env map[string]any
			if err := json.Unmarshal(raw, &env); err != nil {
				t.Fatalf("envelope is not JSON: %v\n%s", err, raw)
			}
			if bytes.Contains(raw, []byte(token)) {
				t.Error("envelope contains the token")
			}
			tc.check(t, env, raw)
		})
	}
}

func TestEnvelopeTooLarge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.Write([]byte(strings.Repeat("a", 600)))
			w.(http.Flusher).Flush() // no Content-Length: the cap must hold while reading
		}
		w.Write([]byte(strings.Repeat("a", 600)))
	}))
	defer srv.Close()
	for _, path := range []string{"/sized", "/chunked"} {
		if _, err := Envelope(get(t, srv, path), nil, 599); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: err = %v, want ErrTooLarge", path, err)
		}
	}
	if env, err := Envelope(get(t, srv, "/chunked"), nil, 1200); err != nil || !bytes.Contains(env.Bytes(), []byte(strings.Repeat("a", 600))) {
		t.Errorf("a body exactly at the cap must pass: %v", err)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	inputs := []string{"", "plain", "quote\" back\\slash", "ctl\x00\x01\x1f\x7f", "<script>&amp;", "line\u2028sep\u2029", "日本語 ✓", "\xff\xfe bad utf8"}
	for _, in := range inputs {
		out := appendString(nil, in)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Errorf("appendString(%q) = %s: not a JSON string: %v", in, out, err)
			continue
		}
		// encoding/json is the reference, U+FFFD per invalid byte included.
		ref, _ := json.Marshal(in)
		var want string
		json.Unmarshal(ref, &want)
		if back != want {
			t.Errorf("appendString(%q) round-trips to %q", in, back)
		}
	}
}

// A token with a '/' is masked in the forms an echoing API writes it: as
// it is, and JSON-escaped as "\/"; a header carrying either is dropped.
func TestEnvelopeMasksEscapedToken(t *testing.T) {
	const token = "ya29/a0Af+H6/SM"
	esc := strings.ReplaceAll(token, "/", `\/`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo", "Bearer "+esc)
		w.Write([]byte(`{"php": "Bearer ` + esc + `", "go": "Bearer ` + token + `"}`))
	}))
	defer srv.Close()
	buf, err := Envelope(get(t, srv, "/"), NewSecrets(token), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Release()
	raw := buf.Bytes()
	if bytes.Contains(raw, []byte(token)) || bytes.Contains(raw, []byte(esc)) || bytes.Contains(raw, []byte("x-echo")) {
		t.Fatalf("the token leaked: %s", raw)
	}
	var env map[string]any
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	if body := env["body"].(map[string]any); body["php"] != "Bearer "+Redacted || body["go"] != "Bearer "+Redacted {
		t.Errorf("body = %v", body)
	}
}
