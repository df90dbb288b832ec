package standin

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestRedirectTo: the Location is sent exactly as asked, "{host}" filled
// in, with the asked 3xx status; anything but a 3xx is refused.
func TestRedirectTo(t *testing.T) {
	srv := httptest.NewServer(New())
	defer srv.Close()
	// The transport, not a Client: a Client parses Location before it asks
	// whether to follow, and fails on the hostile ones.
	rt := srv.Client().Transport
	host := srv.Listener.Addr().String()
	tests := []struct {
		query, wantLocation string
		wantStatus          int
	}{
		{"location=" + url.QueryEscape(`/\evil.example/x`), `/\evil.example/x`, 302},
		{"location=" + url.QueryEscape("/\t/evil.example"), "/\t/evil.example", 302},
		{"location=" + url.QueryEscape("http://{host}/next") + "&status=307", "http://" + host + "/next", 307},
		{"location=x&status=200", "", 400},
		{"location=x&status=abc", "", 400},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest("GET", srv.URL+"/redirect/to?"+tc.query, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus || resp.Header.Get("Location") != tc.wantLocation {
			t.Errorf("%s: got %d %q, want %d %q", tc.query, resp.StatusCode, resp.Header.Get("Location"), tc.wantStatus, tc.wantLocation)
		}
	}
}
