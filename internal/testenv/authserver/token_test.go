package authserver

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenErrors(t *testing.T) {
	e := newEnv(t, Config{})
	otherVerifier, _ := pkce()
	tests := []struct {
		name   string
		mutate func(f url.Values)
		auth   auth
		status int
		code   string
	}{
		{"PKCE wrong verifier", func(f url.Values) { f.Set("code_verifier", otherVerifier) }, authBasic, 400, "invalid_grant"},
		{"PKCE missing verifier", func(f url.Values) { f.Del("code_verifier") }, authBasic, 400, "invalid_grant"},
		{"PKCE malformed verifier", func(f url.Values) { f.Set("code_verifier", "abc") }, authBasic, 400, "invalid_grant"},
		{"redirect_uri mismatch", func(f url.Values) { f.Set("redirect_uri", redirectURI+"/other") }, authBasic, 400, "invalid_grant"},
		{"redirect_uri missing", func(f url.Values) { f.Del("redirect_uri") }, authBasic, 400, "invalid_grant"},
		{"unknown code", func(f url.Values) { f.Set("code", "ac_nope") }, authBasic, 400, "invalid_grant"},
		{"missing code", func(f url.Values) { f.Del("code") }, authBasic, 400, "invalid_request"},
		{"missing grant_type", func(f url.Values) { f.Del("grant_type") }, authBasic, 400, "invalid_request"},
		{"unsupported grant_type", func(f url.Values) { f.Set("grant_type", "password") }, authBasic, 400, "unsupported_grant_type"},
		{"bad client: no credentials", func(url.Values) {}, authNone, 401, "invalid_client"},
		{"bad client: wrong secret in form", func(f url.Values) { f.Set("client_id", clientID); f.Set("client_secret", "wrong") }, authNone, 401, "invalid_client"},
		{"bad client: wrong id in form", func(f url.Values) { f.Set("client_id", "other"); f.Set("client_secret", clientSecret) }, authNone, 401, "invalid_client"},
		{"bad client: two methods", func(f url.Values) { f.Set("client_secret", clientSecret) }, authBasic, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, verifier := e.code()
			f := exchange(code, verifier)
			tt.mutate(f)
			resp, body := e.post("/token", f, tt.auth)
			wantOAuthError(t, resp, body, tt.status, tt.code)
			if strings.HasPrefix(tt.name, "PKCE") || strings.HasPrefix(tt.name, "redirect") {
				// A failed attempt burns the code, so a verifier
				// cannot be guessed at leisure.
				resp, body = e.post("/token", exchange(code, verifier), authBasic)
				wantOAuthError(t, resp, body, 400, "invalid_grant")
			}
		})
	}

	t.Run("bad client: wrong Basic secret", func(t *testing.T) {
		code, verifier := e.code()
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/token", strings.NewReader(exchange(code, verifier).Encode()))
		req.Header.Set("Content-Type", formContentType)
		req.SetBasicAuth(clientID, "wrong")
		resp, body := e.do(req)
		wantOAuthError(t, resp, body, 401, "invalid_client")
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
		}
		// The code survives a request that failed client
		// authentication: it never got as far as the code.
		if resp, body := e.post("/token", exchange(code, verifier), authBasic); resp.StatusCode != 200 {
			t.Errorf("code burnt by unauthenticated request: %d %v", resp.StatusCode, body)
		}
	})
	t.Run("GET", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/token", nil)
		resp, body := e.do(req)
		wantOAuthError(t, resp, body, 405, "invalid_request")
	})
	t.Run("JSON body", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/token", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		resp, body := e.do(req)
		wantOAuthError(t, resp, body, 400, "invalid_request")
	})
}

func TestCodeReplayRevokesTokens(t *testing.T) {
	e := newEnv(t, Config{})
	code, verifier := e.code()
	resp, first := e.post("/token", exchange(code, verifier), authBasic)
	if resp.StatusCode != 200 {
		t.Fatalf("first exchange: %d %v", resp.StatusCode, first)
	}
	access, refresh := first["access_token"].(string), first["refresh_token"].(string)

	resp, body := e.post("/token", exchange(code, verifier), authBasic)
	wantOAuthError(t, resp, body, 400, "invalid_grant")

	if e.s.Valid(access) {
		t.Error("access token from a replayed code still valid")
	}
	if resp, _ := e.userinfo(access); resp.StatusCode != 401 {
		t.Errorf("userinfo with revoked token: %d", resp.StatusCode)
	}
	resp, body = e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, authBasic)
	wantOAuthError(t, resp, body, 400, "invalid_grant")
	if got := e.s.Revoked(); !slices.Equal(got, []string{refresh, access}) {
		t.Errorf("Revoked = %v", got)
	}
	if e.s.TokenCalls() != 3 {
		t.Errorf("TokenCalls = %d", e.s.TokenCalls())
	}
}

func TestCodeExpiry(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
		ok      bool
	}{
		{"just in time", codeTTL - time.Second, true},
		{"expired", codeTTL, false},
		{"long expired", time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			code, verifier := e.code()
			e.clock.Advance(tt.advance)
			resp, body := e.post("/token", exchange(code, verifier), authBasic)
			if tt.ok {
				if resp.StatusCode != 200 {
					t.Errorf("got %d %v", resp.StatusCode, body)
				}
				return
			}
			wantOAuthError(t, resp, body, 400, "invalid_grant")
		})
	}
}

