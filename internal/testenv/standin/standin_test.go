package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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

func TestGoogleCalendarEvents(t *testing.T) {
	_, srv := newServer(t)
	tests := []struct {
		name      string
		path      string
		wantIDs   []string
		wantTitle string
	}{
		{"all events", "/calendar/v3/calendars/primary/events", []string{"evt1", "evt2", "evt3"}, "primary"},
		{"maxResults truncates", "/calendar/v3/calendars/primary/events?maxResults=2", []string{"evt1", "evt2"}, "primary"},
		{"maxResults one", "/calendar/v3/calendars/primary/events?maxResults=1", []string{"evt1"}, "primary"},
		{"maxResults above count", "/calendar/v3/calendars/primary/events?maxResults=50", []string{"evt1", "evt2", "evt3"}, "primary"},
		{"escaped calendar id", "/calendar/v3/calendars/team%40example.com/events", []string{"evt1", "evt2", "evt3"}, "team@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, srv, "GET", tc.path, bearer(testToken), "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, body %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			var list struct {
				Kind     string `json:"kind"`
				Summary  string `json:"summary"`
				TimeZone string `json:"timeZone"`
				Items    []struct {
					Kind  string `json:"kind"`
					ID    string `json:"id"`
					Start struct {
						DateTime string `json:"dateTime"`
					} `json:"start"`
				} `json:"items"`
			}
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatal(err)
			}
			if list.Kind != "calendar#events" || list.Summary != tc.wantTitle || list.TimeZone != "UTC" {
				t.Errorf("envelope = %+v", list)
			}
			var ids []string
			for _, it := range list.Items {
				if it.Kind != "calendar#event" || it.Start.DateTime == "" {
					t.Errorf("bad item %+v", it)
				}
				ids = append(ids, it.ID)
			}
			if !reflect.DeepEqual(ids, tc.wantIDs) {
				t.Errorf("ids = %v, want %v", ids, tc.wantIDs)
			}
		})
	}
}

