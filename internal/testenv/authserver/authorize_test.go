package authserver

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

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
