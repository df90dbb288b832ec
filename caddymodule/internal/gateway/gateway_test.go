package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/egress"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/refresh"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/upstream"
	"github.com/widgetgate/widgetgate/callerctx"
)

// The tests run the whole pipeline with an in-memory catalogue, resolver
// and verifier, and an httptest provider: no Vault, no Caddy.

// memCatalog is a Catalog of widgets loaded from memory.
type memCatalog map[string]*schema.Widget

func (c memCatalog) Lookup(widgetID, apiName string) (*schema.API, error) {
	w, ok := c[widgetID]
	if !ok {
		return nil, schema.ErrUnknownWidget
	}
	api, ok := w.APIs[apiName]
	if !ok {
		return nil, schema.ErrUnknownAPI
	}
	return api, nil
}

// memPassports is a Passports holding one passport per authKey, bound to
// every instance but "unbound".
type memPassports struct {
	mu        sync.Mutex
	bound     map[string]*passport.Passport // authKey → passport
	err       error                         // every Resolve fails with it
	refresh   func(stale *passport.Passport) (*passport.Passport, error)
	refreshes int
	optional  bool
}

func (m *memPassports) Resolve(ctx context.Context, instance, authKey string) (*passport.Passport, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	p, ok := m.bound[authKey]
	if !ok || instance == "unbound" {
		return nil, passport.ErrNotBound
	}
	return p, nil
}

func (m *memPassports) Refresh(ctx context.Context, stale *passport.Passport) (*passport.Passport, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refreshes++
	if m.refresh == nil {
		return nil, passport.ErrNotRefreshable
	}
	return m.refresh(stale)
}

func (m *memPassports) InstanceOptional() bool { return m.optional }

// memVerifier is a Verifier that accepts the token "good" as ctx.
type memVerifier struct {
	keys bool
	ctx  callerctx.Context
}

func (v memVerifier) HasKeys() bool { return v.keys }

func (v memVerifier) Verify(token, audience string) (callerctx.Context, error) {
	if token != "good" || audience != "widgetgate" {
		return callerctx.Context{}, callerctx.ErrInvalid
	}
	return v.ctx, nil
}

// provider is the httptest stand-in. It accepts only the tokens in
// accept, echoes the token it got and the one of the request before (so
// masking shows), and counts requests.
type provider struct {
	srv    *httptest.Server
	hits   atomic.Int32
	accept sync.Map // token → true
	mu     sync.Mutex
	last   string // the token of the request before
}

func newProvider(t *testing.T) *provider {
	pv := &provider{}
	release := make(chan struct{})
	pv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pv.hits.Add(1)
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		pv.mu.Lock()
		prev := pv.last
		pv.last = token
		pv.mu.Unlock()
		if _, ok := pv.accept.Load(token); !ok {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_token"}`)
			return
		}
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, strings.Repeat("x", 2048))
		case "/hang":
			select { // until the gateway gives up, or the test ends
			case <-r.Context().Done():
			case <-release:
			}
		case "/br":
			w.Header().Set("Content-Encoding", "br")
			io.WriteString(w, "compressed")
		default:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{
				"path": r.URL.EscapedPath(), "query": r.URL.RawQuery, "user": r.Header.Get("X-User"),
				"auth": token, "before": prev,
			})
		}
	}))
	t.Cleanup(func() { close(release); pv.srv.Close() })
	pv.accept.Store("good-token", true)
	return pv
}