func TestIDToken(t *testing.T) {
	key := []byte("id-token-key")
	tests := []struct {
		name   string
		cfg    Config
		key    []byte
		claims map[string]any
	}{
		{
			name: "claims and defaults",
			cfg: Config{
				IDTokenClaims: map[string]any{"sub": "u-42", "email": "ada@example.com", "name": "Ada Lovelace"},
				IDTokenKey:    key,
			},
			key:    key,
			claims: map[string]any{"sub": "u-42", "email": "ada@example.com", "name": "Ada Lovelace", "aud": clientID, "nonce": "n-456"},
		},
		{
			name:   "configured claims override defaults",
			cfg:    Config{IDTokenClaims: map[string]any{"aud": "someone-else", "iss": "https://idp.example"}, IDTokenKey: key},
			key:    key,
			claims: map[string]any{"aud": "someone-else", "iss": "https://idp.example"},
		},
		{
			name:   "nil key signs with the client secret",
			cfg:    Config{IDTokenClaims: map[string]any{"sub": "u-1"}},
			key:    []byte(clientSecret),
			claims: map[string]any{"sub": "u-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			tok := e.tokens()
			raw, _ := tok["id_token"].(string)
			claims := jwt.MapClaims{}
			parsed, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return tt.key, nil },
				jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(e.clock.Now), jwt.WithIssuedAt())
			if err != nil || !parsed.Valid {
				t.Fatalf("id_token %q: %v", raw, err)
			}
			for k, v := range tt.claims {
				if claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, claims[k], v)
				}
			}
			if _, ok := tt.claims["iss"]; !ok && claims["iss"] != e.srv.URL {
				t.Errorf("iss = %v, want %s", claims["iss"], e.srv.URL)
			}
			if exp, _ := claims.GetExpirationTime(); exp == nil || !exp.Equal(e.clock.Now().Add(time.Hour)) {
				t.Errorf("exp = %v", exp)
			}
			if _, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return []byte("wrong"), nil }); err == nil {
				t.Error("id_token verifies with the wrong key")
			}
		})
	}

	t.Run("none without claims", func(t *testing.T) {
		if tok := newEnv(t, Config{IDTokenKey: key}).tokens(); tok["id_token"] != nil {
			t.Errorf("unexpected id_token in %v", tok)
		}
	})
}

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t, Config{ExpiresIn: 600, ExtraTokenFields: map[string]any{"tenant_id": "t1"}, IDTokenClaims: map[string]any{"sub": "u"}})
	first := e.tokens()
	rt1 := first["refresh_token"].(string)
	refresh := func(rt, scope string, a auth) (*http.Response, map[string]any) {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if scope != "" {
			f.Set("scope", scope)
		}
		return e.post("/token", f, a)
	}

	resp, second := refresh(rt1, "", authForm)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh: %d %v", resp.StatusCode, second)
	}
	// Same response shape as the code exchange.
	if !slices.Equal(sortedKeys(first), sortedKeys(second)) || second["expires_in"] != float64(600) || second["tenant_id"] != "t1" {
		t.Errorf("refresh response %v, code response %v", second, first)
	}
	rt2, at2 := second["refresh_token"].(string), second["access_token"].(string)
	if rt2 == rt1 || at2 == first["access_token"] || !e.s.Valid(at2) {
		t.Fatalf("tokens not renewed: %v", second)
	}
	if got := e.issuedTokens(); !slices.Equal(got, []string{first["access_token"].(string), at2}) {
		t.Errorf("Issued got %v", got)
	}

	tests := []struct {
		name   string
		rt     string
		scope  string
		status int
		code   string
	}{
		{"unknown", "rt_nope", "", 400, "invalid_grant"},
		{"wider scope", rt2, "openid admin", 400, "invalid_scope"},
		{"missing", "", "", 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := refresh(tt.rt, tt.scope, authBasic)
			wantOAuthError(t, resp, body, tt.status, tt.code)
		})
	}

	resp, third := refresh(rt2, "email", authBasic)
	if resp.StatusCode != 200 || third["scope"] != "email" {
		t.Fatalf("narrowed refresh: %d %v", resp.StatusCode, third)
	}
	rt3, at3 := third["refresh_token"].(string), third["access_token"].(string)

	// The rotated-out token is dead, and presenting it is taken as theft:
	// the grant's live tokens go too.
	resp, body := refresh(rt1, "", authBasic)
	wantOAuthError(t, resp, body, 400, "invalid_grant")
	if e.s.Valid(at3) || e.s.Valid(at2) {
		t.Error("reuse of a rotated refresh token left the grant alive")
	}
	resp, body = refresh(rt3, "", authBasic)
	wantOAuthError(t, resp, body, 400, "invalid_grant")
	if got := e.s.Revoked(); len(got) != 4 || got[0] != rt3 {
		t.Errorf("Revoked = %v, want rt3 then the three access tokens", got)
	}
}
