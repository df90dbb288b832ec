package provider

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/widgetgate/widgetgate/internal/testenv/standin"
)

func TestAppspaceTokenSourceAgainstStandin(t *testing.T) {
	sp := standin.New()
	srv := httptest.NewServer(sp)
	t.Cleanup(srv.Close)
	sp.AddRefreshToken("rt-1")

	ts := AppspaceTokenSource(context.Background(), srv.Client(), srv.URL+"/", "subject-1", "rt-1")
	before := time.Now()
	tok1, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	// The stand-in sends expiresIn as the string "3600", as the Appspace
	// widget developer guide shows.
	if tok1.AccessToken == "" || tok1.TokenType != "Bearer" || tok1.ExpiresIn != 3600 ||
		tok1.Expiry.Before(before.Add(3600*time.Second)) || tok1.Expiry.After(time.Now().Add(3600*time.Second)) {
		t.Errorf("token = %+v", tok1)
	}
	if tok1.RefreshToken == "" || tok1.RefreshToken == "rt-1" {
		t.Errorf("refresh token not rotated: %q", tok1.RefreshToken)
	}
	if id, _ := tok1.Extra("idToken").(string); id == "" {
		t.Error("idToken not kept in Extra")
	}
	if v := tok1.Extra("refreshTokenExpiresIn"); v != "2592000" {
		t.Errorf("refreshTokenExpiresIn = %v", v)
	}

	// The minted access token works on the API.
	req, _ := http.NewRequest("GET", srv.URL+"/v1/data", nil)
	tok1.SetAuthHeader(req)
	if resp, err := srv.Client().Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("access token rejected: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The source remembers the rotated refresh token for its next call.
	tok2, err := ts.Token()
	if err != nil {
		t.Fatalf("second refresh (with the rotated token): %v", err)
	}
	if tok2.RefreshToken == tok1.RefreshToken || tok2.AccessToken == tok1.AccessToken {
		t.Errorf("second refresh did not rotate: %+v", tok2)
	}

	// The original refresh token has been used: the stand-in refuses it.
	_, err = AppspaceTokenSource(context.Background(), srv.Client(), srv.URL, "subject-1", "rt-1").Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
		t.Fatalf("reused refresh token: %#v", err)
	}
	if got := Classify(err); got != FailureInvalidGrant {
		t.Errorf("Classify = %v, want invalid_grant", got)
	}
	if got := Describe(err); got != "token endpoint answered 400 invalid_grant" {
		t.Errorf("Describe = %q", got)
	}
	if strings.Contains(err.Error(), "rt-1") {
		t.Errorf("error repeats the refresh token: %v", err)
	}
	if got := sp.TokenCalls(); got != 3 {
		t.Errorf("TokenCalls = %d, want 3", got)
	}
}

// Concurrent Token calls on one source are serialized, so a rotating
// refresh token is never redeemed twice.
func TestAppspaceTokenSourceSerializes(t *testing.T) {
	sp := standin.New()
	srv := httptest.NewServer(sp)
	t.Cleanup(srv.Close)
	sp.AddRefreshToken("rt-1")
	ts := AppspaceTokenSource(context.Background(), srv.Client(), srv.URL, "subject-1", "rt-1")

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if _, err := ts.Token(); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := sp.TokenCalls(); got != 8 {
		t.Errorf("TokenCalls = %d, want 8", got)
	}
}

// fakeAppspace answers every token call with status and body, recording
// the last request.
type fakeAppspace struct {
	status int
	body   string

	mu     sync.Mutex
	path   string
	ctype  string
	method string
	req    map[string]any
}

func (f *fakeAppspace) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.path, f.ctype, f.method = r.URL.Path, r.Header.Get("Content-Type"), r.Method
	f.req = nil
	_ = json.Unmarshal(b, &f.req)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	_, _ = io.WriteString(w, f.body)
}

