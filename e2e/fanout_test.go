package e2e

// The fan-out stage (issue 14) through the real binary and a real Vault:
// coalescing, the per-passport response cache, stale-if-error, provider
// cool-downs and the per-passport concurrency budget. The "fan" widget's
// APIs reach a standin.RateLimitAPI, whose routes count their requests
// and in-flight maximum, hold answers until released, and answer what a
// test scripts. Every test uses routes, passports and instances of its
// own, so its counts are its own.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv"
	"github.com/widgetgate/widgetgate/internal/testenv/standin"
)

// fanStack is a stack whose "fan" widget calls a RateLimitAPI.
type fanStack struct {
	*env
	rl *standin.RateLimitAPI
}

// startFan starts a stack with global (lines inside the global widgetgate
// block) and extraRoutes.
func startFan(t *testing.T, global, extraRoutes string) *fanStack {
	t.Helper()
	// The API checks tokens against the stand-in, which start makes: it
	// is set once that exists, before any call.
	var api atomic.Pointer[standin.RateLimitAPI]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.Load().ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	e := start(t, options{globalExtra: global, extraRoutes: extraRoutes,
		extraWidgets: map[string]map[string]string{"fan": {"schema.json": fanSchema(srv.URL)}}})
	f := &fanStack{env: e, rl: standin.NewRateLimitAPI(e.provider)}
	api.Store(f.rl)
	return f
}

// fanSchema is the "fan" widget: GET and POST APIs on the RateLimitAPI
// route named by the route param, through a custom passport (fanAuth), a
// Microsoft one (msAuth) and a Google one (gAuth).
func fanSchema(rl string) string {
	route := rl + "/rl/{param.route}"
	api := func(name, method, url, auth string, headers map[string]string) map[string]any {
		h := map[string]string{"Authorization": "Bearer {authorization." + auth + ".token}"}
		maps.Copy(h, headers)
		return map[string]any{"label": name, "name": name, "url": url, "method": method, "authenticationKey": auth, "headers": h}
	}
	auth := func(key, provider string) map[string]any {
		return map[string]any{"authenticationType": "passport", "authKey": key, "metadata": map[string]any{"passportProvider": provider}}
	}
	b, _ := json.Marshal(map[string]any{
		"authentications": []any{auth("fanAuth", "custom:my-api-connector"), auth("msAuth", "microsoft"), auth("gAuth", "google")},
		"authenticatedApis": []any{
			api("get", "GET", route, "fanAuth", nil),
			api("getShort", "GET", route, "fanAuth", nil), // TTL 1s where the stack says so
			api("getUser", "GET", route, "fanAuth", map[string]string{"X-Requested-By": "{user.id}"}),
			api("getVariantA", "GET", route, "fanAuth", map[string]string{"X-Variant": "a"}),
			api("getVariantB", "GET", route, "fanAuth", map[string]string{"X-Variant": "b"}),
			api("post", "POST", route, "fanAuth", nil),
			// The stand-in's /echo sends the token back: widgetgate masks it.
			api("echo", "GET", "http://127.0.0.1:8931/echo", "fanAuth", nil),
			api("msGet", "GET", route, "msAuth", nil),
			api("gGet", "GET", route, "gAuth", nil),
			api("gPost", "POST", route, "gAuth", nil),
		},
	})
	return string(b)
}

var connectedAt = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// passport stores an active passport without a refresh token (a 401 from
// the provider then goes to the widget as it came, with no forced
// refresh), makes token valid at the stand-in and binds instance's
// authKey to it.
func (f *fanStack) passport(t *testing.T, id, provider, token, instance, authKey string) {
	t.Helper()
	f.provider.AddToken(token)
	f.putPassport(t, id, provider, token, connectedAt)
	f.bind(t, instance, map[string]any{authKey: id})
}

func (f *fanStack) putPassport(t *testing.T, id, provider, token string, connected time.Time) {
	t.Helper()
	f.vault.Put(t, "widgetgate/passports/"+id, map[string]any{
		"provider": provider, "status": "active", "access_token": token, "token_type": "Bearer",
		"expiry": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "connected_at": connected.Format(time.RFC3339Nano),
		"account_id": "acct-" + id, "account_email": id + "@example.com",
	})
}

// fcall is one widget call of the fan widget, by name.
type fcall struct {
	api, inst string
	params    map[string]any
	user      string // X-Widget-User-Id, when set
}

func (c fcall) request() (path, body string, headers []string) {
	b, _ := json.Marshal(map[string]any{"params": c.params})
	headers = []string{"X-Widget-Instance", c.inst}
	if c.user != "" {
		headers = append(headers, "X-Widget-User-Id", c.user)
	}
	return "/sidecar/widgets/fan/apis/" + c.api, string(b), headers
}

// do sends c; a failure to get an answer fails the test.
func (f *fanStack) do(t *testing.T, c fcall) reply {
	t.Helper()
	path, body, headers := c.request()
	return f.call(t, "POST", path, body, headers...)
}

// source is an answer's Widgetgate-Cache header.
func source(r reply) string { return r.header.Get("Widgetgate-Cache") }

