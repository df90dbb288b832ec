package standin

import (
	"net/http"
	"strings"
	"testing"
)

func TestSaaS(t *testing.T) {
	_, srv := newServer(t)
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	withAuth := func(h http.Header) http.Header {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set("Authorization", "Bearer "+testToken)
		return h
	}
	tests := []struct {
		name       string
		method     string
		path       string
		header     http.Header
		body       string
		wantStatus int
		wantBody   string
	}{
		{"GET data with query", "GET", "/v1/data?a=1&b=x&b=y", withAuth(nil), "", 200,
			`{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}],"query":{"a":"1","b":["x","y"]},"body":null}`},
		{"POST JSON body", "POST", "/v1/data", withAuth(jsonCT), `{"k":[1,2]}`, 200,
			`{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}],"query":{},"body":{"k":[1,2]}}`},
		{"POST non-JSON body", "POST", "/v1/data", withAuth(nil), "k=v", 200,
			`{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}],"query":{},"body":null}`},
		{"posts with escaped id", "GET", "/v1/users/a%2Fb%20c/posts?page=2", withAuth(nil), "", 200,
			`{"userId":"a/b c","page":"2","posts":[{"id":101,"title":"Hello world"},{"id":102,"title":"Second post"}]}`},
		{"missing token", "GET", "/v1/data", nil, "", 401, saasUnauthorizedBody},
		{"invalid token", "POST", "/v1/data", bearer("expired"), "{}", 401, saasUnauthorizedBody},
		{"posts invalid token", "GET", "/v1/users/1/posts", bearer("expired"), "", 401, saasUnauthorizedBody},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, srv, tc.method, tc.path, tc.header, tc.body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.wantStatus, body)
			}
			jsonEqual(t, body, tc.wantBody)
			if tc.wantStatus == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm=`) {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}
