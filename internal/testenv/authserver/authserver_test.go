package authserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	clientID     = "widgetgate-client"
	clientSecret = "s3cret+/=&" // characters that need form-urlencoding in Basic auth
	redirectURI  = "https://gate.example/oauth/callback"
)

// fakeClock is a settable clock, safe for the server's goroutines.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one server under test behind a real HTTP server.
type env struct {
	t      *testing.T
	s      *Server
	srv    *httptest.Server
	clock  *fakeClock
	mu     sync.Mutex
	issued []string
}

// newEnv starts a server for cfg, filling in the client, a fake clock and
// an Issued hook that records tokens.
func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	e := &env{t: t, clock: &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}}
	if cfg.ClientID == "" {
		cfg.ClientID, cfg.ClientSecret = clientID, clientSecret
	}
	cfg.Now = e.clock.Now
	cfg.Issued = func(tok string) {
		e.mu.Lock()
		e.issued = append(e.issued, tok)
		e.mu.Unlock()
	}
	e.s = New(cfg)
	e.srv = httptest.NewServer(e.s)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) issuedTokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.issued)
}

// pkce returns a fresh verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	return verifier, s256(verifier)
}

// authQuery is a valid authorization request with the RFC names.
func authQuery(challenge string) url.Values {
	return url.Values{
		"client_id":             {clientID},
		"response_type":         {"code"},
		"redirect_uri":          {redirectURI},
		"scope":                 {"openid email calendar.read"},
		"state":                 {"st-123"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"nonce":                 {"n-456"},
	}
}

func (e *env) authorizeURL(q url.Values) string {
	return e.srv.URL + "/authorize?" + q.Encode()
}

// code runs authorize + Allow and returns the code and its verifier.
func (e *env) code() (code, verifier string) {
	e.t.Helper()
	verifier, challenge := pkce()
	loc, err := Consent(context.Background(), e.srv.Client(), e.authorizeURL(authQuery(challenge)), true)
	if err != nil {
		e.t.Fatal(err)
	}
	code = loc.Query().Get("code")
	if code == "" {
		e.t.Fatalf("no code in %s", loc)
	}
	return code, verifier
}

// exchange is the form of a valid code exchange.
func exchange(code, verifier string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
	}
}

// basic marks a form as needing HTTP Basic client authentication.
type auth int

const (
	authBasic auth = iota // Basic, id and secret form-urlencoded (RFC 6749 2.3.1)
	authForm              // client_id and client_secret in the body
	authNone
)