// envelope returns the provider's status and JSON body from an envelope
// answer; status 0 when r is not an envelope (a problem, say).
func envelope(r reply) (status int, body map[string]any) {
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		return 0, nil
	}
	s, _ := r.json["statusCode"].(float64)
	body, _ = r.json["body"].(map[string]any)
	return int(s), body
}

// serial is the RateLimitAPI's request number an envelope answer came
// from (0 when it came from no unscripted answer).
func serial(r reply) int {
	_, body := envelope(r)
	n, _ := body["n"].(float64)
	return int(n)
}

// problemOf returns r's problem code, "" when r is no problem.
func problemOf(r reply) string {
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		return ""
	}
	code, _ := r.json["code"].(string)
	return code
}

// retryAfter is r's Retry-After in seconds (-1 when absent or not a number).
func retryAfter(r reply) int {
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil {
		return -1
	}
	return n
}

// describe is an answer for failure messages.
func describe(r reply) string {
	return fmt.Sprintf("%d Widgetgate-Cache=%q Age=%q Retry-After=%q %s", r.status, source(r), r.header.Get("Age"), r.header.Get("Retry-After"), r.raw)
}

// wantAnswer checks that r is the provider's 200 from request n of the
// route, coming from src.
func wantAnswer(t *testing.T, what string, r reply, src string, n int) {
	t.Helper()
	if status, _ := envelope(r); status != 200 || serial(r) != n || source(r) != src {
		t.Fatalf("%s: want %s of upstream request %d, got %s", what, src, n, describe(r))
	}
}

func (f *fanStack) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(f.gw.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// sendVia is send through client. wrote, if not nil, runs once the
// request is written to the connection.
func sendVia(ctx context.Context, client *http.Client, url, body string, wrote func(), headers ...string) reply {
	if wrote != nil {
		var once sync.Once
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(wrote) }})
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		return reply{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{err: err}
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	json.Unmarshal(raw, &r.json)
	return r
}

// concurrently sends calls(i) for i in [0, n) at once, each from its own
// goroutine, and returns the answers by i. sent counts the calls whose
// request has been written to widgetgate; each, if not nil,
// gets every answer as it comes. ready, if not nil, runs on the test's
// goroutine while the calls are under way (it may hold until a condition
// is met).
func (f *fanStack) concurrently(t *testing.T, client *http.Client, n int, calls func(i int) fcall, each func(reply), ready func(sent *atomic.Int64)) []reply {
	t.Helper()
	replies := make([]reply, n)
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path, body, headers := calls(i).request()
			<-start
			replies[i] = sendVia(context.Background(), client, f.gw.URL+path, body, func() { sent.Add(1) }, headers...)
			if each != nil {
				each(replies[i])
			}
		}()
	}
	close(start)
	if ready != nil {
		ready(&sent)
	}
	wg.Wait()
	for i, r := range replies {
		if r.err != nil {
			t.Fatalf("call %d: %v", i, r.err)
		}
	}
	return replies
}