func fakeServer(t *testing.T, status int, body string) (*fakeAppspace, *httptest.Server) {
	t.Helper()
	f := &fakeAppspace{status: status, body: body}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func TestAppspaceRequestShape(t *testing.T) {
	f, srv := fakeServer(t, 200, `{"accessToken":"at","refreshToken":"rt-2","expiresIn":3600}`)
	if _, err := AppspaceTokenSource(context.Background(), nil, srv.URL, "subject-1", "rt-1").Token(); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"subjectType": "Application", "subjectId": "subject-1", "grantType": "refreshToken", "refreshToken": "rt-1"}
	if f.method != "POST" || f.path != AppspaceTokenPath || f.ctype != "application/json" || !jsonMapEqual(f.req, want) {
		t.Errorf("request = %s %s %q %v", f.method, f.path, f.ctype, f.req)
	}
}

func jsonMapEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestAppspaceResponseParsing(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantSecs   int64 // 0: Expiry must be zero
		wantType   string
		wantRT     string
		wantBadRes string // non-empty: want ErrInvalidTokenResponse with this detail
	}{
		{"expiresIn string", `{"accessToken":"at","refreshToken":"rt-2","expiresIn":"3600"}`, 3600, "Bearer", "rt-2", ""},
		{"expiresIn number", `{"accessToken":"at","refreshToken":"rt-2","expiresIn":3600}`, 3600, "Bearer", "rt-2", ""},
		{"expiresIn padded string", `{"accessToken":"at","expiresIn":" 60 "}`, 60, "Bearer", "rt-1", ""},
		{"expiresIn fractional", `{"accessToken":"at","expiresIn":59.9}`, 59, "Bearer", "rt-1", ""},
		{"expiresIn absent", `{"accessToken":"at","refreshToken":"rt-2"}`, 0, "Bearer", "rt-2", ""},
		{"expiresIn null", `{"accessToken":"at","expiresIn":null}`, 0, "Bearer", "rt-1", ""},
		{"expiresIn empty", `{"accessToken":"at","expiresIn":""}`, 0, "Bearer", "rt-1", ""},
		{"tokenType given", `{"accessToken":"at","tokenType":"JWT","expiresIn":"10"}`, 10, "JWT", "rt-1", ""},
		{"expiresIn not numeric", `{"accessToken":"at","expiresIn":"soon"}`, 0, "", "", "expiresIn is not a number of seconds"},
		{"expiresIn negative", `{"accessToken":"at","expiresIn":-1}`, 0, "", "", "expiresIn is negative"},
		{"expiresIn huge", `{"accessToken":"at","expiresIn":1e300}`, 0, "", "", "expiresIn is implausibly large"},
		{"expiresIn a bool", `{"accessToken":"at","expiresIn":true}`, 0, "", "", "expiresIn is not a number of seconds"},
		{"no access token", `{"refreshToken":"rt-2"}`, 0, "", "", "no accessToken"},
		{"not JSON", `<html>ok</html>`, 0, "", "", "not the expected JSON"},
		{"access token not a string", `{"accessToken":5}`, 0, "", "", "not the expected JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := fakeServer(t, 200, tc.body)
			before := time.Now()
			tok, err := AppspaceTokenSource(context.Background(), srv.Client(), srv.URL, "s", "rt-1").Token()
			if tc.wantBadRes != "" {
				if !errors.Is(err, ErrInvalidTokenResponse) || !strings.Contains(err.Error(), tc.wantBadRes) {
					t.Fatalf("err = %v, want ErrInvalidTokenResponse %q", err, tc.wantBadRes)
				}
				if Classify(err) != FailureOther || Describe(err) != "token endpoint returned an unusable response ("+tc.wantBadRes+")" {
					t.Errorf("Classify = %v, Describe = %q", Classify(err), Describe(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "at" || tok.TokenType != tc.wantType || tok.RefreshToken != tc.wantRT || tok.ExpiresIn != tc.wantSecs {
				t.Errorf("token = %+v", tok)
			}
			if tc.wantSecs == 0 {
				if !tok.Expiry.IsZero() {
					t.Errorf("Expiry = %v, want zero", tok.Expiry)
				}
			} else if d := tok.Expiry.Sub(before); d < time.Duration(tc.wantSecs)*time.Second || d > time.Duration(tc.wantSecs)*time.Second+5*time.Second {
				t.Errorf("Expiry in %v, want about %ds", d, tc.wantSecs)
			}
		})
	}
}

func TestAppspaceErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantCode string
		want     Failure
	}{
		{"oauth style invalid_grant", 400, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`, "invalid_grant", FailureInvalidGrant},
		{"code and message", 401, `{"code":"InvalidRefreshToken","message":"Refresh token is invalid"}`, "invalid_grant", FailureInvalidGrant},
		{"message only", 400, `{"Message":"The refresh token has expired."}`, "invalid_grant", FailureInvalidGrant},
		{"nested error object", 400, `{"error":{"code":"TokenExpired","message":"expired token"}}`, "invalid_grant", FailureInvalidGrant},
		{"unknown subject", 401, `{"code":"NotFound","message":"Subject not found"}`, "invalid_grant", FailureInvalidGrant},
		{"RFC code is kept", 400, `{"error":"invalid_request","error_description":"Missing refreshToken"}`, "invalid_request", FailureOther},
		{"bare 401", 401, ``, "", FailureInvalidGrant},
		{"html 400", 400, `<html>Bad Request</html>`, "", FailureInvalidGrant},
		{"forbidden", 403, `{"code":"Forbidden","message":"API tokens are disabled for this account"}`, "Forbidden", FailureOther},
		{"server error", 500, `{"message":"Invalid token cache state"}`, "", FailureTransient},
		{"rate limited", 429, `{"code":"TooManyRequests"}`, "TooManyRequests", FailureTransient},
		{"unavailable", 503, ``, "", FailureTransient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := fakeServer(t, tc.status, tc.body)
			_, err := AppspaceTokenSource(context.Background(), srv.Client(), srv.URL, "s", "rt-secret").Token()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) {
				t.Fatalf("err = %#v, want *oauth2.RetrieveError", err)
			}
			if re.Response == nil || re.Response.StatusCode != tc.status || string(re.Body) != tc.body || re.ErrorCode != tc.wantCode {
				t.Errorf("RetrieveError = status %v body %q code %q", re.Response.StatusCode, re.Body, re.ErrorCode)
			}
			if got := Classify(err); got != tc.want {
				t.Errorf("Classify = %v, want %v", got, tc.want)
			}
			if d := Describe(err); tc.body != "" && strings.Contains(d, tc.body) || strings.Contains(d, "rt-secret") {
				t.Errorf("Describe leaks: %q", d)
			}
		})
	}
}

func TestAppspaceLimitsResponse(t *testing.T) {
	big := `{"accessToken":"` + strings.Repeat("a", maxTokenResponse) + `"}`
	_, srv := fakeServer(t, 200, big)
	_, err := AppspaceTokenSource(context.Background(), srv.Client(), srv.URL, "s", "rt").Token()
	if !errors.Is(err, ErrInvalidTokenResponse) || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Errorf("oversized 200: %v", err)
	}

	_, srv = fakeServer(t, 500, big)
	_, err = AppspaceTokenSource(context.Background(), srv.Client(), srv.URL, "s", "rt").Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || len(re.Body) != maxTokenResponse {
		t.Errorf("oversized 500: body kept %d bytes, want %d", len(re.Body), maxTokenResponse)
	}
}

func TestAppspaceRefusesBadInput(t *testing.T) {
	f, srv := fakeServer(t, 200, `{"accessToken":"at"}`)
	tests := []struct {
		name, base, subject, rt string
		want                    Failure
	}{
		{"plain http to a remote host", "http://acme.cloud.appspace.com", "s", "rt", FailureOther},
		{"relative URL", "acme.cloud.appspace.com", "s", "rt", FailureOther},
		{"no subject", srv.URL, "", "rt", FailureInvalidGrant},
		{"no refresh token", srv.URL, "s", "", FailureInvalidGrant},
	}
	for _, tc := range tests {
		_, err := AppspaceTokenSource(context.Background(), srv.Client(), tc.base, tc.subject, tc.rt).Token()
		if err == nil || Classify(err) != tc.want {
			t.Errorf("%s: err = %v, Classify = %v, want %v", tc.name, err, Classify(err), tc.want)
		}
	}
	if f.method != "" {
		t.Errorf("a request was sent: %s %s", f.method, f.path)
	}
}