// closedURL is an http URL on which nothing listens.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// testSchema has one API per behaviour under test; base is the provider.
func testSchema(base, down string) string {
	api := func(name, url, key string, headers string) string {
		return `{"name": "` + name + `", "url": "` + url + `", "method": "GET", "authenticationKey": "` + key + `",
			"headers": {"Authorization": "Bearer {authorization.` + key + `.token}"` + headers + `}}`
	}
	return `{
		"authentications": [
			{"label": "Cal", "authenticationType": "passport", "authKey": "cal", "metadata": {"passportProvider": "google"}},
			{"label": "Any", "authenticationType": "passport", "authKey": "any"}
		],
		"authenticatedApis": [
			` + api("events", base+"/events?orderBy=startTime", "cal", "") + `,
			` + api("eventsOf", base+"/calendars/{param.calendarId}/events", "cal", "") + `,
			` + api("whoami", base+"/me", "any", `, "X-User": "{user.id}"`) + `,
			` + api("big", base+"/big", "any", "") + `,
			` + api("hang", base+"/hang", "any", "") + `,
			` + api("br", base+"/br", "any", "") + `,
			` + api("down", down+"/events", "any", "") + `
		]
	}`
}

type fixture struct {
	t         *testing.T
	provider  *provider
	passports *memPassports
	cfg       Config
}

