package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestStream(t *testing.T) {
	_, srv := newServer(t)
	for _, n := range []int{0, 1, 255, 32 << 10, 100_000, 1 << 20} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			resp, body := do(t, srv, "GET", "/stream?bytes="+strconv.Itoa(n), nil, "")
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
				t.Errorf("Content-Type = %q", ct)
			}
			if len(body) != n {
				t.Fatalf("got %d bytes, want %d", len(body), n)
			}
			for i, b := range body {
				if b != byte(i) {
					t.Fatalf("byte %d = %#x, want %#x", i, b, byte(i))
				}
			}
		})
	}
}

func TestUtilityRoutes(t *testing.T) {
	_, srv := newServer(t)
	tests := []struct {
		name       string
		path       string
		header     http.Header
		wantStatus int
		wantCT     string
		check      func(t *testing.T, resp *http.Response, body []byte)
	}{
		{"text", "/text", nil, 200, "text/plain; charset=utf-8", func(t *testing.T, _ *http.Response, body []byte) {
			if string(body) != "hello from the stand-in" {
				t.Errorf("body = %q", body)
			}
		}},
		{"png", "/image.png", nil, 200, "image/png", func(t *testing.T, _ *http.Response, body []byte) {
			img, err := png.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != 4 || b.Dy() != 4 {
				t.Errorf("bounds = %v", b)
			}
		}},
		{"status 503", "/status/503", nil, 503, "application/json", func(t *testing.T, _ *http.Response, body []byte) {
			jsonEqual(t, body, `{"status":503}`)
		}},
		{"status invalid", "/status/42", nil, 400, "application/json", nil},
		{"redirect", "/redirect", nil, 302, "", func(t *testing.T, resp *http.Response, _ []byte) {
			if loc := resp.Header.Get("Location"); loc != "https://evil.example/steal" {
				t.Errorf("Location = %q", loc)
			}
		}},
		{"set-cookie echoes auth", "/set-cookie", bearer("secret-tok"), 200, "application/json", func(t *testing.T, resp *http.Response, body []byte) {
			if c := resp.Header.Get("Set-Cookie"); c != "session=abc" {
				t.Errorf("Set-Cookie = %q", c)
			}
			if e := resp.Header.Get("X-Echo-Auth"); e != "Bearer secret-tok" {
				t.Errorf("X-Echo-Auth = %q", e)
			}
			jsonEqual(t, body, `{}`)
		}},
		{"big", "/big?bytes=5000", nil, 200, "application/json", func(t *testing.T, _ *http.Response, body []byte) {
			var doc struct{ Data string }
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			if len(body) != 5000 || strings.Trim(doc.Data, "a") != "" {
				t.Errorf("len = %d", len(body))
			}
		}},
		{"slow zero", "/slow?ms=0", nil, 200, "application/json", nil},
		{"unknown route", "/nope", nil, 404, "application/json", func(t *testing.T, _ *http.Response, body []byte) {
			jsonEqual(t, body, `{"error":{"code":404,"message":"Not Found"}}`)
		}},
		{"wrong method is 404 too", "/v1/users/1/posts", nil, 404, "application/json", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if tc.name == "wrong method is 404 too" {
				method = "DELETE"
			}
			resp, body := do(t, srv, method, tc.path, tc.header, "")
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.wantStatus, body)
			}
			if ct := resp.Header.Get("Content-Type"); tc.wantCT != "" && ct != tc.wantCT {
				t.Errorf("Content-Type = %q, want %q", ct, tc.wantCT)
			}
			if tc.check != nil {
				tc.check(t, resp, body)
			}
		})
	}
}

// TestSlowHonoursCancellation checks that /slow returns as soon as the
// request context is cancelled, without any sleeping in the test: with a
// pre-cancelled context and a one-hour delay, ServeHTTP must return at once.
func TestSlowHonoursCancellation(t *testing.T) {
	p := New()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "/slow?ms=3600000", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req) // would hang for an hour if cancellation were ignored
	if rec.Body.Len() != 0 {
		t.Errorf("cancelled /slow wrote a body: %q", rec.Body.String())
	}
}
