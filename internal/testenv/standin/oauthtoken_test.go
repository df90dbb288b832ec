package standin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

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