// newFixture builds a gateway's config: widget "cal" calling the test
// provider, passports for "cal" (google) and "any" (microsoft), headers
// mode, small limits.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	pv := newProvider(t)
	allowAll := func(string) bool { return true }
	w, err := schema.LoadFS("cal", "cal", fstest.MapFS{"schema.json": {Data: []byte(testSchema(pv.srv.URL, closedURL(t)))}},
		schema.Options{AllowHTTP: true, AllowIPHost: allowAll})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := egress.ParsePolicy([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pps := &memPassports{bound: map[string]*passport.Passport{
		"cal": {ID: "pp-cal", Provider: "google", Status: passport.StatusActive, AccessToken: "good-token", RefreshToken: "r"},
		"any": {ID: "pp-any", Provider: "microsoft", Status: passport.StatusActive, AccessToken: "good-token", RefreshToken: "r"},
	}}
	f := &fixture{t: t, provider: pv, passports: pps}
	f.cfg = Config{
		Catalog: memCatalog{"cal": w}, Passports: pps, Client: f.client(upstream.Config{Egress: policy, Timeout: 10 * time.Second}),
		Verifier:      memVerifier{keys: true, ctx: callerctx.Context{Widget: "cal", Instance: "screen", User: "u1"}},
		CanRefresh:    func(p *passport.Passport) bool { return p.RefreshToken != "" },
		CallerContext: CallerHeaders, InstanceHeader: "X-Widget-Instance", UserHeader: "X-Widget-User-Id",
		ContextHeader: "X-Widget-Context", ContextAudience: "widgetgate",
		Limits:           Limits{MaxBody: 256, MaxParams: 4, MaxName: 16, MaxValue: 32},
		MaxResponseBytes: 1024,
	}
	return f
}

// client is an upstream client closed when the test ends.
func (f *fixture) client(cfg upstream.Config) *upstream.Client {
	c := upstream.NewClient(cfg)
	f.t.Cleanup(c.Close)
	return c
}

// call is one request to the gateway.
type call struct {
	method, path, body, query string
	header                    map[string]string
}

func (c call) request() *Request {
	h := http.Header{"X-Widget-Instance": {"screen"}}
	for k, v := range c.header {
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
	}
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	return &Request{Method: method, Path: c.path, RawQuery: c.query, Header: h, Body: io.NopCloser(strings.NewReader(c.body))}
}

// answer is what the gateway answered: a problem, or what Serve wrote.
type answer struct {
	problem *problem.Problem
	rec     *httptest.ResponseRecorder
	env     struct {
		StatusCode int             `json:"statusCode"`
		Body       json.RawMessage `json:"body"`
	}
}

// callWith makes c on a new fixture, changed by setup (nil: none) first.
func callWith(t *testing.T, setup func(*fixture), c call) (*fixture, answer) {
	t.Helper()
	f := newFixture(t)
	if setup != nil {
		setup(f)
	}
	return f, f.do(t, t.Context(), New(f.cfg), c)
}

func (f *fixture) do(t *testing.T, ctx context.Context, g *Gateway, c call) answer {
	t.Helper()
	res, p := g.Call(ctx, c.request())
	if p != nil {
		if res.envelope != nil || res.resp != nil {
			t.Fatalf("a problem came with an answer to serve")
		}
		return answer{problem: p}
	}
	a := answer{rec: httptest.NewRecorder()}
	if err := res.Serve(a.rec); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if !res.Raw {
		if err := json.Unmarshal(a.rec.Body.Bytes(), &a.env); err != nil {
			t.Fatalf("envelope %q: %v", a.rec.Body, err)
		}
	}
	return a
}

const calls = "/sidecar/widgets/cal/apis/"

// TestProblems covers every problem code of the contract: status, code,
// the fields that help, and whether the provider was reached.
func TestProblems(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(f *fixture)
		call   call
		status int
		code   string
		param  string // the problem's param, when it names one
		api    string // the problem's api, when it is tagged
		reason string
		retry  int  // Retry-After seconds
		sent   bool // the provider was reached
		racy   bool // whether the provider was reached is timing's business
	}{
		{name: "route", call: call{path: "/sidecar/widgets/cal"}, status: 404, code: "not_found"},
		{name: "method", call: call{method: "GET", path: calls + "events"}, status: 405, code: "method_not_allowed"},
		{name: "invalid json", call: call{path: calls + "events", body: `{"params": `}, status: 400, code: "invalid_json"},
		{name: "override", call: call{path: calls + "events", body: `{"url": "http://evil"}`}, status: 400, code: "override_not_allowed"},
		{name: "invalid param type", call: call{path: calls + "events", body: `{"params": {"a": null}}`}, status: 400, code: "invalid_param", param: "a"},
		{name: "invalid param in query", call: call{method: "GET", path: calls + "events/raw", query: "a=1&a=2"}, status: 400, code: "invalid_param", param: "a"},
		{name: "too large", call: call{path: calls + "events", body: `{"params": {"a": "` + strings.Repeat("x", 300) + `"}}`}, status: 413, code: "request_too_large"},
		{name: "missing instance", call: call{path: calls + "events", header: map[string]string{"X-Widget-Instance": ""}}, status: 400, code: "missing_instance"},
		{name: "invalid instance", call: call{path: calls + "events", header: map[string]string{"X-Widget-Instance": "a/b"}}, status: 400, code: "invalid_instance"},
		{name: "invalid user header", call: call{path: calls + "whoami", header: map[string]string{"X-Widget-User-Id": "a\x01"}}, status: 400, code: "invalid_param", param: "user.id"},
		{name: "unknown widget", call: call{path: "/sidecar/widgets/nope/apis/events"}, status: 404, code: "unknown_widget"},
		{name: "unknown api", call: call{path: calls + "nope"}, status: 404, code: "unknown_api", api: "nope"},
		{name: "missing param", call: call{path: calls + "eventsOf"}, status: 400, code: "missing_param", param: "calendarId", api: "eventsOf"},
		{name: "missing user", call: call{path: calls + "whoami"}, status: 400, code: "missing_param", param: "user.id", api: "whoami"},
		{name: "path traversal", call: call{path: calls + "eventsOf", body: `{"params": {"calendarId": ".."}}`}, status: 400, code: "invalid_param", param: "calendarId", api: "eventsOf"},
		{name: "fixed query key", call: call{path: calls + "events", body: `{"params": {"orderBy": "x"}}`}, status: 400, code: "invalid_param", param: "orderBy", api: "events"},
		{name: "not bound", call: call{path: calls + "events", header: map[string]string{"X-Widget-Instance": "unbound"}}, status: 401, code: "authentication_required", api: "events"},
		{name: "inactive", setup: func(f *fixture) { f.passports.err = passport.ErrInactive }, call: call{path: calls + "events"}, status: 401, code: "authentication_required", api: "events"},
		{name: "reconnect required", setup: func(f *fixture) { f.passports.err = refresh.ErrReconnectRequired }, call: call{path: calls + "events"}, status: 401, code: "authentication_required", api: "events", reason: passport.StatusReconnectRequired},
		{name: "provider mismatch", setup: func(f *fixture) { f.passports.bound["cal"].Provider = "microsoft" }, call: call{path: calls + "events"}, status: 403, code: "passport_provider_mismatch", api: "events"},
		{name: "vault", setup: func(f *fixture) { f.passports.err = errors.New("connection refused") }, call: call{path: calls + "events"}, status: 503, code: "vault_unavailable", api: "events", retry: 5},
		{name: "refresh failed", setup: func(f *fixture) { f.passports.err = refresh.ErrFailed }, call: call{path: calls + "events"}, status: 502, code: "token_refresh_failed", api: "events", retry: 30},
		{name: "unreachable", call: call{path: calls + "down"}, status: 502, code: "upstream_unreachable", api: "down"},
		{name: "too large answer", call: call{path: calls + "big"}, status: 502, code: "upstream_response_too_large", api: "big", sent: true},
		{name: "unsupported encoding", call: call{path: calls + "br"}, status: 502, code: "upstream_unsupported_encoding", api: "br", sent: true},
		{name: "egress denied", setup: func(f *fixture) {
			f.cfg.Client = f.client(upstream.Config{}) // no egress_allow: loopback refused
		}, call: call{path: calls + "events"}, status: 502, code: "egress_denied", api: "events"},
		{name: "timeout", setup: func(f *fixture) {
			p, _ := egress.ParsePolicy([]string{"127.0.0.1"})
			f.cfg.Client = f.client(upstream.Config{Egress: p, Timeout: 50 * time.Millisecond})
		}, call: call{path: calls + "hang"}, status: 504, code: "upstream_timeout", api: "hang", racy: true},
		// Signed caller contexts.
		{name: "signed: no context", setup: signed, call: call{path: calls + "events"}, status: 401, code: "invalid_caller_context"},
		{name: "signed: bad context", setup: signed, call: call{path: calls + "events", header: map[string]string{"X-Widget-Context": "forged"}}, status: 401, code: "invalid_caller_context"},
		{name: "signed: keys not loaded", setup: func(f *fixture) {
			signed(f)
			f.cfg.Verifier = memVerifier{}
		}, call: call{path: calls + "events", header: map[string]string{"X-Widget-Context": "good"}}, status: 503, code: "vault_unavailable", retry: 5},
		{name: "signed: other widget", setup: func(f *fixture) {
			signed(f)
			f.cfg.Verifier = memVerifier{keys: true, ctx: callerctx.Context{Widget: "other", Instance: "screen"}}
		}, call: call{path: calls + "events", header: map[string]string{"X-Widget-Context": "good"}}, status: 403, code: "widget_mismatch"},
		{name: "signed: invalid instance", setup: func(f *fixture) {
			signed(f)
			f.cfg.Verifier = memVerifier{keys: true, ctx: callerctx.Context{Widget: "cal", Instance: "a/b"}}
		}, call: call{path: calls + "events", header: map[string]string{"X-Widget-Context": "good"}}, status: 401, code: "invalid_caller_context"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, a := callWith(t, tc.setup, tc.call)
			p := a.problem
			if p == nil {
				t.Fatalf("got %d %s, want problem %s", a.rec.Code, a.rec.Body, tc.code)
			}
			if p.Status != tc.status || p.Code != tc.code || p.Param != tc.param || p.API != tc.api || p.Reason != tc.reason || p.RetryAfter != tc.retry {
				t.Errorf("got %+v, want %d %s param %q api %q reason %q retry %d", p, tc.status, tc.code, tc.param, tc.api, tc.reason, tc.retry)
			}
			if p.Message == "" {
				t.Error("problem without a message")
			}
			if strings.Contains(p.Message, "good-token") {
				t.Errorf("message carries the token: %s", p.Message)
			}
			if sent := f.provider.hits.Load() > 0; sent != tc.sent && !tc.racy {
				t.Errorf("provider reached: %v, want %v", sent, tc.sent)
			}
		})
	}
}