func TestGoogleErrors(t *testing.T) {
	_, srv := newServer(t)
	const events = "/calendar/v3/calendars/primary/events"
	tests := []struct {
		name       string
		path       string
		header     http.Header
		wantStatus int
		wantBody   string
		wantAuthn  string
	}{
		{"missing token", events, nil, 401, googleUnauthorizedBody, `Bearer realm="https://accounts.google.com/"`},
		{"invalid token", events, bearer("nope"), 401, googleUnauthorizedBody, `Bearer realm="https://accounts.google.com/"`},
		{"wrong scheme", events, http.Header{"Authorization": {"Basic " + testToken}}, 401, googleUnauthorizedBody, `Bearer realm="https://accounts.google.com/"`},
		{"empty bearer", events, http.Header{"Authorization": {"Bearer "}}, 401, googleUnauthorizedBody, `Bearer realm="https://accounts.google.com/"`},
		{"unknown calendar", "/calendar/v3/calendars/missing/events", bearer(testToken), 404, googleNotFoundBody, ""},
		{"bad maxResults", events + "?maxResults=0", bearer(testToken), 400,
			`{"error":{"code":400,"message":"Invalid value '0'. Values must be within the range: [1, 2500]","errors":[{"message":"Invalid value '0'. Values must be within the range: [1, 2500]","domain":"global","reason":"invalid","location":"maxResults","locationType":"parameter"}],"status":"INVALID_ARGUMENT"}}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, srv, "GET", tc.path, tc.header, "")
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tc.wantAuthn {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantAuthn)
			}
			jsonEqual(t, body, tc.wantBody)
		})
	}
	// The literal 401 body must match the brief exactly, not just structurally.
	_, body := do(t, srv, "GET", events, nil, "")
	const want = `{"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.","errors":[{"message":"Invalid Credentials","domain":"global","reason":"authError","location":"Authorization","locationType":"header"}],"status":"UNAUTHENTICATED"}}`
	if string(body) != want {
		t.Errorf("401 body = %s", body)
	}
}

func TestGraphCalendarView(t *testing.T) {
	_, srv := newServer(t)
	const window = "?startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-24T00:00:00Z"
	tests := []struct {
		name       string
		path       string
		header     http.Header
		wantStatus int
		wantCode   string // Graph error code, "" on success
		wantMsg    string
	}{
		{"ok", "/v1.0/me/calendarview" + window, bearer(testToken), 200, "", ""},
		{"ok camel case path and params", "/v1.0/me/calendarView?StartDateTime=a&EndDateTime=b", bearer(testToken), 200, "", ""},
		{"missing window", "/v1.0/me/calendarview", bearer(testToken), 400, "ErrorInvalidParameter", graphNoWindow},
		{"missing end", "/v1.0/me/calendarview?startDateTime=2026-11-23T00:00:00Z", bearer(testToken), 400, "ErrorInvalidParameter", graphNoWindow},
		{"missing token", "/v1.0/me/calendarview" + window, nil, 401, "InvalidAuthenticationToken", "Access token is empty."},
		{"invalid token", "/v1.0/me/calendarview" + window, bearer("nope"), 401, "InvalidAuthenticationToken", graphBadToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, srv, "GET", tc.path, tc.header, "")
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantCode == "" {
				var list struct {
					Context string `json:"@odata.context"`
					Value   []struct {
						ID    string `json:"id"`
						Start struct {
							DateTime, TimeZone string
						} `json:"start"`
					} `json:"value"`
				}
				if err := json.Unmarshal(body, &list); err != nil {
					t.Fatal(err)
				}
				if list.Context != graphContext || len(list.Value) == 0 || list.Value[0].ID != "AAMk1" ||
					list.Value[0].Start.DateTime != "2026-11-23T10:00:00.0000000" || list.Value[0].Start.TimeZone != "UTC" {
					t.Errorf("unexpected body %s", body)
				}
				return
			}
			var e struct {
				Error struct {
					Code       string `json:"code"`
					Message    string `json:"message"`
					InnerError struct {
						Date            string `json:"date"`
						RequestID       string `json:"request-id"`
						ClientRequestID string `json:"client-request-id"`
					} `json:"innerError"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatal(err)
			}
			if e.Error.Code != tc.wantCode || e.Error.Message != tc.wantMsg {
				t.Errorf("error = %+v", e.Error)
			}
			ie := e.Error.InnerError
			if ie.Date == "" || ie.RequestID == "" || ie.ClientRequestID == "" {
				t.Errorf("innerError incomplete: %+v", ie)
			}
			if ie.RequestID != resp.Header.Get("request-id") {
				t.Errorf("request-id header %q != body %q", resp.Header.Get("request-id"), ie.RequestID)
			}
			if tc.wantStatus == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

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

// tokenForm posts a form to the token endpoint.
func tokenForm(t *testing.T, srv *httptest.Server, form url.Values, basicID, basicSecret string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" || basicSecret != "" {
		req.SetBasicAuth(basicID, basicSecret)
	}
	resp, err := srv.Client().Do(req)
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

func TestTokenEndpointRotation(t *testing.T) {
	p, srv := newServer(t)
	p.AddRefreshToken("rt-1")

	refresh := func(rt string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	}
	withClient := func(v url.Values) url.Values {
		v.Set("client_id", "cid")
		v.Set("client_secret", "secret")
		return v
	}

	// First redemption (basic client auth) succeeds and rotates rt-1.
	resp, body := tokenForm(t, srv, refresh("rt-1"), "cid", "secret")
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d, body %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.AccessToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn != 3599 || tr.Scope == "" ||
		tr.RefreshToken == "" || tr.RefreshToken == "rt-1" {
		t.Fatalf("token response = %+v", tr)
	}

	// The minted access token works on the API.
	if resp, _ := do(t, srv, "GET", "/v1/data", bearer(tr.AccessToken), ""); resp.StatusCode != 200 {
		t.Errorf("minted access token rejected: %d", resp.StatusCode)
	}

	invalidGrant := `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`
	tests := []struct {
		name       string
		form       url.Values
		basic      [2]string
		wantStatus int
		wantError  string // "" means success
	}{
		{"old refresh token is revoked", withClient(refresh("rt-1")), [2]string{}, 400, invalidGrant},
		{"unknown refresh token", withClient(refresh("never-issued")), [2]string{}, 400, invalidGrant},
		{"unsupported grant", withClient(url.Values{"grant_type": {"password"}}), [2]string{}, 400,
			`{"error":"unsupported_grant_type","error_description":"Invalid grant_type: password"}`},
		{"no client auth", refresh(tr.RefreshToken), [2]string{}, 401,
			`{"error":"invalid_client","error_description":"Client authentication failed."}`},
		// Runs last: the rotated token is valid exactly once (form client auth).
		{"rotated refresh token works", withClient(refresh(tr.RefreshToken)), [2]string{}, 200, ""},
		{"rotated refresh token used twice", withClient(refresh(tr.RefreshToken)), [2]string{}, 400, invalidGrant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tokenForm(t, srv, tc.form, tc.basic[0], tc.basic[1])
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantError != "" {
				jsonEqual(t, body, tc.wantError)
			}
		})
	}

	if got, want := p.TokenCalls(), 1+len(tests); got != want {
		t.Errorf("TokenCalls = %d, want %d", got, want)
	}
	// Token calls are not API requests: only the /v1/data call is recorded.
	if reqs := p.Requests(); len(reqs) != 1 || reqs[0].URL != "/v1/data" {
		t.Errorf("Requests = %+v", reqs)
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

func TestAppspaceTokenRotation(t *testing.T) {
	p, srv := newServer(t)
	p.AddRefreshToken("as-rt-1")

	const path = "/api/v3/authorization/token"
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	refresh := func(rt string) string {
		b, _ := json.Marshal(map[string]string{
			"subjectType": "Application", "subjectId": "subject-1",
			"grantType": "refreshToken", "refreshToken": rt,
		})
		return string(b)
	}

	// First redemption succeeds and rotates as-rt-1.
	resp, body := do(t, srv, "POST", path, jsonCT, refresh("as-rt-1"))
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d, body %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	// The lifetimes are JSON strings, as Appspace documents them.
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["expiresIn"] != "3600" || raw["refreshTokenExpiresIn"] != "2592000" {
		t.Errorf("lifetimes = %v / %v, want the strings \"3600\" / \"2592000\"", raw["expiresIn"], raw["refreshTokenExpiresIn"])
	}
	var tr appspaceTokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.AccessToken == "" || tr.IDToken == "" || tr.RefreshToken == "" || tr.RefreshToken == "as-rt-1" {
		t.Fatalf("token response = %+v", tr)
	}
	if resp, _ := do(t, srv, "GET", "/v1/data", bearer(tr.AccessToken), ""); resp.StatusCode != 200 {
		t.Errorf("minted access token rejected: %d", resp.StatusCode)
	}

	invalidGrant := `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`
	tests := []struct {
		name       string
		method     string
		header     http.Header
		body       string
		wantStatus int
		wantError  string // "" means success
	}{
		{"old refresh token is revoked", "POST", jsonCT, refresh("as-rt-1"), 400, invalidGrant},
		{"unknown refresh token", "POST", jsonCT, refresh("never-issued"), 400, invalidGrant},
		{"GET", "GET", nil, "", 405, `{"error":"invalid_request","error_description":"The token endpoint only accepts POST."}`},
		{"form body", "POST", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "refreshToken=x", 400,
			`{"error":"invalid_request","error_description":"Content-Type must be application/json."}`},
		{"malformed JSON", "POST", jsonCT, "{", 400, `{"error":"invalid_request","error_description":"Malformed request body."}`},
		{"wrong grant", "POST", jsonCT, `{"subjectType":"Application","subjectId":"s","grantType":"password","refreshToken":"x"}`, 400,
			`{"error":"unsupported_grant_type","error_description":"grantType must be refreshToken."}`},
		{"wrong subject type", "POST", jsonCT, `{"subjectType":"User","subjectId":"s","grantType":"refreshToken","refreshToken":"x"}`, 400,
			`{"error":"invalid_request","error_description":"subjectType must be Application."}`},
		{"no subject", "POST", jsonCT, `{"subjectType":"Application","grantType":"refreshToken","refreshToken":"x"}`, 400,
			`{"error":"invalid_request","error_description":"Missing required parameter: subjectId"}`},
		{"no refresh token", "POST", jsonCT, `{"subjectType":"Application","subjectId":"s","grantType":"refreshToken"}`, 400,
			`{"error":"invalid_request","error_description":"Missing required parameter: refreshToken"}`},
		// Run last: the rotated token is valid exactly once.
		{"rotated refresh token works", "POST", jsonCT, refresh(tr.RefreshToken), 200, ""},
		{"rotated refresh token used twice", "POST", jsonCT, refresh(tr.RefreshToken), 400, invalidGrant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, srv, tc.method, path, tc.header, tc.body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantError != "" {
				jsonEqual(t, body, tc.wantError)
			}
		})
	}

	if got, want := p.TokenCalls(), 1+len(tests); got != want {
		t.Errorf("TokenCalls = %d, want %d", got, want)
	}
	// Token calls are not API requests: only the /v1/data call is recorded.
	if reqs := p.Requests(); len(reqs) != 1 || reqs[0].URL != "/v1/data" {
		t.Errorf("Requests = %+v", reqs)
	}
}

// A refresh token added once can be redeemed at either endpoint, but only
// once in total: both share one set, as a provider's would.
func TestAppspaceAndOAuthShareRefreshTokens(t *testing.T) {
	p, srv := newServer(t)
	p.AddRefreshToken("shared-rt")
	body := `{"subjectType":"Application","subjectId":"s","grantType":"refreshToken","refreshToken":"shared-rt"}`
	if resp, b := do(t, srv, "POST", "/api/v3/authorization/token", http.Header{"Content-Type": {"application/json"}}, body); resp.StatusCode != 200 {
		t.Fatalf("appspace refresh: status %d, body %s", resp.StatusCode, b)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"shared-rt"}}
	if resp, b := tokenForm(t, srv, form, "cid", "secret"); resp.StatusCode != 400 {
		t.Errorf("reuse at /oauth/token: status %d, body %s; want 400", resp.StatusCode, b)
	}
}
