package standin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

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