func signed(f *fixture) { f.cfg.CallerContext = CallerSigned }

// TestMethodNotAllowedAllow checks the methods a 405 offers.
func TestMethodNotAllowedAllow(t *testing.T) {
	f := newFixture(t)
	g := New(f.cfg)
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", calls + "events", "POST"},
		{"PUT", calls + "events/raw", "GET, POST"},
	} {
		a := f.do(t, t.Context(), g, call{method: tc.method, path: tc.path})
		if a.problem == nil || a.problem.Code != "method_not_allowed" || a.problem.Allow != tc.allow {
			t.Errorf("%s %s: got %+v, want 405 Allow %q", tc.method, tc.path, a.problem, tc.allow)
		}
	}
}

// TestClientClosed: a caller gone while the passport is resolved gets
// 499, not 503.
func TestClientClosed(t *testing.T) {
	f := newFixture(t)
	f.passports.err = context.Canceled
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	a := f.do(t, ctx, New(f.cfg), call{path: calls + "events"})
	if a.problem == nil || a.problem.Status != 499 || a.problem.Code != "client_closed" {
		t.Fatalf("got %+v, want 499 client_closed", a.problem)
	}
}

// TestErrorOrder: with several faults in one call, the contract's first
// wins: bad call → unknown widget/api → no passport → provider mismatch →
// Vault → upstream.
func TestErrorOrder(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fixture)
		call  call
		code  string
	}{
		{"bad call before unknown widget", nil,
			call{path: "/sidecar/widgets/nope/apis/events", body: `{"params": [`, header: map[string]string{"X-Widget-Instance": "unbound"}}, "invalid_json"},
		{"caller headers before unknown widget", nil,
			call{path: "/sidecar/widgets/nope/apis/events", header: map[string]string{"X-Widget-Instance": ""}}, "missing_instance"},
		{"unknown widget before no passport", nil,
			call{path: "/sidecar/widgets/nope/apis/events", header: map[string]string{"X-Widget-Instance": "unbound"}}, "unknown_widget"},
		{"unknown api before Vault", func(f *fixture) { f.passports.err = errors.New("vault down") },
			call{path: calls + "nope"}, "unknown_api"},
		{"schema checks before no passport", nil,
			call{path: calls + "eventsOf", header: map[string]string{"X-Widget-Instance": "unbound"}}, "missing_param"},
		{"no passport before upstream", nil,
			call{path: calls + "down", header: map[string]string{"X-Widget-Instance": "unbound"}}, "authentication_required"},
		{"provider mismatch before upstream", func(f *fixture) {
			f.passports.bound["cal"].Provider = "microsoft"
			f.cfg.Client = f.client(upstream.Config{})
		},
			call{path: calls + "events"}, "passport_provider_mismatch"},
		{"Vault before upstream", func(f *fixture) { f.passports.err = errors.New("vault down") },
			call{path: calls + "down"}, "vault_unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, a := callWith(t, tc.setup, tc.call)
			if a.problem == nil || a.problem.Code != tc.code {
				t.Fatalf("got %+v, want %s", a.problem, tc.code)
			}
			if f.provider.hits.Load() != 0 {
				t.Error("the provider was reached")
			}
		})
	}
}

