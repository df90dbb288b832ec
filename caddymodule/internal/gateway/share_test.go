package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/egress"
	"github.com/widgetgate/widgetgate/caddymodule/internal/fanout"
	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/upstream"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

// The fan-out stage in the pipeline: what is shared, what never is, and
// what the caller is told. The provider answers with a counter, so two
// calls that shared an answer show the same number.

// byInstance is a Passports binding each instance its own passport.
type byInstance map[string]*passport.Passport

func (b byInstance) Resolve(_ context.Context, instance, _ string) (*passport.Passport, error) {
	if p, ok := b[instance]; ok {
		return p, nil
	}
	return nil, passport.ErrNotBound
}
func (byInstance) Refresh(context.Context, *passport.Passport) (*passport.Passport, error) {
	return nil, passport.ErrNotRefreshable
}
func (byInstance) InstanceOptional() bool { return false }

type shareFixture struct {
	hits      atomic.Int64
	answer    atomic.Value // func(w, r) overriding the counter answer
	passports byInstance
	stage     *fanout.Stage
	gateway   *Gateway
}

// newShareFixture builds a gateway with a fan-out stage whose clock is now
// (nil: the real one) and whose APIs all have ttl.
func newShareFixture(t testing.TB, ttl time.Duration, cfg fanout.Config, now ...func() time.Time) *shareFixture {
	t.Helper()
	f := &shareFixture{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.hits.Add(1)
		if h, ok := f.answer.Load().(func(http.ResponseWriter, *http.Request)); ok && h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"n":%d}`, n)
	}))
	t.Cleanup(srv.Close)
	api := func(name, method, url, headers string) string {
		return `{"name": "` + name + `", "url": "` + srv.URL + url + `", "method": "` + method + `", "authenticationKey": "cal",
			"headers": {"Authorization": "Bearer {authorization.cal.token}"` + headers + `}}`
	}
	sch := `{
		"authentications": [{"label": "Cal", "authenticationType": "passport", "authKey": "cal"}],
		"authenticatedApis": [
			` + api("events", "GET", "/events", "") + `,
			` + api("eventsOf", "GET", "/calendars/{param.calendarId}/events", "") + `,
			` + api("whoami", "GET", "/me", `, "X-User": "{user.id}"`) + `,
			` + api("eventsJSON", "GET", "/events", `, "Accept": "application/json"`) + `,
			` + api("eventsXML", "GET", "/events", `, "Accept": "application/xml"`) + `,
			` + api("create", "POST", "/events", "") + `
		]}`
	w, err := schema.LoadFS("cal", "cal", fstest.MapFS{"schema.json": {Data: []byte(sch)}},
		schema.Options{AllowHTTP: true, AllowIPHost: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	policy, _ := egress.ParsePolicy([]string{"127.0.0.1"})
	client := upstream.NewClient(upstream.Config{Egress: policy, Timeout: 10 * time.Second})
	t.Cleanup(client.Close)
	f.passports = byInstance{
		"a":  {ID: "pp-1", Provider: "google", Status: passport.StatusActive, AccessToken: "token-1"},
		"a2": {ID: "pp-1", Provider: "google", Status: passport.StatusActive, AccessToken: "token-1"},
		"b":  {ID: "pp-2", Provider: "google", Status: passport.StatusActive, AccessToken: "token-2"},
	}
	var clock func() time.Time
	if len(now) > 0 {
		clock = now[0]
	}
	f.stage = fanout.New(cfg, clock)
	f.gateway = New(Config{
		Catalog: memCatalog{"cal": w}, Passports: f.passports, Client: client,
		Fanout: f.stage, CacheTTL: func(string, string) time.Duration { return ttl },
		CallerContext: CallerHeaders, InstanceHeader: "X-Widget-Instance", UserHeader: "X-Widget-User-Id",
		Limits: Limits{MaxBody: 1024, MaxParams: 4, MaxName: 16, MaxValue: 32}, MaxResponseBytes: 1 << 20,
	})
	return f
}

// shareCall is a call of api by instance, with params and a user.
type shareCall struct {
	instance, api, params, user string
	raw                         bool
}

// served is what a call got: the handler's headers and body.
type served struct {
	status int
	header http.Header
	body   string
}

func (f *shareFixture) do(t testing.TB, c shareCall) served {
	t.Helper()
	h := http.Header{"X-Widget-Instance": {c.instance}}
	if c.user != "" {
		h.Set("X-Widget-User-Id", c.user)
	}
	body := `{"params": {` + c.params + `}}`
	path := calls + c.api
	method := http.MethodPost
	if c.raw {
		path += "/raw"
	}
	res, p := f.gateway.Call(t.Context(), &Request{Method: method, Path: path, Header: h, Body: io.NopCloser(strings.NewReader(body))})
	rec := httptest.NewRecorder()
	if p != nil {
		res.CacheHeaders(rec.Header())
		problem.Write(rec, p)
		return served{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	}
	if err := res.Serve(rec); err != nil {
		t.Fatal(err)
	}
	return served{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

func TestStageNeverSharesAcrossDifferentCalls(t *testing.T) {
	tests := []struct {
		name   string
		first  shareCall
		second shareCall
		change func(f *shareFixture) // between the two calls
	}{
		{"instances bound to different passports", shareCall{instance: "a", api: "events"}, shareCall{instance: "b", api: "events"}, nil},
		{"the same passport, different user.id", shareCall{instance: "a", api: "whoami", user: "u1"}, shareCall{instance: "a", api: "whoami", user: "u2"}, nil},
		{"different params", shareCall{instance: "a", api: "eventsOf", params: `"calendarId": "one"`}, shareCall{instance: "a", api: "eventsOf", params: `"calendarId": "two"`}, nil},
		{"the same URL, different static headers", shareCall{instance: "a", api: "eventsJSON"}, shareCall{instance: "a", api: "eventsXML"}, nil},
		{"before and after a reconnect", shareCall{instance: "a", api: "events"}, shareCall{instance: "a", api: "events"}, func(f *shareFixture) {
			p := *f.passports["a"]
			p.ConnectedAt = time.Now()
			f.passports["a"] = &p
		}},
		{"connected as another account", shareCall{instance: "a", api: "events"}, shareCall{instance: "a", api: "events"}, func(f *shareFixture) {
			p := *f.passports["a"]
			p.AccountID = "someone-else"
			f.passports["a"] = &p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newShareFixture(t, time.Hour, fanout.Config{})
			one := f.do(t, tt.first)
			if tt.change != nil {
				tt.change(f)
			}
			two := f.do(t, tt.second)
			if one.body == two.body || f.hits.Load() != 2 {
				t.Fatalf("the calls shared an answer: %s and %s, %d provider requests", one.body, two.body, f.hits.Load())
			}
			if got := two.header.Get("Widgetgate-Cache"); got != "miss" {
				t.Fatalf("second call: Widgetgate-Cache %q, want miss", got)
			}
		})
	}
	t.Run("control: the same call is shared", func(t *testing.T) {
		f := newShareFixture(t, time.Hour, fanout.Config{})
		one := f.do(t, shareCall{instance: "a", api: "events"})
		// Another instance bound to the same passport shares it too.
		two := f.do(t, shareCall{instance: "a2", api: "events"})
		if one.body != two.body || f.hits.Load() != 1 || two.header.Get("Widgetgate-Cache") != "hit" || two.header.Get("Age") != "0" {
			t.Fatalf("%s / %s %v after %d provider requests", one.body, two.body, two.header, f.hits.Load())
		}
	})
}

func TestStageBypassAndNotCached(t *testing.T) {
	tests := []struct {
		name    string
		call    shareCall
		answer  func(w http.ResponseWriter, r *http.Request)
		wantHdr string
	}{
		{"POST API", shareCall{instance: "a", api: "create"}, nil, "bypass"},
		{"raw mode", shareCall{instance: "a", api: "events", raw: true}, nil, "bypass"},
		{"500", shareCall{instance: "a", api: "events"}, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }, "miss"},
		{"401", shareCall{instance: "a", api: "events"}, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) }, "miss"},
		{"no-store", shareCall{instance: "a", api: "events"}, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			io.WriteString(w, "{}")
		}, "miss"},
		{"echoes the token (masked)", shareCall{instance: "a", api: "events"}, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"you sent":"`+r.Header.Get("Authorization")+`"}`)
		}, "miss"},
		{"echoes the token in a header (dropped)", shareCall{instance: "a", api: "events"}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Debug", r.Header.Get("Authorization"))
			io.WriteString(w, `{}`)
		}, "miss"},
		{"over max_response_bytes (a problem after a 200)", shareCall{instance: "a", api: "events"}, func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, `"`+strings.Repeat("x", 1<<20)+`"`)
		}, "miss"},
		{"over the entry cap", shareCall{instance: "a", api: "events"}, func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, `"`+strings.Repeat("x", 600)+`"`)
		}, "miss"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newShareFixture(t, time.Hour, fanout.Config{MaxEntryBytes: 512})
			f.answer.Store(tt.answer)
			for i := range 2 {
				got := f.do(t, tt.call)
				if h := got.header.Get("Widgetgate-Cache"); h != tt.wantHdr {
					t.Fatalf("call %d: Widgetgate-Cache %q, want %q", i, h, tt.wantHdr)
				}
				if strings.Contains(got.body, "token-1") {
					t.Fatalf("the token reached the caller: %s", got.body)
				}
			}
			if got := f.hits.Load(); got != 2 {
				t.Fatalf("%d provider requests for 2 calls: the answer was reused", got)
			}
		})
	}
}

