package standin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const testToken = "test-access-token"

// newServer starts a Provider behind a real HTTP server, with testToken valid.
func newServer(t *testing.T) (*Provider, *httptest.Server) {
	t.Helper()
	p := New()
	p.AddToken(testToken)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv
}

// do sends a request and returns the response with its body fully read.
// Redirects are not followed, so /redirect can be inspected.
func do(t *testing.T, srv *httptest.Server, method, path string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

// jsonEqual compares two JSON documents structurally.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body mismatch\n got: %s\nwant: %s", got, want)
	}
}

func TestRequestsRecording(t *testing.T) {
	p, srv := newServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")

	// Unauthorized request first: it must still be recorded.
	do(t, srv, "GET", "/calendar/v3/calendars/primary/events", http.Header{"X-Trace": {"t1"}}, "")
	do(t, srv, "POST", "/v1/data?q=a%20b&x=%2F", http.Header{
		"Authorization": {"Bearer " + testToken},
		"Content-Type":  {"application/json"},
	}, `{"n":1}`)
	do(t, srv, "GET", "/v1/users/a%2Fb/posts", bearer(testToken), "")
	do(t, srv, "GET", "/no/such/route", nil, "")

	reqs := p.Requests()
	tests := []struct {
		method, url, authz, body string
	}{
		{"GET", "/calendar/v3/calendars/primary/events", "", ""},
		{"POST", "/v1/data?q=a%20b&x=%2F", "Bearer " + testToken, `{"n":1}`},
		{"GET", "/v1/users/a%2Fb/posts", "Bearer " + testToken, ""},
		{"GET", "/no/such/route", "", ""},
	}
	if len(reqs) != len(tests) {
		t.Fatalf("recorded %d requests, want %d: %+v", len(reqs), len(tests), reqs)
	}
	for i, tc := range tests {
		got := reqs[i]
		if got.Method != tc.method || got.URL != tc.url || string(got.Body) != tc.body || got.Host != host {
			t.Errorf("request %d = {%s %s body=%q host=%s}, want {%s %s body=%q host=%s}",
				i, got.Method, got.URL, got.Body, got.Host, tc.method, tc.url, tc.body, host)
		}
		if a := got.Header.Get("Authorization"); a != tc.authz {
			t.Errorf("request %d Authorization = %q, want %q", i, a, tc.authz)
		}
	}
	if reqs[0].Header.Get("X-Trace") != "t1" {
		t.Errorf("custom header not recorded: %v", reqs[0].Header)
	}

	// The returned slice is a copy: mutating it must not affect the provider.
	reqs[1].Header.Set("Authorization", "tampered")
	reqs[1].Body[0] = 'X'
	again := p.Requests()
	if again[1].Header.Get("Authorization") != "Bearer "+testToken || string(again[1].Body) != `{"n":1}` {
		t.Errorf("Requests did not return a deep copy")
	}

	p.Reset()
	if n := len(p.Requests()); n != 0 {
		t.Errorf("after Reset, %d requests recorded", n)
	}
}

// TestConcurrentUse exercises the mutex under -race.
func TestConcurrentUse(t *testing.T) {
	p, srv := newServer(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			tok := "tok-" + strconv.Itoa(i)
			p.AddToken(tok)
			p.AddRefreshToken("rt-" + strconv.Itoa(i))
			// Not do(): t.Fatal must not be called off the test goroutine.
			req, _ := http.NewRequest("GET", srv.URL+"/v1/data", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status = %d", resp.StatusCode)
			}
			_ = p.Requests()
			_ = p.TokenCalls()
		})
	}
	wg.Wait()
	if n := len(p.Requests()); n != 8 {
		t.Errorf("recorded %d requests, want 8", n)
	}
}