// TestRefreshRetry covers the 401 from the provider: one forced refresh
// and one retry, masking every token sent, and the cases where the 401
// goes to the widget as the provider sent it.
func TestRefreshRetry(t *testing.T) {
	stale := func(f *fixture) { f.passports.bound["cal"].AccessToken = "stale-token" }
	fresh := func(f *fixture) {
		f.provider.accept.Store("fresh-token", true)
		f.passports.refresh = func(p *passport.Passport) (*passport.Passport, error) {
			q := *p
			q.AccessToken = "fresh-token"
			return &q, nil
		}
	}
	tests := []struct {
		name      string
		setup     func(f *fixture)
		raw       bool
		status    int    // the envelope's statusCode, or the raw status
		code      string // else the problem
		reason    string
		hits      int
		refreshes int
	}{
		{name: "refreshed and retried", setup: func(f *fixture) { stale(f); fresh(f) }, status: 200, hits: 2, refreshes: 1},
		{name: "raw: refreshed and retried", setup: func(f *fixture) { stale(f); fresh(f) }, raw: true, status: 200, hits: 2, refreshes: 1},
		{name: "second 401 goes to the widget", setup: func(f *fixture) {
			stale(f)
			f.passports.refresh = func(p *passport.Passport) (*passport.Passport, error) {
				q := *p
				q.AccessToken = "also-refused"
				return &q, nil
			}
		}, status: 401, hits: 2, refreshes: 1},
		{name: "refreshed moments ago", setup: func(f *fixture) {
			stale(f)
			f.passports.refresh = func(*passport.Passport) (*passport.Passport, error) { return nil, refresh.ErrRecentlyRefreshed }
		}, status: 401, hits: 1, refreshes: 1},
		{name: "raw: refreshed moments ago", setup: func(f *fixture) {
			stale(f)
			f.passports.refresh = func(*passport.Passport) (*passport.Passport, error) { return nil, refresh.ErrRecentlyRefreshed }
		}, raw: true, status: 401, hits: 1, refreshes: 1},
		{name: "not refreshable", setup: func(f *fixture) { stale(f); fresh(f); f.cfg.CanRefresh = nil }, status: 401, hits: 1},
		{name: "no refresh token", setup: func(f *fixture) { stale(f); fresh(f); f.passports.bound["cal"].RefreshToken = "" }, status: 401, hits: 1},
		{name: "refresh failed", setup: func(f *fixture) {
			stale(f)
			f.passports.refresh = func(*passport.Passport) (*passport.Passport, error) { return nil, refresh.ErrFailed }
		}, code: "token_refresh_failed", hits: 1, refreshes: 1},
		{name: "revoked on refresh", setup: func(f *fixture) {
			stale(f)
			f.passports.refresh = func(*passport.Passport) (*passport.Passport, error) { return nil, refresh.ErrReconnectRequired }
		}, code: "authentication_required", reason: passport.StatusReconnectRequired, hits: 1, refreshes: 1},
		{name: "valid token: no refresh", setup: fresh, status: 200, hits: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.setup(f)
			path := calls + "events"
			if tc.raw {
				path += "/raw"
			}
			a := f.do(t, t.Context(), New(f.cfg), call{path: path})
			switch {
			case tc.code != "":
				if a.problem == nil || a.problem.Code != tc.code || a.problem.Reason != tc.reason || a.problem.API != "events" {
					t.Fatalf("got %+v, want %s (reason %q)", a.problem, tc.code, tc.reason)
				}
			case a.problem != nil:
				t.Fatalf("unexpected problem %+v", a.problem)
			case tc.raw:
				if a.rec.Code != tc.status {
					t.Errorf("raw status %d, want %d", a.rec.Code, tc.status)
				}
				if got := a.rec.Header().Get("Content-Security-Policy"); got != "sandbox" {
					t.Errorf("raw CSP %q, want sandbox", got)
				}
			default:
				if a.rec.Code != 200 || a.env.StatusCode != tc.status {
					t.Errorf("got %d with statusCode %d, want 200 with %d", a.rec.Code, a.env.StatusCode, tc.status)
				}
				if got := a.rec.Header().Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type %q", got)
				}
			}
			if a.rec != nil {
				// Both tokens sent are masked: the one refused and the fresh one.
				for _, tok := range []string{"stale-token", "fresh-token", "good-token"} {
					if strings.Contains(a.rec.Body.String(), tok) {
						t.Errorf("answer carries %s: %s", tok, a.rec.Body)
					}
				}
			}
			if got := int(f.provider.hits.Load()); got != tc.hits {
				t.Errorf("provider hit %d times, want %d", got, tc.hits)
			}
			if f.passports.refreshes != tc.refreshes {
				t.Errorf("%d refreshes, want %d", f.passports.refreshes, tc.refreshes)
			}
		})
	}
}

