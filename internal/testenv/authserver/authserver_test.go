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