// TestFanoutCoalescing: 1,000 identical calls at once are one provider
// request; with a TTL the next 1,000 are answered from the cache; a
// caller that gives up leaves the shared request to the others.
func TestFanoutCoalescing(t *testing.T) {
	t.Parallel()
	const n = 1000
	// A generous upstream timeout: the held request waits for 1,000
	// callers on a shared 2-core machine.
	f := startFan(t, `response_cache {
			ttl 1m
		}
		upstream {
			timeout 20s
		}`, "")
	f.passport(t, "pp-burst", "custom:my-api-connector", "tok-burst", "i-burst", "fanAuth")
	// The binding and the passport are in widgetgate's cache before the burst.
	wantAnswer(t, "warm-up", f.do(t, fcall{api: "get", inst: "i-burst", params: map[string]any{"route": "burst-warm"}}), "miss", 1)

	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxIdleConns: n}}
	t.Cleanup(client.CloseIdleConnections)
	burst := func(i int) fcall { return fcall{api: "get", inst: "i-burst", params: map[string]any{"route": "burst"}} }
	rt := f.rl.Route("burst")
	count := func(t *testing.T, replies []reply) map[string]int {
		t.Helper()
		sources := map[string]int{}
		for i, r := range replies {
			if status, body := envelope(r); status != 200 || serial(r) != 1 || body["route"] != "burst" {
				t.Fatalf("answer %d is not the provider's answer to request 1: %s", i, describe(r))
			}
			sources[source(r)]++
		}
		return sources
	}
	sourceMetric := func(t *testing.T, text, src string) float64 {
		return metricValue(t, text, `widgetgate_call_sources_total{source="`+src+`"}`)
	}

	t.Run("1,000 identical calls at once: one provider request", func(t *testing.T) {
		before := f.metrics(t)
		rt.Hold()
		t.Cleanup(rt.Release)
		replies := f.concurrently(t, client, n, burst, nil, func(sent *atomic.Int64) {
			// The answer is held until the provider has its request and
			// every caller has written its own; then it goes to all of them.
			testenv.WaitFor(t, 30*time.Second, "the provider's request and every call sent", func() error {
				if c, s := rt.Count(), sent.Load(); c < 1 || s < n {
					return fmt.Errorf("provider requests %d, calls sent %d", c, s)
				}
				return nil
			})
			rt.Release()
		})
		if c := rt.Count(); c != 1 {
			t.Fatalf("the provider saw %d requests for 1,000 identical calls, want 1", c)
		}
		sources := count(t, replies)
		// Calls that reached the stage after the answer landed were
		// answered from the cache the answer filled.
		if sources["miss"] != 1 || sources["coalesced"]+sources["hit"] != n-1 {
			t.Errorf("sources %v, want 1 miss and 999 coalesced or hit", sources)
		}
		t.Logf("sources of the 1,000: %v", sources)
		after := f.metrics(t)
		for _, src := range []string{"miss", "coalesced", "hit"} {
			if d := sourceMetric(t, after, src) - sourceMetric(t, before, src); int(d) != sources[src] {
				t.Errorf("widgetgate_call_sources_total{source=%q} grew by %v, the answers say %d", src, d, sources[src])
			}
		}
	})

	t.Run("the next 1,000 within the TTL: no provider request", func(t *testing.T) {
		replies := f.concurrently(t, client, n, burst, nil, nil)
		if c := rt.Count(); c != 1 {
			t.Fatalf("the provider saw %d requests in all, want 1", c)
		}
		if sources := count(t, replies); sources["hit"] != n {
			t.Errorf("sources %v, want 1,000 hits", sources)
		}
		for i, r := range replies {
			if age, err := strconv.Atoi(r.header.Get("Age")); err != nil || age < 0 || age > 60 {
				t.Fatalf("hit %d has Age %q", i, r.header.Get("Age"))
			}
		}
	})

	t.Run("a caller that gives up does not cancel the shared request", func(t *testing.T) {
		rt := f.rl.Route("burst-leave")
		rt.Hold()
		t.Cleanup(rt.Release)
		call := fcall{api: "get", inst: "i-burst", params: map[string]any{"route": "burst-leave"}}
		path, body, headers := call.request()
		ctx, cancel := context.WithCancel(context.Background())
		leader := make(chan reply, 1)
		go func() { leader <- sendVia(ctx, client, f.gw.URL+path, body, nil, headers...) }()
		testenv.WaitFor(t, 10*time.Second, "the first caller's request at the provider", func() error {
			if rt.Count() == 0 {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		other := make(chan reply, 1)
		go func() { other <- sendVia(context.Background(), client, f.gw.URL+path, body, nil, headers...) }()
		cancel()
		if r := <-leader; r.err == nil {
			t.Fatalf("the first caller was answered while the provider held its answer: %s", describe(r))
		}
		rt.Release()
		r := <-other
		if r.err != nil {
			t.Fatal(r.err)
		}
		// The second caller joined the request in flight, or (had it come
		// later) found its answer in the cache: either way, request 1.
		if status, _ := envelope(r); status != 200 || serial(r) != 1 || (source(r) != "coalesced" && source(r) != "hit") {
			t.Errorf("the remaining caller got %s, want request 1's answer, coalesced or hit", describe(r))
		}
		if c := rt.Count(); c != 1 {
			t.Errorf("the provider saw %d requests, want 1: the shared request was cancelled and sent again", c)
		}
	})
}

// startCacheStack starts a stack with every GET API cached for a minute
// (getShort for 1s, then stale for 2s more), answers over 4 KiB not
// cached, passports and bindings re-read from Vault after 1s, and the
// admin API.
func startCacheStack(t *testing.T) *fanStack {
	tokenFile := writeFile(t, "admin-token", adminToken+"\n")
	return startFan(t, `cache_ttl 1s
		response_cache {
			ttl 1m
			override fan getShort 1s
			max_entry_bytes 4KiB
			stale_if_error 2s
		}`,
		"route /admin/* {\n\t\twidgetgate_admin {\n\t\t\ttoken_file "+tokenFile+"\n\t\t\tpublic_url "+lbURL+"\n\t\t}\n\t}")
}

// TestFanoutCache: what the response cache shares, never shares, does not
// keep, and serves stale.
func TestFanoutCache(t *testing.T) {
	t.Parallel()
	f := startCacheStack(t)
	route := func(name string, extra ...any) map[string]any {
		p := map[string]any{"route": name}
		for i := 0; i+1 < len(extra); i += 2 {
			p[extra[i].(string)] = extra[i+1]
		}
		return p
	}

	entries := func(t *testing.T) float64 {
		return metricValue(t, f.metrics(t), "widgetgate_response_cache_entries")
	}
	// The two below are serial, before the parallel subtests: the cache's
	// entry count is theirs alone.
	t.Run("isolation: a disconnected passport's answers are dropped and never served", func(t *testing.T) {
		f.passport(t, "pp-disc", "custom:my-api-connector", "tok-disc", "i-disc", "fanAuth")
		one := fcall{api: "get", inst: "i-disc", params: route("disc-1")}
		two := fcall{api: "get", inst: "i-disc", params: route("disc-2")}
		wantAnswer(t, "first call", f.do(t, one), "miss", 1)
		wantAnswer(t, "another API call", f.do(t, two), "miss", 1)
		wantAnswer(t, "the first again", f.do(t, one), "hit", 1)
		before := entries(t)
		if before < 2 {
			t.Fatalf("%v answers cached, want at least the passport's 2", before)
		}
		d := adminRequest(t, "POST", f.gw.URL+"/admin/api/passports/pp-disc/disconnect", "", http.Header{"Authorization": {"Bearer " + adminToken}})
		if d.status != 200 || d.json["status"] != "inactive" {
			t.Fatalf("disconnect: %d %s", d.status, d.raw)
		}
		if after := entries(t); after != before-2 {
			t.Errorf("%v answers cached after the disconnect, want %v: the passport's 2 dropped at once", after, before-2)
		}
		for _, c := range []fcall{one, two} {
			r := f.do(t, c)
			if r.status != 401 || problemOf(r) != "authentication_required" || source(r) == "hit" {
				t.Errorf("a call of the disconnected passport: %s, want 401 authentication_required", describe(r))
			}
		}
		if a, b := f.rl.Route("disc-1").Count(), f.rl.Route("disc-2").Count(); a != 1 || b != 1 {
			t.Errorf("provider requests %d and %d after the disconnect, want 1 each", a, b)
		}
	})

	t.Run("isolation: before and after a reconnect", func(t *testing.T) {
		f.passport(t, "pp-reconn", "custom:my-api-connector", "tok-reconn-1", "i-reconn", "fanAuth")
		c := fcall{api: "get", inst: "i-reconn", params: route("reconn")}
		wantAnswer(t, "before", f.do(t, c), "miss", 1)
		wantAnswer(t, "before, again", f.do(t, c), "hit", 1)
		before := entries(t)
		// Reconnected elsewhere (another replica, an operator): a new token
		// and connection time in Vault, which this sidecar re-reads after
		// its cache_ttl of 1s.
		f.provider.AddToken("tok-reconn-2")
		f.putPassport(t, "pp-reconn", "custom:my-api-connector", "tok-reconn-2", connectedAt.Add(time.Hour))
		var after reply
		testenv.WaitFor(t, 15*time.Second, "a call answered for the new connection", func() error {
			after = f.do(t, c)
			if source(after) == "hit" && serial(after) == 1 {
				return fmt.Errorf("still the old connection's answer")
			}
			return nil
		})
		wantAnswer(t, "after the reconnect", after, "miss", 2)
		if reqs := f.rl.Route("reconn").Requests(); len(reqs) != 2 || reqs[1].Header.Get("Authorization") != "Bearer tok-reconn-2" {
			t.Errorf("the provider saw %d requests, the last with %q", len(reqs), reqs[len(reqs)-1].Header.Get("Authorization"))
		}
		wantAnswer(t, "after, again", f.do(t, c), "hit", 2)
		if after := entries(t); after != before {
			t.Errorf("%v answers cached after the reconnect, want %v: the old connection's dropped, the new one's added", after, before)
		}
	})

	for _, id := range []string{"iso", "iso-p1", "iso-p2"} {
		f.passport(t, "pp-"+id, "custom:my-api-connector", "tok-"+id, "i-"+id, "fanAuth")
	}
	// Each row is a pair of calls that must never share an answer: each
	// is a miss answered from its own upstream request, and each is then
	// a hit of its own answer (so the cache was on for both).
	for _, tc := range []struct {
		name  string
		a, b  fcall
		check func(t *testing.T, a, b standin.Request)
	}{
		{"isolation: instances bound to different passports",
			fcall{api: "get", inst: "i-iso-p1", params: route("iso-pp")}, fcall{api: "get", inst: "i-iso-p2", params: route("iso-pp")},
			func(t *testing.T, a, b standin.Request) {
				if a.Header.Get("Authorization") != "Bearer tok-iso-p1" || b.Header.Get("Authorization") != "Bearer tok-iso-p2" {
					t.Errorf("tokens sent: %q, %q", a.Header.Get("Authorization"), b.Header.Get("Authorization"))
				}
			}},
		{"isolation: one passport, different {user.id}",
			fcall{api: "getUser", inst: "i-iso", params: route("iso-user"), user: "u-1"}, fcall{api: "getUser", inst: "i-iso", params: route("iso-user"), user: "u-2"},
			func(t *testing.T, a, b standin.Request) {
				if a.Header.Get("X-Requested-By") != "u-1" || b.Header.Get("X-Requested-By") != "u-2" {
					t.Errorf("users sent: %q, %q", a.Header.Get("X-Requested-By"), b.Header.Get("X-Requested-By"))
				}
			}},
		{"isolation: different params",
			fcall{api: "get", inst: "i-iso", params: route("iso-params", "page", "1")}, fcall{api: "get", inst: "i-iso", params: route("iso-params", "page", "2")},
			func(t *testing.T, a, b standin.Request) {
				if !strings.HasSuffix(a.URL, "page=1") || !strings.HasSuffix(b.URL, "page=2") {
					t.Errorf("URLs sent: %s, %s", a.URL, b.URL)
				}
			}},
		{"isolation: different APIs, same URL, different static headers",
			fcall{api: "getVariantA", inst: "i-iso", params: route("iso-hdr")}, fcall{api: "getVariantB", inst: "i-iso", params: route("iso-hdr")},
			func(t *testing.T, a, b standin.Request) {
				if a.URL != b.URL || a.Header.Get("X-Variant") != "a" || b.Header.Get("X-Variant") != "b" {
					t.Errorf("sent %s X-Variant %q, %s X-Variant %q", a.URL, a.Header.Get("X-Variant"), b.URL, b.Header.Get("X-Variant"))
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt := f.rl.Route(tc.a.params["route"].(string))
			wantAnswer(t, "first of the pair", f.do(t, tc.a), "miss", 1)
			wantAnswer(t, "second of the pair", f.do(t, tc.b), "miss", 2)
			wantAnswer(t, "first again", f.do(t, tc.a), "hit", 1)
			wantAnswer(t, "second again", f.do(t, tc.b), "hit", 2)
			reqs := rt.Requests()
			if len(reqs) != 2 {
				t.Fatalf("the provider saw %d requests, want 2", len(reqs))
			}
			tc.check(t, reqs[0], reqs[1])
		})
	}

	// Rows: a call whose answer must not be cached, then the same call,
	// which must reach the provider again. The control rows show the
	// same check seeing a cached answer.
	f.passport(t, "pp-nc", "custom:my-api-connector", "tok-nc", "i-nc", "fanAuth")
	f.passport(t, "pp-nc429", "custom:my-api-connector", "tok-nc429", "i-nc429", "fanAuth")
	for _, tc := range []struct {
		name   string
		call   fcall
		raw    bool          // GET …/raw instead of a call by name
		script standin.Reply // the first answer, when set
		first  int           // the provider's status in the first answer
		cached bool          // control: the second call is a hit
		cool   bool          // a rate limit: the second call gets provider_rate_limited
	}{
		{name: "control: a 200 is cached", call: fcall{api: "get", params: route("nc-200")}, first: 200, cached: true},
		{name: "control: a 404 is cached", call: fcall{api: "get", params: route("nc-404")}, script: standin.Reply{Status: 404}, first: 404, cached: true},
		{name: "control: an answer under max_entry_bytes is cached", call: fcall{api: "get", params: route("nc-small", "pad", "2000")}, first: 200, cached: true},
		{name: "not cached: POST", call: fcall{api: "post", params: route("nc-post")}, first: 200},
		{name: "not cached: raw", call: fcall{api: "get", params: route("nc-raw")}, raw: true, first: 200},
		{name: "not cached: 500", call: fcall{api: "get", params: route("nc-500")}, script: standin.Reply{Status: 500}, first: 500},
		{name: "not cached: 401", call: fcall{api: "get", params: route("nc-401")},
			script: standin.Reply{Status: 401, Header: map[string]string{"WWW-Authenticate": `Bearer error="invalid_token"`}, Body: `{"error":"invalid_token"}`}, first: 401},
		{name: "not cached: 429", call: fcall{api: "get", inst: "i-nc429", params: route("nc-429")}, script: standin.Reply{Status: 429}, first: 429, cool: true},
		{name: "not cached: Cache-Control no-store", call: fcall{api: "get", params: route("nc-nostore")},
			script: standin.Reply{Status: 200, Header: map[string]string{"Cache-Control": "private, no-store"}, Body: `{"n":1}`}, first: 200},
		{name: "not cached: Cache-Control no-cache", call: fcall{api: "get", params: route("nc-nocache")},
			script: standin.Reply{Status: 200, Header: map[string]string{"Cache-Control": "no-cache"}, Body: `{"n":1}`}, first: 200},
		{name: "not cached: an answer that echoed the token (masked)", call: fcall{api: "echo", params: route("nc-echo")}, first: 200},
		{name: "not cached: an answer over max_entry_bytes", call: fcall{api: "get", params: route("nc-big", "pad", "8000")}, first: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.call.inst == "" {
				tc.call.inst = "i-nc"
			}
			rt := f.rl.Route(tc.call.params["route"].(string))
			if tc.script.Status != 0 {
				rt.Next(tc.script)
			}
			count := rt.Count
			if tc.call.api == "echo" {
				count = func() int {
					n := 0
					for _, q := range f.provider.Requests() {
						if strings.HasPrefix(q.URL, "/echo?") && strings.Contains(q.URL, "route=nc-echo") {
							n++
						}
					}
					return n
				}
			}
			send := func() reply {
				if tc.raw {
					return f.call(t, "GET", "/sidecar/widgets/fan/apis/"+tc.call.api+"/raw?route="+tc.call.params["route"].(string), "", "X-Widget-Instance", tc.call.inst)
				}
				return f.do(t, tc.call)
			}
			wantSource := "miss"
			if tc.raw || tc.call.api == "post" {
				wantSource = "bypass"
			}
			statusOf := func(r reply) int {
				if tc.raw {
					return r.status
				}
				s, _ := envelope(r)
				return s
			}

			r := send()
			if statusOf(r) != tc.first || source(r) != wantSource {
				t.Fatalf("first call: %s, want the provider's %d, %s", describe(r), tc.first, wantSource)
			}
			if strings.Contains(string(r.raw), "tok-nc") {
				t.Fatalf("the token reached the widget: %s", r.raw)
			}
			r = send()
			switch {
			case tc.cached:
				if statusOf(r) != tc.first || source(r) != "hit" || count() != 1 {
					t.Errorf("second call: %s, provider requests %d; want a hit", describe(r), count())
				}
			case tc.cool:
				// A cached 429 would be a hit, served before the cool-down
				// is looked at.
				if problemOf(r) != "provider_rate_limited" || count() != 1 {
					t.Errorf("second call: %s, provider requests %d; want provider_rate_limited, not a cached answer", describe(r), count())
				}
			default:
				if statusOf(r) != 200 || source(r) != wantSource || count() != 2 {
					t.Errorf("second call: %s, provider requests %d; want the provider's own answer again (%s)", describe(r), count(), wantSource)
				}
			}
		})
	}

	// Rows: the provider fails after getShort's answer (TTL 1s) was
	// cached: the cached answer stands in for the failure until 3s (TTL +
	// stale_if_error), and the failure goes to the widget after.
	for _, tc := range []struct {
		name, id string
		down     standin.Reply
		err      func(r reply) bool // the failure, once nothing stale may stand in
	}{
		{"stale: the provider answers 500", "500", standin.Reply{Status: 500},
			func(r reply) bool { s, _ := envelope(r); return s == 500 && source(r) == "miss" }},
		{"stale: the provider drops the connection (unreachable)", "drop", standin.Reply{Drop: true},
			func(r reply) bool { return r.status == 502 && problemOf(r) == "upstream_unreachable" }},
		{"stale: the provider rate limits (429)", "429", standin.Reply{Status: 429, Header: map[string]string{"Retry-After": "1"}},
			func(r reply) bool { s, _ := envelope(r); return s == 429 || problemOf(r) == "provider_rate_limited" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := tc.id
			f.passport(t, "pp-stale-"+id, "custom:my-api-connector", "tok-stale-"+id, "i-stale-"+id, "fanAuth")
			c := fcall{api: "getShort", inst: "i-stale-" + id, params: route("stale-" + id)}
			rt := f.rl.Route("stale-" + id)
			start := time.Now()
			wantAnswer(t, "while the provider is up", f.do(t, c), "miss", 1)
			rt.Down(tc.down)

			var stale reply
			testenv.WaitFor(t, 5*time.Second, "a stale answer", func() error {
				stale = f.do(t, c)
				if source(stale) == "hit" && serial(stale) == 1 {
					return fmt.Errorf("within the TTL")
				}
				return nil
			})
			wantAnswer(t, "past the TTL, the provider down", stale, "stale", 1)
			if age, err := strconv.Atoi(stale.header.Get("Age")); err != nil || age < 1 || age > 2 {
				t.Errorf("stale answer's Age %q, want 1 or 2 (past the TTL of 1s, within TTL + stale_if_error)", stale.header.Get("Age"))
			}

			var after reply
			testenv.WaitFor(t, 8*time.Second, "the end of the stale window", func() error {
				after = f.do(t, c)
				if source(after) == "stale" {
					if age, _ := strconv.Atoi(after.header.Get("Age")); serial(after) != 1 || age > 2 {
						t.Fatalf("a stale answer: %s", describe(after))
					}
					return fmt.Errorf("still stale")
				}
				return nil
			})
			if !tc.err(after) {
				t.Errorf("past the stale window: %s, want the failure", describe(after))
			}
			if d := time.Since(start); d < 3*time.Second {
				t.Errorf("stale answers ended %s after the answer was cached, want TTL + stale_if_error = 3s", d)
			}
		})
	}
}

// TestFanoutRateLimits: a provider's rate-limit answer stops a passport's
// calls to its host for the time it asks (clamped to max_retry_after),
// and only that passport's.
func TestFanoutRateLimits(t *testing.T) {
	t.Parallel()
	f := startFan(t, `rate_limits {
			max_retry_after 3s
		}`, "")
	ra := func(v string) map[string]string { return map[string]string{"Retry-After": v} }
	for _, tc := range []struct {
		name     string
		api      string
		provider string
		script   func() standin.Reply // the provider's answer to the first call
		max      int                  // the problem's Retry-After is at most this; 0: no cool-down
		min      time.Duration        // the cool-down lasts at least this long
	}{
		{name: "429 Retry-After: 2", api: "get", script: func() standin.Reply { return standin.Reply{Status: 429, Header: ra("2")} }, max: 2, min: 2 * time.Second},
		{name: "429 Retry-After as an HTTP-date", api: "get", script: func() standin.Reply {
			return standin.Reply{Status: 429, Header: ra(time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat))}
		}, max: 3, min: time.Second},
		{name: "503 with Retry-After: 1", api: "get", script: func() standin.Reply { return standin.Reply{Status: 503, Header: ra("1")} }, max: 1, min: time.Second},
		{name: "429 Retry-After: 86400 clamped to max_retry_after 3s", api: "get", script: func() standin.Reply { return standin.Reply{Status: 429, Header: ra("86400")} }, max: 3, min: 3 * time.Second},
		{name: "Google 403 rateLimitExceeded", api: "gGet", provider: "google", script: func() standin.Reply { return standin.GoogleRateLimit("rateLimitExceeded") }, max: 1, min: time.Second},
		{name: "Google 403 userRateLimitExceeded", api: "gGet", provider: "google", script: func() standin.Reply { return standin.GoogleRateLimit("userRateLimitExceeded") }, max: 1, min: time.Second},
		{name: "429 on a POST API", api: "post", script: func() standin.Reply { return standin.Reply{Status: 429, Header: ra("1")} }, max: 1, min: time.Second},
		{name: "Google 403 rateLimitExceeded on a POST API", api: "gPost", provider: "google", script: func() standin.Reply { return standin.GoogleRateLimit("rateLimitExceeded") }, max: 1, min: time.Second},
		{name: "control: 503 without Retry-After is no rate limit", api: "get", script: func() standin.Reply { return standin.Reply{Status: 503} }},
		{name: "control: Google 403 insufficientPermissions is no rate limit", api: "gGet", provider: "google", script: standin.GoogleForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, strings.ToLower(tc.name))
			provider, authKey := "custom:my-api-connector", "fanAuth"
			if tc.provider == "google" {
				provider, authKey = "google", "gAuth"
			}
			f.passport(t, "pp-"+id, provider, "tok-"+id, "i-"+id, authKey)
			c := fcall{api: tc.api, inst: "i-" + id, params: map[string]any{"route": id}}
			rt := f.rl.Route(id)
			script := tc.script()
			rt.Next(script)

			begin := time.Now()
			r := f.do(t, c)
			// The answer that reported the rate limit goes to the widget as
			// it came.
			status, body := envelope(r)
			headers, _ := r.json["headers"].(map[string]any)
			if status != script.Status || headers["retry-after"] != script.Header["Retry-After"] && script.Header["Retry-After"] != "" {
				t.Fatalf("the rate-limit answer: %s, want the provider's %d with its Retry-After", describe(r), script.Status)
			}
			if tc.provider == "google" {
				gerr, _ := body["error"].(map[string]any)
				errs, _ := gerr["errors"].([]any)
				if len(errs) != 1 || errs[0].(map[string]any)["reason"] == nil {
					t.Fatalf("Google's error did not reach the widget: %s", r.raw)
				}
			}

			if tc.max == 0 {
				r = f.do(t, c)
				if s, _ := envelope(r); s != 200 || rt.Count() != 2 {
					t.Fatalf("the next call: %s, provider requests %d; want it to reach the provider", describe(r), rt.Count())
				}
				return
			}
			r = f.do(t, c)
			if problemOf(r) != "provider_rate_limited" || r.status != 429 || retryAfter(r) < 1 || retryAfter(r) > tc.max {
				t.Fatalf("a call while cooling down: %s, want 429 provider_rate_limited with Retry-After 1..%d", describe(r), tc.max)
			}
			var after reply
			testenv.WaitFor(t, time.Duration(tc.max+5)*time.Second, "the end of the cool-down", func() error {
				after = f.do(t, c)
				if problemOf(after) == "provider_rate_limited" {
					if retryAfter(after) < 1 || retryAfter(after) > tc.max || rt.Count() != 1 {
						t.Fatalf("while cooling down: %s, provider requests %d", describe(after), rt.Count())
					}
					return fmt.Errorf("cooling down")
				}
				return nil
			})
			cooled := time.Since(begin)
			if s, _ := envelope(after); s != 200 || rt.Count() != 2 {
				t.Errorf("after the cool-down: %s, provider requests %d; want one request, answered", describe(after), rt.Count())
			}
			if cooled < tc.min {
				t.Errorf("the cool-down ended after %s, want at least %s", cooled, tc.min)
			}
		})
	}

	t.Run("a cool-down of one passport does not affect another of the same provider", func(t *testing.T) {
		t.Parallel()
		f.passport(t, "pp-cool-a", "custom:my-api-connector", "tok-cool-a", "i-cool-a", "fanAuth")
		f.passport(t, "pp-cool-b", "custom:my-api-connector", "tok-cool-b", "i-cool-b", "fanAuth")
		a := fcall{api: "get", inst: "i-cool-a", params: map[string]any{"route": "cool-other"}}
		b := fcall{api: "get", inst: "i-cool-b", params: map[string]any{"route": "cool-other"}}
		rt := f.rl.Route("cool-other")
		rt.Next(standin.Reply{Status: 429, Header: ra("3")})
		if s, _ := envelope(f.do(t, a)); s != 429 {
			t.Fatalf("passport a's first call got %d, want the provider's 429", s)
		}
		if r := f.do(t, a); problemOf(r) != "provider_rate_limited" {
			t.Fatalf("passport a cooling down: %s", describe(r))
		}
		wantAnswer(t, "passport b, same provider and host", f.do(t, b), "miss", 2)
		if r := f.do(t, a); problemOf(r) != "provider_rate_limited" {
			t.Errorf("passport a after b's call: %s, want still cooling down", describe(r))
		}
		if reqs := rt.Requests(); len(reqs) != 2 || reqs[1].Header.Get("Authorization") != "Bearer tok-cool-b" {
			t.Errorf("the provider saw %d requests", len(reqs))
		}
	})
}

