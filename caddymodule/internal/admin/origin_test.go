package admin

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestOriginOf(t *testing.T) {
	cases := map[string]string{
		"https://Admin.Example:443/x": "https://admin.example",
		"http://admin.example:80":     "http://admin.example",
		"https://admin.example:8443":  "https://admin.example:8443",
		"http://[::1]:8080/admin":     "http://[::1]:8080",
		"https://[::1]":               "https://[::1]",
	}
	for in, want := range cases {
		u, _ := url.Parse(in)
		if got := OriginOf(u); got != want {
			t.Errorf("OriginOf(%s) = %s, want %s", in, got, want)
		}
	}
}

// A state-changing request a browser made on another origin's behalf is
// refused before its credential is looked at; programs (no Origin, no
// Sec-Fetch-Site) and the page itself pass.
func TestCheckSameOrigin(t *testing.T) {
	h := &Handler{Origin: "https://admin.example"}
	cases := []struct {
		method  string
		headers map[string]string
		refused bool
	}{
		{"POST", nil, false},
		{"POST", map[string]string{"Origin": "https://admin.example"}, false},
		{"POST", map[string]string{"Origin": "https://ADMIN.example:443"}, false},
		{"POST", map[string]string{"Origin": "https://evil.example"}, true},
		{"POST", map[string]string{"Origin": "null"}, true},
		{"DELETE", map[string]string{"Origin": "https://admin.example/path"}, true},
		{"PUT", map[string]string{"Sec-Fetch-Site": "same-origin"}, false},
		{"PUT", map[string]string{"Sec-Fetch-Site": "none"}, false},
		{"PUT", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
		{"POST", map[string]string{"Origin": "https://admin.example", "Sec-Fetch-Site": "same-site"}, true},
		{"GET", map[string]string{"Origin": "https://evil.example"}, false}, // reads change nothing
	}
	for _, tc := range cases {
		r := httptest.NewRequest(tc.method, "https://admin.example/api/passports", nil)
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		if got := h.checkSameOrigin(r) != nil; got != tc.refused {
			t.Errorf("%s %v: refused %v, want %v", tc.method, tc.headers, got, tc.refused)
		}
	}
}

func TestCheckMediaType(t *testing.T) {
	cases := []struct {
		contentType string
		body        string
		bodyNeeded  bool
		refused     bool
	}{
		{"application/json", `{}`, true, false},
		{"application/json; charset=utf-8", `{}`, true, false},
		{"text/plain", `{}`, true, true},
		{"application/x-www-form-urlencoded", `a=b`, false, true},
		{"", ``, false, false}, // disconnect with curl -X POST
		{"", ``, true, true},
		{"", `{}`, false, true},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("POST", "/api/passports", strings.NewReader(tc.body))
		if tc.contentType != "" {
			r.Header.Set("Content-Type", tc.contentType)
		}
		if got := checkMediaType(r, "", tc.bodyNeeded) != nil; got != tc.refused {
			t.Errorf("%q body %q needed=%v: refused %v, want %v", tc.contentType, tc.body, tc.bodyNeeded, got, tc.refused)
		}
	}
}