// post sends form to path with client authentication a and decodes a JSON
// object response (nil for an empty body).
func (e *env) post(path string, form url.Values, a auth) (*http.Response, map[string]any) {
	e.t.Helper()
	form = cloneValues(form)
	if a == authForm {
		form.Set("client_id", clientID)
		form.Set("client_secret", clientSecret)
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", formContentType)
	if a == authBasic {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) (*http.Response, map[string]any) {
	e.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(b) == 0 {
		return resp, nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("%s %s: body is not a JSON object: %v\n%s", req.Method, req.URL.Path, err, b)
	}
	return resp, m
}

// tokens exchanges a fresh code and returns the token response.
func (e *env) tokens() map[string]any {
	e.t.Helper()
	code, verifier := e.code()
	resp, body := e.post("/token", exchange(code, verifier), authBasic)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("token: %d %v", resp.StatusCode, body)
	}
	return body
}

// userinfo calls /userinfo with tok and returns status and body.
func (e *env) userinfo(tok string) (*http.Response, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/userinfo", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return e.do(req)
}

// wantOAuthError checks an RFC 6749 section 5.2 error response.
func wantOAuthError(t *testing.T, resp *http.Response, body map[string]any, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || body["error"] != code {
		t.Errorf("got %d %v, want %d error=%s", resp.StatusCode, body, status, code)
	}
	if _, ok := body["error_description"].(string); !ok {
		t.Errorf("no error_description in %v", body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func getPage(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestFullAllowFlow(t *testing.T) {
	profile := map[string]any{"data": map[string]any{"mail": "ada@example.com", "uid": 42, "display": "Ada Lovelace"}}
	e := newEnv(t, Config{
		AppName:          "Widget <Gate>",
		Profile:          profile,
		ExtraTokenFields: map[string]any{"tenant_id": "t1"},
	})
	verifier, challenge := pkce()
	q := authQuery(challenge)

	// The consent page, as a browser sees it.
	resp, page := getPage(t, e.authorizeURL(q))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != htmlContentType {
		t.Fatalf("authorize: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
	for _, want := range []string{
		"Widget &lt;Gate&gt; wants access to: openid, email, calendar.read",
		`<button type="submit" id="allow" name="decision" value="allow">Allow</button>`,
		`<button type="submit" id="deny" name="decision" value="deny">Deny</button>`,
		`<form method="post" action="authorize/decision">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("consent page lacks %q:\n%s", want, page)
		}
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("consent page can be framed")
	}

	loc, err := Consent(context.Background(), nil, e.authorizeURL(q), true)
	if err != nil {
		t.Fatal(err)
	}
	cb := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI || cb.Get("state") != "st-123" || cb.Get("code") == "" {
		t.Fatalf("callback = %s", loc)
	}
	if got := e.s.AuthorizeRequests(); len(got) != 2 || !reflect.DeepEqual(got[1], q) {
		t.Errorf("AuthorizeRequests = %v, want twice %v", got, q)
	}

	resp, tok := e.post("/token", exchange(cb.Get("code"), verifier), authBasic)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %v", resp.StatusCode, tok)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("token response may be cached")
	}
	access, _ := tok["access_token"].(string)
	want := map[string]any{
		"access_token":  access,
		"token_type":    "Bearer",
		"expires_in":    float64(3600),
		"refresh_token": tok["refresh_token"],
		"scope":         "openid email calendar.read",
		"tenant_id":     "t1",
	}
	if access == "" || tok["refresh_token"] == "" || !reflect.DeepEqual(tok, want) {
		t.Errorf("token response = %v, want %v (no id_token without IDTokenClaims)", tok, want)
	}
	if got := e.issuedTokens(); !slices.Equal(got, []string{access}) {
		t.Errorf("Issued got %v, want [%s]", got, access)
	}
	if !e.s.Valid(access) || e.s.TokenCalls() != 1 {
		t.Errorf("Valid = %v, TokenCalls = %d", e.s.Valid(access), e.s.TokenCalls())
	}

	resp, info := e.userinfo(access)
	wantInfo := map[string]any{"data": map[string]any{"mail": "ada@example.com", "uid": float64(42), "display": "Ada Lovelace"}}
	if resp.StatusCode != http.StatusOK || !reflect.DeepEqual(info, wantInfo) {
		t.Errorf("userinfo: %d %v", resp.StatusCode, info)
	}
}

func TestDeny(t *testing.T) {
	e := newEnv(t, Config{})
	_, challenge := pkce()
	q := authQuery(challenge)
	q.Set("redirect_uri", redirectURI+"?tenant=a%20b")
	loc, err := Consent(context.Background(), nil, e.authorizeURL(q), false)
	if err != nil {
		t.Fatal(err)
	}
	// The client's own query is kept as sent; the error parameters follow.
	want := redirectURI + "?tenant=a%20b&error=access_denied&error_description=The+user+denied+access&state=st-123"
	if loc.String() != want {
		t.Errorf("callback = %s\nwant       %s", loc, want)
	}
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	if len(e.s.codes) != 0 {
		t.Error("deny issued a code")
	}
}

func TestAuthorizeErrors(t *testing.T) {
	_, challenge := pkce()
	tests := []struct {
		name   string
		cfg    Config
		mutate func(q url.Values)
		code   string
		desc   string
	}{
		{"missing client_id", Config{}, func(q url.Values) { q.Del("client_id") }, "invalid_request", "Missing required parameter: client_id"},
		{"unknown client_id", Config{}, func(q url.Values) { q.Set("client_id", "evil") }, "invalid_client", "not found"},
		{"missing redirect_uri", Config{}, func(q url.Values) { q.Del("redirect_uri") }, "invalid_request", "Missing required parameter: redirect_uri"},
		{"relative redirect_uri", Config{}, func(q url.Values) { q.Set("redirect_uri", "/callback") }, "invalid_request", "Invalid redirect_uri"},
		{"non-http redirect_uri", Config{}, func(q url.Values) { q.Set("redirect_uri", "javascript://x/%0aalert(1)") }, "invalid_request", "Invalid redirect_uri"},
		{"redirect_uri with fragment", Config{}, func(q url.Values) { q.Set("redirect_uri", redirectURI+"#x") }, "invalid_request", "Invalid redirect_uri"},
		{"unregistered redirect_uri", Config{RedirectURIs: []string{"https://other.example/cb"}}, func(url.Values) {}, "invalid_request", "not registered"},
		{"duplicate parameter", Config{}, func(q url.Values) { q.Add("state", "again") }, "invalid_request", "Duplicate parameter: state"},
		{"missing response_type", Config{}, func(q url.Values) { q.Del("response_type") }, "invalid_request", "Missing required parameter: response_type"},
		{"implicit grant", Config{}, func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type", "response_type=code"},
		{"missing state", Config{}, func(q url.Values) { q.Del("state") }, "invalid_request", "Missing required parameter: state"},
		{"PKCE missing", Config{}, func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request", "Missing required parameter: code_challenge"},
		{"PKCE method missing", Config{}, func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request", "Missing required parameter: code_challenge_method"},
		{"PKCE plain", Config{}, func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request", "only S256"},
		{"PKCE malformed challenge", Config{}, func(q url.Values) { q.Set("code_challenge", "short") }, "invalid_request", "Invalid code_challenge"},
		{"client_id under its RFC name when mapped", Config{ParamNames: map[string]string{"client_id": "app_id"}}, func(url.Values) {}, "invalid_request", "Missing required parameter: app_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			q := authQuery(challenge)
			tt.mutate(q)
			resp, page := getPage(t, e.authorizeURL(q))
			// Errors are pages, never redirects to an unvalidated URI.
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("got %d Location=%q, want a 400 page", resp.StatusCode, resp.Header.Get("Location"))
			}
			wantCode := tt.code
			if !strings.Contains(page, `<span id="error">`+wantCode+`</span>`) || !strings.Contains(page, tt.desc) {
				t.Errorf("page lacks %s / %q:\n%s", wantCode, tt.desc, page)
			}
			if got := e.s.AuthorizeRequests(); len(got) != 1 || !reflect.DeepEqual(got[0], q) {
				t.Errorf("invalid request not recorded as sent: %v", got)
			}
			if _, err := Consent(context.Background(), nil, e.authorizeURL(q), true); err == nil || !strings.Contains(err.Error(), wantCode) {
				t.Errorf("Consent error = %v, want one naming %s", err, wantCode)
			}
		})
	}
}

func TestParamNames(t *testing.T) {
	e := newEnv(t, Config{ParamNames: map[string]string{
		"client_id":    "app_id",
		"redirect_uri": "callback",
		"scope":        "perms",
	}, ScopeSeparator: ","})
	verifier, challenge := pkce()
	q := authQuery(challenge)
	for rfc, custom := range map[string]string{"client_id": "app_id", "redirect_uri": "callback", "scope": "perms"} {
		q[custom] = q[rfc]
		q.Del(rfc)
	}
	q.Set("perms", "read,write")
	resp, page := getPage(t, e.authorizeURL(q))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "wants access to: read, write") {
		t.Fatalf("authorize: %d\n%s", resp.StatusCode, page)
	}
	loc, err := Consent(context.Background(), nil, e.authorizeURL(q), true)
	if err != nil {
		t.Fatal(err)
	}
	// The token endpoint keeps the RFC names.
	resp, tok := e.post("/token", exchange(loc.Query().Get("code"), verifier), authForm)
	if resp.StatusCode != http.StatusOK || tok["scope"] != "read,write" {
		t.Fatalf("token: %d %v", resp.StatusCode, tok)
	}
	if got := e.s.AuthorizeRequests()[0].Get("app_id"); got != clientID {
		t.Errorf("recorded app_id = %q", got)
	}
}

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

func TestConsentTicket(t *testing.T) {
	e := newEnv(t, Config{})
	_, challenge := pkce()
	_, page := getPage(t, e.authorizeURL(authQuery(challenge)))
	ticket := hiddenInputRE.FindStringSubmatch(page)[2]
	decide := func(ticket, choice string) (*http.Response, string) {
		resp, err := http.PostForm(e.srv.URL+"/authorize/decision", url.Values{ticketField: {ticket}, decisionField: {choice}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(ticket, choice string) int {
		resp, err := client.PostForm(e.srv.URL+"/authorize/decision", url.Values{ticketField: {ticket}, decisionField: {choice}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(ticket, "maybe"); got != 400 {
		t.Errorf("bogus decision: %d", got)
	}
	if got := post(ticket, decisionAllow); got != 302 {
		t.Errorf("allow: %d", got)
	}
	if resp, page := decide(ticket, decisionAllow); resp.StatusCode != 400 || !strings.Contains(page, "already answered") {
		t.Errorf("second decision: %d\n%s", resp.StatusCode, page)
	}
	if got := post("tx_forged", decisionAllow); got != 400 {
		t.Errorf("forged ticket: %d", got)
	}

	_, page = getPage(t, e.authorizeURL(authQuery(challenge)))
	ticket = hiddenInputRE.FindStringSubmatch(page)[2]
	e.clock.Advance(consentTTL)
	if got := post(ticket, decisionAllow); got != 400 {
		t.Errorf("expired ticket: %d", got)
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

func TestUserinfoErrors(t *testing.T) {
	e := newEnv(t, Config{ExpiresIn: 60})
	access := e.tokens()["access_token"].(string)
	tests := []struct {
		name      string
		header    string
		advance   time.Duration
		challenge string
	}{
		{"no token", "", 0, `Bearer realm="authserver"`},
		{"basic auth", "Basic eDp5", 0, `Bearer realm="authserver"`},
		{"unknown token", "Bearer at_nope", 0, `error="invalid_token"`},
		{"expired token", "Bearer " + access, 60 * time.Second, `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Advance(tt.advance)
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/userinfo", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, body := e.do(req)
			if resp.StatusCode != 401 || body["error"] != "invalid_token" {
				t.Errorf("got %d %v", resp.StatusCode, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, tt.challenge) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", got, tt.challenge)
			}
		})
	}
}

// TestConcurrentRedemption races many redemptions of one code: exactly one
// may win, and the replays then revoke what it got.
func TestConcurrentRedemption(t *testing.T) {
	e := newEnv(t, Config{Profile: map[string]any{"id": 1}})
	code, verifier := e.code()
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			form := exchange(code, verifier)
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", formContentType)
			req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
		// Independent full flows run alongside.
		wg.Go(func() {
			if err := e.flow(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok := slices.Index(statuses, 200); ok < 0 || slices.Index(statuses[ok+1:], 200) >= 0 {
		t.Errorf("statuses = %v, want exactly one 200", statuses)
	}
	if e.s.TokenCalls() != 2*n || len(e.s.AuthorizeRequests()) != n+1 {
		t.Errorf("TokenCalls = %d, authorize requests = %d", e.s.TokenCalls(), len(e.s.AuthorizeRequests()))
	}
}

// flow runs a whole authorization and token exchange, reporting failure
// as an error so it can run off the test goroutine.
func (e *env) flow() error {
	verifier, challenge := pkce()
	loc, err := Consent(context.Background(), nil, e.authorizeURL(authQuery(challenge)), true)
	if err != nil {
		return err
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/token", strings.NewReader(exchange(loc.Query().Get("code"), verifier).Encode()))
	req.Header.Set("Content-Type", formContentType)
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("token: %d %v", resp.StatusCode, err)
	}
	if !e.s.Valid(tok.AccessToken) {
		return fmt.Errorf("issued token %q not valid", tok.AccessToken)
	}
	return nil
}

func TestIntrospectionCopies(t *testing.T) {
	e := newEnv(t, Config{})
	e.tokens()
	e.s.AuthorizeRequests()[0].Set("state", "mutated")
	if e.s.AuthorizeRequests()[0].Get("state") != "st-123" {
		t.Error("AuthorizeRequests exposes internal state")
	}
}

func TestNewPanicsOnBadProfile(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New accepted a profile that cannot be encoded")
		}
	}()
	New(Config{Profile: map[string]any{"f": func() {}}})
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