// TestAnswers checks successful calls: the rendered request the provider
// saw, envelope and raw mode, GET params for raw mode, {user.id}, and an
// optional instance with a static binding for every instance.
func TestAnswers(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(f *fixture)
		call     call
		raw      bool
		wantBody []string
	}{
		{name: "envelope", call: call{path: calls + "events", body: `{"params": {"maxResults": 3}}`},
			wantBody: []string{`"path":"/events"`, `"query":"orderBy=startTime\u0026maxResults=3"`}},
		{name: "path param escaped", call: call{path: calls + "eventsOf", body: `{"params": {"calendarId": "a b@c"}}`},
			wantBody: []string{`"path":"/calendars/a%20b@c/events"`}},
		{name: "user id", call: call{path: calls + "whoami", header: map[string]string{"X-Widget-User-Id": "u-42"}},
			wantBody: []string{`"user":"u-42"`}},
		{name: "signed context", setup: signed, call: call{path: calls + "whoami", header: map[string]string{"X-Widget-Context": "good", "X-Widget-User-Id": "ignored"}},
			wantBody: []string{`"user":"u1"`}},
		{name: "raw GET", raw: true, call: call{method: "GET", path: calls + "events/raw", query: "maxResults=2"},
			wantBody: []string{`"query":"orderBy=startTime\u0026maxResults=2"`}},
		{name: "raw POST", raw: true, call: call{path: calls + "events/raw", body: `{"params": {"maxResults": 1}}`},
			wantBody: []string{`"query":"orderBy=startTime\u0026maxResults=1"`}},
		{name: "instance optional", setup: func(f *fixture) { f.passports.optional = true },
			call: call{path: calls + "events", header: map[string]string{"X-Widget-Instance": ""}}, wantBody: []string{`"path":"/events"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, a := callWith(t, tc.setup, tc.call)
			if a.problem != nil {
				t.Fatalf("unexpected problem %+v", a.problem)
			}
			if a.rec.Code != 200 || !tc.raw && a.env.StatusCode != 200 {
				t.Fatalf("got %d %s", a.rec.Code, a.rec.Body)
			}
			for _, w := range tc.wantBody {
				if !strings.Contains(a.rec.Body.String(), w) {
					t.Errorf("answer %s lacks %s", a.rec.Body, w)
				}
			}
			if strings.Contains(a.rec.Body.String(), "good-token") {
				t.Errorf("answer carries the token: %s", a.rec.Body)
			}
		})
	}
}

// TestResultAPI: the Result names the API called even with a problem, so
// metrics can count it; and nothing when the lookup failed.
func TestResultAPI(t *testing.T) {
	f := newFixture(t)
	g := New(f.cfg)
	res, p := g.Call(t.Context(), call{path: calls + "eventsOf/raw"}.request())
	if p == nil || res.API == nil || res.API.Name != "eventsOf" || !res.Raw {
		t.Errorf("got %+v, %+v; want the API eventsOf, raw, and a problem", res, p)
	}
	res.Close()
	res, p = g.Call(t.Context(), call{path: calls + "nope"}.request())
	if p == nil || res.API != nil {
		t.Errorf("got %+v, %+v; want no API", res, p)
	}
}

// TestResultClose: a result closed unserved releases the provider's
// response (the connection goes back to the pool or is closed).
func TestResultClose(t *testing.T) {
	f := newFixture(t)
	g := New(f.cfg)
	for _, path := range []string{calls + "events", calls + "events/raw"} {
		res, p := g.Call(t.Context(), call{path: path}.request())
		if p != nil {
			t.Fatalf("%s: %+v", path, p)
		}
		res.Close()
		res.Close() // twice is harmless
		if err := res.Serve(httptest.NewRecorder()); err != nil {
			t.Errorf("%s: Serve after Close: %v", path, err)
		}
	}
}