func TestStageCoalescesThroughTheGateway(t *testing.T) {
	f := newShareFixture(t, 0, fanout.Config{}) // no TTL: coalescing only
	release := make(chan struct{})
	f.answer.Store(func(w http.ResponseWriter, _ *http.Request) {
		<-release
		io.WriteString(w, `{"n":"shared"}`)
	})
	const n = 200
	var wg sync.WaitGroup
	got := make([]served, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = f.do(t, shareCall{instance: "a", api: "events"}) }()
	}
	// Every call is in the one flight when the provider is at it.
	testenv.WaitUntil(t, func() bool { return f.hits.Load() == 1 && f.stage.Joined(callKeyOf(t, f, "a", "events")) == n })
	close(release)
	wg.Wait()
	sources := map[string]int{}
	for _, s := range got {
		if s.status != 200 || !strings.Contains(s.body, `shared`) {
			t.Fatalf("%d %s", s.status, s.body)
		}
		sources[s.header.Get("Widgetgate-Cache")]++
	}
	if f.hits.Load() != 1 || sources["miss"] != 1 || sources["coalesced"] != n-1 {
		t.Fatalf("%d provider requests, sources %v", f.hits.Load(), sources)
	}
	// No TTL: the next call goes to the provider again.
	f.do(t, shareCall{instance: "a", api: "events"})
	if f.hits.Load() != 2 {
		t.Fatalf("without a TTL an answer was cached")
	}
}