// TestFanoutConcurrencyBudget: a Microsoft passport has at most 4
// requests in flight (Outlook's limit, which the stand-in enforces as
// Graph does, with a 429 ApplicationThrottled); the rest wait their turn,
// or get 503 passport_busy past the queue timeout.
func TestFanoutConcurrencyBudget(t *testing.T) {
	t.Parallel()
	const n = 20
	distinct := func(api, inst, route string) func(int) fcall {
		return func(i int) fcall { return fcall{api: api, inst: inst, params: map[string]any{"route": route, "i": i}} }
	}
	// waitInFlight holds the route's answers until want are in flight and
	// every call is sent, then lets them go.
	waitInFlight := func(t *testing.T, rt *standin.Route, want int) func(*atomic.Int64) {
		return func(sent *atomic.Int64) {
			testenv.WaitFor(t, 10*time.Second, "a full budget", func() error {
				if in, s := rt.InFlight(), sent.Load(); in < want || s < n {
					return fmt.Errorf("%d in flight, %d calls sent", in, s)
				}
				return nil
			})
			rt.Release()
		}
	}

	t.Run("20 calls, 100 ms each, within the queue timeout: all answered, never more than 4 in flight", func(t *testing.T) {
		t.Parallel()
		f := startFan(t, `rate_limits {
				concurrency custom:my-api-connector 2
			}`, "")
		f.passport(t, "pp-ms", "microsoft", "tok-ms", "i-ms", "msAuth")
		for _, tc := range []struct {
			name, api, inst string
			limit           int
		}{
			{"microsoft: the built-in default of 4", "msGet", "i-ms", 4},
			{"custom: concurrency custom:my-api-connector 2", "get", "i-custom", 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.inst == "i-custom" {
					f.passport(t, "pp-custom", "custom:my-api-connector", "tok-custom", "i-custom", "fanAuth")
				}
				rt := f.rl.Route("budget-" + tc.inst)
				rt.Limit(tc.limit) // one more in flight gets Graph's 429
				rt.Delay(100 * time.Millisecond)
				rt.Hold()
				t.Cleanup(rt.Release)
				replies := f.concurrently(t, http.DefaultClient, n, distinct(tc.api, tc.inst, "budget-"+tc.inst), nil, waitInFlight(t, rt, tc.limit))
				for i, r := range replies {
					if s, _ := envelope(r); s != 200 || source(r) != "miss" {
						t.Errorf("call %d: %s", i, describe(r))
					}
				}
				if m, c := rt.MaxInFlight(), rt.Count(); m != tc.limit || c != n {
					t.Errorf("the provider saw at most %d in flight (want %d) and %d requests (want %d)", m, tc.limit, c, n)
				}
			})
		}
	})

	t.Run("20 calls, queue_timeout 50ms: the excess gets 503 passport_busy", func(t *testing.T) {
		t.Parallel()
		f := startFan(t, `rate_limits {
				queue_timeout 50ms
			}
			upstream {
				timeout 20s
			}`, "")
		f.passport(t, "pp-ms-busy", "microsoft", "tok-ms-busy", "i-ms-busy", "msAuth")
		rt := f.rl.Route("busy")
		rt.Limit(4)
		rt.Hold()
		t.Cleanup(rt.Release)
		var busy atomic.Int64
		replies := f.concurrently(t, http.DefaultClient, n, distinct("msGet", "i-ms-busy", "busy"), func(r reply) {
			if problemOf(r) == "passport_busy" {
				busy.Add(1)
			}
		}, func(*atomic.Int64) {
			// The 4 with a slot are held; the 16 others wait 50ms and give up.
			testenv.WaitFor(t, 15*time.Second, "16 calls refused", func() error {
				if b := busy.Load(); b < n-4 {
					return fmt.Errorf("%d refused", b)
				}
				return nil
			})
			rt.Release()
		})
		ok := 0
		for i, r := range replies {
			switch s, _ := envelope(r); {
			case s == 200:
				ok++
			case r.status == 503 && problemOf(r) == "passport_busy" && r.header.Get("Retry-After") == "1":
			default:
				t.Errorf("call %d: %s, want the provider's answer or 503 passport_busy with Retry-After: 1", i, describe(r))
			}
		}
		if ok != 4 || busy.Load() != n-4 {
			t.Errorf("%d answered, %d busy; want 4 and 16", ok, busy.Load())
		}
		if m, c := rt.MaxInFlight(), rt.Count(); m != 4 || c != 4 {
			t.Errorf("the provider saw at most %d in flight and %d requests, want 4 and 4", m, c)
		}
		if v := metricValue(t, f.metrics(t), `widgetgate_passport_busy_total{provider="microsoft"}`); v != n-4 {
			t.Errorf("widgetgate_passport_busy_total{provider=\"microsoft\"} = %v, want 16", v)
		}
	})
}
