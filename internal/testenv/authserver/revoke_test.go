package authserver

import (
	"net/url"
	"slices"
	"testing"
)

func TestRevocation(t *testing.T) {
	tests := []struct {
		name string
		// which picks the token to revoke from the grant's tokens.
		which      func(access, refresh string) string
		hint       string
		wantAccess bool // access token still valid afterwards
		wantRT     bool // refresh token still usable afterwards
		revoked    func(access, refresh string) []string
	}{
		{"access token", func(a, _ string) string { return a }, "access_token", false, true,
			func(a, _ string) []string { return []string{a} }},
		{"access token, wrong hint", func(a, _ string) string { return a }, "refresh_token", false, true,
			func(a, _ string) []string { return []string{a} }},
		{"refresh token takes its access tokens", func(_, r string) string { return r }, "", false, false,
			func(a, r string) []string { return []string{r, a} }},
		{"unknown token", func(string, string) string { return "at_unknown" }, "", true, true,
			func(string, string) []string { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			tok := e.tokens()
			access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
			f := url.Values{"token": {tt.which(access, refresh)}}
			if tt.hint != "" {
				f.Set("token_type_hint", tt.hint)
			}
			resp, body := e.post("/revoke", f, authBasic)
			if resp.StatusCode != 200 || body != nil {
				t.Fatalf("revoke: %d %v", resp.StatusCode, body)
			}
			// Revoking twice is fine and lists nothing twice.
			if resp, _ := e.post("/revoke", f, authForm); resp.StatusCode != 200 {
				t.Errorf("second revoke: %d", resp.StatusCode)
			}
			if got := e.s.Valid(access); got != tt.wantAccess {
				t.Errorf("Valid(access) = %v", got)
			}
			if resp, _ := e.userinfo(access); (resp.StatusCode == 200) != tt.wantAccess {
				t.Errorf("userinfo: %d", resp.StatusCode)
			}
			resp, _ = e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, authBasic)
			if (resp.StatusCode == 200) != tt.wantRT {
				t.Errorf("refresh after revoke: %d", resp.StatusCode)
			}
			if got, want := e.s.Revoked(), tt.revoked(access, refresh); !slices.Equal(got, want) {
				t.Errorf("Revoked = %v, want %v", got, want)
			}
		})
	}

	errTests := []struct {
		name   string
		form   url.Values
		auth   auth
		status int
		code   string
	}{
		{"bad client", url.Values{"token": {"x"}, "client_id": {clientID}, "client_secret": {"wrong"}}, authNone, 401, "invalid_client"},
		{"no client", url.Values{"token": {"x"}}, authNone, 401, "invalid_client"},
		{"missing token", url.Values{}, authBasic, 400, "invalid_request"},
	}
	e := newEnv(t, Config{})
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.post("/revoke", tt.form, tt.auth)
			wantOAuthError(t, resp, body, tt.status, tt.code)
		})
	}
	if e.s.TokenCalls() != 0 {
		t.Errorf("revocation counted as token calls: %d", e.s.TokenCalls())
	}
}