func TestStageProblems(t *testing.T) {
	t.Run("rate limited", func(t *testing.T) {
		f := newShareFixture(t, time.Hour, fanout.Config{})
		f.answer.Store(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"code":429,"message":"Too many requests"}}`)
		})
		first := f.do(t, shareCall{instance: "a", api: "events"})
		if first.status != 200 || !strings.Contains(first.body, `"statusCode":429`) || !strings.Contains(first.body, `"retry-after":"2"`) {
			t.Fatalf("the 429 goes to the widget as it came, in the envelope: %d %s", first.status, first.body)
		}
		second := f.do(t, shareCall{instance: "a", api: "eventsOf", params: `"calendarId": "x"`})
		if second.status != 429 || !strings.Contains(second.body, `"provider_rate_limited"`) || second.header.Get("Retry-After") != "2" {
			t.Fatalf("during the cool-down: %d %s %v", second.status, second.body, second.header)
		}
		if f.hits.Load() != 1 {
			t.Fatalf("%d provider requests during the cool-down", f.hits.Load())
		}
		// Another passport of the same provider is not cooling down.
		if other := f.do(t, shareCall{instance: "b", api: "events"}); other.status != 200 || f.hits.Load() != 2 {
			t.Fatalf("other passport: %d %s", other.status, other.body)
		}
	})
	t.Run("busy", func(t *testing.T) {
		f := newShareFixture(t, 0, fanout.Config{Concurrency: func(string) int { return 1 }, QueueTimeout: 20 * time.Millisecond})
		release := make(chan struct{})
		f.answer.Store(func(w http.ResponseWriter, _ *http.Request) { <-release; io.WriteString(w, "{}") })
		done := make(chan served)
		go func() { done <- f.do(t, shareCall{instance: "a", api: "events"}) }()
		testenv.WaitUntil(t, func() bool { return f.hits.Load() == 1 })
		busy := f.do(t, shareCall{instance: "a", api: "eventsOf", params: `"calendarId": "x"`})
		close(release)
		<-done
		if busy.status != 503 || !strings.Contains(busy.body, `"passport_busy"`) || busy.header.Get("Retry-After") != "1" {
			t.Fatalf("%d %s %v", busy.status, busy.body, busy.header)
		}
	})
}

// callKeyOf is the key of instance's call of api with no params.
func callKeyOf(t *testing.T, f *shareFixture, instance, api string) string {
	t.Helper()
	a, err := f.gateway.cfg.Catalog.Lookup("cal", api)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := a.URL.RenderURL(nil, "")
	return f.gateway.callKey(&Prepared{API: a, URL: u, Passport: f.passports[instance]})
}
